package wsman

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// echoHost is a PSRPHost whose pools echo: the pool's queue starts with
// the creationXml bytes, a pipeline's with its Command arguments, and
// every Send appends "stream:" and the data to the pool's or the
// pipeline's queue. A pipeline is done once "stdin:end" was sent and its
// queue drained; Stop queues "stopped" and ends it.
type echoHost struct {
	mu     sync.Mutex
	pools  []*echoPool
	refuse error
}

func (h *echoHost) Open(_ context.Context, info PoolInfo, creation []byte) (Pool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refuse != nil {
		return nil, h.refuse
	}
	p := &echoPool{info: info, changed: make(chan struct{}), pipes: map[string]*echoQueue{}}
	p.pool.data = append(p.pool.data, creation...)
	h.pools = append(h.pools, p)
	return p, nil
}

type echoQueue struct {
	data  []byte
	ended bool
}

type echoPool struct {
	info    PoolInfo
	mu      sync.Mutex
	changed chan struct{}
	pool    echoQueue
	pipes   map[string]*echoQueue
	stops   []string
	closed  bool
}

func (p *echoPool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *echoPool) queue(id string) (*echoQueue, error) {
	if p.closed {
		return nil, ErrPoolBroken
	}
	if id == "" {
		return &p.pool, nil
	}
	q := p.pipes[id]
	if q == nil {
		return nil, ErrCommandNotFound
	}
	return q, nil
}

func (p *echoPool) Command(id string, args []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pipes[id] != nil {
		return errors.New("a pipeline with id " + id + " is running")
	}
	p.pipes[id] = &echoQueue{data: append([]byte(nil), args...)}
	p.notifyLocked()
	return nil
}

func (p *echoPool) Send(id, stream string, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	q, err := p.queue(id)
	if err != nil {
		return err
	}
	q.data = append(q.data, stream+":"...)
	q.data = append(q.data, data...)
	if stream == "stdin" && string(data) == "end" {
		q.ended = true
	}
	p.notifyLocked()
	return nil
}

func (p *echoPool) Receive(ctx context.Context, id string, budget int) ([]byte, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		q, err := p.queue(id)
		if err != nil {
			return nil, false, err
		}
		if len(q.data) > 0 || q.ended {
			n := min(budget, len(q.data))
			out := append([]byte(nil), q.data[:n]...)
			q.data = q.data[n:]
			return out, id != "" && q.ended && len(q.data) == 0, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			p.mu.Lock()
			return nil, false, ctx.Err()
		}
		p.mu.Lock()
	}
}

func (p *echoPool) Stop(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	q, err := p.queue(id)
	if err != nil {
		return err
	}
	p.stops = append(p.stops, id)
	q.data = append(q.data, "stopped"...)
	q.ended = true
	p.notifyLocked()
	return nil
}

func (p *echoPool) Terminate(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.queue(id); err != nil {
		return err
	}
	delete(p.pipes, id)
	return nil
}

func (p *echoPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.notifyLocked()
}

