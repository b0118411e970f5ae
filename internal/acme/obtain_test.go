package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/exrunbook/exrunbook/internal/acme/pebbletest"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/dnsupdate/bindtest"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/manual"
	"github.com/exrunbook/exrunbook/internal/recordset/rfc2136"
)

// rfcDNS answers DNS-01 through the record-set interface with TSIG-signed
// RFC 2136 updates to dc's server and zone, verified on nameservers (the
// zone's NS records when none).
func rfcDNS(dc *dnsupdate.Client, nameservers ...string) *RecordSetDNS {
	return &RecordSetDNS{
		Writer: &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: rfc2136.New(*dc), Zone: dc.Zone}}},
		Zones:  []ZoneServers{{Zone: dc.Zone, Server: dc.Server, Nameservers: nameservers}},
	}
}

// labDNS starts a small lab and returns a TSIG client for its public
// zone (the lab's public DNS accepts TSIG-signed updates, as BIND does).
func labDNS(t *testing.T) (*dnsupdate.Client, lab.Endpoints) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := lab.Start(ctx, lab.Options{Dir: filepath.Join(t.TempDir(), "lab"), Mailboxes: 5, Allow: 1, Servers: 2, Seed: 1})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); cancel() })
	ep := l.Endpoints()
	secret, err := os.ReadFile(ep.DNS.TSIG.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	return &dnsupdate.Client{Server: ep.DNS.Public, Zone: ep.DNS.Zone, Timeout: 2 * time.Second,
		TSIG: dnsupdate.TSIG{Name: ep.DNS.TSIG.Name, Algorithm: ep.DNS.TSIG.Algorithm, Secret: string(secret)}}, ep
}

func testClient(t *testing.T, p *pebbletest.Server) *Client {
	t.Helper()
	hc, err := HTTPClient(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{DirectoryURL: p.DirectoryURL, Email: "hostmaster@contoso.test", HTTPClient: hc,
		AccountKeyFile: filepath.Join(t.TempDir(), "state", AccountKeyFile), Logf: t.Logf,
		PollInterval: 100 * time.Millisecond, PropagationTimeout: 20 * time.Second}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// challengeRecords lists the _acme-challenge TXT records the primary serves.
func challengeRecords(t *testing.T, c *dnsupdate.Client, names []string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		s, err := c.Query(context.Background(), ChallengeFQDN(n), dns.TypeTXT)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s.Data...)
	}
	return out
}

// verifyIssued checks the certificate chains to Pebble's root, covers the
// names, has an RSA key of 2048 bits, and the PFX decodes with the chain.
func verifyIssued(t *testing.T, p *pebbletest.Server, cert *Certificate, names []string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(p.Root())
	inter := x509.NewCertPool()
	for _, c := range cert.Chain[1:] {
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := cert.Leaf().Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if cert.Key.N.BitLen() != RSAKeyBits {
		t.Errorf("key of %d bits", cert.Key.N.BitLen())
	}
	pfx, err := cert.PFX("pw")
	if err != nil {
		t.Fatal(err)
	}
	key, leaf, cas, err := pkcs12.DecodeChain(pfx, "pw")
	if err != nil || Thumbprint(leaf) != cert.Thumbprint() || len(cas) != len(cert.Chain)-1 || key == nil {
		t.Fatalf("the PFX does not decode to the certificate: %v", err)
	}
}

// TestObtainThroughLabDNS: DNS-01 through the lab's public DNS (TSIG
// updates), Pebble validating against it; the records are gone after.
func TestObtainThroughLabDNS(t *testing.T) {
	dc, ep := labDNS(t)
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: ep.DNS.Public})
	c := testClient(t, p)
	names := []string{ep.Names.External, ep.Names.Internal, ep.Names.Autodiscover}
	var presented, cleaned []TXTRecord
	d := rfcDNS(dc, ep.DNS.Public)
	cert, err := c.Obtain(ctxT(t), names, d, d,
		Hooks{Presenting: func(r []TXTRecord) error { presented = r; return nil }, CleanedUp: func(r []TXTRecord) { cleaned = r }})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, p, cert, names)
	if len(presented) != 3 || len(cleaned) != 3 {
		t.Errorf("hooks saw %d presented, %d cleaned records; want 3 and 3", len(presented), len(cleaned))
	}
	if left := challengeRecords(t, dc, names); len(left) != 0 {
		t.Errorf("challenge records left in the zone: %v", left)
	}
	fi, err := os.Stat(c.AccountKeyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key: %v %v", fi, err)
	}
	// A second order reuses the account (same key file) and is validated
	// again (PEBBLE_AUTHZREUSE=0).
	second, err := c.Obtain(ctxT(t), names[:1], d, d, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Thumbprint() == cert.Thumbprint() {
		t.Error("the second order returned the first certificate")
	}
	// Pebble's ARI answers for the certificate it issued.
	ri, found, err := GetRenewalInfo(ctxT(t), c.HTTPClient, p.DirectoryURL, cert.Leaf())
	if err != nil || !found {
		t.Fatalf("ARI: found %v, %v", found, err)
	}
	if !ri.Start.After(cert.Leaf().NotBefore) || !ri.End.Before(cert.Leaf().NotAfter) {
		t.Errorf("ARI window %s–%s outside the certificate's validity", ri.Start, ri.End)
	}
}

