package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/state"
)

// Issue 4's acceptance tests: the whole split-namespace runbook, run by the
// real exrunbook binary against the lab.

// The organisation of the crash and fault tests (and of their clean
// reference run): fewer mailboxes than the full run so that a hundred
// kills and a faulty run stay quick.
var smallLab = lab.Options{Mailboxes: 300, Allow: 6, Servers: 2, Seed: 42}

type e2eSuite struct {
	bin string

	refOnce sync.Once
	ref     []byte // comparableOrg of a clean run on smallLab
	refErr  string
}

func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds exrunbook and runs whole runbooks against the lab")
	}
	s := &e2eSuite{bin: buildExrunbook(t, t.TempDir())}
	t.Run("Runbook", s.testRunbook)
	t.Run("CrashResume", s.testCrashResume)
	t.Run("Faults", s.testFaults)
	t.Run("BadServerData", s.testBadServerData)
}

// reference is the comparable org after an uninterrupted, fault-free run
// on a fresh smallLab.
func (s *e2eSuite) reference(t *testing.T) []byte {
	t.Helper()
	s.refOnce.Do(func() {
		s.refErr = "the reference run stopped early (see the subtest that ran it)"
		e := startE2ELab(t, s.bin, smallLab)
		r := e.exrunbook(t, "run", "--unattended", "--yes", "--wait")
		if r.code != 0 {
			s.refErr = fmt.Sprintf("reference run: exit %d\n%s", r.code, tail(r.errout, 3000))
			return
		}
		s.ref = comparableOrg(t, e.org(t), e.initial(t), e.pfxThumbprint(t))
		s.refErr = ""
	})
	if s.refErr != "" {
		t.Fatal(s.refErr)
	}
	return s.ref
}

// testRunbook: 2 servers, 2,000 mailboxes, a nested allow group. run →
// every change is in the org; check passes (Autodiscover probes
// included); the cmdlet call log shows only what the scripts intend
// (hostile names); rollback --all restores org.initial.json byte for byte.
func (s *e2eSuite) testRunbook(t *testing.T) {
	e := startE2ELab(t, s.bin, lab.Options{Mailboxes: 2000, Allow: 20, Servers: 2, Seed: 5})
	initial := e.initial(t)
	if got := e.org(t); string(got) != string(initial) {
		t.Fatalf("a fresh lab's /org differs from org.initial.json: %s", firstDiff(got, initial))
	}
	start := time.Now()
	r := e.mustRun(t, 0, "run", "--unattended", "--yes", "--wait")
	runTime := time.Since(start)
	if !strings.Contains(r.out, "runbook split-namespace complete") {
		t.Errorf("run output does not say the runbook is complete:\n%s", tail(r.out, 2000))
	}
	runStats := e.stats(t)
	final := e.org(t)
	ep := e.l.Endpoints()
	changed := verifyRunbookOrg(t, parseOrg(t, initial), parseOrg(t, final), ep, e.pfxThumbprint(t))

	// The budget of issue 11: the unattended run is ONE PSRP session on the
	// Exchange endpoint, no WinRS shell, no powershell.exe, no script.
	t.Logf("run: %s wall, %d PSRP session(s), %d pipelines, %d WinRS shells, %d PowerShell launches, %d scripts refused, %d WinRM requests, %d mailbox writes, %.0f simulated Exchange seconds",
		runTime.Round(time.Millisecond), runStats.PSRPPools, runStats.Pipelines, runStats.Shells, runStats.PowerShellLaunches, runStats.ScriptsRefused,
		runStats.WinRMRequests, runStats.MailboxWrites, runStats.SimulatedSeconds)
	if runStats.PSRPPools != 1 || runStats.Shells != 0 || runStats.PowerShellLaunches != 0 || runStats.ScriptsRefused != 0 {
		t.Errorf("the run used %d PSRP sessions, %d WinRS shells, %d powershell.exe, %d scripts; want 1, 0, 0, 0",
			runStats.PSRPPools, runStats.Shells, runStats.PowerShellLaunches, runStats.ScriptsRefused)
	}
	if runStats.MailboxWrites != int64(changed) {
		t.Errorf("%d mailbox writes for %d changed mailboxes: only differing flags may be written", runStats.MailboxWrites, changed)
	}

	// The post-checks now, Autodiscover probes included.
	r = e.mustRun(t, 0, "check")
	for _, want := range []string{"autodiscover-blocked-user", "autodiscover-allowed-user", "mailbox-flags", " 0 failed"} {
		if !strings.Contains(r.out+r.errout, want) {
			t.Errorf("check output lacks %q:\n%s", want, tail(r.out, 3000))
		}
	}

	start = time.Now()
	r = e.mustRun(t, 0, "rollback", "--all", "--yes")
	rbTime := time.Since(start)
	all := e.stats(t)
	t.Logf("rollback --all: %s wall, %d PSRP sessions (check and rollback: one each), %d pipelines, %d PowerShell launches", rbTime.Round(time.Millisecond),
		all.PSRPPools-runStats.PSRPPools, all.Pipelines-runStats.Pipelines, all.PowerShellLaunches-runStats.PowerShellLaunches)
	if all.PSRPPools-runStats.PSRPPools > 2 || all.Shells != 0 || all.PowerShellLaunches != 0 {
		t.Errorf("check and rollback used %d PSRP sessions, %d WinRS shells, %d powershell.exe; want at most one each, 0, 0",
			all.PSRPPools-runStats.PSRPPools, all.Shells, all.PowerShellLaunches)
	}
	if got := e.org(t); string(got) != string(initial) {
		t.Fatalf("after rollback --all, /org differs from org.initial.json: %s", firstDiff(got, initial))
	}

	// Hostile names: every cmdlet the lab ran (run, check, rollback) is one
	// the pipelines use, every Set-CASMailbox input is a real mailbox's GUID.
	verifyCalls(t, e, parseOrg(t, initial))
}

