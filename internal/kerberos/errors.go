package kerberos

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// The configuration keys and settings a Kerberos failure names, so the
// operator knows what to fix.
const (
	KeyUser     = "exchange.user"
	KeyPassword = "exchange.password_file (or EXRUNBOOK_EXCHANGE_PASSWORD)"
	KeyKeytab   = "exchange.kerberos.keytab_file"
	KeySPN      = "exchange.kerberos.spn"
	KeyKrb5Conf = "exchange.kerberos.krb5_conf_file (or KRB5_CONFIG)"
	KeyCCache   = "KRB5CCNAME (the ticket cache; run kinit)"
	KeyClock    = "the clocks of this host, the KDC and the server (NTP)"
	// KeyServiceKeytab is what an acceptor failure names: the service's
	// keytab, which the lab's configuration points to.
	KeyServiceKeytab = "the service keytab (its SPN and key version must match the KDC's)"
)

// Kind classifies a Kerberos failure by what the operator must fix.
type Kind int

// The kinds of Error.
const (
	// KindConfig: krb5.conf, a keytab or a ticket cache cannot be read
	// or is unusable.
	KindConfig Kind = iota + 1
	// KindWrongPassword: the KDC refused the password or keytab key
	// (KDC_ERR_PREAUTH_FAILED, or an AS-REP that does not decrypt).
	KindWrongPassword
	// KindUnknownUser: KDC_ERR_C_PRINCIPAL_UNKNOWN, or the account is
	// disabled, locked or its password expired.
	KindUnknownUser
	// KindNoTicket: the ticket cache is missing, empty or expired.
	KindNoTicket
	// KindUnknownSPN: KDC_ERR_S_PRINCIPAL_UNKNOWN.
	KindUnknownSPN
	// KindClockSkew: KRB_AP_ERR_SKEW, from the KDC or the server.
	KindClockSkew
	// KindKDCUnreachable: no KDC answered. Transient: worth a retry.
	KindKDCUnreachable
	// KindRejected: the server (acceptor) refused the AP-REQ, e.g. its
	// keytab lacks the ticket's key.
	KindRejected
	// KindMutualAuth: the server's reply (AP-REP) is missing or does not
	// verify, so the server is not proven to be who the SPN says.
	KindMutualAuth
	// KindKDC: another KDC error, reported in the KDC's words.
	KindKDC
)

func (k Kind) String() string {
	switch k {
	case KindConfig:
		return "configuration"
	case KindWrongPassword:
		return "wrong password"
	case KindUnknownUser:
		return "unknown or unusable user"
	case KindNoTicket:
		return "no valid ticket"
	case KindUnknownSPN:
		return "unknown service principal"
	case KindClockSkew:
		return "clock skew"
	case KindKDCUnreachable:
		return "KDC unreachable"
	case KindRejected:
		return "rejected by the server"
	case KindMutualAuth:
		return "mutual authentication failed"
	case KindKDC:
		return "KDC error"
	}
	return fmt.Sprintf("kind %d", int(k))
}

