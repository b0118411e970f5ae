// Package allowlist is the one implementation of "block external Outlook
// for every mailbox outside the allow group" that both the block-mailboxes
// step and `exrunbook enforce` use. It computes the difference between what
// every mailbox's two flags are and what the allow group says they should
// be, guards it with the safety limits, and writes only what differs, in
// batches, in both directions: new mailboxes and people removed from the
// group are blocked, people added to the group are unblocked.
package allowlist

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

// Flags are the two CAS mailbox blocks the runbook manages.
type Flags struct {
	RpcHttp  bool `json:"rpc"` // MAPIBlockOutlookRpcHttp
	External bool `json:"ext"` // MAPIBlockOutlookExternalConnectivity
}

// Blocked and Open are the two states the allow group decides between.
var (
	Blocked = Flags{RpcHttp: true, External: true}
	Open    = Flags{}
)

func (f Flags) String() string {
	return fmt.Sprintf("RpcHttp=%s External=%s", psBool(f.RpcHttp), psBool(f.External))
}

func psBool(b bool) string {
	if b {
		return "$true"
	}
	return "$false"
}

// Change is one mailbox whose flags differ from what the group decides.
type Change struct {
	Guid  string `json:"guid"`
	Alias string `json:"alias,omitempty"`
	SMTP  string `json:"smtp,omitempty"`
	From  Flags  `json:"from"`
	To    Flags  `json:"to"`
}

// Direction says what the change does to the mailbox's external access.
func (c Change) Direction() string {
	switch c.To {
	case Blocked:
		return "block"
	case Open:
		return "unblock"
	}
	return "set"
}

// Label names the mailbox for people: alias and address, then GUID.
func (c Change) Label() string {
	var parts []string
	if c.Alias != "" {
		parts = append(parts, c.Alias)
	}
	if c.SMTP != "" {
		parts = append(parts, "<"+c.SMTP+">")
	}
	parts = append(parts, c.Guid)
	return strings.Join(parts, " ")
}

// Diff is the difference between the organisation and the allow group.
type Diff struct {
	Group        string `json:"group"`
	GroupGuid    string `json:"group_guid,omitempty"`
	NestedGroups int    `json:"nested_groups"`
	// Mailboxes is how many mailboxes of the configured recipient types
	// were read; Allowed how many of them the group allows.
	Mailboxes int `json:"mailboxes"`
	Allowed   int `json:"allowed"`
	// Changes are the mailboxes whose flags must change, sorted by GUID.
	Changes []Change `json:"changes"`
	// Missing are group members that are mailboxes but are not in the
	// mailbox list (another recipient type, or gone): they are reported,
	// never written.
	Missing []exchange.GroupMember `json:"missing,omitempty"`
}

// Blocks and Unblocks count the changes by direction.
func (d Diff) Blocks() int   { return d.count("block") }
func (d Diff) Unblocks() int { return d.count("unblock") }

func (d Diff) count(dir string) int {
	n := 0
	for _, c := range d.Changes {
		if c.Direction() == dir {
			n++
		}
	}
	return n
}

// Compute decides, for every mailbox, the flags the group asks for: open
// for members (at any depth, by GUID), blocked for everyone else; and
// returns only the mailboxes whose flags differ.
func Compute(mailboxes []exchange.CASMailbox, group exchange.GroupExpansion) Diff {
	allow := make(map[string]bool, len(group.Mailboxes))
	for _, m := range group.Mailboxes {
		allow[strings.ToLower(m.Guid)] = true
	}
	d := Diff{Group: group.Name, GroupGuid: group.Guid, NestedGroups: len(group.Groups), Mailboxes: len(mailboxes)}
	seen := make(map[string]bool, len(allow))
	for _, m := range mailboxes {
		g := strings.ToLower(m.Guid)
		want := Blocked
		if allow[g] {
			want = Open
			d.Allowed++
			seen[g] = true
		}
		have := Flags{RpcHttp: m.MAPIBlockOutlookRpcHttp, External: m.MAPIBlockOutlookExternalConnectivity}
		if have != want {
			d.Changes = append(d.Changes, Change{Guid: g, Alias: m.Alias, SMTP: m.PrimarySmtpAddress, From: have, To: want})
		}
	}
	for _, m := range group.Mailboxes {
		if !seen[strings.ToLower(m.Guid)] {
			d.Missing = append(d.Missing, m)
		}
	}
	sort.Slice(d.Changes, func(i, j int) bool { return d.Changes[i].Guid < d.Changes[j].Guid })
	sort.Slice(d.Missing, func(i, j int) bool { return d.Missing[i].Guid < d.Missing[j].Guid })
	return d
}

// Limits are the safety limits a run is held to.
type Limits struct {
	// MaxChanges refuses a run that would change more mailboxes than this
	// (0: no limit). An emptied group must not block the whole company.
	MaxChanges int
	// AllowEmptyGroup lets an empty or missing allow group through: every
	// mailbox is then blocked.
	AllowEmptyGroup bool
}

