package exchange

import (
	"context"
	"fmt"
	"strings"
)

// ChangeResult is the outcome of one item of a compare-and-set write:
// whether the server found a different value and wrote the wanted one.
type ChangeResult struct {
	// ID is the item's GUID as sent.
	ID      string `json:"Id"`
	Changed bool   `json:"Changed"`
	OK      bool   `json:"Ok"`
	// Error is the server's message when OK is false.
	Error string `json:"Error"`
}

// URLCompare says how SetURLsWhereDifferent decides that a value differs.
type URLCompare int

const (
	// CompareApply compares URLs and host names case-insensitively and
	// Outlook Anywhere by ExternalHostname and ExternalClientsRequireSsl
	// only (the authentication method is passed back, not compared):
	// what a forward change needs.
	CompareApply URLCompare = iota
	// CompareExact compares every value byte for byte, including the
	// authentication method: what a restore needs.
	CompareExact
)

// urlCmp is the PowerShell that sets $c to whether $cur differs from
// $want ($null is a value of its own), with op -ne or -cne.
func urlCmp(op string) string {
	return "        if ($null -eq $want) { $c = $null -ne $cur } elseif ($null -eq $cur) { $c = $true } else { $c = $cur " + op + " $want }\n"
}

// setURLsWhereDifferentScript lists the items as data (one short line
// each, every value through Quote) and runs one loop per kind of object,
// so that dozens of servers fit in one WinRM envelope.
func setURLsWhereDifferentScript(vdirs []VDirURLChange, oa []OutlookAnywhereChange, mode URLCompare) string {
	ne := "-ne"
	if mode == CompareExact {
		ne = "-cne"
	}
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString("$r = New-Object System.Collections.Generic.List[object]\n")
	b.WriteString("$vd = @(\n")
	for _, ch := range vdirs {
		fmt.Fprintf(&b, "    [pscustomobject]@{ K = %s; G = %s; U = %s }\n", Quote(string(ch.Kind)), Quote(ch.Guid), quoteOrNull(ch.ExternalUrl))
	}
	b.WriteString(")\n")
	b.WriteString("$oa = @(\n")
	for _, ch := range oa {
		fmt.Fprintf(&b, "    [pscustomobject]@{ G = %s; H = %s; S = %s; A = %s }\n", Quote(ch.Guid), quoteOrNull(ch.ExternalHostname), psBool(ch.ExternalClientsRequireSsl), Quote(ch.ExternalClientAuthenticationMethod))
	}
	b.WriteString(")\n")
	b.WriteString("foreach ($i in $vd) {\n    try {\n        $c = $false\n        $g = $i.G\n        $want = $i.U\n")
	// MAPI is read from IIS too: Set-MapiVirtualDirectory needs the
	// current IISAuthenticationMethods passed back, or OAuth is lost.
	kinds := []VDirKind{KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB}
	for n, k := range kinds {
		kw := "elseif"
		if n == 0 {
			kw = "if"
		}
		ad := " -ADPropertiesOnly"
		if k == KindMAPI {
			ad = ""
		}
		fmt.Fprintf(&b, "        %s ($i.K -eq '%s') { $v = Get-%s -Identity $g%s }\n", kw, k, vdirNoun[k], ad)
	}
	b.WriteString("        else { throw ('unknown kind ' + $i.K) }\n")
	b.WriteString("        $cur = " + fmt.Sprintf(urlExpr, "ExternalUrl") + "\n")
	b.WriteString(urlCmp(ne))
	b.WriteString("        if ($c) {\n")
	for n, k := range kinds {
		kw := "elseif"
		if n == 0 {
			kw = "if"
		}
		extra := ""
		if k == KindMAPI {
			extra = " -IISAuthenticationMethods $v.IISAuthenticationMethods"
		}
		fmt.Fprintf(&b, "            %s ($i.K -eq '%s') { Set-%s -Identity $g -ExternalUrl $want%s }\n", kw, k, vdirNoun[k], extra)
	}
	b.WriteString("        }\n")
	b.WriteString("        $r.Add([pscustomobject]@{ Id = $g; Changed = $c; Ok = $true; Error = $null })\n")
	b.WriteString("    } catch {\n        $r.Add([pscustomobject]@{ Id = $i.G; Changed = $false; Ok = $false; Error = $_.Exception.Message })\n    }\n}\n")
	b.WriteString("foreach ($i in $oa) {\n    try {\n        $c = $false\n        $g = $i.G\n        $want = $i.H\n")
	b.WriteString("        $o = Get-OutlookAnywhere -Identity $g -ADPropertiesOnly\n")
	b.WriteString("        $cur = $(if ($null -ne $o.ExternalHostname) { [string]$o.ExternalHostname } else { $null })\n")
	b.WriteString(urlCmp(ne))
	b.WriteString("        if (-not $c) { $c = [bool]$o.ExternalClientsRequireSsl -ne $i.S }\n")
	if mode == CompareExact {
		b.WriteString("        if ((-not $c) -and $i.A) { $c = [string]$o.ExternalClientAuthenticationMethod -cne $i.A }\n")
	}
	b.WriteString("        if ($c) {\n")
	b.WriteString("            if ($i.A) { Set-OutlookAnywhere -Identity $g -ExternalHostname $want -ExternalClientsRequireSsl $i.S -ExternalClientAuthenticationMethod $i.A }\n")
	b.WriteString("            else { Set-OutlookAnywhere -Identity $g -ExternalHostname $want -ExternalClientsRequireSsl $i.S }\n")
	b.WriteString("        }\n")
	b.WriteString("        $r.Add([pscustomobject]@{ Id = $g; Changed = $c; Ok = $true; Error = $null })\n")
	b.WriteString("    } catch {\n        $r.Add([pscustomobject]@{ Id = $i.G; Changed = $false; Ok = $false; Error = $_.Exception.Message })\n    }\n}\n")
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

// SetURLsWhereDifferent is a whole external-URL change in ONE script:
// for every virtual directory, then every Outlook Anywhere, the server
// reads the current value by GUID, compares it with the wanted one (as
// mode says) and writes only when it differs. It returns one result per
// item, virtual directories first, in order; ID is the GUID. OWA and ECP
// change in the same script; MAPI passes the IISAuthenticationMethods it
// has just read back. A nil ExternalUrl or ExternalHostname means $null,
// compared and written as $null. Autodiscover and PowerShell virtual
// directories are refused, as is an unknown authentication method.
// Repeating the call after any failure is safe: what is already in place
// is not written again.
func (c *Client) SetURLsWhereDifferent(ctx context.Context, vdirs []VDirURLChange, oa []OutlookAnywhereChange, mode URLCompare) ([]ChangeResult, error) {
	const op = "SetURLsWhereDifferent"
	if len(vdirs)+len(oa) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(vdirs)+len(oa))
	vdirs = append(vdirs[:0:0], vdirs...) // normalised copies; the caller's slices are left alone
	oa = append(oa[:0:0], oa...)
	for i, ch := range vdirs {
		switch ch.Kind {
		case KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB:
		default:
			return nil, &OpError{Op: op, Err: fmt.Errorf("refusing to change the %q virtual directory", ch.Kind)}
		}
		g, err := checkGUID(op, "virtual directory", ch.Guid)
		if err != nil {
			return nil, err
		}
		vdirs[i].Guid = g
		ids = append(ids, g)
	}
	for i, ch := range oa {
		g, err := checkGUID(op, "Outlook Anywhere", ch.Guid)
		if err != nil {
			return nil, err
		}
		if m := ch.ExternalClientAuthenticationMethod; m != "" && !oaAuthMethods[strings.ToLower(m)] {
			return nil, &OpError{Op: op, Err: fmt.Errorf("ExternalClientAuthenticationMethod %q: expected Basic, Ntlm or Negotiate", m)}
		}
		oa[i].Guid = g
		ids = append(ids, g)
	}
	if c.p != nil {
		res, err := c.setURLsWhereDifferent(ctx, op, vdirs, oa, mode)
		if err != nil {
			return nil, err
		}
		return checkResults(op, "items", res, ids)
	}
	out, err := c.run(ctx, op, setURLsWhereDifferentScript(vdirs, oa, mode), "")
	if err != nil {
		return nil, err
	}
	return decodeChangeResults(op, out, ids)
}

var changeResultFields = append(req("Id", "Changed", "Ok"), opt("Error")...)

// decodeChangeResults parses per-item compare-and-set results (see
// checkResults).
func decodeChangeResults(op, out string, ids []string) ([]ChangeResult, error) {
	res, err := decodeList[ChangeResult](op, out, changeResultFields)
	if err != nil {
		return nil, err
	}
	return checkResults(op, "items", res, ids)
}
