package exchange

import (
	"context"
	"errors"
)

// MapiHTTPState is what the mapi-http step reads, in one launch: the
// organisation's MapiHttpEnabled and the mailboxes of the given recipient
// types whose own MapiHttpEnabled is $false ($null, the organisation's
// setting, does not count).
type MapiHTTPState struct {
	OrgMapiHttpEnabled bool
	// MapiOff counts those mailboxes; MapiOffAliases names them in the
	// order Get-Mailbox returned them (the alias, or the GUID when the
	// alias is empty), at most the number asked for.
	MapiOff        int
	MapiOffAliases []string
}

// GetMapiHTTPState reads the organisation's MapiHttpEnabled and counts the
// mailboxes of recipientTypes that opted out of MAPI over HTTP (never
// limited to 1000), naming at most maxAliases of them.
func (c *Client) GetMapiHTTPState(ctx context.Context, recipientTypes []string, maxAliases int) (MapiHTTPState, error) {
	const op = "GetMapiHTTPState"
	var st MapiHTTPState
	if len(recipientTypes) == 0 {
		return st, &OpError{Op: op, Err: errors.New("no recipient type given")}
	}
	return c.getMapiHTTPState(ctx, op, recipientTypes, maxAliases)
}

// MapiHTTPWrite is the outcome of SetMapiHttpEnabledWhereDifferent.
type MapiHTTPWrite struct {
	// Before is the value the script found, Changed whether it wrote,
	// After the value read back.
	Before  bool `json:"Before"`
	Changed bool `json:"Changed"`
	After   bool `json:"After"`
}

// SetMapiHttpEnabledWhereDifferent sets the organisation's MapiHttpEnabled
// in one script only if it differs, and checks the value read back.
func (c *Client) SetMapiHttpEnabledWhereDifferent(ctx context.Context, enabled bool) (MapiHTTPWrite, error) {
	const op = "SetMapiHttpEnabledWhereDifferent"
	return c.setMapiHTTPWhereDifferent(ctx, op, enabled)
}
