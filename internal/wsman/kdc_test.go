package wsman

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// The built-in Kerberos initiator (gokrb5) against a real MIT KDC and
// gokrb5's own SPNEGO acceptor, over https. The realm is a throwaway one
// in a temporary directory (PROTOCOL.md §4.1); internal/kerberos has a
// fuller harness (kdctest) that can replace this one once both are on
// main. Peer rule: skipped without the MIT tools, failed when
// EXRUNBOOK_REQUIRE_PEERS=1.

func mitTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return p
		}
	}
	if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
		t.Fatalf("peer %s is required (EXRUNBOOK_REQUIRE_PEERS=1) but missing (apt-get install krb5-kdc krb5-admin-server)", name)
	}
	t.Skipf("peer %s is missing", name)
	return ""
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// startRealm starts krb5kdc for LAB.TEST with user alice (password
// returned) and HTTP/exch01.lab.test (keytab path returned).
func startRealm(t *testing.T) (krb5Conf, password, httpKeytab string) {
	kdc, kdb, kadmin := mitTool(t, "krb5kdc"), mitTool(t, "kdb5_util"), mitTool(t, "kadmin.local")
	dir := t.TempDir()
	port := freeKDCPort(t)
	krb5Conf = filepath.Join(dir, "krb5.conf")
	kdcConf := filepath.Join(dir, "kdc.conf")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(krb5Conf, fmt.Sprintf("[libdefaults]\n default_realm = LAB.TEST\n dns_lookup_realm = false\n dns_lookup_kdc = false\n rdns = false\n udp_preference_limit = 1\n[realms]\n LAB.TEST = {\n  kdc = 127.0.0.1:%d\n }\n", port))
	write(kdcConf, fmt.Sprintf("[kdcdefaults]\n kdc_ports = %[1]d\n kdc_tcp_ports = %[1]d\n[realms]\n LAB.TEST = {\n  database_name = %[2]s/principal\n  key_stash_file = %[2]s/stash\n  acl_file = %[2]s/kadm5.acl\n  disable_pac = true\n  supported_enctypes = aes256-cts-hmac-sha1-96:normal\n }\n[logging]\n kdc = FILE:%[2]s/kdc.log\n", port, dir))
	write(filepath.Join(dir, "kadm5.acl"), "")
	env := append(os.Environ(), "KRB5_CONFIG="+krb5Conf, "KRB5_KDC_PROFILE="+kdcConf)
	run := func(path, stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(path, args...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), " while ") {
			t.Fatalf("%s %s: %v: %s", filepath.Base(path), args[0], err, strings.ReplaceAll(string(out), password, "<redacted>"))
		}
	}
	master := uuid.NewString()
	password = "A1-" + uuid.NewString()
	httpKeytab = filepath.Join(dir, "http.keytab")
	run(kdb, master+"\n"+master+"\n", "create", "-s", "-r", "LAB.TEST")
	// Passwords travel on stdin, never in arguments.
	run(kadmin, "addprinc +requires_preauth -pw "+password+" alice@LAB.TEST\n", "-r", "LAB.TEST")
	run(kadmin, "addprinc -randkey HTTP/exch01.lab.test@LAB.TEST\nktadd -k "+httpKeytab+" HTTP/exch01.lab.test@LAB.TEST\n", "-r", "LAB.TEST")
	cmd := exec.Command(kdc, "-n", "-r", "LAB.TEST", "-P", filepath.Join(dir, "kdc.pid"))
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("krb5kdc did not listen on %d", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return krb5Conf, password, httpKeytab
}

// freeKDCPort is a port free on 127.0.0.1 for both TCP and UDP (the KDC
// listens on both).
func freeKDCPort(t *testing.T) int {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP on 127.0.0.1")
	return 0
}

func TestBuiltinKerberosAgainstKDC(t *testing.T) {
	krb5Conf, password, ktPath := startRealm(t)
	kt, err := keytab.Load(ktPath)
	if err != nil {
		t.Fatal(err)
	}
	var authorized []string
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// Reached only past gokrb5's verification of the AP-REQ.
		authorized = append(authorized, r.Header.Get("Authorization")[:len("Negotiate ")])
		msgID := between(string(body), "<a:MessageID>", "</a:MessageID>")
		w.Header().Set("Content-Type", soapContentType)
		w.Write(soapAnswer(nsTransfer+"/CreateResponse", msgID, `<x:ResourceCreated><a:ReferenceParameters><w:SelectorSet><w:Selector Name="ShellId">KRB</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`))
	})
	srv := httptest.NewTLSServer(spnego.SPNEGOKRB5Authenticate(inner, kt, service.DecodePAC(false)))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Endpoint: srv.URL + "/PowerShell/", Auth: AuthKerberos, User: "alice@LAB.TEST", Password: password, CAFile: ca,
		Kerberos: KerberosConfig{Krb5Conf: krb5Conf, SPN: "HTTP/exch01.lab.test"}, Retry: RetryPolicy{Attempts: 1}}
	cl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Open(ctx, uuid.New(), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if cl.ShellID() != "KRB" || len(authorized) != 1 || authorized[0] != "Negotiate " {
		t.Errorf("shell %q, authorized requests %q", cl.ShellID(), authorized)
	}

	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.Password = "wrong"
		cl, err := New(bad)
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Open(ctx, uuid.New(), []byte("c"))
		t.Log(err)
		var ae *AuthError
		if !errors.As(err, &ae) || strings.Contains(err.Error(), password) {
			t.Fatalf("err = %v, want an *AuthError", err)
		}
	})
	t.Run("unknown SPN", func(t *testing.T) {
		other := cfg
		other.Kerberos.SPN = "HTTP/nowhere.lab.test"
		cl, err := New(other)
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Open(ctx, uuid.New(), []byte("c"))
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "exchange.kerberos.spn") {
			t.Fatalf("err = %v, want one naming exchange.kerberos.spn", err)
		}
	})
	t.Run("KDC unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := l.Addr().String()
		l.Close()
		conf := filepath.Join(t.TempDir(), "krb5.conf")
		text, _ := os.ReadFile(krb5Conf)
		lines := strings.Split(string(text), "\n")
		for i, line := range lines {
			if strings.Contains(line, "kdc = ") {
				lines[i] = "  kdc = " + dead
			}
		}
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		off := cfg
		off.Kerberos.Krb5Conf = conf
		cl, err := New(off)
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Open(ctx, uuid.New(), []byte("c"))
		t.Log(err)
		if err == nil || !errkind.IsTransient(err) {
			t.Fatalf("err = %v, want transient", err)
		}
	})
}
