package tui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/muesli/termenv"
)

// The fixed instant every golden screen is drawn at.
var t0 = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

func TestMain(m *testing.M) {
	time.Local = time.UTC // times on screen are local; goldens are in UTC
	os.Exit(m.Run())
}

// fakeCtrl is an in-memory Controller that emits the events a real engine
// would, so that the model can be driven without Exchange.
type fakeCtrl struct {
	mu          sync.Mutex
	steps       []StepInfo
	events      *Events
	plans       map[string]engine.Plan
	pre         map[string][]engine.CheckResult
	rollbackErr error
	applied     []string
	declined    []string
	rolledBack  []string
	forced      []bool
	skipped     map[string]string
	overrides   []string
	history     []engine.Event
	// waits: Apply of these steps first returns a WaitingError until the
	// given time; applied again while waiting, it finishes without asking.
	waits map[string]time.Time
	// hang: Apply of these steps, once approved, blocks until cancelled.
	hang        map[string]bool
	approvals   int
	interrupted []string
}

func splitNamespaceSteps() []StepInfo {
	return []StepInfo{
		{ID: "certificate", Title: "Certificate with the new external name", Status: engine.StatusPending},
		{ID: "bind-certificate", Title: "Bind the certificate to IIS and SMTP", Status: engine.StatusPending},
		{ID: "external-urls", Title: "Move external URLs to the new name", Status: engine.StatusPending},
		{ID: "autodiscover-wait", Title: "Wait for Autodiscover caches", Status: engine.StatusPending},
		{ID: "public-dns", Title: "Swap the public DNS record", Status: engine.StatusPending},
		{ID: "mapi-http", Title: "Verify MAPI over HTTP", Status: engine.StatusPending},
		{ID: "block-mailboxes", Title: "Block external Outlook outside the allow group", Status: engine.StatusPending},
	}
}

func newFake() *fakeCtrl {
	return &fakeCtrl{steps: splitNamespaceSteps(), events: NewEvents(), plans: map[string]engine.Plan{},
		pre: map[string][]engine.CheckResult{}, skipped: map[string]string{},
		waits: map[string]time.Time{}, hang: map[string]bool{}}
}

func (f *fakeCtrl) Steps() []StepInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]StepInfo(nil), f.steps...)
}

func (f *fakeCtrl) set(id string, fn func(*StepInfo)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.steps {
		if f.steps[i].ID == id {
			fn(&f.steps[i])
		}
	}
}

func (f *fakeCtrl) emit(ev engine.Event) {
	ev.Time = t0
	f.events.Emit(ev)
}

func (f *fakeCtrl) Apply(ctx context.Context, id string, approve Approve) error {
	f.mu.Lock()
	until, waits := f.waits[id]
	var waiting bool
	for _, s := range f.steps {
		if s.ID == id {
			waiting = s.Status == engine.StatusWaiting
		}
	}
	f.mu.Unlock()
	if waiting {
		f.emit(engine.Event{Kind: engine.EventStepStarted, Step: id, Message: "the wait is over: applying again"})
		f.mu.Lock()
		f.applied = append(f.applied, id)
		f.mu.Unlock()
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone; s.WaitUntil = time.Time{} })
		f.emit(engine.Event{Kind: engine.EventDone, Step: id})
		return nil
	}
	f.set(id, func(s *StepInfo) { s.Status = engine.StatusRunning })
	f.emit(engine.Event{Kind: engine.EventStepStarted, Step: id})
	plan := f.plans[id]
	f.emit(engine.Event{Kind: engine.EventPlan, Step: id, Plan: &plan})
	for _, c := range f.pre[id] {
		c := c
		f.emit(engine.Event{Kind: engine.EventCheck, Step: id, Phase: "pre", Check: &c})
	}
	ok, err := approve(ctx, id, plan)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.approvals++
	hang := f.hang[id]
	f.mu.Unlock()
	if ok && hang {
		<-ctx.Done()
		f.mu.Lock()
		f.interrupted = append(f.interrupted, id)
		f.mu.Unlock()
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusRunning })
		return &engine.InterruptedError{Step: id}
	}
	if ok && waits {
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusWaiting; s.WaitUntil = until; s.WaitReason = "caches" })
		u := until
		f.emit(engine.Event{Kind: engine.EventWaiting, Step: id, WaitUntil: &u, Message: "caches"})
		return &engine.WaitingError{Step: id, Until: until, Reason: "caches"}
	}
	if !ok {
		f.mu.Lock()
		f.declined = append(f.declined, id)
		f.mu.Unlock()
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusPending })
		return &engine.ApprovalNeededError{Step: id, Declined: true}
	}
	for i := 1; i <= 4; i++ {
		f.emit(engine.Event{Kind: engine.EventProgress, Step: id, Progress: &engine.Progress{Done: i * 500, Total: 2000, Unit: "mailboxes"}})
	}
	f.mu.Lock()
	f.applied = append(f.applied, id)
	f.mu.Unlock()
	f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone; s.Plan = &plan })
	f.emit(engine.Event{Kind: engine.EventDone, Step: id})
	return nil
}