func (p *echoPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

const exchangeURI = resourcePowerShellPrefix + "Microsoft.Exchange"

func startPSRPLab(t *testing.T, useTLS bool, host *echoHost, limit int) (*lab, *rawClient) {
	t.Helper()
	l := startLab(t, useTLS, func(o *Options) {
		o.PSRP = PSRPOptions{Host: host, MaxConcurrency: limit}
		o.MaxOperationTimeout = 2 * time.Second
	})
	c := newRaw(t, l)
	c.resource, c.path = exchangeURI, "/PowerShell/"
	if useTLS {
		c.http = tlsClient(t, l)
	}
	return l, c
}

func psrpCreateBody(shellID string, creation []byte) string {
	attr := ""
	if shellID != "" {
		attr = ` ShellId="` + shellID + `"`
	}
	return `<rsp:Shell` + attr + `><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
		`<creationXml xmlns="http://schemas.microsoft.com/powershell">` + base64.StdEncoding.EncodeToString(creation) + `</creationXml></rsp:Shell>`
}

const pv23 = `<w:OptionSet><w:Option MustComply="true" Name="protocolversion">2.3</w:Option></w:OptionSet>`

func (c *rawClient) psrpCreate(shellID string, creation []byte) string {
	c.t.Helper()
	r := c.do(wsmv.ActionCreate, "", pv23, psrpCreateBody(shellID, creation))
	if r.status != 200 {
		c.t.Fatalf("Create: %d %s", r.status, r.body)
	}
	return between(r.body, `<w:Selector Name="ShellId">`, `</w:Selector>`)
}

// psrpReceive returns the decoded stdout, whether CommandState said
// Done, and the reply.
func (c *rawClient) psrpReceive(shell, cmd, headers string) ([]byte, bool, rawReply) {
	c.t.Helper()
	attr := ""
	if cmd != "" {
		attr = ` CommandId="` + cmd + `"`
	}
	r := c.do(wsmv.ActionReceive, shell, headers, `<rsp:Receive><rsp:DesiredStream`+attr+`>stdout</rsp:DesiredStream></rsp:Receive>`)
	if r.status != 200 {
		return nil, false, r
	}
	var out []byte
	for _, st := range streams(r.body) {
		b, err := base64.StdEncoding.DecodeString(st[2])
		if err != nil {
			c.t.Fatalf("stream is not base64: %s", r.body)
		}
		out = append(out, b...)
	}
	return out, strings.Contains(r.body, `State="`+wsmv.CommandStateDone+`"`), r
}

func TestPSRPCreateRefusals(t *testing.T) {
	t.Parallel()
	host := &echoHost{}
	l, c := startPSRPLab(t, true, host, 0)
	cases := []struct {
		name, resource, path, headers, want string
	}{
		{"no protocolversion", exchangeURI, "/PowerShell/", "", "the protocolversion option is missing"},
		{"protocol 3", exchangeURI, "/PowerShell/", `<w:OptionSet><w:Option Name="protocolversion">3.0</w:Option></w:OptionSet>`, "protocolversion 3.0 is not supported"},
		{"unknown configuration", resourcePowerShellPrefix + "Microsoft.PowerShell", "/PowerShell/", pv23,
			"Cannot find the Microsoft.PowerShell session configuration in the WSMan: drive on the EX01 computer."},
		{"cmd shell on /PowerShell/", resourceCmd, "/PowerShell/", pv23, "w:InvalidResourceURI"},
		{"PSRP on /wsman", exchangeURI, "", pv23, "w:InvalidResourceURI"},
	}
	for _, tc := range cases {
		rc := newRaw(t, l)
		rc.http = c.http
		rc.resource, rc.path = tc.resource, tc.path
		r := rc.do(wsmv.ActionCreate, "", tc.headers, psrpCreateBody("", []byte("x")))
		if r.status != 500 || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %d %s, want a fault with %q", tc.name, r.status, r.body, tc.want)
		}
	}
	host.refuse = errors.New("the user has no role assignments")
	if r := c.do(wsmv.ActionCreate, "", pv23, psrpCreateBody("", nil)); r.status != 500 || !strings.Contains(r.body, "the user has no role assignments") {
		t.Errorf("a refusing host: %d %s", r.status, r.body)
	}
	host.refuse = categorised{}
	if r := c.do(wsmv.ActionCreate, "", pv23, psrpCreateBody("", nil)); r.status != 500 || !strings.Contains(r.body, xmlText(`[FailureCategory=AuthZ-CmdletAccessDeniedException] The user "CONTOSO\x" isn't assigned to any management roles.`)) {
		t.Errorf("a refusal with a failure category: %d %s", r.status, r.body)
	}
	if len(host.pools) != 0 {
		t.Errorf("%d pools opened by refused Creates", len(host.pools))
	}
}

