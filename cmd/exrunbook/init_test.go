package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/kerberos/kdctest"
	"github.com/exrunbook/exrunbook/internal/lab"
)

func runInitCLI(t *testing.T, in string, prompt bool, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	s := &IOStreams{In: strings.NewReader(in), Out: &out, ErrOut: &errb, IsTerminal: prompt, InIsTerminal: prompt}
	code := Execute(context.Background(), append([]string{"init"}, args...), s)
	return result{code, out.String(), errb.String()}
}

func TestInitFromRunningLab(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	labDir := filepath.Join(t.TempDir(), "lab")
	l, err := lab.Start(ctx, lab.Options{Dir: labDir, Mailboxes: 8, Allow: 2, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	path := filepath.Join(t.TempDir(), "exrunbook.yaml")
	r := runInitCLI(t, "", false, "--config", path, "--lab", labDir)
	if r.code != exitOK {
		t.Fatalf("init --lab: code %d: %s", r.code, r.errout)
	}
	cfg, err := config.Load(config.LoadOptions{File: path})
	if err != nil {
		t.Fatalf("the written file does not load: %v", err)
	}
	if want := l.Endpoints().PowerShell.HTTP; cfg.Exchange.Endpoint != want {
		t.Errorf("endpoint = %q, want the lab's %q", cfg.Exchange.Endpoint, want)
	}
	if cfg.Namespace.External != "outlook-ext.contoso.test" || cfg.Mailboxes.AllowGroup == "" {
		t.Errorf("namespace/allow group not the lab's: %+v %+v", cfg.Namespace, cfg.Mailboxes)
	}
	// Every server's SMTP listener is where the STARTTLS checks connect.
	for srv, ep := range l.Endpoints().Servers {
		if got, ok := cfg.Exchange.SMTPAddress(srv); !ok || got != ep.SMTP {
			t.Errorf("exchange.smtp for %s = %q, want the lab's %q", srv, got, ep.SMTP)
		}
	}
	if len(cfg.Exchange.SMTP) != len(l.Endpoints().Servers) || len(cfg.Exchange.SMTP) == 0 {
		t.Errorf("exchange.smtp = %v, want one address per lab server", cfg.Exchange.SMTP)
	}
	// An existing file is kept without --force (exit 2), replaced with it.
	if r := runInitCLI(t, "", false, "--config", path, "--lab", labDir); r.code != exitUsage || !strings.Contains(r.errout, "--force") {
		t.Errorf("overwrite without --force: code %d: %s", r.code, r.errout)
	}
	if r := runInitCLI(t, "", false, "--config", path, "--lab", labDir, "--force"); r.code != exitOK {
		t.Errorf("--force: code %d: %s", r.code, r.errout)
	}
	// A directory with no running lab is a usage error.
	if r := runInitCLI(t, "", false, "--config", filepath.Join(t.TempDir(), "x.yaml"), "--lab", t.TempDir()); r.code != exitUsage || !strings.Contains(r.errout, "no lab is running") {
		t.Errorf("no lab: code %d: %s", r.code, r.errout)
	}
}

func TestInitWithoutTerminalNeedsLab(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exrunbook.yaml")
	r := runInitCLI(t, "", false, "--config", path)
	if r.code != exitUsage || !strings.Contains(r.errout, "--lab") {
		t.Fatalf("code %d: %s", r.code, r.errout)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a file was written without answers")
	}
}

func TestInitAsksTheQuestions(t *testing.T) {
	dir := t.TempDir()
	// No ticket cache: the questions are the ones without its offer.
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(dir, "no-ccache"))
	pw, pfx := filepath.Join(dir, "pw"), filepath.Join(dir, "new.pfx")
	for _, f := range []string{pw, pfx} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name    string
		answers []string
		check   func(t *testing.T, cfg *config.Config, errout string)
	}{
		{
			name: "defaults with a manual public DNS",
			answers: []string{
				"http://ex01.fabrikam.test/PowerShell/", "ntlm", "", pw, "", "",
				"mail.fabrikam.test", "mail-ext.fabrikam.test", "autodiscover.fabrikam.test", "",
				"pfx", filepath.Join(dir, "missing.pfx"), pfx, "", "", "fabrikam.test", "203.0.113.7", "192.0.2.53:53", "192.0.2.25",
			},
			check: func(t *testing.T, cfg *config.Config, errout string) {
				if cfg.Exchange.Endpoint != "http://ex01.fabrikam.test/PowerShell/" || cfg.Exchange.Auth != "ntlm" || cfg.Exchange.User != "administrator@contoso.com" || cfg.Exchange.Concurrency != 4 {
					t.Errorf("exchange = %+v", cfg.Exchange)
				}
				if cfg.Namespace.External != "mail-ext.fabrikam.test" || cfg.PublicDNS.Mode != "manual" || cfg.PublicDNS.Zone != "fabrikam.test." {
					t.Errorf("namespace %+v public_dns %+v", cfg.Namespace, cfg.PublicDNS)
				}
				if !strings.Contains(errout, "missing.pfx: no such file") {
					t.Errorf("a missing PFX was not refused:\n%s", errout)
				}
				if cfg.Mailboxes.AllowGroup != "AllowExternalAccess" {
					t.Errorf("allow group = %q", cfg.Mailboxes.AllowGroup)
				}
			},
		},
		{
			name: "a wrong answer is asked again; rfc2136 asks for the server and key",
			answers: []string{
				"not a url", "https://ex01.fabrikam.test:5986/wsman", "https://ex01.fabrikam.test/PowerShell/", "digest", "basic", "svc-exrunbook@fabrikam.test", pw, "99", "8", "",
				"mail.fabrikam.test", "mail-ext.fabrikam.test", "autodiscover.fabrikam.test", "Outlook Anywhere Users",
				"thumbprint", "0123456789abcdef0123456789ABCDEF01234567",
				"rfc2136", "fabrikam.test.", "ns1", "198.51.100.1:53", "", "",
				"203.0.113.7", "192.0.2.53:53", "192.0.2.25",
			},
			check: func(t *testing.T, cfg *config.Config, errout string) {
				if !strings.Contains(errout, "expected a URL") || !strings.Contains(errout, "expected Exchange's remote PowerShell endpoint") || !strings.Contains(errout, "expected one of kerberos") ||
					!strings.Contains(errout, "expected a number from 1 to 16") || !strings.Contains(errout, "expected host:port") {
					t.Errorf("the wrong answers were not explained:\n%s", errout)
				}
				if cfg.Exchange.Auth != "basic" || cfg.Exchange.Concurrency != 8 || cfg.Certificate.Mode != "thumbprint" || cfg.PublicDNS.Server != "198.51.100.1:53" || cfg.PublicDNS.TSIG.Name != "exrunbook-update." {
					t.Errorf("cfg = %+v %+v %+v", cfg.Exchange, cfg.Certificate, cfg.PublicDNS)
				}
				if cfg.Mailboxes.AllowGroup != "Outlook Anywhere Users" {
					t.Errorf("allow group = %q", cfg.Mailboxes.AllowGroup)
				}
			},
		},
	}
	cases = append(cases, struct {
		name    string
		answers []string
		check   func(t *testing.T, cfg *config.Config, errout string)
	}{
		name: "a provider's API asks for the nameservers and the token file",
		answers: []string{
			"https://ex01.fabrikam.test:5986/wsman", "https://ex01.fabrikam.test/PowerShell/", "ntlm", "", pw, "", "",
			"mail.fabrikam.test", "mail-ext.fabrikam.test", "autodiscover.fabrikam.test", "",
			"thumbprint", "0123456789abcdef0123456789ABCDEF01234567",
			"route66", "cloudflare", "fabrikam.test.", "ns1", "198.51.100.1:53, 198.51.100.2:53", pw,
			"203.0.113.7", "192.0.2.53:53", "192.0.2.25",
		},
		check: func(t *testing.T, cfg *config.Config, errout string) {
			if !strings.Contains(errout, "expected one of rfc2136, manual, azure, cloudflare") || !strings.Contains(errout, "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN") {
				t.Errorf("the questions:\n%s", errout)
			}
			d := cfg.PublicDNS
			if d.Mode != "cloudflare" || strings.Join(d.Nameservers, " ") != "198.51.100.1:53 198.51.100.2:53" || d.Cloudflare.APITokenFile != pw || d.Hetzner.APITokenFile != "" {
				t.Errorf("public_dns = %+v", d)
			}
		},
	})
	cases = append(cases, struct {
		name    string
		answers []string
		check   func(t *testing.T, cfg *config.Config, errout string)
	}{
		name: "azure asks for the service principal, the subscription and resource group, and the secret's file",
		answers: []string{
			"https://ex01.fabrikam.test/PowerShell/", "ntlm", "", pw, "", "",
			"mail.fabrikam.test", "mail-ext.fabrikam.test", "autodiscover.fabrikam.test", "",
			"thumbprint", "0123456789abcdef0123456789ABCDEF01234567",
			"azure", "fabrikam.test.", "198.51.100.1:53",
			"fabrikam", "fabrikam.onmicrosoft.test", "not-a-guid", "00000000-0000-0000-0000-0000000000c1", "00000000-0000-0000-0000-00000000005b", "rg-dns", pw,
			"203.0.113.7", "192.0.2.53:53", "192.0.2.25",
		},
		check: func(t *testing.T, cfg *config.Config, errout string) {
			if !strings.Contains(errout, "or the tenant's domain such as contoso.onmicrosoft.com") || !strings.Contains(errout, "expected a GUID") ||
				!strings.Contains(errout, "Azure client secret (its value, not its ID), mode 0600 (or leave empty and set EXRUNBOOK_PUBLIC_DNS_AZURE_API_TOKEN)") {
				t.Errorf("the questions:\n%s", errout)
			}
			a := cfg.PublicDNS.Azure
			if cfg.PublicDNS.Mode != "azure" || a.TenantID != "fabrikam.onmicrosoft.test" || a.ClientID != "00000000-0000-0000-0000-0000000000c1" ||
				a.SubscriptionID != "00000000-0000-0000-0000-00000000005b" || a.ResourceGroup != "rg-dns" || a.APITokenFile != pw {
				t.Errorf("public_dns = %+v", cfg.PublicDNS)
			}
		},
	})
	cases = append(cases, struct {
		name    string
		answers []string
		check   func(t *testing.T, cfg *config.Config, errout string)
	}{
		name: "kerberos with a certificate request",
		answers: []string{
			"https://ex01.fabrikam.test/PowerShell/", "", "svc@FABRIKAM.TEST", "", pw, "", "",
			"mail.fabrikam.test", "mail-ext.fabrikam.test", "autodiscover.fabrikam.test", "",
			"request", "manual", "fabrikam.test", "203.0.113.7", "192.0.2.53:53", "192.0.2.25",
		},
		check: func(t *testing.T, cfg *config.Config, _ string) {
			if cfg.Exchange.Auth != "kerberos" || cfg.Certificate.Mode != "request" || cfg.Exchange.KerberosRealm() != "FABRIKAM.TEST" {
				t.Errorf("cfg = %+v %+v", cfg.Exchange, cfg.Certificate)
			}
		},
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "exrunbook.yaml")
			r := runInitCLI(t, strings.Join(c.answers, "\n")+"\n", true, "--config", path)
			if r.code != exitOK {
				t.Fatalf("code %d: %s", r.code, r.errout)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				l := strings.TrimSpace(line)
				if l == "" || strings.HasPrefix(l, "#") || strings.HasSuffix(l, ":") {
					continue
				}
				if !strings.Contains(l, " # ") {
					t.Errorf("key without a comment: %q", line)
				}
			}
			if strings.Contains(string(raw), "password:") || strings.Contains(string(raw), "secret:") {
				t.Errorf("a secret value key was written:\n%s", raw)
			}
			cfg, err := config.Load(config.LoadOptions{File: path})
			if err != nil {
				t.Fatalf("the written file does not load: %v\n%s", err, raw)
			}
			c.check(t, cfg, r.errout)
		})
	}
}

// Answers that run out before every question is answered validly are a
// usage error and write nothing.
func TestInitRunsOutOfAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exrunbook.yaml")
	r := runInitCLI(t, "not a url\n", true, "--config", path)
	if r.code != exitUsage || !strings.Contains(r.errout, "no more answers") {
		t.Fatalf("code %d: %s", r.code, r.errout)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a file was written")
	}
}

// TestInitOffersTheTicketCache: with a valid TGT in the ticket cache (kinit
// against a real MIT KDC), init proposes auth kerberos as the cache's
// principal and writes no password: the written config signs in from the
// cache. An endpoint named by its address asks for the SPN. Another user
// than the cache's is asked for a password as before.
func TestInitOffersTheTicketCache(t *testing.T) {
	kdctest.Require(t)
	realm, err := kdctest.Start(t.TempDir(), kdctest.Options{Realm: "CONTOSO.TEST", Domain: "contoso.test"})
	if err != nil {
		t.Fatalf("the MIT KDC did not start: %v", err)
	}
	defer realm.Stop()
	pw := "Adm1n-" + uuid.NewString()
	if err := realm.AddUser("administrator", pw); err != nil {
		t.Fatal(err)
	}
	ccache, err := realm.Kinit("administrator", pw, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRB5CCNAME", "FILE:"+ccache)
	t.Setenv("KRB5_CONFIG", realm.Krb5Conf)
	t.Setenv(config.EnvExchangePassword, "")
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	rest := []string{"", "", "mail.contoso.test", "mail-ext.contoso.test", "autodiscover.contoso.test", "",
		"request", "manual", "contoso.test", "203.0.113.7", "192.0.2.53:53", "192.0.2.25"}

	t.Run("the cache's principal, no password", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "exrunbook.yaml")
		// endpoint by address; auth, user and krb5.conf by default; an
		// empty SPN is refused, then given.
		answers := append([]string{"http://192.0.2.10/PowerShell/", "", "", "", "", "HTTP/ex01.contoso.test"}, rest...)
		r := runInitCLI(t, strings.Join(answers, "\n")+"\n", true, "--config", path)
		if r.code != exitOK {
			t.Fatalf("code %d: %s", r.code, r.errout)
		}
		if !strings.Contains(r.errout, "ticket cache holds a valid ticket of administrator@CONTOSO.TEST") || !strings.Contains(r.errout, "kerberos: the ticket cache of administrator@CONTOSO.TEST") {
			t.Errorf("the ticket cache was not offered:\n%s", r.errout)
		}
		if strings.Contains(r.errout, "File holding the password") {
			t.Errorf("a password file was asked for although the cache signs in:\n%s", r.errout)
		}
		if !strings.Contains(r.errout, "expected HTTP/<the server's DNS name>") {
			t.Errorf("an empty SPN for an address endpoint was not refused:\n%s", r.errout)
		}
		cfg, err := config.Load(config.LoadOptions{File: path})
		if err != nil {
			t.Fatalf("the written file does not load: %v", err)
		}
		e := cfg.Exchange
		if e.Auth != "kerberos" || e.User != "administrator@CONTOSO.TEST" || e.PasswordFile != "" || e.KerberosSPN() != "HTTP/ex01.contoso.test" || e.Krb5Conf() != realm.Krb5Conf {
			t.Errorf("exchange = %+v", e)
		}
		for _, s := range cfg.NeededSecrets() {
			if s.Env == config.EnvExchangePassword {
				t.Errorf("the written config needs the Exchange password")
			}
		}
	})
	t.Run("another user is asked for a password", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "exrunbook.yaml")
		answers := append([]string{"http://ex01.contoso.test/PowerShell/", "", "svc@CONTOSO.TEST", pwFile, ""}, rest...)
		r := runInitCLI(t, strings.Join(answers, "\n")+"\n", true, "--config", path)
		if r.code != exitOK {
			t.Fatalf("code %d: %s", r.code, r.errout)
		}
		cfg, err := config.Load(config.LoadOptions{File: path})
		if err != nil {
			t.Fatalf("the written file does not load: %v", err)
		}
		if e := cfg.Exchange; e.User != "svc@CONTOSO.TEST" || e.PasswordFile != pwFile || e.KerberosSPN() != "HTTP/ex01.contoso.test" {
			t.Errorf("exchange = %+v", e)
		}
	})
}
