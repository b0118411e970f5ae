package checks

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
)

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Lab CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return &testCA{cert: c, key: key, pool: pool}
}

func (ca *testCA) issue(t *testing.T, cn string, sans []string, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: sans, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// serveTLS answers TLS handshakes on 127.0.0.1 with a certificate chosen
// by SNI (the default when no name matches).
func serveTLS(t *testing.T, def tls.Certificate, bySNI map[string]tls.Certificate) string {
	t.Helper()
	cfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c, ok := bySNI[h.ServerName]; ok {
			return &c, nil
		}
		return &def, nil
	}}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				_ = c.(*tls.Conn).Handshake()
				c.Close()
			}(c)
		}
	}()
	return ln.Addr().String()
}

type clockEnv struct{ now time.Time }

func (e clockEnv) Now() time.Time                           { return e.now }
func (e clockEnv) Logf(string, ...any)                      {}
func (e clockEnv) Progress(int, int, string)                {}
func (e clockEnv) SetOutput(string, any) error              { return nil }
func (e clockEnv) Output(string, string, any) (bool, error) { return false, nil }

func TestTLSCheck(t *testing.T) {
	ca := newTestCA(t)
	year := time.Now().Add(365 * 24 * time.Hour)
	good := ca.issue(t, "outlook-ext.contoso.test", []string{"outlook.contoso.test", "outlook-ext.contoso.test", "autodiscover.contoso.test"}, year)
	old := ca.issue(t, "outlook.contoso.test", []string{"outlook.contoso.test", "autodiscover.contoso.test"}, year)
	soon := ca.issue(t, "outlook-ext.contoso.test", []string{"outlook-ext.contoso.test"}, time.Now().Add(10*24*time.Hour))
	warn := ca.issue(t, "outlook-ext.contoso.test", []string{"outlook-ext.contoso.test"}, time.Now().Add(45*24*time.Hour))
	wild := ca.issue(t, "*.contoso.test", []string{"*.contoso.test"}, year)

	goodAddr := serveTLS(t, good, nil)
	oldAddr := serveTLS(t, old, nil)
	sniAddr := serveTLS(t, old, map[string]tls.Certificate{"outlook-ext.contoso.test": good})
	soonAddr := serveTLS(t, soon, nil)
	warnAddr := serveTLS(t, warn, nil)
	wildAddr := serveTLS(t, wild, nil)
	closed := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		a := ln.Addr().String()
		ln.Close()
		return a
	}()

	cases := []struct {
		name     string
		targets  []Target
		names    []string
		pool     *x509.CertPool
		thumb    string
		want     check.Status
		contains string
	}{
		{"valid on both servers", []Target{{"EX01", goodAddr}, {"EX02", goodAddr}}, []string{"outlook-ext.contoso.test", "outlook.contoso.test"}, ca.pool, "", check.Pass, "2 server(s)"},
		{"old certificate lacks the new name", []Target{{"EX01", oldAddr}}, []string{"outlook-ext.contoso.test"}, ca.pool, "", check.Fail, "not trusted for outlook-ext.contoso.test"},
		{"SNI picks the bound certificate", []Target{{"EX01", sniAddr}}, []string{"outlook-ext.contoso.test"}, ca.pool, Thumbprint(good.Leaf), check.Pass, ""},
		{"unexpected thumbprint", []Target{{"EX01", sniAddr}}, []string{"outlook.contoso.test"}, ca.pool, Thumbprint(good.Leaf), check.Fail, "not the expected"},
		{"untrusted CA", []Target{{"EX01", goodAddr}}, []string{"outlook-ext.contoso.test"}, x509.NewCertPool(), "", check.Fail, "unknown authority"},
		{"expires within 30 days", []Target{{"EX01", soonAddr}}, []string{"outlook-ext.contoso.test"}, ca.pool, "", check.Fail, "expires in"},
		{"expires within 60 days warns", []Target{{"EX01", warnAddr}}, []string{"outlook-ext.contoso.test"}, ca.pool, "", check.Warn, "expires in"},
		{"wildcard covers one label", []Target{{"EX01", wildAddr}}, []string{"outlook-ext.contoso.test"}, ca.pool, "", check.Pass, ""},
		{"nothing listening", []Target{{"EX01", closed}}, []string{"outlook-ext.contoso.test"}, ca.pool, "", check.Fail, "handshake failed"},
		{"no targets", nil, []string{"outlook-ext.contoso.test"}, ca.pool, "", check.Fail, "exchange.https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chk := &TLSCheck{Targets: c.targets, Names: c.names, RootCAs: c.pool, ExpectThumbprint: c.thumb, Timeout: 3 * time.Second}
			res := chk.Run(context.Background(), clockEnv{time.Now()})
			if res.Status != c.want {
				t.Fatalf("status = %s (%s), want %s", res.Status, res.Message, c.want)
			}
			if c.contains != "" && !strings.Contains(res.Message, c.contains) {
				t.Errorf("message %q lacks %q", res.Message, c.contains)
			}
			if len(c.targets) > 0 && len(res.Evidence) == 0 {
				t.Error("no evidence")
			}
		})
	}
}

func TestTLSEvidenceNamesTheCertificate(t *testing.T) {
	ca := newTestCA(t)
	good := ca.issue(t, "outlook-ext.contoso.test", []string{"outlook-ext.contoso.test"}, time.Now().Add(400*24*time.Hour))
	addr := serveTLS(t, good, nil)
	res := (&TLSCheck{Targets: []Target{{"EX01", addr}}, Names: []string{"outlook-ext.contoso.test"}, RootCAs: ca.pool}).Run(context.Background(), nil)
	ev := strings.Join(res.Evidence, "\n")
	for _, want := range []string{"EX01", "SNI outlook-ext.contoso.test", Thumbprint(good.Leaf), "SANs outlook-ext.contoso.test", "2048-bit key", "issuer Test Lab CA"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence %q lacks %q", ev, want)
		}
	}
}

func TestSANCovers(t *testing.T) {
	cases := []struct {
		sans []string
		host string
		want bool
	}{
		{[]string{"outlook.contoso.com"}, "outlook.contoso.com", true},
		{[]string{"OUTLOOK.contoso.com"}, "outlook.CONTOSO.com.", true},
		{[]string{"*.contoso.com"}, "outlook-ext.contoso.com", true},
		{[]string{"*.contoso.com"}, "contoso.com", false},
		{[]string{"*.contoso.com"}, "a.b.contoso.com", false},
		{[]string{"*.*.com"}, "a.b.com", false},
		{[]string{"outlook.contoso.com"}, "outlook-ext.contoso.com", false},
		{nil, "outlook.contoso.com", false},
		{[]string{"*.contoso.com"}, ".contoso.com", false},
	}
	for _, c := range cases {
		if got := SANCovers(c.sans, c.host); got != c.want {
			t.Errorf("SANCovers(%v, %q) = %v, want %v", c.sans, c.host, got, c.want)
		}
	}
	if got := Uncovered([]string{"outlook.contoso.com", "*.contoso.com"}, "outlook-ext.contoso.com", "contoso.com", ""); len(got) != 1 || got[0] != "contoso.com" {
		t.Errorf("Uncovered = %v", got)
	}
}
