package lab

import (
	"bytes"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

//go:embed testdata/pypsrp_client.py
var pypsrpClient []byte

// requirePypsrp returns the python that imports pypsrp (the pyenv python3
// first on PATH), skipping, or failing with EXRUNBOOK_REQUIRE_PEERS=1,
// when there is none.
func requirePypsrp(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import pypsrp, spnego").Run()
	}
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("pypsrp is required (EXRUNBOOK_REQUIRE_PEERS=1) but python3 cannot import it: %v", err)
		}
		t.Skipf("pypsrp is not importable by python3 (pip install pypsrp): %v", err)
	}
	return py
}

// pypsrpLab is a running lab and what the client script needs to reach it.
type pypsrpLab struct {
	py     string
	script string
	lab    *Lab
	base   map[string]any
}

func startPypsrpLab(t *testing.T) *pypsrpLab {
	py := requirePypsrp(t)
	dir := t.TempDir()
	l := startLab(t, dir, Options{Mailboxes: 30, Seed: 11})
	e := l.Endpoints()
	ex01 := e.Servers["EX01"]
	// The name the IIS certificate of EX01 carries: the client verifies
	// the chain and the name.
	conn, err := tls.Dial("tcp", ex01.HTTPS, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	if len(leaf.DNSNames) == 0 {
		t.Fatal("EX01's IIS certificate names no host")
	}
	port := func(addr string) int {
		i := strings.LastIndexByte(addr, ':')
		n, _ := strconv.Atoi(addr[i+1:])
		return n
	}
	script := filepath.Join(dir, "pypsrp_client.py")
	if err := os.WriteFile(script, pypsrpClient, 0o600); err != nil {
		t.Fatal(err)
	}
	users := map[string]any{}
	for k, a := range e.Users {
		users[k] = map[string]string{"user": a.User, "password_file": a.PasswordFile}
	}
	return &pypsrpLab{py: py, script: script, lab: l, base: map[string]any{
		"host": leaf.DNSNames[0], "https_port": port(ex01.HTTPS), "http_port": port(ex01.HTTP),
		"ca_file": e.CAFile, "users": users,
	}}
}

// run runs one job of the client script and decodes its result into out.
func (p *pypsrpLab) run(t *testing.T, job map[string]any, out any) {
	t.Helper()
	for k, v := range p.base {
		job[k] = v
	}
	in, _ := json.Marshal(job)
	cmd := exec.Command(p.py, p.script)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("pypsrp %v: %v\n%s", job["scenario"], err, stderr.String())
	}
	var res struct {
		Result json.RawMessage
		Error  string
		Trace  string
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("pypsrp output %q: %v", raw, err)
	}
	if res.Error != "" {
		t.Fatalf("pypsrp %v: %s\n%s", job["scenario"], res.Error, res.Trace)
	}
	if err := json.Unmarshal(res.Result, out); err != nil {
		t.Fatal(err)
	}
}

type psErr struct {
	FQ      string `json:"fq"`
	Message string `json:"message"`
}

type psRun struct {
	Objects   []map[string]string `json:"objects"`
	Count     int                 `json:"count"`
	HadErrors bool                `json:"had_errors"`
	Errors    []psErr             `json:"errors"`
	State     int                 `json:"state"`
}

// The PSInvocationState numbers pypsrp reports.
const (
	psCompleted = 4
	psFailed    = 5
)

