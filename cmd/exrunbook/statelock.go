package main

import "github.com/exrunbook/exrunbook/internal/state"

// heldState is the state directory held by a command that keeps no
// runbook state but writes an audit trail (enforce, certificate renew):
// the directory's lock, taken for the command, and its journal.
type heldState struct {
	lock    *state.Lock
	journal *state.Journal
}

// holdState creates the state directory if needed, takes its lock for op
// (another holder gives *state.LockedError, exit 3) and opens its journal.
// The caller releases it with release.
func (g *GlobalOptions) holdState(op string) (*heldState, error) {
	if err := state.EnsureDir(g.StateDir); err != nil {
		return nil, err
	}
	lock, err := state.Acquire(g.StateDir, op)
	if err != nil {
		return nil, err
	}
	j, err := state.OpenJournal(g.StateDir)
	if err != nil {
		_ = lock.Release()
		return nil, err
	}
	return &heldState{lock: lock, journal: j}, nil
}

// release flushes the journal to stable storage, closes it and releases
// the lock, keeping the first error in *err.
func (h *heldState) release(err *error) {
	keep := func(e error) {
		if e != nil && *err == nil {
			*err = e
		}
	}
	keep(h.journal.Sync())
	keep(h.journal.Close())
	keep(h.lock.Release())
}
