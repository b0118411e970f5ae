package steps

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

// The public-dns step where the zone is written through a provider's API
// with no prerequisites (public_dns.mode cloudflare, route53, azure, ...):
// drift is refused by comparing what is there with the snapshot, and the
// swap is written step by step, adding before removing.

// pdnsDriftError is a record that is neither as the snapshot nor as the
// swap left it: someone changed it behind exrunbook's back.
type pdnsDriftError struct {
	zone, when string
	diffs      []string
}

func (e *pdnsDriftError) Error() string {
	return fmt.Sprintf("the records of zone %s differ from the snapshot of %s, so nothing was changed: %s; review them, then plan again",
		e.zone, e.when, strings.Join(e.diffs, "; "))
}

// pdnsWrite is one write of a stepwise change: set an RRset (it has Data)
// or delete it.
type pdnsWrite struct{ set dnsupdate.RRset }

// pdnsSteps orders the writes that turn cur into target for providers
// without atomic updates: the names in the order given (the one to
// publish first), and within a name the deletions before the sets, since
// a CNAME must be gone before another type is added beside it.
func pdnsWrites(target, cur []dnsupdate.RRset, first, second string) []pdnsWrite {
	curBy := map[dnsupdate.Key]dnsupdate.RRset{}
	for _, c := range cur {
		curBy[c.Key()] = c
	}
	var out []pdnsWrite
	for _, name := range []string{first, second} {
		for _, del := range []bool{true, false} {
			for _, t := range target {
				if t.Key().Name != dns.CanonicalName(name) {
					continue
				}
				c := curBy[t.Key()]
				if dnsupdate.Same(t, c) || (del && (t.Exists() || !c.Exists())) || (!del && !t.Exists()) {
					continue
				}
				out = append(out, pdnsWrite{set: t})
			}
		}
	}
	return out
}

// stepwise changes the records one RRset at a time to target, from cur,
// for a provider without atomic updates. Every RRset must be as the
// snapshot or as the swap left it (an earlier attempt may have stopped
// half-way); anything else is refused before the first write, naming it.
func (s *publicDNS) stepwise(ctx context.Context, env engine.Env, p PublicDNSSnapshot, target, cur []dnsupdate.RRset, first, second, what string) error {
	after, err := p.expected()
	if err != nil {
		return err
	}
	before := map[dnsupdate.Key]dnsupdate.RRset{}
	for _, r := range p.Records {
		before[r.Key()] = r
	}
	swapped := map[dnsupdate.Key]dnsupdate.RRset{}
	for _, r := range after {
		swapped[r.Key()] = r
	}
	var diffs []string
	for _, c := range cur {
		b, a := before[c.Key()], swapped[c.Key()]
		if !dnsupdate.Same(b, c) && !dnsupdate.Same(a, c) {
			if b.Name == "" {
				b = dnsupdate.RRset{Name: c.Name, Type: c.Type}
			}
			diffs = append(diffs, recordset.Diff(b, c))
		}
	}
	if len(diffs) > 0 {
		return &pdnsDriftError{zone: p.Zone, when: p.CapturedAt.UTC().Format(time.RFC3339), diffs: diffs}
	}
	prov, err := s.provider(env)
	if err != nil {
		return err
	}
	for _, st := range pdnsWrites(target, cur, first, second) {
		if st.set.Exists() {
			if err := prov.SetRRset(ctx, s.zone, st.set); err != nil {
				return pdnsTransient(fmt.Errorf("%s: setting %s %s through the %s API: %w", what, st.set.Name, st.set.TypeString(), p.Mode, err))
			}
			env.Logf("%s: %s %s set to %s (TTL %d)", what, st.set.Name, st.set.TypeString(), st.set.Values(), st.set.TTL)
			continue
		}
		if err := prov.DeleteRecords(ctx, s.zone, dnsupdate.RRset{Name: st.set.Name, Type: st.set.Type}); err != nil {
			return pdnsTransient(fmt.Errorf("%s: deleting %s %s through the %s API: %w", what, st.set.Name, st.set.TypeString(), p.Mode, err))
		}
		env.Logf("%s: %s %s deleted", what, st.set.Name, st.set.TypeString())
	}
	now, err := s.current(ctx, env, target)
	if err != nil {
		return pdnsTransient(fmt.Errorf("%s: reading the records back: %w", what, err))
	}
	for i := range target {
		if !dnsupdate.Same(target[i], now[i]) {
			return fmt.Errorf("%s: the %s API accepted the changes but now returns %s", what, p.Mode, recordset.Diff(target[i], now[i]))
		}
	}
	return nil
}

func pdnsLines(lines []string) string {
	if len(lines) == 0 {
		return "(nothing)"
	}
	return strings.Join(lines, " | ")
}
