package exchange

import (
	"context"
	"errors"
)

// URLCapture is everything the external-urls step needs before it
// changes anything, read in ONE launch: the servers in scope (when the
// script resolved them), their virtual directories, Outlook Anywhere and
// SCP (as GetURLState reads them) and their Exchange certificates (as
// GetCertificates reads them), for the cross-server consistency check.
type URLCapture struct {
	// Servers is filled only when GetURLCapture resolved the scope with
	// Get-ExchangeServer; it is sorted by name, case-insensitively.
	Servers []Server
	URLState
	Certificates []Certificate
}

// GetURLCapture reads, in one script, the virtual directories, Outlook
// Anywhere, SCP and certificates of the servers. With resolve false,
// servers are the server names to read (at least one). With resolve true,
// servers are the configured names (empty: every server) and the script
// first resolves them with Get-ExchangeServer, as GetExchangeServers
// does, returning them in Servers; a name that does not resolve fails the
// operation.
func (c *Client) GetURLCapture(ctx context.Context, servers []string, resolve bool) (URLCapture, error) {
	const op = "GetURLCapture"
	var st URLCapture
	if len(servers) == 0 && !resolve {
		return st, &OpError{Op: op, Err: errors.New("no server given")}
	}
	return c.getURLCapture(ctx, op, servers, resolve)
}
