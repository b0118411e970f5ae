package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// flakyCheck fails with errs[n] on its n-th run (transient or not) and
// passes once errs is used up.
type flakyCheck struct {
	name string
	mu   sync.Mutex
	errs []error
	runs int
}

func (c *flakyCheck) Name() string { return c.name }

func (c *flakyCheck) Run(ctx context.Context, env Env) CheckResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.runs
	c.runs++
	if n < len(c.errs) {
		return CheckFailed(c.name, c.errs[n])
	}
	return CheckResult{Name: c.name, Status: CheckPass, Message: "ok"}
}

func (c *flakyCheck) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs
}

func TestCheckRetries(t *testing.T) {
	ctx := context.Background()
	http500 := errkind.Transient(errors.New("WinRM HTTP 500"))
	tests := []struct {
		name       string
		phase      string // "pre" or "post"
		errs       []error
		wantStatus Status
		wantRuns   int
		wantErr    string // in the step's error, when it fails
	}{
		{"pre transient then pass", "pre", []error{http500, http500}, StatusDone, 3, ""},
		{"post transient then pass", "post", []error{http500}, StatusDone, 2, ""},
		{"transient every time", "post", []error{http500, http500, http500, http500, http500, http500},
			StatusFailed, 5, "post-check flaky failed: WinRM HTTP 500 (after 5 attempts)"},
		{"permanent failure", "pre", []error{errors.New("certificate not found")},
			StatusFailed, 1, "pre-check flaky failed: certificate not found"},
		{"failure without a cause", "pre", []error{nil}, StatusFailed, 1, "pre-check flaky failed: the check failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			c := &flakyCheck{name: "flaky", errs: tt.errs}
			if tt.phase == "pre" {
				f.steps[0].pre = []Check{c}
			} else {
				f.steps[0].post = []Check{c}
			}
			e := f.open()
			err := e.Run(ctx, RunOptions{Yes: true})
			if got := f.statuses(e)["urls"]; got != tt.wantStatus {
				t.Fatalf("status %s, want %s (err %v)", got, tt.wantStatus, err)
			}
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.wantErr != "" {
				asErr[*StepFailedError](t, err)
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not contain %q", err, tt.wantErr)
				}
			}
			if got := c.count(); got != tt.wantRuns {
				t.Errorf("check ran %d times, want %d", got, tt.wantRuns)
			}
			// Every failed transient run is one attempt event, journaled
			// with the check's name and the error.
			wantAtt := 0
			for _, err := range tt.errs[:min(len(tt.errs), tt.wantRuns)] {
				if errkind.IsTransient(err) {
					wantAtt++
				}
			}
			att := f.rec.find(EventAttempt)
			if len(att) != wantAtt {
				t.Fatalf("attempt events %+v, want %d", att, wantAtt)
			}
			for i, a := range att {
				if a.Attempt != i+1 || a.Error != "WinRM HTTP 500" || a.Phase != tt.phase ||
					!strings.Contains(a.Message, tt.phase+"-check flaky attempt") {
					t.Errorf("attempt event %d: %+v", i, a)
				}
			}
			if len(f.clock.Slept()) != min(wantAtt, 4) {
				t.Errorf("slept %v for %d attempts", f.clock.Slept(), wantAtt)
			}
			n := 0
			for _, m := range f.journal() {
				d, _ := m["details"].(map[string]any)
				if m["kind"] == "attempt" && m["step"] == "urls" && d["error"] == "WinRM HTTP 500" &&
					strings.Contains(d["message"].(string), "-check flaky") {
					n++
				}
			}
			if n != wantAtt {
				t.Errorf("journaled check attempts %d, want %d", n, wantAtt)
			}
			// Only the final verdict is a check event.
			if ch := f.rec.find(EventCheck); len(ch) != 1 {
				t.Errorf("check events %+v", ch)
			}
		})
	}
}

// TestChecksCommandRetries: `exrunbook check` (Engine.Checks) retries a
// transiently failing post-check too.
func TestChecksCommandRetries(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	e := f.open()
	if err := e.Run(ctx, RunOptions{Yes: true}); err != nil {
		t.Fatal(err)
	}
	c := &flakyCheck{name: "drift", errs: []error{errkind.Transient(errors.New("connection reset"))}}
	f.steps[1].post = []Check{c}
	res, err := e.Checks(ctx, []string{"dns"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Results) != 1 || res[0].Results[0].Status != CheckPass {
		t.Fatalf("results %+v", res)
	}
	if c.count() != 2 {
		t.Errorf("runs %d", c.count())
	}
	if !journalHas(f.journal(), "attempt", "dns", func(d map[string]any) bool { return d["error"] == "connection reset" }) {
		t.Error("the check's retry is not journaled")
	}
}

// TestCheckFailed: the verdict carries its cause, which stays out of the
// serialized result (state and journal).
func TestCheckFailed(t *testing.T) {
	r := CheckFailed("x", errkind.Transient(errors.New("boom")))
	if r.Status != CheckFail || r.Message != "boom" || !errkind.IsTransient(r.Err) {
		t.Fatalf("%+v", r)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != `{"name":"x","status":"fail","message":"boom"}` {
		t.Errorf("serialized %s", got)
	}
}