// Error is a Kerberos failure: what went wrong, the configuration key to
// fix, and the KDC's or server's error in its own words. KindKDCUnreachable
// errors are also marked errkind.Transient (a KDC that is down is worth a
// retry; a wrong password is not, and retrying it would lock the account).
type Error struct {
	Kind Kind
	// Op is what was being done, e.g. "log in as alice@LAB.TEST".
	Op string
	// Key is the configuration key or setting to fix.
	Key string
	// Hint says what to do, in one sentence.
	Hint string
	// Code is the Kerberos error code (RFC 4120 §7.5.9) when the KDC or
	// server sent one, else 0.
	Code int32
	// Err is the underlying error (the KDC's or server's).
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kerberos: ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.Hint != "" {
		b.WriteString(": ")
		b.WriteString(e.Hint)
	}
	if e.Key != "" {
		b.WriteString(" (check ")
		b.WriteString(e.Key)
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// newError builds an *Error and marks the unreachable kind transient.
func newError(kind Kind, op, key, hint string, code int32, err error) error {
	e := &Error{Kind: kind, Op: op, Key: key, Hint: hint, Code: code, Err: err}
	if kind == KindKDCUnreachable {
		return errkind.Transient(e)
	}
	return e
}

// krbCode finds a Kerberos error code in err: a messages.KRBError in the
// chain, or, as gokrb5 flattens its errors to text, the code's name in
// the message.
func krbCode(err error) int32 {
	var ke messages.KRBError
	if errors.As(err, &ke) {
		return ke.ErrorCode
	}
	var kp *messages.KRBError
	if errors.As(err, &kp) {
		return kp.ErrorCode
	}
	msg := err.Error()
	for _, c := range []int32{
		errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN,
		errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, errorcode.KRB_AP_ERR_SKEW,
		errorcode.KRB_AP_ERR_TKT_EXPIRED, errorcode.KDC_ERR_KEY_EXPIRED,
		errorcode.KDC_ERR_CLIENT_REVOKED, errorcode.KDC_ERR_ETYPE_NOSUPP,
		errorcode.KRB_AP_ERR_BAD_INTEGRITY, errorcode.KRB_AP_ERR_MODIFIED,
		errorcode.KRB_AP_ERR_NOKEY, errorcode.KRB_AP_ERR_BADKEYVER,
		errorcode.KRB_AP_ERR_REPEAT, errorcode.KDC_ERR_POLICY,
	} {
		name := errorcode.Lookup(c)
		// Lookup gives "(24) KDC_ERR_PREAUTH_FAILED Pre-authentication…".
		if f := strings.Fields(name); len(f) > 1 && strings.Contains(msg, f[1]) {
			return c
		}
	}
	return 0
}

// classifyKDC turns an error from a KDC exchange (AS or TGS) into an
// *Error. source says where the client key came from (for the wrong
// password case), spn is the service asked for ("" during login).
func classifyKDC(err error, op string, source Source, spn string) error {
	if err == nil {
		return nil
	}
	credKey := KeyPassword
	credHint := "the KDC refused the password"
	switch source {
	case SourceKeytab:
		credKey = KeyKeytab
		credHint = "the KDC refused the keytab's key (the password changed since the keytab was written? compare kvno)"
	case SourceCCache:
		credKey = KeyCCache
		credHint = "the KDC refused the cached ticket; run kinit again"
	}
	code := krbCode(err)
	switch code {
	case errorcode.KDC_ERR_PREAUTH_FAILED, errorcode.KRB_AP_ERR_BAD_INTEGRITY:
		return newError(KindWrongPassword, op, credKey, credHint, code, err)
	case errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
		return newError(KindUnknownUser, op, KeyUser, "the KDC does not know this user name in this realm", code, err)
	case errorcode.KDC_ERR_KEY_EXPIRED:
		return newError(KindUnknownUser, op, KeyPassword, "the user's password has expired; change it", code, err)
	case errorcode.KDC_ERR_CLIENT_REVOKED, errorcode.KDC_ERR_POLICY:
		return newError(KindUnknownUser, op, KeyUser, "the KDC refuses this account (disabled, locked out or restricted)", code, err)
	case errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
		return newError(KindUnknownSPN, op, KeySPN, fmt.Sprintf("the KDC knows no service principal %q (register the SPN, or set the right one)", spn), code, err)
	case errorcode.KRB_AP_ERR_SKEW:
		return newError(KindClockSkew, op, KeyClock, "this host's clock differs from the KDC's by more than the allowed skew (5 minutes by default)", code, err)
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		return newError(KindNoTicket, op, KeyCCache, "the ticket has expired; run kinit", code, err)
	case errorcode.KDC_ERR_ETYPE_NOSUPP:
		return newError(KindConfig, op, KeyKrb5Conf, "the KDC and this client share no encryption type (allow aes256-cts-hmac-sha1-96)", code, err)
	}
	if code != 0 {
		return newError(KindKDC, op, KeyKrb5Conf, "", code, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "password/keytab incorrect") || (strings.Contains(msg, "Decrypting_Error") && spn == "") {
		return newError(KindWrongPassword, op, credKey, credHint, 0, err)
	}
	if strings.Contains(msg, "Networking_Error") || strings.Contains(msg, "communicate with KDC") ||
		strings.Contains(msg, "error sending to") || strings.Contains(msg, "communication error with KDC") ||
		strings.Contains(msg, "no response data from") {
		return newError(KindKDCUnreachable, op, KeyKrb5Conf, "no KDC answered (is the KDC address in krb5.conf right, and the KDC up?)", 0, err)
	}
	if strings.Contains(msg, "no KDC") || strings.Contains(msg, "Configuration_Error") {
		return newError(KindConfig, op, KeyKrb5Conf, "krb5.conf names no KDC for the realm", 0, err)
	}
	return newError(KindKDC, op, KeyKrb5Conf, "", 0, err)
}
