package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"
)

func TestRunHappyPath(t *testing.T) {
	f := newFixture(t)
	f.rb.Steps[1].Approval = "auto"
	e := f.open()
	if err := e.Run(context.Background(), RunOptions{Yes: true}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id, st := range f.statuses(e) {
		if st != StatusDone {
			t.Errorf("step %s: status %s, want done", id, st)
		}
	}
	r := e.Status()
	if !r.Complete || r.WaitingUntil != nil {
		t.Errorf("report: complete=%v waiting=%v", r.Complete, r.WaitingUntil)
	}
	if got := f.org.get(t, "oa.host"); got != `"outlook-ext.contoso.test"` {
		t.Errorf("oa.host = %s", got)
	}
	if got := f.org.get(t, "other"); got != `"untouched"` {
		t.Errorf("other = %s", got)
	}
	want := []EventKind{EventStepStarted, EventPlan, EventApproval, EventProgress, EventProgress, EventProgress, EventProgress, EventDone}
	if got := f.rec.kinds("urls"); !reflect.DeepEqual(got, want) {
		t.Errorf("events of urls: %v, want %v", got, want)
	}
	// The auto step's approval event says no approval was needed.
	for _, ev := range f.rec.find(EventApproval) {
		if ev.Step == "dns" && !strings.Contains(ev.Message, "not needed") {
			t.Errorf("dns approval event: %q", ev.Message)
		}
	}
	sr := r.Steps[0]
	if sr.StartedAt == nil || sr.FinishedAt == nil || sr.Attempts != 1 || sr.Error != "" {
		t.Errorf("step report %+v", sr)
	}
	v, ok := e.StepState("urls")
	if !ok || v.Plan == nil || len(v.Plan.Changes) != 4 || !v.HasSnapshot || v.Outputs["applied_at"] == nil {
		t.Errorf("StepState: %+v", v)
	}
	if c := v.Plan.Changes[1]; c.Field != "oa.host" || c.From != "$null" {
		t.Errorf("plan change %+v", c)
	}
	// Every status transition is journaled.
	j := f.journal()
	for _, s := range []string{"urls", "dns", "block"} {
		for _, to := range []string{"running", "done"} {
			if !journalHas(j, "status", s, func(d map[string]any) bool { return d["to"] == to }) {
				t.Errorf("journal lacks %s → %s", s, to)
			}
		}
	}
	// A second run has nothing to do.
	if err := e.Run(context.Background(), RunOptions{}); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	for _, s := range f.steps {
		if c, a, _ := s.counts(); c != 1 || a != 1 {
			t.Errorf("step %s: captures=%d applies=%d, want 1 and 1", s.id, c, a)
		}
	}
}

func TestStatusJSONShape(t *testing.T) {
	f := newFixture(t)
	e := f.open()
	b, err := json.Marshal(e.Status())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"runbook", "complete", "waiting_until", "steps"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status json lacks %q: %s", k, b)
		}
	}
	steps := m["steps"].([]any)
	s0 := steps[0].(map[string]any)
	var keys []string
	for k := range s0 {
		keys = append(keys, k)
	}
	want := []string{"attempts", "error", "finished_at", "id", "started_at", "status"}
	if len(keys) != len(want) {
		t.Errorf("step keys %v, want %v", keys, want)
	}
	if s0["status"] != "pending" || s0["started_at"] != nil {
		t.Errorf("fresh step: %v", s0)
	}
}

func TestFailureThenResume(t *testing.T) {
	f := newFixture(t)
	f.steps[1].applyErrs = []error{errors.New("Set-Thing: access denied")}
	e := f.open()
	err := e.Run(context.Background(), RunOptions{Yes: true})
	sf := asErr[*StepFailedError](t, err)
	if sf.Step != "dns" || !strings.Contains(err.Error(), "access denied") {
		t.Fatalf("error %v", err)
	}
	st := f.statuses(e)
	if st["urls"] != StatusDone || st["dns"] != StatusFailed || st["block"] != StatusPending {
		t.Fatalf("statuses %v", st)
	}
	if r := e.Status(); r.Steps[1].Error == "" || r.Complete {
		t.Errorf("report %+v", r)
	}
	if len(f.rec.find(EventFailed)) != 1 {
		t.Errorf("failed events: %v", f.rec.find(EventFailed))
	}
	e.Close()

	e = f.open()
	if err := e.Run(context.Background(), RunOptions{Yes: true}); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if c, a, _ := f.steps[1].counts(); c != 1 || a != 2 {
		t.Errorf("dns: captures=%d applies=%d, want 1 and 2", c, a)
	}
	if r := e.Status(); !r.Complete || r.Steps[1].Error != "" || r.Steps[1].Attempts != 2 {
		t.Errorf("after resume %+v", r)
	}
	if got := f.org.get(t, "block"); got != "true" {
		t.Errorf("block = %s", got)
	}
}

