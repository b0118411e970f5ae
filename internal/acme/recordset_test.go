package acme

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/rfc2136"
)

const testTSIG = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

func memZone(t *testing.T, name string, recs ...org.Record) (*dnsupdate.Client, string) {
	t.Helper()
	z := dnsserver.NewMemZone(org.Zone{View: "public", Name: name,
		SOA: org.SOA{MName: "ns1." + name, RName: "hostmaster." + name, Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: 300},
		NS:  []string{"ns1." + name}, Records: recs})
	s, err := dnsserver.Start(dnsserver.Options{Zone: z, Key: &dnsserver.Key{Name: "update.", Secret: testTSIG}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &dnsupdate.Client{Server: s.Addr(), Zone: name, TSIG: dnsupdate.TSIG{Name: "update.", Secret: testTSIG}}, s.Addr()
}

// RecordSetDNS checks each record in the zone it lands in: a delegated
// name's record at its CNAME's target, on the target zone's servers; a
// value that could change the record is refused before anything is
// written; a zone without servers is an error naming it.
func TestRecordSetDNSCheckFollowsCNAME(t *testing.T) {
	mainC, mainAddr := memZone(t, "contoso.test.",
		org.Record{Name: "_acme-challenge.outlook-ext.contoso.test.", Type: "CNAME", TTL: 300, Data: "x.acme.fabrikam.test."})
	acmeC, acmeAddr := memZone(t, "acme.fabrikam.test.")
	w := &recordset.ChallengeWriter{Accesses: []recordset.Access{
		{Provider: rfc2136.New(*mainC), Zone: "contoso.test."}, {Provider: rfc2136.New(*acmeC), Zone: "acme.fabrikam.test."}}}
	d := &RecordSetDNS{Writer: w, Zones: []ZoneServers{
		{Zone: "contoso.test.", Server: mainAddr, Nameservers: []string{mainAddr}},
		{Zone: "acme.fabrikam.test", Server: acmeAddr, Nameservers: []string{acmeAddr}}}}
	ctx := context.Background()
	recs := []TXTRecord{{FQDN: ChallengeFQDN("outlook-ext.contoso.test"), Value: "delegated"}, {FQDN: ChallengeFQDN("outlook.contoso.test"), Value: "direct"}}

	ok, detail, err := d.Check(ctx, recs)
	if err != nil || ok || !strings.Contains(detail, "zone acme.fabrikam.test.:") || !strings.Contains(detail, "x.acme.fabrikam.test.") {
		t.Fatalf("before writing: %v %q %v", ok, detail, err)
	}
	for _, r := range recs {
		if err := d.Present(ctx, r.FQDN, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := mainC.Query(ctx, ChallengeFQDN("outlook-ext.contoso.test"), dns.TypeTXT); s.Exists() {
		t.Fatalf("the delegated record was written in the main zone: %s", s)
	}
	ok, detail, err = d.Check(ctx, recs)
	if err != nil || !ok || !strings.Contains(detail, "zone contoso.test.:") || !strings.Contains(detail, "zone acme.fabrikam.test.:") {
		t.Fatalf("after writing: %v %q %v", ok, detail, err)
	}
	for _, r := range recs {
		if err := d.CleanUp(ctx, r.FQDN, r.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		cl   *dnsupdate.Client
		name string
	}{{mainC, ChallengeFQDN("outlook.contoso.test")}, {acmeC, "x.acme.fabrikam.test."}} {
		if s, err := c.cl.Query(ctx, c.name, dns.TypeTXT); err != nil || s.Exists() {
			t.Fatalf("left after CleanUp: %s %v", s, err)
		}
	}

	if err := d.Present(ctx, recs[1].FQDN, `x" "y`); err == nil || !strings.Contains(err.Error(), "not base64url") {
		t.Fatalf("a quoted value: %v", err)
	}
	d.Zones = d.Zones[:1]
	if _, _, err := d.Check(ctx, recs); err == nil || !strings.Contains(err.Error(), "zone acme.fabrikam.test.: no server") {
		t.Fatalf("a zone without servers: %v", err)
	}
}
