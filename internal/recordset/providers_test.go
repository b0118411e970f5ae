package recordset_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	azfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/azure"
	cffake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/cloudflare"
	hzfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/hetzner"
	ionosfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/ionos"
	r53fake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/route53"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/azure"
	"github.com/exrunbook/exrunbook/internal/recordset/cloudflare"
	"github.com/exrunbook/exrunbook/internal/recordset/hetzner"
	"github.com/exrunbook/exrunbook/internal/recordset/ionos"
	"github.com/exrunbook/exrunbook/internal/recordset/route53"
)

type providerCase struct {
	name string
	open func(t *testing.T, z *dnsserver.MemZone) recordset.Provider
}

func redirect(t *testing.T, h http.Handler, hosts ...string) http.RoundTripper {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	return &dnsapi.Redirect{Hosts: hosts, Target: u}
}

var providerCases = []providerCase{
	{"azure", func(t *testing.T, z *dnsserver.MemZone) recordset.Provider {
		f := &azfake.Fake{Store: &dnsapi.Store{Backend: z}, TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "00000000-0000-0000-0000-0000000000c1",
			ClientSecret: "s3cret", SubscriptionID: "00000000-0000-0000-0000-00000000005b", ResourceGroup: "rg-dns"}
		p, err := azure.New(azure.Options{TenantID: f.TenantID, ClientID: f.ClientID, ClientSecret: "s3cret", SubscriptionID: f.SubscriptionID,
			ResourceGroup: "rg-dns", SecretSetting: "test", Transport: redirect(t, f, azure.LoginHost, azure.ManagementHost)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
	{"cloudflare", func(t *testing.T, z *dnsserver.MemZone) recordset.Provider {
		p, err := cloudflare.New(apiretry.Access{Secret: "tok", Setting: "test",
			Transport: redirect(t, &cffake.Fake{Store: &dnsapi.Store{Backend: z}, Token: "tok", ZoneID: "0123456789abcdef0123456789abcdef", MaxPerPage: 5}, cloudflare.Host)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
	{"hetzner", func(t *testing.T, z *dnsserver.MemZone) recordset.Provider {
		p, err := hetzner.New(apiretry.Access{Secret: "tok", Setting: "test",
			Transport: redirect(t, &hzfake.Fake{Store: &dnsapi.Store{Backend: z}, Token: "tok", ZoneID: 4711, MaxPerPage: 2}, hetzner.Host)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
	{"ionos", func(t *testing.T, z *dnsserver.MemZone) recordset.Provider {
		p, err := ionos.New(apiretry.Access{Secret: "pre.fix", Setting: "test",
			Transport: redirect(t, &ionosfake.Fake{Store: &dnsapi.Store{Backend: z}, APIKey: "pre.fix", ZoneID: "11af3414-ebba-11e9-8df5-66fbe8a334b4"}, ionos.Host)})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
	{"route53", func(t *testing.T, z *dnsserver.MemZone) recordset.Provider {
		hs := httptest.NewServer(&r53fake.Fake{Store: &dnsapi.Store{Backend: z}, AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s3cret", ZoneID: "ZEXLAB", MaxItems: 2})
		t.Cleanup(hs.Close)
		t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", hs.URL)
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		p, err := route53.New(route53.Options{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "s3cret", KeySetting: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}},
}

// Every provider's whole-RRset operations, as the DNS then serves them.
func TestProvidersRRsetOperations(t *testing.T) {
	const z = "contoso.test."
	set := func(name string, typ uint16, ttl uint32, data ...string) recordset.RRset {
		return recordset.RRset{Name: name, Type: typ, TTL: ttl, Data: data}
	}
	steps := []struct {
		what string
		do   func(ctx context.Context, p recordset.Provider) error
		name string
		typ  uint16
		want string
	}{
		{"set a new RRset of two", func(ctx context.Context, p recordset.Provider) error {
			return p.SetRRset(ctx, z, set("multi.contoso.test.", dns.TypeA, 300, "203.0.113.1", "203.0.113.2"))
		}, "multi.contoso.test.", dns.TypeA, "multi.contoso.test. A 203.0.113.1, 203.0.113.2 (TTL 300)"},
		{"set replaces one of them", func(ctx context.Context, p recordset.Provider) error {
			return p.SetRRset(ctx, z, set("multi.contoso.test.", dns.TypeA, 300, "203.0.113.2", "203.0.113.3"))
		}, "multi.contoso.test.", dns.TypeA, "multi.contoso.test. A 203.0.113.2, 203.0.113.3 (TTL 300)"},
		{"set changes the TTL", func(ctx context.Context, p recordset.Provider) error {
			return p.SetRRset(ctx, z, set("multi.contoso.test.", dns.TypeA, 120, "203.0.113.2", "203.0.113.3"))
		}, "multi.contoso.test. ", dns.TypeA, "multi.contoso.test. A 203.0.113.2, 203.0.113.3 (TTL 120)"},
		{"set one record in place of one", func(ctx context.Context, p recordset.Provider) error {
			return p.SetRRset(ctx, z, set("outlook.contoso.test.", dns.TypeA, 60, "203.0.113.20"))
		}, "outlook.contoso.test.", dns.TypeA, "outlook.contoso.test. A 203.0.113.20 (TTL 60)"},
		{"append a TXT value", func(ctx context.Context, p recordset.Provider) error {
			return p.AppendRecords(ctx, z, set("_acme-challenge.contoso.test.", dns.TypeTXT, 60, `"one"`))
		}, "_acme-challenge.contoso.test.", dns.TypeTXT, `_acme-challenge.contoso.test. TXT "one" (TTL 60)`},
		{"append a second value", func(ctx context.Context, p recordset.Provider) error {
			return p.AppendRecords(ctx, z, set("_acme-challenge.contoso.test.", dns.TypeTXT, 60, `"two with space"`))
		}, "_acme-challenge.contoso.test.", dns.TypeTXT, `_acme-challenge.contoso.test. TXT "one", "two with space" (TTL 60)`},
		{"delete one value", func(ctx context.Context, p recordset.Provider) error {
			return p.DeleteRecords(ctx, z, set("_acme-challenge.contoso.test.", dns.TypeTXT, 0, `"one"`))
		}, "_acme-challenge.contoso.test.", dns.TypeTXT, `_acme-challenge.contoso.test. TXT "two with space" (TTL 60)`},
		{"delete an absent value", func(ctx context.Context, p recordset.Provider) error {
			return p.DeleteRecords(ctx, z, set("_acme-challenge.contoso.test.", dns.TypeTXT, 0, `"absent"`))
		}, "_acme-challenge.contoso.test.", dns.TypeTXT, `_acme-challenge.contoso.test. TXT "two with space" (TTL 60)`},
		{"delete a whole RRset", func(ctx context.Context, p recordset.Provider) error {
			return p.DeleteRecords(ctx, z, set("multi.contoso.test.", dns.TypeA, 0))
		}, "multi.contoso.test.", dns.TypeA, "multi.contoso.test. A (none)"},
		{"a CNAME target without the final dot reads back canonical", func(ctx context.Context, p recordset.Provider) error {
			return p.SetRRset(ctx, z, set("alias.contoso.test.", dns.TypeCNAME, 300, "outlook.contoso.test."))
		}, "alias.contoso.test.", dns.TypeCNAME, "alias.contoso.test. CNAME outlook.contoso.test. (TTL 300)"},
	}
	for _, pc := range providerCases {
		t.Run(pc.name, func(t *testing.T) {
			mz := zone(z, org.Record{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
				org.Record{Name: "a.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.1"},
				org.Record{Name: "b.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.2"})
			addr := serve(t, mz, nil)
			p := pc.open(t, mz)
			ctx := context.Background()
			for _, st := range steps {
				if err := st.do(ctx, p); err != nil {
					t.Fatalf("%s: %v", st.what, err)
				}
				name := strings.TrimSpace(st.name)
				got, err := p.GetRRsets(ctx, z, name, st.typ)
				if err != nil || got[0].String() != st.want {
					t.Fatalf("%s: the API returns %s (%v), want %s", st.what, got, err, st.want)
				}
				if served := dig(t, addr, name, st.typ); served != st.want {
					t.Fatalf("%s: DNS serves %s, want %s", st.what, served, st.want)
				}
			}
		})
	}
}