func TestChecksStopStep(t *testing.T) {
	fail := checkFunc{"must-pass", func(Env) CheckResult {
		return CheckResult{Status: CheckFail, Message: "the certificate does not cover outlook-ext", Evidence: []string{"SAN: outlook"}}
	}}
	warn := checkFunc{"advice", func(Env) CheckResult { return CheckResult{Status: CheckWarn, Message: "be careful"} }}
	for _, tc := range []struct {
		name       string
		pre, post  []Check
		wantApply  int
		wantPrefix string
	}{
		{"pre-check fails", []Check{warn, fail}, nil, 0, "pre-check must-pass failed"},
		{"post-check fails", []Check{warn}, []Check{fail}, 1, "post-check must-pass failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.steps[0].pre, f.steps[0].post = tc.pre, tc.post
			e := f.open()
			err := e.Run(context.Background(), RunOptions{Yes: true})
			asErr[*StepFailedError](t, err)
			if !strings.Contains(err.Error(), tc.wantPrefix) || !strings.Contains(err.Error(), "does not cover") {
				t.Errorf("error %v", err)
			}
			if _, a, _ := f.steps[0].counts(); a != tc.wantApply {
				t.Errorf("applies %d, want %d", a, tc.wantApply)
			}
			v, _ := e.StepState("urls")
			if v.Status != StatusFailed || len(v.PreChecks) != len(tc.pre) || len(v.PostChecks) != len(tc.post) {
				t.Errorf("view %+v", v)
			}
			if v.PreChecks[0].Name != "advice" || v.PreChecks[0].Status != CheckWarn {
				t.Errorf("pre-check results %+v", v.PreChecks)
			}
			if len(f.rec.find(EventCheck)) != len(tc.pre)+len(tc.post) {
				t.Errorf("check events %d", len(f.rec.find(EventCheck)))
			}
		})
	}
}

func TestWaitCheckpointAndResume(t *testing.T) {
	f := newFixture(t)
	// dns waits two hours after urls' applied_at, like autodiscover-wait.
	f.steps[1].wait, f.steps[1].waitOn = 2*time.Hour, "urls"
	f.rb.Steps[1].Approval = "auto"
	e := f.open()
	start := f.clock.Now()
	err := e.Run(context.Background(), RunOptions{Yes: true, Unattended: true})
	we := asErr[*WaitingError](t, err)
	if we.Step != "dns" || !we.Until.Equal(start.Add(2*time.Hour)) || !strings.Contains(err.Error(), "2026-03-01T14:00:00Z") {
		t.Fatalf("waiting error %v (%+v)", err, we)
	}
	r := e.Status()
	if r.WaitingUntil == nil || !r.WaitingUntil.Equal(we.Until) || f.statuses(e)["dns"] != StatusWaiting {
		t.Fatalf("report %+v", r)
	}
	if len(f.rec.find(EventWaiting)) != 1 {
		t.Errorf("waiting events: %d", len(f.rec.find(EventWaiting)))
	}
	e.Close()

	// Before the time: returns at once without calling Apply.
	f.clock.Advance(time.Hour)
	e = f.open()
	err = e.Run(context.Background(), RunOptions{Yes: true, Unattended: true})
	asErr[*WaitingError](t, err)
	if _, a, _ := f.steps[1].counts(); a != 1 {
		t.Errorf("applies before the time: %d", a)
	}
	// Once the fake clock passed T: Apply again, then the rest.
	f.clock.Advance(time.Hour + time.Second)
	if err := e.Run(context.Background(), RunOptions{Yes: true, Unattended: true}); err != nil {
		t.Fatalf("Run after the wait: %v", err)
	}
	if c, a, _ := f.steps[1].counts(); c != 1 || a != 2 {
		t.Errorf("dns captures=%d applies=%d", c, a)
	}
	if r := e.Status(); !r.Complete || r.WaitingUntil != nil {
		t.Errorf("report %+v", r)
	}
}

func TestWaitSleeps(t *testing.T) {
	f := newFixture(t)
	f.steps[1].wait = 30 * time.Minute
	e := f.open()
	if err := e.Run(context.Background(), RunOptions{Yes: true, Wait: true}); err != nil {
		t.Fatalf("Run --wait: %v", err)
	}
	if sl := f.clock.Slept(); len(sl) != 1 || sl[0] != 30*time.Minute {
		t.Errorf("slept %v", sl)
	}
	if !e.Status().Complete {
		t.Error("not complete")
	}
}

func TestOverrideWait(t *testing.T) {
	f := newFixture(t)
	f.steps[1].wait = 2 * time.Hour
	e := f.open()
	asErr[*WaitingError](t, e.Run(context.Background(), RunOptions{Yes: true}))
	if err := e.OverrideWait("dns", ""); err == nil {
		t.Error("override without reason accepted")
	}
	asErr[*RefusedError](t, e.OverrideWait("block", "impatient"))
	if err := e.OverrideWait("dns", "caches flushed by hand"); err != nil {
		t.Fatal(err)
	}
	if err := e.Run(context.Background(), RunOptions{Yes: true}); err != nil {
		t.Fatalf("Run after override: %v", err)
	}
	if !e.Status().Complete {
		t.Error("not complete")
	}
	j := f.journal()
	if !journalHas(j, "wait_override", "dns", func(d map[string]any) bool { return d["reason"] == "caches flushed by hand" }) {
		t.Error("override not journaled with its reason")
	}
}

