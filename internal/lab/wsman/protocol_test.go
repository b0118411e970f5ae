package wsman

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// rawClient speaks SOAP to the lab by hand, with Basic authentication.
type rawClient struct {
	t          testing.TB
	l          *lab
	http       *http.Client
	user, pass string
	n          atomic.Int64
	fast       bool   // skip the per-reply XML checks (benchmarks)
	resource   string // ResourceURI; empty means the cmd shell
	path       string // URL path; empty means /wsman
}

func newRaw(t testing.TB, l *lab) *rawClient {
	return &rawClient{t: t, l: l, http: &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}, user: testUser, pass: testPassword}
}

type rawReply struct {
	status      int
	contentType string
	body        string
	messageID   string // the request's
	headers     http.Header
}

// do posts one request; headers are extra WS-Management headers.
func (c *rawClient) do(action, shellID, headers, body string) rawReply {
	c.t.Helper()
	id := fmt.Sprintf("uuid:0000-%d", c.n.Add(1))
	sel := ""
	if shellID != "" {
		sel = `<w:SelectorSet><w:Selector Name="ShellId">` + shellID + `</w:Selector></w:SelectorSet>`
	}
	resource := c.resource
	if resource == "" {
		resource = resourceCmd
	}
	env := `<s:Envelope xmlns:s="` + wsmv.NSSOAP + `" xmlns:a="` + wsmv.NSAddressing + `" xmlns:w="` + wsmv.NSWSMan + `" xmlns:rsp="` + wsmv.NSShell + `">` +
		`<s:Header><a:To>http://windows-host:5985/wsman</a:To><a:Action s:mustUnderstand="true">` + action + `</a:Action>` +
		`<a:MessageID>` + id + `</a:MessageID><w:ResourceURI s:mustUnderstand="true">` + resource + `</w:ResourceURI>` +
		sel + headers + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
	return c.post([]byte(env), id)
}

func (c *rawClient) post(env []byte, id string) rawReply {
	c.t.Helper()
	url := c.l.endpoint()
	if c.path != "" {
		url = c.l.url + c.path
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(env))
	req.Header.Set("Content-Type", soapContentType)
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := rawReply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b), messageID: id, headers: resp.Header}
	if !strings.Contains(r.contentType, "application/soap+xml") {
		c.t.Errorf("Content-Type %q lacks application/soap+xml", r.contentType)
	}
	if r.status != http.StatusUnauthorized && len(b) > 0 && !c.fast {
		if got := between(r.body, "<a:RelatesTo>", "</a:RelatesTo>"); got != id {
			c.t.Errorf("RelatesTo = %q, want %q", got, id)
		}
		if !regexp.MustCompile(`<a:MessageID>uuid:[0-9A-F-]{36}</a:MessageID>`).MatchString(r.body) {
			c.t.Errorf("no fresh MessageID in %s", r.body)
		}
		var v struct{}
		if err := xml.Unmarshal(b, &v); err != nil {
			c.t.Errorf("response is not XML: %v", err)
		}
	}
	return r
}

func between(s, a, b string) string {
	_, s, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	s, _, _ = strings.Cut(s, b)
	return s
}

func (c *rawClient) create() string {
	c.t.Helper()
	r := c.do(wsmv.ActionCreate, "", `<w:OptionSet><w:Option Name="WINRS_CODEPAGE">65001</w:Option></w:OptionSet>`,
		`<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>`)
	if r.status != 200 {
		c.t.Fatalf("Create: %d %s", r.status, r.body)
	}
	id := between(r.body, `<w:Selector Name="ShellId">`, `</w:Selector>`)
	if id == "" || between(r.body, "<rsp:ShellId>", "</rsp:ShellId>") != id {
		c.t.Fatalf("Create response without a ShellId: %s", r.body)
	}
	return id
}

