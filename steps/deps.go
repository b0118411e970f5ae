package steps

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// clients are created on first use, so that a command that needs no
// Exchange (status, skip) never asks for a password, and shared by every
// step of a run.
type clients struct {
	mu       sync.Mutex
	exchange *exchange.Client
	session  *exchange.Session
	// permitted: the step kinds whose permissions were checked.
	permitted map[string]bool
	roots     *x509.CertPool
	servers   []exchange.Server
}

// Exchange returns the Exchange client: over Runner when set, else over
// the one PSRP session of the run on the Exchange endpoint
// (exchange.endpoint, /PowerShell/), opened on first use.
func (d *Deps) Exchange() (*exchange.Client, error) {
	d.clients.mu.Lock()
	defer d.clients.mu.Unlock()
	if d.clients.exchange != nil {
		return d.clients.exchange, nil
	}
	r := d.Runner
	if r == nil {
		cfg := d.Config.Exchange
		pw := ""
		if needsPassword(d.Config) {
			var err error
			if pw, err = d.Config.ExchangePassword(); err != nil {
				return nil, err
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
		if _, err := wsman.New(wc); err != nil { // the settings are checked before anything runs
			return nil, err
		}
		s := exchange.NewSession(exchange.WSManDialer(wc, concurrency(cfg)))
		s.OnOpen = func(reopen bool, cause error) {
			if reopen && d.OnSessionReopen != nil {
				d.OnSessionReopen(cause)
			}
		}
		d.clients.session = s
		r = s
	}
	d.clients.exchange = exchange.New(r)
	d.clients.exchange.Concurrency = concurrency(d.Config.Exchange)
	return d.clients.exchange, nil
}

// concurrency is exchange.concurrency, or its default.
func concurrency(e config.Exchange) int {
	if e.Concurrency > 0 {
		return e.Concurrency
	}
	return config.DefaultConcurrency
}

// Close ends the run's Exchange session, if one was opened.
func (d *Deps) Close(ctx context.Context) error {
	d.clients.mu.Lock()
	s := d.clients.session
	d.clients.session = nil
	d.clients.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close(ctx)
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

// RootCAs is the pool that verifies the servers' certificates in TLS and
// Autodiscover checks: the system roots plus exchange.ca_file.
func (d *Deps) RootCAs() (*x509.CertPool, error) {
	d.clients.mu.Lock()
	defer d.clients.mu.Unlock()
	if d.clients.roots != nil {
		return d.clients.roots, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if f := d.Config.Exchange.CAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("exchange.ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("exchange.ca_file %s: no PEM certificate in it", f)
		}
	}
	d.clients.roots = pool
	return pool, nil
}

// Servers returns the servers in scope: the ones exchange.servers names,
// or every server Get-ExchangeServer returns. It asks Exchange once per run.
func (d *Deps) Servers(ctx context.Context) ([]exchange.Server, error) {
	d.clients.mu.Lock()
	cached := d.clients.servers
	d.clients.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	ex, err := d.Exchange()
	if err != nil {
		return nil, err
	}
	servers, err := ex.GetExchangeServers(ctx, d.Config.Exchange.Servers)
	if err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("no Exchange server in scope: Get-ExchangeServer returned none")
	}
	sort.Slice(servers, func(i, j int) bool { return strings.ToLower(servers[i].Name) < strings.ToLower(servers[j].Name) })
	d.clients.mu.Lock()
	d.clients.servers = servers
	d.clients.mu.Unlock()
	return servers, nil
}

// ServerNames lists the names of servers.
func ServerNames(servers []exchange.Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Name
	}
	return out
}

// SMTPTargets is where SMTP STARTTLS checks connect for servers:
// exchange.smtp per server. The key is optional (the port may not be
// reachable from where exrunbook runs), so a server without an address
// is left out; the callers say when nothing is left.
func (d *Deps) SMTPTargets(servers []string) []checks.Target {
	var out []checks.Target
	for _, s := range servers {
		if addr, ok := d.Config.Exchange.SMTPAddress(s); ok {
			out = append(out, checks.Target{Server: s, Addr: addr})
		}
	}
	return out
}

// HTTPSTargets is where TLS and Autodiscover checks connect for servers:
// exchange.https per server. A server without an address there is an error
// naming the key, since a check that silently skips a server cannot fail.
func (d *Deps) HTTPSTargets(servers []string) ([]checks.Target, error) {
	var out []checks.Target
	var missing []string
	for _, s := range servers {
		addr, ok := d.Config.Exchange.HTTPSAddress(s)
		if !ok {
			missing = append(missing, s)
			continue
		}
		out = append(out, checks.Target{Server: s, Addr: addr})
	}
	if len(missing) > 0 {
		return out, fmt.Errorf("exchange.https has no address for %s: add \"%s: host:443\" so the TLS checks can reach it", strings.Join(missing, ", "), missing[0])
	}
	return out, nil
}

// PublicDNS returns the RFC 2136 client for public_dns.
func (d *Deps) PublicDNS() (*dnsupdate.Client, error) { return d.dnsUpdateClient(config.PublicDNSKey) }

// dnsUpdateClient returns the RFC 2136 client for the block k names.
func (d *Deps) dnsUpdateClient(k config.DNSAccessKey) (*dnsupdate.Client, error) {
	c := d.Config.DNSAccess(k)
	secret, err := d.Config.DNSAccessTSIGSecret(k)
	if err != nil {
		return nil, err
	}
	dc := &dnsupdate.Client{Server: c.Server, Zone: c.Zone,
		TSIG: dnsupdate.TSIG{Name: c.TSIG.Name, Algorithm: c.TSIG.Algorithm, Secret: secret}}
	if k != config.PublicDNSKey {
		dc.Setting = string(k)
	}
	return dc, nil
}

// RequirePermissions checks once per run, before the step of kind reads
// or changes anything, that the signed-in account may run every cmdlet
// and parameter the step needs (exchange.StepNeeds), and names what is
// missing with the role that grants it.
func (d *Deps) RequirePermissions(ctx context.Context, kind string) error {
	needs := exchange.StepNeeds[kind]
	if len(needs) == 0 {
		return nil
	}
	d.clients.mu.Lock()
	done := d.clients.permitted[kind]
	d.clients.mu.Unlock()
	if done {
		return nil
	}
	ex, err := d.Exchange()
	if err != nil {
		return err
	}
	missing, err := ex.CheckPermissions(ctx, needs)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		names := make([]string, len(missing))
		for i, m := range missing {
			names[i] = m.String()
		}
		return fmt.Errorf("permissions: the account %s may not run what step %s needs on the Exchange endpoint: %s (`exrunbook permissions` lists every step's cmdlets and roles)",
			d.Config.Exchange.User, kind, strings.Join(names, ", "))
	}
	d.clients.mu.Lock()
	if d.clients.permitted == nil {
		d.clients.permitted = map[string]bool{}
	}
	d.clients.permitted[kind] = true
	d.clients.mu.Unlock()
	return nil
}
