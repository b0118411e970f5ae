package exchange

import (
	"context"
	"fmt"
	"strings"
)

// ChangeResult is the outcome of one item of a compare-and-set write:
// whether the server found a different value and wrote the wanted one.
type ChangeResult struct {
	// ID is the item's GUID as sent.
	ID      string `json:"Id"`
	Changed bool   `json:"Changed"`
	OK      bool   `json:"Ok"`
	// Error is the server's message when OK is false.
	Error string `json:"Error"`
}

// URLCompare says how SetURLsWhereDifferent decides that a value differs.
type URLCompare int

const (
	// CompareApply compares URLs and host names case-insensitively and
	// Outlook Anywhere by ExternalHostname and ExternalClientsRequireSsl
	// only (the authentication method is passed back, not compared):
	// what a forward change needs.
	CompareApply URLCompare = iota
	// CompareExact compares every value byte for byte, including the
	// authentication method: what a restore needs.
	CompareExact
)

// SetURLsWhereDifferent is a whole external-URL change in ONE script:
// for every virtual directory, then every Outlook Anywhere, the server
// reads the current value by GUID, compares it with the wanted one (as
// mode says) and writes only when it differs. It returns one result per
// item, virtual directories first, in order; ID is the GUID. OWA and ECP
// change in the same script; MAPI passes the IISAuthenticationMethods it
// has just read back. A nil ExternalUrl or ExternalHostname means $null,
// compared and written as $null. Autodiscover and PowerShell virtual
// directories are refused, as is an unknown authentication method.
// Repeating the call after any failure is safe: what is already in place
// is not written again.
func (c *Client) SetURLsWhereDifferent(ctx context.Context, vdirs []VDirURLChange, oa []OutlookAnywhereChange, mode URLCompare) ([]ChangeResult, error) {
	const op = "SetURLsWhereDifferent"
	if len(vdirs)+len(oa) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(vdirs)+len(oa))
	vdirs = append(vdirs[:0:0], vdirs...) // normalised copies; the caller's slices are left alone
	oa = append(oa[:0:0], oa...)
	for i, ch := range vdirs {
		switch ch.Kind {
		case KindOWA, KindECP, KindMAPI, KindEWS, KindActiveSync, KindOAB:
		default:
			return nil, &OpError{Op: op, Err: fmt.Errorf("refusing to change the %q virtual directory", ch.Kind)}
		}
		g, err := checkGUID(op, "virtual directory", ch.Guid)
		if err != nil {
			return nil, err
		}
		vdirs[i].Guid = g
		ids = append(ids, g)
	}
	for i, ch := range oa {
		g, err := checkGUID(op, "Outlook Anywhere", ch.Guid)
		if err != nil {
			return nil, err
		}
		if m := ch.ExternalClientAuthenticationMethod; m != "" && !oaAuthMethods[strings.ToLower(m)] {
			return nil, &OpError{Op: op, Err: fmt.Errorf("ExternalClientAuthenticationMethod %q: expected Basic, Ntlm or Negotiate", m)}
		}
		oa[i].Guid = g
		ids = append(ids, g)
	}
	res, err := c.setURLsWhereDifferent(ctx, op, vdirs, oa, mode)
	if err != nil {
		return nil, err
	}
	return checkResults(op, "items", res, ids)
}
