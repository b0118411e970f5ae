package wsman

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/wsmv"
	"github.com/google/uuid"
)

// PowerShell remoting (MS-PSRP) rides on WinRS shells whose resource URI
// names a session configuration: http://schemas.microsoft.com/powershell/
// + the configuration's name. The server does the WS-Management part here
// (shells, commands, streams, signals, long-polled Receive, envelope
// sizes) and hands the PSRP fragments to a PSRPHost, which owns the
// runspace pool and its pipelines.
const (
	resourcePowerShellPrefix = "http://schemas.microsoft.com/powershell/"
	// ConfigurationExchange is the session configuration Exchange serves
	// at /PowerShell/.
	ConfigurationExchange = "Microsoft.Exchange"
	// signalPSStop is PowerShell's stop signal, misspelt as the plug-in
	// compares it (MS-PSRP §3.1.5.3.6); pypsrp spells it ctrl_c, which
	// the lab accepts too.
	signalPSStop       = "powershell/signal/crtl_c"
	signalPSStopPypsrp = "powershell/signal/ctrl_c"
	nsPowerShell       = "http://schemas.microsoft.com/powershell"
)

// DefaultMaxConcurrency is Exchange's default PowerShellMaxConcurrency: the
// remote PowerShell sessions one user may hold open on a server.
const DefaultMaxConcurrency = 18

// PoolInfo describes the shell a runspace pool lives in.
type PoolInfo struct {
	// User is the authenticated account as DOMAIN\name.
	User string
	// ShellID is the shell's id (the client's runspace pool id when the
	// client chose it).
	ShellID string
	// ProtocolVersion is the client's protocolversion option ("2.3").
	ProtocolVersion string
}

// PSRPHost runs the runspace pools of a session configuration. The lab
// plugs in the Exchange endpoint.
type PSRPHost interface {
	// Open creates the pool of a new shell. creation is the decoded
	// creationXml (PSRP fragments; empty when the client sends
	// SESSION_CAPABILITY and INIT_RUNSPACEPOOL with Send instead). An
	// error refuses the shell: its text goes to the client in a WS-Man
	// fault, as WinRM reports a plug-in's failure.
	Open(ctx context.Context, info PoolInfo, creation []byte) (Pool, error)
}

// Pool is one runspace pool, as its host sees the WS-Management calls.
// Every byte slice is raw PSRP fragments. Methods are called concurrently.
type Pool interface {
	// Command starts the pipeline commandID with arguments, the first
	// fragment(s) of its CREATE_PIPELINE message.
	Command(commandID string, arguments []byte) error
	// Send delivers fragments that arrived on stream ("stdin" or "pr")
	// for the pipeline commandID, or for the pool when commandID is "".
	Send(commandID, stream string, fragments []byte) error
	// Receive waits until the pool (commandID "") or the pipeline has
	// output, and returns at most budget bytes of whole fragments (a
	// message larger than that is cut into fragments that fit; the rest
	// stays first in the queue). done reports that a pipeline's terminal
	// state has been taken and nothing is left. When ctx ends first it
	// returns no data and ctx's error.
	Receive(ctx context.Context, commandID string, budget int) (fragments []byte, done bool, err error)
	// Stop stops a running pipeline (the client's crtl_c signal).
	Stop(commandID string) error
	// Terminate releases a pipeline (the terminate signal).
	Terminate(commandID string) error
	// Close closes the pool (Delete, idle expiry, server shutdown or a
	// broken session), stopping every pipeline.
	Close()
}

// ErrCommandNotFound is what a Pool returns for a pipeline it does not
// know; the server answers WinRM's fault for an unknown CommandId.
var ErrCommandNotFound = errors.New("wsman: no such command in the shell")

// ErrPoolBroken is what a Pool returns when its session broke (the
// plug-in host went away); the server drops the shell.
var ErrPoolBroken = errors.New("wsman: the session is broken")

// PSRPOptions configure the /PowerShell/ endpoint.
type PSRPOptions struct {
	// Host runs the pools. Required for the endpoint to create shells.
	Host PSRPHost
	// Configuration is the session configuration served; empty means
	// Microsoft.Exchange.
	Configuration string
	// MaxConcurrency limits the sessions one user holds at once, as
	// Exchange's PowerShellMaxConcurrency does; 0 means 18.
	MaxConcurrency int
}

// endpoint says which of the server's two faces a request came to.
type endpoint int

const (
	endpointWSMan      endpoint = iota // /wsman: WinRS cmd shells
	endpointPowerShell                 // /PowerShell/: PSRP shells
)