func (f *fakeCtrl) Recheck(ctx context.Context, id string) ([]engine.CheckResult, error) {
	return []engine.CheckResult{{Name: "external-urls", Status: engine.CheckPass, Message: "12 URLs use outlook-ext.contoso.test"}}, nil
}

func (f *fakeCtrl) Rollback(ctx context.Context, id string, force bool) error {
	f.mu.Lock()
	f.forced = append(f.forced, force)
	err := f.rollbackErr
	f.mu.Unlock()
	if err != nil && !force {
		return err
	}
	f.mu.Lock()
	f.rolledBack = append(f.rolledBack, id)
	f.mu.Unlock()
	f.set(id, func(s *StepInfo) { s.Status = engine.StatusRolledBack })
	return nil
}

func (f *fakeCtrl) Skip(id, reason string) error {
	f.mu.Lock()
	f.skipped[id] = reason
	f.mu.Unlock()
	f.set(id, func(s *StepInfo) { s.Status = engine.StatusSkipped })
	return nil
}

func (f *fakeCtrl) OverrideWait(id, reason string) error {
	f.mu.Lock()
	f.overrides = append(f.overrides, id)
	f.mu.Unlock()
	// As the engine: the step stays waiting, and its next apply finishes
	// without waiting.
	return nil
}

func (f *fakeCtrl) History() []engine.Event { return f.history }

// asciiRenderer fixes the colour profile of the goldens: no colour at all,
// so the files read as the screen does.
func asciiRenderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.Ascii)
	return r
}

func newModel(f *fakeCtrl) *Model {
	return New(f, f.events, Options{
		Runbook: "split-namespace", StateDir: ".exrunbook", ResumeCommand: "exrunbook run",
		Renderer: asciiRenderer(), Now: func() time.Time { return t0 },
		TickEvery: 50 * time.Millisecond,
	})
}

func start(t *testing.T, m *Model, w, h int) *teatest.TestModel {
	t.Helper()
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
}

func waitFor(t *testing.T, tm *teatest.TestModel, text string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(text)) },
		teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// waitForAll waits until every text has appeared in the output read in
// this call (several may arrive in one frame).
func waitForAll(t *testing.T, tm *teatest.TestModel, texts ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, text := range texts {
			if !bytes.Contains(b, []byte(text)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
}

// finalView quits the program and returns the last frame the model drew.
func finalView(t *testing.T, tm *teatest.TestModel) (*Model, string) {
	t.Helper()
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if fm.cancel != nil {
		fm.cancel()
	}
	return fm, fm.View()
}

func assertLines(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("screen has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if lw := lipgloss.Width(l); lw > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, lw, w, l)
		}
	}
}

func TestFirstScreen(t *testing.T) {
	f := newFake()
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "certificate: Certificate")
	_, view := finalView(t, tm)
	assertLines(t, view, 100, 30)
	golden.RequireEqual(t, []byte(view))
}

