// Package rfc2136 is the record-set provider for a zone whose primary
// accepts TSIG-signed RFC 2136 UPDATEs: reads go to the primary (no
// recursion, authoritative answers only) and every write is one UPDATE,
// guarded by prerequisites where it depends on what is there.
package rfc2136

import (
	"context"
	"fmt"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

// Provider writes through one primary with one TSIG key. Client.Zone is
// ignored: every call names its zone.
type Provider struct {
	Client dnsupdate.Client
}

var _ recordset.Atomic = (*Provider)(nil)

// New returns the provider for the primary c talks to.
func New(c dnsupdate.Client) *Provider { return &Provider{Client: c} }

func (p *Provider) client(zone string) *dnsupdate.Client {
	c := p.Client
	c.Zone = dns.CanonicalName(zone)
	return &c
}

// GetRRsets reads each type of name from the primary.
func (p *Provider) GetRRsets(ctx context.Context, zone, name string, types ...uint16) ([]recordset.RRset, error) {
	if _, _, err := recordset.InZone(zone, name); err != nil {
		return nil, err
	}
	return p.client(zone).QueryTypes(ctx, name, types...)
}

// SetRRset replaces the RRset in one UPDATE (delete the RRset, add set).
func (p *Provider) SetRRset(ctx context.Context, zone string, set recordset.RRset) error {
	if !set.Exists() {
		return fmt.Errorf("set %s %s: no records (delete the RRset instead)", set.Name, set.TypeString())
	}
	return p.Apply(ctx, zone, dnsupdate.Update{Delete: []dnsupdate.RRset{{Name: set.Name, Type: set.Type}}, Add: []dnsupdate.RRset{set}})
}

// AppendRecords adds set's records in one UPDATE. RFC 2136 gives an
// RRset one TTL: the added records' TTL becomes the RRset's.
func (p *Provider) AppendRecords(ctx context.Context, zone string, set recordset.RRset) error {
	if !set.Exists() {
		return nil
	}
	return p.Apply(ctx, zone, dnsupdate.Update{Add: []dnsupdate.RRset{set}})
}

// DeleteRecords removes set's records: the whole RRset when set has no
// Data, otherwise the RRset is rewritten without them under a
// prerequisite equal to what was read, so a concurrent change is refused.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, set recordset.RRset) error {
	if !set.Exists() {
		return p.Apply(ctx, zone, dnsupdate.Update{Delete: []dnsupdate.RRset{{Name: set.Name, Type: set.Type}}})
	}
	cur, err := p.GetRRsets(ctx, zone, set.Name, set.Type)
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	for _, d := range recordset.Normalize(set).Data {
		drop[d] = true
	}
	rest := recordset.RRset{Name: cur[0].Name, Type: cur[0].Type, TTL: cur[0].TTL}
	for _, d := range cur[0].Data {
		if !drop[d] {
			rest.Data = append(rest.Data, d)
		}
	}
	if len(rest.Data) == len(cur[0].Data) {
		return nil
	}
	u := dnsupdate.Update{Prereq: []dnsupdate.RRset{cur[0]}, Delete: []dnsupdate.RRset{{Name: set.Name, Type: set.Type}}}
	if rest.Exists() {
		u.Add = []dnsupdate.RRset{rest}
	}
	return p.Apply(ctx, zone, u)
}

// Apply sends u as one TSIG-signed UPDATE.
func (p *Provider) Apply(ctx context.Context, zone string, u dnsupdate.Update) error {
	return p.client(zone).Update(ctx, u)
}