// ExpandGroup expands the allow group, turning a missing group into an
// empty one only when the limits allow an empty group. Otherwise a missing
// group is a *engine.SafetyError that names it.
func ExpandGroup(ctx context.Context, ex *exchange.Client, name string, lim Limits) (exchange.GroupExpansion, error) {
	g, err := ex.ExpandGroup(ctx, name)
	if errors.Is(err, exchange.ErrGroupNotFound) {
		if lim.AllowEmptyGroup {
			return exchange.GroupExpansion{Name: name}, nil
		}
		return g, &engine.SafetyError{Limit: "allow-group",
			Detail: fmt.Sprintf("the allow group %q does not exist (mailboxes.allow_group): without it every mailbox would be blocked; create the group, fix the name, or pass --allow-empty-group", name)}
	}
	return g, err
}

// Check holds a difference to the limits: an empty allow group, or more
// changes than MaxChanges, is a *engine.SafetyError naming the group and
// the numbers.
func Check(d Diff, lim Limits) error {
	if d.Allowed == 0 && len(d.Missing) == 0 && !lim.AllowEmptyGroup {
		return &engine.SafetyError{Limit: "empty-allow-group",
			Detail: fmt.Sprintf("the allow group %q has no mailbox at any depth: every one of %d mailboxes would be blocked; fill the group or pass --allow-empty-group", d.Group, d.Mailboxes)}
	}
	if lim.MaxChanges > 0 && len(d.Changes) > lim.MaxChanges {
		return &engine.SafetyError{Limit: "max-changes",
			Detail: fmt.Sprintf("%d mailboxes would change (%d blocked, %d unblocked) against allow group %q, more than --max-changes %d; check the group, then rerun with a higher --max-changes",
				len(d.Changes), d.Blocks(), d.Unblocks(), d.Group, lim.MaxChanges)}
	}
	return nil
}

// Writer writes one batch of flags; *exchange.Client is one.
type Writer interface {
	SetCASMailboxFlags(ctx context.Context, batch []exchange.FlagChange) ([]exchange.ItemResult, error)
}

// Failure is a change Exchange refused, with its own words.
type Failure struct {
	Change Change `json:"change"`
	Error  string `json:"error"`
}

// Result is what Apply wrote.
type Result struct {
	Applied []Change  `json:"applied"`
	Failed  []Failure `json:"failed,omitempty"`
}

// Hooks let the caller follow Apply: Progress after each batch, Audit
// for every mailbox written (err nil when Exchange accepted it). Either may
// be nil.
type Hooks struct {
	Progress func(done, total int)
	Audit    func(c Change, err error)
}

// Apply writes changes in batches of batchSize (capped at
// exchange.MaxFlagBatch), one PowerShell launch per batch. A mailbox that
// Exchange refuses is a Failure and the others go on; an error of the
// batch as a whole (transport, throttling) stops Apply and is returned with
// what was written before it, so that a retry writes only the rest.
func Apply(ctx context.Context, w Writer, changes []Change, batchSize int, h Hooks) (Result, error) {
	var res Result
	if batchSize <= 0 || batchSize > exchange.MaxFlagBatch {
		batchSize = exchange.MaxFlagBatch
	}
	for start := 0; start < len(changes); start += batchSize {
		end := min(start+batchSize, len(changes))
		batch := changes[start:end]
		req := make([]exchange.FlagChange, len(batch))
		for i, c := range batch {
			req[i] = exchange.FlagChange{Guid: c.Guid, MAPIBlockOutlookRpcHttp: c.To.RpcHttp, MAPIBlockOutlookExternalConnectivity: c.To.External}
		}
		items, err := w.SetCASMailboxFlags(ctx, req)
		if err != nil {
			return res, err
		}
		byID := make(map[string]exchange.ItemResult, len(items))
		for _, it := range items {
			byID[strings.ToLower(it.ID)] = it
		}
		for _, c := range batch {
			it, ok := byID[c.Guid]
			var ferr error
			switch {
			case !ok:
				ferr = errors.New("no result from Exchange for this mailbox")
			case !it.OK:
				ferr = errors.New(it.Error)
			}
			if ferr != nil {
				res.Failed = append(res.Failed, Failure{Change: c, Error: ferr.Error()})
			} else {
				res.Applied = append(res.Applied, c)
			}
			if h.Audit != nil {
				h.Audit(c, ferr)
			}
		}
		if h.Progress != nil {
			h.Progress(end, len(changes))
		}
	}
	return res, nil
}

// Reverse turns changes into the changes that undo them.
func Reverse(changes []Change) []Change {
	out := make([]Change, len(changes))
	for i, c := range changes {
		out[i] = c
		out[i].From, out[i].To = c.To, c.From
	}
	return out
}

// Pending returns the changes whose mailbox does not yet have the target
// flags, judged by the current mailbox list: what an interrupted Apply
// still has to write. Mailboxes no longer present are left out.
func Pending(changes []Change, current []exchange.CASMailbox) []Change {
	now := make(map[string]Flags, len(current))
	for _, m := range current {
		now[strings.ToLower(m.Guid)] = Flags{RpcHttp: m.MAPIBlockOutlookRpcHttp, External: m.MAPIBlockOutlookExternalConnectivity}
	}
	var out []Change
	for _, c := range changes {
		if f, ok := now[c.Guid]; ok && f != c.To {
			c.From = f
			out = append(out, c)
		}
	}
	return out
}
