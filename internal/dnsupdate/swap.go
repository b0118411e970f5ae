package dnsupdate

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// SwapTypes are the RRset types the public-dns step snapshots for the
// internal and the external name.
var SwapTypes = []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME}

// SwapPlan computes the public-dns step's UPDATE and its reverse from the
// snapshot of the public zone (the A, AAAA and CNAME RRsets of both names,
// as Client.Snapshot reads them):
//
//   - forward adds "<external> A <publicIP>" with ttl, replacing any other
//     A or CNAME RRset of the external name (its AAAA stays), and deletes
//     the internal name's public A, AAAA and CNAME RRsets;
//   - its prerequisites are the snapshot, value for value, so a record
//     someone changed since is never overwritten;
//   - reverse restores the snapshot's RRsets with their old TTLs, under
//     prerequisites equal to the state forward leaves.
//
// When the zone already is as desired, forward is Empty.
func SwapPlan(snapshot []RRset, zone, external, internal, publicIP string, ttl int64) (forward, reverse Update, err error) {
	want, err := ARecord(zone, external, publicIP, ttl)
	if err != nil {
		return Update{}, Update{}, fmt.Errorf("external name: %w", err)
	}
	in, err := CheckName(internal, zone)
	if err != nil {
		return Update{}, Update{}, fmt.Errorf("internal name: %w", err)
	}
	ext := want.Name
	if in == ext {
		return Update{}, Update{}, fmt.Errorf("the internal and the external name are both %s: they must differ", in)
	}
	snap := index(snapshot)
	get := func(name string, t uint16) (RRset, error) {
		s, ok := snap[Key{Name: name, Type: t}]
		if !ok {
			return RRset{}, fmt.Errorf("the snapshot lacks %s %s: capture it again", name, typeString(t))
		}
		return s, nil
	}
	var before, after []RRset
	for _, name := range []string{in, ext} {
		for _, t := range SwapTypes {
			s, err := get(name, t)
			if err != nil {
				return Update{}, Update{}, err
			}
			before = append(before, s)
		}
	}
	for _, s := range before {
		switch {
		case s.Name == in:
			if s.Exists() {
				forward.Delete = append(forward.Delete, s)
				reverse.Add = append(reverse.Add, s)
			}
			after = append(after, RRset{Name: s.Name, Type: s.Type})
		case s.Type == dns.TypeCNAME:
			if s.Exists() {
				forward.Delete = append(forward.Delete, s)
				reverse.Add = append(reverse.Add, s)
			}
			after = append(after, RRset{Name: s.Name, Type: s.Type})
		case s.Type == dns.TypeA:
			if !Same(s, want) {
				if s.Exists() {
					forward.Delete = append(forward.Delete, s)
					reverse.Add = append(reverse.Add, s)
				}
				forward.Add = append(forward.Add, want)
				reverse.Delete = append(reverse.Delete, want)
			}
			after = append(after, want)
		default:
			after = append(after, s)
		}
	}
	forward.Prereq = before
	reverse.Prereq = after
	return forward, reverse, nil
}

// ZoneFileLines returns the zone-file lines an UPDATE removes and adds,
// for a zone kept by hand (public_dns.mode: manual). A deletion whose
// records are not known is shown as a comment naming the RRset.
func ZoneFileLines(u Update) (remove, add []string) {
	for _, d := range u.Delete {
		if d.Exists() {
			remove = append(remove, d.normalize().Lines()...)
		} else {
			remove = append(remove, fmt.Sprintf("; every %s record of %s", d.TypeString(), dns.CanonicalName(d.Name)))
		}
	}
	for _, a := range u.Add {
		add = append(add, a.normalize().Lines()...)
	}
	return remove, add
}

// Diff is one RRset an UPDATE changes: its value before and after.
type Diff struct {
	From RRset `json:"from"`
	To   RRset `json:"to"`
}

// Diffs lists the RRsets the update changes (before → after, sorted by
// name and type), for a plan. RRsets it leaves as they are are omitted.
// It needs the update's prerequisites to know the "before" side: ok is
// false when the result of the update is not known (see Expected).
func (u Update) Diffs() (diffs []Diff, ok bool) {
	after, ok := u.Expected()
	if !ok {
		return nil, false
	}
	before := index(u.Prereq)
	for _, a := range after {
		b, known := before[a.Key()]
		if !known {
			b = RRset{Name: a.Name, Type: a.Type}
		}
		if !Same(b, a) {
			diffs = append(diffs, Diff{From: b, To: a})
		}
	}
	return diffs, true
}

// MaxDeletedTTL is the largest TTL of the RRsets the update deletes: how
// long resolvers may still serve the old data after it applied.
func (u Update) MaxDeletedTTL() uint32 {
	var m uint32
	for _, d := range u.Delete {
		if d.TTL > m {
			m = d.TTL
		}
	}
	return m
}

// NegativeTTL is how long resolvers may cache "no such record" for the
// zone (RFC 2308: the smaller of the SOA's TTL and its MINIMUM field), as
// served by the primary. A name that did not exist before the swap may be
// cached as absent that long.
func (c *Client) NegativeTTL(ctx context.Context) (uint32, error) {
	soa, err := c.Query(ctx, c.zone(), dns.TypeSOA)
	if err != nil {
		return 0, err
	}
	if !soa.Exists() {
		return 0, fmt.Errorf("the primary %s has no SOA for %s", c.server(), c.zone())
	}
	f := strings.Fields(soa.Data[0])
	if len(f) != 7 {
		return 0, fmt.Errorf("unexpected SOA %q", soa.Data[0])
	}
	minimum, err := strconv.ParseUint(f[6], 10, 32)
	if err != nil {
		return 0, fmt.Errorf("unexpected SOA %q", soa.Data[0])
	}
	return min(soa.TTL, uint32(minimum)), nil
}
