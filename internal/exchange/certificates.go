package exchange

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
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

var certFields = append(req("Server", "Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "Services", "HasPrivateKey", "Status", "PublicKeySize", "IsSelfSigned"), opt("FriendlyName", "SignatureAlgorithm")...)

func certificatesScript(servers []string) string {
	return scriptHeader + `$r = foreach ($srv in ` + quoteList(servers) + `) {
    foreach ($c in Get-ExchangeCertificate -Server $srv) {
        [pscustomobject]@{
            Server = $srv
            Thumbprint = [string]$c.Thumbprint
            Subject = [string]$c.Subject
            Issuer = [string]$c.Issuer
            FriendlyName = [string]$c.FriendlyName
            CertificateDomains = @($c.CertificateDomains | ForEach-Object { [string]$_ })
            NotBefore = $c.NotBefore.ToUniversalTime().ToString('o')
            NotAfter = $c.NotAfter.ToUniversalTime().ToString('o')
            Services = [string]$c.Services
            HasPrivateKey = [bool]$c.HasPrivateKey
            Status = [string]$c.Status
            PublicKeySize = [int]$c.PublicKeySize
            SignatureAlgorithm = $(if ($null -ne $c.SignatureAlgorithm.FriendlyName) { [string]$c.SignatureAlgorithm.FriendlyName } else { [string]$c.SignatureAlgorithm })
            IsSelfSigned = [bool]$c.IsSelfSigned
        }
    }
}
` + jsonOut("@($r)", 4)
}

// GetCertificates lists the Exchange certificates of every given server.
func (c *Client) GetCertificates(ctx context.Context, servers []string) ([]Certificate, error) {
	const op = "GetCertificates"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	if c.p != nil {
		return c.getCertificates(ctx, op, servers)
	}
	out, err := c.run(ctx, op, certificatesScript(servers), "")
	if err != nil {
		return nil, err
	}
	return decodeCertificates(op, out)
}

// decodeCertificates decodes a list of certificates, puts their validity
// times in UTC and checks that each has a thumbprint.
func decodeCertificates(op, out string) ([]Certificate, error) {
	res, err := decodeList[Certificate](op, out, certFields)
	if err != nil {
		return nil, err
	}
	for i := range res {
		res[i].NotAfter = res[i].NotAfter.UTC()
		res[i].NotBefore = res[i].NotBefore.UTC()
		if res[i].Thumbprint == "" {
			return nil, badOutput(op, "certificate %d on %s has no thumbprint", i, res[i].Server)
		}
	}
	return res, nil
}

// ImportResult is the outcome of importing on one server.
type ImportResult struct {
	Server     string `json:"Server"`
	OK         bool   `json:"Ok"`
	Thumbprint string `json:"Thumbprint"`
	Error      string `json:"Error"`
}

func checkSecret(op, what, s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return &OpError{Op: op, Err: fmt.Errorf("the %s contains a line break, which cannot be passed on stdin", what)}
	}
	return nil
}

func importPFXScript(servers []string, pfx []byte, withPassword bool) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	pw := ""
	if withPassword {
		// the password arrives on stdin, never in the script
		b.WriteString("$pw = ConvertTo-SecureString -String ([Console]::In.ReadLine()) -AsPlainText -Force\n")
		pw = " -Password $pw"
	}
	b.WriteString("$data = [Convert]::FromBase64String(" + Quote(base64.StdEncoding.EncodeToString(pfx)) + ")\n")
	b.WriteString(`$r = foreach ($srv in ` + quoteList(servers) + `) {
    try {
        $c = Import-ExchangeCertificate -Server $srv -FileData $data` + pw + `
        [pscustomobject]@{ Server = $srv; Ok = $true; Thumbprint = [string]$c.Thumbprint; Error = $null }
    } catch {
        [pscustomobject]@{ Server = $srv; Ok = $false; Thumbprint = $null; Error = $_.Exception.Message }
    }
}
`)
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
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
	if err := checkSecret(op, "PFX password", password); err != nil {
		return nil, err
	}
	stdin := ""
	if password != "" {
		stdin = password + "\n"
	}
	if c.p != nil {
		return c.importPFX(ctx, op, servers, pfx, password)
	}
	out, err := c.run(ctx, op, importPFXScript(servers, pfx, password != ""), stdin)
	if err != nil {
		return nil, err
	}
	res, err := decodeList[ImportResult](op, out, append(req("Server", "Ok"), opt("Thumbprint", "Error")...))
	if err != nil {
		return nil, err
	}
	if len(res) != len(servers) {
		return nil, badOutput(op, "%d results for %d servers", len(res), len(servers))
	}
	for i, r := range res {
		if !strings.EqualFold(r.Server, servers[i]) {
			return nil, badOutput(op, "result %d is for %q, expected %q", i, r.Server, servers[i])
		}
		if r.OK && r.Thumbprint == "" {
			return nil, badOutput(op, "import on %s reported no thumbprint", r.Server)
		}
	}
	return res, nil
}

func enableCertificateScript(server, thumbprint string, services []string, force bool) string {
	f := ""
	if force {
		f = " -Force"
	}
	return scriptHeader +
		"Enable-ExchangeCertificate -Server " + Quote(server) + " -Thumbprint " + Quote(thumbprint) + " -Services " + quoteList(services) + f + "\n" +
		"$c = Get-ExchangeCertificate -Server " + Quote(server) + " -Thumbprint " + Quote(thumbprint) + "\n" +
		"$r = [pscustomobject]@{ Thumbprint = [string]$c.Thumbprint; Services = [string]$c.Services }\n" +
		jsonOut("$r", 2)
}