func (c *rawClient) command(shell, line string) string {
	c.t.Helper()
	r := c.do(wsmv.ActionCommand, shell, "", `<rsp:CommandLine><rsp:Command><![CDATA[`+line+`]]></rsp:Command></rsp:CommandLine>`)
	if r.status != 200 || !strings.Contains(r.body, wsmv.NSShell+"/CommandResponse") {
		c.t.Fatalf("Command: %d %s", r.status, r.body)
	}
	return between(r.body, "<rsp:CommandId>", "</rsp:CommandId>")
}

func (c *rawClient) receive(shell, cmd, headers string) rawReply {
	c.t.Helper()
	return c.do(wsmv.ActionReceive, shell, headers, `<rsp:Receive><rsp:DesiredStream CommandId="`+cmd+`">stdout stderr</rsp:DesiredStream></rsp:Receive>`)
}

// streams picks the rsp:Stream elements out of a ReceiveResponse: name,
// End marker and base64 content of each.
func streams(body string) (out [][3]string) {
	for {
		i := strings.Index(body, "<rsp:Stream ")
		if i < 0 {
			return out
		}
		body = body[i:]
		j := strings.IndexByte(body, '>')
		k := strings.Index(body, "</rsp:Stream>")
		if j < 0 || k < j {
			return out
		}
		attrs := body[:j]
		end := ""
		if strings.Contains(attrs, ` End="true"`) {
			end = "E"
		}
		out = append(out, [3]string{between(attrs, `Name="`, `"`), end, body[j+1 : k]})
		body = body[k:]
	}
}

// drain receives until Done and returns the streams, checking each
// envelope's size and the End markers.
func (c *rawClient) drain(shell, cmd string, maxEnv int) (stdout, stderr []byte, code string, receives int) {
	c.t.Helper()
	hdr := ""
	if maxEnv > 0 {
		hdr = fmt.Sprintf(`<w:MaxEnvelopeSize s:mustUnderstand="true">%d</w:MaxEnvelopeSize><w:OperationTimeout>PT5S</w:OperationTimeout>`, maxEnv)
	}
	ends := map[string]int{}
	for {
		r := c.receive(shell, cmd, hdr)
		receives++
		if r.status != 200 {
			c.t.Fatalf("Receive: %d %s", r.status, r.body)
		}
		limit := maxEnv
		if limit == 0 {
			limit = defaultEnvelopeSize
		}
		if len(r.body) > limit {
			c.t.Fatalf("envelope of %d bytes exceeds MaxEnvelopeSize %d", len(r.body), limit)
		}
		for _, m := range streams(r.body) {
			if ends[m[0]] > 0 {
				c.t.Fatalf("%s continues after End", m[0])
			}
			b, err := base64.StdEncoding.DecodeString(m[2])
			if err != nil {
				c.t.Fatal(err)
			}
			switch m[0] {
			case "stdout":
				stdout = append(stdout, b...)
			case "stderr":
				stderr = append(stderr, b...)
			default:
				c.t.Fatalf("unknown stream %q", m[0])
			}
			if m[1] != "" {
				ends[m[0]]++
			}
		}
		if strings.Contains(r.body, wsmv.CommandStateDone) {
			if ends["stdout"] != 1 || ends["stderr"] != 1 {
				c.t.Fatalf("Done without End on both streams: %v", ends)
			}
			return stdout, stderr, between(r.body, "<rsp:ExitCode>", "</rsp:ExitCode>"), receives
		}
	}
}

func TestEnvelopeSizeAndChunking(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	c := newRaw(t, l)
	sh := c.create()
	for _, maxEnv := range []int{8192, 20000, 153600, 512000} {
		cmd := c.command(sh, "both 300000")
		out, errOut, code, n := c.drain(sh, cmd, maxEnv)
		if !bytes.Equal(out, pattern(300000)) || !bytes.Equal(errOut, pattern(300000)) || code != "0" {
			t.Fatalf("max %d: %d/%d bytes, code %s", maxEnv, len(out), len(errOut), code)
		}
		if min := 600000 * 4 / 3 / maxEnv; n < min {
			t.Errorf("max %d: only %d Receives for 600000 bytes", maxEnv, n)
		}
	}
	// Below the minimum Windows accepts.
	cmd := c.command(sh, "echo x")
	r := c.receive(sh, cmd, `<w:MaxEnvelopeSize>4096</w:MaxEnvelopeSize>`)
	if r.status != 500 || !strings.Contains(r.body, "w:EncodingLimit") {
		t.Fatalf("small MaxEnvelopeSize: %d %s", r.status, r.body)
	}
}

