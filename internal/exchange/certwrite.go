package exchange

import (
	"context"
	"encoding/base64"
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

func importPFXWhereMissingScript(servers []string, thumbprint string, pfx []byte, withPassword bool) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	pw := ""
	if withPassword {
		// the password arrives on stdin, never in the script
		b.WriteString("$pw = ConvertTo-SecureString -String ([Console]::In.ReadLine()) -AsPlainText -Force\n")
		pw = " -Password $pw"
	}
	b.WriteString("$data = [Convert]::FromBase64String(" + Quote(base64.StdEncoding.EncodeToString(pfx)) + ")\n")
	b.WriteString("$t = " + Quote(thumbprint) + "\n")
	b.WriteString("$r = New-Object System.Collections.Generic.List[object]\n")
	b.WriteString("foreach ($srv in " + quoteList(servers) + ") {\n")
	b.WriteString(`    try {
        $c = $false
        $got = $t
        $have = @(Get-ExchangeCertificate -Server $srv | Where-Object { $_.Thumbprint -eq $t })
        if ($have.Count -eq 0) {
            $n = Import-ExchangeCertificate -Server $srv -FileData $data` + pw + `
            $c = $true
            $got = [string]$n.Thumbprint
        }
        $r.Add([pscustomobject]@{ Server = $srv; Changed = $c; Ok = $true; Thumbprint = $got; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Server = $srv; Changed = $false; Ok = $false; Thumbprint = $null; Error = $_.Exception.Message })
    }
}
`)
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
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
	if err := checkSecret(op, "PFX password", password); err != nil {
		return nil, err
	}
	stdin := ""
	if password != "" {
		stdin = password + "\n"
	}
	if c.p != nil {
		return c.importPFXWhereMissing(ctx, op, servers, t, pfx, password)
	}
	out, err := c.run(ctx, op, importPFXWhereMissingScript(servers, t, pfx, password != ""), stdin)
	if err != nil {
		return nil, err
	}
	res, err := decodeList[CertImportResult](op, out, append(req("Server", "Changed", "Ok"), opt("Thumbprint", "Error")...))
	if err != nil {
		return nil, err
	}
	return checkResults(op, "servers", res, servers)
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

func removeWhereUnboundScript(items []CertRemoval) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString("$it = @(\n")
	for _, i := range items {
		fmt.Fprintf(&b, "    [pscustomobject]@{ S = %s; T = %s }\n", Quote(i.Server), Quote(i.Thumbprint))
	}
	b.WriteString(")\n")
	b.WriteString(`$st = New-Object System.Collections.Generic.List[object]
$block = $false
foreach ($i in $it) {
    try {
        $have = @(Get-ExchangeCertificate -Server $i.S | Where-Object { $_.Thumbprint -eq $i.T })
        if ($have.Count -gt 0) {
            $sv = [string]$have[0].Services
            $b = @($sv.Split(',') | ForEach-Object { $_.Trim() })
            if (($b -contains 'IIS') -or ($b -contains 'SMTP')) { $block = $true }
            $st.Add([pscustomobject]@{ S = $i.S; T = $i.T; P = $true; V = $sv; E = $null })
        } else {
            $st.Add([pscustomobject]@{ S = $i.S; T = $i.T; P = $false; V = $null; E = $null })
        }
    } catch {
        $block = $true
        $st.Add([pscustomobject]@{ S = $i.S; T = $i.T; P = $false; V = $null; E = $_.Exception.Message })
    }
}
$r = New-Object System.Collections.Generic.List[object]
foreach ($s in $st) {
    $c = $false
    $ok = $null -eq $s.E
    $e = $s.E
    if ($ok -and $s.P -and (-not $block)) {
        try {
            Remove-ExchangeCertificate -Server $s.S -Thumbprint $s.T -Confirm:$false
            $c = $true
        } catch {
            $ok = $false
            $e = $_.Exception.Message
        }
    }
    $r.Add([pscustomobject]@{ Server = $s.S; Thumbprint = $s.T; Present = $s.P; Removed = $c; Ok = $ok; Services = $s.V; Error = $e })
}
`)
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
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
	if c.p != nil {
		return c.removeCertificatesWhereUnbound(ctx, op, items)
	}
	out, err := c.run(ctx, op, removeWhereUnboundScript(items), "")
	if err != nil {
		return nil, err
	}
	res, err := decodeList[CertRemoveResult](op, out, append(req("Server", "Thumbprint", "Present", "Removed", "Ok"), opt("Services", "Error")...))
	if err != nil {
		return nil, err
	}
	want := make([]string, len(items))
	for n, it := range items {
		want[n] = it.Server + "/" + it.Thumbprint
	}
	return checkResults(op, "items", res, want)
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

func enableWhereMissingScript(binds []CertBinding, names []PopImapChange, mode URLCompare) string {
	ne := "-ne"
	if mode == CompareExact {
		ne = "-cne"
	}
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString("$r = New-Object System.Collections.Generic.List[object]\n")
	b.WriteString("$bd = @(\n")
	for _, x := range binds {
		fmt.Fprintf(&b, "    [pscustomobject]@{ S = %s; T = %s; V = %s }\n", Quote(x.Server), Quote(x.Thumbprint), quoteList(x.Services))
	}
	b.WriteString(")\n")
	b.WriteString("$pi = @(\n")
	for _, x := range names {
		fmt.Fprintf(&b, "    [pscustomobject]@{ S = %s; P = %s; N = %s }\n", Quote(x.Server), Quote(string(x.Protocol)), quoteOrNull(x.Name))
	}
	b.WriteString(")\n")
	b.WriteString(`foreach ($i in $bd) {
    $id = $i.S + '/' + $i.T
    try {
        $c = $false
        $x = Get-ExchangeCertificate -Server $i.S -Thumbprint $i.T
        $have = @(([string]$x.Services).Split(',') | ForEach-Object { $_.Trim() })
        $miss = @($i.V | Where-Object { $have -notcontains $_ })
        if ($miss.Count -gt 0) {
            Enable-ExchangeCertificate -Server $i.S -Thumbprint $i.T -Services $i.V -Force
            $c = $true
            $x = Get-ExchangeCertificate -Server $i.S -Thumbprint $i.T
        }
        $r.Add([pscustomobject]@{ Id = $id; Changed = $c; Ok = $true; Services = [string]$x.Services; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Id = $id; Changed = $false; Ok = $false; Services = $null; Error = $_.Exception.Message })
    }
}
foreach ($i in $pi) {
    $id = $i.S + '/' + $i.P
    try {
        $c = $false
        $want = $i.N
        if ($i.P -eq 'pop') { $o = Get-PopSettings -Server $i.S } else { $o = Get-ImapSettings -Server $i.S }
        $cur = $(if ($null -ne $o.X509CertificateName) { [string]$o.X509CertificateName } else { $null })
`)
	b.WriteString(urlCmp(ne))
	b.WriteString(`        if ($c) {
            if ($i.P -eq 'pop') { Set-PopSettings -Server $i.S -X509CertificateName $want }
            else { Set-ImapSettings -Server $i.S -X509CertificateName $want }
        }
        $r.Add([pscustomobject]@{ Id = $id; Changed = $c; Ok = $true; Services = $null; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Id = $id; Changed = $false; Ok = $false; Services = $null; Error = $_.Exception.Message })
    }
}
`)
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

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
	if c.p != nil {
		res, err := c.enableCertificatesWhereMissing(ctx, op, binds, names, mode)
		if err != nil {
			return nil, err
		}
		return checkResults(op, "items", res, ids)
	}
	out, err := c.run(ctx, op, enableWhereMissingScript(binds, names, mode), "")
	if err != nil {
		return nil, err
	}
	res, err := decodeList[BindResult](op, out, append(req("Id", "Changed", "Ok"), opt("Services", "Error")...))
	if err != nil {
		return nil, err
	}
	return checkResults(op, "items", res, ids)
}
