package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kerberosConfig rewrites the valid fixture for auth: kerberos with the
// given exchange.kerberos section and user.
func kerberosConfig(t *testing.T, user, section string) (dir, path string) {
	t.Helper()
	dir, path = fixture(t)
	body := fmt.Sprintf(validYAML, dir)
	body = strings.Replace(body, "auth: ntlm", "auth: kerberos", 1)
	body = strings.Replace(body, `user: CONTOSO\admin`, "user: "+user+"\n  kerberos: "+section, 1)
	writeFile(t, path, body)
	return dir, path
}

func TestKerberosConfig(t *testing.T) {
	cases := []struct {
		name, user, section string
		files               map[string]os.FileMode // written in dir before loading
		key, want           string                 // "" key: valid
	}{
		{"realm and files", `CONTOSO\admin`, "{realm: CONTOSO.COM, krb5_conf_file: krb5.conf}", map[string]os.FileMode{"krb5.conf": 0o644}, "", ""},
		{"realm from the user's domain", "admin@contoso.com", "{krb5_conf_file: krb5.conf}", map[string]os.FileMode{"krb5.conf": 0o644}, "", ""},
		{"no realm anywhere", `CONTOSO\admin`, "{krb5_conf_file: krb5.conf}", map[string]os.FileMode{"krb5.conf": 0o644}, "exchange.kerberos.realm", "expected the realm such as CONTOSO.COM"},
		{"realm with a space", `CONTOSO\admin`, "{realm: CONTOSO COM, krb5_conf_file: krb5.conf}", map[string]os.FileMode{"krb5.conf": 0o644}, "exchange.kerberos.realm", "is not a realm"},
		{"krb5.conf missing", "admin@contoso.com", "{krb5_conf_file: nowhere.conf}", nil, "exchange.kerberos.krb5_conf_file", "expected an existing file"},
		{"keytab readable by others", "admin@contoso.com", "{krb5_conf_file: krb5.conf, keytab_file: admin.keytab}", map[string]os.FileMode{"krb5.conf": 0o644, "admin.keytab": 0o644}, "exchange.kerberos.keytab_file", "chmod 600"},
		{"keytab 0600", "admin@contoso.com", "{krb5_conf_file: krb5.conf, keytab_file: admin.keytab}", map[string]os.FileMode{"krb5.conf": 0o644, "admin.keytab": 0o600}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, path := kerberosConfig(t, c.user, c.section)
			for name, mode := range c.files {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte("x"), mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(p, mode); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Load(LoadOptions{File: path})
			if c.key == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if cfg.Exchange.KerberosRealm() != "CONTOSO.COM" {
					t.Errorf("realm = %q", cfg.Exchange.KerberosRealm())
				}
				if got := cfg.Exchange.Krb5Conf(); got != filepath.Join(dir, "krb5.conf") {
					t.Errorf("krb5.conf = %q: a relative *_file is resolved against the config's directory", got)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.key+": ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want a problem for %s with %q, got %v", c.key, c.want, err)
			}
		})
	}
}

func TestKerberosKeytabNeedsNoPassword(t *testing.T) {
	dir, path := kerberosConfig(t, "admin@contoso.com", "{krb5_conf_file: krb5.conf, keytab_file: admin.keytab}")
	for name, mode := range map[string]os.FileMode{"krb5.conf": 0o644, "admin.keytab": 0o600} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cfg.NeededSecrets() {
		if s.Env == EnvExchangePassword {
			t.Fatal("a keytab sign-in still asks for the Exchange password")
		}
	}
	t.Setenv("EXRUNBOOK_EXCHANGE_KERBEROS_REALM", "FABRIKAM.COM")
	cfg, err = Load(LoadOptions{File: path})
	if err != nil || cfg.Exchange.KerberosRealm() != "FABRIKAM.COM" {
		t.Fatalf("the environment does not set exchange.kerberos.realm: %v %q", err, cfg.Exchange.KerberosRealm())
	}
}

