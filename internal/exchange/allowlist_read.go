package exchange

import (
	"context"
	"errors"
	"strings"
)

// The allow-list read joins the two reads that block-mailboxes and
// `exrunbook enforce` need, the recursive group expansion and every CAS
// mailbox, in one script: one PowerShell launch (about 3 s of snap-in
// load on a real server) instead of two, which is most of what a steady
// enforce run costs.

// ReadAllowList expands the allow group recursively (as ExpandGroup) and
// reads every mailbox of the recipient types with its CAS flags (as
// GetCASMailboxes, -ResultSize Unlimited), in one script. When the group
// does not exist the error wraps ErrGroupNotFound and the mailboxes are
// still returned, so that a caller allowed to proceed with an empty group
// needs no second read.
func (c *Client) ReadAllowList(ctx context.Context, group string, recipientTypes []string) (GroupExpansion, []CASMailbox, error) {
	const op = "ReadAllowList"
	if strings.TrimSpace(group) == "" {
		return GroupExpansion{}, nil, &OpError{Op: op, Err: errors.New("no group name given")}
	}
	if len(recipientTypes) == 0 {
		return GroupExpansion{}, nil, &OpError{Op: op, Err: errors.New("no recipient type given")}
	}
	return c.readAllowList(ctx, group, recipientTypes)
}

// InlineWrite says when ReadAllowListAndWrite writes in the same script
// as it reads: only when the number of mailboxes to change is between 1
// and Limit (0: never), and the group exists and allows a mailbox unless
// AllowEmptyGroup. Otherwise it only reads, and the caller writes in
// batches (or refuses).
type InlineWrite struct {
	Limit           int
	AllowEmptyGroup bool
}

// AllowListRun is what ReadAllowListAndWrite found and did.
type AllowListRun struct {
	Group GroupExpansion
	// Mailboxes are as read, before any write.
	Mailboxes []CASMailbox
	// Written are the script's writes, one per mailbox it changed, each
	// with Exchange's verdict; empty when it only read.
	Written []ItemResult
}

// ReadAllowListAndWrite is ReadAllowList that, when the difference is
// small (see InlineWrite), also writes it in the same script: a run with
// a few changes then costs one PowerShell launch instead of two. The
// mailboxes returned are as read before the writes, so the caller can
// compute the difference itself and check the script's writes against
// it. A missing group is reported as by ReadAllowList.
func (c *Client) ReadAllowListAndWrite(ctx context.Context, group string, recipientTypes []string, w InlineWrite) (AllowListRun, error) {
	const op = "ReadAllowListAndWrite"
	if strings.TrimSpace(group) == "" {
		return AllowListRun{}, &OpError{Op: op, Err: errors.New("no group name given")}
	}
	if len(recipientTypes) == 0 {
		return AllowListRun{}, &OpError{Op: op, Err: errors.New("no recipient type given")}
	}
	// On the Exchange endpoint the decision is never made on the
	// server: this only reads, and the caller computes the
	// difference (allowlist.Compute) and writes it in batches.
	g, m, err := c.readAllowList(ctx, group, recipientTypes)
	return AllowListRun{Group: g, Mailboxes: m}, err
}
