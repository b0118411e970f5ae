package exchange

import (
	"context"
	"errors"
	"strings"
)

// URLState is everything the external-urls step reads, in one launch:
// the virtual directories (GetVirtualDirectories), Outlook Anywhere
// (GetOutlookAnywhere) and the SCP (GetClientAccessServices) of the same
// servers.
type URLState struct {
	VDirs           []VirtualDirectory
	OutlookAnywhere []OutlookAnywhere
	SCP             []ClientAccessService
}

// bodyOf strips a read script's header and its final ConvertTo-Json,
// leaving the statements that fill $r.
func bodyOf(script string) string {
	s := strings.TrimPrefix(script, scriptHeader)
	if i := strings.LastIndex(s, "ConvertTo-Json -InputObject"); i >= 0 {
		s = s[:i]
	}
	return s
}

// urlStateScript is the three read scripts verbatim, one after the other,
// each result kept in its own variable, ending in one ConvertTo-Json.
func urlStateScript(servers []string) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString(bodyOf(vdirsScript(servers)))
	b.WriteString("$vd = @($r)\n")
	b.WriteString(bodyOf(outlookAnywhereScript(servers)))
	b.WriteString("$oa = @($r)\n")
	b.WriteString(bodyOf(clientAccessScript(servers)))
	b.WriteString("$scp = @($r)\n")
	b.WriteString("$state = [pscustomobject]@{ VDirs = $vd; OutlookAnywhere = $oa; SCP = $scp }\n")
	b.WriteString(jsonOut("$state", 5))
	return b.String()
}

// GetURLState reads the virtual directories, Outlook Anywhere and the SCP
// of every server in one script, with the same checks as the three
// separate operations.
func (c *Client) GetURLState(ctx context.Context, servers []string) (URLState, error) {
	const op = "GetURLState"
	var st URLState
	if len(servers) == 0 {
		return st, &OpError{Op: op, Err: errors.New("no server given")}
	}
	if c.p != nil {
		return c.getURLState(ctx, op, servers)
	}
	out, err := c.run(ctx, op, urlStateScript(servers), "")
	if err != nil {
		return st, err
	}
	p, err := decodeParts(op, out)
	if err != nil {
		return st, err
	}
	if st.VDirs, st.OutlookAnywhere, st.SCP, err = p.urlLists(); err != nil {
		return st, err
	}
	return st, nil
}
