package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

func TestMapiHTTPPlan(t *testing.T) {
	cases := []struct {
		name    string
		org     bool
		enable  bool
		off     int
		change  string
		pending int
		summary string
	}{
		{"enabled", true, false, 0, "True -> True", 0, "MAPI over HTTP is enabled"},
		{"enabled, enable set", true, true, 2, "True -> True", 0, "2 mailbox(es) have MapiHttpEnabled $false"},
		{"disabled, may enable", false, true, 0, "False -> True", 1, "Set-OrganizationConfig -MapiHttpEnabled $true"},
		{"disabled, may not", false, false, 0, "False -> False", 0, "the step will fail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := MapiHTTPPlan(MapiHTTPSnapshot{OrgMapiHttpEnabled: c.org, MapiOff: c.off}, c.enable)
			if len(p.Changes) != 1 || p.Pending() != c.pending || !strings.Contains(p.Summary, c.summary) {
				t.Fatalf("%+v", p)
			}
			ch := p.Changes[0]
			if ch.Target != "organization" || ch.Field != "MapiHttpEnabled" || !strings.Contains(ch.From+" -> "+ch.To, c.change) {
				t.Fatalf("change %+v", ch)
			}
		})
	}
}

// mhRunner is a fake organisation config.
type mhRunner struct {
	mu      sync.Mutex
	enabled bool
	sets    []bool
	// beforeSet, when set, runs before a Set-OrganizationConfig is answered.
	beforeSet func()
}

func (r *mhRunner) Run(_ context.Context, pl psrp.Pipeline, _ []psrp.Value) (*psrp.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res, ok := fakeGetCommand(pl); ok {
		return res, nil
	}
	switch pl.Commands[0].Name {
	case "Set-OrganizationConfig":
		want := pl.Commands[0].Params[0].Value.(bool)
		if want == r.enabled {
			return nil, fmt.Errorf("a write without a difference: %s", pl)
		}
		if r.beforeSet != nil {
			r.beforeSet()
		}
		r.enabled = want
		r.sets = append(r.sets, want)
		return &psrp.Result{}, nil
	case "Get-CASMailbox":
		return &psrp.Result{}, nil
	case "Get-OrganizationConfig":
		return &psrp.Result{Output: []psrp.Value{&psrp.Object{Extended: []psrp.Property{{Name: "MapiHttpEnabled", Value: r.enabled}}}}}, nil
	}
	return nil, fmt.Errorf("unexpected pipeline: %s", pl)
}

