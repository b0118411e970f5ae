package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// memberProps are what a group expansion reads of each member.
var memberProps = []string{"Guid", "Name", "RecipientType", "RecipientTypeDetails"}

func groupPipeline(name string) psrp.Pipeline {
	return pipeline(command("Get-DistributionGroup", param("Identity", name)), selectProps("Guid", "Name"))
}

func groupMembersPipeline(guid string) psrp.Pipeline {
	return pipeline(command("Get-DistributionGroupMember", param("Identity", guid), param("ResultSize", "Unlimited")),
		selectProps(memberProps...))
}

func dynamicGroupPipeline(guid string) psrp.Pipeline {
	return pipeline(command("Get-DynamicDistributionGroup", param("Identity", guid)),
		selectProps("Guid", "Name", "RecipientFilter", "RecipientContainer"))
}

func recipientPreviewPipeline(filter, container string) psrp.Pipeline {
	params := []psrp.Parameter{param("RecipientPreviewFilter", filter)}
	if container != "" {
		params = append(params, param("OrganizationalUnit", container))
	}
	params = append(params, param("ResultSize", "Unlimited"))
	return pipeline(command("Get-Recipient", params...), selectProps(memberProps...))
}

// isGroupType reports whether a RecipientType is a group whose members
// are stored (MailUniversalDistributionGroup, MailUniversalSecurityGroup,
// MailNonUniversalGroup).
func isGroupType(t string) bool {
	return strings.HasPrefix(t, "Mail") && strings.HasSuffix(t, "Group")
}

// expandGroup is ExpandGroup on the Exchange endpoint, the walk done in
// Go: one Get-DistributionGroupMember pipeline per group, by GUID, with
// a visited set so cycles end; a dynamic distribution group is expanded
// with Get-Recipient -RecipientPreviewFilter (its filter, in its
// container). Members that are neither mailboxes nor groups are kept in
// Others for the plan to report.
func (c *Client) expandGroup(ctx context.Context, op, name string) (GroupExpansion, error) {
	res, err := c.readResult(ctx, op, groupPipeline(name))
	if err != nil {
		return GroupExpansion{}, err
	}
	if len(res.Errors) > 0 {
		msg := res.Errors[0].Message
		if wsman.IsThrottling(msg) {
			return GroupExpansion{}, errkind.Transient(&OpError{Op: op, Err: fmt.Errorf("reading group %q: %s", name, msg)})
		}
		return GroupExpansion{}, &OpError{Op: op, Err: fmt.Errorf("%w: %q: %s", ErrGroupNotFound, name, msg)}
	}
	roots, err := rows(op, res.Output)
	if err != nil {
		return GroupExpansion{}, err
	}
	switch len(roots) {
	case 0:
		return GroupExpansion{}, &OpError{Op: op, Err: fmt.Errorf("%w: %q: Get-DistributionGroup returned nothing", ErrGroupNotFound, name)}
	case 1:
	default:
		return GroupExpansion{}, &OpError{Op: op, Err: fmt.Errorf("the name %q matches %d groups: name the group by its GUID or e-mail address", name, len(roots))}
	}
	root := roots[0]
	exp := GroupExpansion{Guid: root.guid("Guid"), Name: root.str("Name")}
	if root.err != nil {
		return GroupExpansion{}, root.err
	}
	visited := map[string]bool{exp.Guid: true}
	seen := map[string]bool{}
	type work struct {
		guid    string
		dynamic bool
	}
	add := func(rs []*row) ([]work, error) {
		var more []work
		for _, r := range rs {
			m := GroupMember{Guid: r.guid("Guid"), Name: r.str("Name"), RecipientType: r.str("RecipientType"), RecipientTypeDetails: r.str("RecipientTypeDetails")}
			if r.err != nil {
				return nil, r.err
			}
			dynamic := m.RecipientType == "DynamicDistributionGroup"
			switch {
			case isGroupType(m.RecipientType) || dynamic:
				if visited[m.Guid] {
					continue
				}
				visited[m.Guid] = true
				exp.Groups = append(exp.Groups, NestedGroup{Guid: m.Guid, Name: m.Name})
				more = append(more, work{m.Guid, dynamic})
			case seen[m.Guid]:
				// a member of several groups
			default:
				seen[m.Guid] = true
				if m.RecipientType == "UserMailbox" {
					exp.Mailboxes = append(exp.Mailboxes, m)
				} else {
					exp.Others = append(exp.Others, m)
				}
			}
		}
		return more, nil
	}
	queue := []work{{guid: exp.Guid}}
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		var rs []*row
		if w.dynamic {
			rs, err = c.dynamicMembers(ctx, op, w.guid)
		} else {
			var out []psrp.Value
			out, err = c.readPipeline(ctx, op, groupMembersPipeline(w.guid), nil)
			if err == nil {
				rs, err = rows(op, out)
			}
		}
		if err != nil {
			return GroupExpansion{}, err
		}
		more, err := add(rs)
		if err != nil {
			return GroupExpansion{}, err
		}
		queue = append(queue, more...)
	}
	return exp, nil
}

// dynamicMembers previews a dynamic distribution group's members: its
// RecipientFilter in its RecipientContainer.
func (c *Client) dynamicMembers(ctx context.Context, op, guid string) ([]*row, error) {
	out, err := c.readPipeline(ctx, op, dynamicGroupPipeline(guid), nil)
	if err != nil {
		return nil, err
	}
	rs, err := rows(op, out)
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 {
		return nil, badOutput(op, "Get-DynamicDistributionGroup %s returned %d objects", guid, len(rs))
	}
	filter, container := rs[0].need("RecipientFilter"), rs[0].str("RecipientContainer")
	if rs[0].err != nil {
		return nil, rs[0].err
	}
	out, err = c.readPipeline(ctx, op, recipientPreviewPipeline(filter, container), nil)
	if err != nil {
		return nil, err
	}
	return rows(op, out)
}

// readAllowList is ReadAllowList on the Exchange endpoint: the group
// expansion, then the mailboxes; a missing group still returns the
// mailboxes, with an error wrapping ErrGroupNotFound.
func (c *Client) readAllowList(ctx context.Context, group string, recipientTypes []string) (GroupExpansion, []CASMailbox, error) {
	exp, gerr := c.ExpandGroup(ctx, group)
	if gerr != nil && !errors.Is(gerr, ErrGroupNotFound) {
		return GroupExpansion{}, nil, gerr
	}
	mbx, err := c.GetCASMailboxes(ctx, recipientTypes)
	if err != nil {
		return GroupExpansion{}, nil, err
	}
	return exp, mbx, gerr
}
