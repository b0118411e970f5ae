package exchange

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// Over the Exchange endpoint an ExchangeCertificate carries its DER
// (RawData); the thumbprint, names, validity, key size and signature
// algorithm are derived from it here. Services, HasPrivateKey, Status and
// FriendlyName are asked for with Select-Object and may come back null:
// Microsoft documents that Get-ExchangeCertificate does not fully support
// remote PowerShell, and bindings are proven on the wire by the checks.

var certProps = []string{"RawData", "Thumbprint", "Subject", "Issuer", "CertificateDomains", "NotBefore", "NotAfter", "PublicKeySize", "IsSelfSigned",
	"FriendlyName", "Services", "HasPrivateKey", "Status"}

func certsPipeline(server string) psrp.Pipeline {
	return pipeline(command("Get-ExchangeCertificate", param("Server", server)), selectProps(certProps...))
}

// sigAlgNames are Windows' friendly names of signature algorithms.
var sigAlgNames = map[x509.SignatureAlgorithm]string{
	x509.SHA1WithRSA: "sha1RSA", x509.SHA256WithRSA: "sha256RSA", x509.SHA384WithRSA: "sha384RSA", x509.SHA512WithRSA: "sha512RSA",
	x509.SHA256WithRSAPSS: "RSASSA-PSS", x509.SHA384WithRSAPSS: "RSASSA-PSS", x509.SHA512WithRSAPSS: "RSASSA-PSS",
	x509.ECDSAWithSHA1: "sha1ECDSA", x509.ECDSAWithSHA256: "sha256ECDSA", x509.ECDSAWithSHA384: "sha384ECDSA", x509.ECDSAWithSHA512: "sha512ECDSA",
}

// dotNetName renders a distinguished name as X509Certificate2.Subject
// does: most specific first, ", " between the parts.
func dotNetName(rdn string) string { return strings.ReplaceAll(rdn, ",", ", ") }

// certFromDER fills a Certificate from its DER.
func certFromDER(server string, der []byte, now time.Time) (Certificate, error) {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return Certificate{}, fmt.Errorf("RawData is not a certificate: %v", err)
	}
	sum := sha1.Sum(der)
	c := Certificate{
		Server: server, Thumbprint: strings.ToUpper(hex.EncodeToString(sum[:])),
		Subject: dotNetName(x.Subject.String()), Issuer: dotNetName(x.Issuer.String()),
		NotBefore: x.NotBefore.UTC(), NotAfter: x.NotAfter.UTC(),
		SignatureAlgorithm: sigAlgNames[x.SignatureAlgorithm],
	}
	if c.SignatureAlgorithm == "" {
		c.SignatureAlgorithm = x.SignatureAlgorithm.String()
	}
	c.CertificateDomains = append([]string{}, x.DNSNames...)
	if len(c.CertificateDomains) == 0 && x.Subject.CommonName != "" {
		c.CertificateDomains = []string{x.Subject.CommonName}
	}
	switch k := x.PublicKey.(type) {
	case *rsa.PublicKey:
		c.PublicKeySize = k.N.BitLen()
	case *ecdsa.PublicKey:
		c.PublicKeySize = k.Curve.Params().BitSize
	}
	c.IsSelfSigned = string(x.RawIssuer) == string(x.RawSubject) && x.CheckSignature(x.SignatureAlgorithm, x.RawTBSCertificate, x.Signature) == nil
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		c.Status = "Invalid"
	} else {
		c.Status = "Valid"
	}
	return c, nil
}

// decodeCertRows decodes Get-ExchangeCertificate output of one server.
func decodeCertRows(op, server string, out []psrp.Value) ([]Certificate, error) {
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	res := make([]Certificate, 0, len(rs))
	for _, r := range rs {
		der := r.bytes("RawData")
		tp, subject, domains := r.str("Thumbprint"), r.str("Subject"), r.list("CertificateDomains")
		fn, svc, st := r.str("FriendlyName"), r.str("Services"), r.str("Status")
		pk, _ := r.optBool("HasPrivateKey")
		if r.err != nil {
			return nil, r.err
		}
		var c Certificate
		if len(der) == 0 {
			// No DER (a pending request has no certificate yet): what
			// Exchange reports is all there is.
			if tp == "" {
				return nil, badOutput(op, "certificate %d on %s has neither RawData nor a thumbprint", r.i, server)
			}
			c = Certificate{Server: server, Thumbprint: strings.ToUpper(tp), Subject: subject, CertificateDomains: domains, Status: "PendingRequest",
				Issuer: r.str("Issuer"), NotBefore: r.time("NotBefore"), NotAfter: r.time("NotAfter"), PublicKeySize: int(r.integer("PublicKeySize")), IsSelfSigned: r.boolean("IsSelfSigned")}
			if r.err != nil {
				return nil, r.err
			}
		} else {
			var err error
			if c, err = certFromDER(server, der, time.Now()); err != nil {
				return nil, badOutput(op, "certificate %d on %s: %v", r.i, server, err)
			}
		}
		c.FriendlyName, c.Services, c.HasPrivateKey = fn, svc, pk
		if st != "" {
			c.Status = st
		}
		res = append(res, c)
	}
	return res, nil
}