func TestScreenAt80x24ResumedRun(t *testing.T) {
	f := newFake()
	f.set("certificate", func(s *StepInfo) { s.Status = engine.StatusDone })
	f.set("bind-certificate", func(s *StepInfo) { s.Status = engine.StatusDone })
	f.history = []engine.Event{
		{Time: t0.Add(-time.Hour), Kind: engine.EventStepStarted, Step: "certificate"},
		{Time: t0.Add(-time.Hour), Kind: engine.EventDone, Step: "certificate"},
		{Time: t0.Add(-50 * time.Minute), Kind: engine.EventDone, Step: "bind-certificate"},
	}
	m := newModel(f)
	if got := m.steps[m.sel].ID; got != "external-urls" {
		t.Fatalf("a resumed run opens at %q, want the first unfinished step external-urls", got)
	}
	tm := start(t, m, 80, 24)
	waitFor(t, tm, "external-urls: Move")
	_, view := finalView(t, tm)
	assertLines(t, view, 80, 24)
	if !strings.Contains(view, "13:10:00 bind-certificate: done") {
		t.Errorf("the history of the earlier session is not visible:\n%s", view)
	}
	golden.RequireEqual(t, []byte(view))
}

func externalURLsPlan() engine.Plan {
	return engine.Plan{Summary: "ExternalUrl of 6 virtual directories on EX01", Changes: []engine.Change{
		{Target: `EX01\owa (Default Web Site)`, Field: "ExternalUrl", From: "https://outlook.contoso.test/owa", To: "https://outlook-ext.contoso.test/owa"},
		{Target: `EX01\ecp (Default Web Site)`, Field: "ExternalUrl", From: "https://outlook.contoso.test/ecp", To: "https://outlook-ext.contoso.test/ecp"},
		{Target: `EX01\OAB (Default Web Site)`, Field: "ExternalUrl", From: "$null", To: "https://outlook-ext.contoso.test/OAB"},
		{Target: `EX01\Rpc (Default Web Site)`, Field: "ExternalHostname", From: "outlook-ext.contoso.test", To: "outlook-ext.contoso.test"},
	}}
}

func TestPlanDiff(t *testing.T) {
	f := newFake()
	f.set("certificate", func(s *StepInfo) { s.Status = engine.StatusDone })
	f.set("bind-certificate", func(s *StepInfo) { s.Status = engine.StatusDone })
	p := externalURLsPlan()
	f.set("external-urls", func(s *StepInfo) {
		s.Plan = &p
		s.PreChecks = []engine.CheckResult{{Name: "servers-agree", Status: engine.CheckPass, Message: "EX01 and EX02 have the same URLs and certificate"}}
	})
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "(no change)")
	_, view := finalView(t, tm)
	for _, want := range []string{
		"      https://outlook.contoso.test/owa ",
		"    → https://outlook-ext.contoso.test/owa",
		"      $null ",
		"    → https://outlook-ext.contoso.test/OAB",
		"outlook-ext.contoso.test (no change)",
	} {
		if !strings.Contains(view, want) {
			t.Errorf("plan diff lacks %q", want)
		}
	}
	golden.RequireEqual(t, []byte(view))
}

