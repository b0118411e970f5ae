package steps

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

func init() { Register("mapi-http", newMapiHTTP) }

// MapiHTTPDisabledMessage is why mapi-http fails when the organisation has
// MAPI over HTTP off and the config does not allow the step to turn it on.
const MapiHTTPDisabledMessage = "MAPI over HTTP is disabled for the organization; set mapi_http.enable: true to let exrunbook enable it, or enable it yourself"

// mapiOffShown is how many aliases of mailboxes with MapiHttpEnabled
// $false the evidence names.
const mapiOffShown = 10

// MapiHTTPSnapshot is what mapi-http captures: the organisation's
// MapiHttpEnabled and the mailboxes that opted out of MAPI over HTTP.
type MapiHTTPSnapshot struct {
	OrgMapiHttpEnabled bool     `json:"org_mapi_http_enabled"`
	RecipientTypes     []string `json:"recipient_types"`
	// MapiOff counts the mailboxes whose own MapiHttpEnabled is $false;
	// MapiOffAliases names the first few of them.
	MapiOff        int      `json:"mapi_off"`
	MapiOffAliases []string `json:"mapi_off_aliases,omitempty"`
}

// mapiHTTP makes sure Outlook can use MAPI over HTTP before RPC/HTTP is
// blocked.
type mapiHTTP struct {
	id     string
	deps   *Deps
	enable bool
}

func newMapiHTTP(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if err := configOnly(id, "mapi-http", "mapi_http", with, deps); err != nil {
		return nil, err
	}
	return &mapiHTTP{id: id, deps: deps, enable: deps.Config.MapiHTTP.Enable}, nil
}

func (s *mapiHTTP) recipientTypes() []string {
	if rt := s.deps.Config.Mailboxes.RecipientTypes; len(rt) > 0 {
		return rt
	}
	return []string{"UserMailbox"}
}

// Capture reads the organisation's MapiHttpEnabled and the mailboxes of
// the configured recipient types that opted out of MAPI over HTTP, in one
// launch (filtered on the server, -ResultSize Unlimited).
func (s *mapiHTTP) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	if err := s.deps.RequirePermissions(ctx, "mapi-http"); err != nil {
		return nil, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return nil, err
	}
	snap := MapiHTTPSnapshot{RecipientTypes: s.recipientTypes()}
	st, err := ex.GetMapiHTTPState(ctx, snap.RecipientTypes, mapiOffShown)
	if err != nil {
		return nil, err
	}
	snap.OrgMapiHttpEnabled, snap.MapiOff, snap.MapiOffAliases = st.OrgMapiHttpEnabled, st.MapiOff, st.MapiOffAliases
	return json.Marshal(snap)
}

func mhDecode(raw engine.Snapshot) (MapiHTTPSnapshot, error) {
	var s MapiHTTPSnapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("mapi-http snapshot: %w", err)
	}
	return s, nil
}

// Plan: MapiHttpEnabled False → True when the step may enable it;
// otherwise no change (a disabled organisation without mapi_http.enable
// fails the step).
func (s *mapiHTTP) Plan(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Plan, error) {
	snap, err := mhDecode(raw)
	if err != nil {
		return engine.Plan{}, err
	}
	return MapiHTTPPlan(snap, s.enable), nil
}

// MapiHTTPPlan renders the plan of a snapshot for mapi_http.enable.
func MapiHTTPPlan(snap MapiHTTPSnapshot, enable bool) engine.Plan {
	from := psBoolText(snap.OrgMapiHttpEnabled)
	ch := engine.Change{Target: "organization", Field: "MapiHttpEnabled", From: from, To: from}
	var sum string
	switch {
	case snap.OrgMapiHttpEnabled:
		sum = "MAPI over HTTP is enabled for the organization"
	case enable:
		ch.To = "True"
		sum = "Set-OrganizationConfig -MapiHttpEnabled $true (mapi_http.enable: true)"
	default:
		sum = "MAPI over HTTP is disabled and mapi_http.enable is false: the step will fail"
	}
	if snap.MapiOff > 0 {
		sum += fmt.Sprintf("; %d mailbox(es) have MapiHttpEnabled $false and would be cut off by blocking RPC/HTTP", snap.MapiOff)
	}
	return engine.Plan{Summary: sum, Changes: []engine.Change{ch}}
}

