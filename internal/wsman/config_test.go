package wsman

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
)

type sealingProvider struct{ seals bool }

func (p sealingProvider) NewContext(string) (SecurityContext, error) {
	return nil, fmt.Errorf("not used in this test")
}
func (p sealingProvider) Seals() bool { return p.seals }

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	krb5 := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(krb5, []byte("[libdefaults]\n default_realm = CONTOSO.TEST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.conf")
	if err := os.WriteFile(bare, []byte("[libdefaults]\n dns_lookup_kdc = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{Endpoint: "https://ex01.contoso.test/PowerShell/", Auth: AuthBasic, User: "admin@contoso.test", Password: "Zq9-secret"}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr []string // substrings; nil: valid
	}{
		{"basic over https", func(*Config) {}, nil},
		{"basic over http refused", func(c *Config) { c.Endpoint = "http://ex01/PowerShell/" }, []string{"exchange.auth", "exchange.endpoint", "http://ex01/PowerShell/"}},
		{"ntlm over http", func(c *Config) { c.Auth, c.Endpoint = AuthNTLM, "http://ex01/PowerShell/" }, nil},
		{"ntlm without password", func(c *Config) { c.Auth, c.Password = AuthNTLM, "" }, []string{"password"}},
		{"no user", func(c *Config) { c.User = "" }, []string{"exchange.user"}},
		{"unknown auth", func(c *Config) { c.Auth = "certificate" }, []string{"exchange.auth", "certificate"}},
		{"empty auth", func(c *Config) { c.Auth = "" }, []string{"exchange.auth"}},
		{"ftp endpoint", func(c *Config) { c.Endpoint = "ftp://ex01/" }, []string{"exchange.endpoint", "http or https"}},
		{"no host", func(c *Config) { c.Endpoint = "https:///PowerShell/" }, []string{"exchange.endpoint"}},
		{"credentials in the URL", func(c *Config) { c.Endpoint = "https://u:p@ex01/PowerShell/" }, []string{"exchange.endpoint", "credentials"}},
		{"kerberos over https", func(c *Config) { c.Auth, c.Kerberos.Krb5Conf = AuthKerberos, krb5 }, nil},
		{"kerberos with the default krb5.conf", func(c *Config) { c.Auth = AuthKerberos }, nil},
		{"kerberos over http seals", func(c *Config) {
			c.Auth, c.Kerberos.Krb5Conf, c.Endpoint = AuthKerberos, krb5, "http://ex01/PowerShell/"
		}, nil},
		{"kerberos ticket cache needs no user", func(c *Config) {
			c.Auth, c.User, c.Password = AuthKerberos, "", ""
		}, nil},
		{"kerberos keytab needs a user", func(c *Config) {
			c.Auth, c.User, c.Password, c.Kerberos.Keytab = AuthKerberos, "", "", "/k.keytab"
		}, []string{"exchange.user", "exchange.kerberos.keytab_file"}},
		{"kerberos to an address needs the SPN", func(c *Config) {
			c.Auth, c.Endpoint = AuthKerberos, "http://192.0.2.10/PowerShell/"
		}, []string{"exchange.kerberos.spn", "192.0.2.10"}},
		{"kerberos to an address with the SPN", func(c *Config) {
			c.Auth, c.Endpoint, c.Kerberos.SPN = AuthKerberos, "http://192.0.2.10/PowerShell/", "HTTP/ex01.contoso.test"
		}, nil},
		{"kerberos password needs a user", func(c *Config) { c.Auth, c.User = AuthKerberos, "" }, []string{"exchange.user"}},
		{"kerberos over http, sealing provider", func(c *Config) {
			c.Auth, c.Endpoint, c.Kerberos.Provider = AuthKerberos, "http://ex01/PowerShell/", sealingProvider{true}
		}, nil},
		{"kerberos over http, provider without sealing", func(c *Config) {
			c.Auth, c.Endpoint, c.Kerberos.Provider = AuthKerberos, "http://ex01/PowerShell/", sealingProvider{false}
		}, []string{"message encryption"}},
		{"missing CA file", func(c *Config) { c.CAFile = filepath.Join(dir, "none.pem") }, []string{"exchange.ca_file"}},
		{"CA file without PEM", func(c *Config) { c.CAFile = krb5 }, []string{"exchange.ca_file", "no PEM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			_, err := New(cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "Zq9-secret") {
				t.Errorf("the password leaked: %v", err)
			}
		})
	}
}

