package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/allowlist"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

func init() { Register("block-mailboxes", newBlockMailboxes) }

// BlockMailboxesPlanRows is how many mailboxes the plan lists one by one;
// the rest are counted in engine.Plan.Omitted (and summed up in the
// summary), so that a first run over 100,000 mailboxes does not produce
// 100,000 plan rows.
const BlockMailboxesPlanRows = 50

// blockMailboxesListed is how many mailboxes an error or a check message
// names before it says "and N more".
const blockMailboxesListed = 10

// BlockMailboxesSnapshot is what the block-mailboxes step captures: the
// original flags of exactly the mailboxes it will change (compactly, see
// allowlist.EncodeChanges), and the facts about the allow group the plan
// showed. It holds no secret.
type BlockMailboxesSnapshot struct {
	Group          string   `json:"group"`
	GroupGuid      string   `json:"group_guid,omitempty"`
	GroupMissing   bool     `json:"group_missing,omitempty"`
	NestedGroups   int      `json:"nested_groups"`
	RecipientTypes []string `json:"recipient_types"`
	// Mailboxes is how many mailboxes were read, Allowed how many of them
	// the group allows.
	Mailboxes int `json:"mailboxes"`
	Allowed   int `json:"allowed"`
	// Missing are group members absent from the mailbox list.
	Missing []exchange.GroupMember `json:"missing,omitempty"`
	// Changes are "GUID|FT|alias" (allowlist.EncodeChanges): From is the
	// original flags, To what the group decides.
	Changes []string `json:"changes"`
	// Servers are the servers in scope, kept when the Autodiscover probe
	// is configured so that its post-checks (in this run, or in a later
	// `exrunbook check`) need no launch of Get-ExchangeServer: the
	// capture resolved them in its own script when no earlier step of the
	// run had. A snapshot without them (taken without the probe) has the
	// probe checks resolve the servers when they run.
	Servers    []exchange.Server `json:"servers,omitempty"`
	CapturedAt time.Time         `json:"captured_at"`
}

// blockMailboxes is the block-mailboxes step: every mailbox outside the
// allow group gets both Outlook blocks, every one inside gets neither;
// only the mailboxes that differ are written, in batches.
type blockMailboxes struct {
	id   string
	deps *Deps
	cfg  config.Mailboxes
}

func newBlockMailboxes(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if err := configOnly(id, "block-mailboxes", "mailboxes", with, deps); err != nil {
		return nil, err
	}
	c := deps.Config.Mailboxes
	if strings.TrimSpace(c.AllowGroup) == "" {
		return nil, fmt.Errorf("mailboxes.allow_group: missing; expected the group whose members keep external access")
	}
	if len(c.RecipientTypes) == 0 {
		return nil, fmt.Errorf("mailboxes.recipient_types: empty; expected a list such as [UserMailbox]")
	}
	return &blockMailboxes{id: id, deps: deps, cfg: c}, nil
}

func (s *blockMailboxes) limits() allowlist.Limits {
	// max_changes is enforce's limit: the first run blocks most of the
	// company, and the operator approves that plan.
	return allowlist.Limits{AllowEmptyGroup: s.deps.AllowEmptyGroup}
}

// read is the one-launch read of the group and every mailbox.
func (s *blockMailboxes) read(ctx context.Context) (allowlist.Diff, []exchange.CASMailbox, bool, error) {
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return allowlist.Diff{}, nil, false, err
	}
	return allowlist.Read(ctx, ex, s.cfg.AllowGroup, s.cfg.RecipientTypes, s.limits())
}

// probes reports whether PostChecks will ask Autodiscover: the probe is
// configured, with its password, for at least one user.
func (s *blockMailboxes) probes() bool {
	cfg := s.deps.Config
	return cfg.Autodiscover.Probe.Enabled() && cfg.HasProbePassword()
}

// serversReader is an allowlist.Reader that resolves the servers in scope
// in the same script as the allow-list read (ReadAllowListServers).
type serversReader struct {
	ex      *exchange.Client
	names   []string
	servers []exchange.Server
}

