// Package winrm is exrunbook's WinRM transport: it runs one PowerShell
// script per call on an Exchange server over WS-Management, using
// github.com/masterzen/winrm for the WinRS message flow and its own HTTP
// layer for authentication (Basic, NTLM, Kerberos, client certificate),
// TLS verification, deadlines and error classification.
//
// What it adds to masterzen/winrm:
//   - HTTP 401 and 5xx answers become errors (masterzen lets them pass as
//     empty successes), with a SOAP fault's own text;
//   - a context cancels in-flight HTTP requests, and the Signal/Delete that
//     clean up after a cancelled command still go out (with a short
//     deadline of their own);
//   - errors are classified: transient ones (HTTP 5xx, connection
//     reset/refused/EOF, a per-call deadline, Exchange throttling) are
//     marked with engine.Transient so the engine retries the whole
//     idempotent phase; authentication and TLS failures are permanent and
//     name the config key to fix;
//   - PowerShell's CLIXML on stderr is decoded into the server's own words
//     (PowerShellError) and its warnings (Result.Warnings).
//
// Retries: RunPowerShell itself retries only the creation of the shell,
// because until a command has been sent nothing can have run. Once the
// Command request has gone out the script may have run (fully or in part),
// so any later failure is returned to the caller, marked transient when it
// is; the engine retries the whole phase, whose scripts are idempotent.
package winrm

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Auth is how the client authenticates to WinRM.
type Auth string

// The supported authentication methods (config key exchange.auth).
const (
	AuthBasic       Auth = "basic"
	AuthNTLM        Auth = "ntlm"
	AuthKerberos    Auth = "kerberos"
	AuthCertificate Auth = "certificate"
)

// RetryPolicy says how often and how patiently the creation of a shell is
// retried after a transient failure (see the package comment for why only
// that step is retried here).
type RetryPolicy struct {
	// Attempts is the total number of tries (0 or 1: no retry).
	Attempts int
	// Backoff is the first wait; it doubles after every failure.
	Backoff time.Duration
	// MaxBackoff caps the wait (0: no cap).
	MaxBackoff time.Duration
}

// Config is everything needed to reach one WinRM endpoint.
type Config struct {
	// Endpoint is https://host:5986/wsman or http://host:5985/wsman.
	Endpoint string
	// Auth is basic, ntlm, kerberos or certificate.
	Auth Auth
	// User is DOMAIN\user or user@domain (not used by certificate auth).
	User string
	// Password is never logged; Config.String redacts it.
	Password string
	// CAFile is a PEM bundle that verifies the server's certificate
	// (exchange.ca_file). Empty: the system roots.
	CAFile string
	// InsecureSkipVerify turns TLS verification off. Only when explicitly
	// configured; the default verifies.
	InsecureSkipVerify bool
	// TLSServerName overrides the name checked in the server's certificate.
	TLSServerName string
	// AllowHTTPBasic permits Basic authentication over plain http
	// (exchange.allow_http_basic); refused otherwise.
	AllowHTTPBasic bool
	// Encryption requests NTLM message encryption (sealing). It is only
	// possible for ntlm over http, where it is switched on automatically.
	Encryption bool

	// Realm is the Kerberos realm (e.g. CONTOSO.COM).
	Realm string
	// KrbConf is the path of krb5.conf.
	KrbConf string
	// Keytab is the path of a keytab; empty: log in with Password.
	Keytab string
	// SPN is the service principal (default HTTP/<endpoint host>).
	SPN string

	// ClientCert and ClientKey are PEM files for certificate auth.
	ClientCert string
	ClientKey  string

	// OperationTimeout is the WS-Man OperationTimeout (default 60s).
	OperationTimeout time.Duration
	// CallTimeout bounds one RunPowerShell call (0: only the caller's ctx).
	CallTimeout time.Duration
	// Retries governs retrying shell creation.
	Retries RetryPolicy
}

