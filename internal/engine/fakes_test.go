package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeClock advances only when told to, or when something sleeps on it.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// orgFile is a file-backed fake organisation: a JSON object of values,
// rewritten atomically on every write (like the lab's org.json).
type orgFile string

func (o orgFile) read() (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(string(o))
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("org %s: %w", o, err)
	}
	return m, nil
}

func (o orgFile) write(m map[string]json.RawMessage) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := string(o) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, string(o))
}

func (o orgFile) set(key string, raw json.RawMessage) error {
	m, err := o.read()
	if err != nil {
		return err
	}
	if raw == nil {
		delete(m, key)
	} else {
		m[key] = raw
	}
	return o.write(m)
}

func (o orgFile) get(t *testing.T, key string) string {
	t.Helper()
	m, err := o.read()
	if err != nil {
		t.Fatal(err)
	}
	return string(m[key])
}

func writeOrg(t *testing.T, path string, m map[string]string) orgFile {
	t.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range m {
		raw[k] = json.RawMessage(v)
	}
	o := orgFile(path)
	if err := o.write(raw); err != nil {
		t.Fatal(err)
	}
	return o
}

// checkFunc is a Check from a function.
type checkFunc struct {
	name string
	fn   func(env Env) CheckResult
}

func (c checkFunc) Name() string                                 { return c.name }
func (c checkFunc) Run(ctx context.Context, env Env) CheckResult { return c.fn(env) }

// testStep sets keys of the fake organisation to desired values. Its
// snapshot holds the keys' current raw values (an absent key is left out
// of it, a null stays null), and Rollback restores exactly that.
type testStep struct {
	id    string
	org   orgFile
	set   map[string]string // key → desired raw JSON
	pause time.Duration     // between writes, so kills land inside Apply
	// wait makes Apply return a checkpoint until waitOn's applied_at
	// output (or the step's own) plus wait.
	wait   time.Duration
	waitOn string
	secret string // used by Apply, never to be persisted

	mu          sync.Mutex
	captures    int
	applies     int
	rollbacks   int
	applyErrs   []error // returned by successive Apply calls (nil entries succeed)
	captureErrs []error
	rollbackErr error
	onApply     func(n int) // called at the start of every Apply
	afterWrites func(n int) // called after the writes of every Apply
	onCapture   func() error
	onRollback  func()
	pre, post   []Check
}

