package wsman

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// fakeServer is a WS-Management PSRP endpoint for the client's tests. It
// checks the shape of every request, authenticates Basic or NTLM (with
// the lab's acceptor, per TCP connection, sealing over http as Windows
// does) and plays a tiny shell: the pool's Receive echoes creationXml
// once, a pipeline's Receive answers its Arguments followed by every
// fragment sent to it, then Done.
type fakeServer struct {
	t        *testing.T
	user     string
	password string
	ntlm     bool
	acceptor *ntlm.Acceptor

	mu sync.Mutex
	// script: per operation, what to do on the next calls ("500",
	// "drop", "401", "throttle", "timedout", "ok"), consumed in order.
	script map[string][]string
	// calls counts requests per operation.
	calls    map[string]int
	shellID  string
	creation []byte
	poolSent bool
	pipes    map[string]*fakePipe
	signals  []string
	deleted  bool
	// maxEnvelope is the last MaxEnvelopeSize header seen.
	maxEnvelope int
	// handshakes counts completed NTLM handshakes.
	handshakes int
	// bindings is the MsvAvChannelBindings value of the last NTLM
	// AUTHENTICATE (nil when it carried none).
	bindings []byte
}

type fakePipe struct {
	out  []byte
	done bool
}

type connState struct {
	mu        sync.Mutex
	handshake *ntlm.Handshake
	session   *ntlm.Session
	authed    bool
}

type ctxKey struct{}

func newFakeServer(t *testing.T, useNTLM bool) *fakeServer {
	f := &fakeServer{t: t, user: `CONTOSO\admin`, password: "Secr3t!pw", ntlm: useNTLM,
		script: map[string][]string{}, calls: map[string]int{}, pipes: map[string]*fakePipe{}}
	f.acceptor = &ntlm.Acceptor{NetBIOSDomain: "CONTOSO", NetBIOSComputer: "EX01", DNSDomain: "contoso.test", DNSComputer: "ex01.contoso.test",
		Password: func(user, domain string) (string, bool) {
			if strings.EqualFold(user, "admin") && (domain == "" || strings.EqualFold(domain, "CONTOSO")) {
				return f.password, true
			}
			return "", false
		}}
	return f
}

// start serves f over http (tls false) or https; for https it returns the
// path of a CA file that trusts the server.
func (f *fakeServer) start(tlsOn bool) (url, caFile string) {
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, ctxKey{}, &connState{})
	}
	if tlsOn {
		srv.StartTLS()
		caFile = filepath.Join(f.t.TempDir(), "ca.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
			f.t.Fatal(err)
		}
	} else {
		srv.Start()
	}
	f.t.Cleanup(srv.Close)
	return srv.URL + "/PowerShell/", caFile
}

func (f *fakeServer) plan(op string, steps ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[op] = append(f.script[op], steps...)
}

func (f *fakeServer) next(op string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if s := f.script[op]; len(s) > 0 {
		f.script[op] = s[1:]
		return s[0]
	}
	return "ok"
}

