package acme

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
)

// TXTRecord is one DNS-01 challenge record: the TXT value the CA expects
// at _acme-challenge.<name>.
type TXTRecord struct {
	// FQDN is the owner, "_acme-challenge.outlook.contoso.com.".
	FQDN string `json:"fqdn"`
	// Value is the record's text (the base64url digest, no quotes).
	Value string `json:"value"`
}

// String is the record as a zone-file line (TTL aside).
func (r TXTRecord) String() string { return fmt.Sprintf("%s IN TXT %q", r.FQDN, r.Value) }

// ChallengeFQDN is the owner of the DNS-01 record for name ("*." of a
// wildcard dropped, RFC 8555 8.4).
func ChallengeFQDN(name string) string {
	return dns.CanonicalName("_acme-challenge." + strings.TrimPrefix(strings.TrimSuffix(name, "."), "*.") + ".")
}

// TXTWriter writes and removes DNS-01 challenge records. Present adds the
// value at fqdn (leaving other values there); CleanUp removes exactly
// that value. Both are idempotent. A DNS provider backend implements it
// as well as the RFC 2136 writer here.
type TXTWriter interface {
	Present(ctx context.Context, fqdn, value string) error
	CleanUp(ctx context.Context, fqdn, value string) error
}

// Propagation says whether every authoritative nameserver serves records.
type Propagation interface {
	// Check returns ok when every record is served by every
	// authoritative nameserver; otherwise detail says who lags. err is
	// for a check that could not be made at all.
	Check(ctx context.Context, recs []TXTRecord) (ok bool, detail string, err error)
}

// ChallengeTTL is the TTL of the challenge records.
const ChallengeTTL = 60

// quoteTXT is a TXT value in presentation form.
func quoteTXT(v string) string { return `"` + v + `"` }

// checkValue refuses a value that could change the record it ends up in;
// DNS-01 values are base64url digests.
func checkValue(v string) error {
	if v == "" || len(v) > 255 {
		return fmt.Errorf("TXT value of %d characters: expected a DNS-01 digest (1 to 255 characters)", len(v))
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("TXT value %q: character %q is not base64url", v, r)
		}
	}
	return nil
}

// RFC2136 writes the challenge records with TSIG-signed RFC 2136 UPDATEs
// through internal/dnsupdate (public_dns.mode rfc2136).
type RFC2136 struct {
	Client *dnsupdate.Client
	// TTL of the records (default ChallengeTTL).
	TTL uint32
}

func (w RFC2136) set(fqdn, value string) (dnsupdate.RRset, error) {
	if err := checkValue(value); err != nil {
		return dnsupdate.RRset{}, err
	}
	name, err := dnsupdate.CheckName(strings.TrimPrefix(fqdn, "_acme-challenge."), w.Client.Zone)
	if err != nil {
		return dnsupdate.RRset{}, fmt.Errorf("challenge record %s: %w (public_dns.zone)", fqdn, err)
	}
	ttl := w.TTL
	if ttl == 0 {
		ttl = ChallengeTTL
	}
	return dnsupdate.RRset{Name: "_acme-challenge." + name, Type: dns.TypeTXT, TTL: ttl, Data: []string{quoteTXT(value)}}, nil
}

// Present adds the TXT record (an UPDATE adding a record that exists
// changes nothing).
func (w RFC2136) Present(ctx context.Context, fqdn, value string) error {
	s, err := w.set(fqdn, value)
	if err != nil {
		return err
	}
	if err := w.Client.Update(ctx, dnsupdate.Update{Add: []dnsupdate.RRset{s}}); err != nil {
		return fmt.Errorf("writing the challenge record %s: %w", s.Lines()[0], err)
	}
	return nil
}

// CleanUp removes exactly the TXT record.
func (w RFC2136) CleanUp(ctx context.Context, fqdn, value string) error {
	s, err := w.set(fqdn, value)
	if err != nil {
		return err
	}
	if err := w.Client.RemoveRecords(ctx, []dnsupdate.RRset{s}); err != nil {
		return fmt.Errorf("removing the challenge record %s: %w", s.Lines()[0], err)
	}
	return nil
}

// Manual prints the records for an operator to add to the zone by hand
// (public_dns.mode manual) and to remove afterwards; Propagation then
// waits until every authoritative nameserver serves them.
type Manual struct {
	Logf func(format string, args ...any)
	TTL  uint32
}

func (m Manual) ttl() uint32 {
	if m.TTL == 0 {
		return ChallengeTTL
	}
	return m.TTL
}

// Present prints the line to add.
func (m Manual) Present(_ context.Context, fqdn, value string) error {
	if err := checkValue(value); err != nil {
		return err
	}
	m.Logf("public_dns.mode is manual: add this record to the zone and reload it:   %s\t%d\tIN\tTXT\t%s", dns.CanonicalName(fqdn), m.ttl(), quoteTXT(value))
	return nil
}

// CleanUp prints the line to remove.
func (m Manual) CleanUp(_ context.Context, fqdn, value string) error {
	m.Logf("public_dns.mode is manual: the challenge is over; remove this record from the zone:   %s\t%d\tIN\tTXT\t%s", dns.CanonicalName(fqdn), m.ttl(), quoteTXT(value))
	return nil
}

// ZonePropagation checks the records on every authoritative nameserver
// of the zone with dnsupdate's Verify: the primary (Client.Server) must
// hold every value, and every nameserver (Nameservers, or the zone's NS
// records) must answer authoritatively with exactly what the primary
// holds for each name, at the newest SOA serial.
type ZonePropagation struct {
	Client      *dnsupdate.Client
	Nameservers []string
}

// Check implements Propagation.
func (z ZonePropagation) Check(ctx context.Context, recs []TXTRecord) (bool, string, error) {
	byName := map[string][]string{}
	for _, r := range recs {
		n := dns.CanonicalName(r.FQDN)
		byName[n] = append(byName[n], quoteTXT(r.Value))
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var expect []dnsupdate.RRset
	for _, n := range names {
		cur, err := z.Client.Query(ctx, n, dns.TypeTXT)
		if err != nil {
			return false, "", fmt.Errorf("reading %s TXT from %s: %w", n, z.Client.Server, err)
		}
		have := map[string]bool{}
		for _, d := range cur.Data {
			have[d] = true
		}
		var missing []string
		for _, v := range byName[n] {
			if !have[v] {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			return false, fmt.Sprintf("the primary %s does not serve %s TXT %s yet (it serves %s)", z.Client.Server, n, strings.Join(missing, ", "), cur.Values()), nil
		}
		cur.TTL = 0 // any TTL
		expect = append(expect, cur)
	}
	rep := z.Client.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: z.Nameservers, Expect: expect})
	if rep.Err != "" {
		return false, "", fmt.Errorf("verifying the challenge records: %s", rep.Err)
	}
	if !rep.OK() {
		return false, rep.Summary(), nil
	}
	return true, rep.Summary(), nil
}