// PowerShell returns the handler for /PowerShell/: PSRP shells of the
// configured session configuration over the same WS-Management machinery,
// with Basic authentication accepted only over TLS, as Exchange's IIS
// vdir and WinRM (AllowUnencrypted false) do.
func (s *Server) PowerShell() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handle(w, r, endpointPowerShell) })
}

func (s *Server) configuration() string {
	if s.o.PSRP.Configuration != "" {
		return s.o.PSRP.Configuration
	}
	return ConfigurationExchange
}

func (s *Server) maxConcurrency() int {
	if s.o.PSRP.MaxConcurrency > 0 {
		return s.o.PSRP.MaxConcurrency
	}
	return DefaultMaxConcurrency
}

// createPSRP creates a PSRP shell (MS-PSRP §3.2.5.3.1).
func (s *Server) createPSRP(r *http.Request, user string, req *request) (string, *fault) {
	name := req.ResourceURI[len(resourcePowerShellPrefix):]
	if !strings.EqualFold(name, s.configuration()) || s.o.PSRP.Host == nil {
		return "", faultNoConfiguration(name, s.o.Computer)
	}
	if req.Shell == nil {
		return "", faultSchema("Create carries no rsp:Shell")
	}
	pv, ok := req.Options["protocolversion"]
	if !ok {
		return "", faultProtocolVersion("the protocolversion option is missing")
	}
	if major, _, _ := strings.Cut(pv, "."); major != "2" {
		return "", faultProtocolVersion("protocolversion " + pv + " is not supported; the server speaks 2.x")
	}
	var creation []byte
	if c := strings.TrimSpace(req.Shell.CreationXML); c != "" {
		var err error
		if creation, err = base64.StdEncoding.DecodeString(c); err != nil {
			return "", faultSchema("creationXml is not base64")
		}
	}
	id := newID()
	if v := strings.TrimSpace(req.Shell.ShellID); v != "" {
		u, err := uuid.Parse(v)
		if err != nil {
			return "", faultSchema("ShellId " + v + " is not a GUID")
		}
		id = strings.ToUpper(u.String())
	}
	now := s.now()
	sh := &shell{id: id, user: user, lastUsed: now, ep: endpointPowerShell, resourceURI: req.ResourceURI, commands: map[string]*command{}}
	// Reserve the session slot before opening, so that concurrent
	// Creates cannot overshoot the limit.
	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		return "", faultInternal("The WS-Management service is shutting down.")
	}
	if s.shells[id] != nil {
		s.mu.Unlock()
		return "", faultAlreadyExists(id)
	}
	n := 0
	for _, o := range s.shells {
		if o.user == user && o.ep == endpointPowerShell {
			n++
		}
	}
	if limit := s.maxConcurrency(); n >= limit {
		s.mu.Unlock()
		return "", faultPlugin(concurrencyRefusal(user, limit, n, now))
	}
	sh.busy = 1 // opening: not reaped, not usable
	sh.opening = true
	s.shells[id] = sh
	s.mu.Unlock()

	pool, err := s.o.PSRP.Host.Open(s.ctx, PoolInfo{User: user, ShellID: id, ProtocolVersion: pv}, creation)
	s.mu.Lock()
	sh.busy--
	sh.opening = false
	if err != nil || sh.gone {
		delete(s.shells, id)
		s.mu.Unlock()
		if pool != nil {
			pool.Close()
		}
		if err == nil {
			return "", faultInternal("The WS-Management service is shutting down.")
		}
		return "", faultPlugin(pluginRefusal(err))
	}
	sh.pool = pool
	s.mu.Unlock()
	if s.o.Stats != nil {
		s.o.Stats.PSRPPools.Add(1)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	addr := scheme + "://" + r.Host + r.URL.Path
	uri := xmlText(req.ResourceURI)
	return `<x:ResourceCreated><a:Address>` + xmlText(addr) + `</a:Address><a:ReferenceParameters>` +
		`<w:ResourceURI>` + uri + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + id +
		`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
		`<rsp:Shell><rsp:ShellId>` + id + `</rsp:ShellId><rsp:ResourceUri>` + uri + `</rsp:ResourceUri>` +
		`<rsp:Owner>` + xmlText(user) + `</rsp:Owner><rsp:ClientIP>` + xmlText(clientIP(r)) + `</rsp:ClientIP>` +
		`<rsp:IdleTimeOut>` + isoDuration(s.o.IdleTimeout) + `</rsp:IdleTimeOut><rsp:InputStreams>stdin pr</rsp:InputStreams>` +
		`<rsp:OutputStreams>stdout</rsp:OutputStreams></rsp:Shell>`, nil
}

// poolFault turns a Pool's error into WinRM's answer; a broken pool takes
// its shell with it.
func (s *Server) poolFault(sh *shell, commandID string, err error) *fault {
	switch {
	case errors.Is(err, ErrCommandNotFound):
		return faultCommandNotFound(commandID)
	case errors.Is(err, ErrPoolBroken):
		s.dropShell(sh)
		return faultAborted()
	default:
		return faultPlugin(err.Error())
	}
}

// dropShell forgets sh and releases what it held.
func (s *Server) dropShell(sh *shell) {
	s.mu.Lock()
	if s.shells[sh.id] == sh {
		delete(s.shells, sh.id)
	}
	cleanup := sh.forgetLocked()
	s.mu.Unlock()
	cleanup()
}

func (s *Server) commandPSRP(sh *shell, req *request) (string, *fault) {
	args := make([]byte, 0, 1024)
	for _, a := range req.CommandLine.Arguments {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a))
		if err != nil {
			return "", faultSchema("rsp:Arguments is not base64")
		}
		args = append(args, b...)
	}
	id := newID()
	if v := strings.TrimSpace(req.CommandLine.CommandID); v != "" {
		u, err := uuid.Parse(v)
		if err != nil {
			return "", faultSchema("CommandId " + v + " is not a GUID")
		}
		id = strings.ToUpper(u.String())
	}
	if err := sh.pool.Command(id, args); err != nil {
		return "", s.poolFault(sh, id, err)
	}
	return `<rsp:CommandResponse><rsp:CommandId>` + id + `</rsp:CommandId></rsp:CommandResponse>`, nil
}

func (s *Server) sendPSRP(sh *shell, req *request) (string, *fault) {
	for _, st := range req.Send.Streams {
		if st.Name != "stdin" && st.Name != "pr" {
			return "", faultSchema("Send names the stream " + st.Name + "; the shell's input streams are stdin and pr")
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
		if err != nil {
			return "", faultSchema("the " + st.Name + " stream is not base64")
		}
		id := canonicalID(st.CommandID)
		if err := sh.pool.Send(id, st.Name, data); err != nil {
			return "", s.poolFault(sh, id, err)
		}
	}
	return `<rsp:SendResponse/>`, nil
}

func (s *Server) signalPSRP(sh *shell, req *request) (string, *fault) {
	id := canonicalID(req.Signal.CommandID)
	var err error
	switch code := strings.TrimSpace(req.Signal.Code); code {
	case signalPSStop, signalPSStopPypsrp:
		err = sh.pool.Stop(id)
	case signalTerminate:
		err = sh.pool.Terminate(id)
	default:
		return "", faultSchema("unknown signal code " + code)
	}
	if err != nil {
		return "", s.poolFault(sh, id, err)
	}
	return `<rsp:SignalResponse/>`, nil
}

// receivePSRP long-polls the pool's or a pipeline's output queue.
func (s *Server) receivePSRP(ctx context.Context, sh *shell, req *request, maxEnv int, timeout time.Duration) (string, *fault, bool) {
	id := canonicalID(req.Receive.DesiredStream.CommandID)
	if id != "" && s.o.Faults.BreakSession() {
		// The plug-in host dies mid-run: WinRM aborts the operation in
		// flight and forgets the shell, so the next request on it gets
		// ShellNotFound.
		sh.pool.Close()
		s.dropShell(sh)
		return "", faultAborted(), false
	}
	overhead := len(envelope(wsmv.NSShell+"/ReceiveResponse", req.MessageID, newMessageID(), renderPSRPReceive(id, nil, id != "", true)))
	budget := (maxEnv - overhead - envelopeSafetyMargin - 4) / 4 * 3
	if budget < 64 {
		return "", faultEncodingLimit(maxEnv), false
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	data, done, err := sh.pool.Receive(rctx, id, budget)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return "", nil, true
		case rctx.Err() != nil:
			return "", faultTimedOut(), false
		default:
			return "", s.poolFault(sh, id, err), false
		}
	}
	return renderPSRPReceive(id, data, id != "", done), nil, false
}

// renderPSRPReceive renders a ReceiveResponse for PSRP output. A pool's
// Receive (no CommandId) carries no CommandState; a pipeline's says
// Running or Done.
func renderPSRPReceive(commandID string, data []byte, pipeline, done bool) string {
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse><rsp:Stream Name="stdout"`)
	if pipeline {
		b.WriteString(` CommandId="` + xmlText(commandID) + `"`)
		if done {
			b.WriteString(` End="true"`)
		}
	}
	b.WriteString(`>` + base64.StdEncoding.EncodeToString(data) + `</rsp:Stream>`)
	if pipeline {
		state := stateRunning
		if done {
			state = wsmv.CommandStateDone
		}
		b.WriteString(`<rsp:CommandState CommandId="` + xmlText(commandID) + `" State="` + state + `"/>`)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}

