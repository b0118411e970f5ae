package recordset_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
	"golang.org/x/crypto/acme"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	cffake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/cloudflare"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/cloudflare"
)

// startPebble runs Pebble in-process, validating DNS-01 against dnsAddr
// (TCP). Nothing is skipped: PEBBLE_VA_ALWAYS_VALID stays unset.
func startPebble(t *testing.T, dnsAddr string) *acme.Client {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	t.Setenv("PEBBLE_AUTHZREUSE", "0")
	t.Setenv("PEBBLE_VA_ALWAYS_VALID", "")
	logger := log.New(io.Discard, "", 0)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "rsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, 0, false, dnsAddr, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &acme.Client{Key: key, DirectoryURL: srv.URL + "/dir", HTTPClient: srv.Client()}
}

// obtain runs DNS-01 for domain with w writing the TXT records, as the
// ACME client does: write, check every nameserver serves it, accept, wait,
// remove.
func obtain(ctx context.Context, t *testing.T, cl *acme.Client, w *recordset.ChallengeWriter, verify func(fqdn, value string) error, domain string) *x509.Certificate {
	t.Helper()
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("register: %v", err)
	}
	order, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(domain))
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	for _, u := range order.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var chal *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == "dns-01" {
				chal = c
			}
		}
		if chal == nil {
			t.Fatalf("no dns-01 challenge in %+v", z.Challenges)
		}
		value, err := cl.DNS01ChallengeRecord(chal.Token)
		if err != nil {
			t.Fatal(err)
		}
		fqdn := "_acme-challenge." + z.Identifier.Value + "."
		if err := w.SetTXT(ctx, fqdn, value); err != nil {
			t.Fatalf("SetTXT: %v", err)
		}
		if err := verify(fqdn, value); err != nil {
			t.Fatalf("the TXT record is not served: %v", err)
		}
		if _, err := cl.Accept(ctx, chal); err != nil {
			t.Fatalf("accept: %v", err)
		}
		if _, err := cl.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("authorization: %v", err)
		}
		if err := w.DeleteTXT(ctx, fqdn, value); err != nil {
			t.Fatalf("DeleteTXT: %v", err)
		}
	}
	order, err = cl.WaitOrder(ctx, order.URI)
	if err != nil {
		t.Fatalf("order: %v", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: domain}, DNSNames: []string{domain}}, key)
	if err != nil {
		t.Fatal(err)
	}
	der, _, err := cl.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		t.Fatalf("finalize: %v", err)
	}
	cert, err := x509.ParseCertificate(der[0])
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// ACME DNS-01 through the Cloudflare fake: Pebble asks the lab's DNS
// server, which serves what the fake accepted; the zone ends as it began.
func TestACMEDNS01ThroughProviderFake(t *testing.T) {
	main := zone("contoso.test.", org.Record{Name: "outlook-ext.contoso.test.", Type: "A", TTL: 60, Data: "203.0.113.20"})
	dnsAddr := serve(t, main, nil)
	fake := &cffake.Fake{Store: &dnsapi.Store{Backend: main}, Token: "tok", ZoneID: "0123456789abcdef0123456789abcdef"}
	hs := httptest.NewServer(fake)
	defer hs.Close()
	u, _ := url.Parse(hs.URL)
	cf, err := cloudflare.New(apiretry.Access{Secret: "tok", Setting: "test", Transport: &dnsapi.Redirect{Hosts: []string{cloudflare.Host}, Target: u}})
	if err != nil {
		t.Fatal(err)
	}
	w := &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: cf, Zone: "contoso.test."}}}
	before := text(t, main)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	verify := func(fqdn, value string) error {
		c := &dnsupdate.Client{Server: dnsAddr, Zone: "contoso.test."}
		rep := c.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: []string{dnsAddr},
			Expect: []dnsupdate.RRset{{Name: fqdn, Type: dns.TypeTXT, TTL: recordset.ChallengeTTL, Data: []string{`"` + value + `"`}}}})
		if !rep.OK() {
			return errString(rep.Summary())
		}
		return nil
	}
	cert := obtain(ctx, t, startPebble(t, dnsAddr), w, verify, "outlook-ext.contoso.test")
	if len(cert.DNSNames) != 1 || cert.DNSNames[0] != "outlook-ext.contoso.test" {
		t.Fatalf("certificate for %v", cert.DNSNames)
	}
	if got := text(t, main); got != before {
		t.Fatalf("the zone after the challenge:\n%s\nwant:\n%s", got, before)
	}
	if !strings.Contains(strings.Join(fake.Requests(), "\n"), "POST /client/v4/zones/0123456789abcdef0123456789abcdef/dns_records") {
		t.Fatal("the TXT record was not written through the API")
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// Pebble really validates against the lab's DNS: a wrong TXT value,
// written through the same fake, fails the authorization.
func TestACMEDNS01WrongValueRefused(t *testing.T) {
	main := zone("contoso.test.")
	dnsAddr := serve(t, main, nil)
	fake := &cffake.Fake{Store: &dnsapi.Store{Backend: main}, Token: "tok", ZoneID: "0123456789abcdef0123456789abcdef"}
	hs := httptest.NewServer(fake)
	defer hs.Close()
	u, _ := url.Parse(hs.URL)
	cf, err := cloudflare.New(apiretry.Access{Secret: "tok", Setting: "test", Transport: &dnsapi.Redirect{Hosts: []string{cloudflare.Host}, Target: u}})
	if err != nil {
		t.Fatal(err)
	}
	w := &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: cf, Zone: "contoso.test."}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := startPebble(t, dnsAddr)
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	order, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("outlook-ext.contoso.test"))
	if err != nil {
		t.Fatal(err)
	}
	z, err := cl.GetAuthorization(ctx, order.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range z.Challenges {
		if c.Type != "dns-01" {
			continue
		}
		if err := w.SetTXT(ctx, "_acme-challenge.outlook-ext.contoso.test.", "not-the-digest"); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Accept(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.WaitAuthorization(ctx, order.AuthzURLs[0]); err == nil || !strings.Contains(err.Error(), "Correct value not found") {
			t.Fatalf("a wrong value was accepted: %v", err)
		}
		return
	}
	t.Fatal("no dns-01 challenge")
}
