package steps

import (
	"fmt"

	"github.com/exrunbook/exrunbook/internal/config"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/manual"
	"github.com/exrunbook/exrunbook/internal/recordset/rfc2136"
)

// publicDNSProviders opens the record-set provider of each mode that
// writes through a provider's HTTP API, with the settings and credential
// of the block k names (public_dns or certificate.acme.challenge_dns).
// Each provider lives in its own package; the entries are added in
// public_dns_<provider>.go.
var publicDNSProviders = map[string]func(d *Deps, k config.DNSAccessKey) (recordset.Provider, error){}

// PublicDNSModes lists every public_dns.mode the public-dns step accepts.
func PublicDNSModes() []string {
	out := []string{publicDNSModeRFC2136, publicDNSModeManual}
	var api []string
	for m := range publicDNSProviders {
		api = append(api, m)
	}
	sort.Strings(api)
	return append(out, api...)
}

// PublicDNSRecordSet opens the record-set provider of public_dns.mode:
// RFC 2136 with the TSIG key, manual (reads from public_dns.server or the
// first nameserver; logf prints what to change by hand), or a provider's
// API with its token.
func (d *Deps) PublicDNSRecordSet(logf func(format string, args ...any)) (recordset.Provider, error) {
	return d.DNSRecordSet(config.PublicDNSKey, logf)
}

// DNSRecordSet opens the record-set provider of the block k names
// (public_dns or certificate.acme.challenge_dns), in its mode.
func (d *Deps) DNSRecordSet(k config.DNSAccessKey, logf func(format string, args ...any)) (recordset.Provider, error) {
	c := d.Config.DNSAccess(k)
	switch mode := strings.ToLower(c.Mode); mode {
	case publicDNSModeRFC2136, "":
		dc, err := d.dnsUpdateClient(k)
		if err != nil {
			return nil, err
		}
		return rfc2136.New(*dc), nil
	case publicDNSModeManual:
		src, err := dnsReadServer(k, c)
		if err != nil {
			return nil, err
		}
		return &manual.Provider{Server: src, Nameservers: c.Nameservers, Logf: logf}, nil
	default:
		open := publicDNSProviders[mode]
		if open == nil {
			return nil, fmt.Errorf("%s.mode: %q is not one of %s", k, c.Mode, strings.Join(PublicDNSModes(), ", "))
		}
		return open(d, k)
	}
}

// dnsReadServer is where the records of block k's zone are read: its
// server, or else its first nameserver.
func dnsReadServer(k config.DNSAccessKey, c config.DNSAccess) (string, error) {
	if c.Server != "" {
		return c.Server, nil
	}
	if len(c.Nameservers) > 0 {
		return c.Nameservers[0], nil
	}
	return "", fmt.Errorf("%s.server: missing; mode %s reads the zone from it (or from %s.nameservers)", k, c.Mode, k)
}

// PublicDNSChallengeWriter is the ACME DNS-01 TXT writer over the public
// zone's access (public_dns), and over certificate.acme.challenge_dns's
// when it is configured: a _acme-challenge CNAME into that zone is then
// followed there.
func (d *Deps) PublicDNSChallengeWriter(logf func(format string, args ...any)) (*recordset.ChallengeWriter, error) {
	p, err := d.PublicDNSRecordSet(logf)
	if err != nil {
		return nil, err
	}
	w := &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: p, Zone: d.Config.PublicDNS.Zone}}}
	if cd := d.Config.DNSAccess(config.ChallengeDNSKey); cd.Configured() {
		cp, err := d.DNSRecordSet(config.ChallengeDNSKey, logf)
		if err != nil {
			return nil, err
		}
		w.Accesses = append(w.Accesses, recordset.Access{Provider: cp, Zone: cd.Zone})
	}
	return w, nil
}
