package winrm

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// fakeWSMan is a minimal WinRS server for the transport's tests: just the
// Create/Command/Send/Receive/Signal/Delete shapes masterzen parses.
type fakeWSMan struct {
	t *testing.T

	user, pass string
	// always401 answers every request 401 (with a SOAP content type, as
	// Windows does).
	always401 bool
	// createFailures answers that many Creates with a 500 fault.
	createFailures int
	// createEmptyBody answers Create 200 with a body without a ShellId.
	createNoShellID bool
	// timedOutReceives answers that many Receives with a TimedOut fault.
	timedOutReceives int
	// receiveDelay holds every Receive (until the client gives up).
	receiveDelay time.Duration
	// waitStdin makes Receive wait for the stdin End before running.
	waitStdin bool
	// run produces the command's output from the decoded script and stdin.
	run func(script, stdin string) (stdout, stderr string, exit int)

	mu       sync.Mutex
	actions  []string
	scripts  []string
	stdin    strings.Builder
	stdinEnd chan struct{}
	ended    bool
	receives int
	ran      bool
}

var (
	reAction  = regexp.MustCompile(`<(?:\w+:)?Action[^>]*>([^<]+)</`)
	reMsgID   = regexp.MustCompile(`<(?:\w+:)?MessageID[^>]*>([^<]+)</`)
	reCommand = regexp.MustCompile(`(?s)<(?:\w+:)?Command[^>]*><!\[CDATA\[(.*?)\]\]>`)
	reStream  = regexp.MustCompile(`(?s)<(?:\w+:)?Stream([^>]*)>([^<]*)</`)
)

const (
	nsDecl    = `xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"`
	shellNS   = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
	fakeShell = "11111111-2222-3333-4444-555555555555"
	fakeCmd   = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"
)

func envelope(action, relatesTo, body string) string {
	return `<s:Envelope ` + nsDecl + `><s:Header><a:Action>` + action + `</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>` + relatesTo + `</a:RelatesTo></s:Header><s:Body>` + body + `</s:Body></s:Envelope>`
}

func faultBody(subcode, text string) string {
	return `<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>` + subcode + `</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">` + text + `</s:Text></s:Reason><s:Detail><f:WSManFault Code="2150858793" Machine="ex01"><f:Message>` + text + `</f:Message></f:WSManFault></s:Detail></s:Fault>`
}

func (f *fakeWSMan) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	body := string(raw)
	action := ""
	if m := reAction.FindStringSubmatch(body); m != nil {
		action = m[1][strings.LastIndex(m[1], "/")+1:]
	}
	msgID := ""
	if m := reMsgID.FindStringSubmatch(body); m != nil {
		msgID = m[1]
	}
	f.mu.Lock()
	f.actions = append(f.actions, action)
	if f.stdinEnd == nil {
		f.stdinEnd = make(chan struct{})
	}
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if f.always401 {
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if f.user != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != f.user || p != f.pass {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	reply := func(status int, action, b string) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, envelope(action, msgID, b))
	}
	switch action {
	case "Create":
		f.mu.Lock()
		fail := f.createFailures > 0
		if fail {
			f.createFailures--
		}
		f.mu.Unlock()
		if fail {
			reply(500, "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", faultBody("w:InternalError", "The WS-Management service cannot process the request: the shell quota is temporarily exhausted."))
			return
		}
		if f.createNoShellID {
			reply(200, "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", `<x:ResourceCreated><a:Address>x</a:Address></x:ResourceCreated>`)
			return
		}
		reply(200, "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse",
			`<x:ResourceCreated><a:Address>`+r.Host+`</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`+fakeShell+`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
	case "Command":
		m := reCommand.FindStringSubmatch(body)
		if m == nil {
			f.t.Errorf("Command without CDATA command line: %s", body)
			return
		}
		f.mu.Lock()
		f.scripts = append(f.scripts, decodeCommandLine(f.t, m[1]))
		f.mu.Unlock()
		reply(200, shellNS+"/CommandResponse", `<rsp:CommandResponse><rsp:CommandId>`+fakeCmd+`</rsp:CommandId></rsp:CommandResponse>`)
	case "Send":
		for _, m := range reStream.FindAllStringSubmatch(body, -1) {
			data, _ := base64.StdEncoding.DecodeString(m[2])
			f.mu.Lock()
			f.stdin.Write(data)
			if strings.Contains(m[1], `End="true"`) && !f.ended {
				f.ended = true
				close(f.stdinEnd)
			}
			f.mu.Unlock()
		}
		reply(200, shellNS+"/SendResponse", `<rsp:SendResponse/>`)
	case "Receive":
		f.mu.Lock()
		f.receives++
		timedOut := f.timedOutReceives > 0
		if timedOut {
			f.timedOutReceives--
		}
		end := f.stdinEnd
		f.mu.Unlock()
		if timedOut {
			reply(500, "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", faultBody("w:TimedOut", "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."))
			return
		}
		if f.receiveDelay > 0 {
			select {
			case <-time.After(f.receiveDelay):
			case <-r.Context().Done():
				return
			}
		}
		if f.waitStdin {
			select {
			case <-end:
			case <-time.After(5 * time.Second):
				f.t.Errorf("stdin End never arrived")
			}
		}
		f.mu.Lock()
		script := ""
		if len(f.scripts) > 0 {
			script = f.scripts[len(f.scripts)-1]
		}
		stdin := f.stdin.String()
		f.ran = true
		f.mu.Unlock()
		out, errOut, exit := "", "", 0
		if f.run != nil {
			out, errOut, exit = f.run(script, stdin)
		}
		var b strings.Builder
		b.WriteString(`<rsp:ReceiveResponse>`)
		for _, s := range [][2]string{{"stdout", out}, {"stderr", errOut}} {
			if s[1] != "" {
				fmt.Fprintf(&b, `<rsp:Stream Name="%s" CommandId="%s">%s</rsp:Stream>`, s[0], fakeCmd, base64.StdEncoding.EncodeToString([]byte(s[1])))
			}
			fmt.Fprintf(&b, `<rsp:Stream Name="%s" CommandId="%s" End="true"></rsp:Stream>`, s[0], fakeCmd)
		}
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s/CommandState/Done"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState></rsp:ReceiveResponse>`, fakeCmd, shellNS, exit)
		reply(200, shellNS+"/ReceiveResponse", b.String())
	case "Signal":
		reply(200, shellNS+"/SignalResponse", `<rsp:SignalResponse/>`)
	case "Delete":
		reply(200, "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", ``)
	default:
		f.t.Errorf("unexpected action %q", action)
		w.WriteHeader(400)
	}
}

// snapshot returns the actions so far and the Receive count.
func (f *fakeWSMan) snapshot() ([]string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.actions...), f.receives
}

func (f *fakeWSMan) count(action string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.actions {
		if a == action {
			n++
		}
	}
	return n
}

// decodeCommandLine checks the command line's shape and returns the script.
func decodeCommandLine(t *testing.T, cmd string) string {
	const prefix = "powershell.exe "
	if !strings.HasPrefix(cmd, prefix) {
		t.Errorf("command line %q does not start powershell.exe", cmd)
		return ""
	}
	fields := strings.Fields(cmd)
	if len(fields) < 3 || fields[len(fields)-2] != "-EncodedCommand" {
		t.Errorf("command line %q does not end in -EncodedCommand <b64>", cmd)
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(fields[len(fields)-1])
	if err != nil || len(raw)%2 != 0 {
		t.Errorf("bad -EncodedCommand payload: %v", err)
		return ""
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}
