package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/state"
)

// holdState creates the directory, takes the lock (a second holder is
// refused with the first one named) and opens the journal; release keeps
// what was journaled and frees the lock.
func TestHoldState(t *testing.T) {
	g := &GlobalOptions{StateDir: filepath.Join(t.TempDir(), "state")}
	h, err := g.holdState("enforce")
	if err != nil {
		t.Fatal(err)
	}
	_, err = g.holdState("certificate-renew")
	var le *state.LockedError
	if !errors.As(err, &le) || le.Info.Operation != "enforce" {
		t.Fatalf("second holder: %v; want a LockedError naming enforce", err)
	}
	if err := h.journal.Append(state.Entry{Kind: "enforce", Details: map[string]any{"guid": "g1"}}); err != nil {
		t.Fatal(err)
	}
	var rerr error
	h.release(&rerr)
	if rerr != nil {
		t.Fatalf("release: %v", rerr)
	}
	b, err := os.ReadFile(filepath.Join(g.StateDir, state.JournalFile))
	if err != nil || !strings.Contains(string(b), `"g1"`) {
		t.Fatalf("journal after release: %q %v", b, err)
	}
	h2, err := g.holdState("certificate-renew")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	// release keeps the caller's error and adds none of its own.
	first := errors.New("the command failed")
	rerr = first
	h2.release(&rerr)
	if rerr != first {
		t.Errorf("release replaced the command's error with %v", rerr)
	}
}
