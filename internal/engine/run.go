package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"
)

// Phases recorded in the state while a step runs.
const (
	phaseCapture    = "capture"
	phasePlan       = "plan"
	phasePreChecks  = "prechecks"
	phaseApproval   = "approval"
	phaseApply      = "apply"
	phasePostChecks = "postchecks"
	phaseRollback   = "rollback"
)

// Run runs the runbook's steps in order, passing over done and skipped
// steps and resuming running, failed, waiting and rolled-back ones. It
// stops at the first step that fails (*StepFailedError), waits
// (*WaitingError), needs approval (*ApprovalNeededError) or is
// interrupted (*InterruptedError). o.Until stops after that step; o.Only
// runs one step and refuses (*RefusedError) unless every earlier step is
// done or skipped. Unknown ids give *errkind.UsageError. A step returning a
// *errkind.SafetyError fails without retry and Run returns an error wrapping it.
func (e *Engine) Run(ctx context.Context, o RunOptions) error {
	if err := e.begin(); err != nil {
		return err
	}
	defer e.end()
	if o.Until != "" && o.Only != "" {
		return errkind.Usagef("a run cannot both stop after a step (Until %s) and run one step only (Only %s)", o.Until, o.Only)
	}
	if o.Only != "" {
		return e.runOnly(ctx, o.Only, o)
	}
	last := len(e.steps) - 1
	if o.Until != "" {
		i, err := e.lookup(o.Until)
		if err != nil {
			return err
		}
		last = i
	}
	for i := 0; i <= last; i++ {
		if err := e.runIndex(ctx, i, o); err != nil {
			return err
		}
	}
	return nil
}

// RunStep runs one step, as Run with Only set (the TUI applies the
// selected step with it).
func (e *Engine) RunStep(ctx context.Context, id string, o RunOptions) error {
	if err := e.begin(); err != nil {
		return err
	}
	defer e.end()
	return e.runOnly(ctx, id, o)
}

func (e *Engine) runOnly(ctx context.Context, id string, o RunOptions) error {
	i, err := e.lookup(id)
	if err != nil {
		return err
	}
	for k := 0; k < i; k++ {
		st := e.status(e.steps[k].ID)
		if st != StatusDone && st != StatusSkipped {
			return &RefusedError{Rule: "order", Detail: fmt.Sprintf(
				"step %s comes after %s, which is %s; run %s first (or skip it with a reason)", id, e.steps[k].ID, st, e.steps[k].ID)}
		}
	}
	return e.runIndex(ctx, i, o)
}

func (e *Engine) runIndex(ctx context.Context, i int, o RunOptions) error {
	if ctx.Err() != nil {
		return &InterruptedError{Step: e.steps[i].ID}
	}
	d := e.steps[i]
	s := e.view(d.ID)
	switch Status(s.Status) {
	case StatusDone, StatusSkipped:
		return nil
	case StatusWaiting:
		return e.resumeWait(ctx, d, o)
	case StatusRunning:
		if s.Applied {
			// A crash (or interrupt) after Apply began: apply again with
			// the stored snapshot; the approval was already given.
			e.journalf("resume", d.ID, map[string]any{"phase": s.Phase})
			e.emit(Event{Kind: EventStepStarted, Step: d.ID, Message: "resuming: applying again with the stored snapshot"}, false)
			return e.apply(ctx, d, o)
		}
	}
	return e.start(ctx, d, o)
}