// verifyRunbookOrg judges the org after the runbook against the initial
// one and returns how many mailboxes changed.
func verifyRunbookOrg(t *testing.T, before, after *orgDoc, ep lab.Endpoints, newThumb string) int {
	t.Helper()
	ext := ep.Names.External

	// The new certificate is on every server, bound to IIS and SMTP.
	for _, srv := range after.Servers {
		found := false
		for _, c := range after.Certificates {
			if c.Server != srv.Name || c.Thumbprint != newThumb {
				continue
			}
			found = true
			svc := map[string]bool{}
			for _, s := range strings.Split(c.Services, ",") {
				svc[strings.TrimSpace(s)] = true
			}
			if !svc["IIS"] || !svc["SMTP"] {
				t.Errorf("%s: certificate %s has services %q, want IIS and SMTP", srv.Name, newThumb, c.Services)
			}
		}
		if !found {
			t.Errorf("%s: the PFX's certificate %s is not installed", srv.Name, newThumb)
		}
	}

	// External URLs on the external name with the same path; everything
	// else of every virtual directory unchanged; Autodiscover and
	// PowerShell untouched.
	changedKinds := map[string]bool{"Owa": true, "Ecp": true, "Mapi": true, "WebServices": true, "ActiveSync": true, "Oab": true}
	vb, va := byKey(t, before.VirtualDirectories, "Guid"), byKey(t, after.VirtualDirectories, "Guid")
	if len(vb) != len(va) {
		t.Errorf("%d virtual directories before, %d after", len(vb), len(va))
	}
	seenKinds := map[string]bool{}
	for id, a := range va {
		b, ok := vb[id]
		if !ok {
			t.Errorf("new virtual directory %v", a)
			continue
		}
		kind, _ := a["Kind"].(string)
		name := fmt.Sprintf("%v\\%v", a["Server"], a["Name"])
		if !changedKinds[kind] {
			if !jsonEqual(a, b) {
				t.Errorf("%s (%s) changed: %v → %v", name, kind, b, a)
			}
			continue
		}
		seenKinds[kind] = true
		if !jsonEqual(without(a, "ExternalUrl"), without(b, "ExternalUrl")) {
			t.Errorf("%s: more than ExternalUrl changed: %v → %v", name, b, a)
		}
		pathFrom, _ := b["ExternalUrl"].(string)
		if pathFrom == "" {
			pathFrom, _ = b["InternalUrl"].(string)
		}
		old, err := url.Parse(pathFrom)
		if err != nil || old.Path == "" {
			t.Fatalf("%s: no URL to take the path from: %v", name, b)
		}
		if want := "https://" + ext + old.Path; a["ExternalUrl"] != want {
			t.Errorf("%s: ExternalUrl %v, want %s", name, a["ExternalUrl"], want)
		}
	}
	if len(seenKinds) != len(changedKinds) {
		t.Errorf("virtual directory kinds seen: %v, want %v", sortedKeys(seenKinds), sortedKeys(changedKinds))
	}

	// Outlook Anywhere: external host name and SSL, the rest as before.
	ob, oa := byKey(t, before.OutlookAnywhere, "Guid"), byKey(t, after.OutlookAnywhere, "Guid")
	if len(oa) != len(after.Servers) || len(ob) != len(oa) {
		t.Errorf("Outlook Anywhere: %d before, %d after, %d servers", len(ob), len(oa), len(after.Servers))
	}
	for id, a := range oa {
		b := ob[id]
		if a["ExternalHostname"] != ext || a["ExternalClientsRequireSsl"] != true {
			t.Errorf("%v Outlook Anywhere: ExternalHostname %v ExternalClientsRequireSsl %v", a["Server"], a["ExternalHostname"], a["ExternalClientsRequireSsl"])
		}
		if !jsonEqual(without(a, "ExternalHostname", "ExternalClientsRequireSsl"), without(b, "ExternalHostname", "ExternalClientsRequireSsl")) {
			t.Errorf("%v Outlook Anywhere: more changed than the external host name: %v → %v", a["Server"], b, a)
		}
	}

	// The SCP (AutoDiscoverServiceInternalUri) is never touched.
	if !jsonEqual(before.ClientAccess, after.ClientAccess) {
		t.Errorf("the SCP changed: %v → %v", before.ClientAccess, after.ClientAccess)
	}

	// Mailboxes: outside the allow set blocked, inside open; other
	// recipient types untouched.
	allow := before.expandGroup(t, ep.AllowGroup)
	mb := map[string]orgMailbox{}
	for _, m := range before.Mailboxes {
		mb[m.Guid] = m
	}
	changed, blocked, open, hostile := 0, 0, 0, 0
	for _, m := range after.Mailboxes {
		b, ok := mb[m.Guid]
		if !ok {
			t.Errorf("new mailbox %q", m.Name)
			continue
		}
		if m.MAPIBlockOutlookRpcHttp != b.MAPIBlockOutlookRpcHttp || m.MAPIBlockOutlookExternalConnectivity != b.MAPIBlockOutlookExternalConnectivity {
			changed++
		}
		if m.RecipientTypeDetails != "UserMailbox" {
			if m != b {
				t.Errorf("%s %q changed: %+v → %+v", m.RecipientTypeDetails, m.Name, b, m)
			}
			continue
		}
		if strings.ContainsAny(m.Name, "'\"‘’“”$`;") {
			hostile++
		}
		want := !allow[m.Guid]
		if m.MAPIBlockOutlookRpcHttp != want || m.MAPIBlockOutlookExternalConnectivity != want {
			t.Errorf("mailbox %q (in the allow set: %v): RpcHttp=%v ExternalConnectivity=%v", m.Name, allow[m.Guid], m.MAPIBlockOutlookRpcHttp, m.MAPIBlockOutlookExternalConnectivity)
		}
		if want {
			blocked++
		} else {
			open++
		}
	}
	if open == 0 || blocked == 0 || hostile == 0 {
		t.Errorf("a weak organisation: %d open, %d blocked, %d hostile names", open, blocked, hostile)
	}
	t.Logf("mailboxes: %d open (allow set through nested groups), %d blocked, %d changed, %d with hostile names", open, blocked, changed, hostile)

	// Public DNS: the external name published, the internal name gone
	// from the public view; the internal view untouched.
	for i, z := range after.Zones {
		if z.View == "internal" {
			if !jsonEqual(z, before.Zones[i]) {
				t.Errorf("the internal zone changed: %v → %v", before.Zones[i], z)
			}
			continue
		}
		published := false
		for _, rr := range z.Records {
			name := strings.TrimSuffix(rr.Name, ".")
			if name == ep.Names.Internal {
				t.Errorf("the public zone still has %s %s %s", rr.Name, rr.Type, rr.Data)
			}
			published = published || name == ext && rr.Type == "A" && rr.Data == "203.0.113.10"
		}
		if !published {
			t.Errorf("the public zone has no %s A 203.0.113.10: %v", ext, z.Records)
		}
	}
	return changed
}