func TestPSRPShellLifecycle(t *testing.T) {
	t.Parallel()
	host := &echoHost{}
	l, c := startPSRPLab(t, true, host, 0)
	const rpid = "7a1b2c3d-0000-4000-8000-00000000abcd"
	sh := c.psrpCreate(rpid, []byte("SESSION_CAPABILITY+INIT_RUNSPACEPOOL"))
	if sh != strings.ToUpper(rpid) {
		t.Fatalf("ShellId = %q, want the client's pool id upper-cased", sh)
	}
	if p := host.pools[0]; p.info.ShellID != sh || p.info.User != testUser || p.info.ProtocolVersion != "2.3" {
		t.Fatalf("pool info = %+v", p.info)
	}
	// The pool's Receive (no CommandId) carries its queue, no CommandState.
	out, done, r := c.psrpReceive(sh, "", "")
	if string(out) != "SESSION_CAPABILITY+INIT_RUNSPACEPOOL" || done || strings.Contains(r.body, "CommandState") {
		t.Fatalf("pool Receive: %q %v %s", out, done, r.body)
	}
	// A cmd shell's id means nothing on /PowerShell/ and vice versa.
	wc := newRaw(t, l)
	wc.http = c.http
	cmdShell := wc.create()
	if _, _, r := c.psrpReceive(cmdShell, "", ""); r.status != 500 || !strings.Contains(r.body, "w:InvalidSelectors") {
		t.Fatalf("cmd shell on /PowerShell/: %d %s", r.status, r.body)
	}

	// Command honours the client's CommandId; the arguments reach the pool.
	const pid = "11111111-2222-4333-8444-555555555555"
	r = c.do(wsmv.ActionCommand, sh, "", `<rsp:CommandLine CommandId="`+pid+`"><rsp:Command></rsp:Command><rsp:Arguments>`+
		base64.StdEncoding.EncodeToString([]byte("CREATE_PIPELINE"))+`</rsp:Arguments></rsp:CommandLine>`)
	cmd := between(r.body, "<rsp:CommandId>", "</rsp:CommandId>")
	if r.status != 200 || cmd != strings.ToUpper(pid) {
		t.Fatalf("Command: %d %s", r.status, r.body)
	}
	// Send on stdin and pr, with and without CommandId.
	send := func(stream, id, data string) rawReply {
		attr := ""
		if id != "" {
			attr = ` CommandId="` + id + `"`
		}
		return c.do(wsmv.ActionSend, sh, "", `<rsp:Send><rsp:Stream Name="`+stream+`"`+attr+`>`+base64.StdEncoding.EncodeToString([]byte(data))+`</rsp:Stream></rsp:Send>`)
	}
	for _, s := range []struct{ stream, id, data string }{{"stdin", strings.ToLower(cmd), "input"}, {"pr", cmd, "hostresponse"}, {"stdin", "", "PUBLIC_KEY"}, {"pr", "", "poolhost"}} {
		if r := send(s.stream, s.id, s.data); r.status != 200 || !strings.Contains(r.body, "SendResponse") {
			t.Fatalf("Send %+v: %d %s", s, r.status, r.body)
		}
	}
	if r := send("stderr", cmd, "x"); r.status != 500 || !strings.Contains(r.body, "SchemaValidationError") {
		t.Fatalf("Send on stderr: %d %s", r.status, r.body)
	}
	if r := send("stdin", "99999999-2222-4333-8444-555555555555", "x"); r.status != 500 || !strings.Contains(r.body, "failed because the command was not found") {
		t.Fatalf("Send to an unknown pipeline: %d %s", r.status, r.body)
	}
	if out, _, _ := c.psrpReceive(sh, "", ""); string(out) != "stdin:PUBLIC_KEYpr:poolhost" {
		t.Fatalf("pool Receive after Sends: %q", out)
	}
	out, done, r = c.psrpReceive(sh, cmd, "")
	if string(out) != "CREATE_PIPELINEstdin:inputpr:hostresponse" || done || !strings.Contains(r.body, `CommandId="`+cmd+`"`) || !strings.Contains(r.body, stateRunning) {
		t.Fatalf("pipeline Receive: %q %v %s", out, done, r.body)
	}

	// Output larger than the envelope comes in pieces that fit, the rest
	// first in line for the next Receive.
	big := strings.Repeat("0123456789", 3000)
	send("stdin", cmd, big)
	send("stdin", cmd, "end")
	var got []byte
	for i := 0; ; i++ {
		out, done, r := c.psrpReceive(sh, cmd, `<w:MaxEnvelopeSize>8192</w:MaxEnvelopeSize>`)
		if r.status != 200 {
			t.Fatalf("Receive: %d %s", r.status, r.body)
		}
		if len(r.body) > 8192 {
			t.Fatalf("envelope of %d bytes, over MaxEnvelopeSize 8192", len(r.body))
		}
		got = append(got, out...)
		if done {
			if !strings.Contains(r.body, `End="true"`) {
				t.Fatalf("Done without End: %s", r.body)
			}
			break
		}
		if i > 20 {
			t.Fatal("no Done")
		}
	}
	if string(got) != "stdin:"+big+"stdin:end" {
		t.Fatalf("reassembled %d bytes, want %d", len(got), len(big)+15)
	}

	// crtl_c (and pypsrp's ctrl_c) stop; terminate releases.
	for i, code := range []string{signalPSStop, signalPSStopPypsrp} {
		id := "11111111-2222-4333-8444-00000000000" + strconv.Itoa(i)
		c.do(wsmv.ActionCommand, sh, "", `<rsp:CommandLine CommandId="`+id+`"><rsp:Command/><rsp:Arguments>AA==</rsp:Arguments></rsp:CommandLine>`)
		if r := c.do(wsmv.ActionSignal, sh, "", `<rsp:Signal CommandId="`+id+`"><rsp:Code>`+code+`</rsp:Code></rsp:Signal>`); r.status != 200 || !strings.Contains(r.body, "SignalResponse") {
			t.Fatalf("Signal %s: %d %s", code, r.status, r.body)
		}
		if r := c.do(wsmv.ActionSignal, sh, "", `<rsp:Signal CommandId="`+id+`"><rsp:Code>`+signalTerminate+`</rsp:Code></rsp:Signal>`); r.status != 200 {
			t.Fatalf("terminate: %d %s", r.status, r.body)
		}
		if _, _, r := c.psrpReceive(sh, id, ""); r.status != 500 || !strings.Contains(r.body, "the command was not found") {
			t.Fatalf("Receive after terminate: %d %s", r.status, r.body)
		}
	}
	if n := len(host.pools[0].stops); n != 2 {
		t.Fatalf("%d stops, want 2", n)
	}
	if r := c.do(wsmv.ActionSignal, sh, "", `<rsp:Signal CommandId="`+cmd+`"><rsp:Code>powershell/signal/crtl_z</rsp:Code></rsp:Signal>`); r.status != 500 {
		t.Fatalf("unknown signal: %d", r.status)
	}

	// An idle Receive gets the TimedOut fault.
	if _, _, r := c.psrpReceive(sh, "", `<w:OperationTimeout>PT0.5S</w:OperationTimeout>`); r.status != 500 || !strings.Contains(r.body, "w:TimedOut") {
		t.Fatalf("idle Receive: %d %s", r.status, r.body)
	}

	// Delete closes the pool and forgets the shell.
	if r := c.do(wsmv.ActionDelete, sh, "", ""); r.status != 200 || !strings.Contains(r.body, "DeleteResponse") {
		t.Fatalf("Delete: %d %s", r.status, r.body)
	}
	if !host.pools[0].isClosed() {
		t.Fatal("Delete did not close the pool")
	}
	if _, _, r := c.psrpReceive(sh, "", ""); r.status != 500 || !strings.Contains(r.body, "the shell was not found") {
		t.Fatalf("Receive after Delete: %d %s", r.status, r.body)
	}
	if n := l.stats.PSRPPools.Load(); n != 1 {
		t.Fatalf("PSRPPools = %d, want 1", n)
	}
	if l.stats.PlainBodies.Load() == 0 || l.stats.EncryptedBodies.Load() != 0 {
		t.Fatalf("bodies: plain %d encrypted %d", l.stats.PlainBodies.Load(), l.stats.EncryptedBodies.Load())
	}
}