// EnableCertificate binds a certificate to services on a server
// (additive, as Exchange does) and returns the services it now has.
func (c *Client) EnableCertificate(ctx context.Context, server, thumbprint string, services []string, force bool) (string, error) {
	const op = "EnableCertificate"
	if len(services) == 0 {
		return "", &OpError{Op: op, Err: errors.New("no service given")}
	}
	if c.p != nil {
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
	out, err := c.run(ctx, op, enableCertificateScript(server, thumbprint, services, force), "")
	if err != nil {
		return "", err
	}
	type result struct {
		Thumbprint string `json:"Thumbprint"`
		Services   string `json:"Services"`
	}
	r, err := decodeSingle[result](op, out, req("Thumbprint", "Services"))
	if err != nil {
		return "", err
	}
	return r.Services, nil
}

func removeCertificateScript(server, thumbprint string) string {
	return scriptHeader +
		"Remove-ExchangeCertificate -Server " + Quote(server) + " -Thumbprint " + Quote(thumbprint) + " -Confirm:$false\n" +
		"$r = [pscustomobject]@{ Thumbprint = " + Quote(thumbprint) + "; Removed = $true }\n" +
		jsonOut("$r", 2)
}

// RemoveCertificate deletes a certificate from a server.
func (c *Client) RemoveCertificate(ctx context.Context, server, thumbprint string) error {
	const op = "RemoveCertificate"
	if c.p != nil {
		_, err := c.runWrite(ctx, op, removePipeline(server, thumbprint))
		return err
	}
	out, err := c.run(ctx, op, removeCertificateScript(server, thumbprint), "")
	if err != nil {
		return err
	}
	type result struct {
		Removed bool `json:"Removed"`
	}
	r, err := decodeSingle[result](op, out, req("Thumbprint", "Removed"))
	if err != nil {
		return err
	}
	if !r.Removed {
		return badOutput(op, "the server did not confirm the removal")
	}
	return nil
}

func newCertificateRequestScript(server, subject string, domains []string) string {
	return scriptHeader +
		"$req = New-ExchangeCertificate -Server " + Quote(server) + " -GenerateRequest -SubjectName " + Quote(subject) + " -DomainName " + quoteList(domains) + "\n" +
		"$r = [pscustomobject]@{ Request = [string]$req }\n" +
		jsonOut("$r", 2)
}

// NewCertificateRequest makes a server generate a key pair and returns
// the certificate signing request (PEM) for the given subject and SANs.
func (c *Client) NewCertificateRequest(ctx context.Context, server, subject string, domains []string) (string, error) {
	const op = "NewCertificateRequest"
	if len(domains) == 0 {
		return "", &OpError{Op: op, Err: errors.New("no domain name given")}
	}
	if c.p != nil {
		return c.newRequest(ctx, op, newRequestPipeline(server, subject, domains, 0))
	}
	out, err := c.run(ctx, op, newCertificateRequestScript(server, subject, domains), "")
	if err != nil {
		return "", err
	}
	return decodeCSR(op, out)
}

// decodeCSR reads the {Request} object a New-ExchangeCertificate
// -GenerateRequest script writes and returns the request as PEM.
func decodeCSR(op, out string) (string, error) {
	type result struct {
		Request string `json:"Request"`
	}
	r, err := decodeSingle[result](op, out, req("Request"))
	if err != nil {
		return "", err
	}
	csr := strings.TrimSpace(r.Request)
	if csr == "" {
		return "", badOutput(op, "empty certificate request")
	}
	if !strings.Contains(csr, "-----BEGIN") {
		// Exchange may return the bare base64 body
		csr = "-----BEGIN NEW CERTIFICATE REQUEST-----\n" + csr + "\n-----END NEW CERTIFICATE REQUEST-----"
	}
	return csr + "\n", nil
}

func importResponseScript(server string, data []byte) string {
	return scriptHeader +
		"$data = [Convert]::FromBase64String(" + Quote(base64.StdEncoding.EncodeToString(data)) + ")\n" +
		"$c = Import-ExchangeCertificate -Server " + Quote(server) + " -FileData $data\n" +
		"$r = [pscustomobject]@{ Thumbprint = [string]$c.Thumbprint }\n" +
		jsonOut("$r", 2)
}

// ImportCertificateResponse completes a pending request on the server
// that made it with the CA's answer (the certificate file's bytes) and
// returns the thumbprint.
func (c *Client) ImportCertificateResponse(ctx context.Context, server string, data []byte) (string, error) {
	const op = "ImportCertificateResponse"
	if len(data) == 0 {
		return "", &OpError{Op: op, Err: errors.New("empty certificate data")}
	}
	if c.p != nil {
		return c.importResponse(ctx, op, server, data)
	}
	out, err := c.run(ctx, op, importResponseScript(server, data), "")
	if err != nil {
		return "", err
	}
	type result struct {
		Thumbprint string `json:"Thumbprint"`
	}
	r, err := decodeSingle[result](op, out, req("Thumbprint"))
	if err != nil {
		return "", err
	}
	if r.Thumbprint == "" {
		return "", badOutput(op, "no thumbprint")
	}
	return r.Thumbprint, nil
}