// TestPypsrp drives the lab's /PowerShell/ endpoint with pypsrp, the
// independent PSRP client: over https with Basic (the chain verified
// against the lab CA) and over http with NTLM and message encryption.
func TestPypsrp(t *testing.T) {
	p := startPypsrpLab(t)
	stats := p.lab.Counters()

	t.Run("Get-CASMailbox piped into Select-Object", func(t *testing.T) {
		for _, transport := range []string{"https-basic", "http-ntlm"} {
			before := stats.EncryptedBodies.Load()
			var r psRun
			p.run(t, map[string]any{"scenario": "get_cas", "transport": transport, "user": AccountOrgAdmin}, &r)
			if r.HadErrors || r.State != psCompleted || len(r.Objects) != 10 {
				t.Fatalf("%s: %+v", transport, r)
			}
			for _, o := range r.Objects {
				for _, k := range []string{"Name", "Guid", "MAPIBlockOutlookRpcHttp"} {
					if _, ok := o[k]; !ok {
						t.Fatalf("%s: object %v lacks %s", transport, o, k)
					}
				}
			}
			if sealed := stats.EncryptedBodies.Load() - before; (transport == "http-ntlm") != (sealed > 0) {
				t.Fatalf("%s: %d encrypted bodies", transport, sealed)
			}
		}
	})

	t.Run("identities streamed into Set-CASMailbox", func(t *testing.T) {
		var ids []string
		p.lab.Store().Read(func(o *org.Org) {
			for _, m := range o.Mailboxes {
				if !m.MAPIBlockOutlookRpcHttp && len(ids) < 3 {
					ids = append(ids, m.PrimarySmtpAddress)
				}
			}
		})
		if len(ids) != 3 {
			t.Fatalf("only %d unblocked mailboxes", len(ids))
		}
		blocked := func() map[string]bool {
			b := map[string]bool{}
			p.lab.Store().Read(func(o *org.Org) {
				for _, m := range o.Mailboxes {
					b[m.PrimarySmtpAddress] = m.MAPIBlockOutlookRpcHttp
				}
			})
			return b
		}
		before := blocked()
		var r psRun
		p.run(t, map[string]any{"scenario": "set_cas", "transport": "http-ntlm", "user": AccountOrgAdmin, "identities": ids}, &r)
		if r.HadErrors || r.State != psCompleted {
			t.Fatalf("%+v", r)
		}
		after := blocked()
		var changed []string
		for k, v := range after {
			if v != before[k] {
				changed = append(changed, k)
			}
		}
		if len(changed) != 3 {
			t.Fatalf("changed %v, want exactly %v", changed, ids)
		}
		for _, id := range ids {
			if !after[id] {
				t.Fatalf("%s not blocked; changed %v", id, changed)
			}
		}
		// The control API's /org agrees.
		var doc struct {
			Mailboxes []struct {
				PrimarySmtpAddress      string
				MAPIBlockOutlookRpcHttp bool
			}
		}
		if err := json.Unmarshal(p.lab.Org(), &doc); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range doc.Mailboxes {
			for _, id := range ids {
				if m.PrimarySmtpAddress == id && m.MAPIBlockOutlookRpcHttp {
					n++
				}
			}
		}
		if n != 3 {
			t.Fatalf("/org shows %d of the three blocked", n)
		}
	})

	t.Run("script text is ScriptsNotAllowed", func(t *testing.T) {
		before := stats.ScriptsRefused.Load()
		var r psRun
		p.run(t, map[string]any{"scenario": "script", "transport": "https-basic", "user": AccountOrgAdmin}, &r)
		if r.State != psFailed || len(r.Errors) == 0 || r.Errors[len(r.Errors)-1].FQ != "ScriptsNotAllowed" {
			t.Fatalf("%+v", r)
		}
		if stats.ScriptsRefused.Load() != before+1 {
			t.Fatal("the refused script was not counted")
		}
	})

	t.Run("recipient admin does not have Get-ExchangeCertificate", func(t *testing.T) {
		var r psRun
		p.run(t, map[string]any{"scenario": "cmdlet", "transport": "https-basic", "user": AccountRecipientAdmin, "cmdlet": "Get-ExchangeCertificate"}, &r)
		if len(r.Errors) == 0 || !strings.Contains(r.Errors[len(r.Errors)-1].Message, "The term 'Get-ExchangeCertificate' is not recognized") {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("Import-ExchangeCertificate with a SecureString password", func(t *testing.T) {
		e := p.lab.Endpoints()
		pfx, err := os.ReadFile(e.PFX.File)
		if err != nil {
			t.Fatal(err)
		}
		pw, err := os.ReadFile(e.PFX.PasswordFile)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _, err := ca.ParsePFX(pfx, string(pw))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Objects []struct {
				Types  []string          `json:"types"`
				Props  map[string]string `json:"props"`
				String string            `json:"string"`
			} `json:"objects"`
			HadErrors bool    `json:"had_errors"`
			Errors    []psErr `json:"errors"`
			State     int     `json:"state"`
		}
		p.run(t, map[string]any{"scenario": "import_cert", "transport": "http-ntlm", "user": AccountOrgAdmin,
			"pfx_file": e.PFX.File, "pfx_password_file": e.PFX.PasswordFile, "server": "EX01"}, &r)
		if r.HadErrors || r.State != psCompleted || len(r.Objects) != 1 {
			t.Fatalf("%+v", r)
		}
		if !strings.Contains(strings.Join(r.Objects[0].Types, ","), "ExchangeCertificate") {
			t.Fatalf("imported object's types %v", r.Objects[0].Types)
		}
		found := false
		p.lab.Store().Read(func(o *org.Org) {
			for _, c := range o.ServerCertificates("EX01") {
				if c.Thumbprint == leaf.Thumbprint() {
					found = true
				}
			}
		})
		if !found {
			t.Fatalf("certificate %s is not on EX01 after the import", leaf.Thumbprint())
		}
	})

	t.Run("the 19th session of one user is refused", func(t *testing.T) {
		var r struct {
			Opened   int      `json:"opened"`
			Refusals []string `json:"refusals"`
		}
		p.run(t, map[string]any{"scenario": "sessions", "transport": "https-basic", "user": AccountRecipientAdmin, "count": 19}, &r)
		if r.Opened != 18 || len(r.Refusals) != 1 {
			t.Fatalf("opened %d, refusals %q", r.Opened, r.Refusals)
		}
		for _, want := range []string{"Fail to create a runspace because you have exceeded the maximum number of connections allowed : 18 for the policy party : MaxConcurrency. Please close existing runspace and try again.",
			"[FailureCategory=AuthZ-AuthorizationException]"} {
			if !strings.Contains(r.Refusals[0], want) {
				t.Fatalf("refusal %q lacks %q", r.Refusals[0], want)
			}
		}
		// They were closed: a new session opens.
		p.run(t, map[string]any{"scenario": "sessions", "transport": "https-basic", "user": AccountRecipientAdmin, "count": 1}, &r)
		if r.Opened != 1 {
			t.Fatalf("after closing: opened %d, refusals %q", r.Opened, r.Refusals)
		}
		// Basic over plain http is refused.
		p.run(t, map[string]any{"scenario": "sessions", "transport": "http-basic", "user": AccountOrgAdmin, "count": 1}, &r)
		if r.Opened != 0 || len(r.Refusals) != 1 || !strings.Contains(r.Refusals[0], "Failed to authenticate") {
			t.Fatalf("Basic over http: opened %d, refusals %q", r.Opened, r.Refusals)
		}
		// A user without roles cannot open one at all.
		p.run(t, map[string]any{"scenario": "sessions", "transport": "https-basic", "user": AccountNoRoles, "count": 1}, &r)
		if r.Opened != 0 || len(r.Refusals) != 1 || !strings.Contains(r.Refusals[0], "isn't assigned to any management roles") {
			t.Fatalf("no-roles user: opened %d, refusals %q", r.Opened, r.Refusals)
		}
	})

	if s := p.lab.Stats(); s.PSRPPools == 0 || s.Pipelines == 0 || s.Rows < 10 || s.SimulatedSeconds <= 0 {
		t.Fatalf("stats after the run: %+v", s)
	}
}
