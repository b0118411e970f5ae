package exchange

import (
	"context"
	"errors"
	"fmt"
)

// NewExportableCertificateRequest is NewCertificateRequest with the key
// size given and the private key marked exportable, so that the completed
// certificate can be exported with Export-ExchangeCertificate to the
// other servers of a DAG, which need the same thumbprint.
func (c *Client) NewExportableCertificateRequest(ctx context.Context, server, subject string, domains []string, keySize int) (string, error) {
	const op = "NewExportableCertificateRequest"
	if len(domains) == 0 {
		return "", &OpError{Op: op, Err: errors.New("no domain name given")}
	}
	switch keySize {
	case 2048, 3072, 4096:
	default:
		return "", &OpError{Op: op, Err: fmt.Errorf("key size %d: expected 2048, 3072 or 4096", keySize)}
	}
	return c.newRequest(ctx, op, newRequestPipeline(server, subject, domains, keySize))
}

// ExportCertificate exports a certificate with its private key from a
// server as a PFX protected by password, which travels on stdin. The key
// must be exportable (PrivateKeyExportable).
func (c *Client) ExportCertificate(ctx context.Context, server, thumbprint, password string) ([]byte, error) {
	const op = "ExportCertificate"
	if password == "" {
		return nil, &OpError{Op: op, Err: errors.New("a password is required to export a private key")}
	}
	return c.exportCertificate(ctx, op, server, thumbprint, password)
}
