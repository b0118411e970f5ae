package winrm

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// HTTPError is a non-200 answer from the WinRM endpoint, with the SOAP
// fault's text when there was one.
type HTTPError struct {
	Status int
	// Subcode is the fault's subcode, e.g. "w:TimedOut".
	Subcode string
	// Fault is the fault's reason/message text.
	Fault string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("WinRM HTTP %d", e.Status)
	if e.Subcode != "" {
		msg += " " + e.Subcode
	}
	if e.isTimedOut() && !strings.Contains(e.Fault, "OperationTimeout") {
		// masterzen's Receive loop recognises a WinRM TimedOut fault by
		// this word and simply receives again.
		msg += " (OperationTimeout)"
	}
	if e.Fault != "" {
		msg += ": " + e.Fault
	}
	return msg
}

func (e *HTTPError) isTimedOut() bool {
	return strings.HasSuffix(e.Subcode, "TimedOut") || strings.Contains(e.Fault, "OperationTimeout")
}

// AuthError is a rejected login (HTTP 401). It is permanent.
type AuthError struct {
	User     string
	Endpoint string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("authentication failed for %s at %s (check exchange.user / password)", e.User, e.Endpoint)
}

// TLSError is a failed verification of the server's certificate. It is
// permanent.
type TLSError struct {
	Endpoint string
	Err      error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS verification of %s failed: %v (set exchange.ca_file to the CA that issued the WinRM certificate)", e.Endpoint, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// PowerShellError is a script that failed on the server: the error
// records PowerShell wrote (decoded from CLIXML), or a non-zero exit code.
type PowerShellError struct {
	// Message is the server's own words, without position and category lines.
	Message string
	// Details are the lines left out of Message: "At line:…", "+ …",
	// CategoryInfo and FullyQualifiedErrorId.
	Details []string
	// ExitCode is powershell.exe's exit code.
	ExitCode int
}

func (e *PowerShellError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("PowerShell exited with code %d", e.ExitCode)
	}
	return e.Message
}

// throttlingMarkers are texts of Exchange/WinRM answers that mean "try
// again later" (PowerShell budget, throttling, transient server errors).
var throttlingMarkers = []string{
	"exceeded the throttling budget",
	"powershell budget",
	"powershellmaxconcurrency",
	"micro delay",
	"transient server error",
	"server is too busy",
	"maximum number of concurrent shells",
	"maxconcurrentoperationsperuser",
}

// IsThrottling reports whether a server message says to come back later.
func IsThrottling(msg string) bool {
	m := strings.ToLower(msg)
	for _, t := range throttlingMarkers {
		if strings.Contains(m, t) {
			return true
		}
	}
	return false
}

// classify turns a transport error into the error RunPowerShell returns:
// AuthError and TLSError (permanent), transient ones wrapped with
// engine.Transient, anything else unchanged.
func (c *Client) classify(err error) error {
	if err == nil {
		return nil
	}
	if engine.IsTransient(err) {
		return err
	}
	var ae *AuthError
	var te *TLSError
	if errors.As(err, &ae) || errors.As(err, &te) {
		return err
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status == 401:
			return &AuthError{User: c.cfg.User, Endpoint: c.ep.url}
		case he.Status >= 500:
			return engine.Transient(err)
		}
		return err
	}
	if isTLSVerification(err) {
		return &TLSError{Endpoint: c.ep.url, Err: err}
	}
	if isConnectionError(err) {
		return engine.Transient(err)
	}
	return err
}

func isTLSVerification(err error) bool {
	var cve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}

func isConnectionError(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.Canceled) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	for _, t := range []string{"connection reset", "connection refused", "broken pipe", "EOF", "server closed idle connection"} {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}