func TestRollbackOneAndRefusals(t *testing.T) {
	f := newFixture(t)
	e := f.open()
	ctx := context.Background()
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	// A later step is done: refused, naming it, and forcible (the CLI says
	// --force, the TUI its key).
	err := e.Rollback(ctx, "dns", false)
	re := asErr[*RefusedError](t, err)
	if re.Rule != "later-step-applied" || !strings.Contains(re.Detail, "block") || !re.Forcible || strings.Contains(err.Error(), "--") {
		t.Errorf("refusal %v", err)
	}
	if _, _, r := f.steps[1].counts(); r != 0 {
		t.Fatal("rolled back despite the refusal")
	}
	if err := e.Rollback(ctx, "block", false); err != nil {
		t.Fatal(err)
	}
	if got := f.org.get(t, "block"); got != "false" {
		t.Errorf("block = %s", got)
	}
	v, _ := e.StepState("block")
	if v.Status != StatusRolledBack || v.HasSnapshot || v.Outputs != nil || v.Plan != nil {
		t.Errorf("after rollback %+v", v)
	}
	// Nothing to roll back.
	asErr[*RefusedError](t, e.Rollback(ctx, "block", false))
	// Unknown id.
	asErr[*errkind.UsageError](t, e.Rollback(ctx, "nope", false))
	// --force rolls back urls although dns is done.
	if err := e.Rollback(ctx, "urls", true); err != nil {
		t.Fatal(err)
	}
	if got := f.org.get(t, "url.owa"); got != `"https://outlook.contoso.test/owa"` {
		t.Errorf("url.owa = %s", got)
	}
	if !journalHas(f.journal(), "rollback_forced", "urls", nil) {
		t.Error("forced rollback not journaled")
	}
	// A rolled-back step runs again, capturing anew.
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	if c, a, _ := f.steps[2].counts(); c != 2 || a != 2 {
		t.Errorf("block captures=%d applies=%d, want 2 and 2", c, a)
	}
	if !e.Status().Complete {
		t.Error("not complete after re-run")
	}
}

func TestRollbackAllRestoresExactly(t *testing.T) {
	f := newFixture(t)
	before, _ := os.ReadFile(string(f.org))
	e := f.open()
	ctx := context.Background()
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.RollbackAll(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(string(f.org))
	if !bytes.Equal(before, after) {
		t.Errorf("org after rollback --all:\n%s\nwant:\n%s", after, before)
	}
	for id, st := range f.statuses(e) {
		if st != StatusRolledBack {
			t.Errorf("%s: %s", id, st)
		}
	}
	// Reverse order.
	var order []string
	for _, ev := range f.rec.find(EventRolledBack) {
		order = append(order, ev.Step)
	}
	if !reflect.DeepEqual(order, []string{"block", "dns", "urls"}) {
		t.Errorf("rollback order %v", order)
	}
}

func TestRollbackFailedAndSkipped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.steps[0].afterWrites = nil
	f.steps[1].applyErrs = []error{errors.New("boom")}
	e := f.open()
	asErr[*StepFailedError](t, e.Run(ctx, RunOptions{Yes: true}))
	// The failed step made its writes (the error came first here, so
	// none) — its rollback restores the snapshot and it is rolled_back.
	if err := e.Rollback(ctx, "dns", false); err != nil {
		t.Fatal(err)
	}
	if _, _, r := f.steps[1].counts(); r != 1 {
		t.Errorf("failed step rollbacks: %d", r)
	}
	if st := f.statuses(e)["dns"]; st != StatusRolledBack {
		t.Errorf("dns %s", st)
	}
	// Skip it, then undo the skip.
	asErr[*errkind.UsageError](t, e.Skip("dns", "  "))
	if err := e.Skip("dns", "done by hand at the provider"); err != nil {
		t.Fatal(err)
	}
	asErr[*RefusedError](t, e.Skip("urls", "already done")) // done steps cannot be skipped
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	if _, a, _ := f.steps[1].counts(); a != 1 {
		t.Errorf("a skipped step was applied")
	}
	if r := e.Status(); !r.Complete {
		t.Errorf("skipped + done should be complete: %+v", r)
	}
	if err := e.Rollback(ctx, "dns", true); err != nil {
		t.Fatal(err)
	}
	if st := f.statuses(e)["dns"]; st != StatusPending {
		t.Errorf("rolled-back skip: %s, want pending", st)
	}
	if !journalHas(f.journal(), "skipped", "dns", func(d map[string]any) bool { return d["message"] == "done by hand at the provider" }) {
		t.Error("skip reason not journaled")
	}
}

