package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var updateScreens = flag.Bool("update-screens", false, "write the tmux test's capture of a mid-run screen to docs/screens/demo.txt")

// tmuxPane drives one tmux pane on a private server socket.
type tmuxPane struct {
	t      *testing.T
	socket string
	target string
	last   string
}

func (p *tmuxPane) tmux(args ...string) (string, error) {
	cmd := exec.Command("tmux", append([]string{"-S", p.socket, "-f", "/dev/null"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *tmuxPane) keys(keys ...string) {
	p.t.Helper()
	if out, err := p.tmux(append([]string{"send-keys", "-t", p.target}, keys...)...); err != nil {
		p.t.Fatalf("tmux send-keys %v: %v: %s", keys, err, out)
	}
}

func (p *tmuxPane) capture() string {
	out, err := p.tmux("capture-pane", "-p", "-t", p.target)
	if err != nil {
		return ""
	}
	return out
}

// waitScreen polls the pane until every text is on the screen at once, and
// returns that screen.
func (p *tmuxPane) waitScreen(stage string, texts ...string) string {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		screen := p.capture()
		p.last = screen
		ok := true
		for _, text := range texts {
			if !strings.Contains(screen, text) {
				ok = false
				break
			}
		}
		if ok {
			return screen
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: the screen never showed %q; last screen:\n%s", stage, texts, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// demoSteps are the split-namespace runbook's steps, in order.
var demoSteps = []string{"certificate", "bind-certificate", "external-urls", "autodiscover-wait", "public-dns", "mapi-http", "block-mailboxes"}

// TestDemoInTmux runs `exrunbook demo` in a real terminal (a 100×30 tmux
// pane) and drives it with keys: every step applied in order (a quit and
// a resume in the middle, the Autodiscover wait continuing by itself), a
// rollback of block-mailboxes and its second apply; then it checks the
// lab's organisation.
func TestDemoInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatal("tmux is required (EXRUNBOOK_REQUIRE_PEERS=1) but not on PATH")
		}
		t.Skip("tmux is not installed")
	}
	if testing.Short() {
		t.Skip("builds the binary and walks the whole demo")
	}
	bin := filepath.Join(t.TempDir(), "exrunbook")
	// go test puts its own GOROOT/bin first on PATH, so this is the go
	// command that is running the test.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command to build exrunbook with")
	}
	if out, err := exec.Command(gobin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	// A private server whose socket lives (and is removed) with the test.
	sockDir, err := os.MkdirTemp("", "exrb-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	p := &tmuxPane{t: t, socket: filepath.Join(sockDir, "sock"), target: "demo"}
	// The pane keeps its shell after demo ends, so the lines it prints on
	// the way out can be read, and demo can be started again in it.
	demo := fmt.Sprintf("printf '\\033c'; %s demo --dir %s --autodiscover-wait 8s --mailboxes 60; echo \"EXITED rc=$?\"; exec sleep 600", bin, dir)
	env := []string{"TERM=xterm-256color", "LANG=C.UTF-8", "NO_COLOR=1"}
	start := func() {
		t.Helper()
		args := []string{"new-session", "-d", "-s", "demo", "-x", "100", "-y", "30"}
		if _, err := p.tmux("has-session", "-t", "demo"); err == nil {
			args = []string{"respawn-pane", "-k", "-t", "demo"}
		}
		for _, e := range env {
			args = append(args, "-e", e)
		}
		args = append(args, "sh", "-c", demo)
		if out, err := p.tmux(args...); err != nil {
			t.Fatalf("tmux %v: %v: %s", args[0], err, out)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last screen:\n%s", p.last)
		}
		_, _ = p.tmux("kill-server")
	})
	start()

	screen := p.waitScreen("first screen", append([]string{"0/7 steps done", "certificate: Certificate"}, demoSteps...)...)
	if !strings.Contains(screen, "enter apply") || !strings.Contains(screen, "q quit") {
		t.Errorf("the first screen shows no keys:\n%s", screen)
	}

	apply := func(i int) string {
		t.Helper()
		id := demoSteps[i]
		p.waitScreen("select "+id, id+": ", fmt.Sprintf("%d/7 steps done", i))
		p.keys("Enter")
		var confirm string
		if id != "autodiscover-wait" { // read-only: it needs no approval
			confirm = p.waitScreen("confirm "+id, "Apply "+id+"?", "y confirm")
			if !strings.Contains(confirm, "This will change") && !strings.Contains(confirm, "Nothing to change") {
				t.Errorf("the confirmation of %s does not say what will change:\n%s", id, confirm)
			}
			p.keys("y")
		} else {
			// Applied right after external-urls, the wait counts down and
			// the step continues by itself.
			p.waitScreen("wait of "+id, "Status: waiting until", "left)")
		}
		p.waitScreen("apply "+id, fmt.Sprintf("%d/7 steps done", i+1), "✓ "+id)
		return confirm
	}
	var midRun string
	for i := 0; i < 2; i++ {
		apply(i)
	}

	// Quit in the middle; the state is saved and the resume command printed.
	p.keys("q")
	out := p.waitScreen("quit", "EXITED rc=0")
	if !strings.Contains(out, "Resume with: exrunbook demo --dir") {
		t.Errorf("quitting printed no resume command:\n%s", out)
	}
	start()
	resumed := p.waitScreen("resume", "2/7 steps done", "external-urls: Point")
	if !strings.Contains(resumed, "bind-certificate: done") {
		t.Errorf("the resumed run does not show the earlier session's history:\n%s", resumed)
	}
	for i := 2; i < len(demoSteps); i++ {
		c := apply(i)
		switch demoSteps[i] {
		case "external-urls":
			midRun = c
		case "block-mailboxes":
			// The plan sums the mailboxes up before listing them.
			if !strings.Contains(c, "to block") || !strings.Contains(c, "AllowExternalAccess") {
				t.Errorf("the block-mailboxes confirmation does not sum up the change:\n%s", c)
			}
		}
	}
	p.waitScreen("complete", "7/7 steps done", "block-mailboxes: ")

	// The view follows a resize down to 80×24 and back.
	if out, err := p.tmux("resize-window", "-t", "demo", "-x", "80", "-y", "24"); err != nil {
		t.Fatalf("tmux resize-window: %v: %s", err, out)
	}
	small := p.waitScreen("80x24", "7/7 steps done", "q quit", "╰"+strings.Repeat("─", 78)+"╯")
	for i, line := range strings.Split(strings.TrimRight(small, "\n"), "\n") {
		if n := len([]rune(line)); n > 80 || i >= 24 {
			t.Errorf("at 80×24, line %d is %d cells wide:\n%s", i+1, n, small)
			break
		}
	}
	if out, err := p.tmux("resize-window", "-t", "demo", "-x", "100", "-y", "30"); err != nil {
		t.Fatalf("tmux resize-window: %v: %s", err, out)
	}
	p.waitScreen("100x30", "7/7 steps done", "╰"+strings.Repeat("─", 98)+"╯")

	// Roll back block-mailboxes, then apply it again.
	p.keys("r")
	p.waitScreen("rollback confirmation", "Roll back block-mailboxes?")
	p.keys("y")
	p.waitScreen("rolled back", "rollback of block-mailboxes finished", "6/7 steps done")
	apply(6)
	p.keys("q")
	out = p.waitScreen("final quit", "EXITED rc=0")
	if !strings.Contains(out, "runbook split-namespace complete") {
		t.Errorf("the demo did not end complete:\n%s", out)
	}

	if *updateScreens && midRun != "" {
		path := filepath.Join("..", "..", "docs", "screens", "demo.txt")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(midRun, dir, "/tmp/exrunbook-demo")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkDemoOrg(t, filepath.Join(dir, "lab", "org.json"))
}

// checkDemoOrg asserts the end state of the migration on the lab's
// organisation: every user mailbox outside the allow group blocked, every
// one inside open, every external URL on the new name.
func checkDemoOrg(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		Mailboxes []struct {
			Guid, Name, RecipientTypeDetails     string
			MAPIBlockOutlookRpcHttp              bool
			MAPIBlockOutlookExternalConnectivity bool
		}
		Groups []struct {
			Guid, Name string
			Members    []string
		}
		VirtualDirectories []struct {
			Server, Name string
			ExternalUrl  *string
		}
		OutlookAnywhere []struct {
			Server, ExternalHostname string
		}
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	groups := map[string][]string{}
	allowID := ""
	for _, g := range o.Groups {
		groups[g.Guid] = g.Members
		if g.Name == "AllowExternalAccess" {
			allowID = g.Guid
		}
	}
	if allowID == "" {
		t.Fatal("the lab has no AllowExternalAccess group")
	}
	allowed := map[string]bool{}
	seen := map[string]bool{}
	var expand func(id string)
	expand = func(id string) {
		if seen[id] {
			return
		}
		seen[id] = true
		for _, m := range groups[id] {
			if _, isGroup := groups[m]; isGroup {
				expand(m)
			} else {
				allowed[m] = true
			}
		}
	}
	expand(allowID)
	var open, blocked int
	for _, m := range o.Mailboxes {
		if m.RecipientTypeDetails != "UserMailbox" {
			continue
		}
		isBlocked := m.MAPIBlockOutlookRpcHttp && m.MAPIBlockOutlookExternalConnectivity
		switch {
		case allowed[m.Guid] && (m.MAPIBlockOutlookRpcHttp || m.MAPIBlockOutlookExternalConnectivity):
			t.Errorf("mailbox %q is in the allow group but blocked", m.Name)
		case !allowed[m.Guid] && !isBlocked:
			t.Errorf("mailbox %q is outside the allow group but not blocked", m.Name)
		case isBlocked:
			blocked++
		default:
			open++
		}
	}
	if open == 0 || blocked == 0 {
		t.Errorf("%d open and %d blocked mailboxes: expected both kinds", open, blocked)
	}
	urls := 0
	for _, v := range o.VirtualDirectories {
		if v.ExternalUrl == nil {
			continue
		}
		urls++
		if u, err := url.Parse(*v.ExternalUrl); err != nil || u.Hostname() != "outlook-ext.contoso.test" {
			t.Errorf("%s %s ExternalUrl = %s, want it on outlook-ext.contoso.test", v.Server, v.Name, *v.ExternalUrl)
		}
	}
	if urls == 0 {
		t.Error("no virtual directory has an ExternalUrl")
	}
	for _, oa := range o.OutlookAnywhere {
		if oa.ExternalHostname != "outlook-ext.contoso.test" {
			t.Errorf("%s Outlook Anywhere ExternalHostname = %s", oa.Server, oa.ExternalHostname)
		}
	}
}