func TestFailedCheckWithEvidence(t *testing.T) {
	f := newFake()
	f.set("certificate", func(s *StepInfo) {
		s.Status = engine.StatusFailed
		s.Error = "pre-check san-coverage failed"
		s.PreChecks = []engine.CheckResult{
			{Name: "private-key", Status: engine.CheckPass, Message: "the PFX holds a 2048-bit RSA key"},
			{Name: "san-coverage", Status: engine.CheckFail, Message: "the certificate does not cover outlook-ext.contoso.test",
				Evidence: []string{"EX01 presented CN=outlook.contoso.test, thumbprint 3F2A…9C01", "SANs: outlook.contoso.test, autodiscover.contoso.test", "not after 2027-03-01 (99 days)"}},
		}
	})
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "FAIL")
	_, view := finalView(t, tm)
	if !strings.Contains(view, "SANs: outlook.contoso.test, autodiscover.contoso.test") {
		t.Errorf("the failed check's evidence is not shown:\n%s", view)
	}
	golden.RequireEqual(t, []byte(view))
}

func TestApplyConfirmationNamesTheChanges(t *testing.T) {
	f := newFake()
	f.set("certificate", func(s *StepInfo) { s.Status = engine.StatusDone })
	f.set("bind-certificate", func(s *StepInfo) { s.Status = engine.StatusDone })
	f.plans["external-urls"] = externalURLsPlan()
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "external-urls: Move")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "Apply external-urls?")
	_, view := finalView(t, tm)
	if !strings.Contains(view, "This will change 3 value(s):") || !strings.Contains(view, "(1 value(s) already in place)") {
		t.Errorf("the confirmation does not name what will change:\n%s", view)
	}
	if len(f.applied) != 0 {
		t.Fatalf("applied before confirmation: %v", f.applied)
	}
	golden.RequireEqual(t, []byte(view))
}

func TestApplyConfirmedAndDeclined(t *testing.T) {
	f := newFake()
	f.plans["certificate"] = engine.Plan{Changes: []engine.Change{{Target: "EX01", Field: "certificate", From: "(none)", To: "CN=outlook-ext.contoso.test"}}}
	f.plans["bind-certificate"] = engine.Plan{Changes: []engine.Change{{Target: "EX01", Field: "IIS", From: "AAAA", To: "BBBB"}}}
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "certificate: Certificate")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "Apply certificate?")
	tm.Type("y")
	// The selection moves to the next unfinished step by itself.
	waitForAll(t, tm, "apply of certificate finished", "bind-certificate: Bind")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "Apply bind-certificate?")
	tm.Type("n")
	waitFor(t, tm, "nothing was changed")
	fm, view := finalView(t, tm)
	if len(f.applied) != 1 || f.applied[0] != "certificate" {
		t.Errorf("applied = %v, want [certificate]", f.applied)
	}
	if len(f.declined) != 1 || f.declined[0] != "bind-certificate" {
		t.Errorf("declined = %v, want [bind-certificate]", f.declined)
	}
	if got := fm.prog["certificate"]; got == nil || got.done != 2000 || got.total != 2000 {
		t.Errorf("progress of certificate = %+v, want 2000/2000", got)
	}
	if !strings.Contains(view, "✓ certificate") {
		t.Errorf("certificate is not shown done:\n%s", view)
	}
}

func TestApplyRefusesOutOfOrder(t *testing.T) {
	f := newFake()
	m := newModel(f)
	m.sel = 2
	if cmd := m.startApply(); cmd != nil {
		t.Fatal("applying external-urls before certificate was allowed")
	}
	if !strings.Contains(m.notice, "certificate comes first") {
		t.Errorf("notice = %q", m.notice)
	}
}

