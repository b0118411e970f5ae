package rfc2136

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

func start(t *testing.T) (*Provider, *dnsserver.MemZone) {
	t.Helper()
	z := dnsserver.NewMemZone(org.Zone{View: "public", Name: "contoso.test.",
		SOA: org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: 300},
		NS:  []string{"ns1.contoso.test."},
		Records: []org.Record{
			{Name: "ns1.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.53"},
			{Name: "_acme-challenge.outlook.contoso.test.", Type: "TXT", TTL: 60, Data: `"other"`},
		}})
	srv, err := dnsserver.Start(dnsserver.Options{Zone: z, Key: &dnsserver.Key{Name: "exrunbook-update.", Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return New(dnsupdate.Client{Server: srv.Addr(), TSIG: dnsupdate.TSIG{Name: "exrunbook-update.", Secret: secret}}), z
}

func TestProviderAgainstLabServer(t *testing.T) {
	p, _ := start(t)
	ctx := context.Background()
	const zone, name = "contoso.test.", "_acme-challenge.outlook.contoso.test."
	get := func() recordset.RRset {
		t.Helper()
		s, err := p.GetRRsets(ctx, zone, name, dns.TypeTXT)
		if err != nil {
			t.Fatal(err)
		}
		return s[0]
	}
	steps := []struct {
		what string
		do   func() error
		want string
	}{
		{"append keeps the other value", func() error {
			return p.AppendRecords(ctx, zone, recordset.RRset{Name: name, Type: dns.TypeTXT, TTL: 60, Data: []string{`"token-1"`}})
		}, `"other" | "token-1"`},
		{"delete one value", func() error {
			return p.DeleteRecords(ctx, zone, recordset.RRset{Name: name, Type: dns.TypeTXT, Data: []string{`"other"`}})
		}, `"token-1"`},
		{"deleting an absent value changes nothing", func() error {
			return p.DeleteRecords(ctx, zone, recordset.RRset{Name: name, Type: dns.TypeTXT, Data: []string{`"absent"`}})
		}, `"token-1"`},
		{"set replaces", func() error {
			return p.SetRRset(ctx, zone, recordset.RRset{Name: name, Type: dns.TypeTXT, TTL: 120, Data: []string{`"a"`, `"b"`}})
		}, `"a" | "b"`},
		{"delete the RRset", func() error {
			return p.DeleteRecords(ctx, zone, recordset.RRset{Name: name, Type: dns.TypeTXT})
		}, ``},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		if got := strings.Join(get().Data, " | "); got != st.want {
			t.Fatalf("%s: %q, want %q", st.what, got, st.want)
		}
	}
	if err := p.SetRRset(ctx, zone, recordset.RRset{Name: name, Type: dns.TypeTXT}); err == nil {
		t.Error("SetRRset without data succeeded")
	}
	if _, err := p.GetRRsets(ctx, zone, "outlook.fabrikam.test.", dns.TypeA); err == nil {
		t.Error("a name outside the zone was read")
	}
}

func TestApplyConflict(t *testing.T) {
	p, _ := start(t)
	ctx := context.Background()
	u := dnsupdate.Update{Prereq: []dnsupdate.RRset{{Name: "ns1.contoso.test.", Type: dns.TypeA, TTL: 300, Data: []string{"203.0.113.99"}}},
		Delete: []dnsupdate.RRset{{Name: "ns1.contoso.test.", Type: dns.TypeA}}}
	var ce *dnsupdate.ConflictError
	if err := p.Apply(ctx, "contoso.test.", u); !errors.As(err, &ce) || !strings.Contains(err.Error(), "203.0.113.53") {
		t.Fatalf("Apply under a wrong prerequisite: %v", err)
	}
}
