package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func TestCapturedReadTakeOnce(t *testing.T) {
	var c capturedRead[int]
	if _, ok := c.take([]byte("a")); ok {
		t.Fatal("empty cache answered")
	}
	c.put([]byte("a"), 1)
	if _, ok := c.take([]byte("b")); ok {
		t.Fatal("another snapshot got the read")
	}
	// take forgets even on a mismatch: a later call reads afresh.
	if _, ok := c.take([]byte("a")); ok {
		t.Fatal("the read outlived a take")
	}
	c.put([]byte("a"), 2)
	if v, ok := c.take([]byte("a")); !ok || v != 2 {
		t.Fatalf("take: %d %t", v, ok)
	}
	if _, ok := c.take([]byte("a")); ok {
		t.Fatal("taken twice")
	}
}

func TestSharedReadOnce(t *testing.T) {
	for _, fail := range []bool{false, true} {
		var n atomic.Int32
		r := &sharedRead[int]{read: func(context.Context) (int, error) {
			n.Add(1)
			if fail {
				return 0, errors.New("boom")
			}
			return 7, nil
		}}
		for i := 0; i < 3; i++ {
			v, err := r.get(context.Background())
			if fail != (err != nil) || (!fail && v != 7) {
				t.Fatalf("fail %t: %d %v", fail, v, err)
			}
		}
		if n.Load() != 1 {
			t.Fatalf("fail %t: read %d times, want once", fail, n.Load())
		}
	}
}

func TestRememberServers(t *testing.T) {
	d := testDeps(nil, clients.Options{})
	if _, ok := d.knownServers(); ok {
		t.Fatal("servers known before any read")
	}
	got := d.rememberServers([]exchange.Server{{Name: "ex02"}, {Name: "EX01"}})
	if ServerNames(got)[0] != "EX01" {
		t.Fatalf("not sorted: %v", ServerNames(got))
	}
	// The first resolution wins, as Deps.Servers' cache does.
	d.rememberServers([]exchange.Server{{Name: "EX09"}})
	if s, ok := d.knownServers(); !ok || strings.Join(ServerNames(s), ",") != "EX01,ex02" {
		t.Fatalf("known %v %t", ServerNames(s), ok)
	}
}

// launchMeter counts the lab's PSRP pipelines per step and phase.
type launchMeter struct {
	c    *labstats.Counters
	rows map[string]map[string]int64 // step → phase → pipelines
	snap map[string]engine.Snapshot
}

func (m *launchMeter) measure(step, phase string, f func()) {
	before := m.c.Pipelines.Load()
	f()
	if m.rows[step] == nil {
		m.rows[step] = map[string]int64{}
	}
	m.rows[step][phase] += m.c.Pipelines.Load() - before
}

// meteredStep wraps a step so that every call, and every check it
// returns, is metered.
type meteredStep struct {
	engine.Step
	id string
	m  *launchMeter
}

func (s *meteredStep) Capture(ctx context.Context, env engine.Env) (snap engine.Snapshot, err error) {
	s.m.measure(s.id, "capture", func() { snap, err = s.Step.Capture(ctx, env) })
	s.m.snap[s.id] = snap
	return snap, err
}

func (s *meteredStep) Plan(ctx context.Context, env engine.Env, snap engine.Snapshot) (p engine.Plan, err error) {
	s.m.measure(s.id, "plan", func() { p, err = s.Step.Plan(ctx, env, snap) })
	return p, err
}

func (s *meteredStep) checks(phase string, cs []engine.Check) []engine.Check {
	out := make([]engine.Check, len(cs))
	for i, c := range cs {
		out[i] = &meteredCheck{Check: c, id: s.id, phase: phase, m: s.m}
	}
	return out
}

func (s *meteredStep) PreChecks(env engine.Env, snap engine.Snapshot) []engine.Check {
	s.m.snap[s.id] = snap
	return s.checks("pre", s.Step.PreChecks(env, snap))
}

func (s *meteredStep) Apply(ctx context.Context, env engine.Env, snap engine.Snapshot) (o engine.Outcome, err error) {
	s.m.measure(s.id, "apply", func() { o, err = s.Step.Apply(ctx, env, snap) })
	return o, err
}

func (s *meteredStep) PostChecks(env engine.Env, snap engine.Snapshot) []engine.Check {
	return s.checks("post", s.Step.PostChecks(env, snap))
}

func (s *meteredStep) Rollback(ctx context.Context, env engine.Env, snap engine.Snapshot) (err error) {
	s.m.measure(s.id, "rollback", func() { err = s.Step.Rollback(ctx, env, snap) })
	return err
}