func TestReceiveTimedOutFault(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	c := newRaw(t, l)
	sh := c.create()
	cmd := c.command(sh, "sleep 700ms late")
	start := time.Now()
	r := c.receive(sh, cmd, `<w:OperationTimeout>PT0.3S</w:OperationTimeout>`)
	if r.status != 500 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	for _, want := range []string{"<s:Value>s:Receiver</s:Value>", "<s:Value>w:TimedOut</s:Value>", `Code="2150858793"`, "OperationTimeout", actionFault} {
		if !strings.Contains(r.body, want) {
			t.Errorf("fault lacks %q: %s", want, r.body)
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("answered after %v, before the OperationTimeout", d)
	}
	out, _, code, _ := c.drain(sh, cmd, 0)
	if string(out) != "late" || code != "0" {
		t.Fatalf("after the timeout: %q %s", out, code)
	}
}

func TestFaultsAndSelectors(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, func(o *Options) { o.Users["bob"] = "bob-pw" })
	c := newRaw(t, l)
	sh := c.create()
	bob := newRaw(t, l)
	bob.user, bob.pass = "bob", "bob-pw"
	for _, tc := range []struct {
		name, action, shell, body, want string
	}{
		{"unknown shell", wsmv.ActionCommand, "0BADBEEF-0000-0000-0000-000000000000", `<rsp:CommandLine><rsp:Command>echo</rsp:Command></rsp:CommandLine>`, "w:InvalidSelectors"},
		{"no shell selector", wsmv.ActionReceive, "", `<rsp:Receive><rsp:DesiredStream CommandId="X">stdout</rsp:DesiredStream></rsp:Receive>`, "w:InvalidSelectors"},
		{"unknown command", wsmv.ActionReceive, sh, `<rsp:Receive><rsp:DesiredStream CommandId="NOPE">stdout</rsp:DesiredStream></rsp:Receive>`, "w:InvalidSelectors"},
		{"unknown signal target", wsmv.ActionSignal, sh, `<rsp:Signal CommandId="NOPE"><rsp:Code>` + signalTerminate + `</rsp:Code></rsp:Signal>`, "w:InvalidSelectors"},
		{"unknown action", "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", sh, "", "a:ActionNotSupported"},
		{"Command without CommandLine", wsmv.ActionCommand, sh, "", "w:SchemaValidationError"},
		{"bad stdin", wsmv.ActionSend, sh, `<rsp:Send><rsp:Stream Name="stdin" CommandId="X">***</rsp:Stream></rsp:Send>`, "w:InvalidSelectors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.action, tc.shell, "", tc.body)
			if r.status != 500 || !strings.Contains(r.body, tc.want) || !strings.Contains(r.body, "<s:Fault>") {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	t.Run("another user's shell", func(t *testing.T) {
		r := bob.do(wsmv.ActionCommand, sh, "", `<rsp:CommandLine><rsp:Command>echo</rsp:Command></rsp:CommandLine>`)
		if r.status != 500 || !strings.Contains(r.body, "w:AccessDenied") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if r := bob.do(wsmv.ActionDelete, sh, "", ""); r.status != 500 {
			t.Fatalf("bob deleted alice's shell: %d", r.status)
		}
	})
	t.Run("bad code page", func(t *testing.T) {
		r := c.do(wsmv.ActionCreate, "", `<w:OptionSet><w:Option Name="WINRS_CODEPAGE">utf8</w:Option></w:OptionSet>`, `<rsp:Shell/>`)
		if r.status != 500 || !strings.Contains(r.body, "w:SchemaValidationError") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("malformed XML", func(t *testing.T) {
		r := c.post([]byte(`<s:Envelope xmlns:s="`+wsmv.NSSOAP+`"><s:Header><a:MessageID xmlns:a="`+wsmv.NSAddressing+`">uuid:m</a:MessageID>`), "uuid:m")
		if r.status != 500 || !strings.Contains(r.body, "w:SchemaValidationError") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("wrong resource URI", func(t *testing.T) {
		resource := c.resource
		if resource == "" {
			resource = resourceCmd
		}
		env := `<s:Envelope xmlns:s="` + wsmv.NSSOAP + `" xmlns:a="` + wsmv.NSAddressing + `" xmlns:w="` + wsmv.NSWSMan + `"><s:Header><a:Action>` + wsmv.ActionCreate +
			`</a:Action><a:MessageID>uuid:r</a:MessageID><w:ResourceURI>http://schemas.microsoft.com/powershell/Microsoft.Exchange</w:ResourceURI></s:Header><s:Body/></s:Envelope>`
		r := c.post([]byte(env), "uuid:r")
		if r.status != 500 || !strings.Contains(r.body, "w:InvalidResourceURI") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(l.endpoint())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("GET: %d", resp.StatusCode)
		}
	})
}

func TestSignalsSendAndDelete(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	c := newRaw(t, l)
	sh := c.create()

	// Send stdin in two parts, the second with End.
	cmd := c.command(sh, "cat")
	for i, part := range []string{"first ", "second"} {
		end := ""
		if i == 1 {
			end = ` End="true"`
		}
		r := c.do(wsmv.ActionSend, sh, "", `<rsp:Send><rsp:Stream Name="stdin" CommandId="`+cmd+`"`+end+`>`+base64.StdEncoding.EncodeToString([]byte(part))+`</rsp:Stream></rsp:Send>`)
		if r.status != 200 || !strings.Contains(r.body, wsmv.NSShell+"/SendResponse") {
			t.Fatalf("Send: %d %s", r.status, r.body)
		}
	}
	if out, _, code, _ := c.drain(sh, cmd, 0); string(out) != "first second" || code != "0" {
		t.Fatalf("cat: %q %s", out, code)
	}

	// ctrl_c cancels the command, whose output and exit code remain.
	cmd = c.command(sh, "wait")
	r := c.do(wsmv.ActionSignal, sh, "", `<rsp:Signal CommandId="`+cmd+`"><rsp:Code>`+signalCtrlC+`</rsp:Code></rsp:Signal>`)
	if r.status != 200 || !strings.Contains(r.body, wsmv.NSShell+"/SignalResponse") {
		t.Fatalf("Signal: %d %s", r.status, r.body)
	}
	if _, errOut, code, _ := c.drain(sh, cmd, 0); string(errOut) != "cancelled" || code != "130" {
		t.Fatalf("after ctrl_c: %q %s", errOut, code)
	}

	// terminate ends the command; it is gone afterwards.
	cmd = c.command(sh, "wait")
	if r := c.do(wsmv.ActionSignal, sh, "", `<rsp:Signal CommandId="`+cmd+`"><rsp:Code>`+signalTerminate+`</rsp:Code></rsp:Signal>`); r.status != 200 {
		t.Fatalf("terminate: %d", r.status)
	}
	if r := c.receive(sh, cmd, ""); r.status != 500 {
		t.Fatalf("Receive after terminate: %d", r.status)
	}

	// Delete terminates running commands and forgets the shell.
	cmd = c.command(sh, "wait")
	if r := c.do(wsmv.ActionDelete, sh, "", ""); r.status != 200 || !strings.Contains(r.body, wsmv.NSTransfer+"/DeleteResponse") {
		t.Fatalf("Delete: %d %s", r.status, r.body)
	}
	if r := c.receive(sh, cmd, ""); r.status != 500 || !strings.Contains(r.body, "w:InvalidSelectors") {
		t.Fatalf("Receive after Delete: %d %s", r.status, r.body)
	}
}

func TestShellQuotaAndReaping(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, func(o *Options) { o.MaxShellsPerUser = 2; o.IdleTimeout = time.Minute })
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l.srv.now = func() time.Time { return time.Unix(0, now.Load()) }
	c := newRaw(t, l)
	a, _ := c.create(), c.create()
	r := c.do(wsmv.ActionCreate, "", "", `<rsp:Shell/>`)
	if r.status != 500 || !strings.Contains(r.body, "w:QuotaLimit") {
		t.Fatalf("third shell: %d %s", r.status, r.body)
	}
	// Another user has a quota of their own.
	alice := newRaw(t, l)
	alice.user, alice.pass = "alice@contoso.test", "alice-pw"
	alice.create()
	// Shells unused for longer than IdleTimeout are reaped, with their
	// commands.
	cmd := c.command(a, "wait")
	now.Add(int64(2 * time.Minute))
	c.create() // a request triggers the sweep; the quota has room again
	if r := c.receive(a, cmd, ""); r.status != 500 || !strings.Contains(r.body, "w:InvalidSelectors") {
		t.Fatalf("reaped shell still answers: %d %s", r.status, r.body)
	}
}

func TestCloseTerminatesCommands(t *testing.T) {
	t.Parallel()
	done := make(chan int, 1)
	l := startLab(t, false, func(o *Options) {
		o.Executor = ExecutorFunc(func(ctx context.Context, req Command, stdin io.Reader, stdout, stderr io.Writer) int {
			<-ctx.Done()
			done <- 1
			return 1
		})
	})
	c := newRaw(t, l)
	sh := c.create()
	c.command(sh, "anything")
	l.srv.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close left the command running")
	}
	if r := c.do(wsmv.ActionCreate, "", "", `<rsp:Shell/>`); r.status != 500 {
		t.Fatalf("Create after Close: %d", r.status)
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		basic      bool
		ntlm       bool
		wantHeader []string
	}{
		{"both", true, true, []string{"Negotiate", "NTLM", `Basic realm="WSMAN"`}},
		{"ntlm only", false, true, []string{"Negotiate", "NTLM"}},
		{"basic only", true, false, []string{`Basic realm="WSMAN"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLab(t, false, func(o *Options) { o.AllowBasic, o.AllowNTLM = tc.basic, tc.ntlm })
			c := newRaw(t, l)
			c.user = ""
			req, _ := http.NewRequest(http.MethodPost, l.endpoint(), strings.NewReader("<x/>"))
			resp, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 || strings.Join(resp.Header.Values("WWW-Authenticate"), "|") != strings.Join(tc.wantHeader, "|") {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"))
			}
			if !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml") {
				t.Fatalf("401 Content-Type %q", resp.Header.Get("Content-Type"))
			}
			c.user, c.pass = testUser, testPassword
			r := c.do(wsmv.ActionCreate, "", "", `<rsp:Shell/>`)
			if want := map[bool]int{true: 200, false: 401}[tc.basic]; r.status != want {
				t.Fatalf("Basic: %d, want %d", r.status, want)
			}
		})
	}
	t.Run("user name forms", func(t *testing.T) {
		l := startLab(t, false, nil)
		for _, tc := range []struct {
			user, pass string
			ok         bool
			whoami     string
		}{
			{`CONTOSO\Administrator`, testPassword, true, testUser},
			{`contoso\administrator`, testPassword, true, testUser},
			{`Administrator`, testPassword, true, testUser},
			{`administrator@contoso.test`, testPassword, true, testUser},
			{`alice`, "alice-pw", true, `CONTOSO\alice`},
			{`CONTOSO\alice`, "alice-pw", true, `CONTOSO\alice`},
			{`OTHER\Administrator`, testPassword, false, ""},
			{`Administrator`, "wrong", false, ""},
			{`nobody`, "x", false, ""},
		} {
			c := newRaw(t, l)
			c.user, c.pass = tc.user, tc.pass
			r := c.do(wsmv.ActionCreate, "", "", `<rsp:Shell/>`)
			if (r.status == 200) != tc.ok {
				t.Errorf("%s: %d", tc.user, r.status)
				continue
			}
			if tc.ok {
				sh := between(r.body, "<rsp:ShellId>", "</rsp:ShellId>")
				out, _, _, _ := c.drain(sh, c.command(sh, "whoami"), 0)
				if string(out) != tc.whoami {
					t.Errorf("%s runs as %q, want %q", tc.user, out, tc.whoami)
				}
			}
		}
	})
}

func TestInjectedFaults(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	c := newRaw(t, l)
	sh := c.create()

	l.inj.Set(faults.Spec{HTTP500: 1})
	r := c.do(wsmv.ActionCommand, sh, "", `<rsp:CommandLine><rsp:Command>echo hi</rsp:Command></rsp:CommandLine>`)
	if r.status != 500 || !strings.Contains(r.body, "w:InternalError") {
		t.Fatalf("http500: %d %s", r.status, r.body)
	}
	l.srv.mu.Lock()
	n := len(l.srv.shells[sh].commands)
	l.srv.mu.Unlock()
	if n != 0 {
		t.Fatal("a request answered with an injected 500 still ran")
	}

	l.inj.Set(faults.Spec{Drop: 1})
	req, _ := http.NewRequest(http.MethodPost, l.endpoint(), strings.NewReader("<x/>"))
	req.SetBasicAuth(testUser, testPassword)
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("drop: got a %d answer", resp.StatusCode)
	}

	l.inj.Set(faults.Spec{Latency: 200 * time.Millisecond})
	start := time.Now()
	c.command(sh, "echo hi")
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("latency: answered after %v", d)
	}

	l.inj.Set(faults.Spec{})
	before := l.stats.WinRMRequests.Load()
	c.command(sh, "echo hi")
	if l.stats.WinRMRequests.Load() != before+1 {
		t.Fatal("WinRMRequests did not count the request")
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT60S", 60 * time.Second, true},
		{"PT60.000S", 60 * time.Second, true},
		{"PT0.5S", 500 * time.Millisecond, true},
		{"PT1M30S", 90 * time.Second, true},
		{"P1DT1H", 25 * time.Hour, true},
		{"PT", 0, false},
		{"60", 0, false},
		{"P1Y", 0, false},
		{"PT5", 0, false},
		{"PTS", 0, false},
		{"PT-1S", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(`<s:Envelope xmlns:s="` + wsmv.NSSOAP + `" xmlns:a="` + wsmv.NSAddressing + `" xmlns:w="` + wsmv.NSWSMan + `" xmlns:rsp="` + wsmv.NSShell + `"><s:Header><a:Action>` + wsmv.ActionReceive + `</a:Action><a:MessageID>uuid:1</a:MessageID><w:MaxEnvelopeSize>153600</w:MaxEnvelopeSize><w:OperationTimeout>PT20S</w:OperationTimeout><w:SelectorSet><w:Selector Name="ShellId">A</w:Selector></w:SelectorSet></s:Header><s:Body><rsp:Receive><rsp:DesiredStream CommandId="B">stdout stderr</rsp:DesiredStream></rsp:Receive></s:Body></s:Envelope>`))
	f.Add([]byte(`<s:Envelope xmlns:s="` + wsmv.NSSOAP + `"><s:Header/><s:Body/></s:Envelope>`))
	f.Add([]byte(`<env:Envelope xmlns:env="` + wsmv.NSSOAP + `" xmlns:rsp="` + wsmv.NSShell + `"><env:Body><rsp:CommandLine><rsp:Command><![CDATA[echo "x"]]></rsp:Command><rsp:Arguments>a b</rsp:Arguments></rsp:CommandLine></env:Body></env:Envelope>`))
	f.Add([]byte("<"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err != nil {
			return
		}
		if r.Action == "" || r.MessageID == "" || r.MaxEnvelopeSize < 0 || r.OperationTimeout < 0 {
			t.Fatalf("accepted an unusable request: %+v", r)
		}
		// Whatever parses must render a fault that is XML.
		var v struct{}
		if err := xml.Unmarshal(faultSchema(r.Action).render(r.MessageID, "uuid:x", "EX01"), &v); err != nil {
			t.Fatalf("fault is not XML: %v", err)
		}
	})
}

func TestISODuration(t *testing.T) {
	for d, want := range map[time.Duration]string{15 * time.Minute: "PT900.000S", 1500 * time.Millisecond: "PT1.500S"} {
		if got := isoDuration(d); got != want {
			t.Errorf("isoDuration(%v) = %s, want %s", d, got, want)
		}
		if back, err := parseDuration(isoDuration(d)); err != nil || back != d {
			t.Errorf("round trip of %v: %v %v", d, back, err)
		}
	}
}

// BenchmarkReceive1MB measures streaming a 1 MB output through Receive
// with the default MaxEnvelopeSize, over HTTP with Basic authentication.
func BenchmarkReceive1MB(b *testing.B) {
	l := startLab(b, false, nil)
	c := newRaw(b, l)
	c.fast = true
	sh := c.create()
	b.SetBytes(1 << 20)
	b.ResetTimer()
	receives := 0
	for i := 0; i < b.N; i++ {
		out, _, _, n := c.drain(sh, c.command(sh, "bytes 1048576"), 0)
		if len(out) != 1<<20 {
			b.Fatalf("%d bytes", len(out))
		}
		receives += n
	}
	b.ReportMetric(float64(receives)/float64(b.N), "receives/op")
}

// cmd.exe refuses a command line over 8,191 characters (counted in UTF-16
// code units) with its own message and exit code 1; WINRS_SKIP_CMD_SHELL
// bypasses it.
func TestCmdLineLimit(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	c := newRaw(t, l)
	sh := c.create()
	cases := []struct {
		name     string
		line     string
		skip     bool
		wantOut  string
		wantErr  string
		wantCode string
	}{
		{"8191 characters run", "echo " + strings.Repeat("x", 8191-5), false, strings.Repeat("x", 8186) + "\r\n", "", "0"},
		{"8192 characters fail", "echo " + strings.Repeat("x", 8192-5), false, "", "The command line is too long.\r\n", "1"},
		{"astral characters count twice", "echo " + strings.Repeat("😀", 4094), false, "", "The command line is too long.\r\n", "1"},
		{"without the cmd shell", "echo " + strings.Repeat("x", 9000), true, strings.Repeat("x", 9000) + "\r\n", "", "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newRaw(t, l)
			opt := ""
			if tc.skip {
				opt = `<w:OptionSet><w:Option Name="WINRS_SKIP_CMD_SHELL">TRUE</w:Option></w:OptionSet>`
			}
			r := c.do(wsmv.ActionCommand, sh, opt, `<rsp:CommandLine><rsp:Command><![CDATA[`+tc.line+`]]></rsp:Command></rsp:CommandLine>`)
			cmd := between(r.body, "<rsp:CommandId>", "</rsp:CommandId>")
			if r.status != 200 || cmd == "" {
				t.Fatalf("Command: %d %s", r.status, r.body)
			}
			out, errOut, code, _ := c.drain(sh, cmd, 0)
			if string(out) != tc.wantOut || string(errOut) != tc.wantErr || code != tc.wantCode {
				t.Fatalf("stdout %d bytes, stderr %q, exit %s; want %d bytes, %q, %s", len(out), errOut, code, len(tc.wantOut), tc.wantErr, tc.wantCode)
			}
		})
	}
}
