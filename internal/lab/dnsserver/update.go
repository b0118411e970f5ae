package dnsserver

import (
	"github.com/miekg/dns"
)

// rcodeError carries the RCODE an UPDATE ends with.
type rcodeError int

func (e rcodeError) Error() string { return "dns update: " + dns.RcodeToString[int(e)] }

// checkPrerequisites applies RFC 2136 section 3.2 to the prerequisite
// section against zn and returns the RCODE (dns.RcodeSuccess when every
// prerequisite holds).
func checkPrerequisites(zn *zone, prereq []dns.RR) int {
	type key struct {
		name string
		t    uint16
	}
	temp := map[key][]dns.RR{}
	var order []key
	for _, rr := range prereq {
		h := rr.Header()
		if h.Ttl != 0 {
			return dns.RcodeFormatError
		}
		if !zn.contains(h.Name) {
			return dns.RcodeNotZone
		}
		switch h.Class {
		case dns.ClassANY:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError
			}
			if h.Rrtype == dns.TypeANY {
				if !zn.nameInUse(h.Name) {
					return dns.RcodeNameError
				}
			} else if len(zn.at(h.Name, h.Rrtype)) == 0 {
				return dns.RcodeNXRrset
			}
		case dns.ClassNONE:
			if h.Rdlength != 0 {
				return dns.RcodeFormatError
			}
			if h.Rrtype == dns.TypeANY {
				if zn.nameInUse(h.Name) {
					return dns.RcodeYXDomain
				}
			} else if len(zn.at(h.Name, h.Rrtype)) > 0 {
				return dns.RcodeYXRrset
			}
		case dns.ClassINET:
			if h.Rrtype == dns.TypeANY {
				return dns.RcodeFormatError
			}
			k := key{dns.CanonicalName(h.Name), h.Rrtype}
			if _, ok := temp[k]; !ok {
				order = append(order, k)
			}
			temp[k] = append(temp[k], rr)
		default:
			return dns.RcodeFormatError
		}
	}
	// Value-dependent: each RRset in temp must equal the zone's exactly.
	for _, k := range order {
		if !sameRDataSet(temp[k], zn.at(k.name, k.t)) {
			return dns.RcodeNXRrset
		}
	}
	return dns.RcodeSuccess
}

func sameRData(a, b dns.RR) bool {
	a = dns.Copy(a)
	b = dns.Copy(b)
	a.Header().Class, b.Header().Class = dns.ClassINET, dns.ClassINET
	a.Header().Ttl, b.Header().Ttl = 0, 0
	return dns.IsDuplicate(a, b)
}

func sameRDataSet(want, have []dns.RR) bool {
	contains := func(set []dns.RR, rr dns.RR) bool {
		for _, x := range set {
			if sameRData(x, rr) {
				return true
			}
		}
		return false
	}
	for _, rr := range want {
		if !contains(have, rr) {
			return false
		}
	}
	for _, rr := range have {
		if !contains(want, rr) {
			return false
		}
	}
	return true
}

func metaType(t uint16) bool {
	switch t {
	case dns.TypeANY, dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB, dns.TypeOPT, dns.TypeTSIG:
		return true
	}
	return false
}

// prescan applies RFC 2136 section 3.4.1.
func prescan(zn *zone, updates []dns.RR) int {
	for _, rr := range updates {
		h := rr.Header()
		if !zn.contains(h.Name) {
			return dns.RcodeNotZone
		}
		switch h.Class {
		case dns.ClassINET:
			if metaType(h.Rrtype) {
				return dns.RcodeFormatError
			}
		case dns.ClassANY:
			if h.Ttl != 0 || h.Rdlength != 0 || (metaType(h.Rrtype) && h.Rrtype != dns.TypeANY) {
				return dns.RcodeFormatError
			}
		case dns.ClassNONE:
			if h.Ttl != 0 || metaType(h.Rrtype) {
				return dns.RcodeFormatError
			}
		default:
			return dns.RcodeFormatError
		}
	}
	return dns.RcodeSuccess
}

// applyUpdates applies RFC 2136 section 3.4.2 to zn and reports whether the
// zone changed. The SOA serial is not bumped here.
func applyUpdates(zn *zone, updates []dns.RR) bool {
	changed := false
	for _, rr := range updates {
		h := rr.Header()
		name := dns.CanonicalName(h.Name)
		apex := name == zn.origin
		switch h.Class {
		case dns.ClassINET:
			changed = zn.add(rr, apex) || changed
		case dns.ClassANY:
			keep := func(x dns.RR) bool {
				xh := x.Header()
				if dns.CanonicalName(xh.Name) != name {
					return true
				}
				if apex && (xh.Rrtype == dns.TypeSOA || xh.Rrtype == dns.TypeNS) {
					return true
				}
				return h.Rrtype != dns.TypeANY && xh.Rrtype != h.Rrtype
			}
			changed = zn.filter(keep) || changed
		case dns.ClassNONE:
			if h.Rrtype == dns.TypeSOA {
				continue
			}
			if apex && h.Rrtype == dns.TypeNS && len(zn.at(name, dns.TypeNS)) <= 1 {
				continue
			}
			changed = zn.filter(func(x dns.RR) bool { return !sameRData(x, rr) }) || changed
		}
	}
	return changed
}

func (zn *zone) filter(keep func(dns.RR) bool) bool {
	out := zn.rrs[:0:0]
	for _, x := range zn.rrs {
		if keep(x) {
			out = append(out, x)
		}
	}
	changed := len(out) != len(zn.rrs)
	zn.rrs = out
	return changed
}

// add adds one record (RFC 2136 3.4.2.2): CNAME and other data do not mix at
// a name, an SOA replaces the zone's only when its serial is newer, and a
// record with the same RDATA as an existing one replaces it. The RRset takes
// the new record's TTL so that its records agree (RFC 2181 5.2).
func (zn *zone) add(rr dns.RR, apex bool) bool {
	h := rr.Header()
	rr = dns.Copy(rr)
	rr.Header().Class = dns.ClassINET
	existing := zn.at(h.Name, dns.TypeANY)
	if h.Rrtype == dns.TypeSOA {
		if !apex {
			return false
		}
		old := zn.soa()
		n := rr.(*dns.SOA)
		if int32(n.Serial-old.Serial) <= 0 {
			return false
		}
		n.Hdr.Name = zn.origin
		zn.rrs[0] = n
		return true
	}
	for _, x := range existing {
		xt := x.Header().Rrtype
		if h.Rrtype == dns.TypeCNAME && xt != dns.TypeCNAME {
			return false
		}
		if h.Rrtype != dns.TypeCNAME && xt == dns.TypeCNAME {
			return false
		}
	}
	if h.Rrtype == dns.TypeCNAME {
		// A CNAME replaces the CNAME already there.
		zn.filter(func(x dns.RR) bool {
			return !(dns.CanonicalName(x.Header().Name) == dns.CanonicalName(h.Name) && x.Header().Rrtype == dns.TypeCNAME)
		})
		zn.rrs = append(zn.rrs, rr)
		return true
	}
	changed := false
	found := false
	for _, x := range zn.rrs {
		xh := x.Header()
		if dns.CanonicalName(xh.Name) != dns.CanonicalName(h.Name) || xh.Rrtype != h.Rrtype {
			continue
		}
		if xh.Ttl != h.Ttl {
			xh.Ttl = h.Ttl
			changed = true
		}
		if sameRData(x, rr) {
			found = true
		}
	}
	if !found {
		zn.rrs = append(zn.rrs, rr)
		changed = true
	}
	return changed
}
