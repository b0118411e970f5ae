package ca

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var now = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var (
	rootOnce sync.Once
	root     *CA
)

func testCA(t testing.TB) *CA {
	rootOnce.Do(func() {
		var err error
		root, err = New("exrunbook lab CA", now, nil)
		if err != nil {
			t.Fatal(err)
		}
	})
	return root
}

func seeded(seed uint64) *mrand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return mrand.NewChaCha8(s)
}

func TestIssue(t *testing.T) {
	t.Parallel()
	c := testCA(t)
	cases := []struct {
		name string
		sans []string
	}{
		{"outlook.contoso.test", []string{"outlook.contoso.test", "autodiscover.contoso.test", "ex01.contoso.test"}},
		{"one", []string{"one.contoso.test"}},
		{"wild", []string{"*.contoso.test"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := c.Issue(tc.name, tc.sans, now, now.AddDate(1, 0, 0), nil)
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(c.Cert)
			if _, err := l.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: strings.Replace(tc.sans[0], "*", "x", 1), CurrentTime: now.Add(time.Hour)}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got := l.Cert.DNSNames; strings.Join(got, ",") != strings.Join(tc.sans, ",") {
				t.Errorf("SANs %v, want %v", got, tc.sans)
			}
			if l.Cert.SignatureAlgorithm != x509.SHA256WithRSA {
				t.Errorf("signature %v", l.Cert.SignatureAlgorithm)
			}
			if l.Key.N.BitLen() != 2048 {
				t.Errorf("key bits %d", l.Key.N.BitLen())
			}
			sum := sha1.Sum(l.Cert.Raw)
			if tp := l.Thumbprint(); tp != strings.ToUpper(hex.EncodeToString(sum[:])) || len(tp) != 40 || strings.ToUpper(tp) != tp {
				t.Errorf("thumbprint %q", tp)
			}
		})
	}
	ipLeaf, err := c.Issue("ex01.contoso.test", []string{"ex01.contoso.test", "127.0.0.1"}, now, now.AddDate(1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ipLeaf.Cert.IPAddresses) != 1 || ipLeaf.Cert.VerifyHostname("127.0.0.1") != nil || len(ipLeaf.Cert.DNSNames) != 1 {
		t.Errorf("IP SAN: %v %v", ipLeaf.Cert.IPAddresses, ipLeaf.Cert.DNSNames)
	}
	if _, err := c.Issue("none", nil, now, now, nil); err == nil {
		t.Error("a certificate without SANs was issued")
	}
}

func TestPFXRoundTrip(t *testing.T) {
	t.Parallel()
	c := testCA(t)
	l, err := c.Issue("outlook.contoso.test", []string{"outlook.contoso.test"}, now, now.AddDate(1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := l.PFX("p'a\"ss $(x)", c.Cert)
	if err != nil {
		t.Fatal(err)
	}
	got, chain, err := ParsePFX(pfx, "p'a\"ss $(x)")
	if err != nil {
		t.Fatal(err)
	}
	if got.Thumbprint() != l.Thumbprint() || !got.Key.Equal(l.Key) || len(chain) != 1 || !chain[0].Equal(c.Cert) {
		t.Error("PFX did not round-trip")
	}
	if _, _, err := ParsePFX(pfx, "wrong"); err == nil {
		t.Error("wrong PFX password accepted")
	}
}

func TestSaveLoad(t *testing.T) {
	t.Parallel()
	c := testCA(t)
	dir := t.TempDir()
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{KeyFile: 0o600, "secrets": 0o700 | os.ModeDir, CertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(c.Cert) || !got.Key.Equal(c.Key) {
		t.Error("Load differs from Save")
	}
	other, err := New("other", now, seeded(9))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, CertFile), other.CertPEM(), 0o644)
	if _, err := Load(dir); err == nil {
		t.Error("mismatched key and certificate loaded")
	}
}

func TestSeededKeysAreDeterministic(t *testing.T) {
	t.Parallel()
	a, err := New("seeded", now, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	b, err := New("seeded", now, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Cert.Raw, b.Cert.Raw) {
		t.Error("same seed, different root certificates")
	}
	c, err := New("seeded", now, seeded(2))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Cert.Raw, c.Cert.Raw) {
		t.Error("different seeds, same root")
	}
	la, _ := a.Issue("x", []string{"x.contoso.test"}, now, now.AddDate(1, 0, 0), seeded(3))
	lb, _ := b.Issue("x", []string{"x.contoso.test"}, now, now.AddDate(1, 0, 0), seeded(3))
	if la.Thumbprint() != lb.Thumbprint() {
		t.Error("same seed, different leaf thumbprints")
	}
}

func makeCSR(t testing.TB, bits int, names ...string) []byte {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: names[0]}, DNSNames: names}, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestSignCSR(t *testing.T) {
	t.Parallel()
	c := testCA(t)
	der := makeCSR(t, 2048, "outlook.contoso.test", "outlook-ext.contoso.test")
	forms := map[string][]byte{
		"der":    der,
		"pem":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		"new":    pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}),
		"base64": []byte(base64.StdEncoding.EncodeToString(der)[:40] + "\r\n" + base64.StdEncoding.EncodeToString(der)[40:]),
	}
	for name, data := range forms {
		t.Run(name, func(t *testing.T) {
			csr, err := ParseCSR(data)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := c.SignCSR(csr, now, 365*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(cert.DNSNames, ",") != "outlook.contoso.test,outlook-ext.contoso.test" || cert.Subject.CommonName != "outlook.contoso.test" {
				t.Errorf("cert names %v %v", cert.Subject, cert.DNSNames)
			}
			if err := cert.CheckSignatureFrom(c.Cert); err != nil {
				t.Error(err)
			}
			if !cert.PublicKey.(*rsa.PublicKey).Equal(csr.PublicKey) {
				t.Error("certificate key differs from the request's")
			}
		})
	}
	bad := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("not a request")},
		{"cert pem", c.CertPEM()},
		{"tampered", append(append([]byte(nil), der[:len(der)-1]...), der[len(der)-1]^1)},
	}
	for _, b := range bad {
		if _, err := ParseCSR(b.data); err == nil {
			t.Errorf("%s: accepted", b.name)
		}
	}
	small, err := ParseCSR(makeCSR(t, 1024, "small.contoso.test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignCSR(small, now, time.Hour); err == nil {
		t.Error("a 1024-bit request was signed")
	}
}

func FuzzParseCSR(f *testing.F) {
	der := makeCSR(f, 2048, "a.contoso.test")
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der}))
	f.Add([]byte("MIIB"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err == nil && csr.CheckSignature() != nil {
			t.Error("ParseCSR returned a request with a bad signature")
		}
	})
}
