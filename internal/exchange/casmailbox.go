package exchange

import (
	"context"
	"errors"
	"fmt"
)

// CASMailbox is one mailbox's client-access flags with its name and
// address, as one Get-CASMailbox read returns them. Alias is empty on the
// Exchange endpoint (a CASMailbox object has none); RecipientTypeDetails
// is set when the read asked for one type.
type CASMailbox struct {
	Guid                 string
	Alias                string
	Name                 string
	PrimarySmtpAddress   string
	RecipientTypeDetails string
	// The two blocks the runbook sets.
	MAPIBlockOutlookRpcHttp              bool
	MAPIBlockOutlookExternalConnectivity bool
	// MapiHttpEnabled is nil when the organisation's setting applies.
	// Do not write through it: rows share storage.
	MapiHttpEnabled *bool
}

// GetCASMailboxes returns every mailbox of the given recipient types
// (e.g. UserMailbox) with its CAS flags. Never limited to 1000.
func (c *Client) GetCASMailboxes(ctx context.Context, recipientTypes []string) ([]CASMailbox, error) {
	const op = "GetCASMailboxes"
	if len(recipientTypes) == 0 {
		return nil, &OpError{Op: op, Err: errors.New("no recipient type given")}
	}
	return c.getCASMailboxes(ctx, op, recipientTypes)
}

// FlagChange sets the two blocks of one mailbox, by GUID.
type FlagChange struct {
	Guid                                 string
	MAPIBlockOutlookRpcHttp              bool
	MAPIBlockOutlookExternalConnectivity bool
}

// MaxFlagBatch is the most items one SetCASMailboxFlags script carries
// (its command line must fit in one WS-Man envelope).
const MaxFlagBatch = 1000

// SetCASMailboxFlags writes the blocks of a batch of mailboxes in one
// script, each item in its own try/catch, and returns a result per item
// (ID = GUID) in order.
func (c *Client) SetCASMailboxFlags(ctx context.Context, batch []FlagChange) ([]ItemResult, error) {
	const op = "SetCASMailboxFlags"
	if len(batch) == 0 {
		return nil, nil
	}
	if len(batch) > MaxFlagBatch {
		return nil, &OpError{Op: op, Err: fmt.Errorf("%d items in one batch, at most %d", len(batch), MaxFlagBatch)}
	}
	ids := make([]string, len(batch))
	norm := make([]FlagChange, len(batch))
	for i, ch := range batch {
		g, err := checkGUID(op, "mailbox", ch.Guid)
		if err != nil {
			return nil, err
		}
		norm[i] = ch
		norm[i].Guid = g
		ids[i] = g
	}
	return c.setCASMailboxFlags(ctx, op, norm)
}
