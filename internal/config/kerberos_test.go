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