// failingWriter refuses every write, as a server refusing the key would.
type failingWriter struct {
	mu      sync.Mutex
	cleaned int
}

func (w *failingWriter) Present(context.Context, string, string) error {
	return errors.New("update refused: NOTAUTH")
}

func (w *failingWriter) CleanUp(context.Context, string, string) error {
	w.mu.Lock()
	w.cleaned++
	w.mu.Unlock()
	return nil
}

// TestObtainUnwritableRecord: a TXT record that cannot be written fails
// with a clear error, the CA is never asked to validate, and the cleanup
// still runs.
func TestObtainUnwritableRecord(t *testing.T) {
	dc, ep := labDNS(t)
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: ep.DNS.Public})
	c := testClient(t, p)
	w := &failingWriter{}
	_, err := c.Obtain(ctxT(t), []string{ep.Names.External}, w, ZonePropagation{Client: dc}, Hooks{})
	if err == nil || !strings.Contains(err.Error(), "DNS-01 challenge for "+ep.Names.External+" cannot be answered") || !strings.Contains(err.Error(), "NOTAUTH") {
		t.Fatalf("error = %v", err)
	}
	if w.cleaned != 1 {
		t.Errorf("cleanup ran %d times, want 1", w.cleaned)
	}
	// With a wrong TSIG secret, the server's refusal is named.
	bad := *dc
	bad.TSIG.Secret = bindtest.RandomSecret()
	bad.Retries = -1
	_, err = c.Obtain(ctxT(t), []string{ep.Names.External}, rfcDNS(&bad), ZonePropagation{Client: dc}, Hooks{})
	if err == nil || !strings.Contains(err.Error(), "cannot be answered") {
		t.Fatalf("wrong key: error = %v", err)
	}
	t.Logf("wrong key: %v", err)
}

// silentWriter claims every write succeeded and writes nothing.
type silentWriter struct{}

func (silentWriter) Present(context.Context, string, string) error { return nil }
func (silentWriter) CleanUp(context.Context, string, string) error { return nil }

// TestObtainRecordNotServed: a writer that claims success but writes
// nothing never gets past the propagation check, and the CA is not asked.
func TestObtainRecordNotServed(t *testing.T) {
	dc, ep := labDNS(t)
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: ep.DNS.Public})
	c := testClient(t, p)
	c.PropagationTimeout = 500 * time.Millisecond
	_, err := c.Obtain(ctxT(t), []string{ep.Names.External}, silentWriter{}, ZonePropagation{Client: dc}, Hooks{})
	if err == nil || !strings.Contains(err.Error(), "did not reach every authoritative nameserver") {
		t.Fatalf("error = %v", err)
	}
}

