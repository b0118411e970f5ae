package engine

import (
	"context"
	"fmt"

	"github.com/exrunbook/exrunbook/internal/state"
)

// Rollback restores one step's snapshot with Step.Rollback, then marks it
// rolled_back and clears its snapshot and outputs (the next run captures
// anew). Done, failed, waiting, running (after a crash) and skipped steps
// can be rolled back; a skipped step becomes pending again, and a failed
// step that never captured is simply reset. While a later step is done,
// waiting, running, or failed after it began applying, the rollback is
// refused (*RefusedError) unless force. A pending or rolled-back step has
// nothing to roll back (*RefusedError).
func (e *Engine) Rollback(ctx context.Context, id string, force bool) error {
	if err := e.begin(); err != nil {
		return err
	}
	defer e.end()
	i, err := e.lookup(id)
	if err != nil {
		return err
	}
	st := e.status(id)
	switch st {
	case StatusPending, StatusRolledBack:
		return &RefusedError{Rule: "nothing-to-roll-back", Detail: fmt.Sprintf("step %s is %s; it has made no change to roll back", id, st)}
	}
	if !force {
		for k := i + 1; k < len(e.steps); k++ {
			later := e.view(e.steps[k].ID)
			if applied(later) {
				return &RefusedError{Rule: "later-step-applied", Forcible: true, Detail: fmt.Sprintf(
					"step %s is %s and comes after %s; rolling %s back first would leave the organisation inconsistent — roll back %s first",
					later.ID, later.Status, id, id, later.ID)}
			}
		}
	} else {
		e.journalf("rollback_forced", id, nil)
	}
	return e.rollbackOne(ctx, e.steps[i])
}

// applied reports whether a step's changes may be in the organisation.
func applied(s state.Step) bool {
	switch Status(s.Status) {
	case StatusDone, StatusWaiting, StatusRunning:
		return true
	case StatusFailed, StatusSkipped:
		return s.Applied
	}
	return false
}

// RollbackAll rolls back, in reverse order, every step that has a
// snapshot and is done, failed, waiting or running (or was in the middle
// of a rollback when interrupted). Skipped steps that never applied stay
// skipped.
func (e *Engine) RollbackAll(ctx context.Context) error {
	if err := e.begin(); err != nil {
		return err
	}
	defer e.end()
	e.journalf("rollback_all", "", nil)
	for k := len(e.steps) - 1; k >= 0; k-- {
		s := e.view(e.steps[k].ID)
		if s.Snapshot == nil {
			continue
		}
		switch Status(s.Status) {
		case StatusDone, StatusFailed, StatusWaiting, StatusRunning:
		case StatusSkipped:
			if !s.Applied {
				continue
			}
		default:
			continue
		}
		if err := e.rollbackOne(ctx, e.steps[k]); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) rollbackOne(ctx context.Context, d StepDef) error {
	if ctx.Err() != nil {
		return &InterruptedError{Step: d.ID}
	}
	s := e.view(d.ID)
	if Status(s.Status) == StatusSkipped && !s.Applied {
		if err := e.update(d.ID, func(s *state.Step) {
			resetStep(s)
			s.Status = string(StatusPending)
		}); err != nil {
			return err
		}
		e.emit(Event{Kind: EventRolledBack, Step: d.ID, Message: "skip undone: the step is pending again"}, false)
		return nil
	}
	if s.Snapshot == nil {
		// Nothing was captured, so nothing was written.
		if err := e.update(d.ID, func(s *state.Step) {
			resetStep(s)
			s.Status = string(StatusPending)
		}); err != nil {
			return err
		}
		e.emit(Event{Kind: EventRolledBack, Step: d.ID, Message: "nothing was captured or changed; the step is pending again"}, false)
		return nil
	}
	e.mu.Lock()
	if cancel := e.waiters[d.ID]; cancel != nil {
		cancel()
	}
	e.mu.Unlock()
	// While it is rolled back the step is running (phase rollback): if
	// this is interrupted, rollback resumes it, and a run re-applies it.
	if err := e.update(d.ID, func(s *state.Step) {
		s.Status = string(StatusRunning)
		s.Phase = phaseRollback
	}); err != nil {
		return err
	}
	e.journalf("rollback_started", d.ID, map[string]any{"status": s.Status})
	env := e.env(d.ID, false)
	snap := Snapshot(s.Snapshot)
	err := e.withRetry(ctx, d.ID, phaseRollback, func() error {
		return d.Step.Rollback(ctx, env, snap)
	})
	if ctx.Err() != nil {
		return &InterruptedError{Step: d.ID}
	}
	if err != nil {
		err = fmt.Errorf("rollback: %w", err)
		if uerr := e.update(d.ID, func(s *state.Step) { s.Status = string(StatusFailed); s.LastError = err.Error() }); uerr != nil {
			return uerr
		}
		e.emit(Event{Kind: EventFailed, Step: d.ID, Error: err.Error()}, false)
		return &StepFailedError{Step: d.ID, Err: err}
	}
	to := StatusRolledBack
	if Status(s.Status) == StatusSkipped {
		to = StatusPending
	}
	if err := e.update(d.ID, func(s *state.Step) {
		resetStep(s)
		s.Status = string(to)
	}); err != nil {
		return err
	}
	e.emit(Event{Kind: EventRolledBack, Step: d.ID}, false)
	return nil
}

// resetStep clears what a run of the step left, keeping the attempt count
// and the times for the record.
func resetStep(s *state.Step) {
	s.Phase = ""
	s.Applied = false
	s.Snapshot = nil
	s.Plan = nil
	s.PreChecks = nil
	s.PostChecks = nil
	s.Outputs = nil
	s.LastError = ""
	s.WaitUntil, s.WaitReason, s.WaitOverridden = nil, "", false
	s.SkipReason = ""
}
