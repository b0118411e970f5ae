// Package check is the contract between a check and the engine that runs
// it: a Check names itself and, run in an Env, returns a Result (pass,
// warn or fail, with the evidence behind the verdict).
//
// It sits below the engine so that the checks of the world in package
// checks (DNS, TLS, SMTP, Autodiscover, Exchange state) implement it
// without importing the orchestrator. The engine runs checks through this
// contract and re-exports its types under their engine names
// (engine.Check, engine.Env, engine.CheckResult), which the steps use.
package check

import (
	"context"
	"time"
)

// Check is a pre- or post-condition of a step, or a drift check.
type Check interface {
	Name() string
	Run(ctx context.Context, env Env) Result
}

// Env is the running engine as a step and its checks see it. It is
// defined here, beside Check, because a check's Run takes it; the engine
// implements it. Checks of the world read only the clock (Now); Env may
// be nil when a check is run outside the engine, and such a check then
// uses the wall clock.
type Env interface {
	// Now is the engine's clock (a fake one in tests).
	Now() time.Time
	// Logf emits a log-line event for the current step.
	Logf(format string, args ...any)
	// Progress emits a progress event: done of total units (e.g. "mailboxes").
	Progress(done, total int, unit string)
	// SetOutput records a value in the step's persisted outputs (e.g.
	// "applied_at", the thumbprints it imported). It is written to the state
	// file before SetOutput returns, so a crash right after it keeps it.
	SetOutput(key string, v any) error
	// Output reads a persisted output of any step of the runbook into v.
	// It reports false when the step has no such output.
	Output(stepID, key string, v any) (bool, error)
}

// Status is a check's verdict.
type Status string

// The verdicts. A warning is shown but does not stop the step.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is a check's verdict with the evidence behind it: the
// certificate presented, the DNS answers, the URLs seen.
type Result struct {
	Name     string   `json:"name"`
	Status   Status   `json:"status"`
	Message  string   `json:"message"`
	Evidence []string `json:"evidence,omitempty"`
	// Err is the cause of a failed verdict, when the check could not read
	// what it checks (a WinRM call, a DNS query, an HTTP request). It is
	// never serialized: Message already says it. A failed result whose Err
	// is transient (errkind.IsTransient) is retried by the engine before
	// the step fails; a failure without Err, or with a permanent Err, is
	// not.
	Err error `json:"-"`
}

// Failed is the failed verdict of check name that could not read what it
// checks because of err: Message is err's text and Err is err, so a
// transient err (errkind.IsTransient) makes the engine retry the check.
func Failed(name string, err error) Result {
	msg := "the check failed"
	if err != nil {
		msg = err.Error()
	}
	return Result{Name: name, Status: Fail, Message: msg, Err: err}
}
