package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/state"
)

// The end-to-end tests drive the real exrunbook binary, built once per
// TestE2E into its temporary directory, as a subprocess against a lab
// started in-process.

// e2eMinWait shortens the lab config's autodiscover.min_wait (5 s) through
// the environment, as an operator could.
const e2eMinWait = "2s"

// e2eCommandTimeout bounds one exrunbook process.
const e2eCommandTimeout = 3 * time.Minute

// buildExrunbook builds this package's command into dir.
func buildExrunbook(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "exrunbook")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// e2eLab is a lab started in-process, the config it wrote, a state
// directory and the environment exrunbook runs with.
type e2eLab struct {
	l    *lab.Lab
	opts lab.Options
	// carried are the launches and WinRM requests of the lab's earlier
	// lives (restart resets the counters).
	carriedLaunches, carriedRequests int64
	bin                              string
	dir                              string
	config                           string
	stateDir                         string
	control                          string
	env                              []string
}

// startE2ELab starts a lab in a fresh directory. The lab closes when the
// test ends.
func startE2ELab(t *testing.T, bin string, opts lab.Options) *e2eLab {
	t.Helper()
	opts.Dir = filepath.Join(t.TempDir(), "lab")
	l := startLab(t, opts)
	// The child sees no EXRUNBOOK_* variable of ours except the shorter wait.
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "EXRUNBOOK_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "EXRUNBOOK_AUTODISCOVER_MIN_WAIT="+e2eMinWait, "NO_COLOR=1")
	return &e2eLab{l: l, opts: opts, bin: bin, dir: l.Dir(), config: filepath.Join(l.Dir(), lab.FileConfig),
		stateDir: filepath.Join(t.TempDir(), "state"), control: l.Endpoints().Control, env: env}
}

func startLab(t *testing.T, opts lab.Options) *lab.Lab {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := lab.Start(ctx, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); cancel() })
	return l
}

// restart stops the lab and starts it again on its directory (the
// organisation continues from org.json; WinRM starts without shells). The
// config it rewrites must be the same (the ports are reused), or a resume
// would be refused as a changed config.
func (e *e2eLab) restart(t *testing.T) {
	t.Helper()
	before, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	st := e.l.Stats()
	e.carriedLaunches += st.PowerShellLaunches
	e.carriedRequests += st.WinRMRequests
	if err := e.l.Close(); err != nil {
		t.Fatal(err)
	}
	e.l = startLab(t, e.opts)
	e.control = e.l.Endpoints().Control
	after, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Fatalf("the restarted lab wrote another config (a port was taken):\n%s", firstDiff(after, before))
	}
}

// command prepares exrunbook with the lab's config and state directory.
func (e *e2eLab) command(ctx context.Context, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--config", e.config, "--state-dir", e.stateDir}, args...)...)
	cmd.Env = e.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return cmd, &out, &errb
}

// exrunbook runs exrunbook to its end and returns its exit code and output.
func (e *e2eLab) exrunbook(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eCommandTimeout)
	defer cancel()
	cmd, out, errb := e.command(ctx, args...)
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ctx.Err() != nil {
			t.Fatalf("exrunbook %s: %v (%v)\n%s", strings.Join(args, " "), err, ctx.Err(), errb)
		}
		code = ee.ExitCode()
	}
	return result{code, out.String(), errb.String()}
}

