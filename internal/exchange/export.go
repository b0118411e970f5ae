package exchange

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
)

func newExportableRequestScript(server, subject string, domains []string, keySize int) string {
	return scriptHeader +
		"$req = New-ExchangeCertificate -Server " + Quote(server) + " -GenerateRequest -SubjectName " + Quote(subject) +
		" -DomainName " + quoteList(domains) + fmt.Sprintf(" -KeySize %d", keySize) + " -PrivateKeyExportable $true\n" +
		"$r = [pscustomobject]@{ Request = [string]$req }\n" +
		jsonOut("$r", 2)
}

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
	if c.p != nil {
		return c.newRequest(ctx, op, newRequestPipeline(server, subject, domains, keySize))
	}
	out, err := c.run(ctx, op, newExportableRequestScript(server, subject, domains, keySize), "")
	if err != nil {
		return "", err
	}
	return decodeCSR(op, out)
}

func exportCertificateScript(server, thumbprint string) string {
	return scriptHeader +
		// the password arrives on stdin, never in the script
		"$pw = ConvertTo-SecureString -String ([Console]::In.ReadLine()) -AsPlainText -Force\n" +
		"$e = Export-ExchangeCertificate -Server " + Quote(server) + " -Thumbprint " + Quote(thumbprint) + " -BinaryEncoded -Password $pw\n" +
		"$r = [pscustomobject]@{ FileData = [Convert]::ToBase64String($e.FileData) }\n" +
		jsonOut("$r", 2)
}

// ExportCertificate exports a certificate with its private key from a
// server as a PFX protected by password, which travels on stdin. The key
// must be exportable (PrivateKeyExportable).
func (c *Client) ExportCertificate(ctx context.Context, server, thumbprint, password string) ([]byte, error) {
	const op = "ExportCertificate"
	if password == "" {
		return nil, &OpError{Op: op, Err: errors.New("a password is required to export a private key")}
	}
	if err := checkSecret(op, "export password", password); err != nil {
		return nil, err
	}
	if c.p != nil {
		return c.exportCertificate(ctx, op, server, thumbprint, password)
	}
	out, err := c.run(ctx, op, exportCertificateScript(server, thumbprint), password+"\n")
	if err != nil {
		return nil, err
	}
	type result struct {
		FileData string `json:"FileData"`
	}
	r, err := decodeSingle[result](op, out, req("FileData"))
	if err != nil {
		return nil, err
	}
	pfx, err := base64.StdEncoding.DecodeString(r.FileData)
	if err != nil || len(pfx) == 0 {
		return nil, badOutput(op, "the exported data is not base64")
	}
	return pfx, nil
}
