package clients

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// fakeRunner answers every pipeline with nothing.
type fakeRunner struct{}

func (fakeRunner) Run(context.Context, psrp.Pipeline, []psrp.Value) (*psrp.Result, error) {
	return &psrp.Result{}, nil
}

func TestExchangeIsBuiltOnceOverTheRunner(t *testing.T) {
	cfg := config.Default()
	cfg.Exchange.Concurrency = 0
	f := New(cfg, Options{Runner: fakeRunner{}})
	a, err := f.Exchange()
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Exchange()
	if err != nil || a != b {
		t.Fatalf("second Exchange: %p %v; want the same client %p", b, err, a)
	}
	if a.Concurrency != config.DefaultConcurrency {
		t.Errorf("concurrency %d; want the default %d", a.Concurrency, config.DefaultConcurrency)
	}
	if err := f.Close(context.Background()); err != nil {
		t.Errorf("Close without a session: %v", err)
	}
}

// The Exchange password comes from the Factory's Prompter when neither
// the environment nor a file gives it; without one, the error says where
// to set it.
func TestExchangePasswordFromThePrompter(t *testing.T) {
	t.Setenv(config.EnvExchangePassword, "")
	cases := []struct {
		name     string
		prompter config.Prompter
		asked    string
		wantErr  string
	}{
		{name: "no prompter", wantErr: config.EnvExchangePassword},
		{name: "prompter refuses", prompter: func(string) (string, error) { return "", errors.New("cancelled") }, asked: "Exchange password", wantErr: "cancelled"},
		{name: "prompter answers", prompter: func(string) (string, error) { return "typed", nil }, asked: "Exchange password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Exchange.Auth = "ntlm"
			asked := ""
			var p config.Prompter
			if c.prompter != nil {
				p = func(name string) (string, error) { asked = name; return c.prompter(name) }
			}
			_, err := New(cfg, Options{Prompter: p}).wsmanConfig()
			if asked != c.asked {
				t.Errorf("asked %q; want %q", asked, c.asked)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("error %v", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v; want one naming %q", err, c.wantErr)
			}
		})
	}
	// Kerberos from the ticket cache needs no password: nobody is asked.
	cfg := config.Default()
	cfg.Exchange.Auth = "kerberos"
	if _, err := New(cfg, Options{Prompter: func(name string) (string, error) {
		t.Errorf("asked for %s", name)
		return "", nil
	}}).wsmanConfig(); err != nil {
		t.Errorf("kerberos: %v", err)
	}
}

func TestHTTPSAndSMTPTargets(t *testing.T) {
	cfg := config.Default()
	cfg.Exchange.HTTPS = map[string]string{"EX01": "ex01.contoso.test:443"}
	cfg.Exchange.SMTP = map[string]string{"ex02": "ex02.contoso.test:25"}
	f := New(cfg, Options{})
	got, err := f.HTTPSTargets([]string{"ex01"})
	if err != nil || len(got) != 1 || got[0].Addr != "ex01.contoso.test:443" || got[0].Server != "ex01" {
		t.Errorf("https ex01: %+v %v", got, err)
	}
	if _, err := f.HTTPSTargets([]string{"EX01", "EX02"}); err == nil || !strings.Contains(err.Error(), "exchange.https has no address for EX02") {
		t.Errorf("https without EX02: %v", err)
	}
	if got := f.SMTPTargets([]string{"EX01", "EX02"}); len(got) != 1 || got[0].Server != "EX02" {
		t.Errorf("smtp: %+v", got)
	}
	p, err := f.SMTPProbe("smtp-starttls", []string{"EX01"}, []string{"mail.contoso.test"})
	if err != nil || p != nil {
		t.Errorf("smtp probe with no address: %+v %v; want none", p, err)
	}
	p, err = f.SMTPProbe("smtp-starttls", []string{"EX02"}, []string{"mail.contoso.test"})
	if err != nil || p == nil || len(p.Targets) != 1 || p.RootCAs == nil || p.Names[0] != "mail.contoso.test" {
		t.Errorf("smtp probe: %+v %v", p, err)
	}
	tls, err := f.TLSProbe("tls", []string{"EX01"}, []string{"mail.contoso.test"})
	if err != nil || tls.CheckName != "tls" || len(tls.Targets) != 1 || tls.RootCAs == nil {
		t.Errorf("tls probe: %+v %v", tls, err)
	}
	if _, err := f.TLSProbe("tls", []string{"EX02"}, nil); err == nil {
		t.Error("a TLS probe of a server without exchange.https was built")
	}
}

