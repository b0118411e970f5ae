package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/kerberos/kdctest"
	"github.com/exrunbook/exrunbook/internal/lab/ca"
)

// TestMain lets the test binary act as exlab for the process tests.
func TestMain(m *testing.M) {
	if os.Getenv("EXLAB_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	code := m.Run()
	kdctest.StopShared()
	os.Exit(code)
}

func exlab(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "EXLAB_TEST_MAIN=1")
	return cmd
}

func TestServeUntilSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cmd := exlab("serve", "--dir", dir, "--mailboxes", "20", "--seed", "3", "--latency", "1ms")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(60 * time.Second)
	var ep map[string]any
	for {
		b, err := os.ReadFile(filepath.Join(dir, "endpoints.json"))
		if err == nil && json.Unmarshal(b, &ep) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no endpoints.json; stderr: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "exrunbook.yaml")); err != nil {
		t.Error(err)
	}
	// Without a keytab: no kerberos key, and /PowerShell/ offers NTLM
	// (Negotiate) over http, and Basic too over https.
	if _, ok := ep["kerberos"]; ok {
		t.Errorf("endpoints.json has a kerberos key without --kerberos-keytab: %v", ep["kerberos"])
	}
	ps := ep["powershell"].(map[string]any)
	if got := offers(t, ps["http"].(string), ep["ca_file"].(string)); !slices.Equal(got, []string{"Negotiate", "NTLM"}) {
		t.Errorf("http /PowerShell/ offers %q, want Negotiate and NTLM", got)
	}
	if got := offers(t, ps["https"].(string), ep["ca_file"].(string)); !slices.Equal(got, []string{"Negotiate", "NTLM", `Basic realm="WSMAN"`}) {
		t.Errorf("https /PowerShell/ offers %q, want Negotiate, NTLM and Basic", got)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("exlab did not stop on SIGTERM")
	}
	if !strings.Contains(stdout.String(), `"control": "http://127.0.0.1:`) {
		t.Errorf("endpoints not printed: %s", stdout.String())
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"serve"},
		{"serve", "--dir", t.TempDir(), "--faults", "bogus=1"},
		{"serve", "--dir", t.TempDir(), "--nope"},
		{"serve", "--dir", t.TempDir(), "--kerberos-keytab", "http.keytab"},
		{"serve", "--dir", t.TempDir(), "--krb5-conf", "krb5.conf"},
		{"sign-csr", "x.csr"},
	}
	for _, args := range cases {
		err := exlab(args...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2", args, err)
		}
	}
}

func TestSignCSR(t *testing.T) {
	dir := t.TempDir()
	c, err := ca.New("test CA", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "outlook.contoso.test"},
		DNSNames: []string{"outlook.contoso.test", "outlook-ext.contoso.test"}}, key)
	csr := filepath.Join(dir, "req.csr")
	os.WriteFile(csr, pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}), 0o644)
	var out bytes.Buffer
	root := newRoot(&out, &out)
	root.SetArgs([]string{"sign-csr", "--dir", dir, "--days", "30", csr})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(out.Bytes())
	if blk == nil {
		t.Fatalf("no PEM: %s", out.String())
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || cert.CheckSignatureFrom(c.Cert) != nil || cert.VerifyHostname("outlook-ext.contoso.test") != nil {
		t.Errorf("certificate: %v", err)
	}
	root = newRoot(&out, &out)
	root.SetArgs([]string{"sign-csr", "--dir", dir, filepath.Join(dir, "ca.pem")})
	if err := root.Execute(); err == nil {
		t.Error("a certificate was accepted as a request")
	}
}
