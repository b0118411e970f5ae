// Package libdnszone adapts a provider module written against
// github.com/libdns/libdns (records one at a time, names relative to the
// zone) to recordset.Provider (whole RRsets, absolute names, presentation
// form). Each provider package wraps its module with it.
package libdnszone

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"
	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/recordset"
)

// Module is what a libdns provider module offers.
type Module interface {
	libdns.RecordGetter
	libdns.RecordAppender
	libdns.RecordSetter
	libdns.RecordDeleter
}

// Zone is a recordset.Provider over a libdns module.
type Zone struct {
	// Module does the API calls.
	Module Module
	// Explain rewrites an error of the module's, e.g. to name the setting
	// that holds a refused credential (nil: errors pass unchanged).
	Explain func(error) error
	// Context, when set, prepares the context of every module call (e.g.
	// apiretry.WithTransport for a module that cannot be given a client).
	Context func(context.Context) context.Context
	// DeleteRemovesRRset says that the module's DeleteRecords removes every
	// record of the name and type, whatever the data asked (libdns/ionos):
	// removing some records then means removing the RRset and adding back
	// the others.
	DeleteRemovesRRset bool
}

func (z *Zone) ctx(ctx context.Context) context.Context {
	if z.Context == nil {
		return ctx
	}
	return z.Context(ctx)
}

var _ recordset.Provider = (*Zone)(nil)

func (z *Zone) explain(err error) error {
	if err == nil || z.Explain == nil {
		return err
	}
	return z.Explain(err)
}

// records reads the records of name and rrtype, as libdns records and as
// one canonical RRset.
func (z *Zone) records(ctx context.Context, zone, name string, rrtype uint16) ([]libdns.Record, recordset.RRset, error) {
	zone, name, err := recordset.InZone(zone, name)
	if err != nil {
		return nil, recordset.RRset{}, err
	}
	all, err := z.Module.GetRecords(ctx, zone)
	if err != nil {
		return nil, recordset.RRset{}, z.explain(err)
	}
	return pick(all, zone, name, rrtype)
}

// pick keeps the records of name and rrtype from a zone's records.
func pick(all []libdns.Record, zone, name string, rrtype uint16) ([]libdns.Record, recordset.RRset, error) {
	tname := dns.TypeToString[rrtype]
	var mine []libdns.Record
	var data []string
	var ttl uint32
	for _, r := range all {
		rr := r.RR()
		if !strings.EqualFold(rr.Type, tname) || dns.CanonicalName(libdns.AbsoluteName(rr.Name, zone)) != name {
			continue
		}
		t := uint32(rr.TTL / time.Second)
		if len(mine) == 0 || t < ttl {
			ttl = t
		}
		mine = append(mine, r)
		data = append(data, rr.Data)
	}
	set, err := recordset.Canonical(name, rrtype, ttl, data...)
	if err != nil {
		return nil, recordset.RRset{}, fmt.Errorf("the provider returned a record that does not parse: %w", err)
	}
	return mine, set, nil
}

// GetRRsets reads the zone once and keeps name's records of each type.
func (z *Zone) GetRRsets(ctx context.Context, zone, name string, types ...uint16) ([]recordset.RRset, error) {
	ctx = z.ctx(ctx)
	zone, name, err := recordset.InZone(zone, name)
	if err != nil {
		return nil, err
	}
	all, err := z.Module.GetRecords(ctx, zone)
	if err != nil {
		return nil, z.explain(err)
	}
	out := make([]recordset.RRset, 0, len(types))
	for _, t := range types {
		_, set, err := pick(all, zone, name, t)
		if err != nil {
			return nil, err
		}
		out = append(out, set)
	}
	return out, nil
}

// toLibdns turns one datum of set into the module's record type.
func toLibdns(zone string, set recordset.RRset, datum string) (libdns.Record, error) {
	rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", dns.Fqdn(set.Name), set.TTL, set.TypeString(), datum))
	if err != nil || rr == nil {
		return nil, fmt.Errorf("record %s %s %q: %v", set.Name, set.TypeString(), datum, err)
	}
	data := datum
	if t, ok := rr.(*dns.TXT); ok {
		data = strings.Join(t.Txt, "")
	}
	r := libdns.RR{Name: libdns.RelativeName(dns.CanonicalName(set.Name), zone), TTL: time.Duration(set.TTL) * time.Second, Type: set.TypeString(), Data: data}
	return r.Parse()
}

