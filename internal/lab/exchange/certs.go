package exchange

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"software.sslmate.com/src/go-pkcs12"
)

const certType = "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"

func (x *ex) certObject(o *org.Org, c *org.Certificate) *pwsh.Object {
	const cmdlet = "Get-ExchangeCertificate"
	fqdn := strings.ToLower(c.Server)
	if s, err := o.FindServer(c.Server); err == nil {
		fqdn = s.Fqdn
	}
	iis := []string{}
	if c.Services&org.ServiceIIS != 0 {
		iis = append(iis, "IIS://"+fqdn+"/W3SVC/1")
	}
	rootCA := "ThirdParty"
	if c.IsSelfSigned {
		rootCA = "None"
	}
	sig := pwsh.NewObject("System.Security.Cryptography.Oid", "FriendlyName", c.SignatureAlgorithm, "Value", sigOID(c.SignatureAlgorithm))
	var request pwsh.Value
	if c.Status == org.CertPendingRequest {
		request = requestText(c.RequestPEM)
	}
	return newObject(cmdlet, certType,
		"Thumbprint", c.Thumbprint, "Services", servicesV(c.Services), "Subject", c.Subject,
		"CertificateDomains", arrV(c.CertificateDomains), "HasPrivateKey", c.HasPrivateKey, "IsSelfSigned", c.IsSelfSigned,
		"Issuer", c.Issuer, "NotAfter", c.NotAfter, "NotBefore", c.NotBefore, "PublicKeySize", int64(c.KeySize),
		"RootCAType", rootCA, "SerialNumber", c.SerialNumber, "Status", c.Status,
		"CertificateRequest", request, "DnsNameList", arrV(c.CertificateDomains), "FriendlyName", c.FriendlyName,
		"Identity", fqdn+`\`+c.Thumbprint, "IISServices", arrV(iis), "IssuerName", c.Issuer,
		"PrivateKeyExportable", c.PrivateKeyExportable, "SignatureAlgorithm", sig, "SubjectName", c.Subject, "Version", int64(3),
		"RawData", rawData(c))
}

// rawData is the certificate's DER (X509Certificate2.RawData), the one
// property Exchange's remote endpoint sends; nil for a pending request,
// which has no certificate yet.
func rawData(c *org.Certificate) pwsh.Value {
	blk, _ := pem.Decode([]byte(c.CertPEM))
	if blk == nil {
		return nil
	}
	return blk.Bytes
}

func sigOID(name string) string {
	switch strings.ToLower(name) {
	case "sha1rsa":
		return "1.2.840.113549.1.1.5"
	case "sha256rsa":
		return "1.2.840.113549.1.1.11"
	case "sha384rsa":
		return "1.2.840.113549.1.1.12"
	case "sha512rsa":
		return "1.2.840.113549.1.1.13"
	}
	return ""
}

// requestText is a pending request as Exchange prints it: base64 in
// "NEW CERTIFICATE REQUEST" armour with CRLF line ends.
func requestText(pemText string) string {
	blk, _ := pem.Decode([]byte(pemText))
	if blk == nil {
		return pemText
	}
	b64 := base64.StdEncoding.EncodeToString(blk.Bytes)
	var sb strings.Builder
	sb.WriteString("-----BEGIN NEW CERTIFICATE REQUEST-----\r\n")
	for len(b64) > 64 {
		sb.WriteString(b64[:64] + "\r\n")
		b64 = b64[64:]
	}
	sb.WriteString(b64 + "\r\n-----END NEW CERTIFICATE REQUEST-----")
	return sb.String()
}

// certTarget resolves -Thumbprint / -Identity ("SERVER\THUMB", "FQDN\THUMB"
// or a thumbprint, or a certificate object) and -Server to a server name
// and a thumbprint.
func (x *ex) certTarget(c *pwsh.Call, o *org.Org) (server, thumb string, err error) {
	server, err = x.serverParam(c, o)
	if err != nil {
		return "", "", err
	}
	raw := ""
	if v, ok := c.Param("Thumbprint"); ok && v != nil {
		raw = identityText(v, "Thumbprint")
	} else if v, ok := c.Param("Identity"); ok && v != nil {
		raw = identityText(v, "Identity", "Thumbprint")
	}
	if s, t, ok := strings.Cut(raw, `\`); ok {
		srv, err := o.FindServer(s)
		if err != nil {
			return "", "", err
		}
		server, raw = srv.Name, t
	}
	return server, strings.ToUpper(strings.TrimSpace(raw)), nil
}

// targetCertificate is the certificate -Thumbprint / -Identity names, on
// its server. thumb is the thumbprint asked for also when no such
// certificate exists, for the error's target.
func (x *ex) targetCertificate(c *pwsh.Call, o *org.Org) (server, thumb string, cert *org.Certificate, err error) {
	server, thumb, err = x.certTarget(c, o)
	if err != nil {
		return "", "", nil, err
	}
	cert, err = o.FindCertificate(server, thumb)
	return server, thumb, cert, err
}

func (x *ex) getExchangeCertificate(c *pwsh.Call) error {
	var objs []*pwsh.Object
	var ferr error
	x.st.Read(func(o *org.Org) {
		server, thumb, err := x.certTarget(c, o)
		if err != nil {
			ferr = err
			return
		}
		domains := stringsOf(func() pwsh.Value { v, _ := c.Param("DomainName"); return v }())
		found := false
		for _, cert := range o.ServerCertificates(server) {
			if thumb != "" && !strings.EqualFold(cert.Thumbprint, thumb) {
				continue
			}
			if len(domains) > 0 && !coversAll(cert.CertificateDomains, domains) {
				continue
			}
			found = true
			objs = append(objs, x.certObject(o, cert))
		}
		if thumb != "" && !found {
			ferr = &org.NotFoundError{Identity: thumb, DomainController: o.DomainController}
		}
	})
	for _, ob := range objs {
		if err := c.WriteObject(ob); err != nil {
			return err
		}
	}
	if ferr != nil {
		return writeErr(c, ferr, nil)
	}
	return nil
}

// coversAll reports whether the certificate names (with wildcards) cover
// every host.
func coversAll(names, hosts []string) bool {
	for _, h := range hosts {
		if !covers(names, h) {
			return false
		}
	}
	return true
}

func covers(names []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, n := range names {
		n = strings.ToLower(n)
		if n == host {
			return true
		}
		if strings.HasPrefix(n, "*.") {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i:] == n[1:] {
				return true
			}
		}
	}
	return false
}

func (x *ex) enableExchangeCertificate(c *pwsh.Call) error {
	sv, _ := c.Param("Services")
	var services org.Services
	if f, ok := sv.(*pwsh.Flags); ok {
		services = org.Services(f.Value)
	} else {
		s, ok := org.ParseServices(pwsh.ToString(sv))
		if !ok {
			return writeErr(c, &pwsh.Error{Message: fmt.Sprintf("Cannot convert value \"%s\" to type \"Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices\".", pwsh.ToString(sv)),
				ExceptionType: "System.Management.Automation.ParameterBindingException", Category: pwsh.CatInvalidArgument, ErrorID: "CannotConvertArgumentNoMessage"}, sv)
		}
		services = s
	}
	var warnings []string
	var target string
	if c.Bool("WhatIf") {
		return nil
	}
	err := x.st.UpdateRest(func(o *org.Org) error {
		server, thumb, cert, err := x.targetCertificate(c, o)
		target = thumb
		if err != nil {
			return err
		}
		if cert.Status != org.CertValid {
			return taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateStatusException", pwsh.CatInvalidOperation, thumb,
				"The certificate with thumbprint %s is a pending certificate request. Complete the request with Import-ExchangeCertificate before you enable it.", thumb)
		}
		if !cert.HasPrivateKey {
			return taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateNoPrivateKeyException", pwsh.CatInvalidOperation, thumb,
				"The certificate with thumbprint %s doesn't have a private key, so it can't be enabled for services.", thumb)
		}
		if services&org.ServiceSMTP != 0 && !c.Bool("Force") {
			for _, other := range o.ServerCertificates(server) {
				if other != cert && other.Services&org.ServiceSMTP != 0 {
					// Exchange asks before it replaces the default SMTP
					// certificate; a session that cannot prompt fails.
					return promptFails(c, smtpPrompt(other, cert), thumb)
				}
			}
		}
		for _, proto := range []org.Services{org.ServicePOP, org.ServiceIMAP} {
			if services&proto != 0 && strings.HasPrefix(strings.TrimPrefix(cert.Subject, "CN="), "*") {
				name := map[org.Services]string{org.ServicePOP: "POP", org.ServiceIMAP: "IMAP"}[proto]
				warnings = append(warnings, fmt.Sprintf("This certificate with thumbprint %s and subject '%s' cannot used for %s SSL/TLS connections because the subject is not a Fully Qualified Domain Name (FQDN). Use command Set-%sSettings to set X509CertificateName to the FQDN of the service.",
					cert.Thumbprint, strings.TrimPrefix(cert.Subject, "CN="), name, map[string]string{"POP": "Pop", "IMAP": "Imap"}[name]))
			}
		}
		// IIS and the default SMTP certificate are single bindings: the
		// previous holder loses them.
		for _, exclusive := range []org.Services{org.ServiceIIS, org.ServiceSMTP} {
			if services&exclusive == 0 {
				continue
			}
			for _, other := range o.ServerCertificates(server) {
				if other != cert {
					other.Services &^= exclusive
				}
			}
		}
		cert.Services |= services
		return nil
	})
	if err != nil {
		return writeErr(c, err, target)
	}
	for _, w := range warnings {
		if err := c.WriteWarning(w); err != nil {
			return err
		}
	}
	return nil
}

// smtpPrompt is Exchange's question before it replaces the default SMTP
// certificate old with cert.
func smtpPrompt(old, cert *org.Certificate) string {
	return fmt.Sprintf("Overwrite the existing default SMTP certificate?\r\n\r\nCurrent certificate: '%s' (expires %s)\r\nReplace it with certificate: '%s' (expires %s)",
		old.Thumbprint, certDate(old.NotAfter), cert.Thumbprint, certDate(cert.NotAfter))
}

func (x *ex) removeExchangeCertificate(c *pwsh.Call) error {
	var target string
	if !c.IsBound("Confirm") || c.Bool("Confirm") {
		// Remove-ExchangeCertificate confirms by default.
		idv, _ := c.Param("Identity")
		id := identityText(idv)
		if id == "" {
			id = c.String("Thumbprint")
		}
		return writeErr(c, promptFails(c, "Are you sure you want to perform this action?\nRemove certificate \""+id+"\".", nil), nil)
	}
	if c.Bool("WhatIf") {
		return nil
	}
	err := x.st.UpdateRest(func(o *org.Org) error {
		_, thumb, cert, err := x.targetCertificate(c, o)
		target = thumb
		if err != nil {
			return err
		}
		if used := cert.Services & (org.ServiceIIS | org.ServiceSMTP); used != 0 {
			return taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.CertificateInUseException", pwsh.CatInvalidOperation, thumb,
				"The certificate with thumbprint %s is being used for %s and can't be removed. Enable another certificate for %s first.", thumb, used, used)
		}
		out := o.Certificates[:0]
		for _, x := range o.Certificates {
			if x != cert {
				out = append(out, x)
			}
		}
		for i := len(out); i < len(o.Certificates); i++ {
			o.Certificates[i] = nil
		}
		o.Certificates = out
		return nil
	})
	if err != nil {
		return writeErr(c, err, target)
	}
	return nil
}

var errWrongPFXPassword = errors.New("The PFX file you're trying to import requires either a different password or membership in an Active Directory group to which the current user doesn't belong.")

func (x *ex) importExchangeCertificate(c *pwsh.Call) error {
	fv, ok := c.Param("FileData")
	data, _ := fv.([]byte)
	if !ok || len(data) == 0 {
		return writeErr(c, taskError("Microsoft.Exchange.Configuration.Tasks.TaskArgumentException", pwsh.CatInvalidArgument, nil,
			"The certificate data is empty. Pass the file's bytes with -FileData."), nil)
	}
	password := ""
	if pv, ok := c.Param("Password"); ok && pv != nil {
		if ss, ok := pv.(*pwsh.SecureString); ok {
			password = ss.Plain()
		}
	}
	exportable := c.Bool("PrivateKeyExportable")
	friendly := c.String("FriendlyName")
	if c.Bool("WhatIf") {
		return nil
	}
	var out *pwsh.Object
	err := x.st.UpdateRest(func(o *org.Org) error {
		server, err := x.serverParam(c, o)
		if err != nil {
			return err
		}
		certs := parseCertificates(data)
		if len(certs) > 0 {
			// A CA's answer: it completes the pending request whose key it certifies.
			return x.completeRequest(o, server, certs[0], friendly, &out)
		}
		key, leaf, _, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			if errors.Is(err, pkcs12.ErrIncorrectPassword) || strings.Contains(err.Error(), "password") {
				return taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.ImportCertificateException", pwsh.CatWriteError, nil, "%s", errWrongPFXPassword.Error())
			}
			// What Windows' certificate store says of data that is neither
			// a PFX nor a certificate.
			return taskError("System.Security.Cryptography.CryptographicException", pwsh.CatInvalidData, nil, "ASN1 bad tag value met.")
		}
		keyPEM, err := marshalKey(key)
		if err != nil {
			return err
		}
		cert := certFromX509(leaf, server)
		cert.KeyPEM, cert.HasPrivateKey, cert.PrivateKeyExportable = keyPEM, true, exportable
		if friendly != "" {
			cert.FriendlyName = friendly
		}
		if _, err := o.FindCertificate(server, cert.Thumbprint); err == nil {
			return taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.ImportCertificateException", pwsh.CatResourceExists, cert.Thumbprint,
				"Cannot import certificate. A certificate with the thumbprint %s already exists.", cert.Thumbprint)
		}
		o.Certificates = append(o.Certificates, cert)
		out = x.certObject(o, cert)
		return nil
	})
	if err != nil {
		return writeErr(c, err, nil)
	}
	return c.WriteObject(out)
}

func (x *ex) completeRequest(o *org.Org, server string, leaf *x509.Certificate, friendly string, out **pwsh.Object) error {
	for _, p := range o.ServerCertificates(server) {
		if p.Status != org.CertPendingRequest {
			continue
		}
		key, err := parseKey(p.KeyPEM)
		if err != nil {
			continue
		}
		pub, ok := leaf.PublicKey.(*rsa.PublicKey)
		if !ok || !pub.Equal(key.Public()) {
			continue
		}
		thumb := thumbprint(leaf.Raw)
		if _, err := o.FindCertificate(server, thumb); err == nil {
			return taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.ImportCertificateException", pwsh.CatResourceExists, thumb,
				"Cannot import certificate. A certificate with the thumbprint %s already exists.", thumb)
		}
		done := certFromX509(leaf, server)
		done.KeyPEM, done.HasPrivateKey, done.PrivateKeyExportable = p.KeyPEM, true, p.PrivateKeyExportable
		done.FriendlyName = p.FriendlyName
		if friendly != "" {
			done.FriendlyName = friendly
		}
		*p = *done
		*out = x.certObject(o, p)
		return nil
	}
	return taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.ImportCertificateException", pwsh.CatInvalidData, nil,
		"The certificate you're importing doesn't have a private key and doesn't match a pending certificate request on server %s.", server)
}

// parseCertificates reads PEM certificates, or one DER certificate; a PFX
// gives none.
func parseCertificates(data []byte) []*x509.Certificate {
	var out []*x509.Certificate
	rest := data
	if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), "")); err == nil && !bytes.Contains(data, []byte("-----")) {
		if c, err := x509.ParseCertificate(b); err == nil {
			return []*x509.Certificate{c}
		}
	}
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
				out = append(out, c)
			}
		}
	}
	if len(out) == 0 {
		if c, err := x509.ParseCertificate(data); err == nil {
			out = append(out, c)
		}
	}
	return out
}

func thumbprint(der []byte) string {
	s := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

func sigName(a x509.SignatureAlgorithm) string {
	switch a {
	case x509.SHA1WithRSA:
		return "sha1RSA"
	case x509.SHA256WithRSA:
		return "sha256RSA"
	case x509.SHA384WithRSA:
		return "sha384RSA"
	case x509.SHA512WithRSA:
		return "sha512RSA"
	}
	return a.String()
}

// x500 renders a pkix.Name as Windows does: most specific first, ", ".
func x500(n pkix.Name) string {
	s := n.String() // RFC 2253 order: CN first
	return strings.ReplaceAll(s, ",", ", ")
}

func certFromX509(leaf *x509.Certificate, server string) *org.Certificate {
	keySize := 0
	if pk, ok := leaf.PublicKey.(*rsa.PublicKey); ok {
		keySize = pk.N.BitLen()
	}
	domains := append([]string(nil), leaf.DNSNames...)
	if len(domains) == 0 && leaf.Subject.CommonName != "" {
		domains = []string{leaf.Subject.CommonName}
	}
	return &org.Certificate{
		Server: server, Thumbprint: thumbprint(leaf.Raw), Subject: x500(leaf.Subject), Issuer: x500(leaf.Issuer),
		SerialNumber: strings.ToUpper(leaf.SerialNumber.Text(16)), CertificateDomains: domains,
		NotBefore: leaf.NotBefore.UTC(), NotAfter: leaf.NotAfter.UTC(), KeySize: keySize,
		SignatureAlgorithm: sigName(leaf.SignatureAlgorithm), Status: org.CertValid,
		IsSelfSigned: bytes.Equal(leaf.RawIssuer, leaf.RawSubject),
		CertPEM:      string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw})),
	}
}

func marshalKey(key any) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// parseKey reads an RSA key in PKCS#8 or PKCS#1 PEM.
func parseKey(p string) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode([]byte(p))
	if blk == nil {
		return nil, errors.New("no private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, not RSA", k)
	}
	return rk, nil
}

func (x *ex) exportExchangeCertificate(c *pwsh.Call) error {
	password := ""
	if pv, ok := c.Param("Password"); ok && pv != nil {
		if ss, ok := pv.(*pwsh.SecureString); ok {
			password = ss.Plain()
		}
	}
	var result pwsh.Value
	var target string
	var ferr error
	x.st.Read(func(o *org.Org) {
		_, thumb, cert, err := x.targetCertificate(c, o)
		target = thumb
		if err != nil {
			ferr = err
			return
		}
		if cert.Status == org.CertPendingRequest {
			result = requestText(cert.RequestPEM)
			return
		}
		if !cert.PrivateKeyExportable {
			ferr = taskError("Microsoft.Exchange.Management.SystemConfigurationTasks.ExportCertificateException", pwsh.CatInvalidOperation, thumb,
				"The private key for certificate %s isn't exportable. Only certificates with PrivateKeyExportable set to True can be exported.", thumb)
			return
		}
		key, err := parseKey(cert.KeyPEM)
		if err != nil {
			ferr = err
			return
		}
		blk, _ := pem.Decode([]byte(cert.CertPEM))
		if blk == nil {
			ferr = fmt.Errorf("the certificate %s has no certificate data", thumb)
			return
		}
		leaf, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			ferr = err
			return
		}
		pfx, err := pkcs12.Modern.WithRand(x.opts.Rand).Encode(key, leaf, nil, password)
		if err != nil {
			ferr = err
			return
		}
		if c.Bool("BinaryEncoded") {
			result = pwsh.NewObject("Microsoft.Exchange.Management.SystemConfigurationTasks.BinaryFileDataObject", "FileData", pfx)
		} else {
			result = base64.StdEncoding.EncodeToString(pfx)
		}
	})
	if ferr != nil {
		return writeErr(c, ferr, target)
	}
	return c.WriteObject(result)
}

func (x *ex) newExchangeCertificate(c *pwsh.Call) error {
	request := c.Bool("GenerateRequest")
	if request && c.IsBound("Services") {
		return writeErr(c, taskError("Microsoft.Exchange.Configuration.Tasks.TaskArgumentException", pwsh.CatInvalidArgument, nil,
			"The Services parameter can't be used with the GenerateRequest switch."), nil)
	}
	keySize := 2048
	if v, ok := c.Param("KeySize"); ok {
		if n, ok := v.(int64); ok {
			keySize = int(n)
		}
	}
	if keySize < 1024 || keySize > 16384 {
		return writeErr(c, taskError("Microsoft.Exchange.Configuration.Tasks.TaskArgumentException", pwsh.CatInvalidArgument, nil,
			"The key size %d isn't valid. Valid values are from 1024 through 16384.", keySize), nil)
	}
	if c.Bool("WhatIf") {
		return nil
	}
	var result pwsh.Value
	err := x.st.UpdateRest(func(o *org.Org) error {
		server, err := x.serverParam(c, o)
		if err != nil {
			return err
		}
		srv, _ := o.FindServer(server)
		domains := stringsOf(func() pwsh.Value { v, _ := c.Param("DomainName"); return v }())
		if c.Bool("IncludeServerFQDN") && srv != nil {
			domains = append(domains, srv.Fqdn)
		}
		if c.Bool("IncludeServerNetBIOSName") {
			domains = append(domains, server)
		}
		if c.Bool("IncludeAutoDiscover") {
			domains = append(domains, "autodiscover."+o.Domain)
		}
		if c.Bool("IncludeAcceptedDomains") {
			domains = append(domains, o.Domain)
		}
		if len(domains) == 0 && srv != nil {
			domains = []string{server, srv.Fqdn}
		}
		subjectText := c.String("SubjectName")
		if subjectText == "" {
			subjectText = "CN=" + server
		}
		subject, err := parseX500(subjectText)
		if err != nil {
			return taskError("Microsoft.Exchange.Configuration.Tasks.TaskArgumentException", pwsh.CatInvalidArgument, subjectText, "%s", err.Error())
		}
		friendly := c.String("FriendlyName")
		if friendly == "" {
			friendly = "Microsoft Exchange"
		}
		key, err := rsa.GenerateKey(x.opts.Rand, keySize)
		if err != nil {
			return err
		}
		keyPEM, err := marshalKey(key)
		if err != nil {
			return err
		}
		if request {
			der, err := x509.CreateCertificateRequest(x.opts.Rand, &x509.CertificateRequest{Subject: subject, DNSNames: domains, SignatureAlgorithm: x509.SHA256WithRSA}, key)
			if err != nil {
				return err
			}
			reqPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
			o.Certificates = append(o.Certificates, &org.Certificate{
				Server: server, Thumbprint: thumbprint(der), Subject: x500(subject), Issuer: x500(subject),
				FriendlyName: friendly, CertificateDomains: domains, HasPrivateKey: true,
				PrivateKeyExportable: c.Bool("PrivateKeyExportable"), KeySize: keySize, SignatureAlgorithm: "sha256RSA",
				Status: org.CertPendingRequest, RequestPEM: reqPEM, KeyPEM: keyPEM,
			})
			if c.Bool("BinaryEncoded") {
				result = der
			} else {
				result = requestText(reqPEM)
			}
			return nil
		}
		services := org.ServiceIMAP | org.ServicePOP | org.ServiceSMTP
		if sv, ok := c.Param("Services"); ok {
			if f, ok := sv.(*pwsh.Flags); ok {
				services = org.Services(f.Value)
			}
		}
		now := x.now()
		serialBytes := make([]byte, 16)
		if _, err := x.opts.Rand.Read(serialBytes); err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			SerialNumber: new(big.Int).SetBytes(serialBytes), Subject: subject, DNSNames: domains,
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(x.opts.Rand, tmpl, tmpl, crypto.PublicKey(&key.PublicKey), key)
		if err != nil {
			return err
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			return err
		}
		cert := certFromX509(leaf, server)
		cert.KeyPEM, cert.HasPrivateKey, cert.PrivateKeyExportable, cert.FriendlyName = keyPEM, true, c.Bool("PrivateKeyExportable"), friendly
		if services&org.ServiceSMTP != 0 && !c.Bool("Force") {
			for _, other := range o.ServerCertificates(server) {
				if other.Services&org.ServiceSMTP != 0 {
					return promptFails(c, smtpPrompt(other, cert), nil)
				}
			}
		}
		for _, exclusive := range []org.Services{org.ServiceIIS, org.ServiceSMTP} {
			if services&exclusive != 0 {
				for _, other := range o.ServerCertificates(server) {
					other.Services &^= exclusive
				}
			}
		}
		cert.Services = services
		o.Certificates = append(o.Certificates, cert)
		result = x.certObject(o, cert)
		return nil
	})
	if err != nil {
		return writeErr(c, err, nil)
	}
	return c.WriteObject(result)
}

// parseX500 reads "CN=mail.contoso.com, O=Contoso, C=US" (commas or
// semicolons) into a pkix.Name.
func parseX500(s string) (pkix.Name, error) {
	var n pkix.Name
	for _, rdn := range org.SplitDN(strings.ReplaceAll(s, ";", ",")) {
		k, v := strings.ToUpper(strings.TrimSpace(rdn[0])), strings.TrimSpace(rdn[1])
		switch k {
		case "CN":
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "C":
			n.Country = append(n.Country, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "S", "ST":
			n.Province = append(n.Province, v)
		default:
			return n, fmt.Errorf("The subject name '%s' isn't a valid X.500 distinguished name.", s)
		}
	}
	if n.CommonName == "" && len(n.Organization) == 0 {
		return n, fmt.Errorf("The subject name '%s' isn't a valid X.500 distinguished name.", s)
	}
	return n, nil
}
