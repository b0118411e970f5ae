// Package errkind holds the error kinds that cross layers, at the bottom of
// the stack, so that nothing below the orchestrator imports the engine or
// the command line to make one:
//
//   - Transient: worth retrying. Made in the transport and the Exchange
//     layer, judged by the engine.
//   - *SafetyError: a refusal by a safety limit (an empty allow group, more
//     changes than allowed). Made by the allow-list logic and the steps,
//     never retried by the engine, exit code 5 at the command line.
//   - *UsageError: bad input from the operator (a bad argument, an unknown
//     step). Made anywhere, exit code 2 at the command line.
//
// The kinds carry facts, not command-line advice: a SafetyError names the
// override an operator may choose (Override), and the command layer says
// which flag gives it.
package errkind

import (
	"errors"
	"fmt"
)

// transientError marks an error as worth retrying.
type transientError struct{ err error }

func (t transientError) Error() string { return t.err.Error() }
func (t transientError) Unwrap() error { return t.err }

// Transient marks err as transient (HTTP 5xx, a dropped connection, the
// WS-Management TimedOut fault, Exchange throttling, a broken PowerShell
// session): the caller may retry the operation with backoff. A nil err
// stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	if IsTransient(err) {
		return err
	}
	return transientError{err}
}

// IsTransient reports whether err, or an error it wraps, was marked
// transient.
func IsTransient(err error) bool {
	var t transientError
	return errors.As(err, &t)
}

// SafetyError is a refusal by a safety limit: carrying on would change
// more than the operator allowed (an allow group that does not exist or is
// empty, more changes than the limit). It is never retried.
type SafetyError struct {
	// Limit names the limit that refused, e.g. "max-changes".
	Limit string
	// Detail says what was found and what the operator can fix, in words
	// that name no command-line flag.
	Detail string
	// Override names the operator decision that lifts the limit, when one
	// exists: OverrideAllowEmptyGroup or OverrideMaxChanges. "" when the
	// limit cannot be overridden.
	Override string
}

// The overrides a SafetyError can name. The command line maps each to the
// flag that gives it.
const (
	// OverrideAllowEmptyGroup: block every mailbox although the allow
	// group is empty or missing.
	OverrideAllowEmptyGroup = "allow-empty-group"
	// OverrideMaxChanges: allow more changes in one run.
	OverrideMaxChanges = "max-changes"
)

func (e *SafetyError) Error() string {
	return fmt.Sprintf("refused by safety limit %s: %s", e.Limit, e.Detail)
}

// UsageError is bad input from the operator: a bad or missing argument, an
// unknown step, a combination of options that cannot go together. Nothing
// was changed.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usage marks err as a usage error. A nil err stays nil.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	return &UsageError{Err: err}
}

// Usagef returns a *UsageError with a formatted message (fmt.Errorf, so %w
// wraps).
func Usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// IsUsage reports whether err, or an error it wraps, is a usage error.
func IsUsage(err error) bool {
	var u *UsageError
	return errors.As(err, &u)
}
