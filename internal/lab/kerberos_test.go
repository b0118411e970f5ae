package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"go.yaml.in/yaml/v3"

	"github.com/exrunbook/exrunbook/internal/kerberos/kdctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kdctest.StopShared()
	os.Exit(code)
}

// kerberosRealm adds the lab's administrator and /PowerShell/ service of
// EX01 to the shared test realm and returns the service keytab, a
// krb5.conf that maps contoso.test to the realm (as MIT clients need to
// find the realm of HTTP/ex01.contoso.test) and a ticket cache of the
// administrator (kinit).
func kerberosRealm(t *testing.T) (r *kdctest.Realm, keytab, krb5Conf, ccache string) {
	t.Helper()
	r = kdctest.Shared(t)
	krb5Conf = filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(krb5Conf, []byte(r.Krb5ConfText("127.0.0.1:"+strconv.Itoa(r.Port), "contoso.test")), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := "Adm1n-" + uuid.NewString()
	if err := r.AddUser("administrator", pw); err != nil {
		t.Fatal(err)
	}
	keytab, err := r.AddService("HTTP/ex01.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	if ccache, err = r.Kinit("administrator", pw, 0); err != nil {
		t.Fatal(err)
	}
	return r, keytab, krb5Conf, ccache
}

// TestPypsrpKerberos: pypsrp with auth="kerberos" (pyspnego over gssapi,
// MIT libkrb5) and its default encryption over http runs
// Get-OrganizationConfig | Select-Object MapiHttpEnabled against a lab
// given a service keytab, every body sealed; endpoints.json says how to
// reach it.
func TestPypsrpKerberos(t *testing.T) {
	py := requirePypsrp(t)
	if err := runPython(py, "import gssapi, krb5"); err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("python gssapi and krb5 are required (EXRUNBOOK_REQUIRE_PEERS=1): %v", err)
		}
		t.Skipf("python3 cannot import gssapi, krb5: %v", err)
	}
	realm, keytab, krb5Conf, ccache := kerberosRealm(t)
	p := startPypsrpLabWith(t, py, Options{Mailboxes: 5, Seed: 11, KerberosKeytab: keytab, Krb5Conf: krb5Conf})
	e := p.lab.Endpoints()
	if e.Kerberos == nil || e.Kerberos.SPN != "HTTP/ex01.contoso.test" || e.Kerberos.Realm != realm.Name ||
		e.Kerberos.Krb5Conf != filepath.Join(p.lab.Dir(), FileKrb5Conf) {
		t.Fatalf("endpoints.json kerberos = %+v", e.Kerberos)
	}
	var onDisk struct {
		Kerberos *KerberosEndpoint `json:"kerberos"`
	}
	b, err := os.ReadFile(filepath.Join(p.lab.Dir(), FileEndpoints))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &onDisk); err != nil || onDisk.Kerberos == nil || *onDisk.Kerberos != *e.Kerberos {
		t.Fatalf("endpoints.json on disk: %s (%v)", b, err)
	}
	stats := p.lab.Counters()
	enc0, plain0 := stats.EncryptedBodies.Load(), stats.PlainBodies.Load()
	spnService, spnHost, _ := strings.Cut(e.Kerberos.SPN, "/")
	var r psRun
	p.runEnv(t, map[string]any{"scenario": "org_config", "transport": "http-kerberos", "user": AccountOrgAdmin, "spn_host": spnHost, "spn_service": spnService},
		[]string{"KRB5_CONFIG=" + e.Kerberos.Krb5Conf, "KRB5CCNAME=FILE:" + ccache}, &r)
	if r.HadErrors || r.State != psCompleted || len(r.Objects) != 1 {
		t.Fatalf("%+v", r)
	}
	if v, ok := r.Objects[0]["MapiHttpEnabled"]; !ok || (v != "True" && v != "False") {
		t.Fatalf("MapiHttpEnabled = %q (%v) in %v", v, ok, r.Objects[0])
	}
	enc, plain := stats.EncryptedBodies.Load()-enc0, stats.PlainBodies.Load()-plain0
	t.Logf("lab: %d encrypted bodies, %d plain", enc, plain)
	if enc < 4 || plain != 0 {
		t.Fatalf("%d encrypted and %d plain bodies: want every body sealed", enc, plain)
	}
}