func TestWaitCountdownAndOverride(t *testing.T) {
	f := newFake()
	for _, id := range []string{"certificate", "bind-certificate", "external-urls"} {
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone })
	}
	f.set("autodiscover-wait", func(s *StepInfo) {
		s.Status = engine.StatusWaiting
		s.WaitUntil = t0.Add(time.Hour + 2*time.Minute + 5*time.Second)
		s.WaitReason = "Autodiscover answers are cached for hours"
	})
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "1h02m")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "w ends the wait early")
	tm.Type("w")
	waitFor(t, tm, "Type the step id to confirm")
	tm.Type("autodiscover")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "type \"autodiscover-wait\" exactly")
	f.mu.Lock()
	early := len(f.overrides)
	f.mu.Unlock()
	if early != 0 {
		t.Fatal("a mistyped id ended the wait")
	}
	tm.Type("autodiscover-wait")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	// Ended early, the step is applied again by itself, without asking.
	waitFor(t, tm, "apply of autodiscover-wait finished")
	_, _ = finalView(t, tm)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.overrides) != 1 {
		t.Errorf("overrides = %v, want one", f.overrides)
	}
	if len(f.applied) != 1 || f.applied[0] != "autodiscover-wait" || f.approvals != 0 {
		t.Errorf("applied = %v after %d approvals, want autodiscover-wait applied again without asking", f.applied, f.approvals)
	}
}

func TestWaitCountdownScreen(t *testing.T) {
	f := newFake()
	for _, id := range []string{"certificate", "bind-certificate", "external-urls"} {
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone })
	}
	f.set("autodiscover-wait", func(s *StepInfo) {
		s.Status = engine.StatusWaiting
		s.WaitUntil = t0.Add(time.Hour + 2*time.Minute + 5*time.Second)
		s.WaitReason = "Autodiscover answers are cached for hours"
	})
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "1h02m left")
	_, view := finalView(t, tm)
	golden.RequireEqual(t, []byte(view))
}

func TestRefusedRollbackShowsTheRule(t *testing.T) {
	f := newFake()
	for _, id := range []string{"certificate", "bind-certificate", "external-urls"} {
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone })
	}
	f.rollbackErr = &engine.RefusedError{Rule: "later-step-done", Detail: "external-urls is done after bind-certificate; roll it back first, or use --force"}
	m := newModel(f)
	m.sel = 1
	tm := start(t, m, 100, 30)
	waitFor(t, tm, "bind-certificate: Bind")
	tm.Type("r")
	waitFor(t, tm, "Roll back bind-certificate?")
	tm.Type("y")
	waitFor(t, tm, "Rollback of bind-certificate refused")
	_, view := finalView(t, tm)
	if !strings.Contains(view, "roll it back first") {
		t.Errorf("the refusal rule is not shown:\n%s", view)
	}
	golden.RequireEqual(t, []byte(view))
}

func TestForcedRollbackAfterRefusal(t *testing.T) {
	f := newFake()
	for _, id := range []string{"certificate", "bind-certificate", "external-urls"} {
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone })
	}
	f.rollbackErr = &engine.RefusedError{Rule: "later-step-done", Detail: "external-urls is done"}
	m := newModel(f)
	m.sel = 1
	tm := start(t, m, 100, 30)
	waitFor(t, tm, "bind-certificate: Bind")
	tm.Type("r")
	waitFor(t, tm, "Roll back bind-certificate?")
	tm.Type("y")
	waitFor(t, tm, "refused")
	tm.Type("f")
	waitFor(t, tm, "rollback of bind-certificate finished")
	_, _ = finalView(t, tm)
	if len(f.rolledBack) != 1 || len(f.forced) != 2 || f.forced[0] || !f.forced[1] {
		t.Errorf("rolledBack=%v forced=%v, want one forced rollback after one refusal", f.rolledBack, f.forced)
	}
}

func TestSkipAsksForAReason(t *testing.T) {
	f := newFake()
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "certificate: Certificate")
	tm.Type("s")
	waitFor(t, tm, "Why? The reason goes to the journal.")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "a reason is required")
	tm.Type("certificate installed by the PKI team")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "skip of certificate finished")
	_, _ = finalView(t, tm)
	if got := f.skipped["certificate"]; got != "certificate installed by the PKI team" {
		t.Errorf("skip reason = %q", got)
	}
}