// PreChecks: the organisation has MAPI over HTTP or the step may enable
// it, and a warning names the mailboxes that opted out of it. Both judge
// the snapshot, without a launch, also on a resume: Apply compares the
// organisation's value on the server before it writes, so a stale
// snapshot can neither make it write needlessly nor skip a write, and
// the post-checks read the mailboxes afresh.
func (s *mapiHTTP) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := mhDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "mapi-http-org", Err: err}}
	}
	known := &sharedRead[exchange.MapiHTTPState]{read: func(context.Context) (exchange.MapiHTTPState, error) {
		return exchange.MapiHTTPState{OrgMapiHttpEnabled: snap.OrgMapiHttpEnabled, MapiOff: snap.MapiOff, MapiOffAliases: snap.MapiOffAliases}, nil
	}}
	return []engine.Check{
		mapiOrgPreCheck{snap: snap, enable: s.enable},
		&mapiMailboxesCheck{read: known},
	}
}

// mapiOrgPreCheck fails before any approval when the step would fail.
type mapiOrgPreCheck struct {
	snap   MapiHTTPSnapshot
	enable bool
}

// Name implements engine.Check.
func (mapiOrgPreCheck) Name() string { return "mapi-http-org" }

// Run implements engine.Check.
func (c mapiOrgPreCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	r := engine.CheckResult{Name: c.Name(), Evidence: []string{"Get-OrganizationConfig MapiHttpEnabled " + psBoolText(c.snap.OrgMapiHttpEnabled)}}
	switch {
	case c.snap.OrgMapiHttpEnabled:
		r.Status, r.Message = engine.CheckPass, "MAPI over HTTP is enabled for the organization"
	case c.enable:
		r.Status, r.Message = engine.CheckPass, "MAPI over HTTP is disabled; mapi_http.enable: true lets the step enable it"
	default:
		r.Status, r.Message = engine.CheckFail, MapiHTTPDisabledMessage
	}
	return r
}

// mapiMailboxesCheck warns about mailboxes whose MapiHttpEnabled is
// $false: they use RPC/HTTP only, so blocking it cuts them off. It judges
// the read it is given (the snapshot's, or the post-checks' shared one).
type mapiMailboxesCheck struct {
	read *sharedRead[exchange.MapiHTTPState]
}

// Name implements engine.Check.
func (*mapiMailboxesCheck) Name() string { return "mapi-http-mailboxes" }

// Run implements engine.Check.
func (c *mapiMailboxesCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	r := engine.CheckResult{Name: c.Name()}
	st, err := c.read.get(ctx)
	if err != nil {
		r.Status, r.Message, r.Err = engine.CheckFail, err.Error(), err
		return r
	}
	n, aliases := st.MapiOff, st.MapiOffAliases
	if n == 0 {
		r.Status, r.Message = engine.CheckPass, "no mailbox has MapiHttpEnabled $false"
		return r
	}
	r.Status = engine.CheckWarn
	r.Message = fmt.Sprintf("%d mailbox(es) have MapiHttpEnabled $false: they use RPC/HTTP only, so blocking RPC/HTTP cuts them off (Set-CASMailbox -MapiHttpEnabled $null lets the organization's setting apply)", n)
	r.Evidence = append(r.Evidence, aliases...)
	if n > len(aliases) {
		r.Evidence = append(r.Evidence, fmt.Sprintf("… and %d more", n-len(aliases)))
	}
	return r
}