// start takes a step from pending (or failed, rolled_back, or running
// before Apply) through capture, plan, pre-checks and approval to apply.
func (e *Engine) start(ctx context.Context, d StepDef, o RunOptions) error {
	env := e.env(d.ID, false)
	now := e.clock.Now().UTC()
	if err := e.update(d.ID, func(s *state.Step) {
		s.Status = string(StatusRunning)
		s.StartedAt, s.FinishedAt = &now, nil
		s.LastError, s.SkipReason = "", ""
		s.WaitUntil, s.WaitReason, s.WaitOverridden = nil, "", false
		s.Phase = phaseCapture
		if s.Snapshot != nil {
			s.Phase = phasePlan
		}
	}); err != nil {
		return err
	}
	e.emit(Event{Kind: EventStepStarted, Step: d.ID, Message: d.Title}, false)

	snap := e.view(d.ID).Snapshot
	if snap == nil {
		var captured Snapshot
		err := e.withRetry(ctx, d.ID, phaseCapture, func() error {
			var err error
			captured, err = d.Step.Capture(ctx, env)
			return err
		})
		if ctx.Err() != nil {
			return &InterruptedError{Step: d.ID}
		}
		if err != nil {
			return e.fail(d.ID, fmt.Errorf("capture: %w", err))
		}
		if len(captured) == 0 {
			captured = Snapshot("null")
		}
		if !json.Valid(captured) {
			return e.fail(d.ID, errors.New("capture returned a snapshot that is not valid JSON"))
		}
		snap = captured
		// The snapshot is persisted before anything else happens: from now
		// on the step is never captured again until it is rolled back.
		if err := e.update(d.ID, func(s *state.Step) {
			s.Snapshot = append(json.RawMessage(nil), captured...)
			s.Phase = phasePlan
		}); err != nil {
			return err
		}
		e.journalf("snapshot_saved", d.ID, map[string]any{"bytes": len(captured)})
	}

	var plan Plan
	err := e.withRetry(ctx, d.ID, phasePlan, func() error {
		var err error
		plan, err = d.Step.Plan(ctx, env, snap)
		return err
	})
	if ctx.Err() != nil {
		return &InterruptedError{Step: d.ID}
	}
	if err != nil {
		return e.fail(d.ID, fmt.Errorf("plan: %w", err))
	}
	if plan.Changes == nil {
		plan.Changes = []Change{}
	}
	pb, _ := json.Marshal(plan)
	if err := e.update(d.ID, func(s *state.Step) { s.Plan = pb; s.Phase = phasePreChecks }); err != nil {
		return err
	}
	e.emit(Event{Kind: EventPlan, Step: d.ID, Plan: &plan, Message: plan.Summary}, false)

	results, failed := e.runChecks(ctx, d.ID, "pre", d.Step.PreChecks(env, snap), env, false)
	rb, _ := json.Marshal(results)
	if err := e.update(d.ID, func(s *state.Step) { s.PreChecks = rb; s.Phase = phaseApproval }); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return &InterruptedError{Step: d.ID}
	}
	if failed != nil {
		return e.fail(d.ID, fmt.Errorf("pre-check %s failed: %s", failed.Name, failed.Message))
	}

	if err := e.approve(ctx, d, plan, o); err != nil {
		return err
	}
	return e.apply(ctx, d, o)
}

func (e *Engine) approve(ctx context.Context, d StepDef, plan Plan, o RunOptions) error {
	switch {
	case !d.NeedsApproval():
		e.emit(Event{Kind: EventApproval, Step: d.ID, Message: "approval not needed (read-only step)"}, false)
		return nil
	case o.Yes:
		e.emit(Event{Kind: EventApproval, Step: d.ID, Message: "approved in advance: every step of this run is approved"}, false)
		return nil
	}
	back := func() error {
		return e.update(d.ID, func(s *state.Step) { s.Status = string(StatusPending); s.Phase = "" })
	}
	if o.Unattended || o.Approver == nil {
		if err := back(); err != nil {
			return err
		}
		e.emit(Event{Kind: EventApproval, Step: d.ID, Level: "warn", Message: "approval needed: not approved"}, false)
		return &ApprovalNeededError{Step: d.ID}
	}
	ok, err := o.Approver(ctx, d, plan)
	if ctx.Err() != nil {
		if berr := back(); berr != nil {
			return berr
		}
		return &InterruptedError{Step: d.ID}
	}
	if err != nil {
		if berr := back(); berr != nil {
			return berr
		}
		return fmt.Errorf("approval of step %s: %w", d.ID, err)
	}
	if !ok {
		if err := back(); err != nil {
			return err
		}
		e.emit(Event{Kind: EventApproval, Step: d.ID, Level: "warn", Message: "declined by the operator"}, false)
		return &ApprovalNeededError{Step: d.ID, Declined: true}
	}
	e.emit(Event{Kind: EventApproval, Step: d.ID, Message: "approved by the operator"}, false)
	return nil
}

