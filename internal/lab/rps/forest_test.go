package rps_test

import (
	"context"
	"testing"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// TestForestViewLastsForTheSession: Set-ADServerSettings -ViewEntireForest
// $true in one pipeline widens the next pipelines of the same session
// (the same Principal, as a runspace keeps it), not another session's.
func TestForestViewLastsForTheSession(t *testing.T) {
	f := newFixture(t, fixtureOpts{forest: true})
	sess, err := f.ep.Principal(admin)
	if err != nil {
		t.Fatal(err)
	}
	run := func(pl psrp.Pipeline) int {
		t.Helper()
		var s sink
		if rec := f.ep.Run(context.Background(), sess, pl, nil, &s); rec != nil {
			t.Fatalf("%s", rec.Message)
		}
		if len(s.errs) > 0 {
			t.Fatalf("%s", s.errs[0].Message)
		}
		return len(s.out)
	}
	all := pipeline(cmd("Get-CASMailbox", "ResultSize", "Unlimited"))
	if n := run(all); n != 16 {
		t.Fatalf("before the forest view: %d mailboxes, want the first domain's 16", n)
	}
	run(pipeline(cmd("Set-ADServerSettings", "ViewEntireForest", true)))
	if n := run(all); n != 19 {
		t.Fatalf("with the forest view: %d mailboxes, want 19", n)
	}
	if n := len(f.ok(admin, all).out); n != 16 {
		t.Fatalf("another session: %d mailboxes, want 16", n)
	}
}