// String describes the config without its secrets.
func (c Config) String() string {
	pw := ""
	if c.Password != "" {
		pw = "[redacted]"
	}
	return fmt.Sprintf("winrm.Config{Endpoint:%s Auth:%s User:%s Password:%s CAFile:%s InsecureSkipVerify:%t AllowHTTPBasic:%t Encryption:%t}",
		c.Endpoint, c.Auth, c.User, pw, c.CAFile, c.InsecureSkipVerify, c.AllowHTTPBasic, c.Encryption)
}

// GoString is String, so %#v does not print the password either.
func (c Config) GoString() string { return c.String() }

// endpoint is the parsed Config.Endpoint.
type endpoint struct {
	url   string
	https bool
	host  string
	port  int
}

func parseEndpoint(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return endpoint{}, fmt.Errorf("exchange.endpoint %q: expected a URL such as https://ex01.contoso.com:5986/wsman", raw)
	}
	var ep endpoint
	switch strings.ToLower(u.Scheme) {
	case "https":
		ep.https = true
		ep.port = 5986
	case "http":
		ep.port = 5985
	default:
		return endpoint{}, fmt.Errorf("exchange.endpoint %q: scheme must be http or https", raw)
	}
	ep.host = u.Hostname()
	if p := u.Port(); p != "" {
		if _, err := fmt.Sscanf(p, "%d", &ep.port); err != nil || ep.port <= 0 || ep.port > 65535 {
			return endpoint{}, fmt.Errorf("exchange.endpoint %q: bad port", raw)
		}
	}
	path := u.Path
	if path == "" {
		path = "/wsman"
	}
	scheme := "http"
	if ep.https {
		scheme = "https"
	}
	ep.url = (&url.URL{Scheme: scheme, Host: u.Host, Path: path}).String()
	return ep, nil
}

// validate checks the combination of settings; every message names the
// config key to change.
func (c Config) validate(ep endpoint) error {
	switch c.Auth {
	case AuthBasic, AuthNTLM:
		if c.User == "" {
			return errors.New("exchange.user is required for auth " + string(c.Auth))
		}
	case AuthKerberos:
		if c.User == "" {
			return errors.New("exchange.user is required for auth kerberos")
		}
		if c.KrbConf == "" {
			return errors.New("kerberos needs the path of krb5.conf (exchange.kerberos.krb5_conf_file)")
		}
		if !ep.https {
			// WinRM refuses unencrypted messages by default, and this
			// client seals messages over http only for NTLM.
			return fmt.Errorf("kerberos needs an https endpoint (message encryption over http is only available for ntlm), got %s", c.Endpoint)
		}
		if c.Keytab == "" && c.Password == "" {
			return errors.New("kerberos needs a keytab (exchange.kerberos.keytab_file) or a password (exchange.password_file or EXRUNBOOK_EXCHANGE_PASSWORD)")
		}
	case AuthCertificate:
		if !ep.https {
			return fmt.Errorf("exchange.auth certificate needs an https endpoint, got %s", c.Endpoint)
		}
		if c.ClientCert == "" || c.ClientKey == "" {
			return errors.New("exchange.auth certificate needs a client certificate and key")
		}
	case "":
		return errors.New("exchange.auth is empty: expected basic, ntlm, kerberos or certificate")
	default:
		return fmt.Errorf("exchange.auth %q: expected basic, ntlm, kerberos or certificate", c.Auth)
	}
	if c.Auth == AuthBasic && !ep.https && !c.AllowHTTPBasic {
		return fmt.Errorf("refusing basic authentication over plain http to %s: the password would cross the network readable; use https, auth ntlm, or set exchange.allow_http_basic: true", c.Endpoint)
	}
	if c.Encryption && (c.Auth != AuthNTLM || ep.https) {
		return errors.New("message encryption is only available for auth ntlm over http (https is already encrypted)")
	}
	if c.InsecureSkipVerify && c.CAFile != "" {
		return errors.New("exchange.ca_file and skipping TLS verification are mutually exclusive")
	}
	return nil
}
