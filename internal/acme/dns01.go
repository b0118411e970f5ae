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
// that value. Both are idempotent. RecordSetDNS implements it over the
// record-set providers (RFC 2136, manual, a provider's API).
type TXTWriter interface {
	Present(ctx context.Context, fqdn, value string) error
	CleanUp(ctx context.Context, fqdn, value string) error
}

// BatchWriter is a TXTWriter that writes and removes several records at
// once (RecordSetDNS: in manual mode, every record is printed before the
// wait). Errors name each record that failed.
type BatchWriter interface {
	TXTWriter
	PresentAll(ctx context.Context, recs []TXTRecord) error
	CleanUpAll(ctx context.Context, recs []TXTRecord) error
}

// Propagation says whether every authoritative nameserver serves records.
type Propagation interface {
	// Check returns ok when every record is served by every
	// authoritative nameserver; otherwise detail says who lags. err is
	// for a check that could not be made at all.
	Check(ctx context.Context, recs []TXTRecord) (ok bool, detail string, err error)
}

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
