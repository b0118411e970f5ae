package steps

import (
	"bytes"
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

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"

	"github.com/exrunbook/exrunbook/internal/allowlist"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsman"
	"github.com/google/uuid"
)

// bmLab is a lab started in-process with the config it wrote.
type bmLab struct {
	lab *lab.Lab
	cfg *config.Config
}

// startBlockLab is a lab of n mailboxes whose external URLs already point
// at the external name (as external-urls leaves them), so that the
// allowed probe user is offered it.
func startBlockLab(t *testing.T, n int) *bmLab {
	t.Helper()
	for _, v := range []string{config.EnvProbePassword, "EXRUNBOOK_EXCHANGE_PASSWORD"} {
		if os.Getenv(v) != "" {
			t.Skipf("%s is set in the environment and would override the lab's secrets", v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: dir, Mailboxes: n, Allow: 3, Servers: 2, Seed: 11})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); cancel() })
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join(dir, lab.FileConfig)})
	if err != nil {
		t.Fatal(err)
	}
	cl := &bmLab{lab: l, cfg: cfg}
	ext := cl.cfg.Namespace.External
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		for _, v := range o.VirtualDirectories {
			if v.Kind == org.KindMapi {
				u := "https://" + ext + "/mapi"
				v.ExternalUrl = &u
			}
		}
		for _, oa := range o.OutlookAnywhere {
			h := ext
			oa.ExternalHostname = &h
			oa.ExternalClientsRequireSsl = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return cl
}

// bmSink keeps the events.
type bmSink struct {
	mu     sync.Mutex
	events []engine.Event
}

func (s *bmSink) Emit(e engine.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *bmSink) logs() string {
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

// bmRun is an engine over the block-mailboxes step and its state dir.
type bmRun struct {
	e    *engine.Engine
	deps *Deps
	sink *bmSink
	dir  string
}

func (c *bmLab) open(t *testing.T) *bmRun {
	t.Helper()
	return c.openWith(t, clients.Options{})
}

// openWith is open with the clients' options o (a Runner in front of the
// lab's session).
func (c *bmLab) openWith(t *testing.T, o clients.Options) *bmRun {
	t.Helper()
	deps := testDeps(c.cfg, o)
	s, err := newBlockMailboxes("block-mailboxes", nil, deps)
	if err != nil {
		t.Fatal(err)
	}
	r := &bmRun{deps: deps, sink: &bmSink{}, dir: t.TempDir()}
	r.e, err = engine.Open(context.Background(), engine.Options{StateDir: r.dir, Sink: r.sink,
		Retry: engine.RetryPolicy{Attempts: 1}, Runbook: engine.Runbook{Name: "block-test",
			Steps: []engine.StepDef{{ID: "block-mailboxes", Kind: "block-mailboxes", Step: s}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.e.Close() })
	return r
}

func (r *bmRun) view(t *testing.T) engine.StepView {
	t.Helper()
	v, ok := r.e.StepState("block-mailboxes")
	if !ok {
		t.Fatal("no step")
	}
	return v
}

func (r *bmRun) snapshot(t *testing.T) (engine.Snapshot, BlockMailboxesSnapshot) {
	t.Helper()
	f, err := state.Load(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Steps {
		if s.ID == "block-mailboxes" {
			var snap BlockMailboxesSnapshot
			if err := json.Unmarshal(s.Snapshot, &snap); err != nil {
				t.Fatal(err)
			}
			return s.Snapshot, snap
		}
	}
	t.Fatal("no snapshot stored")
	return nil, BlockMailboxesSnapshot{}
}

func bmResult(t *testing.T, rs []engine.CheckResult, name string) engine.CheckResult {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no check %s in %+v", name, rs)
	return engine.CheckResult{}
}

// bmEnv is an Env outside the engine.
type bmEnv struct{ logs []string }

func (e *bmEnv) Now() time.Time                           { return time.Now() }
func (e *bmEnv) Logf(f string, a ...any)                  { e.logs = append(e.logs, fmt.Sprintf(f, a...)) }
func (e *bmEnv) Progress(int, int, string)                {}
func (e *bmEnv) SetOutput(string, any) error              { return nil }
func (e *bmEnv) Output(string, string, any) (bool, error) { return false, nil }

// allowedSet is the lab's view of the allow group, expanded.
func allowedSet(cl *bmLab, group string) map[uuid.UUID]bool {
	out := map[uuid.UUID]bool{}
	cl.lab.Store().Read(func(o *org.Org) {
		g, err := o.FindGroup(group)
		if err != nil {
			return
		}
		for _, m := range o.ExpandGroup(g) {
			out[m.Guid] = true
		}
	})
	return out
}

// flagsAsDecided checks every user mailbox against the group: members
// open, everyone else blocked; other recipient types as in before.
func flagsAsDecided(t *testing.T, cl *bmLab, before map[uuid.UUID][2]bool) {
	t.Helper()
	allow := allowedSet(cl, cl.cfg.Mailboxes.AllowGroup)
	if len(allow) == 0 {
		t.Fatal("the lab's allow group is empty")
	}
	cl.lab.Store().Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			got := [2]bool{m.MAPIBlockOutlookRpcHttp, m.MAPIBlockOutlookExternalConnectivity}
			switch {
			case m.RecipientTypeDetails != org.UserMailbox:
				if got != before[m.Guid] {
					t.Errorf("%s (%s) is not a configured type but was changed", m.Alias, m.RecipientTypeDetails)
				}
			case allow[m.Guid] && got != [2]bool{}:
				t.Errorf("allowed %q is blocked: %v", m.Alias, got)
			case !allow[m.Guid] && got != [2]bool{true, true}:
				t.Errorf("%q outside the group is not blocked: %v", m.Alias, got)
			}
		}
	})
}

func mailboxFlags(cl *bmLab) map[uuid.UUID][2]bool {
	out := map[uuid.UUID][2]bool{}
	cl.lab.Store().Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			out[m.Guid] = [2]bool{m.MAPIBlockOutlookRpcHttp, m.MAPIBlockOutlookExternalConnectivity}
		}
	})
	return out
}