func (f *fakeServer) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// request is what the fake reads of a request envelope.
type request struct {
	Header struct {
		Action          string `xml:"Action"`
		MessageID       string `xml:"MessageID"`
		ResourceURI     string `xml:"ResourceURI"`
		MaxEnvelopeSize int    `xml:"MaxEnvelopeSize"`
		Timeout         string `xml:"OperationTimeout"`
		Selectors       []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:",chardata"`
		} `xml:"SelectorSet>Selector"`
		Options []struct {
			Name       string `xml:"Name,attr"`
			MustComply string `xml:"MustComply,attr"`
			Value      string `xml:",chardata"`
		} `xml:"OptionSet>Option"`
	} `xml:"Header"`
	Body struct {
		Shell *struct {
			ShellID  string `xml:"ShellId,attr"`
			In       string `xml:"InputStreams"`
			Out      string `xml:"OutputStreams"`
			Creation struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:"http://schemas.microsoft.com/powershell creationXml"`
		} `xml:"Shell"`
		CommandLine *struct {
			CommandID string  `xml:"CommandId,attr"`
			Command   *string `xml:"Command"`
			Arguments string  `xml:"Arguments"`
		} `xml:"CommandLine"`
		Send *struct {
			Streams []struct {
				Name      string `xml:"Name,attr"`
				CommandID string `xml:"CommandId,attr"`
				Value     string `xml:",chardata"`
			} `xml:"Stream"`
		} `xml:"Send"`
		Receive *struct {
			Desired struct {
				CommandID string `xml:"CommandId,attr"`
				Value     string `xml:",chardata"`
			} `xml:"DesiredStream"`
		} `xml:"Receive"`
		Signal *struct {
			CommandID string `xml:"CommandId,attr"`
			Code      string `xml:"Code"`
		} `xml:"Signal"`
	} `xml:"Body"`
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cs := r.Context().Value(ctxKey{}).(*connState)
	body, _ := io.ReadAll(r.Body)
	if !f.auth(w, r, cs) {
		return
	}
	var session *ntlm.Session
	if f.ntlm && r.TLS == nil {
		cs.mu.Lock()
		session = cs.session
		cs.mu.Unlock()
	}
	if len(body) == 0 {
		if session != nil {
			f.mu.Lock()
			f.handshakes++
			f.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if session != nil {
		if !strings.HasPrefix(r.Header.Get("Content-Type"), `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted"`) {
			f.t.Errorf("unsealed request over http: %q", r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var err error
		body, err = unsealRequest(session, body)
		if err != nil {
			f.t.Errorf("unsealing: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
	} else if r.Header.Get("Content-Type") != soapContentType {
		f.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	status, answer := f.dispatch(w, body)
	if status == 0 {
		return
	}
	if session != nil {
		sealed, sig := session.Seal(answer)
		var b bytes.Buffer
		// Exchange's boundary, with a space after "--" (pypsrp encryption.py
		// unwrap_message: "some MS implementations do this").
		b.WriteString("-- Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + strconv.Itoa(len(answer)) + "\r\n-- Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n")
		binary.Write(&b, binary.LittleEndian, uint32(len(sig)))
		b.Write(sig)
		b.Write(sealed)
		b.WriteString("-- Encrypted Boundary--\r\n")
		w.Header().Set("Content-Type", `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`)
		w.WriteHeader(status)
		w.Write(b.Bytes())
		return
	}
	w.Header().Set("Content-Type", soapContentType)
	w.WriteHeader(status)
	w.Write(answer)
}

// unsealRequest reads the client's body independently of the client's
// parser: the framing as pypsrp writes it.
func unsealRequest(s *ntlm.Session, body []byte) ([]byte, error) {
	const head = "--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length="
	rest, ok := bytes.CutPrefix(body, []byte(head))
	if !ok {
		return nil, fmt.Errorf("bad first part: %q", body[:min(len(body), 200)])
	}
	num, rest, ok := bytes.Cut(rest, []byte("\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n"))
	if !ok {
		return nil, fmt.Errorf("bad second part")
	}
	n, err := strconv.Atoi(string(num))
	if err != nil || len(rest) < 20+n {
		return nil, fmt.Errorf("bad length %q", num)
	}
	if binary.LittleEndian.Uint32(rest) != 16 {
		return nil, fmt.Errorf("signature length %d", binary.LittleEndian.Uint32(rest))
	}
	if string(rest[20+n:]) != "--Encrypted Boundary--\r\n" {
		return nil, fmt.Errorf("bad trailer %q", rest[20+n:])
	}
	return s.Unseal(rest[20:20+n], rest[4:20])
}

// auth authenticates the request; false means an answer was written.
func (f *fakeServer) auth(w http.ResponseWriter, r *http.Request, cs *connState) bool {
	authz := r.Header.Get("Authorization")
	if !f.ntlm {
		u, p, ok := r.BasicAuth()
		if ok && u == f.user && p == f.password {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="Exchange"`)
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if authz == "" {
		if cs.authed {
			return true
		}
		w.Header().Set("WWW-Authenticate", "Negotiate")
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	scheme, tok, _ := strings.Cut(authz, " ")
	raw, err := base64.StdEncoding.DecodeString(tok)
	if scheme != "Negotiate" || err != nil {
		f.t.Errorf("Authorization %q", authz)
		w.WriteHeader(http.StatusBadRequest)
		return false
	}
	msg, _, err := ntlm.Unwrap(raw)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	typ, _ := ntlm.MessageType(msg)
	switch typ {
	case ntlm.TypeNegotiate:
		h, challenge, err := f.acceptor.Challenge(msg)
		if err != nil {
			f.t.Errorf("challenge: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return false
		}
		cs.handshake, cs.authed, cs.session = h, false, nil
		w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(challenge))
		w.WriteHeader(http.StatusUnauthorized)
		return false
	case ntlm.TypeAuthenticate:
		if cs.handshake == nil {
			w.WriteHeader(http.StatusUnauthorized)
			return false
		}
		if a, err := ntlm.ParseAuthenticate(msg); err == nil && len(a.NtChallengeResponse) > 44 {
			pairs, _ := ntlm.ParseAVPairs(a.NtChallengeResponse[44:])
			f.mu.Lock()
			f.bindings = nil
			for _, p := range pairs {
				if p.ID == ntlm.AvChannelBindings {
					f.bindings = p.Value
				}
			}
			f.mu.Unlock()
		}
		res, err := cs.handshake.Accept(msg)
		cs.handshake = nil
		if err != nil {
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.WriteHeader(http.StatusUnauthorized)
			return false
		}
		cs.session, err = ntlm.NewServerSession(res)
		if err != nil {
			f.t.Errorf("session: %v", err)
		}
		cs.authed = true
		return true
	}
	w.WriteHeader(http.StatusUnauthorized)
	return false
}

func (f *fakeServer) dispatch(w http.ResponseWriter, body []byte) (int, []byte) {
	var req request
	if err := xml.Unmarshal(body, &req); err != nil {
		f.t.Errorf("request is not XML: %v\n%s", err, body)
		return 400, nil
	}
	h := req.Header
	if h.ResourceURI != ResourceURIExchange {
		f.t.Errorf("ResourceURI %q", h.ResourceURI)
	}
	if !strings.HasPrefix(h.MessageID, "uuid:") {
		f.t.Errorf("MessageID %q", h.MessageID)
	}
	f.mu.Lock()
	f.maxEnvelope = h.MaxEnvelopeSize
	f.mu.Unlock()
	if len(body) > h.MaxEnvelopeSize {
		f.t.Errorf("an envelope of %d bytes exceeds its MaxEnvelopeSize %d", len(body), h.MaxEnvelopeSize)
	}
	op := h.Action[strings.LastIndex(h.Action, "/")+1:]
	if op != "Create" {
		f.mu.Lock()
		want := f.shellID
		f.mu.Unlock()
		if len(h.Selectors) != 1 || h.Selectors[0].Name != "ShellId" || h.Selectors[0].Value != want {
			f.t.Errorf("%s: SelectorSet %+v, want ShellId %s", op, h.Selectors, want)
		}
	}
	step := f.next(op)
	switch step {
	case "500":
		return 500, []byte("<html>Internal Server Error</html>")
	case "drop":
		hj, _ := w.(http.Hijacker)
		c, _, err := hj.Hijack()
		if err == nil {
			c.Close()
		}
		return 0, nil
	case "401":
		return 401, nil
	case "throttle":
		return 500, faultEnvelope(h.MessageID, "w:InternalError", 2150858843, "Fail to create a runspace because you have exceeded the maximum number of connections allowed : 18 for the policy party : MaxConcurrency. Please close existing runspace and try again.")
	case "timedout":
		return 500, faultEnvelope(h.MessageID, "w:TimedOut", FaultCodeTimedOut, "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.")
	case "denied":
		return 500, faultEnvelope(h.MessageID, "w:AccessDenied", 5, "Access is denied.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch op {
	case "Create":
		s := req.Body.Shell
		if s == nil || s.In != "stdin pr" || s.Out != "stdout" || s.ShellID == "" {
			f.t.Errorf("Create body %+v", s)
			return 400, nil
		}
		if len(h.Options) != 1 || h.Options[0].Name != "protocolversion" || h.Options[0].Value != "2.3" || h.Options[0].MustComply != "true" {
			f.t.Errorf("Create options %+v", h.Options)
		}
		c, err := base64.StdEncoding.DecodeString(s.Creation.Value)
		if err != nil {
			f.t.Errorf("creationXml: %v", err)
		}
		if f.shellID == s.ShellID {
			return 500, faultEnvelope(h.MessageID, "w:AlreadyExists", 2150858815, "The WS-Management service cannot create the resource because it already exists: a shell with ShellId "+s.ShellID+" is open.")
		}
		f.shellID, f.creation = s.ShellID, c
		if step == "createdrop" {
			// Created, but the answer is lost with the connection.
			if c, _, err := w.(http.Hijacker).Hijack(); err == nil {
				c.Close()
			}
			return 0, nil
		}
		return 200, soapAnswer(wsmv.NSTransfer+"/CreateResponse", h.MessageID, `<x:ResourceCreated><a:Address>http://ex01/PowerShell/</a:Address><a:ReferenceParameters><w:ResourceURI>`+ResourceURIExchange+`</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`+f.shellID+`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
	case "Command":
		c := req.Body.CommandLine
		if c == nil || c.Command == nil || *c.Command != "" || c.CommandID == "" || c.CommandID != strings.ToUpper(c.CommandID) {
			f.t.Errorf("Command body %+v", c)
			return 400, nil
		}
		args, err := base64.StdEncoding.DecodeString(c.Arguments)
		if err != nil {
			f.t.Errorf("Arguments: %v", err)
		}
		f.pipes[c.CommandID] = &fakePipe{out: args}
		return 200, soapAnswer(wsmv.NSShell+"/CommandResponse", h.MessageID, `<rsp:CommandResponse><rsp:CommandId>`+c.CommandID+`</rsp:CommandId></rsp:CommandResponse>`)
	case "Send":
		for _, s := range req.Body.Send.Streams {
			p, err := base64.StdEncoding.DecodeString(s.Value)
			if err != nil {
				f.t.Errorf("Send: %v", err)
			}
			if s.CommandID == "" {
				f.creation = append(f.creation, p...)
				f.poolSent = false
				continue
			}
			pipe := f.pipes[s.CommandID]
			if pipe == nil {
				return 500, faultEnvelope(h.MessageID, "w:InvalidParameter", 87, "no such command "+s.CommandID)
			}
			pipe.out = append(pipe.out, []byte(s.Name+":")...)
			pipe.out = append(pipe.out, p...)
		}
		return 200, soapAnswer(wsmv.NSShell+"/SendResponse", h.MessageID, `<rsp:SendResponse/>`)
	case "Receive":
		d := req.Body.Receive.Desired
		if d.Value != "stdout" {
			f.t.Errorf("DesiredStream %q", d.Value)
		}
		keepalive := len(h.Options) == 1 && h.Options[0].Name == "WSMAN_CMDSHELL_OPTION_KEEPALIVE"
		if d.CommandID == "" {
			if !keepalive {
				f.t.Errorf("pool Receive without KEEPALIVE: %+v", h.Options)
			}
			if f.poolSent {
				return 500, faultEnvelope(h.MessageID, "w:TimedOut", FaultCodeTimedOut, "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.")
			}
			f.poolSent = true
			return 200, soapAnswer(wsmv.NSShell+"/ReceiveResponse", h.MessageID, `<rsp:ReceiveResponse>`+streams("", f.creation)+`</rsp:ReceiveResponse>`)
		}
		if keepalive {
			f.t.Errorf("pipeline Receive with the pool's KEEPALIVE")
		}
		pipe := f.pipes[d.CommandID]
		if pipe == nil {
			return 500, faultEnvelope(h.MessageID, "w:InvalidParameter", 87, "no such command")
		}
		out := pipe.out
		pipe.out, pipe.done = nil, true
		return 200, soapAnswer(wsmv.NSShell+"/ReceiveResponse", h.MessageID, `<rsp:ReceiveResponse>`+streams(d.CommandID, out)+
			`<rsp:CommandState CommandId="`+d.CommandID+`" State="`+wsmv.CommandStateDone+`"/></rsp:ReceiveResponse>`)
	case "Signal":
		s := req.Body.Signal
		f.signals = append(f.signals, s.CommandID+" "+s.Code)
		return 200, soapAnswer(wsmv.NSShell+"/SignalResponse", h.MessageID, `<rsp:SignalResponse/>`)
	case "Delete":
		f.deleted = true
		return 200, soapAnswer(wsmv.NSTransfer+"/DeleteResponse", h.MessageID, "")
	}
	f.t.Errorf("unknown action %q", h.Action)
	return 400, nil
}

// streams splits data into two base64 rsp:Stream pieces, as WinRM may.
func streams(commandID string, data []byte) string {
	attr := ""
	if commandID != "" {
		attr = ` CommandId="` + commandID + `"`
	}
	half := len(data) / 2
	return `<rsp:Stream Name="stdout"` + attr + `>` + b64(data[:half]) + `</rsp:Stream>` +
		`<rsp:Stream Name="stdout"` + attr + `>` + b64(data[half:]) + `</rsp:Stream>`
}

const answerNS = `xmlns:s="` + wsmv.NSSOAP + `" xmlns:a="` + wsmv.NSAddressing + `" xmlns:x="` + wsmv.NSTransfer + `" xmlns:w="` + wsmv.NSWSMan + `" xmlns:rsp="` + wsmv.NSShell + `" xmlns:f="` + wsmv.NSFault + `"`

func soapAnswer(action, relatesTo, body string) []byte {
	return []byte(`<s:Envelope ` + answerNS + `><s:Header><a:Action>` + action + `</a:Action><a:MessageID>uuid:9A1F0000-0000-0000-0000-000000000001</a:MessageID><a:To>` + wsmv.AddrAnonymous + `</a:To><a:RelatesTo>` + relatesTo + `</a:RelatesTo></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
}

func faultEnvelope(relatesTo, subcode string, code uint32, text string) []byte {
	return soapAnswer("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relatesTo,
		`<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>`+subcode+`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">The WS-Management service cannot process the request.</s:Text></s:Reason><s:Detail><f:WSManFault Code="`+strconv.FormatUint(uint64(code), 10)+`" Machine="ex01.contoso.test"><f:Message><f:ProviderFault provider="microsoft.exchange" path="C:\Program Files\Microsoft\Exchange Server\V15\Bin\Microsoft.Exchange.AuthorizationPlugin.dll">`+text+`</f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault>`)
}
