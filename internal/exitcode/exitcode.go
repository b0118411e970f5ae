// Package exitcode maps exrunbook's typed errors to its process exit codes,
// in one place, so that every command exits the same way for the same
// condition (DESIGN.md, "Exit codes").
package exitcode

import (
	"context"
	"errors"
	"fmt"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/state"
	"github.com/exrunbook/exrunbook/runbooks"
)

// The exit codes. Scripts depend on them.
const (
	OK             = 0   // done
	Failed         = 1   // a step or check failed; state saved
	Usage          = 2   // usage or config error; nothing changed
	Locked         = 3   // locked by another run
	ApprovalNeeded = 4   // approval needed: unattended without --yes
	Refused        = 5   // refused by a safety limit
	Waiting        = 75  // waiting at a checkpoint; run again after the time printed
	Interrupted    = 130 // interrupted
)

// UsageError is a bad command line (unknown flag, missing argument, bad
// flag value). Exit code 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// Error carries an explicit exit code with its message, for a result that
// is not one of the typed errors (e.g. `check` finding a failed check).
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Code returns the exit code for err: 0 for nil, the code of the first
// typed error found with errors.As, and 1 for anything else.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var (
		explicit *Error
		usage    *UsageError
		cfg      *config.Error
		rb       *runbooks.Error
		engUsage *engine.UsageError
		changed  *state.ChangedError
		corrupt  *state.CorruptError
		version  *state.VersionError
		locked   *state.LockedError
		approval *engine.ApprovalNeededError
		safety   *engine.SafetyError
		refused  *engine.RefusedError
		waiting  *engine.WaitingError
		intr     *engine.InterruptedError
		failed   *engine.StepFailedError
	)
	switch {
	case errors.As(err, &explicit):
		return explicit.Code
	// Interrupted first: a cancelled context wraps whatever was running.
	case errors.As(err, &intr), errors.Is(err, context.Canceled):
		return Interrupted
	case errors.As(err, &locked):
		return Locked
	case errors.As(err, &approval):
		return ApprovalNeeded
	case errors.As(err, &safety), errors.As(err, &refused):
		return Refused
	case errors.As(err, &waiting):
		return Waiting
	case errors.As(err, &usage), errors.As(err, &cfg), errors.As(err, &rb), errors.As(err, &engUsage),
		errors.As(err, &changed), errors.As(err, &corrupt), errors.As(err, &version),
		kerberosToFix(err):
		return Usage
	case errors.As(err, &failed):
		return Failed
	}
	return Failed
}

// kerberosToFix reports a Kerberos sign-in failure the operator must fix
// in the configuration or the environment before anything can run: a
// wrong password or keytab, an unknown user or SPN, no valid ticket in
// the cache (run kinit), clock skew, a server that refused the ticket. A
// KDC that did not answer is not one: it is transient, a run failure
// (exit 1) worth trying again.
func kerberosToFix(err error) bool {
	k := kerberos.KindOf(err)
	return k != 0 && k != kerberos.KindKDCUnreachable
}