func TestPSRPConcurrencyLimit(t *testing.T) {
	t.Parallel()
	host := &echoHost{}
	l, c := startPSRPLab(t, true, host, 3)
	var shells []string
	for range 3 {
		shells = append(shells, c.psrpCreate("", nil))
	}
	// Another user is not counted against this one, and cmd shells are not
	// PSRP sessions.
	alice := newRaw(t, l)
	alice.resource, alice.path, alice.user, alice.pass = exchangeURI, "/PowerShell/", "alice@contoso.test", "alice-pw"
	alice.http = c.http
	alice.psrpCreate("", nil)
	wc := newRaw(t, l)
	wc.http = c.http
	wc.create()

	r := c.do(wsmv.ActionCreate, "", pv23, psrpCreateBody("", nil))
	for _, want := range []string{
		"Fail to create a runspace because you have exceeded the maximum number of connections allowed : 3 for the policy party : MaxConcurrency. Please close existing runspace and try again.",
		"[FailureCategory=AuthZ-AuthorizationException]", "ActiveRunspaces:\t3/3", `CONTOSO\Administrator`, "w:InternalError",
	} {
		if r.status != 500 || !strings.Contains(r.body, xmlText(want)) {
			t.Fatalf("4th session: %d, want %q in %s", r.status, want, r.body)
		}
	}
	// Deleting a session frees its slot.
	c.do(wsmv.ActionDelete, shells[0], "", "")
	c.psrpCreate("", nil)
}

