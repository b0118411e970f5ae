package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/state"
)

// Issues 10 and 11, "Edge and forest": a lab with an Edge Transport
// server, mailboxes in a child domain and a dynamic distribution group in
// the allow group. The whole runbook, unattended: the Edge server is out
// of scope (no URL or certificate change, never named to a cmdlet or in
// the journal); the child domain's mailboxes outside the allow set are
// blocked, its allowed one is not; the dynamic group's members stay open
// and the mailbox with only its department is blocked; rollback --all
// gives org.initial.json back, byte for byte.
func TestE2EForest(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds exrunbook and runs a whole runbook against the lab")
	}
	e := startE2ELab(t, buildExrunbook(t, t.TempDir()), lab.Options{Mailboxes: 120, Allow: 6, Servers: 2, Seed: 17,
		Edge: true, ChildDomain: "emea", DynamicGroup: true})
	initial := e.initial(t)
	if got := e.org(t); string(got) != string(initial) {
		t.Fatalf("a fresh lab's /org differs from org.initial.json: %s", firstDiff(got, initial))
	}
	before := parseForest(t, initial)
	if before.edge() == nil || len(before.DynamicGroups) != 1 || len(before.inDomain("emea.contoso.test")) < 2 {
		t.Fatalf("the lab is not a forest: servers %v, dynamic groups %d", before.Servers, len(before.DynamicGroups))
	}

	r := e.mustRun(t, 0, "run", "--unattended", "--yes", "--wait")
	if !strings.Contains(r.out, "runbook split-namespace complete") {
		t.Errorf("run output does not say the runbook is complete:\n%s", tail(r.out, 2000))
	}
	after := parseForest(t, e.org(t))

	// The Edge server: unchanged, without virtual directories or
	// certificates, named to no cmdlet and in no journal entry.
	edge := generate.EdgeServer
	if !jsonEqual(before.edge(), after.edge()) {
		t.Errorf("the Edge server changed: %v → %v", before.edge(), after.edge())
	}
	for _, v := range after.VirtualDirectories {
		if strings.EqualFold(v.Server, edge) {
			t.Errorf("the Edge server got the virtual directory %s", v.Name)
		}
	}
	for _, c := range after.Certificates {
		if strings.EqualFold(c.Server, edge) {
			t.Errorf("the Edge server got the certificate %s", c.Thumbprint)
		}
	}
	for _, c := range e.calls(t) {
		for k, v := range c.Params {
			if strings.Contains(strings.ToUpper(v), edge) {
				t.Errorf("%s -%s %s: the Edge server was in scope", c.Cmdlet, k, v)
			}
		}
	}
	journal, err := os.ReadFile(filepath.Join(e.stateDir, state.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToUpper(string(journal)), edge) {
		t.Errorf("the journal names the Edge server")
	}
	// Every other server got the new certificate (the runbook ran).
	thumb := e.pfxThumbprint(t)
	for _, s := range after.Servers {
		if s.ServerRole == "Edge" {
			continue
		}
		found := false
		for _, c := range after.Certificates {
			found = found || c.Server == s.Name && c.Thumbprint == thumb
		}
		if !found {
			t.Errorf("%s lacks the new certificate %s", s.Name, thumb)
		}
	}

	// Mailboxes: the allow set is the static expansion plus the dynamic
	// group's filter (Department and CustomAttribute1, in OU=Users of the
	// first domain).
	allow := before.allowSet(t)
	dynamic, departmentOnly, childOpen, childBlocked := 0, 0, 0, 0
	for _, m := range after.Mailboxes {
		if m.RecipientTypeDetails != "UserMailbox" {
			continue
		}
		isDynamic := m.Department == generate.DynamicDepartment && m.CustomAttribute1 == generate.DynamicAttribute &&
			strings.HasSuffix(strings.ToLower(m.DistinguishedName), ",ou=users,dc=contoso,dc=test")
		open := allow[m.Guid] || isDynamic
		if blocked := m.MAPIBlockOutlookRpcHttp && m.MAPIBlockOutlookExternalConnectivity; blocked == open {
			t.Errorf("mailbox %q (%s; allowed %v, dynamic member %v): RpcHttp=%v ExternalConnectivity=%v", m.Name, m.DistinguishedName,
				allow[m.Guid], isDynamic, m.MAPIBlockOutlookRpcHttp, m.MAPIBlockOutlookExternalConnectivity)
		}
		switch {
		case isDynamic:
			dynamic++
		case m.Department == generate.DynamicDepartment:
			departmentOnly++
		}
		if strings.HasSuffix(strings.ToLower(m.DistinguishedName), ",dc=emea,dc=contoso,dc=test") {
			if open {
				childOpen++
			} else {
				childBlocked++
			}
		}
	}
	if dynamic != generate.DynamicMembers || departmentOnly != 1 || childOpen != 1 || childBlocked < 1 {
		t.Errorf("a weak forest: %d dynamic members, %d with the department only, child domain %d open and %d blocked",
			dynamic, departmentOnly, childOpen, childBlocked)
	}
	t.Logf("forest: %d dynamic members open, child domain %d open and %d blocked", dynamic, childOpen, childBlocked)

	// The post-checks agree (mailbox flags judged with the dynamic group
	// and the child domain).
	r = e.mustRun(t, 0, "check")
	if !strings.Contains(r.out+r.errout, " 0 failed") {
		t.Errorf("check output:\n%s", tail(r.out, 3000))
	}

	e.mustRun(t, 0, "rollback", "--all", "--yes")
	if got := e.org(t); string(got) != string(initial) {
		t.Fatalf("after rollback --all, /org differs from org.initial.json: %s", firstDiff(got, initial))
	}
}