// mustRun runs exrunbook and requires exit code want.
func (e *e2eLab) mustRun(t *testing.T, want int, args ...string) result {
	t.Helper()
	r := e.exrunbook(t, args...)
	if r.code != want {
		t.Fatalf("exrunbook %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, want, tail(r.out, 4000), tail(r.errout, 4000))
	}
	return r
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// controlClient talks to the lab's control API: a hang fails the test.
var controlClient = &http.Client{Timeout: time.Minute}

// get reads a control API path.
func (e *e2eLab) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := controlClient.Get(e.control + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return b
}

// post writes to a control API path.
func (e *e2eLab) post(t *testing.T, path, body string) []byte {
	t.Helper()
	resp, err := controlClient.Post(e.control+path, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %v %s", path, resp.StatusCode, err, b)
	}
	return b
}

func (e *e2eLab) org(t *testing.T) []byte { return e.get(t, "/org") }

func (e *e2eLab) initial(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, "org.initial.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (e *e2eLab) stats(t *testing.T) labstats.Stats {
	t.Helper()
	var s labstats.Stats
	if err := json.Unmarshal(e.get(t, "/stats"), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *e2eLab) calls(t *testing.T) []labstats.Call {
	t.Helper()
	var c []labstats.Call
	if err := json.Unmarshal(e.get(t, "/calls"), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// locked reports whether the state directory holds a lock.
func (e *e2eLab) locked(t *testing.T) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join(e.stateDir, state.LockFile))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// journal reads state-dir/journal.jsonl.
func (e *e2eLab) journal(t *testing.T) []journalEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.stateDir, state.JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	var entries []journalEntry
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var je journalEntry
		if err := json.Unmarshal(line, &je); err != nil {
			t.Fatalf("journal line %d: %v: %s", i+1, err, line)
		}
		entries = append(entries, je)
	}
	return entries
}

type journalEntry struct {
	Kind    string         `json:"kind"`
	Step    string         `json:"step"`
	Details map[string]any `json:"details"`
}

// pfxThumbprint is the thumbprint (SHA-1 of the DER, upper-case hex, as
// Exchange shows it) of the lab's DIR/new-cert.pfx.
func (e *e2eLab) pfxThumbprint(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.dir, lab.FilePFX))
	if err != nil {
		t.Fatal(err)
	}
	pw, err := os.ReadFile(filepath.Join(e.dir, lab.SecretPFX))
	if err != nil {
		t.Fatal(err)
	}
	_, leaf, _, err := pkcs12.DecodeChain(data, string(pw))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(leaf.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// orgDoc is the part of the lab's canonical org JSON the tests judge.
type orgDoc struct {
	Servers []struct {
		Name string
	}
	Certificates []struct {
		Server, Thumbprint, Services string
	}
	VirtualDirectories []map[string]any
	OutlookAnywhere    []map[string]any
	ClientAccess       []map[string]any
	Mailboxes          []orgMailbox
	Groups             []struct {
		Guid, Name string
		Members    []string
	}
	Zones []struct {
		View    string
		Records []struct {
			Name, Type, Data string
			TTL              int
		}
	}
}

type orgMailbox struct {
	Guid, Name, Alias, RecipientTypeDetails string

	MAPIBlockOutlookRpcHttp              bool
	MAPIBlockOutlookExternalConnectivity bool
}

func parseOrg(t *testing.T, b []byte) *orgDoc {
	t.Helper()
	var d orgDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("org JSON: %v", err)
	}
	if len(d.Servers) == 0 || len(d.Mailboxes) == 0 {
		t.Fatalf("org JSON without servers or mailboxes: %.300s", b)
	}
	return &d
}

// expandGroup is the set of mailbox GUIDs in the named group, through
// nested groups (recursively, each group once).
func (d *orgDoc) expandGroup(t *testing.T, name string) map[string]bool {
	t.Helper()
	groups := map[string]int{}
	root := -1
	for i, g := range d.Groups {
		groups[g.Guid] = i
		if g.Name == name {
			root = i
		}
	}
	if root < 0 {
		t.Fatalf("no group %q in the org", name)
	}
	out := map[string]bool{}
	seen := map[int]bool{}
	var walk func(i int)
	walk = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, m := range d.Groups[i].Members {
			if j, ok := groups[m]; ok {
				walk(j)
				continue
			}
			out[m] = true
		}
	}
	walk(root)
	if len(seen) < 2 {
		t.Fatalf("group %q has no nested group: the test needs one", name)
	}
	return out
}

// byKey indexes JSON objects by the string value of key.
func byKey(t *testing.T, objs []map[string]any, key string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, o := range objs {
		k, _ := o[key].(string)
		if k == "" {
			t.Fatalf("object without %s: %v", key, o)
		}
		out[k] = o
	}
	return out
}

// without returns a copy of o without the given keys.
func without(o map[string]any, keys ...string) map[string]any {
	c := make(map[string]any, len(o))
	for k, v := range o {
		c[k] = v
	}
	for _, k := range keys {
		delete(c, k)
	}
	return c
}

// comparableOrg makes the canonical org JSON of two labs generated with
// the same seed comparable: their CAs (and so the certificates' keys,
// PEMs and thumbprints) are random per lab. Each thumbprint of the lab's
// initial certificates becomes OLD<n> (in order of first appearance), the
// PFX's becomes NEW, CertPEM is dropped and the certificates are ordered
// by server and placeholder.
func comparableOrg(t *testing.T, b, initial []byte, newThumb string) []byte {
	t.Helper()
	s := strings.ReplaceAll(string(b), newThumb, "NEW")
	for i, th := range thumbprints(t, initial) {
		s = strings.ReplaceAll(s, th, fmt.Sprintf("OLD%d", i))
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	dropKey(v, "CertPEM")
	// The canonical form orders certificates by thumbprint: order them by
	// server and placeholder instead.
	if m, ok := v.(map[string]any); ok {
		if certs, ok := m["Certificates"].([]any); ok {
			key := func(i int) string {
				c, _ := certs[i].(map[string]any)
				return fmt.Sprint(c["Server"], "\x00", c["Thumbprint"])
			}
			sort.SliceStable(certs, func(i, j int) bool { return key(i) < key(j) })
		}
	}
	out, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func thumbprints(t *testing.T, org []byte) []string {
	t.Helper()
	var d orgDoc
	if err := json.Unmarshal(org, &d); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range d.Certificates {
		if !seen[c.Thumbprint] {
			seen[c.Thumbprint] = true
			out = append(out, c.Thumbprint)
		}
	}
	return out
}

func dropKey(v any, key string) {
	switch x := v.(type) {
	case map[string]any:
		delete(x, key)
		for _, c := range x {
			dropKey(c, key)
		}
	case []any:
		for _, c := range x {
			dropKey(c, key)
		}
	}
}

// firstDiff describes where two texts first differ, for failure messages.
func firstDiff(a, b []byte) string {
	la, lb := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			from := max(0, i-3)
			return fmt.Sprintf("line %d:\n  got:  %.300s\n  want: %.300s\n  context (got): %.600s", i+1, x, y, strings.Join(la[from:min(len(la), i+1)], "\n"))
		}
	}
	return "no difference"
}

// sortedKeys lists a set's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