func jsonEqual(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// allowedCmdlets are the cmdlets the exrunbook scripts use.
var allowedCmdlets = map[string]bool{
	// The Exchange endpoint's NoLanguage session: Exchange cmdlets and
	// Select-Object, nothing of a script (no ForEach-Object, no
	// ConvertTo-Json, no snap-in).
	"Select-Object": true, "Set-ADServerSettings": true, "Get-Command": true,
	"Get-DynamicDistributionGroup": true, "Get-Recipient": true,
	"Get-PopSettings": true, "Get-ImapSettings": true, "Set-PopSettings": true, "Set-ImapSettings": true,
	"Get-ExchangeServer": true, "Get-ExchangeCertificate": true, "Import-ExchangeCertificate": true,
	"Enable-ExchangeCertificate": true, "Remove-ExchangeCertificate": true,
	"Get-ClientAccessService": true, "Get-OrganizationConfig": true, "Set-OrganizationConfig": true,
	"Get-Mailbox": true, "Get-CASMailbox": true, "Set-CASMailbox": true,
	"Get-DistributionGroup": true, "Get-DistributionGroupMember": true,
	"Get-OutlookAnywhere": true, "Set-OutlookAnywhere": true,
	"Get-AutodiscoverVirtualDirectory": true, "Get-PowerShellVirtualDirectory": true,
	"Get-OwaVirtualDirectory": true, "Set-OwaVirtualDirectory": true,
	"Get-EcpVirtualDirectory": true, "Set-EcpVirtualDirectory": true,
	"Get-MapiVirtualDirectory": true, "Set-MapiVirtualDirectory": true,
	"Get-WebServicesVirtualDirectory": true, "Set-WebServicesVirtualDirectory": true,
	"Get-ActiveSyncVirtualDirectory": true, "Set-ActiveSyncVirtualDirectory": true,
	"Get-OabVirtualDirectory": true, "Set-OabVirtualDirectory": true,
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// verifyCalls checks the lab's cmdlet call log.
func verifyCalls(t *testing.T, e *e2eLab, before *orgDoc) {
	t.Helper()
	st := e.stats(t)
	calls := e.calls(t)
	var total int64
	for name, n := range st.Cmdlets {
		total += n
		if !allowedCmdlets[name] {
			t.Errorf("the lab ran %d call(s) of %s, which no exrunbook pipeline uses", n, name)
		}
	}
	invocations := 0
	for _, c := range calls {
		if !c.Piped {
			invocations++
		}
	}
	if int64(invocations) != total || total == 0 || int64(len(calls)) >= lab.KeepCalls {
		t.Fatalf("the call log holds %d calls, the counters %d (kept at most %d): the log is incomplete", len(calls), total, lab.KeepCalls)
	}
	mailboxName := map[string]string{}
	for _, m := range before.Mailboxes {
		mailboxName[m.Guid] = m.Name
	}
	hostileWritten := 0
	for i, c := range calls {
		if !allowedCmdlets[c.Cmdlet] {
			t.Errorf("call %d: %s %v", i, c.Cmdlet, c.Params)
		}
		switch c.Cmdlet {
		case "Set-ADServerSettings":
			if len(c.Params) != 1 || c.Params["ViewEntireForest"] != "True" {
				t.Errorf("call %d: Set-ADServerSettings %v", i, c.Params)
			}
		case "Set-CASMailbox":
			id := c.Params["Identity"]
			if !c.Piped {
				// The invocation: the flags only; the GUIDs come as input.
				if _, named := c.Params["Identity"]; named || len(c.Params) != 2 {
					t.Errorf("call %d: Set-CASMailbox %v: want the two flags, the identities piped in", i, c.Params)
				}
				continue
			}
			name, ok := mailboxName[id]
			if !guidRE.MatchString(id) || !ok {
				t.Errorf("call %d: Set-CASMailbox -Identity %q is not the GUID of a mailbox", i, id)
			}
			if strings.ContainsAny(name, "'\"‘’“”$`;") {
				hostileWritten++
			}
			for k, v := range c.Params {
				switch k {
				case "Identity":
				case "MAPIBlockOutlookRpcHttp", "MAPIBlockOutlookExternalConnectivity":
					if v != "True" && v != "False" {
						t.Errorf("call %d: Set-CASMailbox -%s %q", i, k, v)
					}
				default:
					t.Errorf("call %d: Set-CASMailbox with an unexpected parameter -%s %q", i, k, v)
				}
			}
		case "New-Object":
			if tn := c.Params["TypeName"]; !strings.HasPrefix(tn, "System.Collections.Generic.") {
				t.Errorf("call %d: New-Object -TypeName %q", i, tn)
			}
		}
	}
	if hostileWritten == 0 {
		t.Error("no Set-CASMailbox call for a mailbox with a hostile name: the test proves nothing about quoting")
	}
	t.Logf("call log: %d cmdlet calls, %d Set-CASMailbox writes to hostile-named mailboxes, all by GUID", len(calls), hostileWritten)
}

// testCrashResume: SIGKILL exrunbook at a hundred or more seeded random
// moments during run (lab latency makes the kills land inside steps),
// resume each time (a run refuses the dead process's lock with exit 3
// naming it stale; unlock removes it). The result equals an uninterrupted
// run; rollback --all, also killed and resumed, restores org.initial.json.
// Should one run end before a hundred kills, the cycle (rollback --all,
// run again) repeats, each end judged the same way.
func (s *e2eSuite) testCrashResume(t *testing.T) {
	ref := s.reference(t)
	opts := smallLab
	opts.Latency = 20 * time.Millisecond
	e := startE2ELab(t, s.bin, opts)
	initial := e.initial(t)
	newThumb := e.pfxThumbprint(t)
	rng := rand.New(rand.NewPCG(20261122, 4))
	const wantKills = 100
	runKills, rbKills, insideSteps := 0, 0, 0
	begin := time.Now()
	for cycle := 1; runKills < wantKills; cycle++ {
		if cycle > 1 {
			n, _ := killUntilDone(t, e, rng, "rollback", "--all", "--yes")
			rbKills += n
			if got := e.org(t); string(got) != string(initial) {
				t.Fatalf("cycle %d: after rollback --all with %d kills, /org differs from org.initial.json: %s", cycle, n, firstDiff(got, initial))
			}
		}
		n, in := killUntilDone(t, e, rng, "run", "--unattended", "--yes", "--wait")
		runKills += n
		insideSteps += in
		got := comparableOrg(t, e.org(t), initial, newThumb)
		if string(got) != string(ref) {
			t.Fatalf("cycle %d: after %d kills, the org differs from an uninterrupted run's: %s", cycle, n, firstDiff(got, ref))
		}
		if doc := statusJSON(t, e); !doc.Complete {
			t.Fatalf("cycle %d: status after the run: not complete: %+v", cycle, doc)
		}
		t.Logf("cycle %d: run killed %d times, then finished equal to an uninterrupted run", cycle, n)
	}
	runTime := time.Since(begin)
	st := e.stats(t)
	st.PowerShellLaunches += e.carriedLaunches
	st.WinRMRequests += e.carriedRequests
	for rbKills < 3 {
		// At least one killed rollback even when the first run sufficed.
		n, _ := killUntilDone(t, e, rng, "rollback", "--all", "--yes")
		rbKills += n
		if got := e.org(t); string(got) != string(initial) {
			t.Fatalf("after rollback --all with %d kills, /org differs from org.initial.json: %s", n, firstDiff(got, initial))
		}
		if rbKills < 3 {
			n, in := killUntilDone(t, e, rng, "run", "--unattended", "--yes", "--wait")
			runKills += n
			insideSteps += in
			if got := comparableOrg(t, e.org(t), initial, newThumb); string(got) != string(ref) {
				t.Fatalf("after %d kills, the org differs from an uninterrupted run's: %s", n, firstDiff(got, ref))
			}
		}
	}
	if insideSteps < wantKills/2 {
		t.Errorf("only %d of %d kills landed while a step was running: the kills do not test resuming a step", insideSteps, runKills)
	}
	t.Logf("crash: %d kills during run (%d inside a step), %d during rollback --all; %s until the last run ended (%d PowerShell launches, %d WinRM requests), %s in all",
		runKills, insideSteps, rbKills, runTime.Round(time.Millisecond), st.PowerShellLaunches, st.WinRMRequests, time.Since(begin).Round(time.Millisecond))
}

// killUntilDone starts exrunbook args again and again, killing it with
// SIGKILL after a seeded random delay, until it exits 0 on its own; it
// returns the number of kills and how many of them left a step running.
// A kill that leaves the lock behind must
// make the next start refuse with exit 3 naming the lock stale, and
// unlock must remove it. While kills make no progress (no step changed status or phase), the delays grow.
// shellLeakRestart is how many kills the lab's WinRM takes before
// restart: fewer than its 30-shell quota.
const shellLeakRestart = 20

func killUntilDone(t *testing.T, e *e2eLab, rng *rand.Rand, args ...string) (kills, inside int) {
	t.Helper()
	const baseDelay = 300 * time.Millisecond
	staleSeen := 0
	maxDelay := baseDelay
	lastProgress, stalled := stepProgress(t, e), 0
	for round := 0; ; round++ {
		if round > 1000 {
			t.Fatalf("%s: no end after %d rounds", args[0], round)
		}
		if e.locked(t) {
			r := e.exrunbook(t, args...)
			if r.code != exitLocked || !strings.Contains(r.errout, "stale") {
				t.Fatalf("%s over a killed process's lock: exit %d, want %d naming the lock stale: %s", args[0], r.code, exitLocked, r.errout)
			}
			r = e.exrunbook(t, "unlock")
			if r.code != 0 || !strings.Contains(r.out, "removed the lock") {
				t.Fatalf("unlock: exit %d %s %s", r.code, r.out, r.errout)
			}
			staleSeen++
		}
		ctx, cancel := context.WithTimeout(context.Background(), e2eCommandTimeout)
		cmd, _, errb := e.command(ctx, args...)
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		timer := time.NewTimer(5*time.Millisecond + time.Duration(rng.Int64N(int64(maxDelay))))
		select {
		case err := <-done:
			timer.Stop()
			cancel()
			if err != nil {
				t.Fatalf("%s after %d kills exited by itself: %v\n%s", args[0], kills, err, tail(errb.String(), 3000))
			}
			t.Logf("%s: %d kills (%d inside a step), %d stale locks refused and removed", args[0], kills, inside, staleSeen)
			return kills, inside
		case <-timer.C:
			cmd.Process.Kill()
			<-done
			cancel()
			kills++
			// A process killed inside a command leaves its WinRM shell
			// open until the idle timeout (15 minutes), as Windows does;
			// after 30 the user's shell quota is exhausted (QuotaLimit).
			// Restarting the lab's WinRM service frees them.
			if kills%shellLeakRestart == 0 {
				e.restart(t)
			}
		}
		p := stepProgress(t, e)
		if strings.Contains(p, "running/") {
			inside++
		}
		if p != lastProgress {
			lastProgress, stalled, maxDelay = p, 0, baseDelay
		} else if stalled++; stalled >= 5 {
			stalled = 0
			maxDelay = min(maxDelay*2, 20*time.Second)
		}
	}
}

// stepProgress is the steps' statuses, phases and applied flags in
// state.json, joined (empty without a state file): it changes as a run or
// a rollback progresses, and not merely because a process started.
func stepProgress(t *testing.T, e *e2eLab) string {
	t.Helper()
	st, err := state.Load(e.stateDir)
	if err != nil || st == nil {
		return ""
	}
	var b strings.Builder
	for _, s := range st.Steps {
		fmt.Fprintf(&b, "%s/%s/%v,", s.Status, s.Phase, s.Applied)
	}
	return b.String()
}

func statusJSON(t *testing.T, e *e2eLab) statusDoc {
	t.Helper()
	r := e.mustRun(t, 0, "status", "--output", "json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(r.out), &doc); err != nil {
		t.Fatalf("status json: %v\n%s", err, r.out)
	}
	return doc
}

// checksRetryTransient turns the fault test strict: a run must then end
// without ever failing. The engine retries a pre- or post-check that
// failed with a transient error (CheckResult.Err) as it retries capture,
// plan, apply and rollback, so one injected HTTP 500 in a check's read no
// longer fails the step.
const checksRetryTransient = true

// transientFailure reports whether exrunbook's error is one of the
// transient kinds the lab injects (HTTP 500, a dropped connection,
// Exchange throttling).
func transientFailure(errout string) bool {
	for _, m := range []string{"HTTP 500", "connection reset", "EOF", "broken pipe", "throttl", "Throttl", "transient"} {
		if strings.Contains(errout, m) {
			return true
		}
	}
	return false
}

// checkRetries counts the journal's attempt entries of pre- and
// post-checks (the engine names the check: "post-check NAME attempt …").
func checkRetries(j []journalEntry) int {
	n := 0
	for _, je := range j {
		if msg, _ := je.Details["message"].(string); je.Kind == "attempt" && strings.Contains(msg, "-check ") {
			n++
		}
	}
	return n
}

// testFaults: HTTP 500s, dropped connections, throttled Set-CASMailbox
// calls and a PSRP session broken mid-run; the run still ends as a clean
// run does, and the journal shows the retries and the broken session.
func (s *e2eSuite) testFaults(t *testing.T) {
	ref := s.reference(t)
	opts := smallLab
	opts.Faults = "http500=0.05,drop=0.02,throttle:Set-CASMailbox=0.05,break=0.01,seed=7"
	e := startE2ELab(t, s.bin, opts)
	initial := e.initial(t)
	start := time.Now()
	var r result
	for resumes := 0; ; resumes++ {
		r = e.exrunbook(t, "run", "--unattended", "--yes", "--wait")
		if r.code == 0 {
			break
		}
		// Known bug (see checksRetryTransient): a transient failure
		// inside a pre- or post-check fails the step. The failure is
		// logged and the run resumed, so that the rest of the contract
		// (the end state, the retries in the journal) is still judged.
		if checksRetryTransient || r.code != exitFailed || !transientFailure(r.errout) || resumes >= 10 {
			t.Fatalf("run with faults: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, tail(r.out, 3000), tail(r.errout, 3000))
		}
		t.Logf("KNOWN BUG (checks are not retried on transient errors): run %d failed, resuming: %s", resumes+1, strings.TrimSpace(r.errout))
	}
	runTime := time.Since(start)
	got := comparableOrg(t, e.org(t), initial, e.pfxThumbprint(t))
	if string(got) != string(ref) {
		t.Fatalf("with faults, the org differs from a clean run's: %s", firstDiff(got, ref))
	}
	attempts, checkAttempts, brokenAttempts := 0, checkRetries(e.journal(t)), 0
	for _, je := range e.journal(t) {
		if je.Kind == "attempt" {
			attempts++
			if msg, _ := je.Details["message"].(string); strings.Contains(msg, "runspace pool broken") {
				brokenAttempts++
			}
		}
	}
	st := e.stats(t)
	// A reopen after a broken session is journaled as its own entry with
	// what broke it, in the server's words: the lab's plug-in host "dies",
	// the Receive in flight gets WinRM's aborted-operation fault and the
	// pool's other requests find the shell gone; or an injected fault hit
	// the pool's own Receive. (The pipeline that broke
	// is retried by the client when it is a read, so the broken session
	// need not show in an engine attempt.)
	var reopens []string
	for _, je := range e.journal(t) {
		if je.Kind == "session_reopen" {
			reason, _ := je.Details["reason"].(string)
			reopens = append(reopens, reason)
		}
	}
	t.Logf("faults: %d attempt(s) after a broken PSRP session, %d PSRP sessions opened in all, %d reopen(s) journaled", brokenAttempts, st.PSRPPools, len(reopens))
	checkReopenReasons(t, reopens)
	t.Logf("faults: %s wall, %d attempt entries in the journal (%d of checks), %d PowerShell launches, %d WinRM requests", runTime.Round(time.Millisecond), attempts, checkAttempts, st.PowerShellLaunches, st.WinRMRequests)
	if attempts == 0 {
		t.Errorf("the journal shows no retry (attempt entry) although faults were injected:\n%s", tail(r.errout+r.out, 2000))
	}
	// The random faults above need not land in a check's read, so a
	// check's retry is shown with a fault that certainly does: seed 11
	// throttles the first Get-OrganizationConfig (draw 0.09 < 0.5) and
	// not the second (0.80), and only that cmdlet draws. The mapi-http
	// post-checks' read is then retried once, by the client (a read is
	// retried with backoff before the check sees an error), and `check`
	// passes.
	e.post(t, "/faults", "throttle:Get-OrganizationConfig=0.5,seed=11")
	before := e.stats(t).Cmdlets["Get-OrganizationConfig"]
	cr := e.mustRun(t, 0, "check", "mapi-http")
	if n := e.stats(t).Cmdlets["Get-OrganizationConfig"] - before; n < 2 {
		t.Errorf("a post-check whose read was throttled once ran Get-OrganizationConfig %d time(s), want the retry:\nstdout:\n%s\nstderr:\n%s", n, tail(cr.out, 2000), tail(cr.errout, 2000))
	}
	for _, l := range strings.Split(cr.out+cr.errout, "\n") {
		if strings.Contains(l, "-check mapi-http") {
			t.Logf("check: %s", l)
		}
	}
	// Whether the random faults above break a session depends on how the
	// draws fall between concurrent requests, so a break is made certain
	// here: with only break set, only a pipeline's Receive draws, and seed
	// 6133 draws under 0.05 on the second draw alone of the first 120
	// (the first is the new session's Set-ADServerSettings; the second,
	// the first read of enforce). enforce retries the read in a reopened
	// session, succeeds, and its journal has the reopen with its reason.
	e.post(t, "/faults", "break=0.05,seed=6133")
	reopensBefore := len(reopens)
	e.mustRun(t, 0, "enforce")
	reopens = reopens[:0]
	for _, je := range e.journal(t) {
		if je.Kind == "session_reopen" {
			reason, _ := je.Details["reason"].(string)
			reopens = append(reopens, reason)
		}
	}
	if len(reopens) != reopensBefore+1 {
		t.Errorf("enforce with one broken session: %d session_reopen entr(ies) in the journal, want %d", len(reopens), reopensBefore+1)
	} else if r := reopens[len(reopens)-1]; !strings.Contains(r, "WS-Management Receive fault") ||
		!(strings.Contains(r, "The I/O operation has been aborted") || strings.Contains(r, "the shell was not found on the server")) {
		t.Errorf("session_reopen reason %q: want WinRM's fault, in its words (the operation aborted, or the shell not found)", r)
	}
	checkReopenReasons(t, reopens)
	// The faults off, rollback restores the initial org.
	e.post(t, "/faults", "")
	e.mustRun(t, 0, "rollback", "--all", "--yes")
	if got := e.org(t); string(got) != string(initial) {
		t.Fatalf("after rollback --all, /org differs from org.initial.json: %s", firstDiff(got, initial))
	}
}

// checkReopenReasons: each journaled reopen says that the pool broke, and
// how.
func checkReopenReasons(t *testing.T, reasons []string) {
	t.Helper()
	for _, r := range reasons {
		if _, how, _ := strings.Cut(r, "runspace pool broken: "); how == "" {
			t.Errorf("session_reopen reason %q: want the broken pool and what broke it", r)
		}
	}
}

var namesOperation = regexp.MustCompile(`exchange [A-Z][A-Za-z]+: Get-ExchangeServer: The operation couldn't be performed`)

// testBadServerData: a CLIXML error from Get-ExchangeServer gives a clear
// error naming the cmdlet and the operation, and the run fails (exit 1)
// with its state saved. (Empty output, a single object for an array,
// missing properties and non-JSON text are unit-tested in
// internal/exchange.)
func (s *e2eSuite) testBadServerData(t *testing.T) {
	e := startE2ELab(t, s.bin, lab.Options{Mailboxes: 20, Allow: 2, Servers: 2, Seed: 3})
	e.post(t, "/faults", "error:Get-ExchangeServer=1")
	r := e.exrunbook(t, "plan")
	if r.code == 0 || !namesOperation.MatchString(r.out+r.errout) {
		t.Errorf("plan with a failing Get-ExchangeServer: exit %d\n%s\n%s", r.code, r.out, r.errout)
	}
	r = e.mustRun(t, exitFailed, "run", "--unattended", "--yes")
	// "exchange <operation>: Get-ExchangeServer : <Exchange's words>".
	if !strings.Contains(r.errout, "step certificate failed") || !namesOperation.MatchString(r.errout) {
		t.Errorf("run's error does not name the step, the operation and the cmdlet:\n%s", tail(r.errout, 2000))
	}
	if doc := statusJSON(t, e); doc.Steps[0].Status != "failed" || !strings.Contains(doc.Steps[0].Error, "Get-ExchangeServer") {
		t.Errorf("status after the failure: %+v", doc.Steps[0])
	}
	if got, initial := e.org(t), e.initial(t); string(got) != string(initial) {
		t.Errorf("a failed capture changed the org: %s", firstDiff(got, initial))
	}
}
