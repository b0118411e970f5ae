package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/kerberos/kdctest"
	"github.com/exrunbook/exrunbook/internal/lab"
)

// kerberosLab is a lab whose /PowerShell/ accepts Kerberos from a real MIT
// KDC: realm CONTOSO.TEST (the lab's domain contoso.test upper-cased, so
// administrator@CONTOSO.TEST is CONTOSO\Administrator), the service
// HTTP/ex01.contoso.test in the lab's keytab, and a ticket cache of the
// administrator (kinit).
type kerberosLab struct {
	*e2eLab
	realm    *kdctest.Realm
	password string
	ccache   string
}

func startKerberosLab(t *testing.T, bin string, opts lab.Options) *kerberosLab {
	t.Helper()
	kdctest.Require(t)
	realm, err := kdctest.Start(t.TempDir(), kdctest.Options{Realm: "CONTOSO.TEST", Domain: "contoso.test"})
	if err != nil {
		t.Fatalf("the MIT KDC did not start: %v", err)
	}
	t.Cleanup(realm.Stop)
	pw := "Adm1n-" + uuid.NewString()
	if err := realm.AddUser("administrator", pw); err != nil {
		t.Fatal(err)
	}
	keytab, err := realm.AddService("HTTP/ex01.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	ccache, err := realm.Kinit("administrator", pw, 0)
	if err != nil {
		t.Fatal(err)
	}
	opts.KerberosKeytab, opts.Krb5Conf = keytab, realm.Krb5Conf
	e := startE2ELab(t, bin, opts)
	// The lab's config, as written, signs in from the ticket cache.
	e.env = append(e.env, "KRB5CCNAME=FILE:"+ccache)
	return &kerberosLab{e2eLab: e, realm: realm, password: pw, ccache: ccache}
}

// with returns a copy of the lab's runner with its own state directory and
// extra environment.
func (k *kerberosLab) with(t *testing.T, env ...string) *e2eLab {
	c := *k.e2eLab
	c.stateDir = filepath.Join(t.TempDir(), "state")
	c.env = append(append([]string(nil), k.env...), env...)
	return &c
}

// TestKerberosE2E is issue 12's acceptance: kinit against the test KDC,
// then the whole runbook unattended over http://…/PowerShell/ with auth:
// kerberos from the ticket cache, every WS-Man body encrypted, one PSRP
// session; rollback exact. Before it, each Kerberos failure exits as the
// operator's fix: 2 for configuration (run kinit, wrong password, unknown
// SPN), 1 for an unreachable KDC; none changes anything in Exchange.
func TestKerberosE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds exrunbook and runs the runbook against a Kerberos lab")
	}
	k := startKerberosLab(t, buildExrunbook(t, t.TempDir()), smallLab)
	initial := k.initial(t)
	cfg, err := os.ReadFile(k.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"auth: kerberos", `spn: "HTTP/ex01.contoso.test"`, `krb5_conf_file: "` + filepath.Join(k.dir, lab.FileKrb5Conf) + `"`} {
		if !strings.Contains(string(cfg), want) {
			t.Fatalf("the Kerberos lab's exrunbook.yaml lacks %q:\n%s", want, cfg)
		}
	}
	if exBlock, _, _ := strings.Cut(string(cfg), "\nnamespace:"); strings.Contains(exBlock, "password_file") || strings.Contains(exBlock, "  user:") {
		t.Fatalf("the Kerberos lab's exchange block names a user or a password file (the ticket cache should sign in):\n%s", exBlock)
	}

	t.Run("Failures", func(t *testing.T) {
		deadKDC := filepath.Join(t.TempDir(), "krb5.conf")
		// A port nothing listens on: the KDC does not answer.
		if err := os.WriteFile(deadKDC, []byte(k.realm.Krb5ConfText("127.0.0.1:"+strconv.Itoa(closedPort(t)), "contoso.test")), 0o644); err != nil {
			t.Fatal(err)
		}
		// A ticket cache whose TGT has expired (kinit -l 1s).
		expired, err := k.realm.Kinit("administrator", k.password, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		cases := []struct {
			name string
			env  []string
			code int
			want []string
		}{
			{"no ticket cache", []string{"KRB5CCNAME=FILE:" + filepath.Join(t.TempDir(), "none")}, exitUsage,
				[]string{"no valid ticket", "run kinit", "KRB5CCNAME"}},
			{"expired ticket", []string{"KRB5CCNAME=FILE:" + expired}, exitUsage,
				[]string{"no valid ticket", "expired", "run kinit"}},
			{"wrong password", []string{"EXRUNBOOK_EXCHANGE_USER=administrator@CONTOSO.TEST", "EXRUNBOOK_EXCHANGE_PASSWORD=not-" + k.password}, exitUsage,
				[]string{"wrong password", "exchange.password_file (or EXRUNBOOK_EXCHANGE_PASSWORD)"}},
			{"unknown SPN", []string{"EXRUNBOOK_EXCHANGE_KERBEROS_SPN=HTTP/nosuch.contoso.test"}, exitUsage,
				[]string{"unknown service principal", "exchange.kerberos.spn", "HTTP/nosuch.contoso.test"}},
			{"KDC unreachable", []string{"EXRUNBOOK_EXCHANGE_KERBEROS_KRB5_CONF_FILE=" + deadKDC}, exitFailed,
				[]string{"KDC unreachable", "exchange.kerberos.krb5_conf_file"}},
		}
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				r := k.with(t, c.env...).exrunbook(t, "run", "--unattended", "--yes", "--wait")
				t.Logf("exit %d: %s", r.code, tail(strings.TrimSpace(r.errout), 700))
				if r.code != c.code {
					t.Fatalf("exit %d, want %d\nstderr:\n%s", r.code, c.code, tail(r.errout, 3000))
				}
				for _, w := range c.want {
					if !strings.Contains(r.errout, w) {
						t.Errorf("the error does not say %q:\n%s", w, tail(r.errout, 3000))
					}
				}
				if strings.Contains(r.out+r.errout, k.password) {
					t.Error("the password reached the output")
				}
				if got := k.org(t); string(got) != string(initial) {
					t.Fatalf("a failed sign-in changed Exchange: %s", firstDiff(got, initial))
				}
				// plan, which only reads, exits the same way (the step errors on stdout).
				if r := k.with(t, c.env...).exrunbook(t, "plan"); r.code != c.code || !strings.Contains(r.out+r.errout, c.want[0]) {
					t.Errorf("plan: exit %d, want %d saying %q\nstdout:\n%s\nstderr:\n%s", r.code, c.code, c.want[0], tail(r.out, 1500), tail(r.errout, 1500))
				}
			})
		}
	})
	if t.Failed() {
		return
	}

	before := k.stats(t)
	r := k.mustRun(t, 0, "run", "--unattended", "--yes", "--wait")
	if !strings.Contains(r.out, "runbook split-namespace complete") {
		t.Errorf("run output does not say the runbook is complete:\n%s", tail(r.out, 2000))
	}
	st := k.stats(t)
	t.Logf("Kerberos run: %d PSRP session(s), %d pipelines, %d sealed bodies, %d plain bodies, %d WinRS shells",
		st.PSRPPools-before.PSRPPools, st.Pipelines-before.Pipelines, st.EncryptedBodies-before.EncryptedBodies, st.PlainBodies, st.Shells)
	if st.PlainBodies != 0 || st.EncryptedBodies-before.EncryptedBodies <= 0 {
		t.Errorf("/PowerShell/ bodies: %d plain, %d encrypted; want 0 plain, every one sealed by Kerberos", st.PlainBodies, st.EncryptedBodies-before.EncryptedBodies)
	}
	if st.PSRPPools-before.PSRPPools != 1 || st.Shells != 0 || st.PowerShellLaunches != 0 {
		t.Errorf("the run used %d PSRP sessions, %d WinRS shells, %d powershell.exe; want 1, 0, 0", st.PSRPPools-before.PSRPPools, st.Shells, st.PowerShellLaunches)
	}
	verifyRunbookOrg(t, parseOrg(t, initial), parseOrg(t, k.org(t)), k.l.Endpoints(), k.pfxThumbprint(t))

	k.mustRun(t, 0, "rollback", "--all", "--yes")
	if st := k.stats(t); st.PlainBodies != 0 {
		t.Errorf("rollback sent %d plain bodies", st.PlainBodies)
	}
	if got := k.org(t); string(got) != string(initial) {
		t.Fatalf("after rollback --all, /org differs from org.initial.json: %s", firstDiff(got, initial))
	}
}

// closedPort is a TCP and UDP port on 127.0.0.1 that nothing listens on
// (taken and released).
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
