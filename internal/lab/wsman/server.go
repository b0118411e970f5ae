package wsman

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
	"github.com/exrunbook/exrunbook/internal/wsmv"
	"github.com/google/uuid"
)

const (
	soapContentType        = "application/soap+xml;charset=UTF-8"
	defaultEnvelopeSize    = 153600
	minEnvelopeSize        = 8192
	maxRequestBody         = 32 << 20
	minOperationTimeout    = 100 * time.Millisecond
	defaultShellsPerUser   = 30
	defaultIdleTimeout     = 15 * time.Minute
	defaultOperationLimit  = 60 * time.Second
	connStateIdleTimeout   = 10 * time.Minute
	envelopeSafetyMargin   = 64
	maxExitCodeRenderWidth = len("-2147483648")
)

// Server is the WS-Management endpoint; it is an http.Handler for /wsman.
type Server struct {
	o         Options
	dnsDomain string
	users     map[string][]account // lower-case name → accounts
	acceptor  *ntlm.Acceptor
	now       func() time.Time

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	shells    map[string]*shell
	conns     map[string]*connState // connections seen without ConnContext
	lastSweep time.Time
}

// NewServer returns a server for o. Options.Executor is required.
func NewServer(o Options) *Server {
	if o.MaxEnvelopeSize <= 0 {
		o.MaxEnvelopeSize = defaultEnvelopeSize
	}
	if o.MaxShellsPerUser <= 0 {
		o.MaxShellsPerUser = defaultShellsPerUser
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.MaxOperationTimeout <= 0 {
		o.MaxOperationTimeout = defaultOperationLimit
	}
	if o.Computer == "" {
		o.Computer = "EX01"
	}
	s := &Server{
		o:         o,
		dnsDomain: o.DNSDomain,
		users:     map[string][]account{},
		now:       time.Now,
		shells:    map[string]*shell{},
		conns:     map[string]*connState{},
	}
	if s.dnsDomain == "" {
		s.dnsDomain = strings.ToLower(o.Domain)
	}
	keys := make([]string, 0, len(o.Users))
	for k := range o.Users {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := account{domain: o.Domain, name: k, password: o.Users[k]}
		if i := strings.IndexByte(k, '\\'); i >= 0 {
			a.domain, a.name = k[:i], k[i+1:]
		} else if i := strings.LastIndexByte(k, '@'); i >= 0 {
			a.name = k[:i]
			if d := k[i+1:]; !strings.EqualFold(d, s.dnsDomain) {
				a.domain = d
			}
		}
		lk := strings.ToLower(a.name)
		s.users[lk] = append(s.users[lk], a)
	}
	s.acceptor = &ntlm.Acceptor{
		NetBIOSDomain:   o.Domain,
		NetBIOSComputer: o.Computer,
		DNSDomain:       s.dnsDomain,
		DNSComputer:     strings.ToLower(o.Computer) + "." + s.dnsDomain,
		Password:        s.ntlmPassword,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close terminates every running command and forgets every shell.
func (s *Server) Close() {
	s.cancel()
	s.mu.Lock()
	var cleanups []func()
	for _, sh := range s.shells {
		cleanups = append(cleanups, sh.forgetLocked())
	}
	s.shells = map[string]*shell{}
	s.mu.Unlock()
	for _, c := range cleanups {
		c()
	}
}

// ServeHTTP handles one WS-Management request to /wsman.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handle(w, r, endpointWSMan)
}

// handle serves one request to either endpoint.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, ep endpoint) {
	if s.o.Stats != nil {
		s.o.Stats.WinRMRequests.Add(1)
	}
	if d := s.o.Faults.Latency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.Header().Set("Content-Type", soapContentType)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return // the client went away mid-request
	}
	if s.o.Faults.Drop() {
		drop(w)
		return
	}
	cs := s.conn(r)
	// Basic is refused over plain HTTP on /PowerShell/ (WinRM with
	// AllowUnencrypted false; Exchange's vdir requires SSL for it).
	basic := s.o.AllowBasic && (ep == endpointWSMan || r.TLS != nil)
	user, ok := s.authenticate(w, r, cs, len(bytesTrimSpace(body)) == 0, basic)
	if !ok {
		return
	}
	s.sweep()
	if len(body) > maxRequestBody {
		s.respond(w, nil, http.StatusRequestEntityTooLarge, faultSchema("the request is larger than the server accepts").render("", newMessageID(), s.o.Computer))
		return
	}
	var session bodySeal
	if ct := r.Header.Get("Content-Type"); kerberos.IsEncrypted(ct) {
		cs.mu.Lock()
		switch {
		case cs.krb != nil:
			session = &krbSeal{ctx: cs.krb}
		case cs.session != nil:
			session = ntlmSeal{cs.session}
		}
		cs.mu.Unlock()
		if session == nil {
			s.respond(w, nil, http.StatusBadRequest, faultSchema("an encrypted message arrived on a connection without session security (NTLM or Kerberos)").render("", newMessageID(), s.o.Computer))
			return
		}
		if s.o.Stats != nil {
			s.o.Stats.EncryptedBodies.Add(1)
		}
		body, err = session.open(ct, body)
		if err != nil {
			// A message that does not decrypt breaks the session: the
			// RC4 streams or sequence numbers are out of step. Windows
			// answers 400.
			cs.mu.Lock()
			cs.user, cs.session, cs.krb = "", nil, nil
			cs.mu.Unlock()
			w.Header().Set("Content-Type", soapContentType)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	}
	if len(bytesTrimSpace(body)) == 0 {
		// pywinrm's blank POST that sets up the security context.
		s.respond(w, session, http.StatusOK, nil)
		return
	}
	if session == nil && s.o.Stats != nil {
		s.o.Stats.PlainBodies.Add(1)
	}
	req, err := parseRequest(body)
	if err != nil {
		s.respond(w, session, http.StatusInternalServerError, faultSchema(err.Error()).render(bestMessageID(body), newMessageID(), s.o.Computer))
		return
	}
	if s.o.Faults.HTTP500() {
		s.respond(w, session, http.StatusInternalServerError,
			faultInternal("The WS-Management service cannot process the request because of an internal error (injected by the lab).").render(req.MessageID, newMessageID(), s.o.Computer))
		return
	}
	status, resp := s.dispatch(r, ep, user, req)
	if status == 0 {
		return // the client went away
	}
	s.respond(w, session, status, resp)
}

// respond writes a SOAP answer, encrypted when the request was.
func (s *Server) respond(w http.ResponseWriter, session bodySeal, status int, body []byte) {
	if session != nil && len(body) > 0 {
		ct, enc, err := session.seal(body)
		if err != nil {
			w.Header().Set("Content-Type", soapContentType)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ct)
		body = enc
	} else {
		w.Header().Set("Content-Type", soapContentType)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// drop closes the connection without an answer.
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func newMessageID() string { return "uuid:" + strings.ToUpper(uuid.NewString()) }

func newID() string { return strings.ToUpper(uuid.NewString()) }

func bytesTrimSpace(b []byte) []byte {
	return []byte(strings.TrimSpace(string(b)))
}

// bestMessageID digs the MessageID out of a request that did not parse,
// so that even a schema fault relates to it.
func bestMessageID(b []byte) string {
	s := string(b)
	i := strings.Index(s, "MessageID")
	if i < 0 {
		return ""
	}
	s = s[i:]
	j := strings.IndexByte(s, '>')
	if j < 0 || strings.Contains(s[:j], "<") {
		return ""
	}
	s = s[j+1:]
	k := strings.IndexByte(s, '<')
	if k < 0 || k > 200 {
		return ""
	}
	return xmlUnescape(strings.TrimSpace(s[:k]))
}

// xmlUnescape decodes character data taken out of a document by hand.
func xmlUnescape(s string) string {
	var v string
	if err := xml.Unmarshal([]byte("<v>"+s+"</v>"), &v); err != nil {
		return ""
	}
	return v
}

// sweep reaps idle shells and forgotten connections, at most once a
// minute.
func (s *Server) sweep() {
	now := s.now()
	var reaped []func()
	s.mu.Lock()
	if now.Sub(s.lastSweep) < time.Minute {
		s.mu.Unlock()
		return
	}
	s.lastSweep = now
	for id, sh := range s.shells {
		if sh.busy == 0 && now.Sub(sh.lastUsed) > s.o.IdleTimeout {
			delete(s.shells, id)
			reaped = append(reaped, sh.forgetLocked())
		}
	}
	for k, cs := range s.conns {
		if now.Sub(cs.lastUsed) > connStateIdleTimeout {
			delete(s.conns, k)
		}
	}
	s.mu.Unlock()
	for _, c := range reaped {
		c()
	}
}

// dispatch runs one parsed request. Status 0 means the client went away.
func (s *Server) dispatch(r *http.Request, ep endpoint, user string, req *request) (int, []byte) {
	var (
		action string
		body   string
		f      *fault
	)
	switch req.Action {
	case wsmv.ActionCreate:
		action = wsmv.NSTransfer + "/CreateResponse"
		body, f = s.create(r, ep, user, req)
	case wsmv.ActionDelete:
		action = wsmv.NSTransfer + "/DeleteResponse"
		f = s.delete(ep, user, req)
	case wsmv.ActionCommand:
		action = wsmv.NSShell + "/CommandResponse"
		body, f = s.command(ep, user, req)
	case wsmv.ActionSend:
		action = wsmv.NSShell + "/SendResponse"
		body, f = s.send(ep, user, req)
	case wsmv.ActionSignal:
		action = wsmv.NSShell + "/SignalResponse"
		body, f = s.signal(ep, user, req)
	case wsmv.ActionReceive:
		action = wsmv.NSShell + "/ReceiveResponse"
		var gone bool
		body, f, gone = s.receive(r.Context(), ep, user, req)
		if gone {
			return 0, nil
		}
	default:
		f = faultActionNotSupported(req.Action)
	}
	if f != nil {
		st := f.status
		if st == 0 {
			st = http.StatusInternalServerError
		}
		return st, f.render(req.MessageID, newMessageID(), s.o.Computer)
	}
	return http.StatusOK, envelope(action, req.MessageID, newMessageID(), body)
}

// acquire finds the request's shell for user and marks it busy; release
// must follow.
func (s *Server) acquire(ep endpoint, user string, req *request) (*shell, *fault) {
	id := req.Selectors["ShellId"]
	if ep == endpointPowerShell {
		id = canonicalID(id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shells[id]
	if sh == nil || sh.ep != ep || sh.opening {
		return nil, faultShellNotFound(id)
	}
	if sh.user != user {
		return nil, faultAccessDenied()
	}
	sh.busy++
	sh.lastUsed = s.now()
	return sh, nil
}

func (s *Server) release(sh *shell) {
	s.mu.Lock()
	sh.busy--
	sh.lastUsed = s.now()
	s.mu.Unlock()
}

func (s *Server) create(r *http.Request, ep endpoint, user string, req *request) (string, *fault) {
	if ep == endpointPowerShell {
		if len(req.ResourceURI) > len(resourcePowerShellPrefix) && strings.EqualFold(req.ResourceURI[:len(resourcePowerShellPrefix)], resourcePowerShellPrefix) {
			return s.createPSRP(r, user, req)
		}
		return "", faultResourceURI(req.ResourceURI)
	}
	if req.ResourceURI != resourceCmd {
		return "", faultResourceURI(req.ResourceURI)
	}
	if req.Shell == nil {
		return "", faultSchema("Create carries no rsp:Shell")
	}
	now := s.now()
	sh := &shell{id: newID(), user: user, lastUsed: now, commands: map[string]*command{}}
	if v, ok := req.Options["WINRS_CODEPAGE"]; ok {
		cp, err := strconv.Atoi(v)
		if err != nil || cp <= 0 || cp > 65535 {
			return "", faultSchema("WINRS_CODEPAGE " + v + " is not a code page")
		}
		sh.codePage = cp
	}
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return "", faultInternal("The WS-Management service is shutting down.")
	}
	n := 0
	for _, o := range s.shells {
		if o.user == user && o.ep == endpointWSMan {
			n++
		}
	}
	if n >= s.o.MaxShellsPerUser {
		s.mu.Unlock()
		return "", faultQuota(s.o.MaxShellsPerUser)
	}
	s.shells[sh.id] = sh
	s.mu.Unlock()
	if s.o.Stats != nil {
		s.o.Stats.Shells.Add(1)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	addr := scheme + "://" + r.Host + r.URL.Path
	in, out := "stdin", "stdout stderr"
	if v := strings.TrimSpace(req.Shell.InputStreams); v != "" {
		in = v
	}
	if v := strings.TrimSpace(req.Shell.OutputStreams); v != "" {
		out = v
	}
	return `<x:ResourceCreated><a:Address>` + xmlText(addr) + `</a:Address><a:ReferenceParameters>` +
		`<w:ResourceURI>` + resourceCmd + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + sh.id +
		`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
		`<rsp:Shell><rsp:ShellId>` + sh.id + `</rsp:ShellId><rsp:ResourceUri>` + resourceCmd + `</rsp:ResourceUri>` +
		`<rsp:Owner>` + xmlText(user) + `</rsp:Owner><rsp:ClientIP>` + xmlText(clientIP(r)) + `</rsp:ClientIP>` +
		`<rsp:IdleTimeOut>` + isoDuration(s.o.IdleTimeout) + `</rsp:IdleTimeOut><rsp:InputStreams>` + xmlText(in) +
		`</rsp:InputStreams><rsp:OutputStreams>` + xmlText(out) + `</rsp:OutputStreams></rsp:Shell>`, nil
}

func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// isoDuration renders d as Windows does in rsp:IdleTimeOut (PT900.000S).
func isoDuration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "S"
}

func (s *Server) delete(ep endpoint, user string, req *request) *fault {
	sh, f := s.acquire(ep, user, req)
	if f != nil {
		return f
	}
	s.mu.Lock()
	sh.busy--
	delete(s.shells, sh.id)
	cleanup := sh.forgetLocked()
	s.mu.Unlock()
	cleanup()
	return nil
}

func (s *Server) command(ep endpoint, user string, req *request) (string, *fault) {
	if req.CommandLine == nil {
		return "", faultSchema("Command carries no rsp:CommandLine")
	}
	sh, f := s.acquire(ep, user, req)
	if f != nil {
		return "", f
	}
	defer s.release(sh)
	if ep == endpointPowerShell {
		return s.commandPSRP(sh, req)
	}
	c := newCommand(s.ctx, newID())
	args := append(make([]string, 0, len(req.CommandLine.Arguments)), req.CommandLine.Arguments...)
	cmd := Command{User: user, Command: strings.TrimSpace(req.CommandLine.Command), Arguments: args, ShellID: sh.id, CommandID: c.id, CodePage: sh.codePage}
	s.mu.Lock()
	if sh.gone {
		s.mu.Unlock()
		c.cancel()
		return "", faultShellNotFound(sh.id)
	}
	sh.commands[c.id] = c
	s.mu.Unlock()
	exec := s.o.Executor
	if n := utf16Len(cmd.Line()); !strings.EqualFold(req.Options["WINRS_SKIP_CMD_SHELL"], "TRUE") && n > maxCmdLine {
		exec = cmdLineTooLong{}
	}
	go c.run(exec, cmd)
	return `<rsp:CommandResponse><rsp:CommandId>` + c.id + `</rsp:CommandId></rsp:CommandResponse>`, nil
}

// findCommand looks a command of sh up.
func (s *Server) findCommand(sh *shell, id string) *command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sh.commands[id]
}

func (s *Server) send(ep endpoint, user string, req *request) (string, *fault) {
	if req.Send == nil {
		return "", faultSchema("Send carries no rsp:Send")
	}
	sh, f := s.acquire(ep, user, req)
	if f != nil {
		return "", f
	}
	defer s.release(sh)
	if ep == endpointPowerShell {
		return s.sendPSRP(sh, req)
	}
	for _, st := range req.Send.Streams {
		if st.Name != "stdin" {
			return "", faultSchema("Send names the stream " + st.Name + "; the shell's input stream is stdin")
		}
		c := s.findCommand(sh, st.CommandID)
		if c == nil {
			return "", faultCommandNotFound(st.CommandID)
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
		if err != nil {
			return "", faultSchema("the stdin stream is not base64")
		}
		if err := c.stdin.write(data, st.End == "true" || st.End == "1"); err != nil {
			return "", faultInternal("The command's input stream is closed or full: " + err.Error())
		}
	}
	return `<rsp:SendResponse/>`, nil
}

func (s *Server) signal(ep endpoint, user string, req *request) (string, *fault) {
	if req.Signal == nil {
		return "", faultSchema("Signal carries no rsp:Signal")
	}
	sh, f := s.acquire(ep, user, req)
	if f != nil {
		return "", f
	}
	defer s.release(sh)
	if ep == endpointPowerShell {
		return s.signalPSRP(sh, req)
	}
	c := s.findCommand(sh, req.Signal.CommandID)
	if c == nil {
		return "", faultCommandNotFound(req.Signal.CommandID)
	}
	switch strings.TrimSpace(req.Signal.Code) {
	case signalTerminate:
		s.mu.Lock()
		delete(sh.commands, c.id)
		s.mu.Unlock()
		c.terminate()
	case signalCtrlC, signalCtrlBreak:
		c.cancel()
	default:
		return "", faultSchema("unknown signal code " + req.Signal.Code)
	}
	return `<rsp:SignalResponse/>`, nil
}

// receive long-polls a command's output. gone is true when the client
// went away before an answer.
func (s *Server) receive(ctx context.Context, ep endpoint, user string, req *request) (body string, f *fault, gone bool) {
	if req.Receive == nil {
		return "", faultSchema("Receive carries no rsp:Receive"), false
	}
	maxEnv := s.o.MaxEnvelopeSize
	if req.MaxEnvelopeSize > 0 {
		maxEnv = req.MaxEnvelopeSize
	}
	if maxEnv < minEnvelopeSize {
		return "", faultEncodingLimit(maxEnv), false
	}
	timeout := req.OperationTimeout
	if timeout <= 0 || timeout > s.o.MaxOperationTimeout {
		timeout = s.o.MaxOperationTimeout
	}
	// Answer a little before the client's deadline: clients commonly set
	// their HTTP timeout equal to the OperationTimeout (masterzen: PT60S
	// and 60 s), and a fault that arrives after it is lost.
	timeout -= min(timeout/10, 5*time.Second)
	timeout = max(timeout, minOperationTimeout)
	sh, f := s.acquire(ep, user, req)
	if f != nil {
		return "", f, false
	}
	defer s.release(sh)
	if ep == endpointPowerShell {
		return s.receivePSRP(ctx, sh, req, maxEnv, timeout)
	}
	id := req.Receive.DesiredStream.CommandID
	c := s.findCommand(sh, id)
	if c == nil {
		return "", faultCommandNotFound(id), false
	}
	var want [2]bool
	for _, name := range strings.Fields(req.Receive.DesiredStream.Streams) {
		for i, n := range streamNames {
			if strings.EqualFold(name, n) {
				want[i] = true
			}
		}
	}
	if !want[0] && !want[1] {
		want = [2]bool{true, true}
	}
	// The largest envelope this Receive could produce without output:
	// both streams present with End, Done with the widest exit code.
	full := chunk{present: [2]bool{true, true}, end: [2]bool{true, true}, done: true, exitCode: -2147483648}
	overhead := len(envelope(wsmv.NSShell+"/ReceiveResponse", req.MessageID, newMessageID(), renderReceive(c.id, full)))
	b64 := maxEnv - overhead - envelopeSafetyMargin - 8 // 8: padding of two base64 runs
	budget := b64 / 4 * 3
	if budget < 3 {
		return "", faultEncodingLimit(maxEnv), false
	}
	ch, timedOut, err := c.receive(ctx, timeout, budget, want)
	if err != nil {
		return "", nil, true
	}
	if timedOut {
		return "", faultTimedOut(), false
	}
	return renderReceive(c.id, ch), nil, false
}

// maxCmdLine is cmd.exe's limit on a command line, in UTF-16 code units:
// WinRS runs a command through cmd.exe unless the client sets
// WINRS_SKIP_CMD_SHELL (masterzen and pywinrm do not).
const maxCmdLine = 8191

// cmdLineTooLong is what cmd.exe does with a longer line: it says so on
// stderr and exits 1, running nothing.
type cmdLineTooLong struct{}

func (cmdLineTooLong) Execute(_ context.Context, _ Command, _ io.Reader, _, stderr io.Writer) int {
	_, _ = io.WriteString(stderr, "The command line is too long.\r\n")
	return 1
}

// utf16Len counts s in UTF-16 code units, as Windows measures lengths.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}
