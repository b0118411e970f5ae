package clients

import (
	"fmt"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/azure"
	"github.com/exrunbook/exrunbook/internal/recordset/cloudflare"
	"github.com/exrunbook/exrunbook/internal/recordset/hetzner"
	"github.com/exrunbook/exrunbook/internal/recordset/ionos"
	"github.com/exrunbook/exrunbook/internal/recordset/manual"
	"github.com/exrunbook/exrunbook/internal/recordset/rfc2136"
	"github.com/exrunbook/exrunbook/internal/recordset/route53"
)

// The DNS modes that are not a provider's API.
const (
	DNSModeRFC2136 = "rfc2136"
	DNSModeManual  = "manual"
)

// dnsAPIs opens the record-set provider of each mode that writes through
// a provider's HTTP API, with the settings of the block k names
// (public_dns or certificate.acme.challenge_dns) and its credential (and
// where that can be set, for the provider's messages). Each provider lives
// in its own package under internal/recordset.
var dnsAPIs = map[string]func(f *Factory, k config.DNSAccessKey, credential, setting string) (recordset.Provider, error){
	"azure": func(f *Factory, k config.DNSAccessKey, secret, setting string) (recordset.Provider, error) {
		a := f.cfg.DNSAccess(k).Azure
		return azure.New(azure.Options{TenantID: a.TenantID, ClientID: a.ClientID, ClientSecret: secret,
			SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup,
			Key: string(k), SecretSetting: setting, Transport: f.opts.DNSAPITransport})
	},
	"cloudflare": func(f *Factory, _ config.DNSAccessKey, token, setting string) (recordset.Provider, error) {
		return cloudflare.New(apiretry.Access{Secret: token, Setting: setting, Transport: f.opts.DNSAPITransport})
	},
	"hetzner": func(f *Factory, _ config.DNSAccessKey, token, setting string) (recordset.Provider, error) {
		return hetzner.New(apiretry.Access{Secret: token, Setting: setting, Transport: f.opts.DNSAPITransport})
	},
	"ionos": func(f *Factory, _ config.DNSAccessKey, key, setting string) (recordset.Provider, error) {
		return ionos.New(apiretry.Access{Secret: key, Setting: setting, Transport: f.opts.DNSAPITransport})
	},
	"route53": func(f *Factory, k config.DNSAccessKey, secret, setting string) (recordset.Provider, error) {
		r := f.cfg.DNSAccess(k).Route53
		return route53.New(route53.Options{AccessKeyID: r.AccessKeyID, SecretAccessKey: secret, HostedZoneID: r.HostedZoneID, KeySetting: setting})
	},
}

// DNSModes lists every DNS mode a record-set provider can be opened for:
// rfc2136, manual, then the providers' APIs, sorted.
func DNSModes() []string {
	out := []string{DNSModeRFC2136, DNSModeManual}
	var api []string
	for m := range dnsAPIs {
		api = append(api, m)
	}
	sort.Strings(api)
	return append(out, api...)
}

// IsDNSAPI reports whether mode (lower case) writes through a provider's API.
func IsDNSAPI(mode string) bool { return dnsAPIs[mode] != nil }

// PublicDNSUpdate returns the RFC 2136 client for public_dns.
func (f *Factory) PublicDNSUpdate() (*dnsupdate.Client, error) {
	return f.DNSUpdate(config.PublicDNSKey)
}

// DNSUpdate returns the RFC 2136 client for the block k names, signed
// with its TSIG key.
func (f *Factory) DNSUpdate(k config.DNSAccessKey) (*dnsupdate.Client, error) {
	c := f.cfg.DNSAccess(k)
	secret, err := f.Secrets().DNSAccessTSIGSecret(k)
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

// PublicDNSRecordSet opens the record-set provider of public_dns.mode:
// RFC 2136 with the TSIG key, manual (reads from public_dns.server or the
// first nameserver; logf prints what to change by hand), or a provider's
// API with its token.
func (f *Factory) PublicDNSRecordSet(logf func(format string, args ...any)) (recordset.Provider, error) {
	return f.DNSRecordSet(config.PublicDNSKey, logf)
}

// DNSRecordSet opens the record-set provider of the block k names
// (public_dns or certificate.acme.challenge_dns), in its mode.
func (f *Factory) DNSRecordSet(k config.DNSAccessKey, logf func(format string, args ...any)) (recordset.Provider, error) {
	c := f.cfg.DNSAccess(k)
	switch mode := strings.ToLower(c.Mode); mode {
	case DNSModeRFC2136, "":
		dc, err := f.DNSUpdate(k)
		if err != nil {
			return nil, err
		}
		return rfc2136.New(*dc), nil
	case DNSModeManual:
		src, err := DNSReadServer(k, c)
		if err != nil {
			return nil, err
		}
		return &manual.Provider{Server: src, Nameservers: c.Nameservers, Logf: logf}, nil
	default:
		open := dnsAPIs[mode]
		if open == nil {
			return nil, fmt.Errorf("%s.mode: %q is not one of %s", k, c.Mode, strings.Join(DNSModes(), ", "))
		}
		credential, setting, err := f.Secrets().DNSAccessToken(k)
		if err != nil {
			return nil, err
		}
		return open(f, k, credential, setting)
	}
}

// DNSReadServer is where the records of block k's zone are read: its
// server, or else its first nameserver.
func DNSReadServer(k config.DNSAccessKey, c config.DNSAccess) (string, error) {
	if c.Server != "" {
		return c.Server, nil
	}
	if len(c.Nameservers) > 0 {
		return c.Nameservers[0], nil
	}
	return "", fmt.Errorf("%s.server: missing; mode %s reads the zone from it (or from %s.nameservers)", k, c.Mode, k)
}

// ChallengeWriter is the ACME DNS-01 TXT writer over the public zone's
// access (public_dns), and over certificate.acme.challenge_dns's when it
// is configured: a _acme-challenge CNAME into that zone is then followed
// there.
func (f *Factory) ChallengeWriter(logf func(format string, args ...any)) (*recordset.ChallengeWriter, error) {
	p, err := f.PublicDNSRecordSet(logf)
	if err != nil {
		return nil, err
	}
	w := &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: p, Zone: f.cfg.PublicDNS.Zone}}}
	if cd := f.cfg.DNSAccess(config.ChallengeDNSKey); cd.Configured() {
		cp, err := f.DNSRecordSet(config.ChallengeDNSKey, logf)
		if err != nil {
			return nil, err
		}
		w.Accesses = append(w.Accesses, recordset.Access{Provider: cp, Zone: cd.Zone})
	}
	return w, nil
}