// Apply: nothing when enabled; the clear message when disabled without
// mapi_http.enable; with it, set_org is recorded before the write, and
// rollback restores $false only when the step set it.
func TestMapiHTTPApplyFake(t *testing.T) {
	ctx := context.Background()
	raw := func(s MapiHTTPSnapshot) engine.Snapshot { b, _ := json.Marshal(s); return b }

	on := &mhRunner{enabled: true}
	cfg := euConfig()
	st, _ := newMapiHTTP("mapi-http", nil, testDeps(cfg, clients.Options{Runner: on}))
	env := &euEnv{id: "mapi-http"}
	if _, err := st.Apply(ctx, env, raw(MapiHTTPSnapshot{OrgMapiHttpEnabled: true})); err != nil || len(on.sets) != 0 || len(env.outputs) != 0 {
		t.Fatalf("enabled: %v sets %v outputs %v", err, on.sets, env.outputs)
	}
	if err := st.Rollback(ctx, env, raw(MapiHTTPSnapshot{OrgMapiHttpEnabled: true})); err != nil || len(on.sets) != 0 {
		t.Fatalf("rollback of nothing: %v %v", err, on.sets)
	}

	off := &mhRunner{}
	st, _ = newMapiHTTP("mapi-http", nil, testDeps(cfg, clients.Options{Runner: off}))
	if _, err := st.Apply(ctx, env, raw(MapiHTTPSnapshot{})); err == nil || err.Error() != MapiHTTPDisabledMessage || len(off.sets) != 0 {
		t.Fatalf("disabled without enable: %v %v", err, off.sets)
	}

	cfg.MapiHTTP.Enable = true
	st, _ = newMapiHTTP("mapi-http", nil, testDeps(cfg, clients.Options{Runner: off}))
	off.beforeSet = func() {
		if _, ok := env.outputs["mapi-http/set_org"]; !ok {
			t.Error("set_org was not recorded before the write")
		}
	}
	if _, err := st.Apply(ctx, env, raw(MapiHTTPSnapshot{})); err != nil || !off.enabled {
		t.Fatalf("enable: %v %v", err, off.enabled)
	}
	// Again (a resume): nothing more.
	if _, err := st.Apply(ctx, env, raw(MapiHTTPSnapshot{})); err != nil || len(off.sets) != 1 {
		t.Fatalf("second apply: %v %v", err, off.sets)
	}
	if err := st.Rollback(ctx, env, raw(MapiHTTPSnapshot{})); err != nil || off.enabled || len(off.sets) != 2 {
		t.Fatalf("rollback: %v enabled %v sets %v", err, off.enabled, off.sets)
	}

	// The snapshot saw it off, but someone enabled it before the apply:
	// nothing written, set_org cleared, so rollback leaves it on.
	other := &mhRunner{enabled: true}
	st, _ = newMapiHTTP("mapi-http", nil, testDeps(cfg, clients.Options{Runner: other}))
	env2 := &euEnv{id: "mapi-http"}
	if _, err := st.Apply(ctx, env2, raw(MapiHTTPSnapshot{})); err != nil || len(other.sets) != 0 {
		t.Fatalf("enabled meanwhile: %v %v", err, other.sets)
	}
	var set bool
	if ok, err := env2.Output("mapi-http", "set_org", &set); !ok || err != nil || set {
		t.Fatalf("set_org %v %v %v, want false", set, ok, err)
	}
	if err := st.Rollback(ctx, env2, raw(MapiHTTPSnapshot{})); err != nil || len(other.sets) != 0 || !other.enabled {
		t.Fatalf("rollback of someone else's change: %v %v", err, other.sets)
	}
}

func TestMapiHTTPFactory(t *testing.T) {
	if _, err := newMapiHTTP("mapi-http", map[string]any{"enable": true}, testDeps(euConfig(), clients.Options{})); err == nil {
		t.Fatal("accepted a parameter")
	}
	if _, err := newMapiHTTP("mapi-http", nil, testDeps(nil, clients.Options{})); err == nil {
		t.Fatal("accepted no config")
	}
	if _, ok := Lookup("mapi-http"); !ok {
		t.Fatal("mapi-http is not registered")
	}
}

// mhStartLab starts a two-server lab with enough plain user mailboxes
// for the generator to turn MAPI over HTTP off for two of them.
func mhStartLab(t *testing.T) *certLab {
	t.Helper()
	for _, v := range []string{config.EnvProbePassword, "EXRUNBOOK_CERTIFICATE_PFX_PASSWORD", "EXRUNBOOK_EXCHANGE_PASSWORD"} {
		if os.Getenv(v) != "" {
			t.Skipf("%s is set in the environment and would override the lab's secrets", v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: dir, Mailboxes: 30, Allow: 2, Servers: 2, Seed: 11})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); cancel() })
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join(dir, lab.FileConfig)})
	if err != nil {
		t.Fatal(err)
	}
	return &certLab{lab: l, cfg: cfg, dir: dir}
}

// labMapiOff lists the aliases of the lab's user mailboxes whose
// MapiHttpEnabled is $false.
func labMapiOff(cl *certLab) []string {
	var out []string
	cl.lab.Store().Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails == org.UserMailbox && m.MapiHttpEnabled != nil && !*m.MapiHttpEnabled {
				out = append(out, m.Alias)
			}
		}
	})
	sort.Strings(out)
	return out
}

func labMapiOrg(cl *certLab) bool {
	var on bool
	cl.lab.Store().Read(func(o *org.Org) { on = o.Config.MapiHttpEnabled })
	return on
}