// The whole step through the real engine against the lab: the plan is
// summed up, every mailbox ends as the group decides (hostile names
// included), both Autodiscover probes confirm it, the launches stay in
// budget, a second apply writes nothing, and rollback restores the
// organisation byte for byte.
func TestBlockMailboxesLab(t *testing.T) {
	cl := startBlockLab(t, 120)
	cl.cfg.Mailboxes.BatchSize = 20
	before := cl.lab.Org()
	flagsBefore := mailboxFlags(cl)
	r := cl.open(t)
	e, deps, sink := r.e, r.deps, r.sink
	cl.lab.Counters().Reset()
	ctx := context.Background()
	if err := e.Run(ctx, engine.RunOptions{Yes: true}); err != nil {
		t.Fatalf("run: %v\n%s", err, sink.logs())
	}
	st := cl.lab.Stats()
	flagsAsDecided(t, cl, flagsBefore)

	v := r.view(t)
	if v.Status != engine.StatusDone {
		t.Fatalf("status %s: %s", v.Status, v.LastError)
	}
	for _, name := range []string{"mailbox-flags", "autodiscover-blocked-user", "autodiscover-allowed-user"} {
		if r := bmResult(t, v.PostChecks, name); r.Status != engine.CheckPass {
			t.Errorf("%s: %s %s %v", name, r.Status, r.Message, r.Evidence)
		}
	}
	if r := bmResult(t, v.PreChecks, "allow-group"); r.Status != engine.CheckPass || !strings.Contains(r.Message, "nested group") {
		t.Errorf("allow-group pre-check: %+v", r)
	}
	raw, snap := r.snapshot(t)
	changed := len(snap.Changes)
	if changed <= BlockMailboxesPlanRows || int(st.MailboxWrites) != changed {
		t.Fatalf("%d changes in the snapshot, %d writes", changed, st.MailboxWrites)
	}
	// The plan lists the first 50 and counts the rest in Omitted; the
	// summary has the true numbers.
	if v.Plan == nil || len(v.Plan.Changes) != BlockMailboxesPlanRows || v.Plan.Omitted != changed-BlockMailboxesPlanRows ||
		v.Plan.Pending() != changed || !strings.Contains(v.Plan.Summary, "to block") {
		t.Fatalf("plan: %d rows, %d omitted, %d pending (%d changes): %s", len(v.Plan.Changes), v.Plan.Omitted, v.Plan.Pending(), changed, v.Plan.Summary)
	}
	for _, c := range v.Plan.Changes {
		if strings.HasPrefix(c.Target, "…") || c.NoChange() {
			t.Fatalf("plan row %+v", c)
		}
	}
	// Budget: the Exchange endpoint only, one session; the capture
	// resolves the probes' servers (the only Get-ExchangeServer).
	noScripts(t, "block-mailboxes", st, 1)
	if st.Cmdlets["Get-ExchangeServer"] != 1 {
		t.Errorf("Get-ExchangeServer %d times, want once (%v)", st.Cmdlets["Get-ExchangeServer"], st.Cmdlets)
	}
	if len(snap.Servers) != 2 {
		t.Errorf("the snapshot keeps %d servers for the probe, want 2: %+v", len(snap.Servers), snap.Servers)
	}
	if !strings.Contains(sink.logs(), "mailboxes written") {
		t.Errorf("no batch summary in the log:\n%s", sink.logs())
	}

	// Idempotent: a second apply reads once and writes nothing.
	s, err := newBlockMailboxes("block-mailboxes", nil, deps)
	if err != nil {
		t.Fatal(err)
	}
	cl.lab.Counters().Reset()
	if _, err := s.Apply(ctx, &bmEnv{}, raw); err != nil {
		t.Fatal(err)
	}
	if st := cl.lab.Stats(); st.MailboxWrites != 0 || st.PowerShellLaunches != 0 || st.Pipelines == 0 {
		t.Fatalf("second apply: %d writes, %d launches, %d pipelines; want 0, 0 and a read", st.MailboxWrites, st.PowerShellLaunches, st.Pipelines)
	}

	cl.lab.Counters().Reset()
	if err := e.Rollback(ctx, "block-mailboxes", false); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if !bytes.Equal(before, cl.lab.Org()) {
		t.Fatal("rollback did not restore the organisation")
	}
	if st := cl.lab.Stats(); int(st.MailboxWrites) != changed {
		t.Fatalf("rollback wrote %d mailboxes, the step changed %d", st.MailboxWrites, changed)
	}
}

