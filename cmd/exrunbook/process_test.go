package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/state"
)

// asMainEnv makes the test binary behave as the exrunbook command, so the
// process-level wiring (signals, os.Exit) is tested with the test-only
// step kinds registered.
const asMainEnv = "EXRUNBOOK_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// command starts the test binary as exrunbook with args.
func command(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1", "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return cmd, &out, &errb
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("not an exit: %v", err)
	}
	return ee.ExitCode()
}

func TestProcessExitCodes(t *testing.T) {
	f := newFixture(t, testRunbook)
	cmd, out, _ := command(t, "version")
	if err := cmd.Run(); exitCode(t, err) != 0 || !strings.HasPrefix(out.String(), "exrunbook ") {
		t.Errorf("version: %v %q", err, out)
	}
	write(t, f.config, strings.Replace(goodConfig, "ttl: 2", "ttl: soon", 1))
	cmd, _, errb := command(t, f.args("run", "--unattended", "--yes")...)
	if code := exitCode(t, cmd.Run()); code != 2 || !strings.Contains(errb.String(), "public_dns.ttl") {
		t.Errorf("bad config: exit %d %q", code, errb)
	}
	cmd, _, _ = command(t, "--no-such-flag")
	if code := exitCode(t, cmd.Run()); code != 2 {
		t.Errorf("unknown flag: exit %d", code)
	}
	if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
		t.Error("state directory created")
	}
}

// SIGINT during a step cancels the run: the state is saved, the lock is
// released and the process exits 130; the next run resumes the step.
func TestProcessSIGINT(t *testing.T) {
	f := newFixture(t, strings.Replace(testRunbook, "kind: test-set\n    title: First", "kind: test-hold\n    title: First", 1))
	cmd, _, errb := command(t, f.args("run", "--unattended", "--yes")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// In the child the hold never ends: wait until Apply has begun.
	deadline := time.Now().Add(60 * time.Second)
	for {
		st, err := state.Load(f.stateDir)
		if err == nil && st != nil && len(st.Steps) > 0 && st.Steps[0].Applied {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the run never reached Apply: %s", errb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd.Wait()); code != 130 || !strings.Contains(errb.String(), "interrupted") {
		t.Fatalf("exit %d, want 130: %s", code, errb)
	}
	if _, err := os.Stat(filepath.Join(f.stateDir, state.LockFile)); !os.IsNotExist(err) {
		t.Error("lock left behind")
	}
	st, err := state.Load(f.stateDir)
	if err != nil || st.Steps[0].Status != "running" || !st.Steps[0].Applied {
		t.Fatalf("state after SIGINT: %+v %v", st, err)
	}
	// The next run (in-process, where the hold is released) resumes and finishes.
	close(testOrg.release)
	if r := f.run(t, "run", "--unattended", "--yes"); r.code != 0 {
		t.Fatalf("resume: %d %s", r.code, r.errout)
	}
	if !f.status(t).Complete {
		t.Error("not complete after resume")
	}
}
