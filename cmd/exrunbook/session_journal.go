package main

import (
	"sync/atomic"
	"time"

	"github.com/exrunbook/exrunbook/internal/state"
)

// journalSessionReopens returns the hook that makes every reopen of the
// Exchange session after a broken one a "session_reopen" entry of
// stateDir's journal, with the error that broke the session (the server's
// words in it) as its reason. Reopens are rare (at most a few per run), so
// each opens the journal, appends its one line and closes it: no handle
// outlives the command, and its line interleaves with the engine's (each
// entry is one O_APPEND write). Only operations that may write the state
// directory journal: when writable is not nil, a reopen is journaled only
// once it is true (a writable engine has opened).
func journalSessionReopens(stateDir string, writable *atomic.Bool) func(cause error) {
	return func(cause error) {
		if writable != nil && !writable.Load() {
			return
		}
		reason := "unknown"
		if cause != nil {
			reason = cause.Error()
		}
		j, err := state.OpenJournal(stateDir)
		if err != nil {
			// As with the engine's own entries, a journal that cannot be
			// written does not fail the operation.
			return
		}
		_ = j.Append(state.Entry{Time: time.Now().UTC(), Kind: "session_reopen", Details: map[string]any{"reason": reason}})
		_ = j.Close()
	}
}