func (s *testStep) keys() []string {
	ks := make([]string, 0, len(s.set))
	for k := range s.set {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (s *testStep) Capture(ctx context.Context, env Env) (Snapshot, error) {
	s.mu.Lock()
	s.captures++
	var err error
	if len(s.captureErrs) > 0 {
		err, s.captureErrs = s.captureErrs[0], s.captureErrs[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if s.onCapture != nil {
		if err := s.onCapture(); err != nil {
			return nil, err
		}
	}
	m, err := s.org.read()
	if err != nil {
		return nil, err
	}
	snap := map[string]json.RawMessage{}
	for _, k := range s.keys() {
		if v, ok := m[k]; ok {
			snap[k] = v
		}
	}
	return json.Marshal(snap)
}

func (s *testStep) Plan(ctx context.Context, env Env, snap Snapshot) (Plan, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(snap, &m); err != nil {
		return Plan{}, err
	}
	p := Plan{Summary: fmt.Sprintf("set %d values", len(s.set))}
	for _, k := range s.keys() {
		from := "$absent"
		if v, ok := m[k]; ok {
			from = string(v)
			if from == "null" {
				from = "$null"
			}
		}
		p.Changes = append(p.Changes, Change{Target: "org", Field: k, From: from, To: s.set[k]})
	}
	return p, nil
}

func (s *testStep) PreChecks(env Env, snap Snapshot) []Check  { return s.pre }
func (s *testStep) PostChecks(env Env, snap Snapshot) []Check { return s.post }

func (s *testStep) Apply(ctx context.Context, env Env, snap Snapshot) (Outcome, error) {
	s.mu.Lock()
	s.applies++
	n := s.applies
	var err error
	if len(s.applyErrs) > 0 {
		err, s.applyErrs = s.applyErrs[0], s.applyErrs[1:]
	}
	s.mu.Unlock()
	if s.onApply != nil {
		s.onApply(n)
	}
	if err != nil {
		return Outcome{}, err
	}
	if s.secret != "" {
		env.Logf("authenticating with a %d-character password", len(s.secret))
	}
	for i, k := range s.keys() {
		if i > 0 && s.pause > 0 {
			time.Sleep(s.pause)
		}
		if err := ctx.Err(); err != nil {
			return Outcome{}, err
		}
		if err := s.org.set(k, json.RawMessage(s.set[k])); err != nil {
			return Outcome{}, err
		}
		env.Progress(i+1, len(s.set), "values")
	}
	if s.afterWrites != nil {
		s.afterWrites(n)
	}
	if s.wait > 0 {
		from := s.waitOn
		if from == "" {
			from = s.id
		}
		var at time.Time
		ok, err := env.Output(from, "applied_at", &at)
		if err != nil {
			return Outcome{}, err
		}
		if !ok {
			at = env.Now()
			if err := env.SetOutput("applied_at", at); err != nil {
				return Outcome{}, err
			}
		}
		if until := at.Add(s.wait); env.Now().Before(until) {
			return Outcome{WaitUntil: until, Reason: "caches expire"}, nil
		}
		return Outcome{}, nil
	}
	var have time.Time
	if ok, _ := env.Output(s.id, "applied_at", &have); !ok {
		if err := env.SetOutput("applied_at", env.Now()); err != nil {
			return Outcome{}, err
		}
	}
	return Outcome{}, nil
}

func (s *testStep) Rollback(ctx context.Context, env Env, snap Snapshot) error {
	s.mu.Lock()
	s.rollbacks++
	err := s.rollbackErr
	s.mu.Unlock()
	if s.onRollback != nil {
		s.onRollback()
	}
	if err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(snap, &m); err != nil {
		return err
	}
	for i, k := range s.keys() {
		if i > 0 && s.pause > 0 {
			time.Sleep(s.pause)
		}
		if err := s.org.set(k, m[k]); err != nil {
			return err
		}
	}
	return nil
}

func (s *testStep) counts() (c, a, r int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.captures, s.applies, s.rollbacks
}

// recorder is a Sink keeping every event.
type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) kinds(step string) []EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []EventKind
	for _, e := range r.events {
		if step == "" || e.Step == step {
			out = append(out, e.Kind)
		}
	}
	return out
}

func (r *recorder) find(kind EventKind) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Event
	for _, e := range r.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// fixture is a three-step runbook over a fresh organisation.
type fixture struct {
	t     *testing.T
	dir   string
	org   orgFile
	clock *fakeClock
	rec   *recorder
	steps []*testStep
	rb    Runbook
}

var initialOrg = map[string]string{
	"url.owa": `"https://outlook.contoso.test/owa"`,
	"url.ecp": `"https://outlook.contoso.test/ecp"`,
	"oa.host": `null`,
	"dns.a":   `"192.0.2.25"`,
	"block":   `false`,
	"other":   `"untouched"`,
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{t: t, dir: filepath.Join(dir, "state"), clock: newFakeClock(), rec: &recorder{}}
	f.org = writeOrg(t, filepath.Join(dir, "org.json"), initialOrg)
	f.steps = []*testStep{
		{id: "urls", org: f.org, set: map[string]string{
			"url.owa": `"https://outlook-ext.contoso.test/owa"`,
			"url.ecp": `"https://outlook-ext.contoso.test/ecp"`,
			"oa.host": `"outlook-ext.contoso.test"`,
			"new.key": `"added"`,
		}},
		{id: "dns", org: f.org, set: map[string]string{"dns.a": `"203.0.113.10"`}},
		{id: "block", org: f.org, set: map[string]string{"block": `true`}},
	}
	f.rb = Runbook{Name: "test-runbook"}
	for _, s := range f.steps {
		f.rb.Steps = append(f.rb.Steps, StepDef{ID: s.id, Kind: "test", Title: "Set " + s.id, Step: s})
	}
	return f
}

func (f *fixture) opts() Options {
	return Options{StateDir: f.dir, Runbook: f.rb, RunbookHash: "rb1", ConfigHash: "cf1",
		Sink: f.rec, Clock: f.clock, Operation: "run",
		Retry: RetryPolicy{Attempts: 5, Base: time.Second, Max: 30 * time.Second}}
}

func (f *fixture) open() *Engine {
	f.t.Helper()
	e, err := Open(context.Background(), f.opts())
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	f.t.Cleanup(func() { e.Close() })
	return e
}

func (f *fixture) statuses(e *Engine) map[string]Status {
	m := map[string]Status{}
	for _, s := range e.Status().Steps {
		m[s.ID] = s.Status
	}
	return m
}

func (f *fixture) journal() []map[string]any {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "journal.jsonl"))
	if err != nil {
		f.t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range splitLines(b) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			f.t.Fatalf("journal line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, c := range b {
		if c == '\n' {
			if i > start {
				out = append(out, b[start:i])
			}
			start = i + 1
		}
	}
	if start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

func journalHas(j []map[string]any, kind, step string, pred func(d map[string]any) bool) bool {
	for _, m := range j {
		if m["kind"] != kind {
			continue
		}
		if step != "" && m["step"] != step {
			continue
		}
		d, _ := m["details"].(map[string]any)
		if pred == nil || pred(d) {
			return true
		}
	}
	return false
}

func asErr[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T) is not a %T", err, err, target)
	}
	return target
}
