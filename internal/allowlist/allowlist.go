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
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/pause"
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
	Guid string `json:"guid"`
	// Alias is the name people know the mailbox by: its alias or, when
	// the read carries none (Get-CASMailbox on the Exchange endpoint has
	// no Alias property), its name.
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
			alias := m.Alias
			if alias == "" {
				alias = m.Name
			}
			d.Changes = append(d.Changes, Change{Guid: g, Alias: alias, SMTP: m.PrimarySmtpAddress, From: have, To: want})
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
// group is a *errkind.SafetyError that names it.
func ExpandGroup(ctx context.Context, ex *exchange.Client, name string, lim Limits) (exchange.GroupExpansion, error) {
	g, err := ex.ExpandGroup(ctx, name)
	if errors.Is(err, exchange.ErrGroupNotFound) {
		if lim.AllowEmptyGroup {
			return exchange.GroupExpansion{Name: name}, nil
		}
		return g, missingGroup(name)
	}
	return g, err
}

// missingGroup is the refusal of an allow group that does not exist.
func missingGroup(name string) *errkind.SafetyError {
	return &errkind.SafetyError{Limit: "allow-group", Override: errkind.OverrideAllowEmptyGroup,
		Detail: fmt.Sprintf("the allow group %q does not exist (mailboxes.allow_group): without it every mailbox would be blocked; create the group or fix the name", name)}
}

