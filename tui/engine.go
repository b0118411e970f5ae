package tui

import (
	"context"
	"encoding/json"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/state"
)

// EngineController adapts an open engine to the Controller the TUI drives.
// stateDir is where the journal is read from for the history pane.
func EngineController(e *engine.Engine, stateDir string) Controller {
	return &engineController{e: e, dir: stateDir}
}

type engineController struct {
	e   *engine.Engine
	dir string
}

func (c *engineController) Steps() []StepInfo {
	defs := c.e.Steps()
	out := make([]StepInfo, 0, len(defs))
	for _, d := range defs {
		v, ok := c.e.StepState(d.ID)
		if !ok {
			out = append(out, StepInfo{ID: d.ID, Title: d.Title, Status: engine.StatusPending})
			continue
		}
		info := StepInfo{
			ID: v.ID, Title: v.Title, Status: v.Status, Plan: v.Plan,
			PreChecks: v.PreChecks, PostChecks: v.PostChecks,
			WaitReason: v.WaitReason, Error: v.LastError, Attempts: v.Attempts,
		}
		if v.WaitUntil != nil {
			info.WaitUntil = *v.WaitUntil
		}
		if v.StartedAt != nil {
			info.StartedAt = *v.StartedAt
		}
		if v.FinishedAt != nil {
			info.FinishedAt = *v.FinishedAt
		}
		out = append(out, info)
	}
	return out
}

func (c *engineController) Apply(ctx context.Context, id string, approve Approve) error {
	return c.e.RunStep(ctx, id, engine.RunOptions{
		Approver: func(ctx context.Context, d engine.StepDef, p engine.Plan) (bool, error) {
			return approve(ctx, d.ID, p)
		},
	})
}

func (c *engineController) Recheck(ctx context.Context, id string) ([]engine.CheckResult, error) {
	if v, ok := c.e.StepState(id); ok && v.Status == engine.StatusDone {
		res, err := c.e.Checks(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		for _, r := range res {
			if r.ID == id {
				return r.Results, nil
			}
		}
		return nil, nil
	}
	plans, err := c.e.PlanSteps(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range plans {
		if p.ID == id {
			return p.PreChecks, p.Err
		}
	}
	return nil, nil
}

func (c *engineController) Rollback(ctx context.Context, id string, force bool) error {
	return c.e.Rollback(ctx, id, force)
}

func (c *engineController) Skip(id, reason string) error { return c.e.Skip(id, reason) }

func (c *engineController) OverrideWait(id, reason string) error {
	return c.e.OverrideWait(id, reason)
}

// History reads the events of earlier sessions back from the journal.
func (c *engineController) History() []engine.Event {
	return ReadHistory(c.dir, 200)
}

// ReadHistory returns the last max events journaled in the state directory
// dir, oldest first. Journal entries that are not engine events (lock,
// state transitions) are left out; a missing or unreadable journal gives
// no history, and one that cannot be read to its end gives the history
// read until then.
func ReadHistory(dir string, max int) []engine.Event {
	var out []engine.Event
	_ = state.ReadJournal(dir, func(r state.Record) error {
		if !isEventKind(r.Kind) {
			return nil
		}
		var ev engine.Event
		if len(r.Details) > 0 && json.Unmarshal(r.Details, &ev) != nil {
			return nil
		}
		ev.Time, ev.Kind, ev.Step = r.Time, engine.EventKind(r.Kind), r.Step
		out = append(out, ev)
		if len(out) > 2*max {
			out = append([]engine.Event(nil), out[len(out)-max:]...)
		}
		return nil
	})
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

func isEventKind(k string) bool {
	switch engine.EventKind(k) {
	case engine.EventStepStarted, engine.EventPlan, engine.EventCheck, engine.EventApproval,
		engine.EventLog, engine.EventAttempt, engine.EventWaiting, engine.EventDone,
		engine.EventFailed, engine.EventSkipped, engine.EventRolledBack:
		return true
	}
	return false
}
