// Package clients builds, from one loaded configuration, the clients a
// command talks through: the Exchange session over WS-Management (one PSRP
// session per process), the DNS clients (RFC 2136 and the record-set
// providers of public_dns and certificate.acme.challenge_dns), and the TLS,
// SMTP and Autodiscover probes with the roots that verify them.
//
// A command builds one Factory after loading its configuration, in the
// way gh's cmdutil.Factory is built once per command, and hands it to
// whatever needs a client (the steps' Deps, enforce). Clients are made on
// first use, so that a command that needs no Exchange never asks for a
// password, and are shared by every user of the Factory. Secrets that are
// neither in the environment nor in a file are asked of the Prompter the
// Factory was built with; nothing about them is process-wide.
package clients

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// Options are what a Factory needs besides the configuration.
type Options struct {
	// Prompter asks the operator for a secret that is neither in the
	// environment nor in a file (the guided view's masked input); nil:
	// such a secret is an error naming where it can be set.
	Prompter config.Prompter
	// Runner, when set, runs the Exchange pipelines instead of the PSRP
	// session built from the configuration (tests).
	Runner exchange.PipelineRunner
	// DNSAPITransport, when set, carries the requests to a DNS provider's
	// API (public_dns.mode cloudflare, ...) instead of the default
	// TLS-verified transport (tests and the lab route them to fakes).
	DNSAPITransport http.RoundTripper
	// OnSessionReopen, when set, is told of every reopen of the Exchange
	// session after a broken one, with the error that broke it (the
	// server's words in it); the CLI journals it.
	OnSessionReopen func(cause error)
}

// Factory builds the clients of one command from its configuration. It is
// safe for concurrent use.
type Factory struct {
	cfg  *config.Config
	opts Options

	mu       sync.Mutex
	exchange *exchange.Client
	session  *exchange.Session
	roots    *x509.CertPool
}

// New returns the Factory over cfg, the validated configuration.
func New(cfg *config.Config, opts Options) *Factory {
	return &Factory{cfg: cfg, opts: opts}
}

// Config is the configuration the clients are built from.
func (f *Factory) Config() *config.Config { return f.cfg }

// Secrets resolves the configuration's secrets, asking the Factory's
// Prompter for one that is neither in the environment nor in a file.
func (f *Factory) Secrets() config.Secrets { return f.cfg.Secrets(f.opts.Prompter) }

// Exchange returns the Exchange client: over Options.Runner when set, else
// over the one PSRP session of the process on the Exchange endpoint
// (exchange.endpoint, /PowerShell/), opened on first use.
func (f *Factory) Exchange() (*exchange.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.exchange != nil {
		return f.exchange, nil
	}
	r := f.opts.Runner
	if r == nil {
		wc, err := f.wsmanConfig()
		if err != nil {
			return nil, err
		}
		if _, err := wsman.New(wc); err != nil { // the settings are checked before anything runs
			return nil, err
		}
		s := exchange.NewSession(exchange.WSManDialer(wc, concurrency(f.cfg.Exchange)))
		if hook := f.opts.OnSessionReopen; hook != nil {
			s.OnOpen = func(reopen bool, cause error) {
				if reopen {
					hook(cause)
				}
			}
		}
		f.session = s
		r = s
	}
	f.exchange = exchange.New(r)
	f.exchange.Concurrency = concurrency(f.cfg.Exchange)
	return f.exchange, nil
}

// wsmanConfig is the WS-Management configuration of the Exchange endpoint.
func (f *Factory) wsmanConfig() (wsman.Config, error) {
	cfg := f.cfg.Exchange
	pw := ""
	if needsPassword(f.cfg) {
		var err error
		if pw, err = f.Secrets().ExchangePassword(); err != nil {
			return wsman.Config{}, err
		}
	}
	wc := wsman.Config{
		Endpoint: cfg.Endpoint, Auth: wsman.Auth(strings.ToLower(cfg.Auth)), User: cfg.User, Password: pw,
		CAFile: cfg.CAFile, MaxConnections: concurrency(cfg) + 1,
	}
	if strings.EqualFold(cfg.Auth, "kerberos") {
		// krb5_conf_file as given (empty: KRB5_CONFIG, else
		// /etc/krb5.conf); no password and no keytab: the ticket cache
		// (KRB5CCNAME, else the default cache) signs in.
		wc.Kerberos = wsman.KerberosConfig{Realm: cfg.KerberosRealm(), Krb5Conf: cfg.Krb5Conf(), Keytab: cfg.Kerberos.KeytabFile, SPN: cfg.KerberosSPN()}
	}
	return wc, nil
}

// concurrency is exchange.concurrency, or its default.
func concurrency(e config.Exchange) int {
	if e.Concurrency > 0 {
		return e.Concurrency
	}
	return config.DefaultConcurrency
}

// needsPassword: ntlm and basic sign in with the Exchange password;
// kerberos only when one is configured (else a keytab or the ticket cache).
func needsPassword(c *config.Config) bool {
	for _, s := range c.NeededSecrets() {
		if s.Env == config.EnvExchangePassword {
			return true
		}
	}
	return false
}

// Close ends the Exchange session, if one was opened. Exchange counts an
// open session against the user's PowerShellMaxConcurrency until its idle
// timeout, so every command closes its Factory when it is done.
func (f *Factory) Close(ctx context.Context) error {
	f.mu.Lock()
	s := f.session
	f.session = nil
	f.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close(ctx)
}

// RootCAs is the pool that verifies the servers' certificates in TLS and
// Autodiscover probes: the system roots plus exchange.ca_file.
func (f *Factory) RootCAs() (*x509.CertPool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.roots != nil {
		return f.roots, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if file := f.cfg.Exchange.CAFile; file != "" {
		pem, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("exchange.ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("exchange.ca_file %s: no PEM certificate in it", file)
		}
	}
	f.roots = pool
	return pool, nil
}
