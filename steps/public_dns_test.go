package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/dnsupdate/bindtest"
	"github.com/exrunbook/exrunbook/internal/engine"
)

// pdnsClock is a fake engine clock: Sleep advances it.
type pdnsClock struct {
	mu sync.Mutex
	t  time.Time
}

func newPDNSClock() *pdnsClock { return &pdnsClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *pdnsClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *pdnsClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *pdnsClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
}

// pdnsSink collects events.
type pdnsSink struct {
	mu     sync.Mutex
	events []engine.Event
}

func (s *pdnsSink) Emit(e engine.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *pdnsSink) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, e := range s.events {
		if e.Kind == engine.EventLog {
			b.WriteString(e.Message + "\n")
		}
	}
	return b.String()
}

// pdnsEnv is a minimal Env for calling a step directly.
type pdnsEnv struct {
	now     time.Time
	logs    []string
	outputs map[string]json.RawMessage
}

func (e *pdnsEnv) Now() time.Time                        { return e.now }
func (e *pdnsEnv) Logf(f string, a ...any)               { e.logs = append(e.logs, fmt.Sprintf(f, a...)) }
func (e *pdnsEnv) Progress(done, total int, unit string) {}
func (e *pdnsEnv) SetOutput(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if e.outputs == nil {
		e.outputs = map[string]json.RawMessage{}
	}
	e.outputs[key] = b
	return nil
}
func (e *pdnsEnv) Output(step, key string, v any) (bool, error) {
	b, ok := e.outputs[step+"/"+key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(b, v)
}

const pdnsZoneFmt = `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. %d 3600 600 86400 60
@ IN NS ns1.contoso.test.
ns1 IN A 203.0.113.53
autodiscover IN A 203.0.113.10
%s`

// pdnsOldZone has the internal name public; pdnsNewZone is the swap's result.
func pdnsOldZone(serial uint32) string {
	return fmt.Sprintf(pdnsZoneFmt, serial, "outlook IN A 203.0.113.10\n")
}

func pdnsNewZone(serial uint32) string {
	return fmt.Sprintf(pdnsZoneFmt, serial, "outlook-ext 60 IN A 203.0.113.20\n")
}

var pdnsQueries = []string{
	"outlook.contoso.test A", "outlook.contoso.test AAAA", "outlook.contoso.test CNAME",
	"outlook-ext.contoso.test A", "outlook-ext.contoso.test AAAA", "outlook-ext.contoso.test CNAME",
}

func pdnsSecretFile(t *testing.T, secret string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "tsig.secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// pdnsConfig is a config for the public-dns step against srv.
func pdnsConfig(t *testing.T, srv *bindtest.Server, mode, secret string, nameservers ...string) *config.Config {
	t.Helper()
	if os.Getenv(config.EnvTSIGSecret) != "" {
		t.Skipf("%s is set in the environment and would override the test's key", config.EnvTSIGSecret)
	}
	c := config.Default()
	c.Namespace = config.Namespace{Internal: "outlook.contoso.test", External: "outlook-ext.contoso.test", Autodiscover: "autodiscover.contoso.test"}
	c.PublicDNS.Mode = mode
	c.PublicDNS.Zone = "contoso.test."
	c.PublicDNS.Server = srv.Addr
	c.PublicDNS.Nameservers = nameservers
	c.PublicDNS.PublicIP = "203.0.113.20"
	c.PublicDNS.TTL = 60
	if mode == publicDNSModeRFC2136 {
		c.PublicDNS.TSIG = config.TSIG{Name: srv.KeyName, Algorithm: "hmac-sha256", SecretFile: pdnsSecretFile(t, secret)}
	}
	return c
}

// pdnsOpen opens an engine over a runbook of the single step.
func pdnsOpen(t *testing.T, dir string, step engine.Step, clock engine.Clock, sink engine.Sink) *engine.Engine {
	t.Helper()
	rb := engine.Runbook{Name: "public-dns-test", Steps: []engine.StepDef{{ID: "public-dns", Kind: "public-dns", Title: "public DNS", Step: step}}}
	e, err := engine.Open(context.Background(), engine.Options{StateDir: dir, Runbook: rb, Clock: clock, Sink: sink, Retry: engine.RetryPolicy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func pdnsStep(t *testing.T, cfg *config.Config) engine.Step {
	t.Helper()
	f, ok := Lookup("public-dns")
	if !ok {
		t.Fatal("public-dns is not registered")
	}
	s, err := f("public-dns", nil, testDeps(cfg, clients.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var pdnsRun = engine.RunOptions{Yes: true, Unattended: true}

func pdnsWaiting(t *testing.T, err error) *engine.WaitingError {
	t.Helper()
	var we *engine.WaitingError
	if !errors.As(err, &we) {
		t.Fatalf("want a WaitingError (exit 75), got %v", err)
	}
	return we
}

func pdnsSerial(t *testing.T, s *bindtest.Server) uint32 {
	t.Helper()
	n, err := s.SOASerial()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pdnsCheck(t *testing.T, results []engine.CheckResult, name string, want engine.CheckStatus) engine.CheckResult {
	t.Helper()
	for _, r := range results {
		if r.Name == name {
			if r.Status != want {
				t.Fatalf("check %s: %s %q, want %s; evidence:\n%s", name, r.Status, r.Message, want, strings.Join(r.Evidence, "\n"))
			}
			return r
		}
	}
	t.Fatalf("no check %s in %+v", name, results)
	return engine.CheckResult{}
}

// The swap end to end through the engine: an unattended run waits (exit
// 75) for the old TTL; after it the step is done, every post-check passes
// and dig shows the new records; rollback restores dig's answers exactly.
func TestPublicDNSSwapAndRollback(t *testing.T) {
	t.Parallel()
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: pdnsOldZone(1)})
	internal := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. 1 3600 600 86400 60
@ IN NS ns1.contoso.test.
ns1 IN A 192.0.2.53
outlook IN A 192.0.2.25
autodiscover IN CNAME outlook
`})
	before := pub.DigAnswers(t, pdnsQueries...)
	cfg := pdnsConfig(t, pub, publicDNSModeRFC2136, pub.Secret, pub.Addr)
	cfg.InternalDNS = config.InternalDNS{Server: internal.Addr, Addresses: []string{"192.0.2.25"}}
	step := pdnsStep(t, cfg)
	clock := newPDNSClock()
	sink := &pdnsSink{}
	eng := pdnsOpen(t, t.TempDir(), step, clock, sink)

	// The plan, read-only.
	plans, err := eng.PlanSteps(context.Background())
	if err != nil || len(plans) != 1 || plans[0].Err != nil {
		t.Fatalf("PlanSteps: %v %+v", err, plans)
	}
	plan := plans[0].Plan
	wantChanges := map[string][2]string{
		"outlook.contoso.test. A":     {"203.0.113.10 (TTL 300)", "(none)"},
		"outlook-ext.contoso.test. A": {"(none)", "203.0.113.20 (TTL 60)"},
		"outlook.contoso.test. AAAA":  {"(none)", "(none)"},
	}
	for target, ft := range wantChanges {
		found := false
		for _, c := range plan.Changes {
			if c.Target == target {
				found = true
				if c.From != ft[0] || c.To != ft[1] {
					t.Errorf("plan %s: %s → %s, want %s → %s", target, c.From, c.To, ft[0], ft[1])
				}
			}
		}
		if !found {
			t.Errorf("plan lacks %s: %+v", target, plan.Changes)
		}
	}
	if plan.Pending() != 2 || !strings.Contains(plan.Summary, "prerequisites") {
		t.Errorf("plan: %d pending, summary %q", plan.Pending(), plan.Summary)
	}
	if got := pub.DigAnswers(t, pdnsQueries...); got != before {
		t.Fatalf("the plan changed the zone:\n%s", got)
	}

	start := clock.Now()
	we := pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	if want := start.Add(300 * time.Second); !we.Until.Equal(want) || !strings.Contains(we.Reason, "resolvers may cache the old record until") {
		t.Fatalf("waiting until %s (%s), want %s (the old TTL of 300 s)", we.Until, we.Reason, want)
	}
	v, _ := eng.StepState("public-dns")
	pdnsCheck(t, v.PreChecks, "internal DNS resolution", engine.CheckPass)
	pdnsCheck(t, v.PreChecks, "TSIG key", engine.CheckPass)
	var updatedAt time.Time
	if err := json.Unmarshal(v.Outputs["updated_at"], &updatedAt); err != nil || !updatedAt.Equal(start) {
		t.Fatalf("updated_at = %s (%v), want %s", v.Outputs["updated_at"], err, start)
	}
	after := pub.DigAnswers(t, pdnsQueries...)
	if after != "outlook-ext.contoso.test.\t60\tIN\tA\t203.0.113.20\n" {
		t.Fatalf("dig after the swap:\n%s", after)
	}

	// Before the old TTL has passed, running again still waits.
	clock.Advance(299 * time.Second)
	pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	clock.Advance(2 * time.Second)
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatalf("second run: %v", err)
	}
	v, _ = eng.StepState("public-dns")
	if v.Status != engine.StatusDone {
		t.Fatalf("status %s", v.Status)
	}
	r := pdnsCheck(t, v.PostChecks, "public DNS records", engine.CheckPass)
	if !strings.Contains(strings.Join(r.Evidence, "\n"), "203.0.113.20") {
		t.Errorf("post-check evidence lacks the new record: %v", r.Evidence)
	}
	pdnsCheck(t, v.PostChecks, "internal DNS resolution", engine.CheckPass)
	// The check itself, asked directly, also passes; for the old data it fails.
	client := &dnsupdate.Client{Server: pub.Addr, Zone: "contoso.test."}
	newRec := dnsupdate.RRset{Name: "outlook-ext.contoso.test.", Type: 1, TTL: 60, Data: []string{"203.0.113.20"}}
	oldRec := dnsupdate.RRset{Name: "outlook.contoso.test.", Type: 1, TTL: 300, Data: []string{"203.0.113.10"}}
	if res := (checks.PublicRecordsCheck{Client: client, Request: dnsupdate.VerifyRequest{Nameservers: []string{pub.Addr}, Expect: []dnsupdate.RRset{newRec}}}).Run(context.Background(), nil); res.Status != engine.CheckPass {
		t.Errorf("PublicRecordsCheck for the new record: %s %s", res.Status, res.Message)
	}
	if res := (checks.PublicRecordsCheck{Client: client, Request: dnsupdate.VerifyRequest{Nameservers: []string{pub.Addr}, Expect: []dnsupdate.RRset{oldRec}}}).Run(context.Background(), nil); res.Status != engine.CheckFail {
		t.Errorf("PublicRecordsCheck for the old record: %s %s", res.Status, res.Message)
	}

	// Rollback: dig answers exactly as before the swap.
	snapEnv := &pdnsEnv{now: clock.Now()}
	if err := eng.Rollback(context.Background(), "public-dns", false); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if got := pub.DigAnswers(t, pdnsQueries...); got != before {
		t.Fatalf("dig after rollback:\n%s\nwant:\n%s", got, before)
	}
	// Rolling back again, with the same snapshot, changes nothing.
	snap, err := step.Capture(context.Background(), snapEnv)
	if err != nil {
		t.Fatal(err)
	}
	serial := pdnsSerial(t, pub)
	fwdSnap := pdnsForwardSnapshot(t, snap)
	if err := step.Rollback(context.Background(), snapEnv, fwdSnap); err != nil {
		t.Fatalf("idempotent rollback: %v", err)
	}
	if got := pdnsSerial(t, pub); got != serial {
		t.Fatalf("an idempotent rollback changed the zone: serial %d → %d", serial, got)
	}
	if !strings.Contains(strings.Join(snapEnv.logs, "\n"), "nothing to roll back") {
		t.Errorf("logs: %v", snapEnv.logs)
	}
}

// pdnsForwardSnapshot checks that a snapshot captured from the restored
// zone equals the swap's starting point and returns it.
func pdnsForwardSnapshot(t *testing.T, snap engine.Snapshot) engine.Snapshot {
	t.Helper()
	var p PublicDNSSnapshot
	if err := json.Unmarshal(snap, &p); err != nil {
		t.Fatal(err)
	}
	if p.Forward.Empty() || p.OldTTL != 300 || len(p.Records) != 6 {
		t.Fatalf("snapshot of the restored zone: %+v", p)
	}
	return snap
}

// A record changed between the plan and the apply: the UPDATE's
// prerequisites fail, the step fails naming the conflict, and nothing
// else changes.
func TestPublicDNSConflict(t *testing.T) {
	t.Parallel()
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: pdnsOldZone(1)})
	cfg := pdnsConfig(t, pub, publicDNSModeRFC2136, pub.Secret, pub.Addr)
	eng := pdnsOpen(t, t.TempDir(), pdnsStep(t, cfg), newPDNSClock(), nil)
	var ae *engine.ApprovalNeededError
	if err := eng.Run(context.Background(), engine.RunOptions{Unattended: true}); !errors.As(err, &ae) {
		t.Fatalf("run without --yes: %v", err)
	}
	pub.NSUpdate(t, "update delete outlook.contoso.test. A\nupdate add outlook.contoso.test. 300 A 203.0.113.11")
	changed := pub.DigAnswers(t, pdnsQueries...)
	serial := pdnsSerial(t, pub)

	err := eng.Run(context.Background(), pdnsRun)
	var sf *engine.StepFailedError
	if !errors.As(err, &sf) {
		t.Fatalf("want the step to fail, got %v", err)
	}
	for _, want := range []string{"the record changed since the plan", "outlook.contoso.test. A", "planned 203.0.113.10 (TTL 300), now 203.0.113.11 (TTL 300)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if got := pub.DigAnswers(t, pdnsQueries...); got != changed {
		t.Fatalf("the zone changed after the conflict:\n%s\nwant:\n%s", got, changed)
	}
	if got := pdnsSerial(t, pub); got != serial {
		t.Fatalf("serial %d → %d after a refused update", serial, got)
	}
	v, _ := eng.StepState("public-dns")
	if v.Status != engine.StatusFailed || v.Outputs["updated_at"] != nil {
		t.Fatalf("status %s, outputs %v", v.Status, v.Outputs)
	}
	// Rolling the failed step back leaves the other change alone.
	if err := eng.Rollback(context.Background(), "public-dns", false); err != nil {
		t.Fatalf("rollback of the refused swap: %v", err)
	}
	if got := pub.DigAnswers(t, pdnsQueries...); got != changed {
		t.Fatalf("the rollback touched the other change:\n%s", got)
	}
}

// A wrong TSIG secret: the server rejects the key and the step says so.
func TestPublicDNSWrongKey(t *testing.T) {
	t.Parallel()
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: pdnsOldZone(1)})
	before := pub.DigAnswers(t, pdnsQueries...)
	cfg := pdnsConfig(t, pub, publicDNSModeRFC2136, bindtest.RandomSecret(), pub.Addr)
	eng := pdnsOpen(t, t.TempDir(), pdnsStep(t, cfg), newPDNSClock(), nil)
	err := eng.Run(context.Background(), pdnsRun)
	if err == nil || !strings.Contains(err.Error(), "rejected the TSIG key 'exrunbook-update.'") ||
		!(strings.Contains(err.Error(), "BADSIG") || strings.Contains(err.Error(), "BADKEY")) {
		t.Fatalf("want a BADSIG/BADKEY failure, got %v", err)
	}
	t.Logf("error: %v", err)
	if got := pub.DigAnswers(t, pdnsQueries...); got != before {
		t.Fatalf("the zone changed:\n%s", got)
	}
}

// A second nameserver still serves the old zone: the step waits naming it
// and passes once it has caught up (and the old TTL has passed).
func TestPublicDNSLaggingServer(t *testing.T) {
	t.Parallel()
	// The internal name's TTL (30 s) is below the zone's negative TTL
	// (60 s), which resolvers may have cached for the new name: that is
	// the wait.
	old := strings.Replace(pdnsOldZone(1), "outlook IN A", "outlook 30 IN A", 1)
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: old})
	second := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: old})
	cfg := pdnsConfig(t, pub, publicDNSModeRFC2136, pub.Secret, pub.Addr, second.Addr)
	clock := newPDNSClock()
	eng := pdnsOpen(t, t.TempDir(), pdnsStep(t, cfg), clock, nil)
	start := clock.Now()
	we := pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	if !we.Until.Equal(start.Add(PublicDNSPoll)) || !strings.Contains(we.Reason, second.Addr) || strings.Contains(we.Reason, pub.Addr+",") {
		t.Fatalf("wait: until %s, reason %q; want %s naming only %s", we.Until, we.Reason, start.Add(PublicDNSPoll), second.Addr)
	}
	// Still behind after the poll: waits again.
	clock.Advance(PublicDNSPoll)
	we = pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	if !strings.Contains(we.Reason, second.Addr) {
		t.Fatalf("reason %q", we.Reason)
	}
	second.Reload(t, pdnsNewZone(pdnsSerial(t, pub)))
	clock.Advance(PublicDNSPoll)
	we = pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	if !we.Until.Equal(start.Add(60*time.Second)) || !strings.Contains(we.Reason, "old TTL 60s") {
		t.Fatalf("after catching up: until %s, reason %q; want the negative TTL of 60 s", we.Until, we.Reason)
	}
	clock.Advance(60 * time.Second)
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatal(err)
	}
	v, _ := eng.StepState("public-dns")
	r := pdnsCheck(t, v.PostChecks, "public DNS records", engine.CheckPass)
	if !strings.Contains(r.Message, "all 2 authoritative nameservers") {
		t.Errorf("post-check: %q", r.Message)
	}
}

// Manual mode: the step logs the zone-file lines, waits until the records
// are changed by hand, then waits for the old TTL; its rollback prints the
// reverse lines and fails until they are applied.
func TestPublicDNSManual(t *testing.T) {
	t.Parallel()
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: pdnsOldZone(1)})
	before := pub.DigAnswers(t, pdnsQueries...)
	cfg := pdnsConfig(t, pub, publicDNSModeManual, "", pub.Addr)
	clock := newPDNSClock()
	sink := &pdnsSink{}
	eng := pdnsOpen(t, t.TempDir(), pdnsStep(t, cfg), clock, sink)
	plans, err := eng.PlanSteps(context.Background())
	if err != nil || len(plans) != 1 || plans[0].Err != nil {
		t.Fatalf("PlanSteps: %v %+v", err, plans)
	}
	var lines []string
	for _, c := range plans[0].Plan.Changes {
		if strings.HasPrefix(c.Target, "zone file") {
			lines = append(lines, c.Field+": "+c.From+" → "+c.To)
		}
	}
	if want := []string{"remove line: outlook.contoso.test.\t300\tIN\tA\t203.0.113.10 → (none)", "add line: (none) → outlook-ext.contoso.test.\t60\tIN\tA\t203.0.113.20"}; strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("manual plan lines:\n%s", strings.Join(lines, "\n"))
	}
	start := clock.Now()
	we := pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	if !we.Until.Equal(start.Add(time.Minute)) || !strings.HasPrefix(we.Reason, "waiting for the records to be changed by hand: ") {
		t.Fatalf("wait until %s: %q", we.Until, we.Reason)
	}
	logs := sink.logs()
	for _, want := range []string{"remove: outlook.contoso.test.\t300\tIN\tA\t203.0.113.10", "add:    outlook-ext.contoso.test.\t60\tIN\tA\t203.0.113.20"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if got := pub.DigAnswers(t, pdnsQueries...); got != before {
		t.Fatalf("manual mode changed the zone:\n%s", got)
	}
	v, _ := eng.StepState("public-dns")
	for _, r := range v.PreChecks {
		if r.Name == "TSIG key" {
			t.Errorf("manual mode checks a TSIG key: %+v", r)
		}
	}

	pub.NSUpdate(t, "update delete outlook.contoso.test. A\nupdate add outlook-ext.contoso.test. 60 A 203.0.113.20")
	clock.Advance(time.Minute)
	changedAt := clock.Now()
	we = pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	if !we.Until.Equal(changedAt.Add(300*time.Second)) || !strings.Contains(we.Reason, "resolvers may cache") {
		t.Fatalf("after the hand change: until %s, reason %q", we.Until, we.Reason)
	}
	clock.Advance(300 * time.Second)
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatal(err)
	}
	v, _ = eng.StepState("public-dns")
	pdnsCheck(t, v.PostChecks, "public DNS records", engine.CheckPass)

	err = eng.Rollback(context.Background(), "public-dns", false)
	if err == nil || !strings.Contains(err.Error(), "run rollback again") || !strings.Contains(err.Error(), "outlook.contoso.test.\t300\tIN\tA\t203.0.113.10") {
		t.Fatalf("manual rollback before the hand change: %v", err)
	}
	pub.NSUpdate(t, "update delete outlook-ext.contoso.test. A\nupdate add outlook.contoso.test. 300 A 203.0.113.10")
	if err := eng.Rollback(context.Background(), "public-dns", false); err != nil {
		t.Fatalf("manual rollback after the hand change: %v", err)
	}
	if got := pub.DigAnswers(t, pdnsQueries...); got != before {
		t.Fatalf("dig after rollback:\n%s", got)
	}
}

// pdnsCrashStep makes the first Apply "crash" right after the server has
// accepted the UPDATE, before updated_at is persisted.
type pdnsCrashStep struct {
	engine.Step
	cancel context.CancelFunc
}

type pdnsCrashEnv struct {
	engine.Env
	cancel context.CancelFunc
}

func (e pdnsCrashEnv) SetOutput(key string, v any) error {
	if key == "updated_at" {
		e.cancel()
		return errors.New("killed before updated_at was written")
	}
	return e.Env.SetOutput(key, v)
}

func (s pdnsCrashStep) Apply(ctx context.Context, env engine.Env, snap engine.Snapshot) (engine.Outcome, error) {
	return s.Step.Apply(ctx, pdnsCrashEnv{Env: env, cancel: s.cancel}, snap)
}

// An apply interrupted after the UPDATE was accepted resumes without a
// second UPDATE and without a conflict.
func TestPublicDNSCrashAfterUpdate(t *testing.T) {
	t.Parallel()
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: pdnsOldZone(1)})
	cfg := pdnsConfig(t, pub, publicDNSModeRFC2136, pub.Secret, pub.Addr)
	dir := t.TempDir()
	clock := newPDNSClock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := engine.Open(context.Background(), engine.Options{StateDir: dir, Clock: clock, Retry: engine.RetryPolicy{Attempts: 1},
		Runbook: engine.Runbook{Name: "public-dns-test", Steps: []engine.StepDef{{ID: "public-dns", Kind: "public-dns", Step: pdnsCrashStep{Step: pdnsStep(t, cfg), cancel: cancel}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ie *engine.InterruptedError
	if err := first.Run(ctx, pdnsRun); !errors.As(err, &ie) {
		t.Fatalf("crashing run: %v", err)
	}
	first.Close()
	serial := pdnsSerial(t, pub)
	if serial != 2 {
		t.Fatalf("serial after the accepted update = %d, want 2", serial)
	}

	sink := &pdnsSink{}
	eng := pdnsOpen(t, dir, pdnsStep(t, cfg), clock, sink)
	if v, _ := eng.StepState("public-dns"); v.Status != engine.StatusRunning {
		t.Fatalf("after the crash the step is %s, want running", v.Status)
	}
	we := pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	if !strings.Contains(we.Reason, "resolvers may cache") {
		t.Fatalf("resume: %v", we)
	}
	if got := pdnsSerial(t, pub); got != serial {
		t.Fatalf("the resumed apply sent a second update: serial %d → %d", serial, got)
	}
	if !strings.Contains(sink.logs(), "not sending it again") {
		t.Errorf("logs:\n%s", sink.logs())
	}
	clock.Advance(300 * time.Second)
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatal(err)
	}
	if got := pub.DigAnswers(t, pdnsQueries...); got != "outlook-ext.contoso.test.\t60\tIN\tA\t203.0.113.20\n" {
		t.Fatalf("dig:\n%s", got)
	}
}

// The factory refuses what the config package cannot know.
func TestPublicDNSFactory(t *testing.T) {
	t.Parallel()
	base := func() *config.Config {
		c := config.Default()
		c.Namespace = config.Namespace{Internal: "outlook.contoso.test", External: "outlook-ext.contoso.test", Autodiscover: "autodiscover.contoso.test"}
		c.PublicDNS.Zone = "contoso.test."
		c.PublicDNS.Server = "127.0.0.1:53"
		c.PublicDNS.PublicIP = "203.0.113.20"
		return c
	}
	cases := []struct {
		name   string
		mutate func(*config.Config)
		with   map[string]any
		want   string
	}{
		{"valid", func(*config.Config) {}, nil, ""},
		{"parameters", func(*config.Config) {}, map[string]any{"zone": "x."}, "takes no parameters"},
		{"external outside the zone", func(c *config.Config) { c.Namespace.External = "outlook.fabrikam.test" }, nil, "namespace.external"},
		{"external at the apex", func(c *config.Config) { c.Namespace.External = "contoso.test" }, nil, "apex"},
		{"same names", func(c *config.Config) { c.Namespace.External = "outlook.contoso.test" }, nil, "must differ"},
		{"IPv6 public address", func(c *config.Config) { c.PublicDNS.PublicIP = "2001:db8::1" }, nil, "IPv4"},
		{"rfc2136 without server", func(c *config.Config) { c.PublicDNS.Server = "" }, nil, "public_dns.server"},
		{"manual without server", func(c *config.Config) { c.PublicDNS.Mode = "manual"; c.PublicDNS.Server = "" }, nil, "public_dns.server"},
		{"manual with nameservers", func(c *config.Config) {
			c.PublicDNS.Mode = "manual"
			c.PublicDNS.Server = ""
			c.PublicDNS.Nameservers = []string{"127.0.0.1:53"}
		}, nil, ""},
		{"unknown mode", func(c *config.Config) { c.PublicDNS.Mode = "axfr" }, nil, "public_dns.mode"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base()
			c.mutate(cfg)
			_, err := newPublicDNS("public-dns", c.with, testDeps(cfg, clients.Options{}))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// Someone changes the records after the UPDATE: waiting would never end,
// so the step fails naming the change.
func TestPublicDNSChangedAfterUpdate(t *testing.T) {
	t.Parallel()
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: pdnsOldZone(1)})
	cfg := pdnsConfig(t, pub, publicDNSModeRFC2136, pub.Secret, pub.Addr)
	clock := newPDNSClock()
	eng := pdnsOpen(t, t.TempDir(), pdnsStep(t, cfg), clock, nil)
	pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	pub.NSUpdate(t, "update delete outlook-ext.contoso.test. A\nupdate add outlook-ext.contoso.test. 60 A 203.0.113.99")
	clock.Advance(300 * time.Second)
	err := eng.Run(context.Background(), pdnsRun)
	if err == nil || !strings.Contains(err.Error(), "changed on "+pub.Addr+" after the update") ||
		!strings.Contains(err.Error(), "outlook-ext.contoso.test. A: updated to 203.0.113.20 (TTL 60), now 203.0.113.99 (TTL 60)") {
		t.Fatalf("got %v", err)
	}
	// The rollback refuses to overwrite that change.
	err = eng.Rollback(context.Background(), "public-dns", false)
	if err == nil || !strings.Contains(err.Error(), "rollback refused") || !strings.Contains(err.Error(), "203.0.113.99") {
		t.Fatalf("rollback: %v", err)
	}
	if got := pub.DigAnswers(t, "outlook-ext.contoso.test A"); got != "outlook-ext.contoso.test.\t60\tIN\tA\t203.0.113.99\n" {
		t.Fatalf("dig:\n%s", got)
	}
}

// A configured nameserver that is not authoritative for the zone fails
// the step instead of making it wait forever.
func TestPublicDNSLameNameserver(t *testing.T) {
	t.Parallel()
	pub := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: pdnsOldZone(1)})
	other := bindtest.Start(t, bindtest.Options{Zone: "fabrikam.test.", ZoneText: `$TTL 300
@ IN SOA ns1.fabrikam.test. hostmaster.fabrikam.test. 1 3600 600 86400 60
@ IN NS ns1.fabrikam.test.
ns1 IN A 203.0.113.54
`})
	cfg := pdnsConfig(t, pub, publicDNSModeRFC2136, pub.Secret, pub.Addr, other.Addr)
	eng := pdnsOpen(t, t.TempDir(), pdnsStep(t, cfg), newPDNSClock(), nil)
	err := eng.Run(context.Background(), pdnsRun)
	if err == nil || !strings.Contains(err.Error(), other.Addr) || !strings.Contains(err.Error(), "not authoritative for zone contoso.test.") {
		t.Fatalf("got %v", err)
	}
}

// The order of a stepwise change: the name to publish first, and within a
// name the deletions (a CNAME) before the sets.
func TestPublicDNSWriteOrder(t *testing.T) {
	a := func(name, ip string, ttl uint32) dnsupdate.RRset {
		return dnsupdate.RRset{Name: name, Type: 1, TTL: ttl, Data: []string{ip}}
	}
	none := func(name string, typ uint16) dnsupdate.RRset { return dnsupdate.RRset{Name: name, Type: typ} }
	const in, ext = "outlook.contoso.test.", "outlook-ext.contoso.test."
	cname := dnsupdate.RRset{Name: ext, Type: 5, TTL: 300, Data: []string{"old.contoso.test."}}
	before := []dnsupdate.RRset{a(in, "203.0.113.10", 300), none(in, 28), none(in, 5), none(ext, 1), none(ext, 28), cname}
	after := []dnsupdate.RRset{none(in, 1), none(in, 28), none(in, 5), a(ext, "203.0.113.20", 60), none(ext, 28), none(ext, 5)}
	render := func(ws []pdnsWrite) string {
		var out []string
		for _, w := range ws {
			op := "delete"
			if w.set.Exists() {
				op = "set " + w.set.Values()
			}
			out = append(out, w.set.Name+" "+w.set.TypeString()+" "+op)
		}
		return strings.Join(out, "; ")
	}
	tests := []struct {
		name          string
		target, cur   []dnsupdate.RRset
		first, second string
		want          string
	}{
		{"forward: external first, its CNAME before its A", after, before, ext, in,
			"outlook-ext.contoso.test. CNAME delete; outlook-ext.contoso.test. A set 203.0.113.20; outlook.contoso.test. A delete"},
		{"rollback: internal first, the A before the CNAME", before, after, in, ext,
			"outlook.contoso.test. A set 203.0.113.10; outlook-ext.contoso.test. A delete; outlook-ext.contoso.test. CNAME set old.contoso.test."},
		{"resumed half-way: only what is left", after, []dnsupdate.RRset{a(in, "203.0.113.10", 300), none(in, 28), none(in, 5), a(ext, "203.0.113.20", 60), none(ext, 28), none(ext, 5)}, ext, in,
			"outlook.contoso.test. A delete"},
		{"nothing to do", after, after, ext, in, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := render(pdnsWrites(tc.target, tc.cur, tc.first, tc.second)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