func TestResizeKeepsTheScreenWithinTheTerminal(t *testing.T) {
	f := newFake()
	m := newModel(f)
	for _, size := range [][2]int{{80, 24}, {120, 40}, {100, 30}, {80, 24}} {
		m.Update(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
		assertLines(t, m.View(), size[0], size[1])
	}
}

func TestNoColorRendersNoEscapes(t *testing.T) {
	f := newFake()
	m := newModel(f)
	if strings.Contains(m.View(), "\x1b[") {
		t.Fatal("an ASCII (NO_COLOR) renderer produced escape sequences")
	}
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.ANSI256)
	colored := New(f, f.events, Options{Runbook: "split-namespace", Renderer: r, Now: func() time.Time { return t0 }})
	if !strings.Contains(colored.View(), "\x1b[") {
		t.Fatal("a colour renderer produced no colour")
	}
}

func TestCountdown(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "ready"}, {0, "ready"}, {12 * time.Second, "12s"},
		{4*time.Minute + 5*time.Second, "4m05s"}, {time.Hour + 2*time.Minute, "1h02m"},
		{1500 * time.Millisecond, "2s"},
	} {
		if got := countdown(c.d); got != c.want {
			t.Errorf("countdown(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestReadHistory(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/journal.jsonl"
	lines := `{"time":"2026-11-22T13:00:00Z","user":"u","host":"h","pid":1,"kind":"lock","details":{"op":"run"}}
{"time":"2026-11-22T13:00:01Z","user":"u","host":"h","pid":1,"kind":"step_started","step":"certificate"}
not json
{"time":"2026-11-22T13:00:02Z","user":"u","host":"h","pid":1,"kind":"failed","step":"certificate","details":{"error":"boom"}}
`
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	got := ReadHistory(dir, 10)
	if len(got) != 2 || got[0].Kind != engine.EventStepStarted || got[1].Error != "boom" {
		t.Fatalf("history = %+v", got)
	}
	if ReadHistory(dir+"/missing", 10) != nil {
		t.Fatal("a missing journal gave history")
	}
	if got := ReadHistory(dir, 1); len(got) != 1 || got[0].Kind != engine.EventFailed {
		t.Fatalf("limited history = %+v", got)
	}
}

func TestSecretsPromptMasksInput(t *testing.T) {
	m := NewSecrets([]SecretRequest{{Name: "exchange password", Hint: "EXRUNBOOK_EXCHANGE_PASSWORD or exchange.password_file"}, {Name: "TSIG secret"}}, asciiRenderer())
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	waitFor(t, tm, "exchange password")
	tm.Type("s3cret-Pa55")
	waitFor(t, tm, "•••••••••••")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "TSIG secret")
	tm.Type("dHNpZw==")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*SecretsModel)
	vals, err := fm.Values()
	if err != nil || vals["exchange password"] != "s3cret-Pa55" || vals["TSIG secret"] != "dHNpZw==" {
		t.Fatalf("values = %v, %v", vals, err)
	}
	out, _ := io.ReadAll(tm.FinalOutput(t))
	if bytes.Contains(out, []byte("s3cret-Pa55")) {
		t.Fatal("the secret was echoed to the terminal")
	}
}

func TestSecretsPromptCancel(t *testing.T) {
	m := NewSecrets([]SecretRequest{{Name: "exchange password"}}, asciiRenderer())
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	waitFor(t, tm, "exchange password")
	tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*SecretsModel)
	if _, err := fm.Values(); err != ErrSecretsCancelled {
		t.Fatalf("err = %v, want ErrSecretsCancelled", err)
	}
}

