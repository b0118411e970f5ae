package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// VDirKind names a virtual directory type.
type VDirKind string

// The virtual directory kinds. The first six carry the URLs the runbook
// changes; Autodiscover and PowerShell are read only, to check they are
// never touched.
const (
	KindOWA          VDirKind = "owa"
	KindECP          VDirKind = "ecp"
	KindMAPI         VDirKind = "mapi"
	KindEWS          VDirKind = "ews"
	KindActiveSync   VDirKind = "activesync"
	KindOAB          VDirKind = "oab"
	KindAutodiscover VDirKind = "autodiscover"
	KindPowerShell   VDirKind = "powershell"
)

// URLKinds are the kinds whose ExternalUrl the runbook sets.
var URLKinds = []VDirKind{KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB}

// vdirNoun is the cmdlet noun of each kind.
var vdirNoun = map[VDirKind]string{
	KindOWA:          "OwaVirtualDirectory",
	KindECP:          "EcpVirtualDirectory",
	KindMAPI:         "MapiVirtualDirectory",
	KindEWS:          "WebServicesVirtualDirectory",
	KindActiveSync:   "ActiveSyncVirtualDirectory",
	KindOAB:          "OabVirtualDirectory",
	KindAutodiscover: "AutodiscoverVirtualDirectory",
	KindPowerShell:   "PowerShellVirtualDirectory",
}

var allKinds = []VDirKind{KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB, KindAutodiscover, KindPowerShell}

// VirtualDirectory is one virtual directory of one server.
type VirtualDirectory struct {
	Kind     VDirKind `json:"Kind"`
	Server   string   `json:"Server"`
	Identity string   `json:"Identity"` // EX01\owa (Default Web Site)
	Guid     string   `json:"Guid"`
	// InternalUrl and ExternalUrl are nil for $null (not published),
	// never "".
	InternalUrl *string `json:"InternalUrl"`
	ExternalUrl *string `json:"ExternalUrl"`
	// IISAuthenticationMethods is read for MAPI only.
	IISAuthenticationMethods []string `json:"IISAuthenticationMethods"`
}

const urlExpr = `$(if ($null -ne $v.%[1]s) { $v.%[1]s.AbsoluteUri } else { $null })`

func vdirsScript(servers []string) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString("$r = New-Object System.Collections.Generic.List[object]\n")
	b.WriteString("foreach ($srv in " + quoteList(servers) + ") {\n")
	for _, k := range allKinds {
		// -ADPropertiesOnly reads AD without touching IIS. Not for MAPI:
		// its IISAuthenticationMethods come from IIS, and passing an empty
		// list back would lose OAuth.
		ad := " -ADPropertiesOnly"
		iis := "@()"
		if k == KindMAPI {
			ad = ""
			iis = "@($v.IISAuthenticationMethods | ForEach-Object { [string]$_ })"
		}
		fmt.Fprintf(&b, "    foreach ($v in Get-%s -Server $srv%s) {\n", vdirNoun[k], ad)
		fmt.Fprintf(&b, "        $r.Add([pscustomobject]@{ Kind = '%s'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = %s; ExternalUrl = %s; IISAuthenticationMethods = %s })\n",
			k, fmt.Sprintf(urlExpr, "InternalUrl"), fmt.Sprintf(urlExpr, "ExternalUrl"), iis)
		b.WriteString("    }\n")
	}
	b.WriteString("}\n")
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

// GetVirtualDirectories reads the OWA, ECP, MAPI, EWS, ActiveSync, OAB,
// Autodiscover and PowerShell virtual directories of every server in one
// script.
func (c *Client) GetVirtualDirectories(ctx context.Context, servers []string) ([]VirtualDirectory, error) {
	const op = "GetVirtualDirectories"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	if c.p != nil {
		return c.getVirtualDirectories(ctx, op, servers)
	}
	out, err := c.run(ctx, op, vdirsScript(servers), "")
	if err != nil {
		return nil, err
	}
	return decodeVDirs(op, out)
}

// decodeVDirs decodes a list of virtual directories and checks that each
// is of a known kind and that MAPI ones name their authentication methods.
func decodeVDirs(op, out string) ([]VirtualDirectory, error) {
	res, err := decodeList[VirtualDirectory](op, out, append(req("Kind", "Server", "Identity", "Guid", "IISAuthenticationMethods"), opt("InternalUrl", "ExternalUrl")...))
	if err != nil {
		return nil, err
	}
	for i, v := range res {
		if _, ok := vdirNoun[v.Kind]; !ok {
			return nil, badOutput(op, "virtual directory %d has unknown kind %q", i, v.Kind)
		}
		if v.Kind == KindMAPI && len(v.IISAuthenticationMethods) == 0 {
			return nil, badOutput(op, "%s has no IISAuthenticationMethods", v.Identity)
		}
	}
	return res, nil
}

// VDirURLChange sets the ExternalUrl of one virtual directory, by GUID;
// nil restores $null.
type VDirURLChange struct {
	Kind        VDirKind
	Guid        string
	ExternalUrl *string
}

func setExternalURLsScript(changes []VDirURLChange) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString("$r = New-Object System.Collections.Generic.List[object]\n")
	for _, ch := range changes {
		g := Quote(ch.Guid)
		b.WriteString("try {\n")
		if ch.Kind == KindMAPI {
			// Set-MapiVirtualDirectory requires -IISAuthenticationMethods
			// with a URL: pass the current ones back, or OAuth is lost.
			fmt.Fprintf(&b, "    $m = Get-MapiVirtualDirectory -Identity %s\n", g)
			fmt.Fprintf(&b, "    Set-MapiVirtualDirectory -Identity %s -ExternalUrl %s -IISAuthenticationMethods $m.IISAuthenticationMethods\n", g, quoteOrNull(ch.ExternalUrl))
		} else {
			fmt.Fprintf(&b, "    Set-%s -Identity %s -ExternalUrl %s\n", vdirNoun[ch.Kind], g, quoteOrNull(ch.ExternalUrl))
		}
		fmt.Fprintf(&b, "    $r.Add([pscustomobject]@{ Id = %s; Ok = $true; Error = $null })\n} catch {\n    $r.Add([pscustomobject]@{ Id = %s; Ok = $false; Error = $_.Exception.Message })\n}\n", g, g)
	}
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

// SetExternalURLs sets ExternalUrl on every listed virtual directory in
// one script, returning a result per item (ID = GUID) in order. OWA and
// ECP are changed in the same script; MAPI passes its current
// IISAuthenticationMethods back. Autodiscover and PowerShell are refused.
func (c *Client) SetExternalURLs(ctx context.Context, changes []VDirURLChange) ([]ItemResult, error) {
	const op = "SetExternalURLs"
	if len(changes) == 0 {
		return nil, nil
	}
	ids := make([]string, len(changes))
	changes = append(changes[:0:0], changes...) // normalised copy; the caller's slice is left alone
	for i, ch := range changes {
		switch ch.Kind {
		case KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB:
		default:
			return nil, &OpError{Op: op, Err: fmt.Errorf("refusing to change the %q virtual directory", ch.Kind)}
		}
		g, err := checkGUID(op, "virtual directory", ch.Guid)
		if err != nil {
			return nil, err
		}
		changes[i].Guid = g
		ids[i] = g
	}
	if c.p != nil {
		return c.setExternalURLs(ctx, op, changes)
	}
	out, err := c.run(ctx, op, setExternalURLsScript(changes), "")
	if err != nil {
		return nil, err
	}
	return decodeItems(op, out, ids)
}
