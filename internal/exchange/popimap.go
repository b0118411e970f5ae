package exchange

import (
	"context"
	"errors"
	"fmt"
)

// PopImapSettings are the certificate names POP and IMAP use on a server.
type PopImapSettings struct {
	Server string `json:"Server"`
	// PopX509CertificateName and ImapX509CertificateName are nil for $null.
	PopX509CertificateName  *string `json:"Pop"`
	ImapX509CertificateName *string `json:"Imap"`
}

// GetPopImapSettings reads X509CertificateName of POP and IMAP per server.
func (c *Client) GetPopImapSettings(ctx context.Context, servers []string) ([]PopImapSettings, error) {
	const op = "GetPopImapSettings"
	if len(servers) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no server given")}
	}
	return c.getPopImapSettings(ctx, op, servers)
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
	return c.setPopImapCertificateNames(ctx, op, changes)
}