func TestRollbackErrorKeepsStatus(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	e := f.open()
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	f.steps[2].rollbackErr = errors.New("Set-CASMailbox: the operation couldn't be performed")
	err := e.Rollback(ctx, "block", false)
	asErr[*StepFailedError](t, err)
	v, _ := e.StepState("block")
	if v.Status != StatusFailed || !v.HasSnapshot || !strings.Contains(v.LastError, "couldn't be performed") {
		t.Errorf("after a failed rollback: %+v", v)
	}
	// The snapshot is kept: the rollback can be retried.
	f.steps[2].rollbackErr = nil
	if err := e.Rollback(ctx, "block", false); err != nil {
		t.Fatal(err)
	}
	if got := f.org.get(t, "block"); got != "false" {
		t.Errorf("block = %s", got)
	}
}

func TestApproval(t *testing.T) {
	ctx := context.Background()
	t.Run("needed without --yes", func(t *testing.T) {
		f := newFixture(t)
		f.rb.Steps[0].Approval = "auto"
		e := f.open()
		err := e.Run(ctx, RunOptions{Unattended: true})
		ae := asErr[*ApprovalNeededError](t, err)
		// The CLI adds how to approve (--yes, cmd/exrunbook advice.go).
		if ae.Step != "dns" || ae.Declined || err.Error() != "step dns needs approval" {
			t.Errorf("error %v", err)
		}
		if st := f.statuses(e); st["urls"] != StatusDone || st["dns"] != StatusPending {
			t.Errorf("statuses %v", st)
		}
		if got := f.org.get(t, "dns.a"); got != `"192.0.2.25"` {
			t.Errorf("changed without approval: %s", got)
		}
		// The snapshot was kept, so the approved run does not capture again.
		if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
			t.Fatal(err)
		}
		if c, _, _ := f.steps[1].counts(); c != 1 {
			t.Errorf("captures %d", c)
		}
	})
	t.Run("unattended ignores the approver", func(t *testing.T) {
		f := newFixture(t)
		e := f.open()
		asked := false
		err := e.Run(ctx, RunOptions{Unattended: true, Approver: func(context.Context, StepDef, Plan) (bool, error) {
			asked = true
			return true, nil
		}})
		asErr[*ApprovalNeededError](t, err)
		if asked {
			t.Error("approver asked in unattended mode")
		}
	})
	t.Run("declined and approved interactively", func(t *testing.T) {
		f := newFixture(t)
		e := f.open()
		var seen []string
		answer := false
		approver := func(_ context.Context, d StepDef, p Plan) (bool, error) {
			seen = append(seen, d.ID)
			if len(p.Changes) == 0 {
				t.Errorf("approver got an empty plan for %s", d.ID)
			}
			return answer, nil
		}
		err := e.Run(ctx, RunOptions{Approver: approver})
		if ae := asErr[*ApprovalNeededError](t, err); !ae.Declined {
			t.Error("not marked declined")
		}
		if _, a, _ := f.steps[0].counts(); a != 0 {
			t.Error("applied after a decline")
		}
		answer = true
		if err := e.Run(ctx, RunOptions{Approver: approver}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(seen, []string{"urls", "urls", "dns", "block"}) {
			t.Errorf("asked for %v", seen)
		}
	})
}

func TestUntilAndOnly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	e := f.open()
	asErr[*errkind.UsageError](t, e.Run(ctx, RunOptions{Yes: true, Until: "nope"}))
	asErr[*errkind.UsageError](t, e.Run(ctx, RunOptions{Yes: true, Only: "nope"}))
	asErr[*errkind.UsageError](t, e.Run(ctx, RunOptions{Yes: true, Only: "dns", Until: "dns"}))
	err := e.Run(ctx, RunOptions{Yes: true, Only: "block"})
	re := asErr[*RefusedError](t, err)
	if !strings.Contains(re.Detail, "urls") {
		t.Errorf("refusal does not name the earlier step: %v", err)
	}
	if err := e.Run(ctx, RunOptions{Yes: true, Until: "dns"}); err != nil {
		t.Fatal(err)
	}
	if st := f.statuses(e); st["dns"] != StatusDone || st["block"] != StatusPending {
		t.Fatalf("after --until dns: %v", st)
	}
	if err := e.Run(ctx, RunOptions{Yes: true, Only: "block"}); err != nil {
		t.Fatal(err)
	}
	if !e.Status().Complete {
		t.Error("not complete")
	}
	// Once earlier steps are done or skipped, --only works on a later one.
	if err := e.Rollback(ctx, "block", false); err != nil {
		t.Fatal(err)
	}
	if err := e.RunStep(ctx, "block", RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
}

