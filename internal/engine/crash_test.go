package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/state"
)

// The crash test re-executes this test binary as the orchestrator
// process: with EXRB_CRASH_HELPER set, TestMain runs crashHelperMain
// instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("EXRB_CRASH_HELPER") != "" {
		os.Exit(crashHelperMain())
	}
	os.Exit(m.Run())
}

// crashOrg is the initial organisation of the crash test; every value a
// step writes differs from it, and one value is null.
var crashOrg = map[string]string{
	"cert.thumb":  `"AAAA"`,
	"bind.iis":    `"AAAA"`,
	"bind.smtp":   `"AAAA"`,
	"url.owa":     `"https://outlook.contoso.test/owa"`,
	"url.ecp":     `"https://outlook.contoso.test/ecp"`,
	"url.mapi":    `null`,
	"url.ews":     `"https://outlook.contoso.test/EWS/Exchange.asmx"`,
	"oa.host":     `"outlook.contoso.test"`,
	"dns.a":       `"192.0.2.25"`,
	"mbx.alice":   `false`,
	"mbx.bob":     `false`,
	"mbx.carol":   `false`,
	"mbx.dave":    `false`,
	"unrelated.x": `"keep me"`,
}

// crashRunbook mirrors split-namespace's shape: several writes per step,
// an output read by a later waiting step, and a wait checkpoint.
func crashRunbook(dir string) (Runbook, []*testStep) {
	org := orgFile(filepath.Join(dir, "org.json"))
	pause := 5 * time.Millisecond
	steps := []*testStep{
		{id: "certificate", set: map[string]string{"cert.thumb": `"BBBB"`}},
		{id: "bind-certificate", set: map[string]string{"bind.iis": `"BBBB"`, "bind.smtp": `"BBBB"`}},
		{id: "external-urls", set: map[string]string{
			"url.owa": `"https://outlook-ext.contoso.test/owa"`, "url.ecp": `"https://outlook-ext.contoso.test/ecp"`,
			"url.mapi": `"https://outlook-ext.contoso.test/mapi"`, "url.ews": `"https://outlook-ext.contoso.test/EWS/Exchange.asmx"`,
			"oa.host": `"outlook-ext.contoso.test"`, "new.scp": `"added"`}},
		{id: "autodiscover-wait", set: map[string]string{}, wait: 40 * time.Millisecond, waitOn: "external-urls"},
		{id: "public-dns", set: map[string]string{"dns.a": `"203.0.113.10"`}},
		{id: "block-mailboxes", set: map[string]string{"mbx.alice": `true`, "mbx.bob": `true`, "mbx.carol": `true`, "mbx.dave": `false`}},
	}
	rb := Runbook{Name: "crash-test"}
	violations := filepath.Join(dir, "violations.log")
	for _, s := range steps {
		s.org, s.pause = org, pause
		s.onCapture = captureGuard(s, violations)
		rb.Steps = append(rb.Steps, StepDef{ID: s.id, Kind: "test", Title: s.id, Step: s})
	}
	return rb, steps
}

// captureGuard records a violation when a step captures after one of its
// own writes happened: a recapture over half-changed data.
func captureGuard(s *testStep, path string) func() error {
	return func() error {
		m, err := s.org.read()
		if err != nil {
			return err
		}
		for k, want := range s.set {
			if v, ok := m[k]; ok && string(v) == want && crashOrg[k] != want {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
				if err != nil {
					return err
				}
				fmt.Fprintf(f, "%s captured after writing %s\n", s.id, k)
				f.Close()
			}
		}
		return nil
	}
}

