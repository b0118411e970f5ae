package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// The certificate steps' writes as server-side compare-and-set scripts,
// one launch each: the server reads the current state and changes only
// what differs, so a repeated call after any failure is safe.

// checkThumbprint validates a certificate thumbprint (hex, as Exchange
// shows a SHA-1 or SHA-256 thumbprint) and returns it upper-case, so that
// no hostile text can be a thumbprint.
func checkThumbprint(op, s string) (string, error) {
	if len(s) != 40 && len(s) != 64 {
		return "", &OpError{Op: op, Err: fmt.Errorf("thumbprint %q is not 40 or 64 hexadecimal digits", s)}
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return "", &OpError{Op: op, Err: fmt.Errorf("thumbprint %q is not hexadecimal", s)}
		}
	}
	return strings.ToUpper(s), nil
}

func checkServerName(op, s string) error {
	if strings.TrimSpace(s) == "" {
		return &OpError{Op: op, Err: errors.New("empty server name")}
	}
	return nil
}

// certServices are the services Enable-ExchangeCertificate binds.
var certServices = map[string]string{"iis": "IIS", "smtp": "SMTP", "pop": "POP", "imap": "IMAP", "um": "UM", "umcallrouter": "UMCallRouter", "federation": "Federation"}

// CertImportResult is the outcome of ImportPFXWhereMissing on one server.
type CertImportResult struct {
	Server string `json:"Server"`
	// Changed is true when the server lacked the certificate and imported it.
	Changed bool `json:"Changed"`
	OK      bool `json:"Ok"`
	// Thumbprint is the certificate now on the server: the one asked for
	// when it was there, else what Import-ExchangeCertificate returned.
	Thumbprint string `json:"Thumbprint"`
	Error      string `json:"Error"`
}

// ImportPFXWhereMissing imports a PFX, in ONE script, onto every server
// that does not hold the certificate thumbprint yet: per server it lists
// the certificates, and calls Import-ExchangeCertificate only when the
// thumbprint is absent. One result per server, in order. The password
// goes on stdin (never in the script); the bytes are a base64 literal.
func (c *Client) ImportPFXWhereMissing(ctx context.Context, servers []string, thumbprint string, pfx []byte, password string) ([]CertImportResult, error) {
	const op = "ImportPFXWhereMissing"
	if len(servers) == 0 || len(pfx) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server or empty PFX")}
	}
	for _, s := range servers {
		if err := checkServerName(op, s); err != nil {
			return nil, err
		}
	}
	t, err := checkThumbprint(op, thumbprint)
	if err != nil {
		return nil, err
	}
	return c.importPFXWhereMissing(ctx, op, servers, t, pfx, password)
}

// CertRemoval names one certificate on one server.
type CertRemoval struct {
	Server     string
	Thumbprint string
}

// CertRemoveResult is the outcome of RemoveCertificatesWhereUnbound for
// one item.
type CertRemoveResult struct {
	Server     string `json:"Server"`
	Thumbprint string `json:"Thumbprint"`
	// Present is whether the server held the certificate.
	Present bool `json:"Present"`
	// Removed is whether the script removed it.
	Removed bool `json:"Removed"`
	OK      bool `json:"Ok"`
	// Services is the certificate's services ("IIS, SMTP", "None") when
	// present.
	Services string `json:"Services"`
	Error    string `json:"Error"`
}

// Bound reports whether the certificate held IIS or SMTP.
func (r CertRemoveResult) Bound() bool {
	for _, s := range strings.Split(r.Services, ",") {
		if s = strings.TrimSpace(s); strings.EqualFold(s, "IIS") || strings.EqualFold(s, "SMTP") {
			return true
		}
	}
	return false
}