// fakeClock is a clock the test moves forward.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestWaitContinuesByItselfWithoutAskingAgain(t *testing.T) {
	f := newFake()
	for _, id := range []string{"certificate", "bind-certificate", "external-urls"} {
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone })
	}
	f.waits["autodiscover-wait"] = t0.Add(10 * time.Second)
	clock := &fakeClock{now: t0}
	m := New(f, f.events, Options{Runbook: "split-namespace", Renderer: asciiRenderer(), Now: clock.Now, TickEvery: 20 * time.Millisecond})
	tm := start(t, m, 100, 30)
	waitFor(t, tm, "autodiscover-wait: Wait")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "Apply autodiscover-wait?")
	tm.Type("y")
	waitFor(t, tm, "(10s left)")
	tm.Type("y") // a stray key while waiting approves nothing
	f.mu.Lock()
	early := len(f.applied)
	f.mu.Unlock()
	if early != 0 {
		t.Fatalf("the waiting step finished before its time: %v", f.applied)
	}
	clock.Add(11 * time.Second)
	// The selection moves on to the next unfinished step.
	waitForAll(t, tm, "apply of autodiscover-wait finished", "public-dns: Swap")
	_, _ = finalView(t, tm)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.applied) != 1 || f.applied[0] != "autodiscover-wait" {
		t.Errorf("applied = %v, want autodiscover-wait once, after its wait", f.applied)
	}
	if f.approvals != 1 {
		t.Errorf("the operator was asked %d times, want once (before the wait)", f.approvals)
	}
}

func TestQuitWhileAStepRunsCancelsIt(t *testing.T) {
	f := newFake()
	f.hang["certificate"] = true
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "certificate: Certificate")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "Apply certificate?")
	tm.Type("y")
	waitFor(t, tm, "q quit") // the dialog has closed: the apply runs
	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.interrupted) != 1 {
		t.Fatalf("interrupted = %v: q did not cancel the running apply before quitting", f.interrupted)
	}
	if fm.busy() {
		t.Errorf("the program ended while %s of %s was still running", fm.busyOp, fm.busyStep)
	}
	if fm.ResumeCommand() != "exrunbook run" {
		t.Errorf("resume command = %q", fm.ResumeCommand())
	}
}

func TestQuitWhileIdle(t *testing.T) {
	f := newFake()
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "certificate: Certificate")
	tm.Type("q")
	fm := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	if !fm.quitting {
		t.Error("q did not quit")
	}
}

// A plan longer than the pane (block-mailboxes lists its first mailboxes
// and counts the rest in Omitted) can be scrolled in the confirmation,
// which counts the unlisted changes too.
func TestLongPlanConfirmationScrolls(t *testing.T) {
	f := newFake()
	for _, id := range []string{"certificate", "bind-certificate", "external-urls", "autodiscover-wait", "public-dns", "mapi-http"} {
		f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone })
	}
	p := engine.Plan{Summary: "48 to block, 0 to unblock; 57 mailboxes read, 9 allowed by allow group \"AllowExternalAccess\" (2 nested group(s)); written in batches of 500"}
	for i := 0; i < 20; i++ {
		p.Changes = append(p.Changes, engine.Change{Target: fmt.Sprintf("user%02d@contoso.test", i), Field: "MAPIBlockOutlookRpcHttp / MAPIBlockOutlookExternalConnectivity", From: "open", To: "blocked"})
	}
	p.Omitted = 28
	f.plans["block-mailboxes"] = p
	tm := start(t, newModel(f), 100, 30)
	waitFor(t, tm, "block-mailboxes: Block")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitForAll(t, tm, "Apply block-mailboxes?", "48 to block", "This will change 48 value(s):", "more below")
	for i := 0; i < 6; i++ {
		tm.Send(tea.KeyMsg{Type: tea.KeyPgDown})
	}
	waitForAll(t, tm, "(and 28 more not listed)", "y apply")
	tm.Type("y")
	waitFor(t, tm, "apply of block-mailboxes finished")
	_, view := finalView(t, tm)
	assertLines(t, view, 100, 30)
	if len(f.applied) != 1 {
		t.Errorf("applied = %v", f.applied)
	}
}

