package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// PopImapSettings are the certificate names POP and IMAP use on a server.
type PopImapSettings struct {
	Server string `json:"Server"`
	// PopX509CertificateName and ImapX509CertificateName are nil for $null.
	PopX509CertificateName  *string `json:"Pop"`
	ImapX509CertificateName *string `json:"Imap"`
}

func popImapScript(servers []string) string {
	return scriptHeader + `$r = foreach ($srv in ` + quoteList(servers) + `) {
    $p = Get-PopSettings -Server $srv
    $i = Get-ImapSettings -Server $srv
    [pscustomobject]@{
        Server = $srv
        Pop = $(if ($null -ne $p.X509CertificateName) { [string]$p.X509CertificateName } else { $null })
        Imap = $(if ($null -ne $i.X509CertificateName) { [string]$i.X509CertificateName } else { $null })
    }
}
` + jsonOut("@($r)", 3)
}

// GetPopImapSettings reads X509CertificateName of POP and IMAP per server.
func (c *Client) GetPopImapSettings(ctx context.Context, servers []string) ([]PopImapSettings, error) {
	const op = "GetPopImapSettings"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	if c.p != nil {
		return c.getPopImapSettings(ctx, op, servers)
	}
	out, err := c.run(ctx, op, popImapScript(servers), "")
	if err != nil {
		return nil, err
	}
	res, err := decodeList[PopImapSettings](op, out, append(req("Server"), opt("Pop", "Imap")...))
	if err != nil {
		return nil, err
	}
	if len(res) != len(servers) {
		return nil, badOutput(op, "%d results for %d servers", len(res), len(servers))
	}
	return res, nil
}

// Protocol is POP or IMAP.
type Protocol string

// The two protocols whose certificate name can be set.
const (
	POP  Protocol = "pop"
	IMAP Protocol = "imap"
)

// PopImapChange sets X509CertificateName of one protocol on one server;
// a nil Name restores $null.
type PopImapChange struct {
	Server   string
	Protocol Protocol
	Name     *string
}

func setPopImapScript(changes []PopImapChange) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString("$r = New-Object System.Collections.Generic.List[object]\n")
	for _, ch := range changes {
		cmd := "Set-PopSettings"
		if ch.Protocol == IMAP {
			cmd = "Set-ImapSettings"
		}
		id := Quote(ch.Server + "/" + string(ch.Protocol))
		fmt.Fprintf(&b, "try {\n    %s -Server %s -X509CertificateName %s\n    $r.Add([pscustomobject]@{ Id = %s; Ok = $true; Error = $null })\n} catch {\n    $r.Add([pscustomobject]@{ Id = %s; Ok = $false; Error = $_.Exception.Message })\n}\n",
			cmd, Quote(ch.Server), quoteOrNull(ch.Name), id, id)
	}
	b.WriteString(jsonOut("@($r)", 3))
	return b.String()
}

// SetPopImapCertificateNames applies the changes in one script, one
// result per change (ID "SERVER/pop" or "SERVER/imap").
func (c *Client) SetPopImapCertificateNames(ctx context.Context, changes []PopImapChange) ([]ItemResult, error) {
	const op = "SetPopImapCertificateNames"
	if len(changes) == 0 {
		return nil, nil
	}
	ids := make([]string, len(changes))
	for i, ch := range changes {
		if ch.Protocol != POP && ch.Protocol != IMAP {
			return nil, &OpError{Op: op, Err: fmt.Errorf("protocol %q: expected pop or imap", ch.Protocol)}
		}
		ids[i] = ch.Server + "/" + string(ch.Protocol)
	}
	if c.p != nil {
		return c.setPopImapCertificateNames(ctx, op, changes)
	}
	out, err := c.run(ctx, op, setPopImapScript(changes), "")
	if err != nil {
		return nil, err
	}
	return decodeItems(op, out, ids)
}
