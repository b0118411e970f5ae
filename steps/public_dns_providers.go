package steps

import (
	"fmt"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/manual"
	"github.com/exrunbook/exrunbook/internal/recordset/rfc2136"
)

// publicDNSProviders opens the record-set provider of each public_dns.mode
// that writes through a provider's HTTP API. Each provider lives in its own
// package; the entries are added in public_dns_<provider>.go.
var publicDNSProviders = map[string]func(*Deps) (recordset.Provider, error){}

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
	c := d.Config.PublicDNS
	switch mode := strings.ToLower(c.Mode); mode {
	case publicDNSModeRFC2136, "":
		dc, err := d.PublicDNS()
		if err != nil {
			return nil, err
		}
		return rfc2136.New(*dc), nil
	case publicDNSModeManual:
		src := c.Server
		if src == "" && len(c.Nameservers) > 0 {
			src = c.Nameservers[0]
		}
		if src == "" {
			return nil, fmt.Errorf("public_dns.server: missing; mode manual reads the zone from it (or from public_dns.nameservers)")
		}
		return &manual.Provider{Server: src, Nameservers: c.Nameservers, Logf: logf}, nil
	default:
		open := publicDNSProviders[mode]
		if open == nil {
			return nil, fmt.Errorf("public_dns.mode: %q is not one of %s", c.Mode, strings.Join(PublicDNSModes(), ", "))
		}
		return open(d)
	}
}

// PublicDNSChallengeWriter is the ACME DNS-01 TXT writer over the public
// zone's access (public_dns). The ACME client adds the access of
// certificate.acme.challenge_dns, when configured, to Accesses: a
// _acme-challenge CNAME into that zone is then followed there.
func (d *Deps) PublicDNSChallengeWriter(logf func(format string, args ...any)) (*recordset.ChallengeWriter, error) {
	p, err := d.PublicDNSRecordSet(logf)
	if err != nil {
		return nil, err
	}
	return &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: p, Zone: d.Config.PublicDNS.Zone}}}, nil
}
