package exchange

import (
	"context"
	"errors"
	"sort"
	"strings"
)

// AllowListRead is what ReadAllowListServers read in one launch: the
// allow group's expansion, every mailbox with its CAS flags and the
// servers in scope.
type AllowListRead struct {
	Group     GroupExpansion
	Mailboxes []CASMailbox
	// Servers are resolved with Get-ExchangeServer, sorted by name
	// case-insensitively, as GetCertCapture returns them.
	Servers []Server
}

// allowListServersScript is the servers read (as GetCertCapture's
// resolve) followed by the allow-list read verbatim, ending in one
// ConvertTo-Json of {sv, grp, m, c}.
func allowListServersScript(group string, recipientTypes []string, servers []string) (string, error) {
	read, err := allowListScript(group, recipientTypes)
	if err != nil {
		return "", err
	}
	body, ok := strings.CutSuffix(strings.TrimPrefix(read, scriptHeader), "$r = [pscustomobject]@{ grp = $grp; m = $m; c = $c }\n"+jsonOut("$r", 5))
	if !ok {
		return "", errors.New("the allow-list script does not end as expected")
	}
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString(bodyOf(serversScript(servers)))
	b.WriteString("$sv = @($r | Sort-Object -Property Name)\n")
	b.WriteString(body)
	b.WriteString("$r = [pscustomobject]@{ sv = $sv; grp = $grp; m = $m; c = $c }\n")
	b.WriteString(jsonOut("$r", 5))
	return b.String(), nil
}

// ReadAllowListServers is ReadAllowList that also resolves the servers in
// scope in the same script: servers are the configured names (empty:
// every server), as GetExchangeServers takes them; a name that does not
// resolve, or no server at all, fails the operation. A step that needs
// both (block-mailboxes with the Autodiscover probe) then costs one
// PowerShell launch instead of two. A missing group is reported as by
// ReadAllowList: the error wraps ErrGroupNotFound and the rest is
// returned.
func (c *Client) ReadAllowListServers(ctx context.Context, group string, recipientTypes []string, servers []string) (AllowListRead, error) {
	const op = "ReadAllowListServers"
	if strings.TrimSpace(group) == "" {
		return AllowListRead{}, &OpError{Op: op, Err: errors.New("no group name given")}
	}
	if len(recipientTypes) == 0 {
		return AllowListRead{}, &OpError{Op: op, Err: errors.New("no recipient type given")}
	}
	if c.p != nil {
		sv, err := c.GetExchangeServers(ctx, servers)
		if err != nil {
			return AllowListRead{}, err
		}
		sortServers(sv)
		g, m, err := c.readAllowList(ctx, group, recipientTypes)
		if err != nil && !errors.Is(err, ErrGroupNotFound) {
			return AllowListRead{}, err
		}
		return AllowListRead{Group: g, Mailboxes: m, Servers: sv}, err
	}
	script, err := allowListServersScript(group, recipientTypes, servers)
	if err != nil {
		return AllowListRead{}, &OpError{Op: op, Err: err}
	}
	out, err := c.run(ctx, op, script, "")
	if err != nil {
		return AllowListRead{}, err
	}
	sv, err := topLevelMember(out, "sv")
	if err != nil {
		return AllowListRead{}, badOutput(op, "%v", err)
	}
	grp, err := topLevelMember(out, "grp")
	if err != nil {
		return AllowListRead{}, badOutput(op, "%v", err)
	}
	var res AllowListRead
	if s := strings.TrimSpace(sv); s != "null" {
		if res.Servers, err = decodeList[Server](op, s, req("Name", "Fqdn", "Guid", "AdminDisplayVersion", "ServerRole")); err != nil {
			return AllowListRead{}, err
		}
	}
	if len(res.Servers) == 0 {
		return AllowListRead{}, badOutput(op, "no Exchange server found")
	}
	if res.Mailboxes, err = parseCASMailboxes(out); err != nil { // skips sv and grp
		return AllowListRead{}, badOutput(op, "%v", err)
	}
	res.Group, err = decodeGroupExpansion(op, group, grp)
	if err != nil && !errors.Is(err, ErrGroupNotFound) {
		return AllowListRead{}, err
	}
	return res, err
}

// sortServers sorts by name, case-insensitively.
func sortServers(sv []Server) {
	sort.SliceStable(sv, func(i, j int) bool { return strings.ToLower(sv[i].Name) < strings.ToLower(sv[j].Name) })
}
