package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// OutlookAnywhere is one server's RPC/HTTP settings.
type OutlookAnywhere struct {
	Server   string `json:"Server"`
	Identity string `json:"Identity"` // EX01\Rpc (Default Web Site)
	Guid     string `json:"Guid"`
	// ExternalHostname and InternalHostname are nil for $null.
	ExternalHostname                   *string `json:"ExternalHostname"`
	InternalHostname                   *string `json:"InternalHostname"`
	ExternalClientsRequireSsl          bool    `json:"ExternalClientsRequireSsl"`
	ExternalClientAuthenticationMethod string  `json:"ExternalClientAuthenticationMethod"`
}

func outlookAnywhereScript(servers []string) string {
	return scriptHeader + `$r = foreach ($srv in ` + quoteList(servers) + `) {
    foreach ($o in Get-OutlookAnywhere -Server $srv -ADPropertiesOnly) {
        [pscustomobject]@{
            Server = $srv
            Identity = [string]$o.Identity
            Guid = $o.Guid.ToString()
            ExternalHostname = $(if ($null -ne $o.ExternalHostname) { [string]$o.ExternalHostname } else { $null })
            InternalHostname = $(if ($null -ne $o.InternalHostname) { [string]$o.InternalHostname } else { $null })
            ExternalClientsRequireSsl = [bool]$o.ExternalClientsRequireSsl
            ExternalClientAuthenticationMethod = [string]$o.ExternalClientAuthenticationMethod
        }
    }
}
` + jsonOut("@($r)", 3)
}

// outlookAnywhereFields are the properties every OutlookAnywhere object
// carries.
var outlookAnywhereFields = append(req("Server", "Identity", "Guid", "ExternalClientsRequireSsl", "ExternalClientAuthenticationMethod"), opt("ExternalHostname", "InternalHostname")...)

// GetOutlookAnywhere reads the Outlook Anywhere settings of every server.
func (c *Client) GetOutlookAnywhere(ctx context.Context, servers []string) ([]OutlookAnywhere, error) {
	const op = "GetOutlookAnywhere"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	if c.p != nil {
		return c.getOutlookAnywhere(ctx, op, servers)
	}
	out, err := c.run(ctx, op, outlookAnywhereScript(servers), "")
	if err != nil {
		return nil, err
	}
	return decodeList[OutlookAnywhere](op, out, outlookAnywhereFields)
}

// OutlookAnywhereChange sets one server's external Outlook Anywhere
// settings, by GUID. A nil ExternalHostname restores $null; an empty
// ExternalClientAuthenticationMethod leaves the method unchanged.
type OutlookAnywhereChange struct {
	Guid                               string
	ExternalHostname                   *string
	ExternalClientsRequireSsl          bool
	ExternalClientAuthenticationMethod string
}

var oaAuthMethods = map[string]bool{"basic": true, "ntlm": true, "negotiate": true}

func setOutlookAnywhereScript(changes []OutlookAnywhereChange) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString("$r = New-Object System.Collections.Generic.List[object]\n")
	for _, ch := range changes {
		g := Quote(ch.Guid)
		auth := ""
		if ch.ExternalClientAuthenticationMethod != "" {
			auth = " -ExternalClientAuthenticationMethod " + Quote(ch.ExternalClientAuthenticationMethod)
		}
		fmt.Fprintf(&b, "try {\n    Set-OutlookAnywhere -Identity %s -ExternalHostname %s -ExternalClientsRequireSsl %s%s\n", g, quoteOrNull(ch.ExternalHostname), psBool(ch.ExternalClientsRequireSsl), auth)
		fmt.Fprintf(&b, "    $r.Add([pscustomobject]@{ Id = %s; Ok = $true; Error = $null })\n} catch {\n    $r.Add([pscustomobject]@{ Id = %s; Ok = $false; Error = $_.Exception.Message })\n}\n", g, g)
	}
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

// SetOutlookAnywhere applies the changes in one script, one result per
// change (ID = GUID) in order.
func (c *Client) SetOutlookAnywhere(ctx context.Context, changes []OutlookAnywhereChange) ([]ItemResult, error) {
	const op = "SetOutlookAnywhere"
	if len(changes) == 0 {
		return nil, nil
	}
	ids := make([]string, len(changes))
	changes = append(changes[:0:0], changes...) // normalised copy; the caller's slice is left alone
	for i, ch := range changes {
		g, err := checkGUID(op, "Outlook Anywhere", ch.Guid)
		if err != nil {
			return nil, err
		}
		if m := ch.ExternalClientAuthenticationMethod; m != "" && !oaAuthMethods[strings.ToLower(m)] {
			return nil, &OpError{Op: op, Err: fmt.Errorf("ExternalClientAuthenticationMethod %q: expected Basic, Ntlm or Negotiate", m)}
		}
		changes[i].Guid = g
		ids[i] = g
	}
	if c.p != nil {
		return c.setOutlookAnywhere(ctx, op, changes)
	}
	out, err := c.run(ctx, op, setOutlookAnywhereScript(changes), "")
	if err != nil {
		return nil, err
	}
	return decodeItems(op, out, ids)
}

// ClientAccessService is a server's Autodiscover SCP (read only: the
// runbook never writes it).
type ClientAccessService struct {
	Name string `json:"Name"`
	// AutoDiscoverServiceInternalUri is nil for $null.
	AutoDiscoverServiceInternalUri *string `json:"AutoDiscoverServiceInternalUri"`
}

func clientAccessScript(servers []string) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	if len(servers) == 0 {
		b.WriteString("$cas = @(Get-ClientAccessService)\n")
	} else {
		b.WriteString("$cas = foreach ($n in " + quoteList(servers) + ") { Get-ClientAccessService -Identity $n }\n")
	}
	b.WriteString(`$r = foreach ($s in $cas) {
    [pscustomobject]@{
        Name = [string]$s.Name
        AutoDiscoverServiceInternalUri = $(if ($null -ne $s.AutoDiscoverServiceInternalUri) { $s.AutoDiscoverServiceInternalUri.AbsoluteUri } else { $null })
    }
}
`)
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

// scpFields are the properties every ClientAccessService object carries.
var scpFields = append(req("Name"), opt("AutoDiscoverServiceInternalUri")...)

// GetClientAccessServices reads the SCP of the named servers (all when
// none are named).
func (c *Client) GetClientAccessServices(ctx context.Context, servers []string) ([]ClientAccessService, error) {
	const op = "GetClientAccessServices"
	if c.p != nil {
		return c.getClientAccessServices(ctx, op, servers)
	}
	out, err := c.run(ctx, op, clientAccessScript(servers), "")
	if err != nil {
		return nil, err
	}
	return decodeList[ClientAccessService](op, out, scpFields)
}