// The Autodiscover probe's password is resolved when the probe runs,
// through the Factory's Prompter.
func TestAutodiscoverProbePassword(t *testing.T) {
	t.Setenv(config.EnvProbePassword, "")
	cfg := config.Default()
	cfg.Exchange.HTTPS = map[string]string{"EX01": "ex01.contoso.test:443"}
	cfg.Namespace = config.Namespace{External: "mail.contoso.test", Autodiscover: "autodiscover.contoso.test"}
	f := New(cfg, Options{Prompter: func(name string) (string, error) { return "probe-" + name, nil }})
	a, err := f.AutodiscoverProbe("probe", []string{"EX01"}, "allowed@contoso.test", true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Host != "autodiscover.contoso.test" || a.ExternalName != "mail.contoso.test" || !a.ExpectExternal || a.Email != "allowed@contoso.test" {
		t.Errorf("probe: %+v", a)
	}
	if pw, err := a.Password(); err != nil || pw != "probe-Autodiscover probe password" {
		t.Errorf("password %q %v", pw, err)
	}
}

func TestRootCAs(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file, wantErr string
	}{
		{"", ""},
		{filepath.Join(dir, "missing.pem"), "exchange.ca_file"},
		{notPEM, "no PEM certificate"},
	}
	for _, c := range cases {
		cfg := config.Default()
		cfg.Exchange.CAFile = c.file
		pool, err := New(cfg, Options{}).RootCAs()
		if c.wantErr == "" && (err != nil || pool == nil) {
			t.Errorf("%q: %v", c.file, err)
		}
		if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%q: error %v; want %q", c.file, err, c.wantErr)
		}
	}
}

func TestDNSModes(t *testing.T) {
	want := []string{"rfc2136", "manual", "azure", "cloudflare", "hetzner", "ionos", "route53"}
	if got := DNSModes(); !reflect.DeepEqual(got, want) {
		t.Errorf("modes %v; want %v", got, want)
	}
	// Every mode the configuration accepts can be opened.
	if got := DNSModes(); !reflect.DeepEqual(got, config.PublicDNSModes) {
		t.Errorf("modes %v; the configuration accepts %v", got, config.PublicDNSModes)
	}
	for _, m := range []struct {
		mode string
		api  bool
	}{{"cloudflare", true}, {"route53", true}, {"rfc2136", false}, {"manual", false}, {"bind", false}} {
		if IsDNSAPI(m.mode) != m.api {
			t.Errorf("IsDNSAPI(%q) = %v", m.mode, !m.api)
		}
	}
}

// The RFC 2136 client carries the block's TSIG key, asked of the Prompter
// when neither the environment nor a file gives it.
func TestDNSUpdateTSIGFromThePrompter(t *testing.T) {
	t.Setenv(config.EnvTSIGSecret, "")
	cfg := config.Default()
	cfg.PublicDNS.Server, cfg.PublicDNS.Zone, cfg.PublicDNS.TSIG.Name = "192.0.2.53:53", "contoso.test.", "exrunbook"
	if _, err := New(cfg, Options{}).PublicDNSUpdate(); err == nil || !strings.Contains(err.Error(), config.EnvTSIGSecret) {
		t.Errorf("without a secret: %v", err)
	}
	f := New(cfg, Options{Prompter: func(string) (string, error) { return "c2VjcmV0", nil }})
	c, err := f.PublicDNSUpdate()
	if err != nil || c.Server != "192.0.2.53:53" || c.TSIG.Secret != "c2VjcmV0" || c.TSIG.Name != "exrunbook" || c.Setting != "" {
		t.Errorf("client %+v %v", c, err)
	}
	if _, err := f.DNSRecordSet(config.PublicDNSKey, t.Logf); err != nil {
		t.Errorf("rfc2136 record set: %v", err)
	}
	cfg.PublicDNS.Mode = "bind"
	if _, err := f.DNSRecordSet(config.PublicDNSKey, t.Logf); err == nil || !strings.Contains(err.Error(), "public_dns.mode") {
		t.Errorf("unknown mode: %v", err)
	}
}
