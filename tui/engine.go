package tui

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

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
	return ReadHistory(filepath.Join(c.dir, state.JournalFile), 200)
}

// ReadHistory returns the last max events journaled in path, oldest first.
// Journal lines that are not engine events (lock, state transitions) are
// left out; a missing or unreadable journal gives no history.
func ReadHistory(path string, max int) []engine.Event {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []engine.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var line struct {
			Time    time.Time       `json:"time"`
			Kind    string          `json:"kind"`
			Step    string          `json:"step"`
			Details json.RawMessage `json:"details"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || !isEventKind(line.Kind) {
			continue
		}
		var ev engine.Event
		if len(line.Details) > 0 && json.Unmarshal(line.Details, &ev) != nil {
			continue
		}
		ev.Time, ev.Kind, ev.Step = line.Time, engine.EventKind(line.Kind), line.Step
		out = append(out, ev)
		if len(out) > 2*max {
			out = append([]engine.Event(nil), out[len(out)-max:]...)
		}
	}
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
