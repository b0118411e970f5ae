package exchange

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Certificate is one Exchange certificate on one server
// (Get-ExchangeCertificate -Server).
type Certificate struct {
	Server             string    `json:"Server"`
	Thumbprint         string    `json:"Thumbprint"`
	Subject            string    `json:"Subject"`
	Issuer             string    `json:"Issuer"`
	FriendlyName       string    `json:"FriendlyName"`
	CertificateDomains []string  `json:"CertificateDomains"`
	NotBefore          time.Time `json:"NotBefore"`
	NotAfter           time.Time `json:"NotAfter"` // UTC
	// Services is Exchange's text form: "IIS, SMTP", or "None".
	Services      string `json:"Services"`
	HasPrivateKey bool   `json:"HasPrivateKey"`
	// Status is Valid, PendingRequest, Invalid, ...
	Status        string `json:"Status"`
	PublicKeySize int    `json:"PublicKeySize"`
	// SignatureAlgorithm is the friendly name, e.g. sha256RSA.
	SignatureAlgorithm string `json:"SignatureAlgorithm"`
	IsSelfSigned       bool   `json:"IsSelfSigned"`
}

// ServiceList splits Services into names ("None" → none).
func (c Certificate) ServiceList() []string {
	var out []string
	for _, s := range strings.Split(c.Services, ",") {
		if s = strings.TrimSpace(s); s != "" && !strings.EqualFold(s, "None") {
			out = append(out, s)
		}
	}
	return out
}

// GetCertificates lists the Exchange certificates of every given server.
func (c *Client) GetCertificates(ctx context.Context, servers []string) ([]Certificate, error) {
	const op = "GetCertificates"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	return c.getCertificates(ctx, op, servers)
}

// ImportResult is the outcome of importing on one server.
type ImportResult struct {
	Server     string `json:"Server"`
	OK         bool   `json:"Ok"`
	Thumbprint string `json:"Thumbprint"`
	Error      string `json:"Error"`
}

// ImportPFX imports a PFX onto every server, one result per server (in
// order). The password goes on stdin; the bytes are in the script as a
// base64 literal. A server where it fails (e.g. already present) does not
// stop the others.
func (c *Client) ImportPFX(ctx context.Context, servers []string, pfx []byte, password string) ([]ImportResult, error) {
	const op = "ImportPFX"
	if len(servers) == 0 || len(pfx) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server or empty PFX")}
	}
	return c.importPFX(ctx, op, servers, pfx, password)
}

// EnableCertificate binds a certificate to services on a server
// (additive, as Exchange does) and returns the services it now has.
func (c *Client) EnableCertificate(ctx context.Context, server, thumbprint string, services []string, force bool) (string, error) {
	const op = "EnableCertificate"
	if len(services) == 0 {
		return "", &OpError{Op: op, Err: errors.New("no service given")}
	}
	cur, err := c.getCert(ctx, op, server, thumbprint)
	if err != nil {
		return "", err
	}
	before := ""
	if cur != nil {
		before = cur.Services
	}
	return c.enableServices(ctx, op, server, thumbprint, services, before)
}

// RemoveCertificate deletes a certificate from a server.
func (c *Client) RemoveCertificate(ctx context.Context, server, thumbprint string) error {
	const op = "RemoveCertificate"
	_, err := c.runWrite(ctx, op, removePipeline(server, thumbprint))
	return err
}

// NewCertificateRequest makes a server generate a key pair and returns
// the certificate signing request (PEM) for the given subject and SANs.
func (c *Client) NewCertificateRequest(ctx context.Context, server, subject string, domains []string) (string, error) {
	const op = "NewCertificateRequest"
	if len(domains) == 0 {
		return "", &OpError{Op: op, Err: errors.New("no domain name given")}
	}
	return c.newRequest(ctx, op, newRequestPipeline(server, subject, domains, 0))
}

// ImportCertificateResponse completes a pending request on the server
// that made it with the CA's answer (the certificate file's bytes) and
// returns the thumbprint.
func (c *Client) ImportCertificateResponse(ctx context.Context, server string, data []byte) (string, error) {
	const op = "ImportCertificateResponse"
	if len(data) == 0 {
		return "", &OpError{Op: op, Err: errors.New("empty certificate data")}
	}
	return c.importResponse(ctx, op, server, data)
}