func (c *Client) getCertificates(ctx context.Context, op string, servers []string) ([]Certificate, error) {
	var res []Certificate
	for _, s := range servers {
		out, err := c.readPipeline(ctx, op, certsPipeline(s), nil)
		if err != nil {
			return nil, err
		}
		cs, err := decodeCertRows(op, s, out)
		if err != nil {
			return nil, err
		}
		res = append(res, cs...)
	}
	return res, nil
}

// getCert reads one certificate of a server; nil when absent.
func (c *Client) getCert(ctx context.Context, op, server, thumbprint string) (*Certificate, error) {
	cs, err := c.getCertificates(ctx, op, []string{server})
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if strings.EqualFold(cs[i].Thumbprint, thumbprint) {
			return &cs[i], nil
		}
	}
	return nil, nil
}

func (c *Client) getCertCapture(ctx context.Context, op string, servers []string, resolve, popImap bool) (CertCapture, error) {
	var st CertCapture
	sv, names, err := c.scope(ctx, servers, resolve)
	if err != nil {
		return st, err
	}
	st.Servers = sv
	if st.Certificates, err = c.getCertificates(ctx, op, names); err != nil {
		return st, err
	}
	if popImap {
		if st.PopImap, err = c.getPopImapSettings(ctx, op, names); err != nil {
			return st, err
		}
	}
	return st, nil
}

// importPFXPipeline imports PFX bytes (-FileData, a byte array) with a
// SecureString password, encrypted with the session key on the wire.
func importPFXPipeline(server string, pfx []byte, password string) psrp.Pipeline {
	params := []psrp.Parameter{param("Server", server), param("FileData", pfx)}
	if password != "" {
		params = append(params, param("Password", psrp.NewSecureString(password)))
	}
	return pipeline(command("Import-ExchangeCertificate", params...), selectProps("RawData"))
}

// importedThumbprint reads the thumbprint of what an import returned.
func importedThumbprint(op string, out []psrp.Value) (string, error) {
	rs, err := rows(op, out)
	if err != nil {
		return "", err
	}
	if len(rs) == 0 {
		return "", badOutput(op, "Import-ExchangeCertificate returned no certificate")
	}
	der := rs[0].bytes("RawData")
	if rs[0].err != nil {
		return "", rs[0].err
	}
	sum := sha1.Sum(der)
	if _, err := x509.ParseCertificate(der); err != nil {
		return "", badOutput(op, "Import-ExchangeCertificate returned no certificate: %v", err)
	}
	return strings.ToUpper(hex.EncodeToString(sum[:])), nil
}

func (c *Client) importPFX(ctx context.Context, op string, servers []string, pfx []byte, password string) ([]ImportResult, error) {
	res := make([]ImportResult, 0, len(servers))
	for _, s := range servers {
		pl := importPFXPipeline(s, pfx, password)
		r, err := c.runPipeline(ctx, op, pl, nil)
		if err != nil {
			return nil, err
		}
		if len(r.Errors) > 0 {
			res = append(res, ImportResult{Server: s, Error: r.Errors[0].Message})
			continue
		}
		t, err := importedThumbprint(op, r.Output)
		if err != nil {
			return nil, err
		}
		res = append(res, ImportResult{Server: s, OK: true, Thumbprint: t})
	}
	return res, nil
}

