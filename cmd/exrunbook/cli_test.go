package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/state"
	"github.com/exrunbook/exrunbook/runbooks"
	"github.com/exrunbook/exrunbook/steps"
)

// goodConfig needs no files: thumbprint certificate, manual public DNS.
const goodConfig = `exchange:
  endpoint: https://ex01.contoso.test/PowerShell/
  auth: ntlm
  user: CONTOSO\Administrator
namespace:
  internal: outlook.contoso.test
  external: outlook-ext.contoso.test
  autodiscover: autodiscover.contoso.test
certificate:
  mode: thumbprint
  thumbprint: 5113AE0233A72FCCB75E1D6D2D9B2E2A5A7F3C9D
autodiscover:
  min_wait: 5s
public_dns:
  mode: manual
  zone: contoso.test.
  public_ip: 203.0.113.10
  ttl: 2
mailboxes:
  allow_group: AllowExternalAccess
`

const testRunbook = `name: test-book
description: three test steps
steps:
  - id: first
    kind: test-set
    title: First change
  - id: second
    kind: test-set
    title: Second change
  - id: verify
    kind: test-set
    title: Read-only step
    approval: auto
`

// fixture is a working directory with a config, a runbook and a state
// directory path (not created).
type fixture struct {
	dir, config, runbook, stateDir string
}

func newFixture(t *testing.T, runbook string) *fixture {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "EXRUNBOOK_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	resetTestOrg()
	dir := t.TempDir()
	f := &fixture{dir: dir, config: filepath.Join(dir, "exrunbook.yaml"), runbook: filepath.Join(dir, "runbook.yaml"), stateDir: filepath.Join(dir, "state")}
	write(t, f.config, goodConfig)
	write(t, f.runbook, runbook)
	return f
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// args prefixes the global flags that point at the fixture.
func (f *fixture) args(args ...string) []string {
	return append([]string{"--config", f.config, "--runbook", f.runbook, "--state-dir", f.stateDir}, args...)
}

type result struct {
	code        int
	out, errout string
}

// cli runs the real command tree in-process.
func cli(ctx context.Context, in string, terminal bool, args ...string) result {
	var out, errb bytes.Buffer
	s := &IOStreams{In: strings.NewReader(in), Out: &out, ErrOut: &errb, IsTerminal: terminal, InIsTerminal: terminal}
	code := Execute(ctx, args, s)
	return result{code, out.String(), errb.String()}
}

func (f *fixture) run(t *testing.T, args ...string) result {
	t.Helper()
	return cli(context.Background(), "", false, f.args(args...)...)
}

func (f *fixture) status(t *testing.T) statusDoc {
	t.Helper()
	r := f.run(t, "status", "--output", "json")
	if r.code != 0 {
		t.Fatalf("status: %d %s", r.code, r.errout)
	}
	var doc statusDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("status json: %v\n%s", err, r.out)
	}
	return doc
}

type statusDoc struct {
	Runbook      string     `json:"runbook"`
	Complete     bool       `json:"complete"`
	WaitingUntil *time.Time `json:"waiting_until"`
	Steps        []struct {
		ID         string     `json:"id"`
		Status     string     `json:"status"`
		StartedAt  *time.Time `json:"started_at"`
		FinishedAt *time.Time `json:"finished_at"`
		Attempts   int        `json:"attempts"`
		Error      string     `json:"error"`
	} `json:"steps"`
}

func (d statusDoc) statuses() map[string]string {
	m := map[string]string{}
	for _, s := range d.Steps {
		m[s.ID] = s.Status
	}
	return m
}