// TestKerberosCredentialSources: auth kerberos signs in with a password,
// a keytab or the ticket cache; only the first two need exchange.user,
// only a configured password is a needed secret, and a server named by
// its address needs exchange.kerberos.spn.
func TestKerberosCredentialSources(t *testing.T) {
	cases := []struct {
		name          string
		user          string // "" drops exchange.user
		section       string
		password      bool   // keep exchange.password_file
		endpoint      string // "" keeps the fixture's
		key, want     string // "" key: valid
		needsPassword bool
		spn           string // the KerberosSPN of a valid config
	}{
		{name: "ticket cache without user or password", section: "{krb5_conf_file: krb5.conf}", spn: "HTTP/ex01.contoso.com"},
		{name: "ticket cache with the user named", user: "admin@contoso.com", section: "{krb5_conf_file: krb5.conf}", spn: "HTTP/ex01.contoso.com"},
		{name: "password file", user: "admin@contoso.com", section: "{krb5_conf_file: krb5.conf}", password: true, needsPassword: true, spn: "HTTP/ex01.contoso.com"},
		{name: "password file without a user", section: "{krb5_conf_file: krb5.conf}", password: true, key: "exchange.user", want: "exchange.password_file signs in as an account"},
		{name: "keytab without a user", section: "{krb5_conf_file: krb5.conf, keytab_file: admin.keytab}", key: "exchange.user", want: "exchange.kerberos.keytab_file signs in as an account"},
		{name: "keytab wins over the password file", user: "admin@contoso.com", section: "{krb5_conf_file: krb5.conf, keytab_file: admin.keytab}", password: true, spn: "HTTP/ex01.contoso.com"},
		{name: "address endpoint without spn", section: "{krb5_conf_file: krb5.conf}", endpoint: "http://127.0.0.1:8080/PowerShell/", key: "exchange.kerberos.spn", want: "names the server by its address"},
		{name: "address endpoint with spn", section: "{krb5_conf_file: krb5.conf, spn: HTTP/ex01.contoso.test}", endpoint: "http://127.0.0.1:8080/PowerShell/", spn: "HTTP/ex01.contoso.test"},
		{name: "spn without a host", section: "{krb5_conf_file: krb5.conf, spn: HTTP}", key: "exchange.kerberos.spn", want: "is not a service principal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(EnvExchangePassword, "")
			dir, path := fixture(t)
			body := fmt.Sprintf(validYAML, dir)
			body = strings.Replace(body, "auth: ntlm", "auth: kerberos", 1)
			line := "  kerberos: " + c.section
			if c.user != "" {
				line = "  user: " + c.user + "\n" + line
			}
			body = strings.Replace(body, `  user: CONTOSO\admin`, line, 1)
			if !c.password {
				body = strings.Replace(body, fmt.Sprintf("  password_file: %s/exchange.password\n", dir), "", 1)
			}
			if c.endpoint != "" {
				body = strings.Replace(body, "https://ex01.contoso.com/PowerShell/", c.endpoint, 1)
			}
			writeFile(t, path, body)
			for name, mode := range map[string]os.FileMode{"krb5.conf": 0o644, "admin.keytab": 0o600} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), mode); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := Load(LoadOptions{File: path})
			if c.key != "" {
				if err == nil || !strings.Contains(err.Error(), c.key+": ") || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("want a problem for %s with %q, got %v", c.key, c.want, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			needs := false
			for _, s := range cfg.NeededSecrets() {
				needs = needs || s.Env == EnvExchangePassword
			}
			if needs != c.needsPassword {
				t.Errorf("the Exchange password is needed: %v, want %v", needs, c.needsPassword)
			}
			if got := cfg.Exchange.KerberosSPN(); got != c.spn {
				t.Errorf("KerberosSPN = %q, want %q", got, c.spn)
			}
			if !c.password && c.user == "" {
				// The password from the environment is used when given.
				t.Setenv(EnvExchangePassword, "from-env")
				cfg, err := Load(LoadOptions{File: path})
				if err != nil {
					t.Fatal(err)
				}
				if len(cfg.MissingSecrets()) != 0 || len(cfg.NeededSecrets()) == 0 || cfg.NeededSecrets()[0].Env != EnvExchangePassword {
					t.Errorf("with %s set the password is not the needed secret: %+v", EnvExchangePassword, cfg.NeededSecrets())
				}
			}
		})
	}
}

// TestKrb5ConfUnset: without exchange.kerberos.krb5_conf_file the client
// gets "" (KRB5_CONFIG, else /etc/krb5.conf at run time), and validation
// checks the file that will be read, naming the key.
func TestKrb5ConfUnset(t *testing.T) {
	dir, path := kerberosConfig(t, "admin@contoso.com", "{}")
	t.Setenv("KRB5_CONFIG", filepath.Join(dir, "nowhere.conf"))
	_, err := Load(LoadOptions{File: path})
	if err == nil || !strings.Contains(err.Error(), "exchange.kerberos.krb5_conf_file (empty: KRB5_CONFIG)") {
		t.Fatalf("a missing KRB5_CONFIG file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nowhere.conf"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Exchange.Krb5Conf() != "" {
		t.Errorf("Krb5Conf = %q, want \"\" when unset", cfg.Exchange.Krb5Conf())
	}
}
