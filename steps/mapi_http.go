package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

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
	if len(with) > 0 {
		return nil, fmt.Errorf("step %s (mapi-http) takes no parameters; it is configured by mapi_http in the config (got with: %s)", id, strings.Join(pdnsParamNames(with), ", "))
	}
	if deps == nil || deps.Config == nil {
		return nil, fmt.Errorf("step %s (mapi-http): no configuration", id)
	}
	return &mapiHTTP{id: id, deps: deps, enable: deps.Config.MapiHTTP.Enable}, nil
}

func (s *mapiHTTP) recipientTypes() []string {
	if rt := s.deps.Config.Mailboxes.RecipientTypes; len(rt) > 0 {
		return rt
	}
	return []string{"UserMailbox"}
}

// MapiOffMailboxes returns how many mailboxes have MapiHttpEnabled $false
// ($null, the organisation's setting, does not count) and the aliases of
// the first max of them.
func MapiOffMailboxes(mbx []exchange.CASMailbox, max int) (int, []string) {
	n := 0
	var aliases []string
	for _, m := range mbx {
		if m.MapiHttpEnabled == nil || *m.MapiHttpEnabled {
			continue
		}
		n++
		if len(aliases) < max {
			a := m.Alias
			if a == "" {
				a = m.Guid
			}
			aliases = append(aliases, a)
		}
	}
	return n, aliases
}

// Capture reads the organisation's MapiHttpEnabled and every mailbox of
// the configured recipient types (-ResultSize Unlimited).
func (s *mapiHTTP) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	ex, err := s.deps.Exchange()
	if err != nil {
		return nil, err
	}
	oc, err := ex.GetOrganizationConfig(ctx)
	if err != nil {
		return nil, err
	}
	snap := MapiHTTPSnapshot{OrgMapiHttpEnabled: oc.MapiHttpEnabled, RecipientTypes: s.recipientTypes()}
	mbx, err := ex.GetCASMailboxes(ctx, snap.RecipientTypes)
	if err != nil {
		return nil, err
	}
	snap.MapiOff, snap.MapiOffAliases = MapiOffMailboxes(mbx, mapiOffShown)
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
// it, and a warning names the mailboxes that opted out of it.
func (s *mapiHTTP) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := mhDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "mapi-http-org", Err: err}}
	}
	return []engine.Check{
		mapiOrgPreCheck{snap: snap, enable: s.enable},
		&mapiMailboxesCheck{count: snap.MapiOff, aliases: snap.MapiOffAliases, known: true},
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
// $false: they use RPC/HTTP only, so blocking it cuts them off. With
// client set it reads the mailboxes when run; else it reports the counts
// it was given (the snapshot's).
type mapiMailboxesCheck struct {
	client         *exchange.Client
	recipientTypes []string
	count          int
	aliases        []string
	known          bool
}

// Name implements engine.Check.
func (*mapiMailboxesCheck) Name() string { return "mapi-http-mailboxes" }

// Run implements engine.Check.
func (c *mapiMailboxesCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	r := engine.CheckResult{Name: c.Name()}
	n, aliases := c.count, c.aliases
	if !c.known {
		mbx, err := c.client.GetCASMailboxes(ctx, c.recipientTypes)
		if err != nil {
			r.Status, r.Message = engine.CheckFail, err.Error()
			return r
		}
		n, aliases = MapiOffMailboxes(mbx, mapiOffShown)
	}
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

// Apply enables MAPI over HTTP for the organisation when it is off and
// mapi_http.enable allows it, recording set_org before the write so that
// a crash right after it still lets rollback restore the value.
func (s *mapiHTTP) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	ex, err := s.deps.Exchange()
	if err != nil {
		return engine.Outcome{}, err
	}
	oc, err := ex.GetOrganizationConfig(ctx)
	if err != nil {
		return engine.Outcome{}, err
	}
	if oc.MapiHttpEnabled {
		env.Logf("MAPI over HTTP is enabled for the organization; nothing to do")
		return engine.Outcome{}, nil
	}
	if !s.enable {
		return engine.Outcome{}, fmt.Errorf("%s", MapiHTTPDisabledMessage)
	}
	if err := env.SetOutput("set_org", true); err != nil {
		return engine.Outcome{}, err
	}
	if err := ex.SetMapiHttpEnabled(ctx, true); err != nil {
		return engine.Outcome{}, err
	}
	env.Logf("Set-OrganizationConfig -MapiHttpEnabled $true")
	return engine.Outcome{}, nil
}

// PostChecks: the organisation reports MapiHttpEnabled true, and the
// mailboxes that opted out are reported again (a warning).
func (s *mapiHTTP) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	ex, err := s.deps.Exchange()
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "mapi-http-enabled", Err: err}}
	}
	return []engine.Check{
		mapiEnabledCheck{client: ex},
		&mapiMailboxesCheck{client: ex, recipientTypes: s.recipientTypes()},
	}
}

// mapiEnabledCheck reads Get-OrganizationConfig MapiHttpEnabled.
type mapiEnabledCheck struct{ client *exchange.Client }

// Name implements engine.Check.
func (mapiEnabledCheck) Name() string { return "mapi-http-enabled" }

// Run implements engine.Check.
func (c mapiEnabledCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	r := engine.CheckResult{Name: c.Name()}
	oc, err := c.client.GetOrganizationConfig(ctx)
	if err != nil {
		r.Status, r.Message = engine.CheckFail, err.Error()
		return r
	}
	r.Evidence = []string{"Get-OrganizationConfig MapiHttpEnabled " + psBoolText(oc.MapiHttpEnabled)}
	if !oc.MapiHttpEnabled {
		r.Status, r.Message = engine.CheckFail, MapiHTTPDisabledMessage
		return r
	}
	r.Status, r.Message = engine.CheckPass, "MAPI over HTTP is enabled for the organization"
	return r
}

// Rollback restores MapiHttpEnabled $false, only when the step set it.
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
	ex, err := s.deps.Exchange()
	if err != nil {
		return err
	}
	oc, err := ex.GetOrganizationConfig(ctx)
	if err != nil {
		return err
	}
	if oc.MapiHttpEnabled == snap.OrgMapiHttpEnabled {
		return nil
	}
	if err := ex.SetMapiHttpEnabled(ctx, snap.OrgMapiHttpEnabled); err != nil {
		return err
	}
	env.Logf("Set-OrganizationConfig -MapiHttpEnabled $%t (restored)", snap.OrgMapiHttpEnabled)
	return nil
}