func (r *serversReader) ReadAllowList(ctx context.Context, group string, recipientTypes []string) (exchange.GroupExpansion, []exchange.CASMailbox, error) {
	res, err := r.ex.ReadAllowListServers(ctx, group, recipientTypes, r.names)
	if err == nil || errors.Is(err, exchange.ErrGroupNotFound) {
		r.servers = res.Servers
	}
	return res.Group, res.Mailboxes, err
}

// captureRead is read for Capture: when the probe post-checks will need
// the servers and no step of this run has resolved them, the same launch
// resolves them (and Deps remembers them). It returns the servers in
// scope when the probe needs them, else nil.
func (s *blockMailboxes) captureRead(ctx context.Context) (allowlist.Diff, bool, []exchange.Server, error) {
	if !s.probes() {
		d, _, missing, err := s.read(ctx)
		return d, missing, nil, err
	}
	if servers, ok := s.deps.knownServers(); ok {
		d, _, missing, err := s.read(ctx)
		return d, missing, servers, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return allowlist.Diff{}, false, nil, err
	}
	r := &serversReader{ex: ex, names: s.deps.Config.Exchange.Servers}
	d, _, missing, err := allowlist.Read(ctx, r, s.cfg.AllowGroup, s.cfg.RecipientTypes, s.limits())
	if len(r.servers) == 0 {
		return d, missing, nil, err
	}
	return d, missing, s.deps.rememberServers(r.servers), err
}

// Capture reads the group and every mailbox once and keeps the original
// flags of the mailboxes whose flags the group says must change, and,
// for the Autodiscover probe, the servers in scope (resolved in the same
// launch when no earlier step of the run has). An empty or missing group
// is refused here (nothing is stored) unless --allow-empty-group.
func (s *blockMailboxes) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	if err := s.deps.RequirePermissions(ctx, "block-mailboxes"); err != nil {
		return nil, err
	}
	d, missing, servers, err := s.captureRead(ctx)
	if err != nil {
		return nil, err
	}
	if err := allowlist.Check(d, s.limits()); err != nil {
		return nil, err
	}
	snap := BlockMailboxesSnapshot{
		Group: d.Group, GroupGuid: d.GroupGuid, GroupMissing: missing, NestedGroups: d.NestedGroups,
		RecipientTypes: s.cfg.RecipientTypes, Mailboxes: d.Mailboxes, Allowed: d.Allowed,
		Missing: d.Missing, Changes: allowlist.EncodeChanges(d.Changes), Servers: servers, CapturedAt: env.Now().UTC(),
	}
	return json.Marshal(snap)
}

func bmDecode(raw engine.Snapshot) (BlockMailboxesSnapshot, []allowlist.Change, error) {
	var snap BlockMailboxesSnapshot
	if err := json.Unmarshal(raw, &snap); err != nil {
		return snap, nil, fmt.Errorf("block-mailboxes snapshot: %w", err)
	}
	if snap.Group == "" {
		return snap, nil, fmt.Errorf("block-mailboxes snapshot names no group: roll the step back and run it again")
	}
	ch, err := allowlist.DecodeChanges(snap.Changes)
	if err != nil {
		return snap, nil, fmt.Errorf("block-mailboxes snapshot: %w", err)
	}
	return snap, ch, nil
}

func (snap BlockMailboxesSnapshot) diff(changes []allowlist.Change) allowlist.Diff {
	return allowlist.Diff{Group: snap.Group, GroupGuid: snap.GroupGuid, NestedGroups: snap.NestedGroups,
		Mailboxes: snap.Mailboxes, Allowed: snap.Allowed, Changes: changes, Missing: snap.Missing}
}

func bmFlagsText(f allowlist.Flags) string {
	return fmt.Sprintf("%s / %s", bmBool(f.RpcHttp), bmBool(f.External))
}

func bmBool(b bool) string {
	if b {
		return "$true"
	}
	return "$false"
}

// bmField names the two flags in a plan row.
const bmField = "MAPIBlockOutlookRpcHttp / MAPIBlockOutlookExternalConnectivity"

