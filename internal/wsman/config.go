package wsman

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Auth is how the client authenticates (config key exchange.auth).
type Auth string

// The supported authentication methods.
const (
	AuthBasic    Auth = "basic"
	AuthNTLM     Auth = "ntlm"
	AuthKerberos Auth = "kerberos"
)

// ResourceURIExchange is the shell resource URI of the Microsoft.Exchange
// session configuration: http://schemas.microsoft.com/powershell/ and the
// configuration name, as pypsrp's RunspacePool builds it.
const ResourceURIExchange = "http://schemas.microsoft.com/powershell/Microsoft.Exchange"

// Envelope sizes (pypsrp wsman.py and powershell.py
// _process_session_capability): the default until the server proves
// protocol 2.2, and the one pypsrp raises to after.
const (
	DefaultMaxEnvelopeSize = 153600
	LargeMaxEnvelopeSize   = 512000
	// minEnvelopeSize is the smallest MaxEnvelopeSize WinRM accepts.
	minEnvelopeSize = 8192
)

// Timeouts bound the client's network operations. Zero fields take the
// defaults noted.
type Timeouts struct {
	// Connect bounds the TCP connect and TLS handshake (default 30s).
	Connect time.Duration
	// Operation is the WS-Management OperationTimeout: how long the
	// server holds a Receive with nothing to say before answering
	// w:TimedOut (default 20s).
	Operation time.Duration
	// Grace is added to Operation to bound the wait for any answer's
	// headers (default 30s), so a server that never answers is noticed.
	Grace time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = 30 * time.Second
	}
	if t.Operation <= 0 {
		t.Operation = 20 * time.Second
	}
	if t.Grace <= 0 {
		t.Grace = 30 * time.Second
	}
	return t
}

// RetryPolicy governs the retries of retry-safe operations (see the
// package comment for which those are).
type RetryPolicy struct {
	// Attempts is the total number of tries (0: 4; 1: no retry).
	Attempts int
	// Backoff is the first wait (0: 500ms); it doubles after every failure.
	Backoff time.Duration
	// MaxBackoff caps the wait (0: 10s).
	MaxBackoff time.Duration
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Backoff <= 0 {
		r.Backoff = 500 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 10 * time.Second
	}
	return r
}

// KerberosConfig is how a Kerberos login is made.
type KerberosConfig struct {
	// Krb5Conf is the path of krb5.conf (exchange.kerberos.krb5_conf_file);
	// empty means KRB5_CONFIG, else /etc/krb5.conf.
	Krb5Conf string
	// Realm overrides the realm of Config.User and krb5.conf's default.
	Realm string
	// SPN is the service principal (default HTTP/<endpoint host>).
	SPN string
	// CCache is the ticket cache file used when neither Config.Password
	// nor Keytab is set; empty means KRB5CCNAME, else the default cache.
	CCache string
	// Keytab is a keytab to log in with (exchange.kerberos.keytab_file)
	// when Config.Password is empty.
	Keytab string
	// Provider, when set, makes the security contexts instead of a
	// KerberosProvider built from the fields above (NewKerberosProvider;
	// share one between clients to log in once).
	Provider ContextProvider
}

// Config is everything needed to reach one Exchange /PowerShell endpoint.
type Config struct {
	// Endpoint is http(s)://SERVER/PowerShell/ (exchange.endpoint); an
	// empty path means /PowerShell/.
	Endpoint string
	// ResourceURI is the shell resource URI (default ResourceURIExchange).
	ResourceURI string
	// Auth is basic, ntlm or kerberos (exchange.auth).
	Auth Auth
	// User is DOMAIN\user or user@domain (exchange.user).
	User string
	// Password is never printed: String and GoString redact it.
	Password string
	// CAFile is a PEM bundle trusted in addition to the system roots
	// (exchange.ca_file).
	CAFile string
	// TLSServerName overrides the name the server's certificate is
	// checked against.
	TLSServerName string
	// Kerberos configures auth kerberos.
	Kerberos KerberosConfig
	// MaxConnections caps the connections that long-polling Receives
	// hold at once (default 8): a runspace pool needs one for its own
	// Receive and one per pipeline running. The client keeps one more
	// connection for the requests answered at once (Create, Command,
	// Send, Signal, Delete), so that a pipeline's input never waits
	// behind the Receives. A request waits for a free connection.
	MaxConnections int
	// Timeouts bound the network operations.
	Timeouts Timeouts
	// Retry governs the retries of retry-safe operations.
	Retry RetryPolicy
}

// String describes the config without its secrets.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "[redacted]"
	}
	return fmt.Sprintf("wsman.Config{Endpoint:%s Auth:%s User:%s Password:%s CAFile:%s TLSServerName:%s}",
		c.Endpoint, c.Auth, c.User, pw, c.CAFile, c.TLSServerName)
}

// GoString is String, so %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// endpoint is the parsed Config.Endpoint.
type endpoint struct {
	url   string
	https bool
	host  string
}

func parseEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return endpoint{}, fmt.Errorf("exchange.endpoint %q: expected a URL such as http://ex01.contoso.com/PowerShell/", raw)
	}
	var ep endpoint
	switch strings.ToLower(u.Scheme) {
	case "https":
		ep.https = true
	case "http":
	default:
		return endpoint{}, fmt.Errorf("exchange.endpoint %q: the scheme must be http or https", raw)
	}
	if u.User != nil {
		return endpoint{}, fmt.Errorf("exchange.endpoint: credentials in the URL are not allowed; use exchange.user and the password setting")
	}
	ep.host = u.Hostname()
	path := u.Path
	if path == "" || path == "/" {
		path = "/PowerShell/"
	}
	ep.url = (&url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host, Path: path}).String()
	return ep, nil
}

// validate checks the combination of settings; every message names the
// config key to change.
func (c Config) validate(ep endpoint) error {
	switch c.Auth {
	case AuthBasic, AuthNTLM:
		if c.User == "" {
			return fmt.Errorf("exchange.user is required for exchange.auth %s", c.Auth)
		}
		if c.Password == "" {
			return fmt.Errorf("a password is required for exchange.auth %s (exchange.password_file or EXRUNBOOK_EXCHANGE_PASSWORD)", c.Auth)
		}
	case AuthKerberos:
		if c.Kerberos.Provider != nil {
			break
		}
		// Without a password or keytab the ticket cache serves, and
		// needs no user name (the cache's principal is the user).
		if c.User == "" && (c.Password != "" || c.Kerberos.Keytab != "") {
			return errors.New("exchange.user is required for exchange.auth kerberos with a password or exchange.kerberos.keytab_file (only the ticket cache names its own user)")
		}
	case "":
		return errors.New("exchange.auth is empty: expected basic, ntlm or kerberos")
	default:
		return fmt.Errorf("exchange.auth %q: expected basic, ntlm or kerberos", c.Auth)
	}
	if c.Auth == AuthBasic && !ep.https {
		return fmt.Errorf("exchange.auth basic over plain http is refused: the password would cross the network readable; make exchange.endpoint https:// (now %s) or use exchange.auth ntlm or kerberos", ep.url)
	}
	if c.Auth == AuthKerberos && !ep.https && c.Kerberos.Provider != nil && !c.Kerberos.Provider.Seals() {
		return fmt.Errorf("exchange.auth kerberos over plain http needs message encryption, which this Kerberos provider does not offer; make exchange.endpoint https:// (now %s)", ep.url)
	}
	if c.MaxConnections < 0 {
		return fmt.Errorf("MaxConnections %d: expected 0 (default) or more", c.MaxConnections)
	}
	return nil
}