func TestStatusJSONFreshDir(t *testing.T) {
	f := newFixture(t, testRunbook)
	r := cli(context.Background(), "", false, "--state-dir", f.stateDir, "--runbook", f.runbook, "status", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.errout)
	}
	// The exact key set of the documented shape.
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.out), &raw); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return k
	}
	if got := keys(raw); !reflect.DeepEqual(got, []string{"complete", "runbook", "steps", "waiting_until"}) {
		t.Errorf("top-level keys = %v", got)
	}
	if raw["runbook"] != "test-book" || raw["complete"] != false || raw["waiting_until"] != nil {
		t.Errorf("doc = %v", raw)
	}
	stepsArr := raw["steps"].([]any)
	if len(stepsArr) != 3 {
		t.Fatalf("steps = %v", stepsArr)
	}
	for i, s := range stepsArr {
		m := s.(map[string]any)
		if got := keys(m); !reflect.DeepEqual(got, []string{"attempts", "error", "finished_at", "id", "started_at", "status"}) {
			t.Errorf("step keys = %v", got)
		}
		if m["id"] != []string{"first", "second", "verify"}[i] || m["status"] != "pending" || m["started_at"] != nil ||
			m["finished_at"] != nil || m["attempts"] != float64(0) || m["error"] != "" {
			t.Errorf("step %d = %v", i, m)
		}
	}
	if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
		t.Errorf("status created the state directory (%v)", err)
	}
	// The built-in runbook needs no step implementations for status.
	r = cli(context.Background(), "", false, "--state-dir", f.stateDir, "status")
	if r.code != 0 || !strings.Contains(r.out, "runbook split-namespace: in progress") || !strings.Contains(r.out, "block-mailboxes") {
		t.Errorf("text status: %d %q %q", r.code, r.out, r.errout)
	}
}

func TestVersion(t *testing.T) {
	r := cli(context.Background(), "", false, "version")
	if r.code != 0 || !strings.HasPrefix(r.out, "exrunbook ") || !strings.Contains(r.out, "go1.") {
		t.Errorf("version: %d %q", r.code, r.out)
	}
	r = cli(context.Background(), "", false, "version", "--output", "json")
	var v versionJSON
	if r.code != 0 || json.Unmarshal([]byte(r.out), &v) != nil || v.Version == "" || !strings.HasPrefix(v.Go, "go") {
		t.Errorf("version json: %d %q", r.code, r.out)
	}
}