// TestObtainThroughBIND: DNS-01 through a real BIND 9 zone (TSIG-signed
// RFC 2136 updates), checked on its authoritative server and validated by
// Pebble against it; the records are gone after.
func TestObtainThroughBIND(t *testing.T) {
	s := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. 1 3600 600 86400 60
@ IN NS ns1.contoso.test.
ns1 IN A 127.0.0.1
outlook IN A 203.0.113.10
`})
	dc := &dnsupdate.Client{Server: s.Addr, Zone: s.Zone, Timeout: 2 * time.Second,
		TSIG: dnsupdate.TSIG{Name: s.KeyName, Algorithm: s.Algorithm, Secret: s.Secret}}
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: s.Addr})
	c := testClient(t, p)
	names := []string{"outlook-ext.contoso.test", "outlook.contoso.test"}
	d := rfcDNS(dc, s.Addr)
	cert, err := c.Obtain(ctxT(t), names, d, d, Hooks{})
	if err != nil {
		t.Fatalf("%v\nnamed log:\n%s", err, s.Log())
	}
	verifyIssued(t, p, cert, names)
	if left := challengeRecords(t, dc, names); len(left) != 0 {
		t.Errorf("challenge records left in the zone: %v", left)
	}
}

// TestObtainEAB: a CA that requires external account binding refuses an
// account without one (clear message) and accepts the right binding.
func TestObtainEAB(t *testing.T) {
	dc, ep := labDNS(t)
	const kid, key = "kid-1", "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: ep.DNS.Public, EAB: map[string]string{kid: key}, EABRequired: true})
	c := testClient(t, p)
	_, err := c.Obtain(ctxT(t), []string{ep.Names.External}, rfcDNS(dc), ZonePropagation{Client: dc}, Hooks{})
	if err == nil || !strings.Contains(err.Error(), "requires an external account binding") {
		t.Fatalf("without EAB: %v", err)
	}
	hk, err := ParseEABKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c.EAB = &EAB{KID: kid, HMACKey: hk}
	d := rfcDNS(dc, ep.DNS.Public)
	if _, err := c.Obtain(ctxT(t), []string{ep.Names.External}, d, d, Hooks{}); err != nil {
		t.Fatal(err)
	}
}

// TestObtainManual: in public_dns.mode manual the exact records are
// printed (as zone-file lines to add, all before any wait, and afterwards
// to remove), and the order waits until every authoritative server serves
// them; an "operator" makes each change a little later, in the order
// printed.
func TestObtainManual(t *testing.T) {
	dc, ep := labDNS(t)
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: ep.DNS.Public})
	c := testClient(t, p)
	var mu sync.Mutex
	var adds, removes []string
	todo := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for line := range todo {
			time.Sleep(200 * time.Millisecond) // the operator is not instant
			op, rec, _ := strings.Cut(line, ":")
			rr, err := dns.NewRR(strings.TrimSpace(rec))
			if err != nil || rr == nil || rr.Header().Rrtype != dns.TypeTXT {
				t.Errorf("printed record is not a zone-file TXT line: %q (%v)", line, err)
				continue
			}
			set := dnsupdate.RRset{Name: rr.Header().Name, Type: dns.TypeTXT, TTL: rr.Header().Ttl,
				Data: []string{strings.TrimPrefix(rr.String(), rr.Header().String())}}
			if op == "add" {
				// Every line to add is printed before exrunbook waits
				// for any: one edit of the zone, not one per name.
				mu.Lock()
				if n := len(adds); n != 2 {
					t.Errorf("the operator is asked to add %d record(s) at first, want both: %v", n, adds)
				}
				mu.Unlock()
				err = dc.Update(context.Background(), dnsupdate.Update{Add: []dnsupdate.RRset{set}})
			} else {
				err = dc.RemoveRecords(context.Background(), []dnsupdate.RRset{set})
			}
			if err != nil {
				t.Errorf("operator: %v", err)
			}
		}
	}()
	defer func() { close(todo); <-done }()
	logf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		t.Log(line)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasPrefix(line, "add:"):
			adds = append(adds, line)
		case strings.HasPrefix(line, "remove:"):
			removes = append(removes, line)
		default:
			return
		}
		todo <- line
	}
	prov := &manual.Provider{Server: ep.DNS.Public, Nameservers: []string{ep.DNS.Public}, Logf: logf, Poll: 100 * time.Millisecond}
	d := &RecordSetDNS{Writer: &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: prov, Zone: ep.DNS.Zone}}},
		Zones: []ZoneServers{{Zone: ep.DNS.Zone, Server: ep.DNS.Public, Nameservers: []string{ep.DNS.Public}}}}
	names := []string{ep.Names.External, ep.Names.Autodiscover}
	cert, err := c.Obtain(ctxT(t), names, d, d, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	verifyIssued(t, p, cert, names)
	mu.Lock()
	defer mu.Unlock()
	if len(adds) != 2 || len(removes) != 2 {
		t.Errorf("printed %d lines to add and %d to remove, want 2 and 2: %v %v", len(adds), len(removes), adds, removes)
	}
	all := strings.Join(adds, "\n")
	for _, n := range names {
		if !strings.Contains(all, "add:    "+ChallengeFQDN(n)+"\t60\tIN\tTXT\t\"") {
			t.Errorf("no line adds the TXT record of %s: %v", ChallengeFQDN(n), adds)
		}
	}
	if left := challengeRecords(t, dc, names); len(left) != 0 {
		t.Errorf("challenge records left in the zone: %v", left)
	}
}

// TestObtainManualNobodyAdds: in manual mode, a record nobody adds fails
// the order after the propagation timeout (not never), naming what is
// missing, and the CA is never asked to validate.
func TestObtainManualNobodyAdds(t *testing.T) {
	_, ep := labDNS(t)
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: ep.DNS.Public})
	c := testClient(t, p)
	c.PropagationTimeout = 700 * time.Millisecond
	prov := &manual.Provider{Server: ep.DNS.Public, Nameservers: []string{ep.DNS.Public}, Logf: t.Logf, Poll: 100 * time.Millisecond}
	d := &RecordSetDNS{Writer: &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: prov, Zone: ep.DNS.Zone}}},
		Zones: []ZoneServers{{Zone: ep.DNS.Zone, Server: ep.DNS.Public}}}
	_, err := c.Obtain(ctxT(t), []string{ep.Names.External}, d, d, Hooks{})
	if err == nil || !strings.Contains(err.Error(), "cannot be answered") || !strings.Contains(err.Error(), "deadline exceeded") ||
		!strings.Contains(err.Error(), ChallengeFQDN(ep.Names.External)) {
		t.Fatalf("error = %v", err)
	}
}
