package exchange

import (
	"context"
	"errors"
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

// GetURLState reads the virtual directories, Outlook Anywhere and the SCP
// of every server in one script, with the same checks as the three
// separate operations.
func (c *Client) GetURLState(ctx context.Context, servers []string) (URLState, error) {
	const op = "GetURLState"
	var st URLState
	if len(servers) == 0 {
		return st, &OpError{Op: op, Err: errors.New("no server given")}
	}
	return c.getURLState(ctx, op, servers)
}
