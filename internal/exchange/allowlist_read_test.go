package exchange

import (
	"errors"
	"sort"
	"strings"
	"testing"
)

// Against the lab: the allow-list read returns what ExpandGroup and
// GetCASMailboxes return separately, in a handful of pipelines, with no
// WinRS shell and no powershell.exe.
func TestLabReadAllowListMatchesSeparateReads(t *testing.T) {
	e := startLab(t, 60)
	types := []string{"UserMailbox"}
	if _, err := e.c.GetOrganizationConfig(e.ctx); err != nil { // opens the session
		t.Fatal(err)
	}
	e.l.Counters().Reset()
	g, mbx, err := e.c.ReadAllowList(e.ctx, e.ep.AllowGroup, types)
	if err != nil {
		t.Fatal(err)
	}
	if st := e.l.Stats(); st.PowerShellLaunches != 0 || st.Shells != 0 || st.ScriptsRefused != 0 || st.Pipelines > 6 {
		t.Fatalf("%d launches, %d shells, %d scripts refused, %d pipelines; want 0, 0, 0 and at most 6", st.PowerShellLaunches, st.Shells, st.ScriptsRefused, st.Pipelines)
	}
	g2, err := e.c.ExpandGroup(e.ctx, e.ep.AllowGroup)
	if err != nil {
		t.Fatal(err)
	}
	mbx2, err := e.c.GetCASMailboxes(e.ctx, types)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Mailboxes) == 0 || len(g.Groups) == 0 || len(mbx) < 50 {
		t.Fatalf("expansion %+v, %d mailboxes", g, len(mbx))
	}
	ids := func(ms []GroupMember) string {
		var s []string
		for _, m := range ms {
			s = append(s, m.Guid)
		}
		sort.Strings(s)
		return strings.Join(s, ",")
	}
	if ids(g.Mailboxes) != ids(g2.Mailboxes) || len(g.Groups) != len(g2.Groups) || g.Guid != g2.Guid {
		t.Fatalf("group differs:\n%+v\n%+v", g, g2)
	}
	if len(mbx) != len(mbx2) {
		t.Fatalf("%d mailboxes vs %d", len(mbx), len(mbx2))
	}
	for i := range mbx {
		a, b := mbx[i], mbx2[i]
		if a.Guid != b.Guid || a.Alias != b.Alias || a.MAPIBlockOutlookRpcHttp != b.MAPIBlockOutlookRpcHttp || a.MAPIBlockOutlookExternalConnectivity != b.MAPIBlockOutlookExternalConnectivity {
			t.Fatalf("row %d differs: %+v vs %+v", i, a, b)
		}
	}
	_, mbx3, err := e.c.ReadAllowList(e.ctx, "No Such Group", types)
	if !errors.Is(err, ErrGroupNotFound) || len(mbx3) != len(mbx) {
		t.Fatalf("missing group: %v, %d mailboxes", err, len(mbx3))
	}
}

// Against the lab: the script writes exactly the mailboxes whose flags
// differ from the group's decision, in the same launch, and only within
// its limit and guards.
func TestLabReadAllowListAndWrite(t *testing.T) {
	e := startLab(t, 60)
	types := []string{"UserMailbox"}
	differing := func(run AllowListRun) map[string]bool {
		allow := map[string]bool{}
		for _, m := range run.Group.Mailboxes {
			allow[strings.ToLower(m.Guid)] = true
		}
		out := map[string]bool{}
		for _, m := range run.Mailboxes {
			b := !allow[strings.ToLower(m.Guid)]
			if m.MAPIBlockOutlookRpcHttp != b || m.MAPIBlockOutlookExternalConnectivity != b {
				out[strings.ToLower(m.Guid)] = true
			}
		}
		return out
	}
	cases := []struct {
		name      string
		group     string
		w         InlineWrite
		wantWrite bool
		notFound  bool
	}{
		{name: "limit 0 only reads", group: e.ep.AllowGroup, w: InlineWrite{}},
		{name: "over the limit only reads", group: e.ep.AllowGroup, w: InlineWrite{Limit: 3}},
		{name: "missing group only reads", group: "No Such Group", w: InlineWrite{Limit: 1000}, notFound: true},
		{name: "within the limit writes", group: e.ep.AllowGroup, w: InlineWrite{Limit: 1000}, wantWrite: true},
		{name: "then nothing is left", group: e.ep.AllowGroup, w: InlineWrite{Limit: 1000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.l.Counters().Reset()
			run, err := e.c.ReadAllowListAndWrite(e.ctx, tc.group, types, tc.w)
			if tc.notFound != errors.Is(err, ErrGroupNotFound) || (!tc.notFound && err != nil) {
				t.Fatalf("err %v", err)
			}
			st := e.l.Stats()
			if st.PowerShellLaunches != 0 || st.Shells != 0 || len(run.Mailboxes) < 50 {
				t.Fatalf("%d launches, %d shells, %d mailboxes", st.PowerShellLaunches, st.Shells, len(run.Mailboxes))
			}
			diff := differing(run)
			// On the Exchange endpoint the server never decides: the read
			// only reads, and allowlist.Compute/Apply write.
			if !tc.wantWrite || e.c.p != nil {
				if len(run.Written) != 0 || st.MailboxWrites != 0 {
					t.Fatalf("wrote %d (%d)", len(run.Written), st.MailboxWrites)
				}
				return
			}
			if len(diff) == 0 || len(run.Written) != len(diff) || int(st.MailboxWrites) != len(diff) {
				t.Fatalf("%d differ, %d written, %d writes", len(diff), len(run.Written), st.MailboxWrites)
			}
			for _, w := range run.Written {
				if !w.OK || !diff[strings.ToLower(w.ID)] {
					t.Fatalf("unexpected write %+v", w)
				}
			}
		})
	}
	e.l.Counters().Reset()
	run, err := e.c.ReadAllowListAndWrite(e.ctx, "No Such Group", types, InlineWrite{Limit: 1000, AllowEmptyGroup: true})
	if !errors.Is(err, ErrGroupNotFound) || len(run.Written) != 0 || len(run.Mailboxes) < 50 {
		t.Fatalf("allowed empty group: %v, %d written, %d mailboxes read", err, len(run.Written), len(run.Mailboxes))
	}
}