// Plan sums the difference up and lists the first mailboxes; the others
// are counted in Omitted.
func (s *blockMailboxes) Plan(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Plan, error) {
	snap, changes, err := bmDecode(raw)
	if err != nil {
		return engine.Plan{}, err
	}
	d := snap.diff(changes)
	if err := allowlist.Check(d, s.limits()); err != nil {
		return engine.Plan{}, err
	}
	s.logMissing(env, snap)
	var plan engine.Plan
	for i, c := range changes {
		if i == BlockMailboxesPlanRows {
			plan.Omitted = len(changes) - i
			break
		}
		plan.Changes = append(plan.Changes, engine.Change{Target: c.Label(), Field: bmField, From: bmFlagsText(c.From), To: bmFlagsText(c.To)})
	}
	group := fmt.Sprintf("allow group %q (%d nested group(s))", snap.Group, snap.NestedGroups)
	if snap.GroupMissing {
		group = fmt.Sprintf("allow group %q does not exist (allowed: an empty allow group was accepted)", snap.Group)
	}
	plan.Summary = fmt.Sprintf("%s to block, %s to unblock; %s mailboxes read, %s allowed by %s; written in batches of %d",
		bmThousands(d.Blocks()), bmThousands(d.Unblocks()), bmThousands(snap.Mailboxes), bmThousands(snap.Allowed), group, s.batchSize())
	if len(changes) == 0 {
		plan.Summary = fmt.Sprintf("every one of %s mailboxes already is as %s decides (%s allowed): nothing to change",
			bmThousands(snap.Mailboxes), group, bmThousands(snap.Allowed))
	}
	if len(snap.Missing) > 0 {
		plan.Summary += fmt.Sprintf("; %d group member(s) are not in the mailbox list and are left alone", len(snap.Missing))
	}
	return plan, nil
}

func (s *blockMailboxes) batchSize() int {
	b := s.cfg.BatchSize
	if b <= 0 || b > exchange.MaxFlagBatch {
		b = exchange.MaxFlagBatch
	}
	return b
}

func (s *blockMailboxes) logMissing(env engine.Env, snap BlockMailboxesSnapshot) {
	for i, m := range snap.Missing {
		if i == blockMailboxesListed {
			env.Logf("warning: …and %d more members of %q not in the mailbox list", len(snap.Missing)-i, snap.Group)
			break
		}
		env.Logf("warning: %s (%s, %s) is a member of %q but not among the %s mailboxes read: it is left alone",
			m.Name, m.Guid, m.RecipientTypeDetails, snap.Group, strings.Join(snap.RecipientTypes, ", "))
	}
}

// bmThousands writes n with comma separators (1,234).
func bmThousands(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// PreChecks: the allow group holds the limits (and its facts are shown);
// members missing from the mailbox list are a warning.
func (s *blockMailboxes) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	return []engine.Check{bmGroupCheck{raw: raw, lim: s.limits()}}
}

type bmGroupCheck struct {
	raw engine.Snapshot
	lim allowlist.Limits
}

func (bmGroupCheck) Name() string { return "allow-group" }

func (c bmGroupCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name(), Status: engine.CheckPass}
	snap, changes, err := bmDecode(c.raw)
	if err != nil {
		res.Status, res.Message = engine.CheckFail, err.Error()
		return res
	}
	if err := allowlist.Check(snap.diff(changes), c.lim); err != nil {
		res.Status, res.Message = engine.CheckFail, err.Error()
		return res
	}
	res.Message = fmt.Sprintf("allow group %q allows %d of %d mailboxes through %d nested group(s)", snap.Group, snap.Allowed, snap.Mailboxes, snap.NestedGroups)
	if snap.GroupMissing {
		res.Status = engine.CheckWarn
		res.Message = fmt.Sprintf("allow group %q does not exist: every mailbox is blocked, as the run allowed (empty allow group accepted)", snap.Group)
	}
	for i, m := range snap.Missing {
		if i == blockMailboxesListed {
			res.Evidence = append(res.Evidence, fmt.Sprintf("…and %d more", len(snap.Missing)-i))
			break
		}
		res.Evidence = append(res.Evidence, fmt.Sprintf("member not in the mailbox list: %s (%s, %s)", m.Name, m.Guid, m.RecipientTypeDetails))
	}
	if len(snap.Missing) > 0 {
		res.Status = engine.CheckWarn
		res.Message += fmt.Sprintf("; %d member(s) are not among the %s mailboxes and are left alone", len(snap.Missing), strings.Join(snap.RecipientTypes, ", "))
	}
	return res
}