func (c *Client) importPFXWhereMissing(ctx context.Context, op string, servers []string, thumbprint string, pfx []byte, password string) ([]CertImportResult, error) {
	res := make([]CertImportResult, 0, len(servers))
	for _, s := range servers {
		have, err := c.getCert(ctx, op, s, thumbprint)
		if err != nil {
			return nil, err
		}
		if have != nil {
			res = append(res, CertImportResult{Server: s, OK: true, Thumbprint: thumbprint})
			continue
		}
		r, err := c.runPipeline(ctx, op, importPFXPipeline(s, pfx, password), nil)
		if err != nil {
			return nil, err
		}
		if len(r.Errors) > 0 {
			res = append(res, CertImportResult{Server: s, Error: r.Errors[0].Message})
			continue
		}
		t, err := importedThumbprint(op, r.Output)
		if err != nil {
			return nil, err
		}
		res = append(res, CertImportResult{Server: s, Changed: true, OK: true, Thumbprint: t})
	}
	return checkResults(op, "servers", res, servers)
}

// enablePipeline binds services; -DoNotRequireSsl keeps IIS's SSL
// settings as they are (binding changes only the certificate) and -Force
// answers the SMTP replacement prompt the endpoint cannot show.
func enablePipeline(server, thumbprint string, services []string) psrp.Pipeline {
	return pipeline(command("Enable-ExchangeCertificate", param("Server", server), param("Thumbprint", thumbprint),
		param("Services", psrp.NewList(strValues(services)...)), param("DoNotRequireSsl", true), param("Force", true)))
}

// enableServices runs Enable-ExchangeCertificate and returns the services
// the certificate now holds: as Exchange reports them when it does, else
// the union of what it reported before and what was just enabled.
func (c *Client) enableServices(ctx context.Context, op, server, thumbprint string, services []string, before string) (string, error) {
	if _, err := c.runWrite(ctx, op, enablePipeline(server, thumbprint, services)); err != nil {
		return "", err
	}
	after, err := c.getCert(ctx, op, server, thumbprint)
	if err != nil {
		return "", err
	}
	if after == nil {
		return "", &OpError{Op: op, Err: fmt.Errorf("certificate %s is not on %s after Enable-ExchangeCertificate", thumbprint, server)}
	}
	if after.Services != "" {
		return after.Services, nil
	}
	return joinServices(before, services), nil
}