// canonicalID upper-cases a GUID the client sent, as the server reports
// them; anything else stays as sent (and matches nothing).
func canonicalID(v string) string {
	v = strings.TrimSpace(v)
	if u, err := uuid.Parse(v); err == nil {
		return strings.ToUpper(u.String())
	}
	return v
}

// concurrencyRefusal is Exchange's refusal of a session over
// PowerShellMaxConcurrency (Microsoft Learn: Set-ThrottlingPolicy; the
// text as Exchange writes it, Microsoft365DSC/Microsoft365DSC#359):
// the reason, the policy and a budget snapshot, and the failure category.
func concurrencyRefusal(user string, limit, active int, now time.Time) string {
	return fmt.Sprintf("[AuthZRequestId=%s][FailureCategory=AuthZ-AuthorizationException] "+
		"Fail to create a runspace because you have exceeded the maximum number of connections allowed : %d for the policy party : MaxConcurrency. "+
		"Please close existing runspace and try again.\r\n"+
		"Policy: CN=GlobalThrottlingPolicy_%s,CN=Global Settings,CN=Exchange,CN=Microsoft Exchange,CN=Services,CN=Configuration; \r\n"+
		"Snapshot: Owner:\t%s~WSMan~false\r\n"+
		"BudgetType:\tWSMan\r\n"+
		"ActiveRunspaces:\t%d/%d\r\n"+
		"Balance:\t600000/1800000/-3000000\r\n"+
		"PowerShellCmdletsLeft:\t9223372036854775807/Unlimited\r\n"+
		"ExchangeCmdletsLeft:\t9223372036854775807/Unlimited\r\n"+
		"CmdletTimePeriod:\tUnlimited\r\n"+
		"DestructiveCmdletsLeft:\t9223372036854775807/Unlimited\r\n"+
		"DestructiveCmdletTimePeriod:\tUnlimited\r\n"+
		"QueueDepth:\tUnlimited\r\n"+
		"MaxRunspacesTimePeriod:\tUnlimited\r\n"+
		"RunSpacesRemaining:\tUnlimited\r\n"+
		"LastTimeFrameUpdate:\t%s\r\n"+
		"Locked:\tFalse\r\n"+
		"LockRemaining:\t00:00:00",
		strings.ToLower(uuid.NewString()), limit, throttlingPolicyID, user, active, limit,
		now.UTC().Format("1/2/2006 3:04:05 PM"))
}