// apply calls Apply (again after waits) and then the post-checks.
func (e *Engine) apply(ctx context.Context, d StepDef, o RunOptions) error {
	env := e.env(d.ID, false)
	for {
		// One write records the phase, that Apply began, and the attempt.
		if err := e.update(d.ID, func(s *state.Step) {
			s.Status = string(StatusRunning)
			s.Phase = phaseApply
			s.Applied = true
			s.Attempts++
		}); err != nil {
			return err
		}
		snap := e.view(d.ID).Snapshot
		var out Outcome
		first := true
		err := e.withRetry(ctx, d.ID, phaseApply, func() error {
			if !first {
				if err := e.update(d.ID, func(s *state.Step) { s.Attempts++ }); err != nil {
					return err
				}
			}
			first = false
			var err error
			out, err = d.Step.Apply(ctx, env, snap)
			return err
		})
		if ctx.Err() != nil {
			return &InterruptedError{Step: d.ID}
		}
		if err != nil {
			return e.fail(d.ID, err)
		}
		now := e.clock.Now()
		if out.WaitUntil.IsZero() || !out.WaitUntil.After(now) {
			break
		}
		if e.view(d.ID).WaitOverridden {
			e.journalf("wait_ignored", d.ID, map[string]any{"until": out.WaitUntil.UTC(), "reason": "the operator ended the wait early"})
			break
		}
		until := out.WaitUntil.UTC()
		if err := e.update(d.ID, func(s *state.Step) {
			s.Status = string(StatusWaiting)
			s.WaitUntil, s.WaitReason = &until, out.Reason
		}); err != nil {
			return err
		}
		e.emit(Event{Kind: EventWaiting, Step: d.ID, WaitUntil: &until, Message: out.Reason}, false)
		if !o.Wait {
			return &WaitingError{Step: d.ID, Until: until, Reason: out.Reason}
		}
		if err := e.sleepWait(ctx, d.ID, until); err != nil {
			return err
		}
	}
	return e.finish(ctx, d, env)
}

// resumeWait continues a waiting step: Apply again once its time has
// come (or the wait was overridden), sleep with o.Wait, else WaitingError.
func (e *Engine) resumeWait(ctx context.Context, d StepDef, o RunOptions) error {
	s := e.view(d.ID)
	if s.WaitUntil != nil && !s.WaitOverridden && e.clock.Now().Before(*s.WaitUntil) {
		if !o.Wait {
			return &WaitingError{Step: d.ID, Until: s.WaitUntil.UTC(), Reason: s.WaitReason}
		}
		if err := e.sleepWait(ctx, d.ID, *s.WaitUntil); err != nil {
			return err
		}
	}
	e.emit(Event{Kind: EventStepStarted, Step: d.ID, Message: "the wait is over: applying again"}, false)
	return e.apply(ctx, d, o)
}

// sleepWait sleeps until t; OverrideWait ends it early.
func (e *Engine) sleepWait(ctx context.Context, id string, t time.Time) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.mu.Lock()
	e.waiters[id] = cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.waiters, id)
		e.mu.Unlock()
	}()
	e.clock.Sleep(wctx, t.Sub(e.clock.Now()))
	if ctx.Err() != nil {
		return &InterruptedError{Step: id}
	}
	return nil
}

func (e *Engine) finish(ctx context.Context, d StepDef, env Env) error {
	// The post-check phase is not written separately: a crash during it
	// resumes with Apply (Applied is set), which is idempotent.
	snap := e.view(d.ID).Snapshot
	results, failed := e.runChecks(ctx, d.ID, "post", d.Step.PostChecks(env, snap), env, false)
	rb, _ := json.Marshal(results)
	if ctx.Err() != nil || failed != nil {
		if err := e.update(d.ID, func(s *state.Step) { s.PostChecks = rb; s.Phase = phasePostChecks }); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return &InterruptedError{Step: d.ID}
		}
		return e.fail(d.ID, fmt.Errorf("post-check %s failed: %s", failed.Name, failed.Message))
	}
	now := e.clock.Now().UTC()
	if err := e.update(d.ID, func(s *state.Step) {
		s.PostChecks = rb
		s.Status = string(StatusDone)
		s.Phase = ""
		s.FinishedAt = &now
		s.LastError = ""
		s.WaitUntil, s.WaitReason, s.WaitOverridden = nil, "", false
	}); err != nil {
		return err
	}
	e.emit(Event{Kind: EventDone, Step: d.ID}, false)
	return nil
}

// runChecks runs checks in order, emitting an event for each, and returns
// the results and the first failure. A check that fails because of a
// transient error (CheckResult.Err) is run again per the retry policy,
// each failed attempt journaled, before its verdict stands.
func (e *Engine) runChecks(ctx context.Context, id, phase string, checks []Check, env Env, sinkOnly bool) ([]CheckResult, *CheckResult) {
	results := []CheckResult{}
	var failed *CheckResult
	for _, c := range checks {
		if ctx.Err() != nil {
			break
		}
		r := e.runCheck(ctx, id, phase, c, env, sinkOnly)
		results = append(results, r)
		rc := r
		e.emit(Event{Kind: EventCheck, Step: id, Phase: phase, Check: &rc}, sinkOnly)
		if r.Status == CheckFail && failed == nil {
			failed = &rc
		}
	}
	return results, failed
}