// RemoveCertificatesWhereUnbound removes, in ONE script, every listed
// certificate that is present and holds neither IIS nor SMTP. The server
// first reads every item; when any read fails or any present certificate
// holds IIS or SMTP, nothing at all is removed (the results say which was
// bound: Present and its Services). An absent certificate is not an
// error. One result per item, in order.
func (c *Client) RemoveCertificatesWhereUnbound(ctx context.Context, items []CertRemoval) ([]CertRemoveResult, error) {
	const op = "RemoveCertificatesWhereUnbound"
	if len(items) == 0 {
		return nil, nil
	}
	items = append(items[:0:0], items...)
	for n, i := range items {
		if err := checkServerName(op, i.Server); err != nil {
			return nil, err
		}
		t, err := checkThumbprint(op, i.Thumbprint)
		if err != nil {
			return nil, err
		}
		items[n].Thumbprint = t
	}
	return c.removeCertificatesWhereUnbound(ctx, op, items)
}

// CertBinding asks that a certificate hold services on a server.
type CertBinding struct {
	Server     string
	Thumbprint string
	// Services to bind (IIS, SMTP, POP, IMAP, UM, UMCallRouter, Federation).
	Services []string
}

// BindResult is the outcome of one item of EnableCertificatesWhereMissing.
type BindResult struct {
	// ID is "SERVER/THUMBPRINT" for a binding, "SERVER/pop" or
	// "SERVER/imap" for a certificate name.
	ID      string `json:"Id"`
	Changed bool   `json:"Changed"`
	OK      bool   `json:"Ok"`
	// Services is what the certificate holds after the item (bindings
	// only).
	Services string `json:"Services"`
	Error    string `json:"Error"`
}

// BindID is the ID of a binding's result.
func BindID(server, thumbprint string) string { return server + "/" + strings.ToUpper(thumbprint) }

// PopImapID is the ID of a POP or IMAP certificate name's result.
func PopImapID(server string, p Protocol) string { return server + "/" + string(p) }

// EnableCertificatesWhereMissing binds certificates and sets the POP and
// IMAP certificate names in ONE script. For every binding the server
// reads the certificate (Get-ExchangeCertificate -Server -Thumbprint) and
// calls Enable-ExchangeCertificate -Services … -Force only when one of
// the services is missing from what it holds; for every name it reads
// Get-PopSettings or Get-ImapSettings and calls Set-… only when
// X509CertificateName differs (mode CompareApply: case-insensitively;
// CompareExact: byte for byte, $null a value of its own). One result per
// item, bindings first, in order (IDs: BindID, PopImapID).
func (c *Client) EnableCertificatesWhereMissing(ctx context.Context, binds []CertBinding, names []PopImapChange, mode URLCompare) ([]BindResult, error) {
	const op = "EnableCertificatesWhereMissing"
	if len(binds)+len(names) == 0 {
		return nil, nil
	}
	binds = append(binds[:0:0], binds...)
	ids := make([]string, 0, len(binds)+len(names))
	for n, x := range binds {
		if err := checkServerName(op, x.Server); err != nil {
			return nil, err
		}
		t, err := checkThumbprint(op, x.Thumbprint)
		if err != nil {
			return nil, err
		}
		if len(x.Services) == 0 {
			return nil, &OpError{Op: op, Err: fmt.Errorf("no service given for %s on %s", t, x.Server)}
		}
		svcs := make([]string, len(x.Services))
		for k, s := range x.Services {
			v, ok := certServices[strings.ToLower(strings.TrimSpace(s))]
			if !ok {
				return nil, &OpError{Op: op, Err: fmt.Errorf("service %q: expected IIS, SMTP, POP, IMAP, UM, UMCallRouter or Federation", s)}
			}
			svcs[k] = v
		}
		binds[n].Thumbprint, binds[n].Services = t, svcs
		ids = append(ids, BindID(x.Server, t))
	}
	for _, x := range names {
		if err := checkServerName(op, x.Server); err != nil {
			return nil, err
		}
		if x.Protocol != POP && x.Protocol != IMAP {
			return nil, &OpError{Op: op, Err: fmt.Errorf("protocol %q: expected pop or imap", x.Protocol)}
		}
		ids = append(ids, PopImapID(x.Server, x.Protocol))
	}
	res, err := c.enableCertificatesWhereMissing(ctx, op, binds, names, mode)
	if err != nil {
		return nil, err
	}
	return checkResults(op, "items", res, ids)
}
