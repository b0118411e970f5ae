package clients

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/checks"
)

// SMTPTargets is where SMTP STARTTLS probes connect for servers:
// exchange.smtp per server. The key is optional (the port may not be
// reachable from where exrunbook runs), so a server without an address
// is left out; the callers say when nothing is left.
func (f *Factory) SMTPTargets(servers []string) []checks.Target {
	var out []checks.Target
	for _, s := range servers {
		if addr, ok := f.cfg.Exchange.SMTPAddress(s); ok {
			out = append(out, checks.Target{Server: s, Addr: addr})
		}
	}
	return out
}

// HTTPSTargets is where TLS and Autodiscover probes connect for servers:
// exchange.https per server. A server without an address there is an error
// naming the key, since a check that silently skips a server cannot fail.
func (f *Factory) HTTPSTargets(servers []string) ([]checks.Target, error) {
	var out []checks.Target
	var missing []string
	for _, s := range servers {
		addr, ok := f.cfg.Exchange.HTTPSAddress(s)
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

// TLSProbe is the check named name that connects to servers on 443
// (exchange.https) with SNI set to each of names and verifies the chain
// against RootCAs. The caller may set what it expects (ExpectThumbprint,
// Intermediates) on the result.
func (f *Factory) TLSProbe(name string, servers, names []string) (*checks.TLSCheck, error) {
	targets, roots, err := f.httpsProbe(servers)
	if err != nil {
		return nil, err
	}
	return &checks.TLSCheck{CheckName: name, Targets: targets, Names: names, RootCAs: roots}, nil
}

// SMTPProbe is the check named name that connects to the servers that
// have an exchange.smtp address, runs STARTTLS and verifies the
// certificate for names; nil when none of servers has an address.
func (f *Factory) SMTPProbe(name string, servers, names []string) (*checks.SMTPCheck, error) {
	targets := f.SMTPTargets(servers)
	if len(targets) == 0 {
		return nil, nil
	}
	roots, err := f.RootCAs()
	if err != nil {
		return nil, err
	}
	return &checks.SMTPCheck{CheckName: name, Targets: targets, Names: names, RootCAs: roots}, nil
}

// AutodiscoverProbe is the check named name that signs in to every
// server's Autodiscover (namespace.autodiscover as SNI and Host) as email
// with the probe password (asked of the Prompter when it is neither in the
// environment nor in a file). expectExternal: the answer must offer the
// external name; else it must offer no external URL (the user is blocked).
func (f *Factory) AutodiscoverProbe(name string, servers []string, email string, expectExternal bool) (*checks.AutodiscoverCheck, error) {
	targets, roots, err := f.httpsProbe(servers)
	if err != nil {
		return nil, err
	}
	ns := f.cfg.Namespace
	return &checks.AutodiscoverCheck{
		CheckName: name, Targets: targets, Host: ns.Autodiscover,
		Email: email, Password: f.Secrets().ProbePassword,
		ExternalName: ns.External, ExpectExternal: expectExternal, RootCAs: roots,
	}, nil
}

// httpsProbe is what a probe of servers on 443 connects to and verifies
// with: their exchange.https addresses and RootCAs.
func (f *Factory) httpsProbe(servers []string) ([]checks.Target, *x509.CertPool, error) {
	targets, err := f.HTTPSTargets(servers)
	if err != nil {
		return nil, nil, err
	}
	roots, err := f.RootCAs()
	if err != nil {
		return nil, nil, err
	}
	return targets, roots, nil
}
