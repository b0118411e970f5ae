package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/exrunbook/exrunbook/internal/pause"
)

// StepDef is one step of a runbook, bound to its implementation.
type StepDef struct {
	ID    string
	Kind  string
	Title string
	// Approval is "required" (the default, also for ""): the step runs
	// only with --yes or an interactive approval. "auto" marks a
	// read-only or verifying step that runs without approval.
	Approval string
	Step     Step
}

// NeedsApproval reports whether the step needs an approval before Apply.
func (d StepDef) NeedsApproval() bool { return d.Approval != "auto" }

// Runbook is an ordered list of steps.
type Runbook struct {
	Name, Description string
	Steps             []StepDef
}

// Clock is the engine's time source. Sleep returns ctx.Err() when ctx is
// cancelled first.
type Clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error { return pause.For(ctx, d) }

// SystemClock is the wall clock.
func SystemClock() Clock { return systemClock{} }

// RetryPolicy bounds the retries of a transient failure: at most Attempts
// calls, sleeping a random duration in [0, min(Max, Base·2^(n-1))) after
// failure n (capped exponential backoff with full jitter).
type RetryPolicy struct {
	Attempts int
	Base     time.Duration
	Max      time.Duration
}

// DefaultRetry is used for a zero RetryPolicy: 8 attempts, 1 s base, 30 s
// cap — about two minutes of retrying (throttling budgets on Exchange
// recover in that time) before a transient failure fails the step.
var DefaultRetry = RetryPolicy{Attempts: 8, Base: time.Second, Max: 30 * time.Second}

// Options configure Open.
type Options struct {
	// StateDir holds state.json, journal.jsonl and the lock.
	StateDir string
	Runbook  Runbook
	// RunbookHash and ConfigHash identify the runbook and config the run
	// was started with; a resume with different ones is refused with
	// *state.ChangedError unless AcceptChanged.
	RunbookHash, ConfigHash string
	AcceptChanged           bool
	// Sink receives every event; may be nil.
	Sink Sink
	// Clock; nil means SystemClock.
	Clock Clock
	// Retry; zero means DefaultRetry.
	Retry RetryPolicy
	// Operation is recorded in the lock: "run", "rollback", "skip", "check", ...
	Operation string
	// ReadOnly engines (status, plan) take no lock, write nothing and
	// create no state directory. Their hashes are not checked.
	ReadOnly bool
}

// Approver asks an operator to approve a step's plan.
type Approver func(ctx context.Context, step StepDef, plan Plan) (bool, error)

// RunOptions steer Run and RunStep.
type RunOptions struct {
	// Yes approves every step.
	Yes bool
	// Unattended never asks: without Yes a step needing approval stops
	// the run with *ApprovalNeededError even if Approver is set.
	Unattended bool
	// Wait sleeps through checkpoints instead of returning *WaitingError.
	Wait bool
	// Until runs up to and including this step id.
	Until string
	// Only runs this one step; every earlier step must be done or skipped.
	Only string
	// Approver asks interactively; nil (without Yes) means a step needing
	// approval returns *ApprovalNeededError.
	Approver Approver
}

// StepPlan is PlanSteps' read-only view of one pending step.
type StepPlan struct {
	ID, Title string
	Status    Status
	Plan      Plan
	PreChecks []CheckResult
	Err       error
}

// StepChecks is the result of a step's post-checks run by Checks.
type StepChecks struct {
	ID      string
	Results []CheckResult
}

// Failed reports whether any check failed.
func (s StepChecks) Failed() bool {
	for _, r := range s.Results {
		if r.Status == CheckFail {
			return true
		}
	}
	return false
}

// Report is exactly the `status --output json` document.
type Report struct {
	Runbook      string       `json:"runbook"`
	Complete     bool         `json:"complete"`
	WaitingUntil *time.Time   `json:"waiting_until"`
	Steps        []StepReport `json:"steps"`
}

// StepReport is one step of a Report.
type StepReport struct {
	ID         string     `json:"id"`
	Status     Status     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Attempts   int        `json:"attempts"`
	Error      string     `json:"error"`
}

// StepView is the TUI's rich read of one step.
type StepView struct {
	ID, Kind, Title string
	Approval        string
	Status          Status
	// Phase is where a running step is ("capture", "plan", "prechecks",
	// "approval", "apply", "postchecks", "rollback").
	Phase       string
	Plan        *Plan
	PreChecks   []CheckResult
	PostChecks  []CheckResult
	WaitUntil   *time.Time
	WaitReason  string
	Outputs     map[string]json.RawMessage
	LastError   string
	Attempts    int
	StartedAt   *time.Time
	FinishedAt  *time.Time
	HasSnapshot bool
	SkipReason  string
}

// StepFailedError: a step failed (a phase error or a failed check); the
// state is saved. Exit code 1.
type StepFailedError struct {
	Step string
	Err  error
}

func (e *StepFailedError) Error() string { return fmt.Sprintf("step %s failed: %v", e.Step, e.Err) }
func (e *StepFailedError) Unwrap() error { return e.Err }

// ApprovalNeededError: a step needs approval and none was given (or the
// operator declined, Declined). Exit code 4.
type ApprovalNeededError struct {
	Step     string
	Declined bool
}

func (e *ApprovalNeededError) Error() string {
	if e.Declined {
		return fmt.Sprintf("step %s was not approved; nothing was changed by it", e.Step)
	}
	return fmt.Sprintf("step %s needs approval", e.Step)
}

// WaitingError: a step waits at a checkpoint. Exit code 75.
type WaitingError struct {
	Step   string
	Until  time.Time
	Reason string
}

func (e *WaitingError) Error() string {
	msg := fmt.Sprintf("step %s is waiting until %s", e.Step, e.Until.UTC().Format(time.RFC3339))
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return msg
}

// RefusedError: the engine refused an operation by one of its rules
// (e.g. rolling back a step while a later step is done). Exit code 5.
type RefusedError struct {
	Rule   string
	Detail string
	// Forcible reports that the operator may force the operation past
	// the rule (Rollback's force argument); the caller says how.
	Forcible bool
}

func (e *RefusedError) Error() string { return fmt.Sprintf("refused (%s): %s", e.Rule, e.Detail) }

// InterruptedError: the context was cancelled; the state is saved and
// the step resumes on the next run. Exit code 130.
type InterruptedError struct{ Step string }

func (e *InterruptedError) Error() string {
	if e.Step == "" {
		return "interrupted; the state is saved"
	}
	return fmt.Sprintf("interrupted during step %s; the state is saved and the next run resumes it", e.Step)
}
