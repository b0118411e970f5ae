package recordset

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// Access is write access to one zone: the provider and the zone it holds.
type Access struct {
	Provider Provider
	Zone     string
}

// ChallengeTTL is the TTL of the TXT records written for ACME DNS-01.
const ChallengeTTL = 60

// ChallengeWriter writes ACME DNS-01 TXT records. The record of a name
// goes to _acme-challenge.<name>, unless that name is a CNAME: then it goes
// to the CNAME's target (followed up to MaxHops), which may lie in another
// zone with its own access. That is the usual way to let a tool answer
// challenges without write access to the main zone: the main zone holds
// the CNAME once, and the tool writes only the target's zone.
//
// Its SetTXT and DeleteTXT are the small TXT-writer interface the ACME
// client needs (fqdn is the challenge record name it was told, value the
// key authorization digest).
type ChallengeWriter struct {
	// Accesses are the zones the writer may read and write; a name goes to
	// the access whose zone is its longest suffix.
	Accesses []Access
	// MaxHops bounds the CNAME chain (default 8).
	MaxHops int
}

// access returns the access whose zone holds name.
func (w *ChallengeWriter) access(name string) (Access, bool) {
	var best Access
	found := false
	for _, a := range w.Accesses {
		z := dns.CanonicalName(a.Zone)
		if dns.IsSubDomain(z, name) && (!found || dns.CountLabel(z) > dns.CountLabel(dns.CanonicalName(best.Zone))) {
			best, found = a, true
		}
	}
	return best, found
}

func (w *ChallengeWriter) zones() string {
	var zs []string
	for _, a := range w.Accesses {
		zs = append(zs, dns.CanonicalName(a.Zone))
	}
	return strings.Join(zs, ", ")
}

// Target returns where the TXT record of fqdn is written: fqdn itself or
// the end of its CNAME chain, and the access for it. A CNAME into a zone
// no access holds, a loop or a chain longer than MaxHops is an error
// naming the names.
func (w *ChallengeWriter) Target(ctx context.Context, fqdn string) (string, Access, error) {
	hops := w.MaxHops
	if hops <= 0 {
		hops = 8
	}
	name := dns.CanonicalName(fqdn)
	chain := []string{name}
	seen := map[string]bool{name: true}
	for {
		acc, ok := w.access(name)
		if !ok {
			if len(chain) == 1 {
				return "", Access{}, fmt.Errorf("%s is in none of the zones exrunbook may write (%s)", name, w.zones())
			}
			return "", Access{}, fmt.Errorf("%s is a CNAME to %s, which is in none of the zones exrunbook may write (%s): configure certificate.acme.challenge_dns for the zone of %s",
				chain[0], name, w.zones(), name)
		}
		sets, err := acc.Provider.GetRRsets(ctx, dns.CanonicalName(acc.Zone), name, dns.TypeCNAME)
		if err != nil {
			return "", Access{}, fmt.Errorf("reading the CNAME of %s: %w", name, err)
		}
		if !sets[0].Exists() {
			return name, acc, nil
		}
		next := dns.CanonicalName(sets[0].Data[0])
		if seen[next] {
			return "", Access{}, fmt.Errorf("the CNAME chain of %s loops: %s -> %s", chain[0], strings.Join(chain, " -> "), next)
		}
		if len(chain) > hops {
			return "", Access{}, fmt.Errorf("the CNAME chain of %s is longer than %d: %s", chain[0], hops, strings.Join(chain, " -> "))
		}
		seen[next] = true
		chain = append(chain, next)
		name = next
	}
}

func challengeSet(name, value string) RRset {
	return RRset{Name: name, Type: dns.TypeTXT, TTL: ChallengeTTL, Data: []string{strqQuote(value)}}
}

// SetTXT adds the TXT record value at fqdn's target, beside any other
// value there (two names of one certificate may share a target).
func (w *ChallengeWriter) SetTXT(ctx context.Context, fqdn, value string) error {
	name, acc, err := w.Target(ctx, fqdn)
	if err != nil {
		return err
	}
	if err := acc.Provider.AppendRecords(ctx, dns.CanonicalName(acc.Zone), challengeSet(name, value)); err != nil {
		return fmt.Errorf("writing the TXT record of %s at %s: %w", dns.CanonicalName(fqdn), name, err)
	}
	return nil
}

// DeleteTXT removes the TXT record value at fqdn's target, and only it.
func (w *ChallengeWriter) DeleteTXT(ctx context.Context, fqdn, value string) error {
	name, acc, err := w.Target(ctx, fqdn)
	if err != nil {
		return err
	}
	if err := acc.Provider.DeleteRecords(ctx, dns.CanonicalName(acc.Zone), challengeSet(name, value)); err != nil {
		return fmt.Errorf("removing the TXT record of %s at %s: %w", dns.CanonicalName(fqdn), name, err)
	}
	return nil
}