type meteredCheck struct {
	engine.Check
	id, phase string
	m         *launchMeter
}

func (c *meteredCheck) Run(ctx context.Context, env engine.Env) (r engine.CheckResult) {
	c.m.measure(c.id, c.phase, func() { r = c.Check.Run(ctx, env) })
	return r
}

// openMetered is certLab.open with every step metered.
func (c *certLab) openMetered(t *testing.T, m *launchMeter, kinds ...string) (*engine.Engine, *Deps, *pdnsSink) {
	t.Helper()
	return c.openMeteredAt(t, m, t.TempDir(), kinds...)
}

// openMeteredAt is openMetered over the state in dir, with a fresh Deps
// (as a new process has).
func (c *certLab) openMeteredAt(t *testing.T, m *launchMeter, dir string, kinds ...string) (*engine.Engine, *Deps, *pdnsSink) {
	t.Helper()
	deps := testDeps(c.cfg, clients.Options{})
	var defs []engine.StepDef
	for _, k := range kinds {
		f, ok := Lookup(k)
		if !ok {
			t.Fatalf("%s is not registered", k)
		}
		s, err := f(k, nil, deps)
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, engine.StepDef{ID: k, Kind: k, Step: &meteredStep{Step: s, id: k, m: m}})
	}
	sink := &pdnsSink{}
	e, err := engine.Open(context.Background(), engine.Options{StateDir: dir, Sink: sink,
		Retry: engine.RetryPolicy{Attempts: 1}, Runbook: engine.Runbook{Name: "budget-test", Steps: defs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, deps, sink
}

func (m *launchMeter) table(steps []string) string {
	var b strings.Builder
	for _, s := range steps {
		var phases []string
		var total int64
		for p, n := range m.rows[s] {
			phases = append(phases, fmt.Sprintf("%s %d", p, n))
			total += n
		}
		sort.Strings(phases)
		fmt.Fprintf(&b, "%-18s total %d (%s)\n", s, total, strings.Join(phases, ", "))
	}
	return b.String()
}

// noScripts fails unless the lab saw the Exchange endpoint only: no
// powershell.exe, no WinRS shell, no script text, and at most pools PSRP
// sessions.
func noScripts(t *testing.T, what string, s labstats.Stats, pools int64) {
	t.Helper()
	if s.PowerShellLaunches != 0 || s.Shells != 0 || s.ScriptsRefused != 0 || s.PSRPPools > pools {
		t.Errorf("%s: %d powershell.exe, %d WinRS shells, %d scripts refused, %d PSRP sessions; want 0, 0, 0, at most %d",
			what, s.PowerShellLaunches, s.Shells, s.ScriptsRefused, s.PSRPPools, pools)
	}
}

// The budget of issue 11, measured through the engine against the lab:
// the steps run one by one (counters reset between them) in ONE PSRP
// session, with no WinRS shell and no script; each phase's pipelines are
// metered and logged (go test -v). autodiscover-wait and public-dns
// send none; an apply with nothing to do writes nothing; rollback --all
// still restores org.initial.json.
func TestLaunchBudgetLab(t *testing.T) {
	cl := startCertLab(t)
	cl.cfg.MapiHTTP.Enable = true
	cl.cfg.Mailboxes.BatchSize = 2 // so block-mailboxes' batches show in the table
	cl.cfg.Autodiscover.MinWait = config.Duration(10 * time.Millisecond)
	kinds := []string{"certificate", "bind-certificate", "external-urls", "autodiscover-wait", "public-dns", "mapi-http", "block-mailboxes"}
	m := &launchMeter{c: cl.lab.Counters(), rows: map[string]map[string]int64{}, snap: map[string]engine.Snapshot{}}
	eng, deps, sink := cl.openMetered(t, m, kinds...)
	ctx := context.Background()
	total := map[string]int64{}
	pools := int64(0)
	for _, k := range kinds {
		cl.lab.Counters().Reset()
		// Wait: autodiscover-wait's min_wait and public-dns' old TTL pass.
		if err := eng.Run(ctx, engine.RunOptions{Yes: true, Unattended: true, Wait: true, Until: k}); err != nil {
			t.Fatalf("%s: %v\n%s", k, err, sink.logs())
		}
		total[k] = cl.lab.Stats().Pipelines
		pools += cl.lab.Stats().PSRPPools
		noScripts(t, k, cl.lab.Stats(), 1)
		if k == "block-mailboxes" {
			changed := cl.lab.Stats().Cmdlets["Set-CASMailbox"]
			bs := int64(cl.cfg.Mailboxes.BatchSize)
			t.Logf("block-mailboxes: %d Set-CASMailbox, batch size %d, %d pipelines", changed, bs, total[k])
		}
	}
	if pools != 1 {
		t.Errorf("the run opened %d PSRP sessions, want 1", pools)
	}
	t.Logf("first run, pipelines per step and phase:\n%s", m.table(kinds))
	// These two send no pipeline: the servers were resolved earlier in
	// the run (Deps caches them), the rest is Autodiscover, TLS and DNS.
	for _, k := range []string{"autodiscover-wait", "public-dns"} {
		if total[k] != 0 {
			t.Errorf("%s sent %d pipelines, want 0 (%v)", k, total[k], m.rows[k])
		}
	}
	for _, k := range []string{"certificate", "bind-certificate", "external-urls", "mapi-http"} {
		if r := m.rows[k]; r["capture"] == 0 || r["apply"] == 0 {
			t.Errorf("%s: %v, want a read in the capture and in the apply", k, r)
		}
	}

	// Pre-checks on a rerun or resume (a new step, the stored snapshot):
	// one shared read each.
	for _, k := range []string{"certificate", "bind-certificate"} {
		f, _ := Lookup(k)
		st, err := f(k, nil, deps)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range st.PreChecks(&euEnv{pdnsEnv: pdnsEnv{}, id: k}, m.snap[k]) {
			if r := c.Run(ctx, nil); r.Status == engine.CheckFail {
				t.Errorf("%s resumed pre-check %s: %+v", k, c.Name(), r)
			}
		}
	}

	// An apply with nothing to do: one launch each, and no write.
	for _, k := range []string{"certificate", "bind-certificate"} {
		f, _ := Lookup(k)
		st, err := f(k, nil, deps)
		if err != nil {
			t.Fatal(err)
		}
		env := &euEnv{pdnsEnv: pdnsEnv{}, id: k}
		before := cl.lab.Stats()
		if _, err := st.Apply(ctx, env, m.snap[k]); err != nil {
			t.Fatal(err)
		}
		after := cl.lab.Stats()
		writes := 0
		for _, w := range []string{"Import-ExchangeCertificate", "Enable-ExchangeCertificate", "Remove-ExchangeCertificate", "Set-PopSettings", "Set-ImapSettings"} {
			writes += callCount(after, w) - callCount(before, w)
		}
		if writes != 0 {
			t.Errorf("%s: an apply with nothing to do made %d write(s)", k, writes)
		}
	}
	for _, k := range []string{"external-urls", "mapi-http"} {
		f, _ := Lookup(k)
		st, err := f(k, nil, deps)
		if err != nil {
			t.Fatal(err)
		}
		env := &euEnv{pdnsEnv: pdnsEnv{}, id: k}
		before := cl.lab.Stats()
		if _, err := st.Apply(ctx, env, m.snap[k]); err != nil {
			t.Fatal(err)
		}
		after := cl.lab.Stats()
		if after.VdirChanges != before.VdirChanges || after.Cmdlets["Set-OrganizationConfig"] != before.Cmdlets["Set-OrganizationConfig"] {
			t.Errorf("%s: an apply with nothing to do wrote", k)
		}
	}

	// A fresh process that runs external-urls alone: the capture resolves
	// the servers in the same launch.
	m2 := &launchMeter{c: cl.lab.Counters(), rows: map[string]map[string]int64{}, snap: map[string]engine.Snapshot{}}
	alone, _, sink2 := cl.openMetered(t, m2, "external-urls")
	cl.lab.Counters().Reset()
	if err := alone.Run(ctx, pdnsRun); err != nil {
		t.Fatalf("external-urls alone: %v\n%s", err, sink2.logs())
	}
	noScripts(t, "external-urls alone", cl.lab.Stats(), 1)
	if s := cl.lab.Stats(); s.Cmdlets["Get-ExchangeServer"] != 1 {
		t.Errorf("external-urls alone: Get-ExchangeServer %d times (want once, in the capture); %v", s.Cmdlets["Get-ExchangeServer"], m2.rows)
	}
	t.Logf("external-urls alone in a new process:\n%s", m2.table([]string{"external-urls"}))

	// certificate and bind-certificate alone in a new process each (the
	// certificate already bound): the capture resolves the servers in the
	// same launch.
	for _, k := range []string{"certificate", "bind-certificate"} {
		mk := &launchMeter{c: cl.lab.Counters(), rows: map[string]map[string]int64{}, snap: map[string]engine.Snapshot{}}
		e, _, sk := cl.openMetered(t, mk, k)
		cl.lab.Counters().Reset()
		if err := e.Run(ctx, pdnsRun); err != nil {
			t.Fatalf("%s alone: %v\n%s", k, err, sk.logs())
		}
		noScripts(t, k+" alone", cl.lab.Stats(), 1)
		if s := cl.lab.Stats(); s.Cmdlets["Get-ExchangeServer"] != 1 {
			t.Errorf("%s alone: Get-ExchangeServer %d times (want once, in the capture); %v", k, s.Cmdlets["Get-ExchangeServer"], mk.rows)
		}
		t.Logf("%s alone in a new process:\n%s", k, mk.table([]string{k}))
	}

	// block-mailboxes alone in a new process, with a few mailboxes flipped
	// behind its back: Issue 4's budget is 3 launches plus one per batch
	// written, and the capture resolves the probes' servers in its own
	// launch (the only Get-ExchangeServer).
	const flipped = 5
	n := 0
	if err := cl.lab.Store().Update(func(o *org.Org) error {
		for _, mb := range o.Mailboxes {
			if mb.RecipientTypeDetails == org.UserMailbox && n < flipped {
				mb.MAPIBlockOutlookRpcHttp = !mb.MAPIBlockOutlookRpcHttp
				mb.MAPIBlockOutlookExternalConnectivity = mb.MAPIBlockOutlookRpcHttp
				n++
			}
		}
		return nil
	}); err != nil || n != flipped {
		t.Fatalf("flipping %d mailboxes: %d flipped, %v", flipped, n, err)
	}
	bmDir := t.TempDir()
	m3 := &launchMeter{c: cl.lab.Counters(), rows: map[string]map[string]int64{}, snap: map[string]engine.Snapshot{}}
	bm, _, sink3 := cl.openMeteredAt(t, m3, bmDir, "block-mailboxes")
	cl.lab.Counters().Reset()
	if err := bm.Run(ctx, pdnsRun); err != nil {
		t.Fatalf("block-mailboxes alone: %v\n%s", err, sink3.logs())
	}
	bmStats := cl.lab.Stats()
	changed, bs := bmStats.MailboxWrites, int64(cl.cfg.Mailboxes.BatchSize)
	t.Logf("block-mailboxes alone in a new process (%d mailboxes written, batch size %d, Get-ExchangeServer %d):\n%s",
		changed, bs, bmStats.Cmdlets["Get-ExchangeServer"], m3.table([]string{"block-mailboxes"}))
	noScripts(t, "block-mailboxes alone", bmStats, 1)
	if changed != flipped || bmStats.Cmdlets["Get-ExchangeServer"] != 1 {
		t.Errorf("block-mailboxes alone: %d written (want %d), Get-ExchangeServer %d times (want once, in the capture); %v",
			changed, flipped, bmStats.Cmdlets["Get-ExchangeServer"], m3.rows)
	}
	if st, ok := bm.StepState("block-mailboxes"); !ok || st.Status != engine.StatusDone || len(st.PostChecks) != 3 {
		t.Fatalf("block-mailboxes alone: %+v", st)
	}
	if err := bm.Close(); err != nil {
		t.Fatal(err)
	}

	// `exrunbook check block-mailboxes` in yet another process: the post-
	// checks (flags read and both probes) cost one launch; the probes use
	// the snapshot's servers.
	m4 := &launchMeter{c: cl.lab.Counters(), rows: map[string]map[string]int64{}, snap: map[string]engine.Snapshot{}}
	chk, _, sink4 := cl.openMeteredAt(t, m4, bmDir, "block-mailboxes")
	cl.lab.Counters().Reset()
	res, err := chk.Checks(ctx, []string{"block-mailboxes"})
	if err != nil || len(res) != 1 || len(res[0].Results) != 3 || res[0].Failed() {
		t.Fatalf("check block-mailboxes: %+v %v\n%s", res, err, sink4.logs())
	}
	noScripts(t, "check block-mailboxes", cl.lab.Stats(), 1)
	if s := cl.lab.Stats(); s.Cmdlets["Get-ExchangeServer"] != 0 {
		t.Errorf("check block-mailboxes: Get-ExchangeServer %d times (want 0)", s.Cmdlets["Get-ExchangeServer"])
	}

	// Rollback --all: at most one launch per step for the two (mapi-http
	// none: the lab's organisation had MAPI over HTTP on); exact restore.
	for k := range m.rows {
		delete(m.rows[k], "rollback")
	}
	if err := eng.RollbackAll(ctx); err != nil {
		t.Fatalf("rollback --all: %v\n%s", err, sink.logs())
	}
	if !bytes.Equal(cl.initial(t), cl.lab.Org()) {
		t.Fatal("rollback --all did not restore org.initial.json")
	}
	t.Logf("after rollback --all, pipelines per step and phase:\n%s", m.table(kinds))
}
