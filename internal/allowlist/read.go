package allowlist

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/internal/exchange"
)

// Reader reads the allow group and the mailboxes in one script;
// *exchange.Client is one.
type Reader interface {
	ReadAllowList(ctx context.Context, group string, recipientTypes []string) (exchange.GroupExpansion, []exchange.CASMailbox, error)
}

// Read expands the allow group and reads every mailbox of the recipient
// types in one PowerShell launch, then computes the difference. A missing
// group is an empty one when the limits allow an empty group; otherwise
// it is a *errkind.SafetyError naming it (as ExpandGroup). GroupMissing
// reports that the group did not exist.
func Read(ctx context.Context, r Reader, group string, recipientTypes []string, lim Limits) (d Diff, mailboxes []exchange.CASMailbox, groupMissing bool, err error) {
	g, mbx, err := r.ReadAllowList(ctx, group, recipientTypes)
	if errors.Is(err, exchange.ErrGroupNotFound) {
		if !lim.AllowEmptyGroup {
			return Diff{Group: group}, nil, true, missingGroup(group)
		}
		g, err, groupMissing = exchange.GroupExpansion{Name: group}, nil, true
	}
	if err != nil {
		return Diff{Group: group}, nil, false, err
	}
	return Compute(mbx, g), mbx, groupMissing, nil
}

// EncodeChanges writes changes compactly, one string per change:
// "GUID|FT|alias" with F and T the from and to flags as digits 0-3
// (bit 1 RpcHttp, bit 2 External). A snapshot of 100,000 changes is
// then about 6 MB instead of 15 MB of JSON objects.
func EncodeChanges(changes []Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.Guid + "|" + string([]byte{flagDigit(c.From), flagDigit(c.To)}) + "|" + c.Alias
	}
	return out
}

func flagDigit(f Flags) byte {
	b := byte('0')
	if f.RpcHttp {
		b++
	}
	if f.External {
		b += 2
	}
	return b
}

func digitFlags(b byte) (Flags, bool) {
	if b < '0' || b > '3' {
		return Flags{}, false
	}
	v := b - '0'
	return Flags{RpcHttp: v&1 != 0, External: v&2 != 0}, true
}

// DecodeChanges reads what EncodeChanges wrote.
func DecodeChanges(enc []string) ([]Change, error) {
	out := make([]Change, len(enc))
	for i, s := range enc {
		guid, rest, ok1 := strings.Cut(s, "|")
		flags, alias, ok2 := strings.Cut(rest, "|")
		if !ok1 || !ok2 || len(flags) != 2 || !validGUID(guid) {
			return nil, fmt.Errorf("change %d: %q is not GUID|FT|alias", i, s)
		}
		from, okF := digitFlags(flags[0])
		to, okT := digitFlags(flags[1])
		if !okF || !okT {
			return nil, fmt.Errorf("change %d: %q: flags %q are not two digits 0-3", i, s, flags)
		}
		out[i] = Change{Guid: strings.ToLower(guid), Alias: alias, From: from, To: to}
	}
	return out, nil
}

// validGUID accepts the 36-character hyphenated form only.
func validGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// InlineReader reads the allow group and the mailboxes and, when the
// difference is small, writes it in the same script;
// *exchange.Client is one.
type InlineReader interface {
	ReadAllowListAndWrite(ctx context.Context, group string, recipientTypes []string, w exchange.InlineWrite) (exchange.AllowListRun, error)
}

// ReadAndWrite is Read that lets the server write the difference in the
// same launch when it has at most inline changes (and MaxChanges, and the
// group checks, allow it): the usual run, with a handful of changes, then
// costs one PowerShell launch. inline 0 only reads (a dry run).
//
// The difference is computed here, by Compute, from the mailboxes as read
// before the writes; the script's writes must be exactly its changes,
// otherwise an error says so. Audit is called for every inline write.
// written reports whether the script wrote; when it did not and the
// difference is not empty, the caller writes it with Apply (or refuses
// it with Check).
func ReadAndWrite(ctx context.Context, r InlineReader, group string, recipientTypes []string, lim Limits, inline int, h Hooks) (d Diff, res Result, written, groupMissing bool, err error) {
	if lim.MaxChanges > 0 {
		inline = min(inline, lim.MaxChanges)
	}
	run, err := r.ReadAllowListAndWrite(ctx, group, recipientTypes, exchange.InlineWrite{Limit: inline, AllowEmptyGroup: lim.AllowEmptyGroup})
	g := run.Group
	if errors.Is(err, exchange.ErrGroupNotFound) {
		groupMissing = true
		if !lim.AllowEmptyGroup {
			if len(run.Written) > 0 {
				return Diff{Group: group}, res, true, true, fmt.Errorf("the server wrote %d mailboxes although the allow group %q does not exist", len(run.Written), group)
			}
			return Diff{Group: group}, res, false, true, missingGroup(group)
		}
		g, err = exchange.GroupExpansion{Name: group}, nil
	}
	if err != nil {
		return Diff{Group: group}, res, false, false, err
	}
	d = Compute(run.Mailboxes, g)
	if len(run.Written) == 0 {
		return d, res, false, groupMissing, nil
	}
	// The server decided; hold its writes to the one implementation.
	// Every write is audited, even one the difference does not explain.
	want := make(map[string]Change, len(d.Changes))
	for _, c := range d.Changes {
		want[c.Guid] = c
	}
	var stray []string
	for _, it := range run.Written {
		id := strings.ToLower(it.ID)
		c, ok := want[id]
		if !ok {
			c = Change{Guid: id}
			stray = append(stray, id)
		}
		delete(want, id)
		var ferr error
		if !it.OK {
			ferr = errors.New(it.Error)
			res.Failed = append(res.Failed, Failure{Change: c, Error: it.Error})
		} else {
			res.Applied = append(res.Applied, c)
		}
		if h.Audit != nil {
			h.Audit(c, ferr)
		}
	}
	if cerr := Check(d, lim); cerr != nil {
		return d, res, true, groupMissing, fmt.Errorf("the server wrote %d mailboxes although the limits refuse the run: %v", len(run.Written), cerr)
	}
	if len(stray) > 0 || len(want) > 0 {
		return d, res, true, groupMissing, fmt.Errorf("the server's writes differ from the difference: %d written outside it (%s), %d of it not written",
			len(stray), strings.Join(stray, ", "), len(want))
	}
	if h.Progress != nil {
		h.Progress(len(d.Changes), len(d.Changes))
	}
	return d, res, true, groupMissing, nil
}
