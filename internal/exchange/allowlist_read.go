package exchange

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// The allow-list read joins the two reads that block-mailboxes and
// `exrunbook enforce` need, the recursive group expansion and every CAS
// mailbox, in one script: one PowerShell launch (about 3 s of snap-in
// load on a real server) instead of two, which is most of what a steady
// enforce run costs.

// allowListTail is the end of the mailbox script that the combined
// script replaces: it returns {grp, m, c} instead of {m, c}.
const allowListTail = "$r = [pscustomobject]@{ m = $m; c = $c }\n"

func allowListScript(group string, recipientTypes []string) (string, error) {
	grp := strings.TrimPrefix(expandGroupScript(group), scriptHeader)
	grpBody, ok := strings.CutSuffix(grp, jsonOut("$r", 4))
	if !ok {
		return "", errors.New("the group expansion script does not end as expected")
	}
	cas := strings.TrimPrefix(casMailboxesScript(recipientTypes), scriptHeader)
	casBody, ok := strings.CutSuffix(cas, allowListTail+jsonOut("$r", 3))
	if !ok {
		return "", errors.New("the mailbox script does not end as expected")
	}
	return scriptHeader + grpBody + "$grp = $r\n" + casBody +
		"$r = [pscustomobject]@{ grp = $grp; m = $m; c = $c }\n" +
		jsonOut("$r", 5), nil
}

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
	script, err := allowListScript(group, recipientTypes)
	if err != nil {
		return GroupExpansion{}, nil, &OpError{Op: op, Err: err}
	}
	out, err := c.run(ctx, op, script, "")
	if err != nil {
		return GroupExpansion{}, nil, err
	}
	grp, err := topLevelMember(out, "grp")
	if err != nil {
		return GroupExpansion{}, nil, badOutput(op, "%v", err)
	}
	mbx, err := parseCASMailboxes(out) // skips grp
	if err != nil {
		return GroupExpansion{}, nil, badOutput(op, "%v", err)
	}
	exp, err := decodeGroupExpansion(op, group, grp)
	if err != nil {
		if errors.Is(err, ErrGroupNotFound) {
			return exp, mbx, err
		}
		return GroupExpansion{}, nil, err
	}
	return exp, mbx, nil
}

// topLevelMember returns the raw JSON text of member key of the object in
// s, scanning past the others without decoding them.
func topLevelMember(s, key string) (string, error) {
	sc := &jsonScanner{s: s}
	if err := sc.expect('{'); err != nil {
		return "", fmt.Errorf("expected a JSON object: %w", err)
	}
	for first := true; ; first = false {
		more, err := sc.more('}', first)
		if err != nil {
			return "", err
		}
		if !more {
			return "", fmt.Errorf("property %s is missing", key)
		}
		k, err := sc.key()
		if err != nil {
			return "", err
		}
		sc.ws()
		start := sc.i
		if err := sc.skipValue(); err != nil {
			return "", err
		}
		if k == key {
			return s[start:sc.i], nil
		}
	}
}