// An empty allow group is refused by a safety limit before anything is
// stored or written, unless --allow-empty-group; a missing one too.
func TestBlockMailboxesEmptyAndMissingGroupLab(t *testing.T) {
	cl := startBlockLab(t, 30)
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		g, err := o.FindGroup(cl.cfg.Mailboxes.AllowGroup)
		if err != nil {
			return err
		}
		g.Members = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The allowed probe user leaves the group too: only the flags are checked.
	cl.cfg.Autodiscover.Probe = config.Probe{}
	r := cl.open(t)
	e, deps := r.e, r.deps
	cl.lab.Counters().Reset()
	err := e.Run(ctx, engine.RunOptions{Yes: true})
	var se *errkind.SafetyError
	if !errors.As(err, &se) || se.Limit != "empty-allow-group" {
		t.Fatalf("empty group: %v", err)
	}
	if st := cl.lab.Stats(); st.MailboxWrites != 0 {
		t.Fatalf("%d writes after a refusal", st.MailboxWrites)
	}
	if v := r.view(t); v.HasSnapshot {
		t.Fatal("a refused capture was stored")
	}
	deps.AllowEmptyGroup = true
	if err := e.Run(ctx, engine.RunOptions{Yes: true}); err != nil {
		t.Fatalf("with --allow-empty-group: %v", err)
	}
	cl.lab.Store().Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails == org.UserMailbox && !(m.MAPIBlockOutlookRpcHttp && m.MAPIBlockOutlookExternalConnectivity) {
				t.Errorf("%s not blocked with an empty group", m.Alias)
			}
		}
	})

	cl.cfg.Mailboxes.AllowGroup = "No Such Group"
	e2 := cl.open(t).e
	err = e2.Run(ctx, engine.RunOptions{Yes: true})
	if !errors.As(err, &se) || se.Limit != "allow-group" || !strings.Contains(err.Error(), "No Such Group") {
		t.Fatalf("missing group: %v", err)
	}
}

