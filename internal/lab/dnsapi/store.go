// Package dnsapi is what the lab's fake DNS provider APIs share: a record
// store over the zone a lab DNS server serves (dnsserver.Backend), so that
// what a fake API accepts is what the server then answers, with the rules
// every provider enforces (records parse, stay inside the zone, a CNAME
// stands alone, no identical duplicates) and the SOA serial raised on each
// change. The fakes themselves live in one subpackage per provider.
package dnsapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// Record is one resource record as the store keeps it: an absolute
// canonical name, the type mnemonic, the TTL and the rdata in
// presentation form. ID is derived from the three, so it is stable.
type Record struct {
	ID   string
	Name string
	Type string
	TTL  uint32
	Data string
}

// The store's refusals; each fake turns them into its provider's error body.
var (
	ErrNotFound  = errors.New("record not found")
	ErrDuplicate = errors.New("an identical record already exists")
	ErrCNAME     = errors.New("a CNAME cannot share its name with other records")
	ErrInvalid   = errors.New("invalid record")
)

// Store reads and writes the records of one zone.
type Store struct {
	Backend dnsserver.Backend
}

// ID derives a record's identifier (32 hex digits) from its contents.
func ID(name, typ, data string) string {
	h := sha256.Sum256([]byte(dns.CanonicalName(name) + "\x00" + strings.ToUpper(typ) + "\x00" + data))
	return hex.EncodeToString(h[:16])
}

// ZoneName is the zone's canonical name.
func (s *Store) ZoneName() (string, error) {
	z, err := s.Backend.Zone()
	if err != nil {
		return "", err
	}
	return dns.CanonicalName(z.Name), nil
}

// List returns every record below the apex SOA and NS, in a stable order.
func (s *Store) List() ([]Record, error) {
	z, err := s.Backend.Zone()
	if err != nil {
		return nil, err
	}
	return records(z), nil
}

func records(z org.Zone) []Record {
	out := make([]Record, 0, len(z.Records))
	for _, r := range z.Records {
		n := dns.CanonicalName(r.Name)
		out = append(out, Record{ID: ID(n, r.Type, r.Data), Name: n, Type: strings.ToUpper(r.Type), TTL: r.TTL, Data: r.Data})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].Data < out[j].Data
	})
	return out
}

// Parse checks one record and returns it canonical: the data reparsed
// into presentation form, the name absolute and inside zone.
func Parse(zone string, r Record) (Record, error) {
	zone = dns.CanonicalName(zone)
	name := dns.CanonicalName(r.Name)
	if !dns.IsSubDomain(zone, name) {
		return Record{}, fmt.Errorf("%w: name %s is outside zone %s", ErrInvalid, r.Name, zone)
	}
	t, ok := dns.StringToType[strings.ToUpper(r.Type)]
	if !ok || t == dns.TypeSOA || t == dns.TypeANY {
		return Record{}, fmt.Errorf("%w: type %q is not supported", ErrInvalid, r.Type)
	}
	if strings.ContainsAny(r.Data, "\r\n") || strings.TrimSpace(r.Data) == "" {
		return Record{}, fmt.Errorf("%w: content of %s %s is empty or has a line break", ErrInvalid, name, r.Type)
	}
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", name, r.TTL, dns.TypeToString[t], r.Data))
	if err != nil || rr == nil || rr.Header().Rrtype != t {
		return Record{}, fmt.Errorf("%w: content %q is not valid for type %s", ErrInvalid, r.Data, dns.TypeToString[t])
	}
	data := strings.TrimPrefix(rr.String(), rr.Header().String())
	return Record{ID: ID(name, dns.TypeToString[t], data), Name: name, Type: dns.TypeToString[t], TTL: r.TTL, Data: data}, nil
}

// Change runs fn on the zone's records under the backend's lock and, when
// fn changed anything, stores them with the SOA serial raised by one.
func (s *Store) Change(fn func(zone string, recs []Record) ([]Record, error)) error {
	return s.Backend.UpdateZone(func(z *org.Zone) error {
		before := records(*z)
		after, err := fn(dns.CanonicalName(z.Name), append([]Record(nil), before...))
		if err != nil {
			return err
		}
		if err := checkCNAME(after); err != nil {
			return err
		}
		z.Records = z.Records[:0]
		for _, r := range after {
			z.Records = append(z.Records, org.Record{Name: r.Name, Type: r.Type, TTL: r.TTL, Data: r.Data})
		}
		if !sameRecords(before, records(*z)) {
			z.SOA.Serial++
		}
		return nil
	})
}

