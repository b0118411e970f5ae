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

// sortServers sorts by name, case-insensitively.
func sortServers(sv []Server) {
	sort.SliceStable(sv, func(i, j int) bool { return strings.ToLower(sv[i].Name) < strings.ToLower(sv[j].Name) })
}
