package tui

import (
	"context"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// StepInfo is what the TUI shows of one step, read from the engine's state.
type StepInfo struct {
	ID         string
	Title      string
	Status     engine.Status
	Plan       *engine.Plan
	PreChecks  []engine.CheckResult
	PostChecks []engine.CheckResult
	WaitUntil  time.Time
	WaitReason string
	Error      string
	Attempts   int
	StartedAt  time.Time
	FinishedAt time.Time
}

// Approve asks the operator to confirm a plan. It is called by the engine,
// on the engine's goroutine, after the pre-checks and before the apply.
type Approve func(ctx context.Context, step string, plan engine.Plan) (bool, error)

// Controller is what the TUI needs from the engine. Each method may block
// (it does I/O); the TUI only calls them from tea.Cmds.
type Controller interface {
	// Steps reads the current state of every step, in runbook order.
	Steps() []StepInfo
	// Apply runs one step: capture, plan, pre-checks, approve, apply,
	// post-checks. Events are emitted on the stream while it runs.
	Apply(ctx context.Context, id string, approve Approve) error
	// Recheck runs the step's checks now: post-checks for a done step,
	// pre-checks otherwise.
	Recheck(ctx context.Context, id string) ([]engine.CheckResult, error)
	// Rollback restores the step's snapshot. The engine may refuse.
	Rollback(ctx context.Context, id string, force bool) error
	// Skip marks a pending step skipped; the reason goes to the journal.
	Skip(id, reason string) error
	// OverrideWait ends a step's wait early; the override is journaled.
	OverrideWait(id, reason string) error
	// History returns the journaled events of earlier sessions, oldest
	// first, so that a resumed run shows what happened before.
	History() []engine.Event
}

// Events is the channel end of an engine.Sink that feeds the TUI. Create it
// before the engine so that the engine can emit into it.
type Events struct{ ch chan engine.Event }

// NewEvents returns an event channel with room for bursts of progress.
func NewEvents() *Events { return &Events{ch: make(chan engine.Event, 4096)} }

// Emit implements engine.Sink. Progress events are dropped rather than
// blocking the engine when the view falls behind; others are never dropped.
func (e *Events) Emit(ev engine.Event) {
	if ev.Kind == engine.EventProgress {
		select {
		case e.ch <- ev:
		default:
		}
		return
	}
	e.ch <- ev
}