// Apply writes what is still pending of the snapshot's changes: one read
// of the current flags, then one pipeline per batch, up to
// exchange.concurrency at once. A retry after a crash
// or a transient error writes only what is left.
func (s *blockMailboxes) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, changes, err := bmDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	return engine.Outcome{}, s.write(ctx, env, snap, changes, "apply")
}

// write brings the mailboxes of changes to their To flags.
func (s *blockMailboxes) write(ctx context.Context, env engine.Env, snap BlockMailboxesSnapshot, changes []allowlist.Change, what string) error {
	if len(changes) == 0 {
		env.Logf("%s: no mailbox to change", what)
		return nil
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return err
	}
	current, err := ex.GetCASMailboxes(ctx, snap.RecipientTypes)
	if err != nil {
		return err
	}
	pending := allowlist.Pending(changes, current)
	if done := len(changes) - len(pending); done > 0 {
		env.Logf("%s: %d of %d mailboxes already have their flags (an earlier attempt, or someone else)", what, done, len(changes))
	}
	if len(pending) == 0 {
		return nil
	}
	batch := s.batchSize()
	env.Logf("%s: writing %d mailboxes in batches of up to %d, up to %d at once", what, len(pending), batch, max(1, ex.Concurrency))
	prevFailed := 0
	var res allowlist.Result
	failedNow := 0
	opts := allowlist.Options{BatchSize: batch, Concurrency: ex.Concurrency, Retries: allowlist.DefaultRetries, Backoff: allowlist.DefaultBackoff}
	res, err = allowlist.Apply(ctx, ex, pending, opts, allowlist.Hooks{
		Audit: func(c allowlist.Change, err error) {
			if err != nil {
				failedNow++
			}
		},
		// The state records, after each batch boundary, how far the
		// pending list is written (batches finish out of order: only the
		// prefix whose batches all completed); a resumed run starts from a
		// fresh read, which skips those and anything written beyond.
		Checkpoint: func(done int) {
			if err := env.SetOutput("mailboxes_written", fmt.Sprintf("%d of %d pending (%s)", done, len(pending), what)); err != nil {
				env.Logf("%s: recording the checkpoint: %v", what, err)
			}
		},
		Progress: func(done, total int) {
			env.Progress(done, total, "mailboxes")
			env.Logf("%s: %d/%d mailboxes written (%d refused in this batch)", what, done, total, failedNow-prevFailed)
			prevFailed = failedNow
		},
	})
	for i, f := range res.Failed {
		if i == blockMailboxesListed {
			env.Logf("error: …and %d more mailboxes refused", len(res.Failed)-i)
			break
		}
		env.Logf("error: %s: %s", f.Change.Label(), f.Error)
	}
	if err != nil {
		return fmt.Errorf("%s stopped after %d mailboxes: %w", what, len(res.Applied)+len(res.Failed), err)
	}
	if len(res.Failed) > 0 {
		return fmt.Errorf("%d of %d mailboxes refused by Exchange (the others were written): %s", len(res.Failed), len(pending), bmDescribeFailures(res.Failed))
	}
	return nil
}

func bmDescribeFailures(fs []allowlist.Failure) string {
	var parts []string
	for i, f := range fs {
		if i == blockMailboxesListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(fs)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%s: %s", f.Change.Label(), f.Error))
	}
	return strings.Join(parts, "; ")
}

