package acme

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireOpenSSL skips without openssl, or fails when
// EXRUNBOOK_REQUIRE_PEERS=1.
func requireOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("openssl is required (EXRUNBOOK_REQUIRE_PEERS=1) but missing: %v", err)
		}
		t.Skipf("openssl is missing: %v", err)
	}
	return p
}

// TestPFXLegacyEncoding: OpenSSL reads the PFX and reports the algorithms
// Windows Server 2016 reads: 3DES (pbeWithSHA1And3-KeyTripleDES-CBC) for
// the key and the certificates, a SHA-1 MAC, no AES/PBES2.
func TestPFXLegacyEncoding(t *testing.T) {
	openssl := requireOpenSSL(t)
	rootKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, _ := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	root, _ = x509.ParseCertificate(rootDER)
	key, _ := rsa.GenerateKey(rand.Reader, RSAKeyBits)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "outlook.contoso.test"},
		DNSNames: []string{"outlook.contoso.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(leafDER)
	pfx, err := (&Certificate{Key: key, Chain: []*x509.Certificate{leaf, root}}).PFX("one-time")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "c.pfx")
	if err := os.WriteFile(f, pfx, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkcs12", "-info", "-in", f, "-passin", "pass:one-time", "-noout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, out)
	}
	info := string(out)
	for _, want := range []string{"MAC: sha1", "PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC", "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC"} {
		if !strings.Contains(info, want) {
			t.Errorf("openssl does not report %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, "PBES2") || strings.Contains(strings.ToLower(info), "aes") {
		t.Errorf("the PFX uses the AES encoding Windows Server 2016 cannot read:\n%s", info)
	}
	certs, err := exec.Command(openssl, "pkcs12", "-in", f, "-passin", "pass:one-time", "-nokeys").CombinedOutput()
	if err != nil || strings.Count(string(certs), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("the PFX does not hold the leaf and its issuer: %v\n%s", err, certs)
	}
}
