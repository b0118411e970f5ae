package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/state"
)

// enforceLab is a lab with the config it wrote and a state directory.
type enforceLab struct {
	l        *lab.Lab
	config   string
	stateDir string
	group    string
}

func startEnforceLab(t *testing.T, mailboxes int) *enforceLab {
	t.Helper()
	for _, v := range []string{"EXRUNBOOK_EXCHANGE_PASSWORD", "EXRUNBOOK_MAILBOXES_ALLOW_GROUP", "EXRUNBOOK_MAILBOXES_MAX_CHANGES"} {
		if os.Getenv(v) != "" {
			t.Skipf("%s is set in the environment", v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: dir, Mailboxes: mailboxes, Allow: 3, Servers: 2, Seed: 9})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); cancel() })
	return &enforceLab{l: l, config: filepath.Join(dir, lab.FileConfig), stateDir: filepath.Join(t.TempDir(), "state"), group: l.Endpoints().AllowGroup}
}

func (e *enforceLab) enforce(args ...string) result {
	return cli(context.Background(), "", false, append([]string{"--config", e.config, "--state-dir", e.stateDir, "enforce"}, args...)...)
}

// decided checks every user mailbox against the lab's own expansion of
// the group; it returns the allowed set.
func (e *enforceLab) decided(t *testing.T) map[uuid.UUID]bool {
	t.Helper()
	allow := map[uuid.UUID]bool{}
	e.l.Store().Read(func(o *org.Org) {
		g, err := o.FindGroup(e.group)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range o.ExpandGroup(g) {
			allow[m.Guid] = true
		}
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails != org.UserMailbox {
				continue
			}
			blocked := m.MAPIBlockOutlookRpcHttp && m.MAPIBlockOutlookExternalConnectivity
			open := !m.MAPIBlockOutlookRpcHttp && !m.MAPIBlockOutlookExternalConnectivity
			if allow[m.Guid] && !open || !allow[m.Guid] && !blocked {
				t.Errorf("%q (allowed %v) has RpcHttp=%v External=%v", m.Alias, allow[m.Guid], m.MAPIBlockOutlookRpcHttp, m.MAPIBlockOutlookExternalConnectivity)
			}
		}
	})
	return allow
}

func (e *enforceLab) journalEnforce(t *testing.T) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(e.stateDir, state.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ent struct {
			Kind    string         `json:"kind"`
			Details map[string]any `json:"details"`
		}
		if json.Unmarshal(sc.Bytes(), &ent) == nil && ent.Kind == "enforce" {
			out = append(out, ent.Details)
		}
	}
	return out
}

func decodeEnforceJSON(t *testing.T, out string) enforceJSON {
	t.Helper()
	var rep enforceJSON
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not the JSON summary: %v\n%s", err, out)
	}
	return rep
}