func TestTransientRetries(t *testing.T) {
	ctx := context.Background()
	t.Run("recovers", func(t *testing.T) {
		f := newFixture(t)
		f.steps[0].applyErrs = []error{errkind.Transient(errors.New("HTTP 503")), errkind.Transient(errors.New("connection reset"))}
		f.steps[0].captureErrs = []error{errkind.Transient(errors.New("WinRM TimedOut"))}
		e := f.open()
		if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
			t.Fatal(err)
		}
		if r := e.Status(); r.Steps[0].Attempts != 3 || !r.Complete {
			t.Errorf("report %+v", r)
		}
		att := f.rec.find(EventAttempt)
		if len(att) != 3 || att[1].Attempt != 1 || att[1].Error != "HTTP 503" || att[2].Attempt != 2 {
			t.Errorf("attempt events %+v", att)
		}
		sl := f.clock.Slept()
		if len(sl) != 3 {
			t.Fatalf("slept %v", sl)
		}
		caps := []time.Duration{time.Second, time.Second, 2 * time.Second}
		for i, d := range sl {
			if d < 0 || d >= caps[i] {
				t.Errorf("backoff %d = %v, not in [0,%v)", i, d, caps[i])
			}
		}
		n := 0
		for _, m := range f.journal() {
			if m["kind"] == "attempt" {
				n++
			}
		}
		if n != 3 {
			t.Errorf("journaled attempts %d, want 3", n)
		}
	})
	t.Run("gives up", func(t *testing.T) {
		f := newFixture(t)
		for i := 0; i < 5; i++ {
			f.steps[0].applyErrs = append(f.steps[0].applyErrs, errkind.Transient(errors.New("throttled")))
		}
		e := f.open()
		err := e.Run(ctx, RunOptions{Yes: true})
		asErr[*StepFailedError](t, err)
		if !strings.Contains(err.Error(), "after 5 attempts") || !strings.Contains(err.Error(), "throttled") {
			t.Errorf("error %v", err)
		}
		if r := e.Status(); r.Steps[0].Attempts != 5 || r.Steps[0].Status != StatusFailed {
			t.Errorf("report %+v", r.Steps[0])
		}
	})
	t.Run("permanent and safety errors are not retried", func(t *testing.T) {
		f := newFixture(t)
		f.steps[0].applyErrs = []error{&errkind.SafetyError{Limit: "max-changes", Detail: "51 > 50"}}
		e := f.open()
		err := e.Run(ctx, RunOptions{Yes: true})
		var se *errkind.SafetyError
		if !errors.As(err, &se) {
			t.Fatalf("error %v does not wrap a SafetyError", err)
		}
		var sf *StepFailedError
		if errors.As(err, &sf) {
			t.Error("a safety refusal must not also be a StepFailedError (distinct exit codes)")
		}
		if _, a, _ := f.steps[0].counts(); a != 1 {
			t.Errorf("applies %d", a)
		}
		if f.statuses(e)["urls"] != StatusFailed {
			t.Error("not failed")
		}
	})
	t.Run("backoff is capped", func(t *testing.T) {
		e := &Engine{retry: RetryPolicy{Attempts: 10, Base: time.Second, Max: 4 * time.Second}}
		e.rnd = newRand()
		for n := 1; n <= 10; n++ {
			for k := 0; k < 50; k++ {
				if d := e.backoff(n); d >= 4*time.Second || d < 0 {
					t.Fatalf("backoff(%d) = %v", n, d)
				}
			}
		}
	})
}