func crashHelperMain() int {
	dir := os.Getenv("EXRB_CRASH_DIR")
	rb, _ := crashRunbook(dir)
	mode := os.Getenv("EXRB_CRASH_MODE")
	e, err := Open(context.Background(), Options{StateDir: filepath.Join(dir, "state"), Runbook: rb,
		RunbookHash: "rb", ConfigHash: "cf", Operation: mode,
		Retry: RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	// Tell the harness that start-up is over: its kill timer starts now.
	fmt.Println("ready")
	switch mode {
	case "run":
		err = e.Run(context.Background(), RunOptions{Yes: true, Unattended: true, Wait: true})
	case "rollback":
		err = e.RollbackAll(context.Background())
	default:
		err = errors.New("unknown mode " + mode)
	}
	if cerr := e.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, mode+":", err)
		return 1
	}
	fmt.Println("finished") // after Close: the lock is gone
	return 0
}

type crashHarness struct {
	t   *testing.T
	dir string
}

func newCrashHarness(t *testing.T, dir string) *crashHarness {
	writeOrg(t, filepath.Join(dir, "org.json"), crashOrg)
	return &crashHarness{t: t, dir: dir}
}

func (h *crashHarness) cmd(mode string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$")
	// GORACE: a -race binary otherwise sleeps a second at exit, where
	// every kill would land.
	c.Env = append(os.Environ(), "EXRB_CRASH_HELPER=1", "EXRB_CRASH_DIR="+h.dir, "EXRB_CRASH_MODE="+mode,
		"GORACE=atexit_sleep_ms=0")
	return c
}

// helperRun is one started helper process.
type helperRun struct {
	c        *exec.Cmd
	done     chan error
	stderr   *bytes.Buffer
	finished atomic.Bool // it printed "finished": its work was complete
}

// start starts the helper and returns when it reported "ready" (or ended).
func (h *crashHarness) start(mode string) *helperRun {
	h.t.Helper()
	hr := &helperRun{c: h.cmd(mode), done: make(chan error, 1), stderr: &bytes.Buffer{}}
	hr.c.Stderr = hr.stderr
	out, err := hr.c.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := hr.c.Start(); err != nil {
		h.t.Fatal(err)
	}
	r := bufio.NewReader(out)
	r.ReadString('\n') // "ready", or EOF if it failed to open
	go func() {
		for {
			line, err := r.ReadString('\n')
			if line == "finished\n" {
				hr.finished.Store(true)
			}
			if err != nil {
				break
			}
		}
		hr.done <- hr.c.Wait()
	}()
	return hr
}

// once runs the helper to completion and returns how long its work took
// after start-up.
func (h *crashHarness) once(mode string) time.Duration {
	h.t.Helper()
	hr := h.start(mode)
	t0 := time.Now()
	if err := <-hr.done; err != nil {
		h.t.Fatalf("%s: %v\n%s", mode, err, hr.stderr.String())
	}
	return time.Since(t0)
}

// killLoop starts the helper, kills it after a random delay (counted from
// the end of its start-up) below maxDelay, and resumes, until a run
// completes. It returns how many runs it killed.
func (h *crashHarness) killLoop(mode string, rnd *rand.Rand, maxDelay time.Duration, maxRuns int) int {
	h.t.Helper()
	kills := 0
	for run := 0; run < maxRuns; run++ {
		// The killed process left its lock: like an operator, remove it
		// with unlock (which removes stale locks only).
		if info, err := state.Unlock(filepath.Join(h.dir, "state"), false); err != nil {
			h.t.Fatalf("unlock after a kill: %v", err)
		} else if info != nil && run == 0 {
			h.t.Fatalf("a lock was left before the first run: %+v", info)
		}
		hr := h.start(mode)
		delay := time.Duration(rnd.Int64N(int64(maxDelay) + 1))
		select {
		case err := <-hr.done:
			if err != nil {
				h.t.Fatalf("%s run %d failed: %v\n%s", mode, run, err, hr.stderr.String())
			}
			return kills
		case <-time.After(delay):
			hr.c.Process.Kill()
			err := <-hr.done
			if err == nil || hr.finished.Load() {
				return kills // it finished just before the kill
			}
			if hr.c.ProcessState.ExitCode() != -1 { // exited by itself with an error
				h.t.Fatalf("%s run %d failed: %v\n%s", mode, run, err, hr.stderr.String())
			}
			kills++
		}
	}
	h.t.Fatalf("%s did not complete in %d runs", mode, maxRuns)
	return kills
}