// Shutdown after the program ended (an interrupt, not q) cancels the
// running apply and returns only once the engine has returned.
func TestShutdownWaitsForTheRunningApply(t *testing.T) {
	f := newFake()
	f.hang["certificate"] = true
	m := newModel(f)
	tm := start(t, m, 100, 30)
	waitFor(t, tm, "certificate: Certificate")
	tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
	waitFor(t, tm, "Apply certificate?")
	tm.Type("y")
	waitFor(t, tm, "q quit")
	if err := tm.Quit(); err != nil { // ends the program without q's cancel
		t.Fatal(err)
	}
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	m.Shutdown()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.interrupted) != 1 {
		t.Fatalf("interrupted = %v: Shutdown returned before the apply was cancelled and had returned", f.interrupted)
	}
}

// A plan that lists only part of its changes: the confirmation counts the
// unlisted ones, says how many are not listed, and still counts the
// listed values already in place; the step pane says it too, and a plan
// of omitted changes only is not "nothing to change".
func TestPlanWithOmittedChanges(t *testing.T) {
	field := "MAPIBlockOutlookRpcHttp / MAPIBlockOutlookExternalConnectivity"
	cases := []struct {
		name      string
		plan      engine.Plan
		want      []string
		wantStep  []string
		notInStep string
	}{
		{
			name: "listed, in place and omitted",
			plan: engine.Plan{Summary: "3 to block", Omitted: 2, Changes: []engine.Change{
				{Target: "a@contoso.test", Field: field, From: "$false / $false", To: "$true / $true"},
				{Target: "b@contoso.test", Field: "note", From: "x", To: "x"},
			}},
			want:     []string{"This will change 3 value(s):", "a@contoso.test", "(and 2 more not listed)", "(1 value(s) already in place)"},
			wantStep: []string{"a@contoso.test", "(and 2 more not listed)"},
		},
		{
			name:      "omitted only",
			plan:      engine.Plan{Summary: "7 to block", Omitted: 7},
			want:      []string{"This will change 7 value(s):", "(and 7 more not listed)"},
			wantStep:  []string{"7 to block", "(and 7 more not listed)"},
			notInStep: "nothing to change",
		},
		{
			name:      "nothing omitted",
			plan:      engine.Plan{Changes: []engine.Change{{Target: "a", Field: "f", From: "1", To: "2"}}},
			want:      []string{"This will change 1 value(s):"},
			wantStep:  []string{"a f"},
			notInStep: "not listed",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			m := newModel(f)
			m.dialogStep, m.dialogPlan = "block-mailboxes", tc.plan
			got := strings.Join(m.confirmApplyLines(100), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("confirmation lacks %q:\n%s", w, got)
				}
			}
			if tc.plan.Omitted == 0 && strings.Contains(got, "not listed") {
				t.Errorf("confirmation mentions unlisted changes:\n%s", got)
			}
			ev := m.formatEvent(engine.Event{Kind: engine.EventPlan, Step: "block-mailboxes", Plan: &tc.plan})
			if want := fmt.Sprintf("plan: %d to change, %d already in place", tc.plan.Pending(), len(tc.plan.Changes)+tc.plan.Omitted-tc.plan.Pending()); !strings.Contains(ev, want) || strings.Contains(ev, ", -") {
				t.Errorf("event line %q, want %q", ev, want)
			}

			plan := tc.plan
			f.set("block-mailboxes", func(s *StepInfo) { s.Plan = &plan })
			for _, id := range []string{"certificate", "bind-certificate", "external-urls", "autodiscover-wait", "public-dns", "mapi-http"} {
				f.set(id, func(s *StepInfo) { s.Status = engine.StatusDone })
			}
			tm := start(t, newModel(f), 100, 40)
			waitForAll(t, tm, append([]string{"block-mailboxes: Block"}, tc.wantStep...)...)
			_, view := finalView(t, tm)
			assertLines(t, view, 100, 40)
			if tc.notInStep != "" && strings.Contains(view, tc.notInStep) {
				t.Errorf("step pane says %q:\n%s", tc.notInStep, view)
			}
		})
	}
}