// runCheck runs one check, again while it fails with a transient error
// and the retry policy allows another attempt. Every failed attempt is an
// EventAttempt naming the check and the error; the verdict of the last
// attempt is returned.
func (e *Engine) runCheck(ctx context.Context, id, phase string, c Check, env Env, sinkOnly bool) CheckResult {
	for n := 1; ; n++ {
		r := c.Run(ctx, env)
		if r.Name == "" {
			r.Name = c.Name()
		}
		if r.Status == "" {
			r.Status = CheckFail
			r.Message = "the check returned no verdict"
		}
		if r.Status != CheckFail || !errkind.IsTransient(r.Err) || ctx.Err() != nil {
			return r
		}
		what := fmt.Sprintf("%s-check %s", phase, r.Name)
		if n >= e.retry.Attempts {
			e.emit(Event{Kind: EventAttempt, Step: id, Phase: phase, Attempt: n, Error: r.Err.Error(),
				Message: fmt.Sprintf("%s attempt %d of %d failed; giving up", what, n, e.retry.Attempts)}, sinkOnly)
			r.Message = fmt.Sprintf("%s (after %d attempts)", r.Message, n)
			return r
		}
		d := e.backoff(n)
		e.emit(Event{Kind: EventAttempt, Step: id, Phase: phase, Attempt: n, Error: r.Err.Error(),
			Message: fmt.Sprintf("%s attempt %d of %d failed; retrying in %s", what, n, e.retry.Attempts, d.Round(time.Millisecond))}, sinkOnly)
		if serr := e.clock.Sleep(ctx, d); serr != nil || ctx.Err() != nil {
			return r
		}
	}
}

// fail marks the step failed with err and returns the error Run reports.
func (e *Engine) fail(id string, err error) error {
	now := e.clock.Now().UTC()
	if uerr := e.update(id, func(s *state.Step) {
		s.Status = string(StatusFailed)
		s.LastError = err.Error()
		s.FinishedAt = &now
	}); uerr != nil {
		return errors.Join(&StepFailedError{Step: id, Err: err}, uerr)
	}
	e.emit(Event{Kind: EventFailed, Step: id, Error: err.Error()}, false)
	var se *errkind.SafetyError
	if errors.As(err, &se) {
		return fmt.Errorf("step %s: %w", id, err)
	}
	return &StepFailedError{Step: id, Err: err}
}

// withRetry calls f, retrying transient errors per the policy.
func (e *Engine) withRetry(ctx context.Context, id, phase string, f func() error) error {
	for n := 1; ; n++ {
		err := f()
		if err == nil || ctx.Err() != nil {
			return err
		}
		var se *errkind.SafetyError
		if errors.As(err, &se) || !errkind.IsTransient(err) {
			return err
		}
		if n >= e.retry.Attempts {
			e.emit(Event{Kind: EventAttempt, Step: id, Attempt: n, Error: err.Error(),
				Message: fmt.Sprintf("%s attempt %d of %d failed; giving up", phase, n, e.retry.Attempts)}, false)
			return fmt.Errorf("%s failed after %d attempts: %w", phase, n, err)
		}
		d := e.backoff(n)
		e.emit(Event{Kind: EventAttempt, Step: id, Attempt: n, Error: err.Error(),
			Message: fmt.Sprintf("%s attempt %d of %d failed; retrying in %s", phase, n, e.retry.Attempts, d.Round(time.Millisecond))}, false)
		if serr := e.clock.Sleep(ctx, d); serr != nil || ctx.Err() != nil {
			return err
		}
	}
}

// backoff is the full-jitter delay after failure n: uniform in
// [0, min(Max, Base·2^(n-1))).
func (e *Engine) backoff(n int) time.Duration {
	c := e.retry.Base
	for i := 1; i < n && c < e.retry.Max; i++ {
		c *= 2
	}
	if c > e.retry.Max {
		c = e.retry.Max
	}
	if c <= 0 {
		return 0
	}
	e.rndMu.Lock()
	defer e.rndMu.Unlock()
	return time.Duration(e.rnd.Int64N(int64(c)))
}

// Skip marks a pending, failed, waiting or rolled-back step skipped with
// a reason (journaled). Run then passes over it; Rollback makes it pending
// again (restoring its snapshot first if it had begun applying).
func (e *Engine) Skip(id, reason string) error {
	if e.opts.ReadOnly {
		return errkind.Usagef("skip needs a writable engine")
	}
	if _, err := e.lookup(id); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return errkind.Usagef("skip needs a reason")
	}
	st := e.status(id)
	switch st {
	case StatusPending, StatusFailed, StatusRolledBack, StatusWaiting:
	default:
		return &RefusedError{Rule: "skip-status", Detail: fmt.Sprintf("step %s is %s; only a pending, failed, waiting or rolled-back step can be skipped", id, st)}
	}
	now := e.clock.Now().UTC()
	if err := e.update(id, func(s *state.Step) {
		s.Status = string(StatusSkipped)
		s.SkipReason = reason
		s.Phase = ""
		s.FinishedAt = &now
		s.WaitUntil, s.WaitReason, s.WaitOverridden = nil, "", false
	}); err != nil {
		return err
	}
	e.emit(Event{Kind: EventSkipped, Step: id, Message: reason}, false)
	return nil
}