func TestCaptureOnceAcrossCrash(t *testing.T) {
	// Simulate a crash in the middle of Apply: copy the state file as it
	// is at that moment, let the run finish, then put the copy back (and
	// drop the lock), as if the process had died there.
	f := newFixture(t)
	var atCrash []byte
	f.steps[1].afterWrites = func(n int) {
		if n == 1 {
			b, err := os.ReadFile(filepath.Join(f.dir, state.StateFile))
			if err != nil {
				t.Error(err)
			}
			atCrash = b
		}
	}
	e := f.open()
	if err := e.Run(context.Background(), RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	if err := os.WriteFile(filepath.Join(f.dir, state.StateFile), atCrash, 0o600); err != nil {
		t.Fatal(err)
	}
	var st state.File
	json.Unmarshal(atCrash, &st)
	if st.Steps[1].Status != "running" || st.Steps[1].Snapshot == nil {
		t.Fatalf("crash copy: %+v", st.Steps[1])
	}
	// The organisation already has dns' new value; a recapture would
	// snapshot it and make rollback impossible.
	e = f.open()
	if err := e.Run(context.Background(), RunOptions{Until: "dns"}); err != nil { // no --yes: approval was given before the crash
		t.Fatal(err)
	}
	if c, a, _ := f.steps[1].counts(); c != 1 || a != 2 {
		t.Errorf("dns captures=%d applies=%d, want 1 and 2", c, a)
	}
	if err := e.RollbackAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.org.get(t, "dns.a"); got != `"192.0.2.25"` {
		t.Errorf("dns.a after rollback = %s", got)
	}
}

func TestInterrupted(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	f.steps[1].onApply = func(n int) {
		if n == 1 {
			cancel()
		}
	}
	e := f.open()
	err := e.Run(ctx, RunOptions{Yes: true})
	if ie := asErr[*InterruptedError](t, err); ie.Step != "dns" {
		t.Errorf("interrupted at %q", ie.Step)
	}
	v, _ := e.StepState("dns")
	if v.Status != StatusRunning || v.Phase != "apply" || !v.HasSnapshot {
		t.Errorf("after interrupt %+v", v)
	}
	e.Close()
	// The state on disk says the same.
	e = f.open()
	if v, _ := e.StepState("dns"); v.Status != StatusRunning {
		t.Errorf("reloaded: %+v", v)
	}
	if err := e.Run(context.Background(), RunOptions{Until: "dns"}); err != nil { // no --yes: approved before
		t.Fatalf("resume: %v", err)
	}
	if c, a, _ := f.steps[1].counts(); c != 1 || a != 2 {
		t.Errorf("captures=%d applies=%d", c, a)
	}
	if !journalHas(f.journal(), "resume", "dns", nil) {
		t.Error("resume not journaled")
	}
}

func TestChangedRunbookOrConfig(t *testing.T) {
	f := newFixture(t)
	e := f.open()
	e.Close()
	for _, tc := range []struct {
		rb, cf, what string
	}{
		{"rb2", "cf1", "runbook"},
		{"rb1", "cf2", "config"},
		{"rb2", "cf2", "runbook and config"},
	} {
		o := f.opts()
		o.RunbookHash, o.ConfigHash = tc.rb, tc.cf
		_, err := Open(context.Background(), o)
		ce := asErr[*state.ChangedError](t, err)
		// The CLI adds the flag that accepts the change (cmd/exrunbook advice.go).
		if ce.What != tc.what || !strings.Contains(err.Error(), "refusing to resume") || strings.Contains(err.Error(), "--") {
			t.Errorf("%s: %v", tc.what, err)
		}
		// Refusal released the lock.
		if _, err := os.Stat(filepath.Join(f.dir, state.LockFile)); err == nil {
			t.Error("lock left behind after a refusal")
		}
	}
	o := f.opts()
	o.ConfigHash, o.AcceptChanged = "cf2", true
	e, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	st, err := state.Load(f.dir)
	if err != nil || st.ConfigHash != "cf2" {
		t.Errorf("stored hash %v %v", st, err)
	}
	if !journalHas(f.journal(), "changed_accepted", "", func(d map[string]any) bool { return d["what"] == "config" }) {
		t.Error("acceptance not journaled")
	}
	o.AcceptChanged = false
	e, err = Open(context.Background(), o)
	if err != nil {
		t.Fatalf("reopen with the accepted hash: %v", err)
	}
	e.Close()
}

func TestLockedAndCorrupt(t *testing.T) {
	f := newFixture(t)
	e := f.open()
	_, err := Open(context.Background(), f.opts())
	le := asErr[*state.LockedError](t, err)
	if le.Stale || le.Info.PID != os.Getpid() || !strings.Contains(err.Error(), "pid") || !strings.Contains(err.Error(), `"run"`) {
		t.Errorf("locked error %v", err)
	}
	// Read-only engines need no lock.
	ro := f.opts()
	ro.ReadOnly = true
	r, err := Open(context.Background(), ro)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Status().Steps) != 3 {
		t.Error("read-only status")
	}
	asErr[*errkind.UsageError](t, r.Run(context.Background(), RunOptions{Yes: true}))
	if err := e.Run(context.Background(), RunOptions{Yes: true, Until: "urls"}); err != nil {
		t.Fatal(err)
	}
	e.Close()

	p := filepath.Join(f.dir, state.StateFile)
	if err := os.WriteFile(p, []byte(`{"version":1,"runbook":"x","steps":[{"id":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(context.Background(), f.opts())
	ce := asErr[*state.CorruptError](t, err)
	if ce.Path != p || !ce.BackupOK || !strings.Contains(err.Error(), "state.json.bak") {
		t.Errorf("corrupt error %v", err)
	}
	if b, _ := os.ReadFile(p); !bytes.HasSuffix(b, []byte(`"id":`)) {
		t.Error("corrupt state file was modified")
	}
	if _, err := os.Stat(filepath.Join(f.dir, state.LockFile)); err == nil {
		t.Error("lock left behind")
	}
}

func TestReadOnly(t *testing.T) {
	f := newFixture(t)
	o := f.opts()
	o.ReadOnly = true
	e, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Status()
	if r.Complete || len(r.Steps) != 3 || r.Steps[2].Status != StatusPending {
		t.Errorf("status %+v", r)
	}
	if _, err := os.Stat(f.dir); !os.IsNotExist(err) {
		t.Errorf("read-only Open created the state dir: %v", err)
	}
	plans, err := e.PlanSteps(context.Background())
	if err != nil || len(plans) != 3 {
		t.Fatalf("PlanSteps %v %v", plans, err)
	}
	if plans[0].Plan.Pending() != 4 || plans[0].Plan.Changes[0].Field != "new.key" {
		t.Errorf("plan %+v", plans[0])
	}
	if _, err := os.Stat(f.dir); !os.IsNotExist(err) {
		t.Error("PlanSteps created the state dir")
	}
	if len(f.rec.find(EventPlan)) != 3 {
		t.Errorf("plan events %d", len(f.rec.find(EventPlan)))
	}
	asErr[*errkind.UsageError](t, e.Skip("dns", "x"))
	e.Close()
}

func TestPlanStepsPersistsNothing(t *testing.T) {
	f := newFixture(t)
	f.steps[2].pre = []Check{checkFunc{"allow-group", func(Env) CheckResult {
		return CheckResult{Status: CheckFail, Message: "empty"}
	}}}
	f.steps[1].captureErrs = []error{errors.New("no route")}
	e := f.open()
	if err := e.Run(context.Background(), RunOptions{Yes: true, Until: "urls"}); err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(f.dir, state.StateFile)
	jp := filepath.Join(f.dir, state.JournalFile)
	s1, _ := os.ReadFile(sp)
	j1, _ := os.ReadFile(jp)
	plans, err := e.PlanSteps(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 || plans[0].ID != "dns" || plans[0].Err == nil || plans[1].PreChecks[0].Status != CheckFail {
		t.Errorf("plans %+v", plans)
	}
	s2, _ := os.ReadFile(sp)
	j2, _ := os.ReadFile(jp)
	if !bytes.Equal(s1, s2) || !bytes.Equal(j1, j2) {
		t.Error("PlanSteps wrote to the state or the journal")
	}
	if v, _ := e.StepState("block"); v.HasSnapshot {
		t.Error("PlanSteps stored a snapshot")
	}
}

func TestChecksDrift(t *testing.T) {
	f := newFixture(t)
	f.steps[2].post = []Check{checkFunc{"blocked", func(Env) CheckResult {
		m, _ := f.org.read()
		if string(m["block"]) == "true" {
			return CheckResult{Status: CheckPass, Message: "blocked"}
		}
		return CheckResult{Status: CheckFail, Message: "someone unblocked it", Evidence: []string{string(m["block"])}}
	}}}
	e := f.open()
	ctx := context.Background()
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	f.org.set("block", json.RawMessage("false"))
	res, err := e.Checks(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[2].ID != "block" || !res[2].Failed() || res[0].Failed() {
		t.Errorf("checks %+v", res)
	}
	if st := f.statuses(e)["block"]; st != StatusDone {
		t.Errorf("drift changed the status: %s", st)
	}
	asErr[*errkind.UsageError](t, func() error { _, err := e.Checks(ctx, []string{"zzz"}); return err }())
	if !journalHas(f.journal(), "check", "block", func(d map[string]any) bool { return d["phase"] == "post" }) {
		t.Error("check results not journaled")
	}
}

func TestSecretsStayOut(t *testing.T) {
	// A step is handed a secret (as steps get passwords from config). The
	// engine is given only hashes of the config. Nothing the engine writes
	// — state, backup, journal, lock, events — may contain the secret.
	const secret = "S3cr3t-Pa55w0rd!xyzzy"
	f := newFixture(t)
	for _, s := range f.steps {
		s.secret = secret
	}
	f.steps[1].applyErrs = []error{errors.New("Access denied for CONTOSO\\admin")}
	var events bytes.Buffer
	sink := SinkFunc(func(ev Event) {
		b, _ := json.Marshal(ev)
		events.Write(b)
	})
	o := f.opts()
	o.Sink = sink
	o.ConfigHash = "sha256:" + strings.Repeat("ab", 32) // the hash of a config holding the secret
	e, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e.Run(ctx, RunOptions{Yes: true})
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	lock, _ := os.ReadFile(filepath.Join(f.dir, state.LockFile))
	if err := e.RollbackAll(ctx); err != nil {
		t.Fatal(err)
	}
	e.Close()
	files := map[string][]byte{"events": events.Bytes(), "lock": lock}
	for _, n := range []string{state.StateFile, state.BackupFile, state.JournalFile} {
		b, err := os.ReadFile(filepath.Join(f.dir, n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = b
	}
	if !bytes.Contains(files[state.JournalFile], []byte("-character password")) {
		t.Error("the step's log line is not in the journal: the test would not see a leak")
	}
	for n, b := range files {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s contains the secret", n)
		}
	}
	fi, err := os.Stat(filepath.Join(f.dir, state.StateFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state mode %v", fi.Mode())
	}
	fi, _ = os.Stat(filepath.Join(f.dir, state.JournalFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v", fi.Mode())
	}
	di, _ := os.Stat(f.dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v", di.Mode())
	}
}

func TestJournalEntries(t *testing.T) {
	f := newFixture(t)
	e := f.open()
	if err := e.Run(context.Background(), RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	j := f.journal()
	if len(j) < 10 {
		t.Fatalf("journal has %d lines", len(j))
	}
	for _, m := range j {
		ts, _ := m["time"].(string)
		tm, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || !strings.HasSuffix(ts, "Z") || tm.IsZero() {
			t.Errorf("journal time %q", ts)
		}
		if m["user"] == "" || m["host"] == "" || m["pid"] == nil || m["kind"] == "" {
			t.Errorf("journal entry lacks who/what: %v", m)
		}
	}
	for _, k := range []string{"open", "close", "state_created", "snapshot_saved", "output_set", "plan", "approval", "done"} {
		if !journalHas(j, k, "", nil) {
			t.Errorf("journal lacks %s", k)
		}
	}
}

func TestOpenValidatesRunbook(t *testing.T) {
	f := newFixture(t)
	for name, mut := range map[string]func(*Runbook){
		"duplicate id": func(r *Runbook) { r.Steps[1].ID = r.Steps[0].ID },
		"empty id":     func(r *Runbook) { r.Steps[0].ID = "" },
		"no step":      func(r *Runbook) { r.Steps[2].Step = nil },
	} {
		o := f.opts()
		o.Runbook.Steps = append([]StepDef(nil), f.rb.Steps...)
		mut(&o.Runbook)
		if _, err := Open(context.Background(), o); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			asErr[*errkind.UsageError](t, err)
		}
	}
}

func TestInterruptedRollback(t *testing.T) {
	f := newFixture(t)
	e := f.open()
	if err := e.Run(context.Background(), RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.steps[2].onRollback = cancel
	asErr[*InterruptedError](t, e.RollbackAll(ctx))
	f.steps[2].onRollback = nil
	v, _ := e.StepState("block")
	if v.Status != StatusRunning || v.Phase != "rollback" || !v.HasSnapshot {
		t.Fatalf("after an interrupted rollback: %+v", v)
	}
	// Rolling back the earlier step is refused while this one is running.
	asErr[*RefusedError](t, e.Rollback(context.Background(), "dns", false))
	// A run re-applies it with the stored snapshot (no capture, no approval).
	if err := e.Run(context.Background(), RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if c, a, _ := f.steps[2].counts(); c != 1 || a != 2 {
		t.Errorf("captures=%d applies=%d", c, a)
	}
	if got := f.org.get(t, "block"); got != "true" {
		t.Errorf("block = %s", got)
	}
	// And an interrupted rollback --all resumes to the initial organisation.
	ctx, cancel = context.WithCancel(context.Background())
	f.steps[1].onRollback = cancel
	asErr[*InterruptedError](t, e.RollbackAll(ctx))
	f.steps[1].onRollback = nil
	if err := e.RollbackAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	m, _ := f.org.read()
	for k, v := range initialOrg {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}
	if _, ok := m["new.key"]; ok {
		t.Error("new.key not removed")
	}
}

func TestRollbackRefusalRules(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		prepare func(f *fixture, e *Engine)
		target  string
		rule    string // "" means allowed
		names   string // the step the refusal must name
	}{
		{"later step done", func(f *fixture, e *Engine) {
			e.Run(ctx, RunOptions{Yes: true})
		}, "urls", "later-step-applied", "dns"},
		{"later step waiting", func(f *fixture, e *Engine) {
			f.steps[2].wait = time.Hour
			e.Run(ctx, RunOptions{Yes: true})
		}, "dns", "later-step-applied", "block"},
		{"later step failed after applying", func(f *fixture, e *Engine) {
			f.steps[2].post = []Check{checkFunc{"p", func(Env) CheckResult { return CheckResult{Status: CheckFail} }}}
			e.Run(ctx, RunOptions{Yes: true})
		}, "dns", "later-step-applied", "block"},
		{"later step failed before applying", func(f *fixture, e *Engine) {
			f.steps[2].pre = []Check{checkFunc{"p", func(Env) CheckResult { return CheckResult{Status: CheckFail} }}}
			e.Run(ctx, RunOptions{Yes: true})
		}, "dns", "", ""},
		{"later step skipped", func(f *fixture, e *Engine) {
			e.Run(ctx, RunOptions{Yes: true, Until: "dns"})
			e.Skip("block", "not wanted")
		}, "dns", "", ""},
		{"pending step", func(f *fixture, e *Engine) {}, "dns", "nothing-to-roll-back", "dns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			e := f.open()
			tc.prepare(f, e)
			err := e.Rollback(ctx, tc.target, false)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			re := asErr[*RefusedError](t, err)
			if re.Rule != tc.rule || !strings.Contains(re.Detail, tc.names) {
				t.Errorf("refusal %+v", re)
			}
			if tc.rule == "later-step-applied" {
				if err := e.Rollback(ctx, tc.target, true); err != nil {
					t.Errorf("--force: %v", err)
				}
			}
		})
	}
}

func TestSkipWaitingStep(t *testing.T) {
	f := newFixture(t)
	f.steps[1].wait = time.Hour
	e := f.open()
	ctx := context.Background()
	asErr[*WaitingError](t, e.Run(ctx, RunOptions{Yes: true}))
	if err := e.Skip("dns", "verified Autodiscover by hand"); err != nil {
		t.Fatal(err)
	}
	if r := e.Status(); r.WaitingUntil != nil {
		t.Errorf("still waiting: %+v", r)
	}
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	if !e.Status().Complete {
		t.Error("not complete")
	}
	// It had applied: undoing the skip restores its snapshot.
	if err := e.Rollback(ctx, "block", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Rollback(ctx, "dns", false); err != nil {
		t.Fatal(err)
	}
	if _, _, r := f.steps[1].counts(); r != 1 {
		t.Errorf("rollbacks of the skipped step: %d", r)
	}
	if got := f.org.get(t, "dns.a"); got != `"192.0.2.25"` {
		t.Errorf("dns.a = %s", got)
	}
	if st := f.statuses(e)["dns"]; st != StatusPending {
		t.Errorf("status %s", st)
	}
}
