package acme

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

// ZoneServers says where the records of one zone are read and verified.
type ZoneServers struct {
	// Zone is the zone, fully qualified.
	Zone string
	// Server is where the records are read (host:port): the primary, or
	// any authoritative server of the zone.
	Server string
	// Nameservers are the zone's authoritative servers, each verified;
	// empty: the zone's NS records, read from Server.
	Nameservers []string
	// Setting is the configuration block that names them, for messages
	// (see dnsupdate.Client.Setting).
	Setting string
}

// RecordSetDNS answers DNS-01 through the record-set interface: its
// Present and CleanUp (TXTWriter) write and remove the TXT record with
// Writer, which follows an _acme-challenge CNAME to its target, possibly
// in another zone with its own access; its Check (Propagation) verifies
// each record on every authoritative server of the zone the record
// actually lands in (the CNAME's target zone, not the name's).
type RecordSetDNS struct {
	Writer *recordset.ChallengeWriter
	// Zones lists the servers of every zone Writer may write.
	Zones []ZoneServers
}

var (
	_ BatchWriter = (*RecordSetDNS)(nil)
	_ Propagation = (*RecordSetDNS)(nil)
)

// Present adds the TXT record value at fqdn's target.
func (r *RecordSetDNS) Present(ctx context.Context, fqdn, value string) error {
	if err := checkValue(value); err != nil {
		return err
	}
	return r.Writer.SetTXT(ctx, fqdn, value)
}

// CleanUp removes the TXT record value at fqdn's target, and only it.
func (r *RecordSetDNS) CleanUp(ctx context.Context, fqdn, value string) error {
	if err := checkValue(value); err != nil {
		return err
	}
	return r.Writer.DeleteTXT(ctx, fqdn, value)
}

// PresentAll writes every record: the records of different targets at
// once, so that in manual mode every line to add is printed before
// exrunbook waits for any (one edit of the zone, not one per name), and
// records sharing a target one after another, so that their writes never
// race. The first failure stops the others.
func (r *RecordSetDNS) PresentAll(ctx context.Context, recs []TXTRecord) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	return r.each(ctx, recs, func(ctx context.Context, rec TXTRecord) error {
		err := r.Present(ctx, rec.FQDN, rec.Value)
		if err != nil {
			cancel(fmt.Errorf("another challenge record failed: %w", err))
		}
		return err
	})
}

// CleanUpAll removes every record, as PresentAll writes them, trying all
// of them whatever fails.
func (r *RecordSetDNS) CleanUpAll(ctx context.Context, recs []TXTRecord) error {
	return r.each(ctx, recs, func(ctx context.Context, rec TXTRecord) error { return r.CleanUp(ctx, rec.FQDN, rec.Value) })
}

// each runs f for every record, one goroutine per target name (the name
// itself when its target cannot be read: f then reports why).
func (r *RecordSetDNS) each(ctx context.Context, recs []TXTRecord, f func(context.Context, TXTRecord) error) error {
	groups := map[string][]TXTRecord{}
	var order []string
	for _, rec := range recs {
		key := dns.CanonicalName(rec.FQDN)
		if name, _, err := r.Writer.Target(ctx, rec.FQDN); err == nil {
			key = name
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], rec)
	}
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, key := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, rec := range groups[key] {
				if err := f(ctx, rec); err != nil {
					errs[i] = errors.Join(errs[i], err)
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *RecordSetDNS) servers(zone string) (ZoneServers, bool) {
	for _, z := range r.Zones {
		if dns.CanonicalName(z.Zone) == zone {
			return z, true
		}
	}
	return ZoneServers{}, false
}

// Check implements Propagation: every record, at its target, is served
// by every authoritative server of its target's zone.
func (r *RecordSetDNS) Check(ctx context.Context, recs []TXTRecord) (bool, string, error) {
	byZone := map[string][]TXTRecord{}
	var zones []string
	for _, rec := range recs {
		name, acc, err := r.Writer.Target(ctx, rec.FQDN)
		if err != nil {
			return false, "", err
		}
		z := dns.CanonicalName(acc.Zone)
		if _, ok := byZone[z]; !ok {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], TXTRecord{FQDN: name, Value: rec.Value})
	}
	var details []string
	for _, z := range zones {
		zs, ok := r.servers(z)
		if !ok || zs.Server == "" {
			return false, "", fmt.Errorf("zone %s: no server to read the challenge records from", z)
		}
		p := ZonePropagation{Client: &dnsupdate.Client{Server: zs.Server, Zone: z, Setting: zs.Setting}, Nameservers: zs.Nameservers}
		ok, detail, err := p.Check(ctx, byZone[z])
		if err != nil {
			return false, "", fmt.Errorf("zone %s: %w", z, err)
		}
		if !ok {
			return false, "zone " + z + ": " + detail, nil
		}
		details = append(details, "zone "+z+": "+detail)
	}
	return true, strings.Join(details, "; "), nil
}