// Against the lab: an enabled organisation is left alone and the
// mailboxes with MapiHttpEnabled $false are reported (pre and post, as a
// warning); a disabled one fails the step without mapi_http.enable and
// changes nothing, is enabled with it, and rollback restores $false.
func TestMapiHTTPLab(t *testing.T) {
	cl := mhStartLab(t)
	ctx := context.Background()
	off := labMapiOff(cl)
	if len(off) == 0 {
		t.Fatal("the lab has no mailbox with MapiHttpEnabled $false")
	}
	orig := cl.lab.Org()
	eng, _, sink := cl.open(t, "mapi-http")
	s0 := cl.lab.Stats()
	if err := eng.Run(ctx, pdnsRun); err != nil {
		t.Fatalf("run: %v\n%s", err, sink.logs())
	}
	// Issue 4's budget: capture 1 + apply 1 + post-checks 1.
	if n := launches(cl.lab.Stats()) - launches(s0); n != 0 {
		t.Errorf("mapi-http took %d launches, want 0", n)
	}
	if n := callCount(cl.lab.Stats(), "Set-OrganizationConfig") - callCount(s0, "Set-OrganizationConfig"); n != 0 {
		t.Fatalf("Set-OrganizationConfig called %d times on an enabled organisation", n)
	}
	if !bytes.Equal(orig, cl.lab.Org()) {
		t.Fatal("the organisation changed")
	}
	v := stepChecks(t, eng, "mapi-http")
	for _, rs := range [][]engine.CheckResult{v.PreChecks, v.PostChecks} {
		r := findResult(t, rs, "mapi-http-mailboxes")
		got := append([]string(nil), r.Evidence...)
		sort.Strings(got)
		if r.Status != engine.CheckWarn || !strings.HasPrefix(r.Message, fmt.Sprintf("%d mailbox(es) have MapiHttpEnabled $false", len(off))) ||
			strings.Join(got, ",") != strings.Join(off, ",") {
			t.Fatalf("mailboxes check: %+v, want %v", r, off)
		}
	}
	if r := findResult(t, v.PostChecks, "mapi-http-enabled"); r.Status != engine.CheckPass {
		t.Fatalf("enabled check: %+v", r)
	}
	if _, ok := v.Outputs["set_org"]; ok {
		t.Fatal("set_org recorded although nothing was set")
	}

	// A disabled organisation.
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error { o.Config.MapiHttpEnabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	disabled := cl.lab.Org()
	eng2, _, _ := cl.open(t, "mapi-http")
	if err := eng2.Run(ctx, pdnsRun); err == nil || !strings.Contains(err.Error(), MapiHTTPDisabledMessage) {
		t.Fatalf("without mapi_http.enable: %v", err)
	}
	if !bytes.Equal(disabled, cl.lab.Org()) {
		t.Fatal("the failed step changed the organisation")
	}

	cl.cfg.MapiHTTP.Enable = true
	eng3, _, sink3 := cl.open(t, "mapi-http")
	plans, err := eng3.PlanSteps(ctx)
	if err != nil || len(plans) != 1 || plans[0].Plan.Pending() != 1 || plans[0].Plan.Changes[0].From != "False" || plans[0].Plan.Changes[0].To != "True" {
		t.Fatalf("plan: %v %+v", err, plans)
	}
	s1 := cl.lab.Stats()
	if err := eng3.Run(ctx, pdnsRun); err != nil {
		t.Fatalf("with mapi_http.enable: %v\n%s", err, sink3.logs())
	}
	if n := launches(cl.lab.Stats()) - launches(s1); n != 0 {
		t.Errorf("mapi-http enabling took %d launches, want 0", n)
	}
	if !labMapiOrg(cl) {
		t.Fatal("MapiHttpEnabled is still off")
	}
	if set := stepChecks(t, eng3, "mapi-http").Outputs["set_org"]; string(set) != "true" {
		t.Fatalf("set_org %s", set)
	}
	s2 := cl.lab.Stats()
	if err := eng3.RollbackAll(ctx); err != nil {
		t.Fatalf("rollback: %v\n%s", err, sink3.logs())
	}
	if n := launches(cl.lab.Stats()) - launches(s2); n != 0 {
		t.Errorf("mapi-http rollback took %d launches, want 0", n)
	}
	if labMapiOrg(cl) {
		t.Fatal("rollback did not restore MapiHttpEnabled $false")
	}
	if !bytes.Equal(disabled, cl.lab.Org()) {
		t.Fatal("rollback did not restore the organisation exactly")
	}
}