// Check holds a difference to the limits: an empty allow group, or more
// changes than MaxChanges, is a *errkind.SafetyError naming the group, the
// numbers and the override that would let it through.
func Check(d Diff, lim Limits) error {
	if d.Allowed == 0 && len(d.Missing) == 0 && !lim.AllowEmptyGroup {
		return &errkind.SafetyError{Limit: "empty-allow-group", Override: errkind.OverrideAllowEmptyGroup,
			Detail: fmt.Sprintf("the allow group %q has no mailbox at any depth: every one of %d mailboxes would be blocked; fill the group", d.Group, d.Mailboxes)}
	}
	if lim.MaxChanges > 0 && len(d.Changes) > lim.MaxChanges {
		return &errkind.SafetyError{Limit: "max-changes", Override: errkind.OverrideMaxChanges,
			Detail: fmt.Sprintf("%d mailboxes would change (%d blocked, %d unblocked) against allow group %q, more than the limit of %d; check the group",
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

// Hooks let the caller follow Apply: Progress after each batch (done
// counts the mailboxes of every completed batch), Audit for every mailbox
// written (err nil when Exchange accepted it), and Checkpoint with the
// number of changes, from the start of the list, that are written: the
// end of the longest run of completed batches from the first one. Any may
// be nil. Apply calls them one at a time, never concurrently.
type Hooks struct {
	Progress   func(done, total int)
	Audit      func(c Change, err error)
	Checkpoint func(done int)
}

// Options say how Apply writes.
type Options struct {
	// BatchSize is the most mailboxes one pipeline writes (capped at
	// exchange.MaxFlagBatch; that when 0). With Concurrency above 1 the
	// batches are made smaller, down to 25, to give every pipeline about
	// four of them.
	BatchSize int
	// Concurrency is how many batches are written at once, each its own
	// pipeline in the one session (exchange.concurrency; 1 when 0).
	Concurrency int
	// Retries is how many more times a batch that failed with a transient
	// error (throttling, a dropped connection) is written again; 0: never.
	Retries int
	// Backoff is the pause before the first retry; it doubles for each
	// further one. While a batch backs off, no new batch starts (the
	// batches already running finish): Exchange that throttles one
	// pipeline is told to slow down, not hit harder.
	Backoff time.Duration
}

// DefaultRetries and DefaultBackoff are what the runbook uses: four more
// attempts, 2 s, 4 s, 8 s, 16 s apart (about half a minute, past
// Exchange's usual throttling window of a few seconds to tens of seconds).
const (
	DefaultRetries = 4
	DefaultBackoff = 2 * time.Second
)

// batchOutcome is what one batch's pipeline returned.
type batchOutcome struct {
	applied []Change
	failed  []Failure
}

// Apply writes changes in batches of o.BatchSize, each batch one
// pipeline that streams its GUIDs into Set-CASMailbox, up to
// o.Concurrency batches at once. A mailbox that Exchange refuses is a
// Failure and the others go on. A batch that fails as a whole with a
// transient error is retried after a backoff (see Options); any other
// batch error, or a transient one past the retries, stops Apply: no new
// batch starts, the running ones finish, and the error is returned with
// everything written (Result lists the batches that completed, in order),
// so that a retry writes only the rest.
//
// Batches can complete out of order. A batch is recorded done (Audit,
// Progress) only when its pipeline completed; Checkpoint reports only
// the prefix of the list whose batches all completed, so a run resumed
// from a checkpoint starts at a batch boundary and rewrites at most the
// Concurrency-1 batches that had completed beyond it (the writes are
// idempotent; Pending, against a fresh read, skips them anyway).
func Apply(ctx context.Context, w Writer, changes []Change, o Options, h Hooks) (Result, error) {
	size := batchSize(len(changes), o)
	n := (len(changes) + size - 1) / size
	workers := max(1, min(o.Concurrency, n))
	outs := make([]*batchOutcome, n)

	var (
		mu         sync.Mutex // guards everything below and serialises the hooks
		next       int        // the next batch to start
		done       int        // mailboxes of completed batches
		mark       int        // batches completed from the first, in order
		firstErr   error
		pauseUntil time.Time
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// take hands out the next batch, after any backoff pause; -1 when
	// there is none or Apply is stopping.
	take := func() int {
		for {
			mu.Lock()
			if firstErr != nil || next >= n {
				mu.Unlock()
				return -1
			}
			wait := time.Until(pauseUntil)
			if wait <= 0 {
				i := next
				next++
				mu.Unlock()
				return i
			}
			mu.Unlock()
			if pause.For(ctx, wait) != nil {
				return -1
			}
		}
	}
	finish := func(i int, out *batchOutcome, batch []Change) {
		mu.Lock()
		defer mu.Unlock()
		outs[i] = out
		failed := make(map[string]string, len(out.failed))
		for _, f := range out.failed {
			failed[f.Change.Guid] = f.Error
		}
		if h.Audit != nil {
			for _, c := range batch {
				var err error
				if msg, bad := failed[c.Guid]; bad {
					err = errors.New(msg)
				}
				h.Audit(c, err)
			}
		}
		done += len(batch)
		if h.Progress != nil {
			h.Progress(done, len(changes))
		}
		advanced := false
		for mark < n && outs[mark] != nil {
			mark++
			advanced = true
		}
		if advanced && h.Checkpoint != nil {
			h.Checkpoint(min(mark*size, len(changes)))
		}
	}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	backoff := func(attempt int) error {
		d := o.Backoff << attempt
		mu.Lock()
		if t := time.Now().Add(d); t.After(pauseUntil) {
			pauseUntil = t
		}
		mu.Unlock()
		return pause.For(ctx, d)
	}

	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := take(); i >= 0; i = take() {
				batch := changes[i*size : min((i+1)*size, len(changes))]
				for attempt := 0; ; attempt++ {
					out, err := writeBatch(ctx, w, batch)
					if err == nil {
						finish(i, out, batch)
						break
					}
					if !errkind.IsTransient(err) || attempt >= o.Retries {
						fail(err)
						break
					}
					if serr := backoff(attempt); serr != nil {
						fail(err)
						break
					}
				}
			}
		}()
	}
	wg.Wait()

	var res Result
	for _, out := range outs {
		if out != nil {
			res.Applied = append(res.Applied, out.applied...)
			res.Failed = append(res.Failed, out.failed...)
		}
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return res, firstErr
}

// batchSize is the size Apply cuts changes into: o.BatchSize at most, but
// small enough that every one of the o.Concurrency pipelines gets about
// four batches (so that no pipeline idles while one slow batch finishes),
// and no smaller than minParallelBatch (a pipeline costs about 50 ms of
// its own, a mailbox about 100 ms).
func batchSize(n int, o Options) int {
	size := o.BatchSize
	if size <= 0 || size > exchange.MaxFlagBatch {
		size = exchange.MaxFlagBatch
	}
	if c := o.Concurrency; c > 1 {
		spread := max(minParallelBatch, (n+4*c-1)/(4*c))
		size = min(size, spread)
	}
	return size
}

// minParallelBatch is the smallest batch Apply makes to spread changes
// over its pipelines.
const minParallelBatch = 25

// writeBatch writes one batch and sorts its mailboxes into written and
// refused.
func writeBatch(ctx context.Context, w Writer, batch []Change) (*batchOutcome, error) {
	req := make([]exchange.FlagChange, len(batch))
	for i, c := range batch {
		req[i] = exchange.FlagChange{Guid: c.Guid, MAPIBlockOutlookRpcHttp: c.To.RpcHttp, MAPIBlockOutlookExternalConnectivity: c.To.External}
	}
	items, err := w.SetCASMailboxFlags(ctx, req)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]exchange.ItemResult, len(items))
	for _, it := range items {
		byID[strings.ToLower(it.ID)] = it
	}
	out := &batchOutcome{}
	for _, c := range batch {
		it, ok := byID[c.Guid]
		switch {
		case !ok:
			out.failed = append(out.failed, Failure{Change: c, Error: "no result from Exchange for this mailbox"})
		case !it.OK:
			out.failed = append(out.failed, Failure{Change: c, Error: it.Error})
		default:
			out.applied = append(out.applied, c)
		}
	}
	return out, nil
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
