package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/winrm"
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

// Get-DistributionGroupMember is not recursive: the script walks nested
// groups level by level, by GUID, with a visited set, so cycles end.
func expandGroupScript(name string) string {
	return scriptHeader + `$name = ` + Quote(name) + `
$root = $null
$missing = $null
try {
    $root = Get-DistributionGroup -Identity $name
} catch {
    $missing = $_.Exception.Message
}
if ($null -eq $root) {
    $r = [pscustomobject]@{ Found = $false; Error = $missing; Name = $name; Guid = $null; Groups = @(); Members = @() }
} else {
    $rootId = $root.Guid.ToString()
    $visited = New-Object System.Collections.Generic.List[object]
    $visited.Add($rootId)
    $groups = New-Object System.Collections.Generic.List[object]
    $members = New-Object System.Collections.Generic.List[object]
    $level = @($rootId)
    while ($level.Count -gt 0) {
        $next = New-Object System.Collections.Generic.List[object]
        foreach ($g in $level) {
            foreach ($m in Get-DistributionGroupMember -Identity $g -ResultSize Unlimited) {
                $id = $m.Guid.ToString()
                $t = [string]$m.RecipientType
                if ($t -like 'Mail*Group') {
                    if ($visited -notcontains $id) {
                        $visited.Add($id)
                        $next.Add($id)
                        $groups.Add([pscustomobject]@{ g = $id; n = [string]$m.Name })
                    }
                } else {
                    $members.Add([pscustomobject]@{ g = $id; n = [string]$m.Name; t = $t; d = [string]$m.RecipientTypeDetails })
                }
            }
        }
        $level = @($next)
    }
    $r = [pscustomobject]@{ Found = $true; Error = $null; Name = [string]$root.Name; Guid = $rootId; Groups = @($groups); Members = @($members) }
}
` + jsonOut("$r", 4)
}

// ExpandGroup expands a distribution group recursively in one script. A
// missing group gives an error wrapping ErrGroupNotFound with the
// server's message; an empty group is reported by Empty().
func (c *Client) ExpandGroup(ctx context.Context, name string) (GroupExpansion, error) {
	const op = "ExpandGroup"
	if strings.TrimSpace(name) == "" {
		return GroupExpansion{}, &OpError{Op: op, Err: errors.New("no group name given")}
	}
	if c.p != nil {
		return c.expandGroup(ctx, op, name)
	}
	out, err := c.run(ctx, op, expandGroupScript(name), "")
	if err != nil {
		return GroupExpansion{}, err
	}
	return decodeGroupExpansion(op, name, out)
}

// decodeGroupExpansion reads the expansion script's JSON object (out)
// into a GroupExpansion; ExpandGroup and ReadAllowList share it.
func decodeGroupExpansion(op, name, out string) (GroupExpansion, error) {
	type result struct {
		Found   bool          `json:"Found"`
		Error   *string       `json:"Error"`
		Name    string        `json:"Name"`
		Guid    *string       `json:"Guid"`
		Groups  []NestedGroup `json:"Groups"`
		Members []GroupMember `json:"Members"`
	}
	r, err := decodeSingle[result](op, out, append(req("Found", "Name"), opt("Error", "Guid", "Groups", "Members")...))
	if err != nil {
		return GroupExpansion{}, err
	}
	if !r.Found {
		msg := ""
		if r.Error != nil {
			msg = *r.Error
		}
		if winrm.IsThrottling(msg) {
			return GroupExpansion{}, engine.Transient(&OpError{Op: op, Err: fmt.Errorf("reading group %q: %s", name, msg)})
		}
		return GroupExpansion{}, &OpError{Op: op, Err: fmt.Errorf("%w: %q: %s", ErrGroupNotFound, name, msg)}
	}
	if r.Guid == nil {
		return GroupExpansion{}, badOutput(op, "the group has no GUID")
	}
	exp := GroupExpansion{Name: r.Name, Guid: *r.Guid, Groups: r.Groups}
	seen := map[string]bool{}
	for _, m := range r.Members {
		if m.Guid == "" {
			return GroupExpansion{}, badOutput(op, "member %q has no GUID", m.Name)
		}
		key := strings.ToLower(m.Guid)
		if seen[key] {
			continue // a member of several nested groups
		}
		seen[key] = true
		if m.RecipientType == "UserMailbox" {
			exp.Mailboxes = append(exp.Mailboxes, m)
		} else {
			exp.Others = append(exp.Others, m)
		}
	}
	return exp, nil
}
