// Package ca is the lab's certificate authority: a self-signed RSA root that
// issues server certificates (RSA 2048, SHA-256) with the facts Exchange
// shows about them (thumbprint, subject, SANs, validity), exports them as
// password-protected PFX files and signs certificate requests, which is how
// the lab answers the CSR that New-ExchangeCertificate -GenerateRequest
// produces.
//
// Keys can be drawn from a caller-supplied stream, so that a seeded lab
// organisation is the same, certificate for certificate, on every run. Such
// keys are for the simulated lab only; with a nil stream the keys come from
// crypto/rand.
package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/exrunbook/exrunbook/internal/lab/atomicfile"
)

// KeyBits is the size of every RSA key the CA makes.
const KeyBits = 2048

// File names inside a lab directory.
const (
	CertFile = "ca.pem"          // the root certificate, PEM, world-readable
	KeyFile  = "secrets/ca.key"  // the root key, PEM, mode 0600
	secrets  = "secrets"         // directory of secret files, mode 0700
	keyPEM   = "RSA PRIVATE KEY" // PEM type of PKCS#1 keys
	certPEM  = "CERTIFICATE"     // PEM type of certificates
	csrPEM   = "CERTIFICATE REQUEST"
	csrPEMNW = "NEW CERTIFICATE REQUEST" // the type certreq and Exchange write
)

// CA is a root certificate and its key.
type CA struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// Leaf is an issued certificate with its private key.
type Leaf struct {
	Cert *x509.Certificate
	Key  *rsa.PrivateKey
}

// GenerateKey makes an RSA key of KeyBits bits. With a nil stream it uses
// crypto/rsa and crypto/rand. With a stream it searches primes in the bytes
// it reads, so the same stream gives the same key; that is only meant for the
// lab's seeded organisations.
func GenerateKey(stream io.Reader) (*rsa.PrivateKey, error) {
	if stream == nil {
		return rsa.GenerateKey(rand.Reader, KeyBits)
	}
	e := big.NewInt(65537)
	one := big.NewInt(1)
	for {
		p, err := seededPrime(stream, KeyBits/2)
		if err != nil {
			return nil, err
		}
		q, err := seededPrime(stream, KeyBits/2)
		if err != nil {
			return nil, err
		}
		if p.Cmp(q) == 0 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != KeyBits {
			continue
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue
		}
		if p.Cmp(q) < 0 {
			p, q = q, p
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 65537}, D: d, Primes: []*big.Int{p, q}}
		k.Precompute()
		if err := k.Validate(); err != nil {
			continue
		}
		return k, nil
	}
}

func seededPrime(r io.Reader, bits int) (*big.Int, error) {
	buf := make([]byte, bits/8)
	p := new(big.Int)
	for {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		buf[0] |= 0xC0 // top two bits: the product has exactly 2*bits bits
		buf[len(buf)-1] |= 1
		p.SetBytes(buf)
		if p.ProbablyPrime(20) {
			return p, nil
		}
	}
}

func serial(stream io.Reader) (*big.Int, error) {
	if stream == nil {
		stream = rand.Reader
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(stream, b); err != nil {
		return nil, err
	}
	b[0] &= 0x7F
	b[0] |= 0x10
	return new(big.Int).SetBytes(b), nil
}

// New makes a self-signed root valid from now for ten years.
func New(commonName string, now time.Time, stream io.Reader) (*CA, error) {
	key, err := GenerateKey(stream)
	if err != nil {
		return nil, err
	}
	sn, err := serial(stream)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"exrunbook lab"}},
		NotBefore:             now.Add(-time.Hour).UTC().Truncate(time.Second),
		NotAfter:              now.AddDate(10, 0, 0).UTC().Truncate(time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SignatureAlgorithm:    x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca: self-sign: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertPEM is the root certificate in PEM.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: certPEM, Bytes: c.Cert.Raw})
}

// Save writes DIR/ca.pem (0644) and DIR/secrets/ca.key (0600, in a 0700
// directory).
func (c *CA) Save(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, secrets), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(dir, secrets), 0o700); err != nil {
		return err
	}
	k := pem.EncodeToMemory(&pem.Block{Type: keyPEM, Bytes: x509.MarshalPKCS1PrivateKey(c.Key)})
	if err := atomicfile.Write(filepath.Join(dir, KeyFile), k, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, CertFile), c.CertPEM(), 0o644)
}

