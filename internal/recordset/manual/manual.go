// Package manual is the record-set provider for a zone that a person
// edits: each change is printed as the zone-file lines to remove and add,
// then the provider waits until every authoritative nameserver serves the
// result. Reads go to a nameserver of the zone, unsigned.
package manual

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/pause"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

// Provider prints changes and verifies them.
type Provider struct {
	// Server is the nameserver reads go to (host:port): the primary, or
	// any authoritative server of the zone.
	Server string
	// Nameservers are verified after each change; empty: the zone's NS
	// records, read from Server.
	Nameservers []string
	// Logf prints the instructions (required).
	Logf func(format string, args ...any)
	// Poll is the wait between two verifications (default 10 s).
	Poll time.Duration
	// Sleep waits d or until ctx ends (default: a timer); tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ recordset.Provider = (*Provider)(nil)

func (p *Provider) client(zone string) *dnsupdate.Client {
	return &dnsupdate.Client{Server: p.Server, Zone: dns.CanonicalName(zone)}
}

// GetRRsets reads each type of name from Server.
func (p *Provider) GetRRsets(ctx context.Context, zone, name string, types ...uint16) ([]recordset.RRset, error) {
	if _, _, err := recordset.InZone(zone, name); err != nil {
		return nil, err
	}
	return p.client(zone).QueryTypes(ctx, name, types...)
}

// SetRRset asks for set to replace the RRset and waits until it is served.
func (p *Provider) SetRRset(ctx context.Context, zone string, set recordset.RRset) error {
	if !set.Exists() {
		return fmt.Errorf("set %s %s: no records (delete the RRset instead)", set.Name, set.TypeString())
	}
	return p.change(ctx, zone, set, func(recordset.RRset) recordset.RRset { return recordset.Normalize(set) })
}

// AppendRecords asks for set's records to be added and waits.
func (p *Provider) AppendRecords(ctx context.Context, zone string, set recordset.RRset) error {
	return p.change(ctx, zone, set, func(cur recordset.RRset) recordset.RRset {
		next := recordset.RRset{Name: set.Name, Type: set.Type, TTL: set.TTL, Data: append(append([]string(nil), cur.Data...), set.Data...)}
		return recordset.Normalize(next)
	})
}

// DeleteRecords asks for set's records (all of the RRset when set has no
// Data) to be removed and waits.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, set recordset.RRset) error {
	return p.change(ctx, zone, set, func(cur recordset.RRset) recordset.RRset {
		if !set.Exists() {
			return recordset.RRset{Name: cur.Name, Type: cur.Type}
		}
		drop := map[string]bool{}
		for _, d := range recordset.Normalize(set).Data {
			drop[d] = true
		}
		next := recordset.RRset{Name: cur.Name, Type: cur.Type, TTL: cur.TTL}
		for _, d := range cur.Data {
			if !drop[d] {
				next.Data = append(next.Data, d)
			}
		}
		return recordset.Normalize(next)
	})
}

// change reads the RRset, prints the lines that turn it into next(cur),
// and polls the nameservers until each serves that.
func (p *Provider) change(ctx context.Context, zone string, set recordset.RRset, next func(recordset.RRset) recordset.RRset) error {
	cur, err := p.GetRRsets(ctx, zone, set.Name, set.Type)
	if err != nil {
		return err
	}
	want := next(cur[0])
	if dnsupdate.Same(want, cur[0]) {
		return nil
	}
	u := dnsupdate.Update{}
	if cur[0].Exists() {
		u.Delete = []dnsupdate.RRset{cur[0]}
	}
	if want.Exists() {
		u.Add = []dnsupdate.RRset{want}
	}
	remove, add := dnsupdate.ZoneFileLines(u)
	p.Logf("change zone %s by hand, raise its serial and reload it:", dns.CanonicalName(zone))
	for _, l := range remove {
		p.Logf("remove: %s", l)
	}
	for _, l := range add {
		p.Logf("add:    %s", l)
	}
	poll := p.Poll
	if poll <= 0 {
		poll = 10 * time.Second
	}
	sleep := p.Sleep
	if sleep == nil {
		sleep = pause.For
	}
	c := p.client(zone)
	for {
		rep := c.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: p.Nameservers, Expect: []dnsupdate.RRset{want}})
		if rep.OK() {
			p.Logf("every nameserver of %s serves %s", dns.CanonicalName(zone), want)
			return nil
		}
		p.Logf("waiting for the change by hand: %s", rep.Summary())
		if err := sleep(ctx, poll); err != nil {
			return fmt.Errorf("waiting for %s to be served by every nameserver of %s: %w (last: %s)", want, dns.CanonicalName(zone), err, rep.Summary())
		}
	}
}
