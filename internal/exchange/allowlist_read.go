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
	if c.p != nil {
		return c.readAllowList(ctx, group, recipientTypes)
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

// allowListDecide is the decision, made on the server: members of the
// group (mailboxes at any depth) open, every other mailbox read blocked.
// It must agree with allowlist.Compute; the caller checks that it did.
const allowListDecide = `$want = @{}
foreach ($x in $grp.Members) {
    if ($x.t -eq 'UserMailbox') { $want[$x.g] = $true }
}
$flags = @{}
foreach ($x in $c) { $flags[$x.g] = $x }
$todo = New-Object System.Collections.Generic.List[object]
$allowed = 0
foreach ($x in $m) {
    $f = $flags[$x.g]
    if ($null -eq $f) { continue }
    $b = -not $want.ContainsKey($x.g)
    if (-not $b) { $allowed += 1 }
    if ($f.r -ne $b -or $f.x -ne $b) { $todo.Add([pscustomobject]@{ g = $x.g; b = $b }) }
}
$w = @()
if ($todo.Count -gt 0 -and $todo.Count -le $limit -and ($allowEmpty -or ($grp.Found -and $allowed -gt 0))) {
    $w = foreach ($t in $todo) {
        try {
            Set-CASMailbox -Identity $t.g -MAPIBlockOutlookRpcHttp $t.b -MAPIBlockOutlookExternalConnectivity $t.b
            [pscustomobject]@{ Id = $t.g; Ok = $true; Error = $null }
        } catch {
            [pscustomobject]@{ Id = $t.g; Ok = $false; Error = $_.Exception.Message }
        }
    }
}
`

func allowListWriteScript(group string, recipientTypes []string, w InlineWrite) (string, error) {
	read, err := allowListScript(group, recipientTypes)
	if err != nil {
		return "", err
	}
	body, ok := strings.CutSuffix(read, "$r = [pscustomobject]@{ grp = $grp; m = $m; c = $c }\n"+jsonOut("$r", 5))
	if !ok {
		return "", errors.New("the allow-list script does not end as expected")
	}
	allowEmpty := "$false"
	if w.AllowEmptyGroup {
		allowEmpty = "$true"
	}
	return body + fmt.Sprintf("$limit = %d\n$allowEmpty = %s\n", max(w.Limit, 0), allowEmpty) + allowListDecide +
		"$r = [pscustomobject]@{ grp = $grp; m = $m; c = $c; w = @($w) }\n" + jsonOut("$r", 5), nil
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
	if c.p != nil {
		// On the Exchange endpoint the decision is never made on the
		// server: this only reads, and the caller computes the
		// difference (allowlist.Compute) and writes it in batches.
		g, m, err := c.readAllowList(ctx, group, recipientTypes)
		return AllowListRun{Group: g, Mailboxes: m}, err
	}
	script, err := allowListWriteScript(group, recipientTypes, w)
	if err != nil {
		return AllowListRun{}, &OpError{Op: op, Err: err}
	}
	out, err := c.run(ctx, op, script, "")
	if err != nil {
		return AllowListRun{}, err
	}
	grp, err := topLevelMember(out, "grp")
	if err != nil {
		return AllowListRun{}, badOutput(op, "%v", err)
	}
	written, err := topLevelMember(out, "w")
	if err != nil {
		return AllowListRun{}, badOutput(op, "%v", err)
	}
	var run AllowListRun
	if strings.TrimSpace(written) != "[]" && strings.TrimSpace(written) != "null" {
		if run.Written, err = decodeList[ItemResult](op, written, itemFields); err != nil {
			return AllowListRun{}, err
		}
	}
	if run.Mailboxes, err = parseCASMailboxes(out); err != nil {
		return AllowListRun{}, badOutput(op, "%v", err)
	}
	run.Group, err = decodeGroupExpansion(op, group, grp)
	if err != nil && !errors.Is(err, ErrGroupNotFound) {
		return AllowListRun{}, err
	}
	return run, err
}