// PostChecks: a fresh read finds every mailbox as the group decides; and,
// with probe credentials, Autodiscover offers the blocked user no
// external URL and the allowed user the external name, on every server
// in scope: the snapshot's servers (Deps remembers them, so no launch of
// Get-ExchangeServer), or, for a snapshot without them, the servers
// resolved when the check runs.
func (s *blockMailboxes) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	out := []engine.Check{&bmFlagsCheck{s: s}}
	cfg := s.deps.Config
	p := cfg.Autodiscover.Probe
	switch {
	case !p.Enabled():
		env.Logf("the Autodiscover probe is not configured (autodiscover.probe): Autodiscover answers are not checked")
		return out
	case !cfg.HasProbePassword():
		env.Logf("the Autodiscover probe has no password (EXRUNBOOK_PROBE_PASSWORD or autodiscover.probe.password_file): Autodiscover answers are not checked")
		return out
	}
	var servers []exchange.Server
	var snap struct {
		Servers []exchange.Server `json:"servers"`
	}
	if err := json.Unmarshal(raw, &snap); err == nil && len(snap.Servers) > 0 {
		servers = s.deps.rememberServers(snap.Servers)
	}
	if p.BlockedUser != "" {
		out = append(out, &bmProbeCheck{deps: s.deps, servers: servers, email: p.BlockedUser, expectExternal: false})
	}
	if p.AllowedUser != "" {
		out = append(out, &bmProbeCheck{deps: s.deps, servers: servers, email: p.AllowedUser, expectExternal: true})
	}
	return out
}

// bmFlagsCheck reads the group and every mailbox again: no mailbox may
// differ from what the group decides.
type bmFlagsCheck struct{ s *blockMailboxes }

func (*bmFlagsCheck) Name() string { return "mailbox-flags" }

func (c *bmFlagsCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name()}
	d, _, _, err := c.s.read(ctx)
	if err != nil {
		res.Status, res.Message, res.Err = engine.CheckFail, err.Error(), err
		return res
	}
	if len(d.Changes) == 0 {
		res.Status = engine.CheckPass
		res.Message = fmt.Sprintf("all %s mailboxes are as allow group %q decides: %s open, %s blocked",
			bmThousands(d.Mailboxes), d.Group, bmThousands(d.Allowed), bmThousands(d.Mailboxes-d.Allowed))
		return res
	}
	res.Status = engine.CheckFail
	res.Message = fmt.Sprintf("%d mailboxes differ from what allow group %q decides (%d should be blocked, %d open)", len(d.Changes), d.Group, d.Blocks(), d.Unblocks())
	for i, ch := range d.Changes {
		if i == blockMailboxesListed {
			res.Evidence = append(res.Evidence, fmt.Sprintf("…and %d more", len(d.Changes)-i))
			break
		}
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %s, should be %s", ch.Label(), ch.From, ch.To))
	}
	return res
}

// bmProbeCheck asks Autodiscover as one probe user on every server in
// scope: servers, or when nil the servers found when it runs.
type bmProbeCheck struct {
	deps           *Deps
	servers        []exchange.Server
	email          string
	expectExternal bool
}

func (c *bmProbeCheck) Name() string {
	if c.expectExternal {
		return "autodiscover-allowed-user"
	}
	return "autodiscover-blocked-user"
}

func (c *bmProbeCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	fail := func(err error) engine.CheckResult {
		return engine.CheckFailed(c.Name(), err)
	}
	servers := c.servers
	if len(servers) == 0 {
		var err error
		if servers, err = c.deps.Servers(ctx); err != nil {
			return fail(fmt.Errorf("finding the servers to probe: %w", err))
		}
	}
	chk, err := c.deps.Clients.AutodiscoverProbe(c.Name(), ServerNames(servers), c.email, c.expectExternal)
	if err != nil {
		return fail(err)
	}
	return chk.Run(ctx, env)
}

// Rollback restores the original flags of exactly the mailboxes the step
// changed, judged against a fresh read, in batches.
func (s *blockMailboxes) Rollback(ctx context.Context, env engine.Env, raw engine.Snapshot) error {
	snap, changes, err := bmDecode(raw)
	if err != nil {
		return err
	}
	rev := allowlist.Reverse(changes)
	sort.Slice(rev, func(i, j int) bool { return rev[i].Guid < rev[j].Guid })
	return s.write(ctx, env, snap, rev, "rollback")
}