func TestEndpointDefaults(t *testing.T) {
	for in, want := range map[string]string{
		"http://ex01.contoso.test":                       "http://ex01.contoso.test/PowerShell/",
		"https://ex01.contoso.test/":                     "https://ex01.contoso.test/PowerShell/",
		"HTTPS://ex01:8443/PowerShell/":                  "https://ex01:8443/PowerShell/",
		"http://ex01/PowerShell?serializationLevel=Full": "http://ex01/PowerShell",
	} {
		ep, err := parseEndpoint(in)
		if err != nil || ep.url != want {
			t.Errorf("parseEndpoint(%q) = %q, %v; want %q", in, ep.url, err, want)
		}
	}
}

func TestConfigRedactsPassword(t *testing.T) {
	c := Config{Endpoint: "https://ex01/PowerShell/", Auth: AuthNTLM, User: `CONTOSO\admin`, Password: "hunter2-Secret"}
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(&c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password printed: %s", s)
		}
		if !strings.Contains(s, "[redacted]") || !strings.Contains(s, `CONTOSO\admin`) {
			t.Errorf("String lacks the user or the redaction mark: %s", s)
		}
	}
	cl, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v", cl.Config(), cl.Config()); strings.Contains(s, "hunter2") {
		t.Errorf("password printed: %s", s)
	}
}

// TestKerberosLoginErrors: the login happens on the first connection, and
// its failures that need no KDC name their key before anything is sent.
func TestKerberosLoginErrors(t *testing.T) {
	dir := t.TempDir()
	krb5 := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(krb5, []byte("[libdefaults]\n default_realm = CONTOSO.TEST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.conf")
	if err := os.WriteFile(bare, []byte("[libdefaults]\n dns_lookup_kdc = false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing listens here; a request would fail with "refused".
	ok := Config{Endpoint: "http://127.0.0.1:1/PowerShell/", Auth: AuthKerberos, User: "alice", Password: "Zq9-secret",
		Kerberos: KerberosConfig{Krb5Conf: krb5, SPN: "HTTP/ex01.contoso.test"}, Retry: RetryPolicy{Attempts: 1}}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr []string
	}{
		{"realm unknown", func(c *Config) { c.Kerberos.Krb5Conf = bare }, []string{"realm", "exchange.user"}},
		{"keytab missing", func(c *Config) { c.Password, c.Kerberos.Keytab = "", filepath.Join(dir, "none.keytab") },
			[]string{"exchange.kerberos.keytab_file", "none.keytab"}},
		{"ticket cache missing", func(c *Config) { c.Password, c.Kerberos.CCache = "", filepath.Join(dir, "none.cc") },
			[]string{"KRB5CCNAME", "run kinit", "none.cc"}},
		{"krb5.conf missing", func(c *Config) { c.Kerberos.Krb5Conf = filepath.Join(dir, "none.conf") },
			[]string{"exchange.kerberos.krb5_conf_file", "none.conf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.edit(&cfg)
			cl, err := New(cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = cl.Open(ctxT(t), uuid.New(), []byte("c"))
			t.Log(err)
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an *AuthError", err)
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "Zq9-secret") {
				t.Errorf("a request was sent, or the password leaked: %v", err)
			}
		})
	}
}

// TestKerberosProviderRedacts: a provider printed in any form keeps the
// password to itself.
func TestKerberosProviderRedacts(t *testing.T) {
	p := NewKerberosProvider("alice@CONTOSO.TEST", "Zq9-secret", KerberosConfig{Krb5Conf: "/etc/krb5.conf"})
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprintf("%v", Config{Kerberos: KerberosConfig{Provider: p}})} {
		if strings.Contains(s, "Zq9-secret") {
			t.Errorf("the password is printed: %s", s)
		}
	}
	if s := p.String(); !strings.Contains(s, "alice@CONTOSO.TEST") || !strings.Contains(s, "password") {
		t.Errorf("String = %s, want the user and the kind of login", s)
	}
}
