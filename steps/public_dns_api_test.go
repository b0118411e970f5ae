package steps

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	azfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/azure"
	cffake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/cloudflare"
	hzfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/hetzner"
	ionosfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/ionos"
	r53fake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/route53"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// pdnsAPIFake is one provider's fake API for the shared acceptance tests.
type pdnsAPIFake struct {
	mode  string
	hosts []string
	// start returns the fake over store, accepting token.
	start func(store *dnsapi.Store, token string) http.Handler
	// throttle makes the fake's next n requests fail with HTTP 429.
	throttle func(h http.Handler, n int)
	// requests lists the requests the fake received.
	requests func(h http.Handler) []string
	// configure sets the provider's settings (not the token).
	configure func(c *config.Config, tokenFile string)
	// env is the token's environment variable.
	env string
	// setup, when set, points a module that takes no HTTP client at the
	// fake (fakeURL) through its own settings.
	setup func(t *testing.T, fakeURL string)
}

var pdnsAPIFakes = []pdnsAPIFake{
	{
		mode:  "cloudflare",
		hosts: []string{cffake.Host},
		start: func(store *dnsapi.Store, token string) http.Handler {
			return &cffake.Fake{Store: store, Token: token, ZoneID: "023e105f4ecef8ad9ca31a8372d0c353", MaxPerPage: 5}
		},
		throttle:  func(h http.Handler, n int) { h.(*cffake.Fake).Throttle(n) },
		requests:  func(h http.Handler) []string { return h.(*cffake.Fake).Requests() },
		configure: func(c *config.Config, f string) { c.PublicDNS.Cloudflare.APITokenFile = f },
		env:       config.EnvCloudflareToken,
	},
	{
		mode:  "hetzner",
		hosts: []string{hzfake.Host},
		start: func(store *dnsapi.Store, token string) http.Handler {
			return &hzfake.Fake{Store: store, Token: token, ZoneID: 4711, MaxPerPage: 3}
		},
		throttle:  func(h http.Handler, n int) { h.(*hzfake.Fake).Throttle(n) },
		requests:  func(h http.Handler) []string { return h.(*hzfake.Fake).Requests() },
		configure: func(c *config.Config, f string) { c.PublicDNS.Hetzner.APITokenFile = f },
		env:       config.EnvHetznerToken,
	},
	{
		mode:  "ionos",
		hosts: []string{ionosfake.Host},
		start: func(store *dnsapi.Store, token string) http.Handler {
			return &ionosfake.Fake{Store: store, APIKey: token, ZoneID: "11af3414-ebba-11e9-8df5-66fbe8a334b4"}
		},
		throttle:  func(h http.Handler, n int) { h.(*ionosfake.Fake).Throttle(n) },
		requests:  func(h http.Handler) []string { return h.(*ionosfake.Fake).Requests() },
		configure: func(c *config.Config, f string) { c.PublicDNS.IONOS.APITokenFile = f },
		env:       config.EnvIONOSToken,
	},
	{
		mode: "route53",
		start: func(store *dnsapi.Store, token string) http.Handler {
			return &r53fake.Fake{Store: store, AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: token, ZoneID: "Z0123456789EXLAB", MaxItems: 3}
		},
		throttle: func(h http.Handler, n int) { h.(*r53fake.Fake).Throttle(n) },
		requests: func(h http.Handler) []string { return h.(*r53fake.Fake).Requests() },
		configure: func(c *config.Config, f string) {
			c.PublicDNS.Route53 = config.Route53DNS{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", APITokenFile: f}
		},
		env: config.EnvRoute53Token,
		setup: func(t *testing.T, fakeURL string) {
			// The SDK reads its endpoint and nothing else of the machine's.
			t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", fakeURL)
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv("AWS_PROFILE", "")
		},
	},
	{
		mode:  "azure",
		hosts: []string{azfake.LoginHost, azfake.ManagementHost},
		start: func(store *dnsapi.Store, token string) http.Handler {
			return &azfake.Fake{Store: store, TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "00000000-0000-0000-0000-0000000000c1",
				ClientSecret: token, SubscriptionID: "00000000-0000-0000-0000-00000000005b", ResourceGroup: "rg-dns", MaxPerPage: 3}
		},
		throttle: func(h http.Handler, n int) { h.(*azfake.Fake).Throttle(n) },
		requests: func(h http.Handler) []string { return h.(*azfake.Fake).Requests() },
		configure: func(c *config.Config, f string) {
			c.PublicDNS.Azure = config.AzureDNS{TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "00000000-0000-0000-0000-0000000000c1",
				SubscriptionID: "00000000-0000-0000-0000-00000000005b", ResourceGroup: "rg-dns", APITokenFile: f}
		},
		env: config.EnvAzureToken,
	},
}

// pdnsAPIFakeOf is the fake of mode.
func pdnsAPIFakeOf(t *testing.T, mode string) pdnsAPIFake {
	t.Helper()
	for _, f := range pdnsAPIFakes {
		if f.mode == mode {
			return f
		}
	}
	t.Fatalf("no fake for mode %s", mode)
	return pdnsAPIFake{}
}

// pdnsLabZone is the lab's public zone: the internal name public, more
// records than one page of the fakes holds.
func pdnsLabZone() org.Zone {
	return org.Zone{View: "public", Name: "contoso.test.",
		SOA: org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: 300},
		NS:  []string{"ns1.contoso.test."},
		Records: []org.Record{
			{Name: "ns1.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.53"},
			{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
			{Name: "autodiscover.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
			{Name: "mail.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.25"},
			{Name: "contoso.test.", Type: "MX", TTL: 300, Data: "10 mail.contoso.test."},
			{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
			{Name: "contoso.test.", Type: "TXT", TTL: 300, Data: `"v=spf1 mx -all"`},
		}}
}

type pdnsAPILab struct {
	zone *dnsserver.MemZone
	dns  *dnsserver.Server
	fake http.Handler
	cfg  *config.Config
	deps *Deps
	// transport routes the providers' API requests to the fake.
	transport http.RoundTripper
	initial   string
}

func (l *pdnsAPILab) text(t *testing.T) string {
	t.Helper()
	z, err := l.zone.Zone()
	if err != nil {
		t.Fatal(err)
	}
	return dnsapi.Text(z)
}

// startAPILab starts the lab's public DNS server and the provider's fake
// over one zone, and a config whose token file holds token (the fake
// accepts "good.token").
func startAPILab(t *testing.T, f pdnsAPIFake, token string) *pdnsAPILab {
	t.Helper()
	if os.Getenv(f.env) != "" {
		t.Skipf("%s is set in the environment and would override the test's token", f.env)
	}
	l := &pdnsAPILab{zone: dnsserver.NewMemZone(pdnsLabZone())}
	srv, err := dnsserver.Start(dnsserver.Options{Zone: l.zone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	l.dns = srv
	l.fake = f.start(&dnsapi.Store{Backend: l.zone}, "good.token")
	hs := httptest.NewServer(l.fake)
	t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	if f.setup != nil {
		f.setup(t, hs.URL)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	c.Namespace = config.Namespace{Internal: "outlook.contoso.test", External: "outlook-ext.contoso.test", Autodiscover: "autodiscover.contoso.test"}
	c.PublicDNS.Mode = f.mode
	c.PublicDNS.Zone = "contoso.test."
	c.PublicDNS.Nameservers = []string{srv.Addr()}
	c.PublicDNS.PublicIP = "203.0.113.20"
	c.PublicDNS.TTL = 60
	f.configure(c, tokenFile)
	l.cfg = c
	l.transport = &dnsapi.Redirect{Hosts: f.hosts, Target: u}
	l.deps = testDeps(c, clients.Options{DNSAPITransport: l.transport})
	l.initial = l.text(t)
	return l
}

func (l *pdnsAPILab) step(t *testing.T) engine.Step {
	t.Helper()
	f, _ := Lookup("public-dns")
	s, err := f("public-dns", nil, l.deps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dig asks the lab's DNS server, as a resolver would.
func (l *pdnsAPILab) dig(t *testing.T, name string, qt uint16) string {
	t.Helper()
	c := &dnsupdate.Client{Server: l.dns.Addr(), Zone: "contoso.test."}
	s, err := c.Query(context.Background(), name, qt)
	if err != nil {
		t.Fatal(err)
	}
	return s.String()
}

// Against each fake: the step and its rollback through the engine, the
// zone byte-equal to its first state at the end, with a 429 on the way.
func TestPublicDNSProviderSwapAndRollback(t *testing.T) {
	for _, f := range pdnsAPIFakes {
		t.Run(f.mode, func(t *testing.T) {
			l := startAPILab(t, f, "good.token")
			clock := newPDNSClock()
			eng := pdnsOpen(t, t.TempDir(), l.step(t), clock, &pdnsSink{})
			plans, err := eng.PlanSteps(context.Background())
			if err != nil || len(plans) != 1 || plans[0].Err != nil {
				t.Fatalf("PlanSteps: %v %+v", err, plans)
			}
			if s := plans[0].Plan.Summary; !strings.Contains(s, "through the "+f.mode+" API") || !strings.Contains(s, "published before") {
				t.Errorf("plan summary: %s", s)
			}
			if got := l.text(t); got != l.initial {
				t.Fatalf("the plan changed the zone:\n%s", got)
			}
			// A rate limit on the way is waited out.
			f.throttle(l.fake, 1)
			we := pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
			if !strings.Contains(we.Reason, "resolvers may cache the old record") {
				t.Fatalf("waiting: %s", we.Reason)
			}
			retried := false
			reqs := f.requests(l.fake)
			for i := 1; i < len(reqs); i++ {
				retried = retried || reqs[i] == reqs[i-1]
			}
			if !retried {
				t.Errorf("the request answered 429 was not sent again: %q", reqs)
			}
			if got := l.dig(t, "outlook-ext.contoso.test.", dns.TypeA); got != "outlook-ext.contoso.test. A 203.0.113.20 (TTL 60)" {
				t.Fatalf("dig external: %s", got)
			}
			if got := l.dig(t, "outlook.contoso.test.", dns.TypeA); got != "outlook.contoso.test. A (none)" {
				t.Fatalf("dig internal: %s", got)
			}
			clock.Advance(301 * time.Second)
			if err := eng.Run(context.Background(), pdnsRun); err != nil {
				t.Fatalf("second run: %v", err)
			}
			v, _ := eng.StepState("public-dns")
			pdnsCheck(t, v.PostChecks, "public DNS records", engine.CheckPass)
			if err := eng.Rollback(context.Background(), "public-dns", false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if got := l.text(t); got != l.initial {
				t.Fatalf("zone after rollback:\n%s\nwant:\n%s", got, l.initial)
			}
		})
	}
}

// A record changed behind exrunbook's back between the snapshot and the
// apply is refused, naming it, and nothing is written.
func TestPublicDNSProviderRefusesDrift(t *testing.T) {
	for _, f := range pdnsAPIFakes {
		t.Run(f.mode, func(t *testing.T) {
			l := startAPILab(t, f, "good.token")
			step := l.step(t)
			env := &pdnsEnv{now: time.Now()}
			snap, err := step.Capture(context.Background(), env)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.zone.UpdateZone(func(z *org.Zone) error {
				for i, r := range z.Records {
					if r.Name == "outlook.contoso.test." {
						z.Records[i].Data = "198.51.100.7"
					}
				}
				z.SOA.Serial++
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			changed := l.text(t)
			_, err = step.Apply(context.Background(), env, snap)
			if err == nil || !strings.Contains(err.Error(), "outlook.contoso.test. A: expected 203.0.113.10 (TTL 300), found 198.51.100.7 (TTL 300)") || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("Apply after a change behind its back: %v", err)
			}
			if got := l.text(t); got != changed {
				t.Fatalf("the refused apply changed the zone:\n%s", got)
			}
		})
	}
}

// A wrong token: a clear error naming the setting, in the provider's
// words, and the zone is untouched.
func TestPublicDNSProviderWrongToken(t *testing.T) {
	for _, f := range pdnsAPIFakes {
		t.Run(f.mode, func(t *testing.T) {
			l := startAPILab(t, f, "wrong-token")
			step := l.step(t)
			_, err := step.Capture(context.Background(), &pdnsEnv{now: time.Now()})
			if err == nil || !strings.Contains(err.Error(), f.env+" or public_dns."+f.mode+".") {
				t.Fatalf("Capture with a wrong token: %v", err)
			}
			if strings.Contains(err.Error(), "wrong-token") {
				t.Fatalf("the error shows the token: %v", err)
			}
			if got := l.text(t); got != l.initial {
				t.Fatalf("the zone changed:\n%s", got)
			}
		})
	}
}

// The ACME TXT writer over public_dns, for each provider: the value is
// served by the lab's DNS, then removed, the zone as it was.
func TestPublicDNSChallengeWriter(t *testing.T) {
	for _, f := range pdnsAPIFakes {
		t.Run(f.mode, func(t *testing.T) {
			l := startAPILab(t, f, "good.token")
			w, err := l.deps.Clients.ChallengeWriter(t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := w.SetTXT(ctx, "_acme-challenge.outlook-ext.contoso.test.", "digest"); err != nil {
				t.Fatal(err)
			}
			if got := l.dig(t, "_acme-challenge.outlook-ext.contoso.test.", dns.TypeTXT); got != `_acme-challenge.outlook-ext.contoso.test. TXT "digest" (TTL 60)` {
				t.Fatalf("served: %s", got)
			}
			if err := w.DeleteTXT(ctx, "_acme-challenge.outlook-ext.contoso.test.", "digest"); err != nil {
				t.Fatal(err)
			}
			if got := l.text(t); got != l.initial {
				t.Fatalf("zone after the challenge:\n%s", got)
			}
		})
	}
}
