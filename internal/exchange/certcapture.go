package exchange

import (
	"context"
	"errors"
)

// CertCapture is what bind-certificate reads before and after it changes
// anything, in ONE launch: the servers in scope (when the script resolved
// them), their Exchange certificates (as GetCertificates reads them) and,
// when asked, the POP and IMAP certificate names (as GetPopImapSettings
// reads them).
type CertCapture struct {
	// Servers is filled only when GetCertCapture resolved the scope with
	// Get-ExchangeServer; it is sorted by name, case-insensitively.
	Servers      []Server
	Certificates []Certificate
	// PopImap is filled only when asked for, one per server in order.
	PopImap []PopImapSettings
}

// GetCertCapture reads, in one script, the certificates of the servers
// and, with popImap, their POP and IMAP certificate names. With resolve
// false, servers are the server names to read (at least one). With
// resolve true, servers are the configured names (empty: every server)
// and the script first resolves them with Get-ExchangeServer, returning
// them in Servers; a name that does not resolve fails the operation.
func (c *Client) GetCertCapture(ctx context.Context, servers []string, resolve, popImap bool) (CertCapture, error) {
	const op = "GetCertCapture"
	var st CertCapture
	if len(servers) == 0 && !resolve {
		return st, &OpError{Op: op, Err: errors.New("no server given")}
	}
	return c.getCertCapture(ctx, op, servers, resolve, popImap)
}