// OverrideWait ends a step's wait early (the TUI's "continue now"),
// journaled with the reason. A Run sleeping in that wait wakes up; the
// next Apply's request to wait again is not honoured.
func (e *Engine) OverrideWait(id, reason string) error {
	if e.opts.ReadOnly {
		return errkind.Usagef("overriding a wait needs a writable engine")
	}
	if _, err := e.lookup(id); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return errkind.Usagef("overriding a wait needs a reason")
	}
	if st := e.status(id); st != StatusWaiting {
		return &RefusedError{Rule: "not-waiting", Detail: fmt.Sprintf("step %s is %s, not waiting", id, st)}
	}
	if err := e.update(id, func(s *state.Step) { s.WaitOverridden = true }); err != nil {
		return err
	}
	e.journalf("wait_override", id, map[string]any{"reason": reason})
	e.emit(Event{Kind: EventLog, Step: id, Level: "warn", Message: "wait ended early by the operator: " + reason}, true)
	e.mu.Lock()
	cancel := e.waiters[id]
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return nil
}

// PlanSteps is read-only: for every step that is not done or skipped it
// uses the stored snapshot or captures one, then plans and runs the
// pre-checks. It persists nothing (no state, no journal); events go to
// the sink only. A step's error is in its StepPlan.Err.
func (e *Engine) PlanSteps(ctx context.Context) ([]StepPlan, error) {
	var out []StepPlan
	for _, d := range e.steps {
		if ctx.Err() != nil {
			return out, &InterruptedError{Step: d.ID}
		}
		s := e.view(d.ID)
		st := Status(s.Status)
		if st == StatusDone || st == StatusSkipped {
			continue
		}
		sp := StepPlan{ID: d.ID, Title: d.Title, Status: st}
		env := e.env(d.ID, true)
		snap := Snapshot(s.Snapshot)
		if snap == nil {
			var err error
			snap, err = d.Step.Capture(ctx, env)
			if err != nil {
				sp.Err = fmt.Errorf("capture: %w", err)
				out = append(out, sp)
				continue
			}
		}
		p, err := d.Step.Plan(ctx, env, snap)
		if err != nil {
			sp.Err = fmt.Errorf("plan: %w", err)
			out = append(out, sp)
			continue
		}
		if p.Changes == nil {
			p.Changes = []Change{}
		}
		sp.Plan = p
		e.emit(Event{Kind: EventPlan, Step: d.ID, Plan: &p, Message: p.Summary}, true)
		sp.PreChecks, _ = e.runChecks(ctx, d.ID, "pre", d.Step.PreChecks(env, snap), env, true)
		out = append(out, sp)
	}
	if ctx.Err() != nil {
		return out, &InterruptedError{}
	}
	return out, nil
}

// Checks runs post-checks now (drift detection): of the named steps, or
// of every done step when ids is empty. Results are emitted and, on a
// writable engine, journaled; step statuses do not change.
func (e *Engine) Checks(ctx context.Context, ids []string) ([]StepChecks, error) {
	if !e.opts.ReadOnly {
		if err := e.begin(); err != nil {
			return nil, err
		}
		defer e.end()
	}
	var sel []StepDef
	if len(ids) == 0 {
		for _, d := range e.steps {
			if e.status(d.ID) == StatusDone {
				sel = append(sel, d)
			}
		}
	} else {
		for _, id := range ids {
			i, err := e.lookup(id)
			if err != nil {
				return nil, err
			}
			sel = append(sel, e.steps[i])
		}
	}
	var out []StepChecks
	for _, d := range sel {
		if ctx.Err() != nil {
			return out, &InterruptedError{Step: d.ID}
		}
		env := e.env(d.ID, true)
		snap := Snapshot(e.view(d.ID).Snapshot)
		res, _ := e.runChecks(ctx, d.ID, "post", d.Step.PostChecks(env, snap), env, e.opts.ReadOnly)
		out = append(out, StepChecks{ID: d.ID, Results: res})
	}
	if ctx.Err() != nil {
		return out, &InterruptedError{}
	}
	return out, nil
}
