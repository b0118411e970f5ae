// Package dnsupdate changes and verifies a public DNS zone: an RFC 2136
// UPDATE client signed with TSIG (miekg/dns), the record building that turns
// validated configuration into exactly the intended records, the
// prerequisite-guarded swap the public-dns step applies (and its reverse),
// and the verification that every authoritative nameserver answers
// authoritatively with the expected data and the same SOA serial.
package dnsupdate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// RRset is every record of one name and type, as presentation text.
type RRset struct {
	// Name is the owner name, fully qualified and lower case.
	Name string `json:"name"`
	// Type is the RR type (dns.TypeA, ...).
	Type uint16 `json:"type"`
	// TTL is the RRset's TTL (0 when the RRset does not exist).
	TTL uint32 `json:"ttl"`
	// Data is the rdata of each record in presentation form, sorted. No
	// Data means the RRset does not exist.
	Data []string `json:"data,omitempty"`
}

// Key identifies an RRset: owner name and type.
type Key struct {
	Name string
	Type uint16
}

// String is "name TYPE".
func (k Key) String() string { return k.Name + " " + dns.TypeToString[k.Type] }

// Key returns the RRset's key (with its name canonicalised).
func (s RRset) Key() Key { return Key{Name: dns.CanonicalName(s.Name), Type: s.Type} }

// Exists reports whether the RRset has records.
func (s RRset) Exists() bool { return len(s.Data) > 0 }

// TypeString is the RRset's type mnemonic, e.g. "A".
func (s RRset) TypeString() string { return typeString(s.Type) }

func typeString(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", t)
}

// String describes the RRset on one line: "name TYPE [a, b] (TTL n)" or
// "name TYPE (none)".
func (s RRset) String() string {
	if !s.Exists() {
		return fmt.Sprintf("%s %s (none)", s.Name, s.TypeString())
	}
	return fmt.Sprintf("%s %s %s (TTL %d)", s.Name, s.TypeString(), strings.Join(s.Data, ", "), s.TTL)
}

// Values is the data as one string for plan output: "a, b" or "(none)".
func (s RRset) Values() string {
	if !s.Exists() {
		return "(none)"
	}
	return strings.Join(s.Data, ", ")
}

// Lines returns the RRset as zone-file lines, "name<TAB>ttl<TAB>IN<TAB>TYPE<TAB>rdata".
func (s RRset) Lines() []string {
	out := make([]string, 0, len(s.Data))
	for _, d := range s.Data {
		out = append(out, fmt.Sprintf("%s\t%d\tIN\t%s\t%s", s.Name, s.TTL, s.TypeString(), d))
	}
	return out
}

// normalize returns a copy with a canonical name and sorted, de-duplicated data.
func (s RRset) normalize() RRset {
	n := RRset{Name: dns.CanonicalName(s.Name), Type: s.Type, TTL: s.TTL}
	seen := map[string]bool{}
	for _, d := range s.Data {
		k := dataKey(s.Type, d)
		if seen[k] {
			continue
		}
		seen[k] = true
		n.Data = append(n.Data, d)
	}
	sort.Strings(n.Data)
	if len(n.Data) == 0 {
		n.TTL = 0
	}
	return n
}

// dataKey is the comparison form of one rdata: domain names in rdata
// compare case-insensitively, so the text is lower-cased for the types
// whose rdata are names or numbers; TXT keeps its case.
func dataKey(t uint16, d string) string {
	d = strings.Join(strings.Fields(d), " ")
	if t == dns.TypeTXT {
		return d
	}
	return strings.ToLower(d)
}

// SameData reports whether a and b hold the same records (TTL aside).
func SameData(a, b RRset) bool {
	if a.Key() != b.Key() {
		return false
	}
	ka, kb := dataKeys(a), dataKeys(b)
	if len(ka) != len(kb) {
		return false
	}
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}

// Same reports whether a and b hold the same records with the same TTL
// (the TTL of two absent RRsets is not compared).
func Same(a, b RRset) bool {
	return SameData(a, b) && (!a.Exists() || a.TTL == b.TTL)
}

func dataKeys(s RRset) []string {
	out := make([]string, 0, len(s.Data))
	for _, d := range s.Data {
		out = append(out, dataKey(s.Type, d))
	}
	sort.Strings(out)
	w := 0
	for i, k := range out {
		if i == 0 || k != out[w-1] {
			out[w] = k
			w++
		}
	}
	return out[:w]
}

// toRRs turns the RRset into miekg/dns records (class IN). It fails when
// a datum does not parse as exactly one record of the RRset's name and type.
func (s RRset) toRRs() ([]dns.RR, error) {
	out := make([]dns.RR, 0, len(s.Data))
	for _, d := range s.Data {
		rr, err := parseOne(fmt.Sprintf("%s %d IN %s %s", dns.Fqdn(s.Name), s.TTL, s.TypeString(), d))
		if err != nil {
			return nil, fmt.Errorf("record %s %s %q: %v", s.Name, s.TypeString(), d, err)
		}
		if !strings.EqualFold(rr.Header().Name, dns.Fqdn(s.Name)) || rr.Header().Rrtype != s.Type {
			return nil, fmt.Errorf("record %s %s %q parses as %s", s.Name, s.TypeString(), d, rr.String())
		}
		out = append(out, rr)
	}
	return out, nil
}

// parseOne parses exactly one resource record from a zone-file line.
func parseOne(line string) (dns.RR, error) {
	if strings.ContainsAny(line, "\n\r") {
		return nil, fmt.Errorf("line break in record")
	}
	zp := dns.NewZoneParser(strings.NewReader(line), ".", "")
	zp.SetIncludeAllowed(false)
	rr, ok := zp.Next()
	if !ok {
		if err := zp.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("no record")
	}
	if _, more := zp.Next(); more {
		return nil, fmt.Errorf("more than one record")
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	return rr, nil
}

// rdataText is an RR's rdata in presentation form.
func rdataText(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// fromRRs collects the records of name/type in rrs into an RRset.
func fromRRs(name string, qtype uint16, rrs []dns.RR) RRset {
	s := RRset{Name: dns.CanonicalName(name), Type: qtype}
	for _, rr := range rrs {
		h := rr.Header()
		if h.Rrtype != qtype || !strings.EqualFold(h.Name, s.Name) {
			continue
		}
		if !s.Exists() || h.Ttl < s.TTL {
			s.TTL = h.Ttl
		}
		s.Data = append(s.Data, rdataText(rr))
	}
	return s.normalize()
}

// index maps RRsets by key (the last one of a key wins).
func index(sets []RRset) map[Key]RRset {
	m := make(map[Key]RRset, len(sets))
	for _, s := range sets {
		m[s.Key()] = s.normalize()
	}
	return m
}

// sortSets orders RRsets by name, then type.
func sortSets(sets []RRset) {
	sort.SliceStable(sets, func(i, j int) bool {
		if sets[i].Name != sets[j].Name {
			return sets[i].Name < sets[j].Name
		}
		return sets[i].Type < sets[j].Type
	})
}
