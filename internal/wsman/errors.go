package wsman

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// FaultError is a WS-Management fault (a SOAP 1.2 Fault, usually with a
// WSManFault detail) in the server's own words.
type FaultError struct {
	// Op is the operation that failed: Create, Command, Send, Receive,
	// Signal or Delete.
	Op string
	// Status is the HTTP status the fault came with (usually 500).
	Status int
	// SOAPCode is the fault's Code, e.g. "s:Receiver".
	SOAPCode string
	// Subcode is the fault's Subcode, e.g. "w:TimedOut".
	Subcode string
	// Code is the WSManFault Code attribute, e.g. 2150858793.
	Code uint32
	// Machine is the WSManFault Machine attribute.
	Machine string
	// Reason is the SOAP Reason text.
	Reason string
	// Message is the WSManFault message text (ProviderFault included):
	// Exchange's own words, e.g. its throttling message.
	Message string
}

func (e *FaultError) Error() string {
	var b strings.Builder
	b.WriteString("WS-Management")
	if e.Op != "" {
		b.WriteString(" " + e.Op)
	}
	b.WriteString(" fault")
	if e.Subcode != "" {
		b.WriteString(" " + e.Subcode)
	}
	if e.Code != 0 {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if t := e.Text(); t != "" {
		b.WriteString(": " + t)
	}
	return b.String()
}

// Text is the server's most specific text: the WSManFault message, with
// the Reason before it when it says something the message does not.
func (e *FaultError) Text() string {
	switch {
	case e.Message == "":
		return e.Reason
	case e.Reason == "" || strings.Contains(e.Message, e.Reason):
		return e.Message
	default:
		return e.Reason + ": " + e.Message
	}
}

// TimedOut reports whether this is the w:TimedOut fault of a Receive
// whose OperationTimeout passed with nothing to say.
func (e *FaultError) TimedOut() bool {
	return e.Code == FaultCodeTimedOut || strings.HasSuffix(e.Subcode, ":TimedOut") || e.Subcode == "TimedOut"
}

// transientSubcodes are fault subcodes that say the server could not do
// it now: an internal error, a quota (shells or operations per user).
var transientSubcodes = []string{"InternalError", "QuotaLimit", "Concurrency"}

// transient reports whether asking again later may succeed: the
// TimedOut of a Receive, Exchange's throttling, a quota or internal error
// of the service, or a shell the server no longer knows (a broken
// session: the next attempt opens a new pool). Faults are permanent
// otherwise (access denied, bad request), though they come with HTTP 500.
func (e *FaultError) transient() bool {
	if e.TimedOut() || IsThrottling(e.Text()) {
		return true
	}
	for _, s := range transientSubcodes {
		if strings.HasSuffix(e.Subcode, ":"+s) || e.Subcode == s {
			return true
		}
	}
	t := strings.ToLower(e.Text())
	return strings.Contains(t, "shell was not found") || strings.Contains(t, "shell was terminated") || strings.Contains(t, "shell is not found")
}

// HTTPError is a non-200 answer that carried no SOAP fault.
type HTTPError struct {
	Op     string
	Status int
	// Text is the start of the server's answer (its own words), if any.
	Text string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("WS-Management %s: HTTP %d %s", e.Op, e.Status, httpStatusText(e.Status))
	if e.Text != "" {
		msg += ": " + e.Text
	}
	return msg
}

func httpStatusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "status"
}

// AuthError is a refused login: the server answered 401 after the
// handshake, or the security context could not be made (a Kerberos
// login or ticket refused). It is permanent.
type AuthError struct {
	User     string
	Endpoint string
	// Reason says what was refused, when more is known than the 401.
	Reason string
	// Err is the security mechanism's own error, if it failed first (it
	// names its config key, e.g. exchange.kerberos.spn).
	Err error
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("authentication to %s as %q failed", e.Endpoint, e.User)
	if e.User == "" {
		// Kerberos from the ticket cache: the cache names the user.
		msg = fmt.Sprintf("authentication to %s failed", e.Endpoint)
	}
	switch {
	case e.Err != nil:
		return msg + ": " + e.Err.Error()
	case strings.Contains(e.Reason, "exchange."):
		return msg + ": " + e.Reason
	case e.Reason != "":
		msg += ": " + e.Reason
	default:
		msg += ": the server refused the credentials (HTTP 401)"
	}
	return msg + "; check exchange.user and the password (exchange.password_file or EXRUNBOOK_EXCHANGE_PASSWORD; and that the account may use remote PowerShell)"
}

func (e *AuthError) Unwrap() error { return e.Err }

// TLSError is a failed verification of the server's certificate. It is
// permanent.
type TLSError struct {
	Endpoint string
	Err      error
}

func (e *TLSError) Error() string {
	return fmt.Sprintf("TLS verification of %s failed: %v; set exchange.ca_file to the CA that issued the server's certificate (verification cannot be turned off)", e.Endpoint, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// throttlingMarkers are texts of Exchange and WinRM answers that mean
// "come back later": Exchange's throttling refusals (Microsoft Learn:
// Set-ThrottlingPolicy; Microsoft365DSC/Microsoft365DSC#359) and WinRM's
// quotas (MaxShellsPerUser, MaxConcurrentOperationsPerUser: Microsoft
// Learn, "Installation and configuration for Windows Remote Management").
var throttlingMarkers = []string{
	"exceeded the maximum number of connections allowed",
	"fail to create a runspace",
	"exceeded the throttling budget",
	"powershell budget",
	"powershellmaxconcurrency",
	"micro delay",
	"transient server error",
	"server is too busy",
	"maximum number of concurrent shells",
	"maxconcurrentoperationsperuser",
	"maxshellsperuser",
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

// classifyAnswer turns a non-200 answer or a fault into the error to
// return, marked transient when it is.
func classifyAnswer(op string, status int, data []byte) error {
	if f := parseFault(data); f != nil {
		f.Op, f.Status = op, status
		if f.transient() || status > 500 {
			return errkind.Transient(f)
		}
		return f
	}
	he := &HTTPError{Op: op, Status: status, Text: serverText(data)}
	if status >= 500 || status == 429 || IsThrottling(he.Text) {
		return errkind.Transient(he)
	}
	return he
}

// serverText is the start of a non-SOAP answer, printable.
func serverText(data []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(data), "?")), " ")
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// classifyTransport turns an error of the HTTP round trip into a
// *TLSError, a transient error (refused, reset, EOF, timeouts) or leaves
// it as is.
func classifyTransport(endpoint string, err error) error {
	if err == nil || errkind.IsTransient(err) {
		return err
	}
	var ae *AuthError
	var te *TLSError
	if errors.As(err, &ae) || errors.As(err, &te) {
		return err
	}
	if isTLSVerification(err) {
		return &TLSError{Endpoint: endpoint, Err: err}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if isConnectionError(err) {
		return errkind.Transient(err)
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
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	for _, t := range []string{"connection reset", "connection refused", "broken pipe", "EOF", "server closed idle connection", "timeout awaiting response headers"} {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// isDialError reports whether err happened before a request could reach
// the server (the connection was never made).
func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}
