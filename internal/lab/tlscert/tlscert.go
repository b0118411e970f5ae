// Package tlscert is how a lab listener (autodiscover's IIS, the SMTP
// receive connector) chooses the certificate it presents: among the
// certificates bound to its service, the first whose names cover the SNI
// name, else the first usable one. Parsed key pairs are cached by
// thumbprint, so a handshake does not parse PEM again.
package tlscert

import (
	"crypto/tls"
	"crypto/x509"
	"sync"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// Cache holds the key pairs parsed so far. Its zero value is ready; it may
// be shared between goroutines.
type Cache struct {
	certs sync.Map // thumbprint → *tls.Certificate
}

// Pick returns the first of bound whose names cover serverName (when it is
// not empty), else the first of bound that parses; nil when none parses.
func (c *Cache) Pick(bound []*org.Certificate, serverName string) *tls.Certificate {
	var first *tls.Certificate
	for _, b := range bound {
		tc, err := c.parsed(b)
		if err != nil {
			continue
		}
		if first == nil {
			first = tc
		}
		if serverName != "" && tc.Leaf.VerifyHostname(serverName) == nil {
			return tc
		}
	}
	return first
}

func (c *Cache) parsed(b *org.Certificate) (*tls.Certificate, error) {
	if v, ok := c.certs.Load(b.Thumbprint); ok {
		return v.(*tls.Certificate), nil
	}
	tc, err := tls.X509KeyPair([]byte(b.CertPEM), []byte(b.KeyPEM))
	if err != nil {
		return nil, err
	}
	if tc.Leaf, err = x509.ParseCertificate(tc.Certificate[0]); err != nil {
		return nil, err
	}
	c.certs.Store(b.Thumbprint, &tc)
	return &tc, nil
}
