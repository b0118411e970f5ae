package exchange

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The combined script is the expansion and the mailbox read, verbatim,
// ending in one ConvertTo-Json; its golden file is beside the others.
func TestReadAllowListGoldenScript(t *testing.T) {
	f := &fakeRunner{}
	_, _, _ = New(f).ReadAllowList(context.Background(), "AllowExternalAccess", []string{"UserMailbox"})
	if len(f.scripts) != 1 {
		t.Fatalf("%d scripts run, want one", len(f.scripts))
	}
	s := f.scripts[0]
	if !strings.HasPrefix(s, scriptHeader) || strings.Count(s, "ConvertTo-Json") != 1 || !strings.HasSuffix(s, "-Compress"+asciiOnly+"\n") {
		t.Fatalf("script shape:\n%s", s)
	}
	for _, part := range []string{"Get-DistributionGroupMember -Identity $g -ResultSize Unlimited", "Get-CASMailbox -ResultSize Unlimited", "Get-Mailbox -RecipientTypeDetails $types -ResultSize Unlimited"} {
		if !strings.Contains(s, part) {
			t.Errorf("script lacks %q", part)
		}
	}
	path := filepath.Join("testdata", "scripts", "read_allow_list.ps1")
	if *update {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/exchange -run ReadAllowList -update)", err)
	}
	if string(want) != s {
		t.Fatalf("script differs from %s (run with -update if intended):\n%s", path, s)
	}
}

func TestReadAllowListParse(t *testing.T) {
	grpFound := `{"Found":true,"Error":null,"Name":"Allow","Guid":"` + g2 + `","Groups":[],"Members":[{"g":"` + g1 + `","n":"A","t":"UserMailbox","d":"UserMailbox"}]}`
	grpMissing := `{"Found":false,"Error":"couldn't be found","Name":"Allow","Guid":null,"Groups":[],"Members":[]}`
	m := `"m":[{"g":"` + g1 + `","a":"a","n":"A","s":"a@x","t":"UserMailbox"}],"c":[{"g":"` + g1 + `","r":true,"x":false,"h":null}]`
	cases := []struct {
		name      string
		out       string
		wantErr   string
		notFound  bool
		mailboxes int
		members   int
	}{
		{name: "group first", out: `{"grp":` + grpFound + `,` + m + `}`, mailboxes: 1, members: 1},
		{name: "group last", out: `{` + m + `,"grp":` + grpFound + `}`, mailboxes: 1, members: 1},
		{name: "missing group keeps the mailboxes", out: `{"grp":` + grpMissing + `,` + m + `}`, notFound: true, mailboxes: 1},
		{name: "no grp", out: `{` + m + `}`, wantErr: "property grp is missing"},
		{name: "not json", out: `oops`, wantErr: "expected a JSON object"},
		{name: "truncated", out: `{"grp":` + grpFound[:20], wantErr: "truncated"},
		{name: "bad mailbox list", out: `{"grp":` + grpFound + `,"m":[{"g":"x"}],"c":[]}`, wantErr: "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, mbx, err := New(&fakeRunner{out: tc.out}).ReadAllowList(context.Background(), "Allow", []string{"UserMailbox"})
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			case tc.notFound:
				if !errors.Is(err, ErrGroupNotFound) {
					t.Fatalf("err %v, want ErrGroupNotFound", err)
				}
			case err != nil:
				t.Fatal(err)
			}
			if len(mbx) != tc.mailboxes || len(g.Mailboxes) != tc.members {
				t.Fatalf("mailboxes %d members %d: %+v %+v", len(mbx), len(g.Mailboxes), mbx, g)
			}
			if tc.mailboxes > 0 && (!mbx[0].MAPIBlockOutlookRpcHttp || mbx[0].MAPIBlockOutlookExternalConnectivity) {
				t.Fatalf("flags not read: %+v", mbx[0])
			}
		})
	}
	if _, _, err := New(&fakeRunner{}).ReadAllowList(context.Background(), " ", []string{"UserMailbox"}); err == nil {
		t.Fatal("an empty group name must be refused")
	}
	if _, _, err := New(&fakeRunner{}).ReadAllowList(context.Background(), "G", nil); err == nil {
		t.Fatal("no recipient type must be refused")
	}
}

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

func TestReadAllowListAndWriteGoldenScript(t *testing.T) {
	f := &fakeRunner{}
	_, _ = New(f).ReadAllowListAndWrite(context.Background(), "AllowExternalAccess", []string{"UserMailbox"}, InlineWrite{Limit: 500})
	if len(f.scripts) != 1 {
		t.Fatalf("%d scripts", len(f.scripts))
	}
	s := f.scripts[0]
	if !strings.HasPrefix(s, scriptHeader) || strings.Count(s, "ConvertTo-Json") != 1 || !strings.Contains(s, "$limit = 500\n$allowEmpty = $false\n") {
		t.Fatalf("script shape:\n%s", s)
	}
	path := filepath.Join("testdata", "scripts", "read_allow_list_and_write.ps1")
	if *update {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/exchange -run ReadAllowList -update)", err)
	}
	if string(want) != s {
		t.Fatalf("script differs from %s (run with -update if intended):\n%s", path, s)
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
