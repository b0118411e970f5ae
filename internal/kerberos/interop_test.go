package kerberos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requirePyspnego skips (or, with EXRUNBOOK_REQUIRE_PEERS=1, fails) when
// python3 with pyspnego, gssapi, krb5 and pypsrp is missing.
func requirePyspnego(t *testing.T) {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import spnego, gssapi, krb5, pypsrp").CombinedOutput()
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("peer python3 with pyspnego, gssapi, krb5 and pypsrp is required (EXRUNBOOK_REQUIRE_PEERS=1): %v: %s", err, out)
		}
		t.Skipf("python3 with pyspnego, gssapi, krb5 and pypsrp is missing: %v: %s", err, out)
	}
}

// TestPyspnegoInitiatorOurAcceptor: pyspnego (MIT GSSAPI) authenticates
// with alice's kinit cache to our acceptor, with a raw Kerberos token
// (protocol "kerberos", what pypsrp sends for auth="kerberos") and with
// SPNEGO, under the Negotiate and the Kerberos HTTP schemes, then pypsrp's
// WinRMEncryption seals messages our Context opens and opens ours.
func TestPyspnegoInitiatorOurAcceptor(t *testing.T) {
	f := setup(t)
	requirePyspnego(t)
	acc, err := NewAcceptor(AcceptorConfig{KeytabFile: f.svcKeytab, SPN: testSPN})
	if err != nil {
		t.Fatal(err)
	}
	for _, offer := range []string{"Negotiate", "Kerberos"} {
		srv := newWinRMServer(t, acc, offer)
		for _, protocol := range []string{"kerberos", "negotiate"} {
			if offer == "Kerberos" && protocol == "negotiate" {
				continue // SPNEGO tokens go under Negotiate only
			}
			t.Run(offer+"/"+protocol, func(t *testing.T) {
				cmd := exec.Command("python3", filepath.Join("testdata", "pyspnego_peer.py"), "client", srv.URL, "exch01.lab.test", protocol, "4")
				cmd.Env = append(os.Environ(), "KRB5_CONFIG="+f.realm.Krb5Conf, "KRB5CCNAME=FILE:"+f.ccache)
				out, err := cmd.Output()
				if err != nil {
					var stderr []byte
					if ee, ok := err.(*exec.ExitError); ok {
						stderr = ee.Stderr
					}
					t.Fatalf("pyspnego client: %v\n%s\n%s", err, out, stderr)
				}
				var res struct {
					Scheme  string
					Replies []string
				}
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatalf("%v: %s", err, out)
				}
				if res.Scheme != offer || len(res.Replies) != 4 {
					t.Fatalf("scheme %q, %d replies: %s", res.Scheme, len(res.Replies), out)
				}
				for i, r := range res.Replies {
					want := fmt.Sprintf("alice@LAB.TEST said: <s:Envelope>pyspnego message %d %s</s:Envelope>", i, strings.Repeat("y", i*500))
					if r != want {
						t.Fatalf("reply %d = %q, want %q", i, r, want)
					}
				}
			})
		}
	}
}

// TestOurInitiatorPyspnegoAcceptor: our initiator (password credentials)
// authenticates to pyspnego's acceptor (MIT GSSAPI with the service
// keytab), verifies its AP-REP and exchanges sealed messages with pypsrp's
// WinRMEncryption, under both HTTP schemes.
func TestOurInitiatorPyspnegoAcceptor(t *testing.T) {
	f := setup(t)
	requirePyspnego(t)
	cmd := exec.Command("python3", filepath.Join("testdata", "pyspnego_peer.py"), "server")
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+f.realm.Krb5Conf, "KRB5_KTNAME=FILE:"+f.svcKeytab, "KRB5RCACHEDIR="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("pyspnego server did not start: %v: %s", err, stderr.String())
	}
	url := "http://127.0.0.1:" + strings.TrimSpace(line) + "/wsman"

	creds, err := NewCredentials(Config{User: testUser, Password: testPassword, Krb5ConfFile: f.realm.Krb5Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer creds.Close()
	for _, scheme := range []Scheme{SchemeNegotiate, SchemeKerberos} {
		t.Run(string(scheme), func(t *testing.T) {
			in, err := creds.NewInitiator(testSPN, scheme)
			if err != nil {
				t.Fatal(err)
			}
			c := oneConnClient(t)
			ctx, err := handshake(c, url, in)
			if err != nil {
				t.Fatalf("%v\npyspnego stderr:\n%s", err, stderr.String())
			}
			for i := 0; i < 4; i++ {
				msg := fmt.Sprintf("<s:Envelope>go message %d %s</s:Envelope>", i, strings.Repeat("z", i*900))
				if got := exchange(t, c, url, ctx, in.Protocol(), msg); got != "pyspnego got: "+msg {
					t.Fatalf("message %d: got %q\npyspnego stderr:\n%s", i, got, stderr.String())
				}
			}
		})
	}
}