func joinServices(have string, add []string) string {
	var out []string
	seen := map[string]bool{}
	for _, s := range append(Certificate{Services: have}.ServiceList(), add...) {
		if !seen[strings.ToLower(s)] {
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "None"
	}
	return strings.Join(out, ", ")
}

func (c *Client) enableCertificatesWhereMissing(ctx context.Context, op string, binds []CertBinding, names []PopImapChange, mode URLCompare) ([]BindResult, error) {
	var res []BindResult
	for _, b := range binds {
		id := BindID(b.Server, b.Thumbprint)
		cur, err := c.getCert(ctx, op, b.Server, b.Thumbprint)
		if err != nil {
			return nil, err
		}
		if cur == nil {
			res = append(res, BindResult{ID: id, Error: fmt.Sprintf("certificate %s is not on %s", b.Thumbprint, b.Server)})
			continue
		}
		missing := cur.Services == "" // unknown over this endpoint: enable
		held := map[string]bool{}
		for _, s := range cur.ServiceList() {
			held[strings.ToLower(s)] = true
		}
		for _, s := range b.Services {
			if !held[strings.ToLower(s)] {
				missing = true
			}
		}
		if !missing {
			res = append(res, BindResult{ID: id, OK: true, Services: cur.Services})
			continue
		}
		svc, err := c.enableServices(ctx, op, b.Server, b.Thumbprint, b.Services, cur.Services)
		if err != nil {
			var oe *OpError
			if asOpError(err, &oe) {
				res = append(res, BindResult{ID: id, Error: oe.Err.Error()})
				continue
			}
			return nil, err
		}
		res = append(res, BindResult{ID: id, OK: true, Changed: true, Services: svc})
	}
	for _, n := range names {
		id := PopImapID(n.Server, n.Protocol)
		r, err := c.single(ctx, op, popImapPipeline(n.Protocol, n.Server))
		if err != nil {
			return nil, err
		}
		cur := r.optStr("X509CertificateName")
		if r.err != nil {
			return nil, r.err
		}
		if !urlDiffers(cur, n.Name, mode) {
			res = append(res, BindResult{ID: id, OK: true})
			continue
		}
		w, err := c.itemWrite(ctx, op, id, setPopImapPipeline(n))
		if err != nil {
			return nil, err
		}
		res = append(res, BindResult{ID: id, OK: w.OK, Changed: w.OK, Error: w.Error})
	}
	return res, nil
}

func removePipeline(server, thumbprint string) psrp.Pipeline {
	return pipeline(command("Remove-ExchangeCertificate", param("Server", server), param("Thumbprint", thumbprint), param("Confirm", false)))
}

// removeCertificatesWhereUnbound reads every item first; when a read
// fails, or a present certificate holds IIS or SMTP, or its services are
// not reported (so it may hold them), nothing is removed.
func (c *Client) removeCertificatesWhereUnbound(ctx context.Context, op string, items []CertRemoval) ([]CertRemoveResult, error) {
	res := make([]CertRemoveResult, len(items))
	block := false
	for i, it := range items {
		res[i] = CertRemoveResult{Server: it.Server, Thumbprint: it.Thumbprint}
		cur, err := c.getCert(ctx, op, it.Server, it.Thumbprint)
		if err != nil {
			var oe *OpError
			if !asOpError(err, &oe) {
				return nil, err
			}
			block = true
			res[i].Error = oe.Err.Error()
			continue
		}
		res[i].OK = true
		if cur == nil {
			continue
		}
		res[i].Present, res[i].Services = true, cur.Services
		if cur.Services == "" || res[i].Bound() {
			block = true
		}
	}
	if !block {
		for i := range res {
			if !res[i].Present {
				continue
			}
			w, err := c.itemWrite(ctx, op, res[i].Server, removePipeline(res[i].Server, res[i].Thumbprint))
			if err != nil {
				return nil, err
			}
			res[i].OK, res[i].Removed, res[i].Error = w.OK, w.OK, w.Error
		}
	}
	want := make([]string, len(items))
	for n, it := range items {
		want[n] = it.Server + "/" + it.Thumbprint
	}
	return checkResults(op, "items", res, want)
}

func newRequestPipeline(server, subject string, domains []string, keySize int) psrp.Pipeline {
	params := []psrp.Parameter{param("Server", server), param("GenerateRequest", true), param("SubjectName", subject),
		param("DomainName", psrp.NewList(strValues(domains)...))}
	if keySize > 0 {
		params = append(params, param("KeySize", int32(keySize)), boolParam("PrivateKeyExportable", true))
	}
	return pipeline(command("New-ExchangeCertificate", params...))
}

// newRequest returns the CSR New-ExchangeCertificate -GenerateRequest
// wrote (a string: base64, or PEM).
func (c *Client) newRequest(ctx context.Context, op string, pl psrp.Pipeline) (string, error) {
	out, err := c.readPipeline(ctx, op, pl, nil)
	if err != nil {
		return "", err
	}
	if len(out) != 1 {
		return "", badOutput(op, "New-ExchangeCertificate returned %d objects, expected the request", len(out))
	}
	s, ok := asString(out[0])
	if !ok {
		return "", badOutput(op, "New-ExchangeCertificate returned %T, expected the request text", out[0])
	}
	csr := strings.TrimSpace(s)
	if csr == "" {
		return "", badOutput(op, "empty certificate request")
	}
	if !strings.Contains(csr, "-----BEGIN") {
		csr = "-----BEGIN NEW CERTIFICATE REQUEST-----\n" + csr + "\n-----END NEW CERTIFICATE REQUEST-----"
	}
	if b, _ := pem.Decode([]byte(csr + "\n")); b == nil {
		return "", badOutput(op, "the certificate request is not PEM")
	}
	return csr + "\n", nil
}

func (c *Client) importResponse(ctx context.Context, op, server string, data []byte) (string, error) {
	pl := pipeline(command("Import-ExchangeCertificate", param("Server", server), param("FileData", data)), selectProps("RawData"))
	out, err := c.readPipeline(ctx, op, pl, nil)
	if err != nil {
		return "", err
	}
	return importedThumbprint(op, out)
}

func exportPipeline(server, thumbprint, password string) psrp.Pipeline {
	return pipeline(command("Export-ExchangeCertificate", param("Server", server), param("Thumbprint", thumbprint),
		param("BinaryEncoded", true), param("Password", psrp.NewSecureString(password))), selectProps("FileData"))
}

func (c *Client) exportCertificate(ctx context.Context, op, server, thumbprint, password string) ([]byte, error) {
	r, err := c.single(ctx, op, exportPipeline(server, thumbprint, password))
	if err != nil {
		return nil, err
	}
	b := r.bytes("FileData")
	if r.err != nil {
		return nil, r.err
	}
	if len(b) == 0 {
		return nil, badOutput(op, "Export-ExchangeCertificate returned no data")
	}
	return b, nil
}
