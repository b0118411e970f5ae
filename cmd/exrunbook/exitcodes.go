package main

import (
	"context"
	"errors"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/state"
	"github.com/exrunbook/exrunbook/runbooks"
)

// The process exit codes (README.md, "Exit codes"). Scripts depend on
// them. They are mapped from the typed errors here, beside Execute, and
// nowhere else, so that every command exits the same way for the same
// condition.
const (
	exitOK             = 0   // done
	exitFailed         = 1   // a step or check failed; state saved
	exitUsage          = 2   // usage or config error; nothing changed
	exitLocked         = 3   // locked by another run
	exitApprovalNeeded = 4   // approval needed: unattended without --yes
	exitRefused        = 5   // refused by a safety limit
	exitWaiting        = 75  // waiting at a checkpoint; run again after the time printed
	exitInterrupted    = 130 // interrupted
)

// exitError carries an explicit exit code with its message, for a result
// that is not one of the typed errors (e.g. `check` finding a failed
// check).
type exitError struct {
	Code int
	Err  error
}

func (e *exitError) Error() string { return e.Err.Error() }
func (e *exitError) Unwrap() error { return e.Err }

// exitCodeOf returns the exit code for err: 0 for nil, the code of the first
// typed error found with errors.As, and 1 for anything else.
func exitCodeOf(err error) int {
	if err == nil {
		return exitOK
	}
	var (
		explicit *exitError
		usage    *errkind.UsageError
		cfg      *config.Error
		rb       *runbooks.Error
		changed  *state.ChangedError
		corrupt  *state.CorruptError
		version  *state.VersionError
		locked   *state.LockedError
		approval *engine.ApprovalNeededError
		safety   *errkind.SafetyError
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
		return exitInterrupted
	case errors.As(err, &locked):
		return exitLocked
	case errors.As(err, &approval):
		return exitApprovalNeeded
	case errors.As(err, &safety), errors.As(err, &refused):
		return exitRefused
	case errors.As(err, &waiting):
		return exitWaiting
	case errors.As(err, &usage), errors.As(err, &cfg), errors.As(err, &rb),
		errors.As(err, &changed), errors.As(err, &corrupt), errors.As(err, &version),
		kerberosToFix(err):
		return exitUsage
	case errors.As(err, &failed):
		return exitFailed
	}
	return exitFailed
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
