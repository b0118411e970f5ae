package steps

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
)

func init() { Register("autodiscover-wait", newAutodiscoverWait) }

// AutodiscoverWaitAfter is the step whose `applied_at` output starts the
// wait: the one that changes the external URLs.
const AutodiscoverWaitAfter = "external-urls"

// AutodiscoverDefaultMinWait is autodiscover.min_wait when unset.
const AutodiscoverDefaultMinWait = 2 * time.Hour

// AutodiscoverWaitSnapshot records the wait the step was configured with.
// The step changes nothing, so there is nothing else to capture.
type AutodiscoverWaitSnapshot struct {
	// MinWait is autodiscover.min_wait, e.g. "2h0m0s".
	MinWait string `json:"min_wait"`
}

// autodiscoverWait waits until the external URLs have been in place
// longer than Autodiscover answers are cached, and then (when probe
// credentials are configured) asks Autodiscover whether it offers the
// external name.
type autodiscoverWait struct {
	id      string
	deps    *Deps
	minWait time.Duration
}

func newAutodiscoverWait(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if err := configOnly(id, "autodiscover-wait", "autodiscover", with, deps); err != nil {
		return nil, err
	}
	w := deps.Config.Autodiscover.MinWait.D()
	if w < 0 {
		return nil, fmt.Errorf("autodiscover.min_wait: %s is negative", w)
	}
	if w == 0 {
		w = AutodiscoverDefaultMinWait
	}
	return &autodiscoverWait{id: id, deps: deps, minWait: w}, nil
}

// until reads when external-urls changed the URLs and adds min_wait.
func (s *autodiscoverWait) until(env engine.Env) (time.Time, bool, error) {
	var at time.Time
	ok, err := env.Output(AutodiscoverWaitAfter, "applied_at", &at)
	if err != nil || !ok || at.IsZero() {
		return time.Time{}, false, err
	}
	return at.Add(s.minWait), true, nil
}

// Capture records the configured wait.
func (s *autodiscoverWait) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	return json.Marshal(AutodiscoverWaitSnapshot{MinWait: s.minWait.String()})
}

// Plan shows the time the step waits for.
func (s *autodiscoverWait) Plan(ctx context.Context, env engine.Env, snap engine.Snapshot) (engine.Plan, error) {
	until, ok, err := s.until(env)
	if err != nil {
		return engine.Plan{}, err
	}
	ch := engine.Change{Target: "autodiscover", Field: "wait until", From: "-"}
	if !ok {
		ch.To = fmt.Sprintf("%s.applied_at + %s", AutodiscoverWaitAfter, s.minWait)
		return engine.Plan{Summary: fmt.Sprintf("wait %s after %s changes the external URLs (Autodiscover answers are cached)", s.minWait, AutodiscoverWaitAfter), Changes: []engine.Change{ch}}, nil
	}
	ch.To = until.UTC().Format(time.RFC3339)
	sum := fmt.Sprintf("wait until %s: %s after %s changed the external URLs", ch.To, s.minWait, AutodiscoverWaitAfter)
	if !env.Now().Before(until) {
		sum += " (already passed)"
	}
	return engine.Plan{Summary: sum, Changes: []engine.Change{ch}}, nil
}

// PreChecks: none; the step changes nothing.
func (s *autodiscoverWait) PreChecks(env engine.Env, snap engine.Snapshot) []engine.Check { return nil }

// Apply waits until external-urls.applied_at + min_wait.
func (s *autodiscoverWait) Apply(ctx context.Context, env engine.Env, snap engine.Snapshot) (engine.Outcome, error) {
	until, ok, err := s.until(env)
	if err != nil {
		return engine.Outcome{}, err
	}
	if !ok {
		return engine.Outcome{}, fmt.Errorf("%s has not recorded when it changed the URLs; run it first", AutodiscoverWaitAfter)
	}
	if env.Now().Before(until) {
		return engine.Outcome{WaitUntil: until, Reason: "Autodiscover answers are cached (TTL in hours): clients pick up the new external URLs by then"}, nil
	}
	env.Logf("%s have passed since %s changed the external URLs", s.minWait, AutodiscoverWaitAfter)
	return engine.Outcome{}, nil
}

// PostChecks asks Autodiscover, as the allowed probe user, on every
// server in scope, and requires the external name. Without probe
// credentials there is no check (and the log says so).
func (s *autodiscoverWait) PostChecks(env engine.Env, snap engine.Snapshot) []engine.Check {
	cfg := s.deps.Config
	p := cfg.Autodiscover.Probe
	switch {
	case p.AllowedUser == "":
		env.Logf("the Autodiscover probe is not configured (autodiscover.probe.allowed_user): Autodiscover answers are not checked")
		return nil
	case !cfg.HasProbePassword():
		env.Logf("the Autodiscover probe is not configured (no password: set EXRUNBOOK_PROBE_PASSWORD or autodiscover.probe.password_file): Autodiscover answers are not checked")
		return nil
	}
	return []engine.Check{&autodiscoverProbeCheck{deps: s.deps}}
}

// autodiscoverProbeCheck finds the servers in scope and their HTTPS
// addresses when it runs, then runs checks.AutodiscoverCheck for the
// allowed probe user, expecting the external name.
type autodiscoverProbeCheck struct{ deps *Deps }

func (c *autodiscoverProbeCheck) Name() string { return "autodiscover-allowed-user" }

func (c *autodiscoverProbeCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	fail := func(err error) engine.CheckResult {
		return engine.CheckFailed(c.Name(), err)
	}
	servers, err := c.deps.Servers(ctx)
	if err != nil {
		return fail(fmt.Errorf("finding the servers to probe: %w", err))
	}
	chk, err := c.deps.Clients.AutodiscoverProbe(c.Name(), ServerNames(servers), c.deps.Config.Autodiscover.Probe.AllowedUser, true)
	if err != nil {
		return fail(err)
	}
	return chk.Run(ctx, env)
}

// Rollback: the step changed nothing.
func (s *autodiscoverWait) Rollback(ctx context.Context, env engine.Env, snap engine.Snapshot) error {
	return nil
}