func TestPSRPBrokenSession(t *testing.T) {
	t.Parallel()
	host := &echoHost{}
	l, c := startPSRPLab(t, true, host, 0)
	sh := c.psrpCreate("", nil)
	c.do(wsmv.ActionCommand, sh, "", `<rsp:CommandLine CommandId="11111111-2222-4333-8444-555555555555"><rsp:Command/><rsp:Arguments>AA==</rsp:Arguments></rsp:CommandLine>`)
	l.inj.Set(faults.Spec{Break: 1})
	_, _, r := c.psrpReceive(sh, "11111111-2222-4333-8444-555555555555", "")
	if r.status != 500 || !strings.Contains(r.body, "The I/O operation has been aborted") {
		t.Fatalf("Receive in a breaking session: %d %s", r.status, r.body)
	}
	l.inj.Set(faults.Spec{})
	if !host.pools[0].isClosed() {
		t.Fatal("the broken session's pool is still open")
	}
	if _, _, r := c.psrpReceive(sh, "", ""); r.status != 500 || !strings.Contains(r.body, "the shell was not found") {
		t.Fatalf("next request: %d %s", r.status, r.body)
	}
	// Its slot is free again.
	c.psrpCreate("", nil)
}

func TestPSRPBasicNeedsTLS(t *testing.T) {
	t.Parallel()
	l, c := startPSRPLab(t, false, &echoHost{}, 0)
	r := c.do(wsmv.ActionCreate, "", pv23, psrpCreateBody("", nil))
	if r.status != http.StatusUnauthorized || strings.Contains(strings.Join(r.headers.Values("WWW-Authenticate"), ","), "Basic") {
		t.Fatalf("Basic over http to /PowerShell/: %d %q", r.status, r.headers.Values("WWW-Authenticate"))
	}
	// The WinRS endpoint keeps accepting it, as before.
	newRaw(t, l).create()

	_, tc := startPSRPLab(t, true, &echoHost{}, 0)
	tc.psrpCreate("", nil)
}

// tlsClient trusts the lab's self-signed certificate.
func tlsClient(t *testing.T, l *lab) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(l.caPEM()) {
		t.Fatal("no CA PEM")
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "ex01.contoso.test"}}, Timeout: 20 * time.Second}
}

type categorised struct{}

func (categorised) Error() string {
	return `The user "CONTOSO\x" isn't assigned to any management roles.`
}
func (categorised) FailureCategory() string { return "AuthZ-CmdletAccessDeniedException" }

// An idle session is reaped, its pool closed and its slot freed; the
// injected HTTP 500 and dropped connections reach /PowerShell/ as they
// reach /wsman.
func TestPSRPIdleExpiryAndInjectedFaults(t *testing.T) {
	t.Parallel()
	host := &echoHost{}
	l, c := startPSRPLab(t, true, host, 2)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	l.srv.mu.Lock()
	l.srv.now = func() time.Time { return time.Unix(0, now.Load()) }
	l.srv.mu.Unlock()
	first := c.psrpCreate("", nil)
	c.psrpCreate("", nil)
	if r := c.do(wsmv.ActionCreate, "", pv23, psrpCreateBody("", nil)); r.status != 500 || !strings.Contains(r.body, "MaxConcurrency") {
		t.Fatalf("third session: %d %s", r.status, r.body)
	}
	now.Add(int64(16 * time.Minute)) // past the default 15-minute IdleTimeout
	c.psrpCreate("", nil)            // the sweep reaped both; room again
	if !host.pools[0].isClosed() || !host.pools[1].isClosed() {
		t.Fatal("reaped sessions' pools are open")
	}
	if _, _, r := c.psrpReceive(first, "", ""); r.status != 500 || !strings.Contains(r.body, "the shell was not found") {
		t.Fatalf("reaped session answers: %d %s", r.status, r.body)
	}

	l.inj.Set(faults.Spec{HTTP500: 1})
	if r := c.do(wsmv.ActionCreate, "", pv23, psrpCreateBody("", nil)); r.status != 500 || !strings.Contains(r.body, "injected by the lab") {
		t.Fatalf("http500 on /PowerShell/: %d %s", r.status, r.body)
	}
	l.inj.Set(faults.Spec{Drop: 1})
	req, _ := http.NewRequest(http.MethodPost, l.url+"/PowerShell/", strings.NewReader("<x/>"))
	req.SetBasicAuth(testUser, testPassword)
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("drop on /PowerShell/: got %d", resp.StatusCode)
	}
	l.inj.Set(faults.Spec{})
}
