// Package recordset is the one interface through which exrunbook reads and
// writes the RRsets of a name in a DNS zone, whoever serves the zone: an
// RFC 2136 primary, a person editing a zone file, or a provider's HTTP API.
// It is shaped like github.com/libdns/libdns (get, set, append, delete, the
// zone named in every call) but speaks whole RRsets in presentation form
// (dnsupdate.RRset), which is what the public-dns step snapshots and what
// the verification on every authoritative server compares.
//
// The implementations live in subpackages, one per backend, so that a
// package that needs one provider does not pull the others' SDKs.
package recordset

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
)

// RRset is every record of one name and type (see dnsupdate.RRset): a
// canonical owner name, the type, the TTL and the rdata in presentation
// form. An RRset without Data does not exist.
type RRset = dnsupdate.RRset

// Provider reads and changes RRsets in the zones its credentials reach.
// zone is fully qualified ("contoso.com."); names are absolute and inside
// zone. An implementation returns errors in the backend's own words and
// marks the ones worth retrying with errkind.Transient.
type Provider interface {
	// GetRRsets returns, in the order of types, the RRset of name for each
	// type; a type without records gives an RRset without Data.
	GetRRsets(ctx context.Context, zone, name string, types ...uint16) ([]RRset, error)
	// SetRRset makes set the whole RRset of its name and type: records not
	// in set are removed, missing ones added, the TTL set. set must have
	// Data (use DeleteRecords to remove an RRset).
	SetRRset(ctx context.Context, zone string, set RRset) error
	// AppendRecords adds set's records to the RRset of its name and type,
	// keeping the others (for a TXT challenge beside another).
	AppendRecords(ctx context.Context, zone string, set RRset) error
	// DeleteRecords removes set's records from the RRset of its name and
	// type; a set without Data removes the whole RRset. Removing what is
	// not there is not an error.
	DeleteRecords(ctx context.Context, zone string, set RRset) error
}

// Atomic is a Provider that can apply one change all at once under
// prerequisites (RFC 2136): the public-dns step then needs no ordering of
// its writes, and a record changed behind its back makes the whole update
// fail without changing anything.
type Atomic interface {
	Provider
	// Apply sends u as one update to zone; a failed prerequisite is a
	// *dnsupdate.ConflictError.
	Apply(ctx context.Context, zone string, u dnsupdate.Update) error
}

// Canonical builds an RRset from records as a backend stores them: each
// datum is parsed as a record of name and rrtype and kept in miekg/dns's
// presentation form, so that "target.example.com" and
// "target.example.com." or an unquoted and a quoted TXT value compare as
// the DNS serves them. The lowest TTL wins, as a resolver would see it.
func Canonical(name string, rrtype uint16, ttl uint32, data ...string) (RRset, error) {
	name = dns.CanonicalName(name)
	out := RRset{Name: name, Type: rrtype}
	tname := dns.TypeToString[rrtype]
	if tname == "" {
		return RRset{}, fmt.Errorf("record %s: unknown type %d", name, rrtype)
	}
	for _, d := range data {
		if strings.ContainsAny(d, "\r\n") {
			return RRset{}, fmt.Errorf("record %s %s %q: line break in the data", name, tname, d)
		}
		if rrtype == dns.TypeTXT && !strings.HasPrefix(strings.TrimSpace(d), `"`) {
			d = strqQuote(d)
		}
		if needsDot(rrtype) && !strings.HasSuffix(d, ".") {
			d += "."
		}
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, ttl, tname, d))
		if err != nil || rr == nil {
			return RRset{}, fmt.Errorf("record %s %s %q does not parse: %v", name, tname, d, err)
		}
		if rr.Header().Rrtype != rrtype {
			return RRset{}, fmt.Errorf("record %s %s %q parses as %s", name, tname, d, rr)
		}
		out.Data = append(out.Data, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	if len(out.Data) > 0 {
		out.TTL = ttl
	}
	return Normalize(out), nil
}

// Normalize returns s with a canonical name and its data sorted and
// de-duplicated; an RRset without data has TTL 0.
func Normalize(s RRset) RRset {
	n := RRset{Name: dns.CanonicalName(s.Name), Type: s.Type, TTL: s.TTL}
	seen := map[string]bool{}
	for _, d := range s.Data {
		if seen[d] {
			continue
		}
		seen[d] = true
		n.Data = append(n.Data, d)
	}
	sort.Strings(n.Data)
	if len(n.Data) == 0 {
		n.TTL = 0
	}
	return n
}

// needsDot: the types whose data is one domain name, which an API may
// store without the final dot.
func needsDot(t uint16) bool {
	switch t {
	case dns.TypeCNAME, dns.TypeNS, dns.TypePTR:
		return true
	}
	return false
}

// strqQuote quotes an unquoted TXT value the way a zone file needs it.
func strqQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// Diff names how cur differs from want, for an error: "name TYPE: expected
// X, found Y".
func Diff(want, cur RRset) string {
	return fmt.Sprintf("%s %s: expected %s, found %s", want.Name, want.TypeString(), describe(want), describe(cur))
}

func describe(s RRset) string {
	if !s.Exists() {
		return "(none)"
	}
	return fmt.Sprintf("%s (TTL %d)", s.Values(), s.TTL)
}

// InZone checks that name lies at or below zone and returns both canonical.
func InZone(zone, name string) (string, string, error) {
	z, n := dns.CanonicalName(zone), dns.CanonicalName(name)
	if !dns.IsSubDomain(z, n) {
		return "", "", fmt.Errorf("name %s is outside zone %s", n, z)
	}
	return z, n, nil
}
