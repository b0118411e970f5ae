package checks

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
)

// Target is one server's HTTPS address, where TLS checks connect.
type Target struct {
	Server string // e.g. "EX01"
	Addr   string // host:port, e.g. "ex01.contoso.com:443"
}

// TLSCheck connects to every target with SNI set to every name under test,
// verifies the chain against RootCAs and the name, and reports the
// certificate presented. It fails when a handshake or verification fails,
// when the certificate expires within MinValidity, or when it is not the
// expected one; it warns within WarnValidity, on keys under 2048 bits and
// on SHA-1 signatures.
type TLSCheck struct {
	CheckName string
	Targets   []Target
	Names     []string
	// RootCAs verifies the chain; nil uses the system pool.
	RootCAs *x509.CertPool
	// ExpectThumbprint, when set, is the thumbprint (SHA-1 of the DER, hex,
	// any case) every target must present.
	ExpectThumbprint string
	// Intermediates are issuers known out of band (the chain a CA returned
	// with the certificate), for servers that present the leaf alone.
	Intermediates []*x509.Certificate
	MinValidity   time.Duration // default 30 days
	WarnValidity  time.Duration // default 60 days
	Timeout       time.Duration // per handshake; default 10 s
}

// Name implements check.Check.
func (c *TLSCheck) Name() string {
	return nameOr(c.CheckName, "tls")
}

// Run implements check.Check.
func (c *TLSCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name(), Status: check.Pass}
	if len(c.Targets) == 0 || len(c.Names) == 0 {
		res.Status = check.Fail
		res.Message = "nothing to check: no server HTTPS address (exchange.https) or no name under test"
		return res
	}
	minV, warnV := c.MinValidity, c.WarnValidity
	if minV == 0 {
		minV = 30 * 24 * time.Hour
	}
	if warnV == 0 {
		warnV = 60 * 24 * time.Hour
	}
	now := clock(env)
	var fails, warns []string
	var ve verdictErr
	for _, t := range c.Targets {
		for _, name := range c.Names {
			cert, err := c.handshake(ctx, t.Addr, name, now)
			label := fmt.Sprintf("%s %s SNI %s", t.Server, t.Addr, name)
			if cert == nil {
				fails = append(fails, fmt.Sprintf("%s: %v", label, err))
				res.Evidence = append(res.Evidence, fmt.Sprintf("%s: no certificate: %v", label, err))
				ve.add(transientIf(err, err))
				continue
			}
			res.Evidence = append(res.Evidence, label+": "+Describe(cert, now))
			if err != nil {
				fails = append(fails, fmt.Sprintf("%s: %v", label, err))
			}
			if c.ExpectThumbprint != "" && !strings.EqualFold(Thumbprint(cert), c.ExpectThumbprint) {
				fails = append(fails, fmt.Sprintf("%s presents %s, not the expected %s", label, Thumbprint(cert), strings.ToUpper(c.ExpectThumbprint)))
			}
			left := cert.NotAfter.Sub(now)
			switch {
			case left < minV:
				fails = append(fails, fmt.Sprintf("%s: the certificate expires in %d days (at least %d required)", label, int(left.Hours()/24), int(minV.Hours()/24)))
			case left < warnV:
				warns = append(warns, fmt.Sprintf("%s: the certificate expires in %d days", label, int(left.Hours()/24)))
			}
			if bits := KeyBits(cert); bits > 0 && bits < 2048 && isRSA(cert) {
				warns = append(warns, fmt.Sprintf("%s: RSA key of %d bits (2048 or more recommended)", label, bits))
			}
			if isSHA1(cert) {
				warns = append(warns, label+": SHA-1 signature")
			}
		}
	}
	switch {
	case len(fails) > 0:
		res.Status = check.Fail
		res.Message = strings.Join(dedupe(fails), "; ")
		res.Err = ve.err(len(fails))
	case len(warns) > 0:
		res.Status = check.Warn
		res.Message = strings.Join(dedupe(warns), "; ")
	default:
		res.Message = fmt.Sprintf("%d server(s) present a valid certificate for %s", len(c.Targets), strings.Join(c.Names, ", "))
	}
	return res
}

// handshake returns the leaf presented and the verification error, if any.
// The chain is verified after the handshake so that a certificate that
// fails verification can still be shown as evidence.
func (c *TLSCheck) handshake(ctx context.Context, addr, name string, now time.Time) (*x509.Certificate, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: timeout},
		Config: &tls.Config{
			ServerName: name,
			// Verification is done below, against RootCAs and the name,
			// so that the presented certificate is reported either way.
			InsecureSkipVerify: true, //nolint:gosec // verified explicitly in verify()
			MinVersion:         tls.VersionTLS12,
		},
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(cctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("TLS handshake failed: %w", err)
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	if len(state.PeerCertificates) == 0 {
		return nil, fmt.Errorf("the server presented no certificate")
	}
	leaf := state.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, ic := range state.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	for _, ic := range c.Intermediates {
		inter.AddCert(ic)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: c.RootCAs, Intermediates: inter, DNSName: name, CurrentTime: now})
	if err != nil {
		return leaf, fmt.Errorf("certificate not trusted for %s: %v", name, err)
	}
	return leaf, nil
}

// Thumbprint is Exchange's name for a certificate: the SHA-1 of its DER,
// in upper-case hex.
func Thumbprint(c *x509.Certificate) string {
	sum := sha1.Sum(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// KeyBits is the size of the certificate's public key (0 if unknown).
func KeyBits(c *x509.Certificate) int {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return k.N.BitLen()
	case *ecdsa.PublicKey:
		return k.Curve.Params().BitSize
	}
	return 0
}

func isRSA(c *x509.Certificate) bool { _, ok := c.PublicKey.(*rsa.PublicKey); return ok }

func isSHA1(c *x509.Certificate) bool {
	switch c.SignatureAlgorithm {
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		return true
	}
	return false
}

// Describe renders the facts of a certificate an administrator checks.
func Describe(c *x509.Certificate, now time.Time) string {
	sans := append([]string(nil), c.DNSNames...)
	sort.Strings(sans)
	return fmt.Sprintf("subject %s, thumbprint %s, SANs %s, issuer %s, not after %s (%d days), %d-bit key, %s",
		c.Subject.CommonName, Thumbprint(c), strings.Join(sans, " "), c.Issuer.CommonName,
		c.NotAfter.UTC().Format("2006-01-02"), int(c.NotAfter.Sub(now).Hours()/24), KeyBits(c), c.SignatureAlgorithm)
}

// SANCovers reports whether a certificate whose subject alternative names
// are sans is valid for host. A wildcard covers exactly one leftmost label
// (*.contoso.com covers outlook.contoso.com, not contoso.com nor
// a.b.contoso.com), and names compare case-insensitively.
func SANCovers(sans []string, host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, s := range sans {
		s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
		if s == host {
			return true
		}
		if rest, ok := strings.CutPrefix(s, "*."); ok {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i+1:] == rest && !strings.Contains(rest, "*") {
				return true
			}
		}
	}
	return false
}

// Uncovered lists the hosts that sans do not cover, in the given order.
func Uncovered(sans []string, hosts ...string) []string {
	var out []string
	for _, h := range hosts {
		if h != "" && !SANCovers(sans, h) {
			out = append(out, h)
		}
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
