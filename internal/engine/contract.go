// Package engine is the orchestrator: it runs a runbook's steps in order,
// persists every transition, resumes after a crash, waits at checkpoints,
// and rolls steps back. It defines the Step and Check contracts and the
// event stream, and knows nothing about Exchange or DNS.
//
// # Using the engine
//
// Open(ctx, Options) loads or creates the state in Options.StateDir
// (package internal/state: state.json, journal.jsonl, lock) and takes the
// lock; a ReadOnly engine (status, plan) takes none and writes nothing.
// Then:
//
//   - Run / RunStep drive steps: running → capture once (the snapshot is
//     persisted before anything else) → plan → pre-checks → approval
//     (StepDef.Approval "auto" or RunOptions.Yes or an Approver) → Apply →
//     post-checks → done. An Outcome.WaitUntil makes the step waiting:
//     without RunOptions.Wait, Run returns *WaitingError; later runs call
//     Apply again once the time has come. A step left running by a crash
//     (or an interrupt) after Apply began is applied again with its stored
//     snapshot, without a new approval; one left before Apply starts over
//     from the plan, reusing the snapshot if it was captured.
//   - Transient errors (errkind.Transient) are retried per RetryPolicy with full
//     jitter; every attempt is an EventAttempt and a journal entry. Apply
//     calls are counted in the step's attempts.
//   - Rollback / RollbackAll restore snapshots; Skip and OverrideWait are
//     operator decisions, journaled with their reasons.
//   - PlanSteps (read-only preview) and Checks (post-checks now, drift
//     detection) change no step status.
//   - Status is the `status --output json` document; StepState the TUI's
//     richer view. Both may be called while a Run is in progress.
//
// Every event goes to Options.Sink and to the journal; every status change
// is journaled too. Errors are typed so that the CLI maps them to exit
// codes in one place: *StepFailedError (1), *errkind.UsageError (2),
// *state.LockedError (3), *ApprovalNeededError (4), *errkind.SafetyError
// and *RefusedError (5), *WaitingError (75), *InterruptedError (130);
// *state.ChangedError, *state.CorruptError and *state.VersionError come
// from Open. A step's *errkind.SafetyError is returned wrapped in a plain error
// (errors.As finds it), never inside a *StepFailedError, so the order in
// which the CLI tests the types does not matter.
package engine

import (
	"context"
	"encoding/json"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
)

// Status is where a step is in its lifecycle:
// pending → running → done | failed | waiting | skipped | rolled_back.
type Status string

// The step statuses. Their strings are part of `status --output json`.
const (
	StatusPending    Status = "pending"
	StatusRunning    Status = "running"
	StatusDone       Status = "done"
	StatusFailed     Status = "failed"
	StatusWaiting    Status = "waiting"
	StatusSkipped    Status = "skipped"
	StatusRolledBack Status = "rolled_back"
)

// Snapshot is what a step captured before its first write, as JSON. The
// engine persists it before Apply runs and hands the stored copy back on
// every later call, including after a crash: it is never captured twice.
type Snapshot = json.RawMessage

// Step is one runbook step, bound to its parameters and its clients.
//
// The engine drives a step as: Capture (once) → persist → Plan → PreChecks
// → approval → Apply → PostChecks → checkpoint. Apply must be idempotent:
// after a crash the engine calls it again with the stored snapshot.
type Step interface {
	// Capture reads the current value of everything Apply may change.
	Capture(ctx context.Context, env Env) (Snapshot, error)
	// Plan compares the snapshot with the desired state. It reads, never writes.
	Plan(ctx context.Context, env Env, snap Snapshot) (Plan, error)
	// PreChecks are run before Apply. A failed check stops the step.
	PreChecks(env Env, snap Snapshot) []Check
	// Apply makes the change. It may return an Outcome asking the engine
	// to come back later (a checkpoint); the engine then calls Apply again
	// once the time has come, so the call must be safe to repeat.
	Apply(ctx context.Context, env Env, snap Snapshot) (Outcome, error)
	// PostChecks are run after Apply. A failed check fails the step; they
	// are also what `exrunbook check` runs for drift detection.
	PostChecks(env Env, snap Snapshot) []Check
	// Rollback restores the snapshot exactly (a $null stays $null). It
	// reads what Apply recorded through env.Output.
	Rollback(ctx context.Context, env Env, snap Snapshot) error
}

