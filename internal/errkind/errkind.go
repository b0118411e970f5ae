// Package errkind holds the error kinds that cross layers: an error worth
// retrying (Transient) is made in the transport and the Exchange layer and
// judged by the engine, so it lives here, at the bottom of the stack, and
// nothing below the orchestrator needs to import the engine to make one.
package errkind

import "errors"

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