// Apply is one launch. With mapi_http.enable, one script compares the
// organisation's MapiHttpEnabled on the server and sets it only when it
// is off; set_org is recorded before that script whenever the snapshot
// saw it off (so a crash right after the write still lets rollback
// restore the value) and cleared again if the script found it already
// on and an earlier attempt had not set it. Without mapi_http.enable it
// only reads the value and fails with what to do when it is off.
func (s *mapiHTTP) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, err := mhDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return engine.Outcome{}, err
	}
	if !s.enable {
		oc, err := ex.GetOrganizationConfig(ctx)
		if err != nil {
			return engine.Outcome{}, err
		}
		if !oc.MapiHttpEnabled {
			return engine.Outcome{}, fmt.Errorf("%s", MapiHTTPDisabledMessage)
		}
		env.Logf("MAPI over HTTP is enabled for the organization; nothing to do")
		return engine.Outcome{}, nil
	}
	var already bool
	if _, err := env.Output(s.id, "set_org", &already); err != nil {
		return engine.Outcome{}, err
	}
	record := !already && !snap.OrgMapiHttpEnabled
	if record {
		if err := env.SetOutput("set_org", true); err != nil {
			return engine.Outcome{}, err
		}
	}
	w, err := ex.SetMapiHttpEnabledWhereDifferent(ctx, true)
	if err != nil {
		return engine.Outcome{}, err
	}
	if w.Changed {
		env.Logf("Set-OrganizationConfig -MapiHttpEnabled $true")
		return engine.Outcome{}, nil
	}
	if record {
		// Someone else enabled it since the capture: not ours to undo.
		if err := env.SetOutput("set_org", false); err != nil {
			return engine.Outcome{}, err
		}
	}
	env.Logf("MAPI over HTTP is enabled for the organization; nothing to do")
	return engine.Outcome{}, nil
}

// PostChecks: the organisation reports MapiHttpEnabled true, and the
// mailboxes that opted out are reported again (a warning). Both share
// one read (one launch).
func (s *mapiHTTP) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "mapi-http-enabled", Err: err}}
	}
	types := s.recipientTypes()
	read := &sharedRead[exchange.MapiHTTPState]{read: func(ctx context.Context) (exchange.MapiHTTPState, error) {
		return ex.GetMapiHTTPState(ctx, types, mapiOffShown)
	}}
	return []engine.Check{
		mapiEnabledCheck{read: read},
		&mapiMailboxesCheck{read: read},
	}
}

// mapiEnabledCheck judges Get-OrganizationConfig MapiHttpEnabled.
type mapiEnabledCheck struct {
	read *sharedRead[exchange.MapiHTTPState]
}

// Name implements engine.Check.
func (mapiEnabledCheck) Name() string { return "mapi-http-enabled" }

// Run implements engine.Check.
func (c mapiEnabledCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	r := engine.CheckResult{Name: c.Name()}
	st, err := c.read.get(ctx)
	if err != nil {
		r.Status, r.Message, r.Err = engine.CheckFail, err.Error(), err
		return r
	}
	r.Evidence = []string{"Get-OrganizationConfig MapiHttpEnabled " + psBoolText(st.OrgMapiHttpEnabled)}
	if !st.OrgMapiHttpEnabled {
		r.Status, r.Message = engine.CheckFail, MapiHTTPDisabledMessage
		return r
	}
	r.Status, r.Message = engine.CheckPass, "MAPI over HTTP is enabled for the organization"
	return r
}

// Rollback restores MapiHttpEnabled $false, only when the step set it, in
// one launch that writes only if the value differs.
func (s *mapiHTTP) Rollback(ctx context.Context, env engine.Env, raw engine.Snapshot) error {
	snap, err := mhDecode(raw)
	if err != nil {
		return err
	}
	var set bool
	if _, err := env.Output(s.id, "set_org", &set); err != nil {
		return err
	}
	if !set || snap.OrgMapiHttpEnabled {
		env.Logf("the step did not change the organization's MapiHttpEnabled; nothing to restore")
		return nil
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return err
	}
	w, err := ex.SetMapiHttpEnabledWhereDifferent(ctx, snap.OrgMapiHttpEnabled)
	if err != nil {
		return err
	}
	if w.Changed {
		env.Logf("Set-OrganizationConfig -MapiHttpEnabled $%t (restored)", snap.OrgMapiHttpEnabled)
	}
	return nil
}
