package wsman

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"kerberos without krb5.conf", func(c *Config) { c.Auth = AuthKerberos }, []string{"krb5"}},
		{"kerberos over http, built-in", func(c *Config) {
			c.Auth, c.Kerberos.Krb5Conf, c.Endpoint = AuthKerberos, krb5, "http://ex01/PowerShell/"
		}, []string{"exchange.endpoint", "message encryption"}},
		{"kerberos over http, sealing provider", func(c *Config) {
			c.Auth, c.Endpoint, c.Kerberos.Provider = AuthKerberos, "http://ex01/PowerShell/", sealingProvider{true}
		}, nil},
		{"kerberos over http, provider without sealing", func(c *Config) {
			c.Auth, c.Endpoint, c.Kerberos.Provider = AuthKerberos, "http://ex01/PowerShell/", sealingProvider{false}
		}, []string{"message encryption"}},
		{"kerberos realm unknown", func(c *Config) {
			c.Auth, c.Kerberos.Krb5Conf, c.User = AuthKerberos, bare, "alice"
		}, []string{"realm"}},
		{"kerberos keytab missing", func(c *Config) {
			c.Auth, c.Kerberos.Krb5Conf, c.Kerberos.Keytab = AuthKerberos, krb5, filepath.Join(dir, "none.keytab")
		}, []string{"keytab", "none.keytab"}},
		{"kerberos cache missing", func(c *Config) {
			c.Auth, c.Kerberos.Krb5Conf, c.Kerberos.CCache = AuthKerberos, krb5, filepath.Join(dir, "none.cc")
		}, []string{"credential cache", "none.cc"}},
		{"krb5.conf missing", func(c *Config) {
			c.Auth, c.Kerberos.Krb5Conf = AuthKerberos, filepath.Join(dir, "none.conf")
		}, []string{"exchange.kerberos.krb5_conf_file"}},
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