// Load reads the root written by Save.
func Load(dir string) (*CA, error) {
	cb, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, err
	}
	kb, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || cblk.Type != certPEM || kblk == nil || kblk.Type != keyPEM {
		return nil, errors.New("ca: " + dir + ": ca.pem or secrets/ca.key is not PEM")
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", CertFile, err)
	}
	key, err := x509.ParsePKCS1PrivateKey(kblk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("ca: %s: %w", KeyFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("ca: " + dir + ": the key does not match ca.pem")
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Issue makes a server certificate for subject CN with the given names as
// SANs (DNS names, or IP addresses such as "127.0.0.1"), valid from notBefore to notAfter, with a fresh RSA 2048 key (drawn
// from stream when it is not nil).
func (c *CA) Issue(commonName string, sans []string, notBefore, notAfter time.Time, stream io.Reader) (*Leaf, error) {
	key, err := GenerateKey(stream)
	if err != nil {
		return nil, err
	}
	cert, err := c.sign(pkix.Name{CommonName: commonName}, sans, &key.PublicKey, notBefore, notAfter, stream)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, Key: key}, nil
}

func (c *CA) sign(subject pkix.Name, sans []string, pub crypto.PublicKey, notBefore, notAfter time.Time, stream io.Reader) (*x509.Certificate, error) {
	if len(sans) == 0 {
		return nil, errors.New("ca: a server certificate needs at least one DNS name")
	}
	sn, err := serial(stream)
	if err != nil {
		return nil, err
	}
	var dnsNames []string
	var ips []net.IP
	for _, n := range sans {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dnsNames = append(dnsNames, n)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber:       sn,
		Subject:            subject,
		DNSNames:           dnsNames,
		IPAddresses:        ips,
		NotBefore:          notBefore.UTC().Truncate(time.Second),
		NotAfter:           notAfter.UTC().Truncate(time.Second),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, pub, c.Key)
	if err != nil {
		return nil, fmt.Errorf("ca: issue %s: %w", subject.CommonName, err)
	}
	return x509.ParseCertificate(der)
}

// ParseCSR reads a certificate request in PEM (CERTIFICATE REQUEST or NEW
// CERTIFICATE REQUEST), bare base64 or DER, and checks its signature.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != csrPEM && blk.Type != csrPEMNW {
			return nil, fmt.Errorf("ca: PEM block %q is not a certificate request", blk.Type)
		}
		der = blk.Bytes
	} else if s := strings.Join(strings.Fields(string(data)), ""); s != "" && !bytes.HasPrefix(data, []byte{0x30}) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, errors.New("ca: the request is neither PEM, base64 nor DER")
		}
		der = b
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("ca: parse certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("ca: certificate request signature: %w", err)
	}
	return csr, nil
}

// SignCSR issues a certificate for a request: its subject and DNS names,
// its public key (RSA of at least 2048 bits), valid from now for validity.
func (c *CA) SignCSR(csr *x509.CertificateRequest, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	rk, ok := csr.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("ca: the request's key is %T; the lab signs RSA keys", csr.PublicKey)
	}
	if rk.N.BitLen() < KeyBits {
		return nil, fmt.Errorf("ca: the request's key has %d bits; at least %d are required", rk.N.BitLen(), KeyBits)
	}
	sans := csr.DNSNames
	if len(sans) == 0 && csr.Subject.CommonName != "" {
		sans = []string{csr.Subject.CommonName}
	}
	return c.sign(csr.Subject, sans, rk, now.Add(-time.Hour), now.Add(validity), nil)
}

// CertificatePEM encodes a certificate in PEM.
func CertificatePEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: certPEM, Bytes: cert.Raw})
}

// Thumbprint is how Exchange names a certificate: the SHA-1 of its DER, in
// upper-case hex.
func Thumbprint(cert *x509.Certificate) string {
	s := sha1.Sum(cert.Raw)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// Thumbprint of the leaf certificate.
func (l *Leaf) Thumbprint() string { return Thumbprint(l.Cert) }

// CertPEM is the leaf certificate in PEM.
func (l *Leaf) CertPEM() []byte { return CertificatePEM(l.Cert) }

// KeyPEM is the leaf key in PKCS#1 PEM.
func (l *Leaf) KeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: keyPEM, Bytes: x509.MarshalPKCS1PrivateKey(l.Key)})
}

// PFX exports the leaf, its key and the chain (when chain is not nil) as a
// PKCS#12 file protected by password, with the modern encoder (AES-256,
// PBKDF2).
func (l *Leaf) PFX(password string, chain ...*x509.Certificate) ([]byte, error) {
	return pkcs12.Modern.Encode(l.Key, l.Cert, chain, password)
}

// ParsePFX reads a PKCS#12 file written by PFX (or any PFX holding an RSA key
// and its certificate).
func ParsePFX(data []byte, password string) (*Leaf, []*x509.Certificate, error) {
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		return nil, nil, fmt.Errorf("ca: pfx: %w", err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("ca: pfx holds a %T key; the lab uses RSA", key)
	}
	return &Leaf{Cert: cert, Key: rk}, chain, nil
}
