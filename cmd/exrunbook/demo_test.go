package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without a terminal, demo runs the whole runbook unattended on its lab,
// and a second run on the same --dir continues from the saved state.
func TestDemoUnattended(t *testing.T) {
	dir := t.TempDir()
	args := []string{"demo", "--dir", dir, "--autodiscover-wait", "1s", "--mailboxes", "20", "--allow", "3"}
	r := cli(context.Background(), "", false, args...)
	if r.code != exitOK {
		t.Fatalf("demo: code %d\n%s\n%s", r.code, r.out, r.errout)
	}
	if !strings.Contains(r.out, "runbook split-namespace complete: 1 PowerShell session(s)") || !strings.Contains(r.errout, "no terminal: running the whole runbook unattended") {
		t.Errorf("demo output:\n%s\n%s", r.out, r.errout)
	}
	for _, f := range []string{"lab/org.json", "lab/exrunbook.yaml", "state/state.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("demo left no %s: %v", f, err)
		}
	}
	again := cli(context.Background(), "", false, args...)
	if again.code != exitOK || !strings.Contains(again.out, "complete") {
		t.Errorf("second demo on the same dir: code %d\n%s\n%s", again.code, again.out, again.errout)
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--mailboxes", "0"},
		{"demo", "--mailboxes", "5", "--allow", "6"},
		{"demo", "--autodiscover-wait", "-1s"},
		{"demo", "--autodiscover-wait", "0s"}, // 0 would be the production 2h
	} {
		args = append(args, "--dir", t.TempDir())
		if r := cli(context.Background(), "", false, args...); r.code != exitUsage {
			t.Errorf("%v: code %d, want %d: %s", args, r.code, exitUsage, r.errout)
		}
	}
}
