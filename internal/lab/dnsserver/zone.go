package dnsserver

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// zone is an org.Zone parsed into resource records. rrs holds every record,
// the SOA and the apex NS records included, in the zone's order.
type zone struct {
	origin string // canonical (lower-case, absolute)
	rrs    []dns.RR
}

// parseZone turns the stored zone into records. The SOA and the apex NS
// records get the SOA's TTL.
func parseZone(z *org.Zone) (*zone, error) {
	origin := dns.CanonicalName(z.Name)
	if _, ok := dns.IsDomainName(origin); !ok || origin == "." && z.Name == "" {
		return nil, fmt.Errorf("dnsserver: zone name %q is not a domain name", z.Name)
	}
	out := &zone{origin: origin}
	out.rrs = append(out.rrs, &dns.SOA{
		Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: z.SOA.TTL},
		Ns:      dns.Fqdn(z.SOA.MName),
		Mbox:    dns.Fqdn(z.SOA.RName),
		Serial:  z.SOA.Serial,
		Refresh: z.SOA.Refresh,
		Retry:   z.SOA.Retry,
		Expire:  z.SOA.Expire,
		Minttl:  z.SOA.Minimum,
	})
	for _, ns := range z.NS {
		out.rrs = append(out.rrs, &dns.NS{Hdr: dns.RR_Header{Name: origin, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: z.SOA.TTL}, Ns: dns.Fqdn(ns)})
	}
	for _, r := range z.Records {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", dns.Fqdn(r.Name), r.TTL, r.Type, r.Data))
		if err != nil {
			return nil, fmt.Errorf("dnsserver: zone %s: record %s %s %q: %w", z.Name, r.Name, r.Type, r.Data, err)
		}
		if rr == nil {
			return nil, fmt.Errorf("dnsserver: zone %s: record %s %s is empty", z.Name, r.Name, r.Type)
		}
		if !dns.IsSubDomain(origin, dns.CanonicalName(rr.Header().Name)) {
			return nil, fmt.Errorf("dnsserver: zone %s: record %s is outside the zone", z.Name, r.Name)
		}
		out.rrs = append(out.rrs, rr)
	}
	return out, nil
}

// store writes the records back into z: the SOA into z.SOA, the apex NS
// records into z.NS and everything else into z.Records.
func (zn *zone) store(z *org.Zone) {
	z.NS = nil
	z.Records = nil
	for _, rr := range zn.rrs {
		h := rr.Header()
		apex := dns.CanonicalName(h.Name) == zn.origin
		switch v := rr.(type) {
		case *dns.SOA:
			if apex {
				z.SOA = org.SOA{MName: v.Ns, RName: v.Mbox, Serial: v.Serial, Refresh: v.Refresh, Retry: v.Retry, Expire: v.Expire, Minimum: v.Minttl, TTL: h.Ttl}
				continue
			}
		case *dns.NS:
			if apex {
				z.NS = append(z.NS, v.Ns)
				continue
			}
		}
		z.Records = append(z.Records, org.Record{
			Name: h.Name,
			Type: dns.TypeToString[h.Rrtype],
			TTL:  h.Ttl,
			Data: strings.TrimPrefix(rr.String(), h.String()),
		})
	}
}

func (zn *zone) soa() *dns.SOA { return zn.rrs[0].(*dns.SOA) }

// contains reports whether name is at or below the zone's origin.
func (zn *zone) contains(name string) bool {
	return dns.IsSubDomain(zn.origin, dns.CanonicalName(name))
}

// at returns the records owned by name, of type t (dns.TypeANY: all).
func (zn *zone) at(name string, t uint16) []dns.RR {
	name = dns.CanonicalName(name)
	var out []dns.RR
	for _, rr := range zn.rrs {
		h := rr.Header()
		if dns.CanonicalName(h.Name) == name && (t == dns.TypeANY || h.Rrtype == t) {
			out = append(out, rr)
		}
	}
	return out
}

// nameInUse reports whether any record is owned by name.
func (zn *zone) nameInUse(name string) bool { return len(zn.at(name, dns.TypeANY)) > 0 }

// emptyNonTerminal reports whether name owns nothing but has descendants.
func (zn *zone) emptyNonTerminal(name string) bool {
	name = dns.CanonicalName(name)
	for _, rr := range zn.rrs {
		n := dns.CanonicalName(rr.Header().Name)
		if n != name && dns.IsSubDomain(name, n) {
			return true
		}
	}
	return false
}

// negativeSOA is the SOA for the authority section of a negative answer,
// its TTL the smaller of the SOA's own TTL and its MINIMUM (RFC 2308).
func (zn *zone) negativeSOA() dns.RR {
	s := dns.Copy(zn.soa()).(*dns.SOA)
	if s.Minttl < s.Hdr.Ttl {
		s.Hdr.Ttl = s.Minttl
	}
	return s
}