func sameRecords(a, b []Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func checkCNAME(recs []Record) error {
	types := map[string]map[string]bool{}
	for _, r := range recs {
		if types[r.Name] == nil {
			types[r.Name] = map[string]bool{}
		}
		types[r.Name][r.Type] = true
	}
	for name, ts := range types {
		if ts["CNAME"] && len(ts) > 1 {
			return fmt.Errorf("%w: %s has a CNAME and other records", ErrCNAME, name)
		}
	}
	return nil
}

// Add stores r, refusing an identical record.
func (s *Store) Add(r Record) (Record, error) {
	var out Record
	err := s.Change(func(zone string, recs []Record) ([]Record, error) {
		c, err := Parse(zone, r)
		if err != nil {
			return nil, err
		}
		for _, x := range recs {
			if x.ID == c.ID {
				return nil, ErrDuplicate
			}
		}
		out = c
		return append(recs, c), nil
	})
	return out, err
}

// Get returns the record with id.
func (s *Store) Get(id string) (Record, error) {
	recs, err := s.List()
	if err != nil {
		return Record{}, err
	}
	for _, r := range recs {
		if r.ID == id {
			return r, nil
		}
	}
	return Record{}, ErrNotFound
}

// Delete removes the record with id.
func (s *Store) Delete(id string) (Record, error) {
	var out Record
	err := s.Change(func(zone string, recs []Record) ([]Record, error) {
		for i, x := range recs {
			if x.ID == id {
				out = x
				return append(recs[:i], recs[i+1:]...), nil
			}
		}
		return nil, ErrNotFound
	})
	return out, err
}

// Replace puts r in the place of the record with id.
func (s *Store) Replace(id string, r Record) (Record, error) {
	var out Record
	err := s.Change(func(zone string, recs []Record) ([]Record, error) {
		c, err := Parse(zone, r)
		if err != nil {
			return nil, err
		}
		for i, x := range recs {
			if x.ID == id {
				for _, y := range recs {
					if y.ID == c.ID && y.ID != id {
						return nil, ErrDuplicate
					}
				}
				recs[i] = c
				out = c
				return recs, nil
			}
		}
		return nil, ErrNotFound
	})
	return out, err
}

// Text is the zone as sorted zone-file lines, the SOA serial left out:
// two zones with equal Text serve the same data.
func Text(z org.Zone) string {
	lines := []string{fmt.Sprintf("%s\t%d\tIN\tSOA\t%s %s (serial) %d %d %d %d", dns.CanonicalName(z.Name), z.SOA.TTL, z.SOA.MName, z.SOA.RName, z.SOA.Refresh, z.SOA.Retry, z.SOA.Expire, z.SOA.Minimum)}
	for _, ns := range z.NS {
		lines = append(lines, fmt.Sprintf("%s\t%d\tIN\tNS\t%s", dns.CanonicalName(z.Name), z.SOA.TTL, dns.CanonicalName(ns)))
	}
	var rest []string
	for _, r := range records(z) {
		rest = append(rest, fmt.Sprintf("%s\t%d\tIN\t%s\t%s", r.Name, r.TTL, r.Type, r.Data))
	}
	sort.Strings(rest)
	return strings.Join(append(lines, rest...), "\n") + "\n"
}

// Redirect is an http.RoundTripper that sends every request for one of
// Hosts to Target (a fake's httptest URL) instead, keeping the path and
// query: how a provider module that hard-codes its API host is pointed at
// a fake in tests.
type Redirect struct {
	Hosts  []string
	Target *url.URL
	Base   http.RoundTripper
}

// RoundTrip rewrites the scheme and host of requests for Hosts.
func (r *Redirect) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, h := range r.Hosts {
		if strings.EqualFold(req.URL.Hostname(), h) {
			req = req.Clone(req.Context())
			req.URL.Scheme, req.URL.Host = r.Target.Scheme, r.Target.Host
			req.Host = r.Target.Host
			break
		}
	}
	base := r.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(req)
}
