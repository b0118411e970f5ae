package recordset_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	cffake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/cloudflare"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/cloudflare"
	"github.com/exrunbook/exrunbook/internal/recordset/rfc2136"
)

const tsigSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

func zone(name string, recs ...org.Record) *dnsserver.MemZone {
	return dnsserver.NewMemZone(org.Zone{View: "public", Name: name,
		SOA: org.SOA{MName: "ns1." + name, RName: "hostmaster." + name, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: 300},
		NS:  []string{"ns1." + name}, Records: recs})
}

func serve(t *testing.T, z *dnsserver.MemZone, key *dnsserver.Key) string {
	t.Helper()
	s, err := dnsserver.Start(dnsserver.Options{Zone: z, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Addr()
}

func text(t *testing.T, z *dnsserver.MemZone) string {
	t.Helper()
	oz, err := z.Zone()
	if err != nil {
		t.Fatal(err)
	}
	return dnsapi.Text(oz)
}

// The main zone (through the Cloudflare fake) delegates the challenge of
// outlook.contoso.test with a CNAME into acme.fabrikam.test, which only
// RFC 2136 may write: the TXT record lands there, the main zone is never
// written, and the lab's DNS serves the value at the target.
func TestChallengeThroughCNAME(t *testing.T) {
	main := zone("contoso.test.",
		org.Record{Name: "_acme-challenge.outlook.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.acme.fabrikam.test."},
		org.Record{Name: "_acme-challenge.loop.contoso.test.", Type: "CNAME", TTL: 300, Data: "_acme-challenge.loop2.contoso.test."},
		org.Record{Name: "_acme-challenge.loop2.contoso.test.", Type: "CNAME", TTL: 300, Data: "_acme-challenge.loop.contoso.test."},
		org.Record{Name: "_acme-challenge.away.contoso.test.", Type: "CNAME", TTL: 300, Data: "away.example.test."},
	)
	serve(t, main, nil)
	fake := &cffake.Fake{Store: &dnsapi.Store{Backend: main}, Token: "tok", ZoneID: "0123456789abcdef0123456789abcdef"}
	hs := httptest.NewServer(fake)
	defer hs.Close()
	u, _ := url.Parse(hs.URL)
	cf, err := cloudflare.New(apiretry.Access{Secret: "tok", Setting: "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN", Transport: &dnsapi.Redirect{Hosts: []string{cloudflare.Host}, Target: u}})
	if err != nil {
		t.Fatal(err)
	}
	acme := zone("acme.fabrikam.test.")
	acmeAddr := serve(t, acme, &dnsserver.Key{Name: "acme-update.", Secret: tsigSecret})
	rfc := rfc2136.New(dnsupdate.Client{Server: acmeAddr, TSIG: dnsupdate.TSIG{Name: "acme-update.", Secret: tsigSecret}})
	w := &recordset.ChallengeWriter{Accesses: []recordset.Access{{Provider: cf, Zone: "contoso.test."}, {Provider: rfc, Zone: "acme.fabrikam.test."}}}
	ctx := context.Background()
	mainBefore, acmeBefore := text(t, main), text(t, acme)

	name, acc, err := w.Target(ctx, "_acme-challenge.outlook.contoso.test")
	if err != nil || name != "outlook.acme.fabrikam.test." || acc.Zone != "acme.fabrikam.test." {
		t.Fatalf("Target = %s %s %v", name, acc.Zone, err)
	}
	for _, v := range []string{"digest-one", "digest-two"} {
		if err := w.SetTXT(ctx, "_acme-challenge.outlook.contoso.test.", v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := (&dnsupdate.Client{Server: acmeAddr, Zone: "acme.fabrikam.test."}).Query(ctx, "outlook.acme.fabrikam.test.", dns.TypeTXT)
	if err != nil || got.String() != `outlook.acme.fabrikam.test. TXT "digest-one", "digest-two" (TTL 60)` {
		t.Fatalf("served at the target: %s %v", got, err)
	}
	if text(t, main) != mainBefore {
		t.Fatal("the main zone was written")
	}
	for _, v := range []string{"digest-one", "digest-two"} {
		if err := w.DeleteTXT(ctx, "_acme-challenge.outlook.contoso.test.", v); err != nil {
			t.Fatal(err)
		}
	}
	if text(t, acme) != acmeBefore {
		t.Fatalf("the challenge zone is not as before:\n%s", text(t, acme))
	}

	// Without a CNAME the record goes to the main zone, through the API.
	if err := w.SetTXT(ctx, "_acme-challenge.mail.contoso.test.", "d"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text(t, main), "_acme-challenge.mail.contoso.test.\t60\tIN\tTXT\t\"d\"") {
		t.Fatalf("main zone:\n%s", text(t, main))
	}
	if err := w.DeleteTXT(ctx, "_acme-challenge.mail.contoso.test.", "d"); err != nil || text(t, main) != mainBefore {
		t.Fatalf("DeleteTXT: %v\n%s", err, text(t, main))
	}

	for _, tc := range []struct{ fqdn, want string }{
		{"_acme-challenge.loop.contoso.test.", "loops: _acme-challenge.loop.contoso.test. -> _acme-challenge.loop2.contoso.test. -> _acme-challenge.loop.contoso.test."},
		{"_acme-challenge.away.contoso.test.", "is a CNAME to away.example.test., which is in none of the zones exrunbook may write (contoso.test., acme.fabrikam.test.): configure certificate.acme.challenge_dns"},
		{"_acme-challenge.www.example.test.", "in none of the zones"},
	} {
		if err := w.SetTXT(ctx, tc.fqdn, "x"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetTXT(%s) = %v, want %q", tc.fqdn, err, tc.want)
		}
	}
	if text(t, main) != mainBefore || text(t, acme) != acmeBefore {
		t.Fatal("a refused challenge wrote something")
	}
}

func dig(t *testing.T, addr, name string, typ uint16) string {
	t.Helper()
	s, err := (&dnsupdate.Client{Server: addr, Zone: "contoso.test."}).Query(context.Background(), name, typ)
	if err != nil {
		t.Fatal(err)
	}
	return s.String()
}