// forestDoc is the part of the canonical org JSON the forest test judges.
type forestDoc struct {
	Servers []struct {
		Name, ServerRole, DatabaseAvailabilityGroup string
	}
	Certificates []struct {
		Server, Thumbprint string
	}
	VirtualDirectories []struct {
		Server, Name string
	}
	Mailboxes []struct {
		Guid, Name, DistinguishedName, RecipientTypeDetails, Department, CustomAttribute1 string
		MAPIBlockOutlookRpcHttp, MAPIBlockOutlookExternalConnectivity                     bool
	}
	Groups []struct {
		Guid, Name string
		Members    []string
	}
	DynamicGroups []struct {
		Guid, Name, RecipientFilter string
	}
}

func parseForest(t *testing.T, b []byte) *forestDoc {
	t.Helper()
	var d forestDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("org JSON: %v", err)
	}
	return &d
}

func (d *forestDoc) edge() any {
	for _, s := range d.Servers {
		if s.ServerRole == "Edge" {
			return s
		}
	}
	return nil
}

func (d *forestDoc) inDomain(domain string) []string {
	var out []string
	suffix := ",dc=" + strings.ReplaceAll(domain, ".", ",dc=")
	for _, m := range d.Mailboxes {
		if strings.HasSuffix(strings.ToLower(m.DistinguishedName), suffix) {
			out = append(out, m.Guid)
		}
	}
	return out
}

// allowSet is the mailbox GUIDs reachable through the allow group's
// stored members (nested groups recursively; a dynamic group's members
// are what its filter selects, judged by the caller).
func (d *forestDoc) allowSet(t *testing.T) map[string]bool {
	t.Helper()
	groups := map[string]int{}
	root := -1
	for i, g := range d.Groups {
		groups[g.Guid] = i
		if g.Name == generate.AllowGroup {
			root = i
		}
	}
	if root < 0 {
		t.Fatalf("no group %q", generate.AllowGroup)
	}
	dynamic := map[string]bool{}
	for _, g := range d.DynamicGroups {
		dynamic[g.Guid] = true
	}
	sawDynamic := false
	out, seen := map[string]bool{}, map[int]bool{}
	var walk func(i int)
	walk = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, m := range d.Groups[i].Members {
			if j, ok := groups[m]; ok {
				walk(j)
			} else if dynamic[m] {
				sawDynamic = true
			} else {
				out[m] = true
			}
		}
	}
	walk(root)
	if !sawDynamic {
		t.Fatal("the dynamic group is not in the allow group")
	}
	return out
}