func toLibdnsAll(zone string, set recordset.RRset, data []string) ([]libdns.Record, error) {
	out := make([]libdns.Record, 0, len(data))
	for _, d := range data {
		r, err := toLibdns(zone, set, d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// SetRRset makes set the whole RRset. One record replacing at most one is
// one update in place (the module's SetRecords); otherwise the missing
// records are added before the extra ones are removed, so the name never
// has none. Only a TTL change of records that stay is a delete and re-add.
func (z *Zone) SetRRset(ctx context.Context, zone string, set recordset.RRset) error {
	ctx = z.ctx(ctx)
	if !set.Exists() {
		return fmt.Errorf("set %s %s: no records (delete the RRset instead)", set.Name, set.TypeString())
	}
	zone = dns.CanonicalName(zone)
	set = recordset.Normalize(set)
	curRecs, cur, err := z.records(ctx, zone, set.Name, set.Type)
	if err != nil {
		return err
	}
	want, err := recordset.Canonical(set.Name, set.Type, set.TTL, set.Data...)
	if err != nil {
		return err
	}
	if cur.Exists() && want.TTL == cur.TTL && strings.Join(want.Data, "\n") == strings.Join(cur.Data, "\n") {
		return nil
	}
	if len(want.Data) == 1 && len(cur.Data) <= 1 {
		recs, err := toLibdnsAll(zone, want, want.Data)
		if err != nil {
			return err
		}
		_, err = z.Module.SetRecords(ctx, zone, recs)
		return z.explain(err)
	}
	if z.DeleteRemovesRRset && cur.Exists() {
		// The module cannot remove some records only: the RRset goes, and
		// comes back whole (a moment without it, for this module only).
		if _, err := z.Module.DeleteRecords(ctx, zone, curRecs[:1]); err != nil {
			return z.explain(err)
		}
		recs, err := toLibdnsAll(zone, want, want.Data)
		if err != nil {
			return err
		}
		_, err = z.Module.AppendRecords(ctx, zone, recs)
		return z.explain(err)
	}
	have := map[string]bool{}
	for _, d := range cur.Data {
		have[d] = true
	}
	wanted := map[string]bool{}
	var add, keep []string
	for _, d := range want.Data {
		wanted[d] = true
		if !have[d] {
			add = append(add, d)
		} else if cur.TTL != want.TTL {
			keep = append(keep, d)
		}
	}
	if len(add) > 0 {
		recs, err := toLibdnsAll(zone, want, add)
		if err != nil {
			return err
		}
		if _, err := z.Module.AppendRecords(ctx, zone, recs); err != nil {
			return z.explain(err)
		}
	}
	var del []libdns.Record
	for i, d := range cur.Data {
		if !wanted[d] || cur.TTL != want.TTL {
			del = append(del, curRecs[indexOf(curRecs, cur.Name, cur.Type, zone, d, i)])
		}
	}
	if len(del) > 0 {
		if _, err := z.Module.DeleteRecords(ctx, zone, del); err != nil {
			return z.explain(err)
		}
	}
	if len(keep) > 0 {
		recs, err := toLibdnsAll(zone, want, keep)
		if err != nil {
			return err
		}
		if _, err := z.Module.AppendRecords(ctx, zone, recs); err != nil {
			return z.explain(err)
		}
	}
	return nil
}

// indexOf finds the module's record whose canonical datum is d (fallback:
// position i, which holds when the module returned them in order).
func indexOf(recs []libdns.Record, name string, t uint16, zone, d string, i int) int {
	for j, r := range recs {
		rr := r.RR()
		c, err := recordset.Canonical(name, t, 0, rr.Data)
		if err == nil && len(c.Data) == 1 && c.Data[0] == d {
			return j
		}
	}
	return i
}

// AppendRecords adds the records of set that are not there yet.
func (z *Zone) AppendRecords(ctx context.Context, zone string, set recordset.RRset) error {
	ctx = z.ctx(ctx)
	zone = dns.CanonicalName(zone)
	_, cur, err := z.records(ctx, zone, set.Name, set.Type)
	if err != nil {
		return err
	}
	want, err := recordset.Canonical(set.Name, set.Type, set.TTL, set.Data...)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, d := range cur.Data {
		have[d] = true
	}
	var add []string
	for _, d := range want.Data {
		if !have[d] {
			add = append(add, d)
		}
	}
	if len(add) == 0 {
		return nil
	}
	recs, err := toLibdnsAll(zone, want, add)
	if err != nil {
		return err
	}
	_, err = z.Module.AppendRecords(ctx, zone, recs)
	return z.explain(err)
}

// DeleteRecords removes set's records (all of the RRset when set has no
// Data); records that are not there are not an error.
func (z *Zone) DeleteRecords(ctx context.Context, zone string, set recordset.RRset) error {
	ctx = z.ctx(ctx)
	zone = dns.CanonicalName(zone)
	curRecs, cur, err := z.records(ctx, zone, set.Name, set.Type)
	if err != nil {
		return err
	}
	drop := map[string]bool{}
	if set.Exists() {
		c, err := recordset.Canonical(set.Name, set.Type, set.TTL, set.Data...)
		if err != nil {
			return err
		}
		for _, d := range c.Data {
			drop[d] = true
		}
	}
	var del []libdns.Record
	for _, r := range curRecs {
		c, err := recordset.Canonical(cur.Name, cur.Type, 0, r.RR().Data)
		if err != nil {
			return err
		}
		if !set.Exists() || drop[c.Data[0]] {
			del = append(del, r)
		}
	}
	if len(del) == 0 {
		return nil
	}
	if z.DeleteRemovesRRset && len(del) < len(curRecs) {
		var keep []string
		for _, r := range curRecs {
			c, _ := recordset.Canonical(cur.Name, cur.Type, 0, r.RR().Data)
			if !drop[c.Data[0]] {
				keep = append(keep, c.Data[0])
			}
		}
		if _, err := z.Module.DeleteRecords(ctx, zone, del[:1]); err != nil {
			return z.explain(err)
		}
		recs, err := toLibdnsAll(zone, recordset.RRset{Name: cur.Name, Type: cur.Type, TTL: cur.TTL}, keep)
		if err != nil {
			return err
		}
		_, err = z.Module.AppendRecords(ctx, zone, recs)
		return z.explain(err)
	}
	if z.DeleteRemovesRRset {
		// One record names the whole RRset; a second would no longer be found.
		del = del[:1]
	}
	_, err = z.Module.DeleteRecords(ctx, zone, del)
	return z.explain(err)
}
