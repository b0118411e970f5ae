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
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := acmeConfig(t, c.acme, c.extra)
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
