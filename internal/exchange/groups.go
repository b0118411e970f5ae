package exchange

import (
	"context"
	"errors"
	"strings"
)

// ErrGroupNotFound is wrapped by ExpandGroup's error when the group does
// not exist (or cannot be read).
var ErrGroupNotFound = errors.New("group not found")

// GroupMember is a member found while expanding a group.
type GroupMember struct {
	Guid string `json:"g"`
	Name string `json:"n"`
	// RecipientType, e.g. UserMailbox, MailUser, MailContact,
	// DynamicDistributionGroup.
	RecipientType        string `json:"t"`
	RecipientTypeDetails string `json:"d"`
}

// NestedGroup is a group found inside the expanded group.
type NestedGroup struct {
	Guid string `json:"g"`
	Name string `json:"n"`
}

// GroupExpansion is a group expanded recursively.
type GroupExpansion struct {
	Name string
	Guid string
	// Mailboxes are the member mailboxes (RecipientType UserMailbox), by
	// GUID, each once, through every level of nesting.
	Mailboxes []GroupMember
	// Others are members that are not mailboxes (mail users, contacts,
	// dynamic groups, which are not expanded).
	Others []GroupMember
	// Groups are the nested groups that were expanded.
	Groups []NestedGroup
}

// MailboxGUIDs returns the member mailboxes' GUIDs.
func (g GroupExpansion) MailboxGUIDs() []string {
	out := make([]string, len(g.Mailboxes))
	for i, m := range g.Mailboxes {
		out[i] = m.Guid
	}
	return out
}

// Empty reports whether the group has no mailbox at any depth.
func (g GroupExpansion) Empty() bool { return len(g.Mailboxes) == 0 }

// ExpandGroup expands a distribution group recursively in one script. A
// missing group gives an error wrapping ErrGroupNotFound with the
// server's message; an empty group is reported by Empty().
func (c *Client) ExpandGroup(ctx context.Context, name string) (GroupExpansion, error) {
	const op = "ExpandGroup"
	if strings.TrimSpace(name) == "" {
		return GroupExpansion{}, &OpError{Op: op, Err: errors.New("no group name given")}
	}
	return c.expandGroup(ctx, op, name)
}