// throttlingPolicyID names the lab's GlobalThrottlingPolicy.
const throttlingPolicyID = "8d2b5b3c-6f1e-4a3b-9c55-1e0f2a7b4c10"

// pluginRefusal words a host's refusal as Exchange's plug-in does: an
// error that names its failure category (Exchange's AuthZ categories)
// carries it in front, as in "[FailureCategory=AuthZ-…] text".
func pluginRefusal(err error) string {
	var c interface{ FailureCategory() string }
	if errors.As(err, &c) && c.FailureCategory() != "" {
		return "[FailureCategory=" + c.FailureCategory() + "] " + err.Error()
	}
	return err.Error()
}

// faultNoConfiguration is WinRM's answer for a resource URI naming a
// session configuration that is not registered.
func faultNoConfiguration(name, computer string) *fault {
	return &fault{code: "s:Sender", subcode: "w:InvalidResourceURI", wsman: 2150858811,
		text: "The WS-Management service cannot process the request. Cannot find the " + name +
			" session configuration in the WSMan: drive on the " + computer + " computer."}
}

// faultProtocolVersion refuses a PSRP Create without a usable
// protocolversion option (MS-PSRP §3.2.5.3.1).
func faultProtocolVersion(detail string) *fault {
	return &fault{code: "s:Sender", subcode: "w:InvalidOptions", wsman: 2150858829,
		text: "The WS-Management service cannot process the request because the PowerShell plug-in refused the shell: " + detail + "."}
}

func faultAlreadyExists(id string) *fault {
	return &fault{code: "s:Sender", subcode: "w:AlreadyExists", wsman: 2150858809,
		text: "The WS-Management service cannot create the resource because it already exists: a shell with ShellId " + id + " is open."}
}

// faultPlugin carries a plug-in's failure text as WinRM reports it: an
// internal error whose message is the plug-in's own.
func faultPlugin(text string) *fault {
	return &fault{code: "s:Receiver", subcode: "w:InternalError", wsman: 2150858819, text: text}
}

// faultAborted is what a request gets when the plug-in host went away
// under it (ERROR_OPERATION_ABORTED, 995).
func faultAborted() *fault {
	return &fault{code: "s:Receiver", subcode: "w:InternalError", wsman: 995,
		text: "The I/O operation has been aborted because of either a thread exit or an application request."}
}