func (h *crashHarness) org() []byte {
	b, err := os.ReadFile(filepath.Join(h.dir, "org.json"))
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	// Reference: one uninterrupted run, then an uninterrupted rollback.
	ref := newCrashHarness(t, t.TempDir())
	initial := ref.org()
	runTime := ref.once("run")
	want := ref.org()
	if bytes.Equal(want, initial) {
		t.Fatal("the reference run changed nothing")
	}
	rbTime := ref.once("rollback")
	if got := ref.org(); !bytes.Equal(got, initial) {
		t.Fatalf("uninterrupted rollback:\n%s\nwant:\n%s", got, initial)
	}
	t.Logf("uninterrupted: run %v, rollback %v", runTime, rbTime)

	rnd := rand.New(rand.NewPCG(20260301, 7))
	runKills, rbKills, rounds := 0, 0, 0
	inApply, inRollback := 0, 0                  // kills that landed inside a step's writes
	torn := 0                                    // journal lines cut short by a kill
	deadline := time.Now().Add(90 * time.Second) // a bound for a pathological machine, not a speed assertion
	for runKills < 50 || rbKills < 5 || inApply < 5 || inRollback < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d run kills (%d inside Apply) and %d rollback kills (%d inside Rollback) in %d rounds before the time budget ran out",
				runKills, inApply, rbKills, inRollback, rounds)
		}
		rounds++
		h := newCrashHarness(t, t.TempDir())
		runKills += h.killLoop("run", rnd, runTime/4, 1000)
		if got := h.org(); !bytes.Equal(got, want) {
			t.Fatalf("round %d: organisation after killed-and-resumed runs:\n%s\nwant (uninterrupted):\n%s", rounds, got, want)
		}
		st, err := state.Load(filepath.Join(h.dir, "state"))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range st.Steps {
			if s.Status != "done" {
				t.Errorf("round %d: step %s is %s", rounds, s.ID, s.Status)
			}
		}
		rbKills += h.killLoop("rollback", rnd, rbTime, 1000)
		if got := h.org(); !bytes.Equal(got, initial) {
			t.Fatalf("round %d: organisation after killed-and-resumed rollback --all:\n%s\nwant (initial):\n%s", rounds, got, initial)
		}
		if b, err := os.ReadFile(filepath.Join(h.dir, "violations.log")); err == nil {
			t.Fatalf("round %d: captures over half-changed data:\n%s", rounds, b)
		}
		// Every journal line is whole JSON; count the kills that landed
		// inside Apply (a resume) and inside Rollback (a step whose
		// rollback started more than once).
		j, err := os.ReadFile(filepath.Join(h.dir, "state", state.JournalFile))
		if err != nil {
			t.Fatal(err)
		}
		rbStarts := map[string]int{}
		lines := splitLines(j)
		for i, line := range lines {
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				// Only a line cut short by a kill, followed by the next
				// process's repair note.
				var next map[string]any
				if i+1 >= len(lines) || json.Unmarshal(lines[i+1], &next) != nil || next["kind"] != "journal_repaired" {
					t.Fatalf("round %d: journal line %d is not JSON and not repaired: %q", rounds, i+1, line)
				}
				torn++
				continue
			}
			switch m["kind"] {
			case "resume":
				inApply++
			case "rollback_started":
				rbStarts[m["step"].(string)]++
			}
		}
		for _, n := range rbStarts {
			inRollback += n - 1
		}
	}
	t.Logf("%d rounds: %d kills during runs (%d inside Apply), %d during rollbacks (%d inside Rollback); %d torn journal lines repaired",
		rounds, runKills, inApply, rbKills, inRollback, torn)
}