// The whole life of enforce against one lab: refusal by --max-changes,
// a dry run, the first run, a steady run, changes in both directions
// through a nested group, a member that is not a mailbox of the type,
// the lock, and a failing write.
func TestEnforceLab(t *testing.T) {
	e := startEnforceLab(t, 40)

	// More changes than --max-changes: exit 5 naming count and group.
	e.l.Counters().Reset()
	r := e.enforce("--max-changes", "5")
	if r.code != 5 || !strings.Contains(r.errout, "more than the limit of 5; check the group, then rerun with a higher --max-changes") || !strings.Contains(r.errout, e.group) {
		t.Fatalf("max-changes: %d\n%s\n%s", r.code, r.out, r.errout)
	}
	if st := e.l.Stats(); st.MailboxWrites != 0 || st.PowerShellLaunches != 0 || st.PSRPPools != 1 {
		t.Fatalf("refusal: %d writes, %d launches, %d PSRP sessions", st.MailboxWrites, st.PowerShellLaunches, st.PSRPPools)
	}

	// Dry run: the difference, nothing written.
	e.l.Counters().Reset()
	r = e.enforce("--dry-run", "--max-changes", "1000", "--output", "json")
	rep := decodeEnforceJSON(t, r.out)
	if r.code != 0 || !rep.DryRun || rep.Blocked == 0 || len(rep.Changes) != rep.Blocked+rep.Unblocked || rep.Group != e.group || rep.Allowed == 0 || rep.NestedGroups != 2 {
		t.Fatalf("dry run: %d %+v\n%s", r.code, rep, r.errout)
	}
	if st := e.l.Stats(); st.MailboxWrites != 0 || st.Cmdlets["Set-CASMailbox"] != 0 {
		t.Fatalf("dry run wrote: %+v", st)
	}
	firstChanges := len(rep.Changes)

	// The first run writes exactly the difference, one audit line each;
	// the hostile names the lab generates included.
	e.l.Counters().Reset()
	r = e.enforce("--max-changes", "1000")
	if r.code != 0 {
		t.Fatalf("first run: %d\n%s\n%s", r.code, r.out, r.errout)
	}
	// Within one batch (500): read and write in the same launch.
	if st := e.l.Stats(); int(st.MailboxWrites) != firstChanges || st.PowerShellLaunches != 0 || st.PSRPPools != 1 {
		t.Fatalf("first run: %d writes of %d changes, %d launches, %d PSRP sessions", st.MailboxWrites, firstChanges, st.PowerShellLaunches, st.PSRPPools)
	}
	if n := strings.Count(r.out, "\nblocked ") + strings.Count("\n"+r.out, "\nblocked "); n == 0 || !strings.Contains(r.out, "mailboxes read") {
		t.Fatalf("text output:\n%s", r.out)
	}
	allow := e.decided(t)
	audit := e.journalEnforce(t)
	if len(audit) != firstChanges {
		t.Fatalf("%d audit lines for %d changes", len(audit), firstChanges)
	}
	for _, a := range audit {
		if a["ok"] != true || a["guid"] == "" || a["from"] == nil || a["to"] == nil {
			t.Fatalf("audit line %v", a)
		}
	}

	// Steady state: one launch, no write.
	e.l.Counters().Reset()
	r = e.enforce()
	if st := e.l.Stats(); r.code != 0 || st.MailboxWrites != 0 || st.PowerShellLaunches != 0 || st.PSRPPools != 1 || st.Pipelines > 7 {
		t.Fatalf("steady: code %d, %d writes, %d launches, %d PSRP sessions, %d pipelines (want at most 7: the forest view and 6 reads)\n%s",
			r.code, st.MailboxWrites, st.PowerShellLaunches, st.PSRPPools, st.Pipelines, r.errout)
	}

	// Both directions: a blocked user joins the nested group, an allowed
	// direct member leaves; a shared mailbox joins (not a mailbox of the
	// configured type: reported, left alone).
	var joiner, leaver, shared *org.Mailbox
	if err := e.l.Store().UpdateRest(func(o *org.Org) error {
		root, _ := o.FindGroup(e.group)
		nested, err := o.FindGroup("AllowExternalAccess-Nested-Contractors")
		if err != nil {
			return err
		}
		for _, m := range o.Mailboxes {
			switch {
			case joiner == nil && m.RecipientTypeDetails == org.UserMailbox && !allow[m.Guid]:
				joiner = m
			case shared == nil && m.RecipientTypeDetails == org.SharedMailbox:
				shared = m
			}
		}
		for i, id := range root.Members {
			if m := o.MailboxByGuid(id); m != nil && allow[id] && leaver == nil {
				leaver = m
				root.Members = append(root.Members[:i:i], root.Members[i+1:]...)
				break
			}
		}
		if joiner == nil || leaver == nil || shared == nil {
			t.Fatalf("lab lacks a joiner %v, leaver %v or shared mailbox %v", joiner, leaver, shared)
		}
		nested.Members = append(nested.Members, joiner.Guid, shared.Guid)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sharedBefore := [2]bool{shared.MAPIBlockOutlookRpcHttp, shared.MAPIBlockOutlookExternalConnectivity}
	r = e.enforce("--output", "json")
	rep = decodeEnforceJSON(t, r.out)
	if r.code != 0 || rep.Blocked != 1 || rep.Unblocked != 1 || len(rep.Changes) != 2 {
		t.Fatalf("both directions: %d %+v\n%s", r.code, rep, r.errout)
	}
	if len(rep.Missing) != 1 || rep.Missing[0].Guid != shared.Guid.String() {
		t.Fatalf("missing member not reported: %+v", rep.Missing)
	}
	e.decided(t)
	e.l.Store().Read(func(o *org.Org) {
		m := o.MailboxByGuid(shared.Guid)
		if [2]bool{m.MAPIBlockOutlookRpcHttp, m.MAPIBlockOutlookExternalConnectivity} != sharedBefore {
			t.Error("the shared mailbox was written")
		}
	})
	r = e.enforce()
	if r.code != 0 || !strings.Contains(r.errout, "warning: "+shared.Name) {
		t.Fatalf("text run does not warn about the missing member: %d\n%s", r.code, r.errout)
	}

	// Locked: a second enforce at once exits 3 naming the holder.
	lock, err := state.Acquire(e.stateDir, "enforce")
	if err != nil {
		t.Fatal(err)
	}
	r = e.enforce()
	lock.Release()
	if r.code != 3 || !strings.Contains(r.errout, "enforce") {
		t.Fatalf("locked: %d\n%s", r.code, r.errout)
	}

	// A write Exchange refuses: exit 1 naming it; the next run retries it.
	if err := e.l.Store().UpdateRest(func(o *org.Org) error {
		nested, _ := o.FindGroup("AllowExternalAccess-Nested-Contractors")
		nested.Members = nested.Members[:len(nested.Members)-2]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.l.Faults().Set(faults.Spec{Seed: 1, Errors: map[string]float64{"set-casmailbox": 1}})
	r = e.enforce()
	e.l.Faults().Set(faults.Spec{})
	// Exchange's transient AD error stops the pipeline: the batch is
	// retried by the next run.
	if r.code != 1 || !strings.Contains(r.errout, "enforce stopped after 0 of 1 mailboxes") || !strings.Contains(r.errout, "transient server error") {
		t.Fatalf("failing write: %d\n%s\n%s", r.code, r.out, r.errout)
	}
	if r = e.enforce(); r.code != 0 {
		t.Fatalf("after the fault: %d %s", r.code, r.errout)
	}
	e.decided(t)
}

// An empty group is refused unless --allow-empty-group; a missing group
// is refused with its name.
func TestEnforceEmptyAndMissingGroupLab(t *testing.T) {
	e := startEnforceLab(t, 20)
	if err := e.l.Store().UpdateRest(func(o *org.Org) error {
		g, err := o.FindGroup(e.group)
		if err != nil {
			return err
		}
		g.Members = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r := e.enforce("--max-changes", "1000")
	if r.code != 5 || !strings.Contains(r.errout, "no mailbox at any depth") || !strings.Contains(r.errout, "fill the group, or pass --allow-empty-group") {
		t.Fatalf("empty group: %d\n%s", r.code, r.errout)
	}
	if st := e.l.Stats(); st.MailboxWrites != 0 {
		t.Fatalf("%d writes after the refusal", st.MailboxWrites)
	}
	// More changes than one batch: read, then write in batches of 5, the
	// first batch failing as a whole (Exchange's transient error).
	t.Setenv("EXRUNBOOK_MAILBOXES_BATCH_SIZE", "5")
	e.l.Faults().Set(faults.Spec{Seed: 1, Throttle: map[string]float64{"set-casmailbox": 1}})
	r = e.enforce("--max-changes", "1000", "--allow-empty-group")
	e.l.Faults().Set(faults.Spec{})
	if r.code != 1 || !strings.Contains(r.errout, "enforce stopped after") {
		t.Fatalf("throttled batch: %d\n%s", r.code, r.errout)
	}
	e.l.Counters().Reset()
	if r = e.enforce("--max-changes", "1000", "--allow-empty-group"); r.code != 0 {
		t.Fatalf("--allow-empty-group: %d\n%s", r.code, r.errout)
	}
	st := e.l.Stats()
	if w := int(st.MailboxWrites); w <= 5 || st.PowerShellLaunches != 0 || st.PSRPPools != 1 || st.Cmdlets["Set-CASMailbox"] < int64((w+4)/5) || len(e.journalEnforce(t)) < w {
		t.Fatalf("batched: %d writes, %d launches, %d Set-CASMailbox pipelines, %d audit lines", w, st.PowerShellLaunches, st.Cmdlets["Set-CASMailbox"], len(e.journalEnforce(t)))
	}
	t.Setenv("EXRUNBOOK_MAILBOXES_ALLOW_GROUP", "No Such Group")
	r = e.enforce()
	if r.code != 5 || !strings.Contains(r.errout, `"No Such Group" does not exist`) || !strings.Contains(r.errout, "or pass --allow-empty-group") {
		t.Fatalf("missing group: %d\n%s", r.code, r.errout)
	}
	r = e.enforce("--output", "json")
	if rep := decodeEnforceJSON(t, r.out); r.code != 5 || !strings.Contains(rep.Refused, "No Such Group") || !strings.Contains(rep.Refused, "--allow-empty-group") || rep.Blocked != 0 {
		t.Fatalf("missing group, JSON: %d %+v", r.code, rep)
	}
}

func TestEnforcePrintSchedule(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exrunbook.yaml")
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	write(t, cfg, `exchange:
  endpoint: https://ex01.contoso.com/PowerShell/
  auth: ntlm
  user: CONTOSO\admin
  password_file: pw
namespace: {internal: outlook.contoso.com, external: outlook-ext.contoso.com, autodiscover: autodiscover.contoso.com}
certificate: {mode: thumbprint, thumbprint: "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"}
public_dns: {mode: manual, zone: contoso.com., server: "ns1.contoso.com:53", public_ip: 203.0.113.10}
mailboxes: {allow_group: AllowExternalAccess}
`)
	state := filepath.Join(dir, "state dir")
	r := cli(context.Background(), "", false, "--config", cfg, "--state-dir", state, "enforce", "--print-schedule", "systemd", "--max-changes", "20")
	if r.code != 0 {
		t.Fatalf("systemd: %d %s", r.code, r.errout)
	}
	for _, want := range []string{"OnCalendar=*:0/15", "Persistent=true", "--config " + cfg, `--state-dir "` + state + `"`, "--max-changes 20", `ReadWritePaths="` + state + `"`, "NoNewPrivileges=true"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("systemd lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "LoadCredential") {
		t.Errorf("password_file is configured: no credential needed:\n%s", r.out)
	}
	r = cli(context.Background(), "", false, "--config", cfg, "--state-dir", state, "enforce", "--print-schedule", "windows")
	if r.code != 0 || !strings.Contains(r.out, "<Interval>PT15M</Interval>") || !strings.Contains(r.out, "<Command>exrunbook.exe</Command>") {
		t.Fatalf("windows: %d %s\n%s", r.code, r.errout, r.out)
	}
	for _, bad := range [][]string{{"--print-schedule", "cron"}, {"--max-changes", "0"}, {"extra"}} {
		r = cli(context.Background(), "", false, append([]string{"--config", cfg, "--state-dir", state, "enforce"}, bad...)...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2", bad, r.code)
		}
	}
}
