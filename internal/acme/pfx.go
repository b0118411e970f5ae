package acme

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Certificate is an issued certificate with its key.
type Certificate struct {
	// Key is the RSA key the certificate certifies.
	Key *rsa.PrivateKey
	// Chain is the leaf first, then the issuers the CA sent.
	Chain []*x509.Certificate
}

// Leaf is the issued certificate.
func (c *Certificate) Leaf() *x509.Certificate { return c.Chain[0] }

// Thumbprint is the leaf's SHA-1 thumbprint as Exchange shows it.
func (c *Certificate) Thumbprint() string { return Thumbprint(c.Leaf()) }

// Thumbprint is cert's SHA-1 thumbprint, upper-case hex.
func Thumbprint(cert *x509.Certificate) string {
	s := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// PFX encodes the key and chain as PKCS#12 with the legacy encryption
// (pbeWithSHA1And3-KeyTripleDES-CBC for the key and the certificates, a
// SHA-1 MAC): Windows Server 2016 and older read only that; the AES
// (PBES2) encoding needs 2019 or newer.
func (c *Certificate) PFX(password string) ([]byte, error) {
	return pkcs12.LegacyDES.WithRand(rand.Reader).Encode(c.Key, c.Leaf(), c.Chain[1:], password)
}

// OneTimePassword is a random password that protects a PFX on its way to
// Exchange; it is never stored.
func OneTimePassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ParseChain reads the chain the CA returned (DER, leaf first) and checks
// it: every certificate parses, the leaf certifies key, covers every name,
// is valid at now, and each certificate is signed by the next one.
func ParseChain(der [][]byte, key *rsa.PrivateKey, names []string, now time.Time) ([]*x509.Certificate, error) {
	if len(der) == 0 {
		return nil, errors.New("the CA returned no certificate")
	}
	chain := make([]*x509.Certificate, 0, len(der))
	for i, d := range der {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return nil, fmt.Errorf("certificate %d of the chain the CA returned: %v", i+1, err)
		}
		chain = append(chain, c)
	}
	leaf := chain[0]
	if key != nil {
		pub, ok := leaf.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(&key.PublicKey) {
			return nil, fmt.Errorf("the certificate the CA returned (%s) does not certify the key of the request", leaf.Subject)
		}
	}
	for _, n := range names {
		if err := leaf.VerifyHostname(strings.TrimSuffix(n, ".")); err != nil {
			return nil, fmt.Errorf("the certificate the CA returned does not cover %s (it names %s)", n, strings.Join(leaf.DNSNames, ", "))
		}
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("the certificate the CA returned is valid from %s to %s, not now (%s)", leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return nil, fmt.Errorf("certificate %d of the chain (%s) is not signed by certificate %d (%s): %v", i+1, chain[i].Subject, i+2, chain[i+1].Subject, err)
		}
	}
	return chain, nil
}