// writeKeytab writes a keytab with a made-up key for each principal
// ("HTTP/host@REALM").
func writeKeytab(t *testing.T, principals ...string) string {
	t.Helper()
	kt := keytab.New()
	for _, p := range principals {
		name, realm, _ := strings.Cut(p, "@")
		if err := kt.AddEntry(name, realm, "made-up", time.Now(), 1, 18); err != nil {
			t.Fatal(err)
		}
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "http.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStartKerberos: which SPN and realm endpoints.json announces, and
// the refusals of a lab given half or a useless Kerberos setup.
func TestStartKerberos(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = CONTOSO.TEST\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.keytab")
	if err := os.WriteFile(garbage, []byte("not a keytab"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		keytab, krb5Conf string
		spn, realm       string
		wantErr          []string
	}{
		{"none", "", "", "", "", nil},
		{"the first server's SPN wins", writeKeytab(t, "HTTP/other.contoso.test@CONTOSO.TEST", "HTTP/ex01.contoso.test@CONTOSO.TEST"), conf,
			"HTTP/ex01.contoso.test", "CONTOSO.TEST", nil},
		{"else the first HTTP key", writeKeytab(t, "host/ex01.contoso.test@LAB.TEST", "HTTP/mail.contoso.test@LAB.TEST"), conf,
			"HTTP/mail.contoso.test", "LAB.TEST", nil},
		{"keytab without krb5.conf", writeKeytab(t, "HTTP/ex01.contoso.test@CONTOSO.TEST"), "", "", "", []string{"--krb5-conf"}},
		{"krb5.conf without keytab", "", conf, "", "", []string{"--kerberos-keytab"}},
		{"no HTTP key", writeKeytab(t, "host/ex01.contoso.test@CONTOSO.TEST"), conf, "", "", []string{"no HTTP/<host> key"}},
		{"not a keytab", garbage, conf, "", "", []string{"--kerberos-keytab", "garbage.keytab"}},
		{"krb5.conf missing", writeKeytab(t, "HTTP/ex01.contoso.test@CONTOSO.TEST"), filepath.Join(t.TempDir(), "none.conf"), "", "", []string{"--krb5-conf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &Lab{opts: Options{KerberosKeytab: tt.keytab, Krb5Conf: tt.krb5Conf}, dir: t.TempDir()}
			acc, ep, err := l.startKerberos([]string{"EX01", "EX02"}, "contoso.test")
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.keytab == "" {
				if acc != nil || ep != nil {
					t.Fatalf("Kerberos on without a keytab: %+v", ep)
				}
				return
			}
			if acc == nil || ep == nil || ep.SPN != tt.spn || ep.Realm != tt.realm || ep.Krb5Conf != filepath.Join(l.dir, FileKrb5Conf) {
				t.Fatalf("endpoint %+v, want %s in %s", ep, tt.spn, tt.realm)
			}
			if b, err := os.ReadFile(ep.Krb5Conf); err != nil || !strings.Contains(string(b), "CONTOSO.TEST") {
				t.Fatalf("the copied krb5.conf: %q, %v", b, err)
			}
		})
	}
}

// TestConfigKerberos: a lab that accepts Kerberos writes an exrunbook.yaml
// that signs in from the ticket cache (auth kerberos, no user, no
// password) with the keytab's SPN, since the endpoint is an address, and
// the copied krb5.conf; without Kerberos it signs in with NTLM.
func TestConfigKerberos(t *testing.T) {
	l := &Lab{dir: t.TempDir()}
	l.ep.PowerShell = URLs{HTTP: "http://127.0.0.1:8080/PowerShell/", HTTPS: "https://127.0.0.1:8443/PowerShell/"}
	l.ep.Admin.User, l.ep.Admin.PasswordFile = `CONTOSO\Administrator`, "/lab/secrets/admin.password"
	exchangeOf := func() map[string]any {
		var cfg struct {
			Exchange map[string]any `yaml:"exchange"`
		}
		if err := yaml.Unmarshal(l.Config(), &cfg); err != nil {
			t.Fatalf("%v\n%s", err, l.Config())
		}
		return cfg.Exchange
	}
	ex := exchangeOf()
	if ex["auth"] != "ntlm" || ex["user"] != `CONTOSO\Administrator` || ex["password_file"] != "/lab/secrets/admin.password" || ex["kerberos"] != nil {
		t.Errorf("without Kerberos: %v", ex)
	}
	l.ep.Kerberos = &KerberosEndpoint{Realm: "LAB.TEST", Krb5Conf: filepath.Join(l.dir, FileKrb5Conf), SPN: "HTTP/ex01.contoso.test"}
	ex = exchangeOf()
	want := map[string]any{"realm": "LAB.TEST", "krb5_conf_file": filepath.Join(l.dir, FileKrb5Conf), "spn": "HTTP/ex01.contoso.test"}
	k, _ := ex["kerberos"].(map[string]any)
	if ex["auth"] != "kerberos" || ex["endpoint"] != "http://127.0.0.1:8080/PowerShell/" || len(k) != len(want) {
		t.Fatalf("with Kerberos: %v", ex)
	}
	for key, v := range want {
		if k[key] != v {
			t.Errorf("exchange.kerberos.%s = %v, want %v", key, k[key], v)
		}
	}
	if _, ok := ex["password_file"]; ok {
		t.Errorf("with Kerberos the config names a password file: %v", ex)
	}
	if _, ok := ex["user"]; ok {
		t.Errorf("with Kerberos the config names a user (the ticket cache names it): %v", ex)
	}
}