// A transient error of a batch stops the apply; the rerun writes only
// what is left.
func TestBlockMailboxesTransientThenResumeLab(t *testing.T) {
	cl := startBlockLab(t, 40)
	cl.cfg.Mailboxes.BatchSize = 5
	ctx := context.Background()
	r := cl.open(t)
	// One Set-CASMailbox pipeline per batch, so the rate is per pipeline:
	// high enough that the engine's retries run out in some batch.
	cl.lab.Faults().Set(faults.Spec{Seed: 5, Errors: map[string]float64{"set-casmailbox": 0.6}})
	err := r.e.Run(ctx, engine.RunOptions{Yes: true})
	if err == nil || !strings.Contains(err.Error(), "stopped after") {
		t.Fatalf("want the apply stopped by the transient error, got %v", err)
	}
	cl.lab.Faults().Set(faults.Spec{})
	cl.lab.Counters().Reset()
	if err := r.e.Run(ctx, engine.RunOptions{Yes: true}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	_, snap := r.snapshot(t)
	if w := cl.lab.Stats().MailboxWrites; w == 0 || int(w) >= len(snap.Changes) {
		t.Fatalf("the rerun wrote %d of %d: it should write only what was left", w, len(snap.Changes))
	}
	flagsAsDecided(t, cl, mailboxFlags(cl))
}

// removingRunner removes a mailbox from the lab just before the first
// Set-CASMailbox pipeline runs: Exchange then refuses that one mailbox.
type removingRunner struct {
	exchange.PipelineRunner
	remove func()
	once   sync.Once
}

func (r *removingRunner) Run(ctx context.Context, pl psrp.Pipeline, input []psrp.Value) (*psrp.Result, error) {
	if pl.Commands[0].Name == "Set-CASMailbox" {
		r.once.Do(r.remove)
	}
	return r.PipelineRunner.Run(ctx, pl, input)
}

// Exchange refusing a mailbox fails the step naming it with Exchange's
// words, after writing the others.
func TestBlockMailboxesItemFailureLab(t *testing.T) {
	cl := startBlockLab(t, 30)
	pw, err := cl.cfg.Secrets(nil).ExchangePassword()
	if err != nil {
		t.Fatal(err)
	}
	x := cl.cfg.Exchange
	sess := exchange.NewSession(exchange.WSManDialer(wsman.Config{Endpoint: x.Endpoint, Auth: wsman.Auth(x.Auth), User: x.User, Password: pw, CAFile: x.CAFile}, 4))
	t.Cleanup(func() { _ = sess.Close(context.Background()) })
	allow := allowedSet(cl, cl.cfg.Mailboxes.AllowGroup)
	var gone string
	rr := &removingRunner{PipelineRunner: sess, remove: func() {
		if err := cl.lab.Store().Update(func(o *org.Org) error {
			for i, m := range o.Mailboxes {
				if m.RecipientTypeDetails == org.UserMailbox && !allow[m.Guid] && !m.MAPIBlockOutlookRpcHttp {
					gone = m.Name // the CAS read has no alias: changes carry the name
					o.Mailboxes = append(o.Mailboxes[:i], o.Mailboxes[i+1:]...)
					return nil
				}
			}
			return errors.New("no mailbox to remove")
		}); err != nil {
			t.Error(err)
		}
	}}
	r := cl.openWith(t, clients.Options{Runner: rr})
	err = r.e.Run(context.Background(), engine.RunOptions{Yes: true})
	var sf *engine.StepFailedError
	if !errors.As(err, &sf) || !strings.Contains(err.Error(), "mailboxes refused by Exchange") || !strings.Contains(err.Error(), gone) {
		t.Fatalf("want a failure naming %q, got %v", gone, err)
	}
	if !strings.Contains(r.sink.logs(), "error: "+gone) {
		t.Fatalf("the refusal is not logged:\n%s", r.sink.logs())
	}
	flagsAsDecided(t, cl, mailboxFlags(cl)) // every other mailbox was written
}

func TestBlockMailboxesFactory(t *testing.T) {
	cl := startBlockLab(t, 8)
	if _, err := newBlockMailboxes("b", map[string]any{"x": 1}, testDeps(cl.cfg, clients.Options{})); err == nil {
		t.Fatal("parameters accepted")
	}
	cfg := *cl.cfg
	cfg.Mailboxes.AllowGroup = " "
	if _, err := newBlockMailboxes("b", nil, testDeps(&cfg, clients.Options{})); err == nil || !strings.Contains(err.Error(), "mailboxes.allow_group") {
		t.Fatalf("no group: %v", err)
	}
}

func TestBlockMailboxesPlanSmall(t *testing.T) {
	cl := startBlockLab(t, 8)
	s := &blockMailboxes{id: "b", deps: testDeps(cl.cfg, clients.Options{}), cfg: cl.cfg.Mailboxes}
	ch := []allowlist.Change{{Guid: "aaaaaaaa-0000-4000-8000-000000000001", Alias: "x", From: allowlist.Open, To: allowlist.Blocked}}
	raw, _ := json.Marshal(BlockMailboxesSnapshot{Group: "G", Mailboxes: 3, Allowed: 1, NestedGroups: 2, RecipientTypes: []string{"UserMailbox"},
		Changes: allowlist.EncodeChanges(ch), Missing: nil})
	p, err := s.Plan(context.Background(), &bmEnv{}, raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 1 || p.Changes[0].From != "$false / $false" || p.Changes[0].To != "$true / $true" || !strings.Contains(p.Summary, "1 to block, 0 to unblock") {
		t.Fatalf("plan %+v", p)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 123456: "123,456"} {
		if got := bmThousands(n); got != want {
			t.Errorf("bmThousands(%d) = %q", n, got)
		}
	}
}

// A member that is not a mailbox of the configured types (a shared
// mailbox in a nested group) is reported by a warning pre-check and the
// log, and left alone.
func TestBlockMailboxesMissingMemberLab(t *testing.T) {
	cl := startBlockLab(t, 30)
	var shared *org.Mailbox
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails == org.SharedMailbox {
				shared = m
				break
			}
		}
		g, err := o.FindGroup("AllowExternalAccess-Nested")
		if err != nil || shared == nil {
			return errors.New("the lab lacks the nested group or a shared mailbox")
		}
		g.Members = append(g.Members, shared.Guid)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := mailboxFlags(cl)
	r := cl.open(t)
	if err := r.e.Run(context.Background(), engine.RunOptions{Yes: true}); err != nil {
		t.Fatalf("run: %v\n%s", err, r.sink.logs())
	}
	pre := bmResult(t, r.view(t).PreChecks, "allow-group")
	if pre.Status != engine.CheckWarn || !strings.Contains(strings.Join(pre.Evidence, "\n"), shared.Guid.String()) {
		t.Fatalf("pre-check: %+v", pre)
	}
	if !strings.Contains(r.sink.logs(), "warning: "+shared.Name) {
		t.Fatalf("no warning in the log:\n%s", r.sink.logs())
	}
	if got := mailboxFlags(cl)[shared.Guid]; got != before[shared.Guid] {
		t.Fatal("the shared mailbox was written")
	}
	flagsAsDecided(t, cl, before)
}

// The servers for the Autodiscover probe: the capture resolves them in
// its own launch when the run has not (and Deps remembers them), takes
// the run's when it has, and keeps none without the probe; the probe
// checks use the snapshot's, and a snapshot without them (taken before
// the probe was configured) has the checks resolve them.
func TestBlockMailboxesProbeServersLab(t *testing.T) {
	cl := startBlockLab(t, 20)
	ctx := context.Background()
	capture := func(deps *Deps) (engine.Snapshot, BlockMailboxesSnapshot, int64, int64) {
		t.Helper()
		s, err := newBlockMailboxes("block-mailboxes", nil, deps)
		if err != nil {
			t.Fatal(err)
		}
		cl.lab.Counters().Reset()
		raw, err := s.Capture(ctx, &bmEnv{})
		if err != nil {
			t.Fatal(err)
		}
		var snap BlockMailboxesSnapshot
		if err := json.Unmarshal(raw, &snap); err != nil {
			t.Fatal(err)
		}
		st := cl.lab.Stats()
		return raw, snap, st.Cmdlets["Get-ExchangeServer"], st.PowerShellLaunches
	}

	deps := testDeps(cl.cfg, clients.Options{})
	raw, snap, gets, launches := capture(deps)
	if gets != 1 || launches != 0 || strings.Join(ServerNames(snap.Servers), ",") != "EX01,EX02" {
		t.Fatalf("fresh run: Get-ExchangeServer %d, %d launches, servers %v; want 1, 0, EX01,EX02", gets, launches, ServerNames(snap.Servers))
	}
	if known, ok := deps.knownServers(); !ok || len(known) != 2 {
		t.Fatalf("Deps does not remember the capture's servers: %v", known)
	}

	known := testDeps(cl.cfg, clients.Options{})
	known.rememberServers([]exchange.Server{{Name: "EX02", Fqdn: "ex02.contoso.test"}})
	if _, s2, gets, _ := capture(known); gets != 0 || strings.Join(ServerNames(s2.Servers), ",") != "EX02" {
		t.Fatalf("servers known to the run: Get-ExchangeServer %d, servers %v; want 0, EX02", gets, ServerNames(s2.Servers))
	}

	noProbe := *cl.cfg
	noProbe.Autodiscover.Probe = config.Probe{}
	if _, s3, gets, _ := capture(testDeps(&noProbe, clients.Options{})); gets != 0 || s3.Servers != nil {
		t.Fatalf("without the probe: Get-ExchangeServer %d, servers %v; want 0, none", gets, ServerNames(s3.Servers))
	}

	// The probe checks alone (no flags read), in a new process.
	probe := func(raw engine.Snapshot) int64 {
		t.Helper()
		d := testDeps(cl.cfg, clients.Options{})
		s, err := newBlockMailboxes("block-mailboxes", nil, d)
		if err != nil {
			t.Fatal(err)
		}
		cl.lab.Counters().Reset()
		n := 0
		for _, c := range s.PostChecks(&bmEnv{}, raw) {
			if c.Name() == "mailbox-flags" {
				continue
			}
			n++
			if r := c.Run(ctx, &bmEnv{}); r.Status == engine.CheckFail && strings.Contains(r.Message, "servers") {
				t.Errorf("%s: %+v", c.Name(), r)
			}
		}
		if n != 2 {
			t.Fatalf("%d probe checks, want 2", n)
		}
		return cl.lab.Stats().Cmdlets["Get-ExchangeServer"]
	}
	if gets := probe(raw); gets != 0 {
		t.Errorf("probe checks with the snapshot's servers: Get-ExchangeServer %d times, want 0", gets)
	}
	snap.Servers = nil
	old, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	if gets := probe(old); gets != 1 {
		t.Errorf("probe checks of a snapshot without servers: Get-ExchangeServer %d times, want 1", gets)
	}
}