func TestUnlock(t *testing.T) {
	f := newFixture(t, testRunbook)
	r := f.run(t, "unlock")
	if r.code != 0 || !strings.Contains(r.out, "no lock in "+f.stateDir) {
		t.Errorf("unlock with no lock: %d %q %q", r.code, r.out, r.errout)
	}
	if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
		t.Error("unlock created the state directory")
	}
	// A live lock (this process holds it) is kept without --force.
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	lk, err := state.Acquire(f.stateDir, "run")
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Release()
	r = f.run(t, "unlock")
	if r.code != 3 || !strings.Contains(r.errout, "locked by") {
		t.Errorf("unlock of a live lock: %d %q", r.code, r.errout)
	}
	r = f.run(t, "unlock", "--force", "--output", "json")
	var doc struct {
		Removed *state.LockInfo `json:"removed"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.out), &doc) != nil || doc.Removed == nil || doc.Removed.PID != os.Getpid() || doc.Removed.Operation != "run" {
		t.Errorf("unlock --force: %d %q %q", r.code, r.out, r.errout)
	}
	if _, err := os.Stat(filepath.Join(f.stateDir, state.LockFile)); !os.IsNotExist(err) {
		t.Error("lock still there")
	}
}

func TestRunApprovalAndCompletion(t *testing.T) {
	f := newFixture(t, testRunbook)
	r := f.run(t, "run", "--unattended")
	if r.code != 4 || !strings.Contains(r.errout, "step first needs approval") {
		t.Fatalf("unattended without --yes: %d %q", r.code, r.errout)
	}
	if orgValue("first") != "" {
		t.Error("a step changed the organisation without approval")
	}
	if st := f.status(t).statuses(); st["first"] != "pending" {
		t.Errorf("after refusal: %v", st)
	}
	r = f.run(t, "run", "--unattended", "--yes")
	if r.code != 0 || !strings.Contains(r.out, "runbook test-book complete") {
		t.Fatalf("run --yes: %d\n%s\n%s", r.code, r.out, r.errout)
	}
	doc := f.status(t)
	if !doc.Complete || doc.WaitingUntil != nil {
		t.Errorf("status after run: %+v", doc)
	}
	for _, s := range doc.Steps {
		if s.Status != "done" || s.StartedAt == nil || s.FinishedAt == nil || s.Attempts < 1 {
			t.Errorf("step %+v", s)
		}
	}
	for _, id := range []string{"first", "second", "verify"} {
		if orgValue(id) != "on" {
			t.Errorf("%s not applied", id)
		}
	}
	fi, err := os.Stat(filepath.Join(f.stateDir, "state.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state.json: %v %v", fi, err)
	}
}

func TestRunInteractiveApproval(t *testing.T) {
	f := newFixture(t, testRunbook)
	// The operator declines the first step.
	r := cli(context.Background(), "n\n", true, f.args("run")...)
	if r.code != 4 || !strings.Contains(r.errout, "Apply step first (First change): 1 change(s)? [y/N]") || !strings.Contains(r.errout, "not approved") {
		t.Fatalf("declined: %d %q", r.code, r.errout)
	}
	// Approves both steps; the auto step is not asked.
	r = cli(context.Background(), "y\nyes\n", true, f.args("run")...)
	if r.code != 0 || strings.Count(r.errout, "[y/N]") != 2 {
		t.Fatalf("approved: %d %q %q", r.code, r.out, r.errout)
	}
	if !f.status(t).Complete {
		t.Error("not complete")
	}
}

func TestRunJSONEvents(t *testing.T) {
	f := newFixture(t, testRunbook)
	r := f.run(t, "run", "--unattended", "--yes", "--output", "json")
	if r.code != 0 {
		t.Fatalf("%d %s", r.code, r.errout)
	}
	kinds := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(r.out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		kinds[ev["kind"].(string)]++
	}
	if kinds["step_started"] != 3 || kinds["done"] != 3 || kinds["plan"] != 3 || kinds["check"] < 3 {
		t.Errorf("event kinds = %v", kinds)
	}
}

func TestRunLocked(t *testing.T) {
	f := newFixture(t, strings.Replace(testRunbook, "kind: test-set\n    title: First", "kind: test-hold\n    title: First", 1))
	done := make(chan result, 1)
	go func() { done <- cli(context.Background(), "", false, f.args("run", "--unattended", "--yes")...) }()
	select {
	case <-testOrg.started:
	case r := <-done:
		t.Fatalf("first run ended early: %d %s", r.code, r.errout)
	case <-time.After(30 * time.Second):
		t.Fatal("first run did not start")
	}
	r := f.run(t, "run", "--unattended", "--yes")
	host, _ := os.Hostname()
	if r.code != 3 || !strings.Contains(r.errout, "locked by") || !strings.Contains(r.errout, "pid ") || !strings.Contains(r.errout, host) {
		t.Errorf("second run: %d %q", r.code, r.errout)
	}
	// status reads while the run holds the lock.
	if st := f.status(t).statuses(); st["first"] != "running" {
		t.Errorf("status during the run: %v", st)
	}
	close(testOrg.release)
	first := <-done
	if first.code != 0 {
		t.Fatalf("first run: %d %s", first.code, first.errout)
	}
	if doc := f.status(t); !doc.Complete {
		t.Errorf("after: %+v", doc)
	}
}

func TestRunInterrupted(t *testing.T) {
	f := newFixture(t, strings.Replace(testRunbook, "kind: test-set\n    title: First", "kind: test-hold\n    title: First", 1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- cli(ctx, "", false, f.args("run", "--unattended", "--yes")...) }()
	<-testOrg.started
	cancel()
	r := <-done
	if r.code != 130 {
		t.Fatalf("interrupted run: %d %s", r.code, r.errout)
	}
	if _, err := os.Stat(filepath.Join(f.stateDir, state.LockFile)); !os.IsNotExist(err) {
		t.Error("the lock survived the interrupt")
	}
}

func TestRunWaitingAndFailed(t *testing.T) {
	f := newFixture(t, strings.Replace(testRunbook, "kind: test-set\n    title: Second", "kind: test-wait\n    title: Second", 1))
	r := f.run(t, "run", "--unattended", "--yes")
	if r.code != 75 || !strings.Contains(r.errout, "waiting: step second waits until") || !strings.Contains(r.errout, "caches expire") {
		t.Fatalf("waiting: %d %q", r.code, r.errout)
	}
	if doc := f.status(t); doc.WaitingUntil == nil || time.Until(*doc.WaitingUntil) < 50*time.Minute {
		t.Errorf("waiting_until = %v", doc.WaitingUntil)
	}

	f = newFixture(t, strings.Replace(testRunbook, "kind: test-set\n    title: Second", "kind: test-fail\n    title: Second", 1))
	r = f.run(t, "run", "--unattended", "--yes")
	if r.code != 1 || !strings.Contains(r.errout, "the server said no") {
		t.Fatalf("failed: %d %q", r.code, r.errout)
	}
	doc := f.status(t)
	if st := doc.statuses(); st["first"] != "done" || st["second"] != "failed" || doc.Steps[1].Error == "" {
		t.Errorf("after failure: %+v", doc)
	}
}

func TestRollbackSkipCheck(t *testing.T) {
	f := newFixture(t, testRunbook)
	setOrgValue("first", "old")
	if r := f.run(t, "run", "--unattended", "--yes"); r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.errout)
	}
	// check: all post-checks pass, then drift makes one fail.
	if r := f.run(t, "check", "--output", "json"); r.code != 0 || !strings.Contains(r.out, `"failed": false`) {
		t.Errorf("check: %d %s %s", r.code, r.out, r.errout)
	}
	setOrgValue("second", "drifted")
	r := f.run(t, "check", "second")
	if r.code != 1 || !strings.Contains(r.out, `value is "drifted"`) || !strings.Contains(r.errout, "1 check(s) failed") {
		t.Errorf("check drift: %d %q %q", r.code, r.out, r.errout)
	}
	// Rolling back a step while a later one is done is refused (5).
	if r := f.run(t, "rollback", "first", "--yes"); r.code != 5 || !strings.Contains(r.errout, "--force") {
		t.Errorf("rollback first: %d %q", r.code, r.errout)
	}
	// --all needs approval: not on a terminal and no --yes → 4.
	if r := f.run(t, "rollback", "--all"); r.code != 4 || !strings.Contains(r.errout, "needs approval: rerun with --yes") {
		t.Errorf("rollback --all without --yes: %d %q", r.code, r.errout)
	}
	if r := cli(context.Background(), "n\n", true, f.args("rollback", "--all")...); r.code != 4 || !strings.Contains(r.errout, "Roll back every applied step (verify, second, first)? [y/N]") || !strings.Contains(r.errout, "not approved; nothing was changed") {
		t.Errorf("rollback --all declined: %d %q", r.code, r.errout)
	}
	r = f.run(t, "rollback", "--all", "--yes", "--output", "json")
	var doc rollbackJSON
	if r.code != 0 || json.Unmarshal([]byte(r.out), &doc) != nil {
		t.Fatalf("rollback --all: %d %q %q", r.code, r.out, r.errout)
	}
	if !reflect.DeepEqual(doc.RolledBack, []string{"first", "second", "verify"}) || doc.Status.Complete {
		t.Errorf("rollback json: %+v", doc)
	}
	if orgValue("first") != "old" || orgValue("second") != "" {
		t.Errorf("org not restored: first=%q second=%q", orgValue("first"), orgValue("second"))
	}
	// skip, then run the rest.
	if r := f.run(t, "skip", "second", "--reason", "done by hand"); r.code != 0 || !strings.Contains(r.out, "step second skipped: done by hand") {
		t.Errorf("skip: %d %q %q", r.code, r.out, r.errout)
	}
	if r := f.run(t, "run", "--unattended", "--yes"); r.code != 0 {
		t.Errorf("run after skip: %d %s", r.code, r.errout)
	}
	if st := f.status(t).statuses(); st["second"] != "skipped" || st["first"] != "done" {
		t.Errorf("statuses: %v", st)
	}
	journal, err := os.ReadFile(filepath.Join(f.stateDir, "journal.jsonl"))
	if err != nil || !bytes.Contains(journal, []byte("done by hand")) {
		t.Errorf("the skip reason is not journaled (%v)", err)
	}
}

func TestPlan(t *testing.T) {
	f := newFixture(t, testRunbook)
	r := f.run(t, "plan", "--output", "json")
	var doc planJSON
	if r.code != 0 || json.Unmarshal([]byte(r.out), &doc) != nil {
		t.Fatalf("plan: %d %q %q", r.code, r.out, r.errout)
	}
	if doc.Runbook != "test-book" || !doc.Ready || len(doc.Steps) != 3 || doc.Steps[0].Plan.Changes[0].To != "on" || doc.Steps[0].Status != "pending" {
		t.Errorf("plan json: %+v", doc)
	}
	if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
		t.Error("plan created the state directory")
	}
	r = f.run(t, "plan")
	if r.code != 0 || !strings.Contains(r.out, "plan: 3 pending step(s), 3 change(s)\n") || !strings.Contains(r.out, "first") {
		t.Errorf("plan text: %d %q", r.code, r.out)
	}
	// check on a fresh directory has nothing done to check, and creates nothing.
	r = f.run(t, "check")
	if r.code != 0 || !strings.Contains(r.out, "no done step to check") {
		t.Errorf("check on a fresh dir: %d %q %q", r.code, r.out, r.errout)
	}
	if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
		t.Error("check created the state directory")
	}
}

func TestChangedConfigRefused(t *testing.T) {
	f := newFixture(t, testRunbook)
	if r := f.run(t, "run", "--unattended", "--yes", "--until", "first"); r.code != 0 {
		t.Fatalf("run --until: %d %s", r.code, r.errout)
	}
	write(t, f.config, strings.Replace(goodConfig, "ttl: 2", "ttl: 3", 1))
	r := f.run(t, "run", "--unattended", "--yes")
	if r.code != 2 || !strings.Contains(r.errout, "--accept-changed-config") {
		t.Fatalf("changed config: %d %q", r.code, r.errout)
	}
	if r := f.run(t, "run", "--unattended", "--yes", "--accept-changed-config"); r.code != 0 {
		t.Errorf("accepted: %d %s", r.code, r.errout)
	}
}

// The built-in runbook refuses to run until its step kinds exist: it names
// the missing kinds and never pretends to run them.
func TestBuiltinRunbookNeedsItsKinds(t *testing.T) {
	def, err := runbooks.Builtin(runbooks.DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	missing := runbooks.Missing(def, steps.Default())
	if len(missing) == 0 {
		t.Skip("every split-namespace kind is registered; the end-to-end tests cover the run")
	}
	f := newFixture(t, testRunbook)
	r := cli(context.Background(), "", false, "--config", f.config, "--state-dir", f.stateDir, "run", "--unattended", "--yes")
	if r.code != 2 || !strings.Contains(r.errout, "step kinds not available in this build: "+strings.Join(missing, ", ")) {
		t.Errorf("%d %q", r.code, r.errout)
	}
	if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
		t.Error("state directory created")
	}
}

// plan exits 1 only when the next step would stop at a pre-check (or a
// plan cannot be made); a later step's failing pre-check is shown.
func TestPlanPreChecks(t *testing.T) {
	f := newFixture(t, strings.Replace(testRunbook, "kind: test-set\n    title: Second", "kind: test-gated\n    title: Second", 1))
	r := f.run(t, "plan")
	if r.code != 0 || !strings.Contains(r.out, "pre-checks failing in later steps (they may pass once the steps before them have run): second") {
		t.Errorf("later step gated: %d %q %q", r.code, r.out, r.errout)
	}
	f = newFixture(t, strings.Replace(testRunbook, "kind: test-set\n    title: First", "kind: test-gated\n    title: First", 1))
	r = f.run(t, "plan", "--output", "json")
	var doc planJSON
	if r.code != 1 || json.Unmarshal([]byte(r.out), &doc) != nil || doc.Ready || !strings.Contains(r.errout, "the next step, first, would stop at its failing pre-check(s): gate") {
		t.Errorf("next step gated: %d %q %q", r.code, r.out, r.errout)
	}
	setOrgValue("gate", "open")
	if r := f.run(t, "plan"); r.code != 0 {
		t.Errorf("gate open: %d %q", r.code, r.errout)
	}
}
