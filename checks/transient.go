package checks

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// networkTransient reports whether cause is a network failure worth
// trying again: a timeout, or a connection reset, refused, broken or
// closed before the answer (EOF). A cancelled context is not: the
// operator stopped the run.
func networkTransient(cause error) bool {
	if cause == nil || errors.Is(cause, context.Canceled) {
		return false
	}
	if errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) ||
		errors.Is(cause, syscall.ECONNRESET) || errors.Is(cause, syscall.ECONNREFUSED) ||
		errors.Is(cause, syscall.ECONNABORTED) || errors.Is(cause, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	return errors.As(cause, &ne) && ne.Timeout()
}

// transientIf returns err marked transient (errkind.Transient) when cause
// is a network failure worth trying again, else err as it is.
func transientIf(cause, err error) error {
	if networkTransient(cause) {
		return errkind.Transient(err)
	}
	return err
}

// transientStatus reports whether an HTTP status says "try again later":
// a server error (5xx) or Too Many Requests (429).
func transientStatus(code int) bool {
	return code >= 500 || code == 429
}

// verdictErr collects the errors behind a multi-target check's failures,
// to give the CheckResult.Err it carries.
type verdictErr struct {
	first     error // the first transient error
	transient int   // failures that were transient errors
}

// add records an error that failed one target.
func (v *verdictErr) add(err error) {
	if !errkind.IsTransient(err) {
		return
	}
	v.transient++
	if v.first == nil {
		v.first = err
	}
}

// err is the CheckResult.Err of a check with fails failures: the first
// transient error when every failure was one (so the engine retries the
// check), else nil (a retry cannot mend a wrong answer or a permanent
// error).
func (v *verdictErr) err(fails int) error {
	if fails == 0 || v.transient != fails {
		return nil
	}
	return v.first
}
