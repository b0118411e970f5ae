package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/kerberos/kdctest"
)

// offers POSTs an empty body to a /PowerShell/ URL and returns the
// WWW-Authenticate values of the 401 (https verified against caFile, for
// the name the listener's certificate carries).
func offers(t *testing.T, endpoint, caFile string) []string {
	t.Helper()
	resp := post(t, endpoint, caFile, "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("%s answered %d, want 401", endpoint, resp.StatusCode)
	}
	return resp.Header.Values("WWW-Authenticate")
}

func post(t *testing.T, endpoint, caFile, authorization string) *http.Response {
	t.Helper()
	tr := &http.Transport{}
	if u, err := url.Parse(endpoint); err == nil && u.Scheme == "https" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only to read the certificate's name
		if err != nil {
			t.Fatal(err)
		}
		name := conn.ConnectionState().PeerCertificates[0].DNSNames[0]
		conn.Close()
		tr.TLSClientConfig = &tls.Config{RootCAs: roots, ServerName: name}
	}
	req, err := http.NewRequest(http.MethodPost, endpoint, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestServeKerberos: exlab serve --kerberos-keytab --krb5-conf as a
// process accepts a Kerberos login on /PowerShell/ (the server proves
// itself with the AP-REP), over http and https, and writes the kerberos
// key of endpoints.json.
func TestServeKerberos(t *testing.T) {
	realm := kdctest.Shared(t)
	pw := "Adm1n-" + uuid.NewString()
	if err := realm.AddUser("administrator", pw); err != nil {
		t.Fatal(err)
	}
	keytab, err := realm.AddService("HTTP/ex01.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	krb5Conf := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(krb5Conf, []byte(realm.Krb5ConfText("127.0.0.1:"+strconv.Itoa(realm.Port), "contoso.test")), 0o644); err != nil {
		t.Fatal(err)
	}
	ccache, err := realm.Kinit("administrator", pw, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exlab("serve", "--dir", dir, "--mailboxes", "5", "--servers", "1", "--kerberos-keytab", keytab, "--krb5-conf", krb5Conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	var ep struct {
		PowerShell struct{ HTTP, HTTPS string } `json:"powershell"`
		CAFile     string                       `json:"ca_file"`
		Kerberos   *struct {
			Realm    string `json:"realm"`
			Krb5Conf string `json:"krb5_conf"`
			SPN      string `json:"spn"`
		} `json:"kerberos"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; {
		b, err := os.ReadFile(filepath.Join(dir, "endpoints.json"))
		if err == nil && json.Unmarshal(b, &ep) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no endpoints.json; stderr: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ep.Kerberos == nil || ep.Kerberos.Realm != realm.Name || ep.Kerberos.SPN != "HTTP/ex01.contoso.test" ||
		ep.Kerberos.Krb5Conf != filepath.Join(dir, "krb5.conf") {
		t.Fatalf("endpoints.json kerberos = %+v", ep.Kerberos)
	}
	creds, err := kerberos.NewCredentials(kerberos.Config{CCacheFile: ccache, Krb5ConfFile: ep.Kerberos.Krb5Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer creds.Close()
	for _, endpoint := range []string{ep.PowerShell.HTTP, ep.PowerShell.HTTPS} {
		got := offers(t, endpoint, ep.CAFile)
		if !slices.Contains(got, "Kerberos") || !slices.Contains(got, "Negotiate") {
			t.Errorf("%s offers %q, want Negotiate and Kerberos", endpoint, got)
		}
		in, err := creds.NewInitiator(ep.Kerberos.SPN, kerberos.SchemeNegotiate)
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := in.Step(nil)
		resp := post(t, endpoint, ep.CAFile, kerberos.AuthHeader(kerberos.SchemeNegotiate, tok))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: the Kerberos login got HTTP %d (%q)", endpoint, resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
		}
		reply, _, err := kerberos.TokenFromHeader(resp.Header.Values("WWW-Authenticate"), kerberos.SchemeNegotiate)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.Step(reply); err != nil || !in.Complete() {
			t.Fatalf("%s: the server's AP-REP does not verify: %v", endpoint, err)
		}
	}
}