// Outcome is what Apply reports besides an error.
type Outcome struct {
	// WaitUntil, when non-zero, makes the step wait: unattended runs exit
	// 75 and print the time; --wait sleeps; the TUI counts down.
	WaitUntil time.Time
	// Reason says what the step is waiting for.
	Reason string
}

// Env is the step's window onto the engine while it runs: the clock, log
// lines, progress and the persisted outputs (see check.Env). It is defined
// in package check, beside the Check contract that takes it, so that the
// checks of the world need not import the engine.
type Env = check.Env

// Plan is what a step will change: current → desired.
type Plan struct {
	Summary string   `json:"summary,omitempty"`
	Changes []Change `json:"changes"`
	// Omitted counts the changes that are not listed in Changes, so that a
	// plan over 100,000 mailboxes need not list every one of them (the
	// Summary says what they are). Every omitted change is pending: a step
	// leaves out only values that are not yet in place.
	Omitted int `json:"omitted,omitempty"`
}

// Change is one value a step sets.
type Change struct {
	Target string `json:"target"` // e.g. "EX01\\owa (Default Web Site)"
	Field  string `json:"field"`  // e.g. "ExternalUrl"
	From   string `json:"from"`   // current value; "$null" for null
	To     string `json:"to"`     // desired value
}

// NoChange reports whether the change is already in place.
func (c Change) NoChange() bool { return c.From == c.To }

// Pending counts the changes that are not yet in place: the listed ones
// that differ, plus the Omitted ones (never listed, always pending).
func (p Plan) Pending() int {
	n := max(p.Omitted, 0)
	for _, c := range p.Changes {
		if !c.NoChange() {
			n++
		}
	}
	return n
}

// The check contract lives in package check, below the engine, so that
// package checks implements it without importing the orchestrator. These
// are its names in the engine, which the steps use.
type (
	// Check is a pre- or post-condition of a step (check.Check).
	Check = check.Check
	// CheckStatus is a check's verdict (check.Status).
	CheckStatus = check.Status
	// CheckResult is a check's verdict with its evidence (check.Result).
	CheckResult = check.Result
)

// The check verdicts. A warning is shown but does not stop the step.
const (
	CheckPass = check.Pass
	CheckWarn = check.Warn
	CheckFail = check.Fail
)

// CheckFailed is the failed verdict of check name that could not read what
// it checks because of err (check.Failed): a transient err makes the
// engine retry the check.
func CheckFailed(name string, err error) CheckResult { return check.Failed(name, err) }

// EventKind names an event on the stream.
type EventKind string

// The events a run emits. The TUI, the plain printer and the JSON-lines
// printer are three views of the same stream.
const (
	EventStepStarted EventKind = "step_started"
	EventPlan        EventKind = "plan"
	EventCheck       EventKind = "check"
	EventApproval    EventKind = "approval"
	EventProgress    EventKind = "progress"
	EventLog         EventKind = "log"
	EventAttempt     EventKind = "attempt"
	EventWaiting     EventKind = "waiting"
	EventDone        EventKind = "done"
	EventFailed      EventKind = "failed"
	EventSkipped     EventKind = "skipped"
	EventRolledBack  EventKind = "rolled_back"
)

// Event is one thing that happened during a run.
type Event struct {
	Time      time.Time    `json:"time"`
	Kind      EventKind    `json:"kind"`
	Step      string       `json:"step,omitempty"`
	Phase     string       `json:"phase,omitempty"` // "pre" | "post" for checks
	Level     string       `json:"level,omitempty"` // "info" | "warn" | "error" for logs
	Message   string       `json:"message,omitempty"`
	Plan      *Plan        `json:"plan,omitempty"`
	Check     *CheckResult `json:"check,omitempty"`
	Progress  *Progress    `json:"progress,omitempty"`
	WaitUntil *time.Time   `json:"wait_until,omitempty"`
	Attempt   int          `json:"attempt,omitempty"`
	Error     string       `json:"error,omitempty"`
}

// Progress is n of m units of batched work.
type Progress struct {
	Done  int    `json:"done"`
	Total int    `json:"total"`
	Unit  string `json:"unit,omitempty"`
}

// Sink consumes events. Emit must not block for long.
type Sink interface{ Emit(Event) }

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }
