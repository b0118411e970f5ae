package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const pfxLine = "certificate: {mode: pfx, pfx_file: %[1]s/new.pfx, pfx_password_file: %[1]s/pfx.password}"

// acmeConfig is the valid fixture in acme mode with acme (a YAML flow
// mapping body) and, appended to exchange, extra.
func acmeConfig(t *testing.T, acme, extra string) (string, error) {
	t.Helper()
	dir, path := fixture(t)
	body := fmt.Sprintf(validYAML, dir)
	body = strings.Replace(body, fmt.Sprintf(pfxLine, dir), "certificate: {mode: acme, acme: {"+acme+"}}", 1)
	if extra != "" {
		body = strings.Replace(body, "  servers: [EX01, EX02]\n", "  servers: [EX01, EX02]\n"+extra+"\n", 1)
	}
	writeFile(t, path, body)
	_, err := Load(LoadOptions{File: path})
	return path, err
}

func TestACMEConfig(t *testing.T) {
	dir, path := fixture(t)
	body := strings.Replace(fmt.Sprintf(validYAML, dir), fmt.Sprintf(pfxLine, dir),
		"certificate: {mode: acme, acme: {directory: https://acme-staging-v02.api.letsencrypt.org/directory, email: hostmaster@contoso.com, renew_before: 45d}}", 1)
	body = strings.Replace(body, "  servers: [EX01, EX02]\n", "  servers: [EX01, EX02]\n  smtp: {EX01: \"ex01.contoso.com:25\"}\n", 1)
	writeFile(t, path, body)
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Certificate.ACME
	if a.Directory != LetsEncryptStaging || a.Email != "hostmaster@contoso.com" || a.RenewBefore.D() != 45*24*time.Hour {
		t.Fatalf("acme = %+v", a)
	}
	if addr, ok := cfg.Exchange.SMTPAddress("ex01"); !ok || addr != "ex01.contoso.com:25" {
		t.Fatalf("SMTPAddress = %q %v", addr, ok)
	}
	for _, s := range cfg.NeededSecrets() {
		if s.Env == EnvACMEEABHMAC {
			t.Fatal("EAB key needed without eab_kid")
		}
	}
	// The environment overrides; defaults fill what is not written.
	t.Setenv("EXRUNBOOK_CERTIFICATE_ACME_RENEW_BEFORE", "10d12h")
	body = strings.Replace(body, ", renew_before: 45d", "", 1)
	body = strings.Replace(body, "directory: https://acme-staging-v02.api.letsencrypt.org/directory, ", "", 1)
	writeFile(t, path, body)
	if cfg, err = Load(LoadOptions{File: path}); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Certificate.ACME.RenewBefore.D(); got != 252*time.Hour {
		t.Errorf("renew_before from the environment = %s", got)
	}
	if cfg.Certificate.ACME.Directory != LetsEncryptProduction {
		t.Errorf("default directory = %q", cfg.Certificate.ACME.Directory)
	}
}

func TestACMEConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name, acme, extra, key, want string
	}{
		{"http directory", "directory: http://ca.contoso.com/dir", "", "certificate.acme.directory", "not an https:// URL"},
		{"renew_before", "renew_before: soon", "", "certificate.acme.renew_before", "not a duration"},
		{"renew_before zero", "renew_before: 0s", "", "certificate.acme.renew_before", "not a positive duration"},
		{"email", "email: hostmaster", "", "certificate.acme.email", "not an e-mail address"},
		{"eab without kid", "eab_hmac_file: tsig.secret", "", "certificate.acme.eab_kid", "key identifier"},
		{"ca file", "ca_file: /nonexistent/ca.pem", "", "certificate.acme.ca_file", "no such file"},
		{"smtp", "", "  smtp: {EX01: ex01.contoso.com}", "exchange.smtp.EX01", "not host:port"},
		{"challenge_dns without mode", "challenge_dns: {zone: acme.fabrikam.test.}", "", "certificate.acme.challenge_dns.mode", "missing; expected one of rfc2136, manual"},
		{"challenge_dns mode", "challenge_dns: {mode: nsupdate, zone: acme.fabrikam.test.}", "", "certificate.acme.challenge_dns.mode", `"nsupdate" is not allowed`},
		{"challenge_dns without zone", "challenge_dns: {mode: manual, server: \"127.0.0.1:53\"}", "", "certificate.acme.challenge_dns.zone", "missing"},
		{"challenge_dns zone without dot", "challenge_dns: {mode: manual, zone: acme.fabrikam.test, server: \"127.0.0.1:53\"}", "", "certificate.acme.challenge_dns.zone", "no trailing dot"},
		{"challenge_dns is public_dns.zone", "challenge_dns: {mode: manual, zone: contoso.com., server: \"127.0.0.1:53\"}", "", "certificate.acme.challenge_dns.zone", "is public_dns.zone"},
		{"challenge_dns rfc2136 without server", "challenge_dns: {mode: rfc2136, zone: acme.fabrikam.test., tsig: {name: acme-update.}}", "", "certificate.acme.challenge_dns.server", "rfc2136 needs the primary"},
		{"challenge_dns rfc2136 without key", "challenge_dns: {mode: rfc2136, zone: acme.fabrikam.test., server: \"127.0.0.1:53\"}", "", "certificate.acme.challenge_dns.tsig.name", "TSIG key name"},
		{"challenge_dns key name", "challenge_dns: {mode: rfc2136, zone: acme.fabrikam.test., server: \"127.0.0.1:53\", tsig: {name: acme-update}}", "", "certificate.acme.challenge_dns.tsig.name", "not a fully qualified key name"},
		{"challenge_dns algorithm", "challenge_dns: {mode: rfc2136, zone: acme.fabrikam.test., server: \"127.0.0.1:53\", tsig: {name: acme-update., algorithm: md4}}", "", "certificate.acme.challenge_dns.tsig.algorithm", `"md4" is not allowed`},
		{"challenge_dns server", "challenge_dns: {mode: rfc2136, zone: acme.fabrikam.test., server: ns1.fabrikam.test, tsig: {name: acme-update.}}", "", "certificate.acme.challenge_dns.server", "host:port"},
		{"challenge_dns nameserver", "challenge_dns: {mode: manual, zone: acme.fabrikam.test., nameservers: [ns1]}", "", "certificate.acme.challenge_dns.nameservers[0]", "host:port"},
		{"challenge_dns manual without servers", "challenge_dns: {mode: manual, zone: acme.fabrikam.test.}", "", "certificate.acme.challenge_dns.server", "manual reads the challenge records"},
		{"challenge_dns api without nameservers", "challenge_dns: {mode: cloudflare, zone: acme.fabrikam.test.}", "", "certificate.acme.challenge_dns.nameservers", "cloudflare changes the zone through the provider's API"},
		{"challenge_dns route53 key id", "challenge_dns: {mode: route53, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"]}", "", "certificate.acme.challenge_dns.route53.access_key_id", "EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_ROUTE53_API_TOKEN or certificate.acme.challenge_dns.route53.api_token_file"},
		{"challenge_dns azure tenant", "challenge_dns: {mode: azure, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"]}", "", "certificate.acme.challenge_dns.azure.tenant_id", "missing; certificate.acme.challenge_dns.mode: azure needs the directory (tenant) ID"},
		{"challenge_dns azure client", "challenge_dns: {mode: azure, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"]}", "", "certificate.acme.challenge_dns.azure.client_id", "EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_AZURE_API_TOKEN or certificate.acme.challenge_dns.azure.api_token_file"},
		{"challenge_dns azure subscription", "challenge_dns: {mode: azure, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"], azure: {subscription_id: my-sub}}", "", "certificate.acme.challenge_dns.azure.subscription_id", `"my-sub" is not a GUID`},
		{"challenge_dns azure tenant domain", "challenge_dns: {mode: azure, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"], azure: {tenant_id: \"contoso onmicrosoft\"}}", "", "certificate.acme.challenge_dns.azure.tenant_id", "neither a GUID nor a domain"},
		{"challenge_dns azure resource group", "challenge_dns: {mode: azure, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"], azure: {resource_group: \"rg dns.\"}}", "", "certificate.acme.challenge_dns.azure.resource_group", "not a resource group name"},
		{"challenge_dns azure secret in the file", "challenge_dns: {mode: azure, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"], azure: {client_secret: abc}}", "", "certificate.acme.challenge_dns.azure.client_secret", "set EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_AZURE_API_TOKEN, or put it in a file with mode 0600"},
		{"challenge_dns secret in the file", "challenge_dns: {mode: rfc2136, zone: acme.fabrikam.test., server: \"127.0.0.1:53\", tsig: {name: acme-update., secret: c2VjcmV0}}", "", "certificate.acme.challenge_dns.tsig.secret", "set EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET, or put it in a file with mode 0600 and name that file in certificate.acme.challenge_dns.tsig.secret_file"},
		{"challenge_dns token file mode", "challenge_dns: {mode: hetzner, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:53\"], hetzner: {api_token_file: /etc/passwd}}", "", "certificate.acme.challenge_dns.hetzner.api_token_file", "readable by group or others"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := acmeConfig(t, c.acme, c.extra)
			if err == nil {
				t.Fatalf("accepted; want a problem for %s", c.key)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			for _, p := range ce.Problems {
				if p.Key == c.key {
					if !strings.Contains(p.String(), c.want) {
						t.Fatalf("problem %q lacks %q", p, c.want)
					}
					return
				}
			}
			t.Fatalf("no problem for %s in %v", c.key, err)
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 720 * time.Hour, "1d12h": 36 * time.Hour, "2h": 2 * time.Hour, " 45d ": 45 * 24 * time.Hour, "90m": 90 * time.Minute,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "xd", "30 days", "-3d", "1d2", "99999999d"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %s, want an error", in, got)
		}
	}
}

// certificate.acme.challenge_dns: the same keys as public_dns, its secrets
// from its own environment variables or 0600 files, needed only when set.
func TestACMEChallengeDNSConfig(t *testing.T) {
	path, err := acmeConfig(t, "challenge_dns: {mode: rfc2136, zone: acme.fabrikam.test., server: \"127.0.0.1:5300\", nameservers: [\"127.0.0.1:5300\"], tsig: {name: acme-update.}}", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	cd := cfg.DNSAccess(ChallengeDNSKey)
	if !cd.Configured() || cd.Mode != "rfc2136" || cd.Zone != "acme.fabrikam.test." || cd.TSIG.Algorithm != "hmac-sha256" || cd.Server != "127.0.0.1:5300" {
		t.Fatalf("challenge_dns = %+v", cd)
	}
	if pub := cfg.DNSAccess(PublicDNSKey); pub.Zone != cfg.PublicDNS.Zone || pub.TSIG != cfg.PublicDNS.TSIG {
		t.Fatalf("public_dns access = %+v", pub)
	}
	const env = "EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET"
	found := false
	for _, s := range cfg.MissingSecrets() {
		if s.Env == env && s.FileKey == "certificate.acme.challenge_dns.tsig.secret_file" && s.Name == "TSIG secret of certificate.acme.challenge_dns" {
			found = true
		}
	}
	if !found {
		t.Fatalf("MissingSecrets lacks the challenge zone's TSIG secret: %+v", cfg.MissingSecrets())
	}
	if _, err := cfg.Secrets(nil).DNSAccessTSIGSecret(ChallengeDNSKey); err == nil || !strings.Contains(err.Error(), env) {
		t.Fatalf("without the secret: %v", err)
	}
	t.Setenv(env, "bm90IGJhc2U2NA==")
	cfg, err = Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := cfg.Secrets(nil).DNSAccessTSIGSecret(ChallengeDNSKey); err != nil || v != "bm90IGJhc2U2NA==" {
		t.Fatalf("from %s: %q %v", env, v, err)
	}
	if v, err := cfg.Secrets(nil).TSIGSecret(); err != nil || v == "bm90IGJhc2U2NA==" {
		t.Fatalf("public_dns's TSIG secret is the challenge zone's: %v", err)
	}
	t.Setenv(env, "not base64!")
	cfg, _ = Load(LoadOptions{File: path})
	if _, err := cfg.Secrets(nil).DNSAccessTSIGSecret(ChallengeDNSKey); err == nil || !strings.Contains(err.Error(), "TSIG secret of certificate.acme.challenge_dns (from "+env) || strings.Contains(err.Error(), "not base64!") {
		t.Fatalf("bad base64: %v", err)
	}

	// A provider's token: its own variable, never public_dns's.
	path, err = acmeConfig(t, "challenge_dns: {mode: cloudflare, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:5300\"]}", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvCloudflareToken, "public-token")
	t.Setenv("EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_CLOUDFLARE_API_TOKEN", "challenge-token")
	cfg, err = Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	tok, setting, err := cfg.Secrets(nil).DNSAccessToken(ChallengeDNSKey)
	if err != nil || tok != "challenge-token" || setting != "EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_CLOUDFLARE_API_TOKEN or certificate.acme.challenge_dns.cloudflare.api_token_file" {
		t.Fatalf("DNSAccessToken = %q %q %v", tok, setting, err)
	}
	// Unset, nothing of it is needed.
	path, err = acmeConfig(t, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = Load(LoadOptions{File: path})
	for _, s := range cfg.NeededSecrets() {
		if strings.Contains(s.Env, "CHALLENGE_DNS") {
			t.Fatalf("%s needed without challenge_dns", s.Env)
		}
	}
}
