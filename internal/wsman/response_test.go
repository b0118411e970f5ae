package wsman

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

const reqID = "uuid:CCCCCCCC-0000-0000-0000-000000000003"

func TestParseCreateAndCommand(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		shell   string
		command string
	}{
		{"ResourceCreated", `<x:ResourceCreated><a:Address>http://ex01/PowerShell/</a:Address><a:ReferenceParameters><w:ResourceURI>` + ResourceURIExchange + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId"> 0A1B-SHELL </w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`, "0A1B-SHELL", ""},
		{"rsp:Shell only", `<rsp:Shell><rsp:ShellId>SHELL-2</rsp:ShellId><rsp:ResourceUri>` + ResourceURIExchange + `</rsp:ResourceUri></rsp:Shell>`, "SHELL-2", ""},
		{"both", `<x:ResourceCreated><a:ReferenceParameters><w:SelectorSet><w:Selector Name="ShellId">S1</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>S2</rsp:ShellId></rsp:Shell>`, "S1", ""},
		{"CommandResponse", `<rsp:CommandResponse><rsp:CommandId>CMD-1</rsp:CommandId></rsp:CommandResponse>`, "", "CMD-1"},
		{"empty", ``, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseResponse(soapAnswer("x", reqID, tt.body), reqID)
			if err != nil {
				t.Fatal(err)
			}
			shell, err := r.shellID()
			if shell != tt.shell || (err != nil) != (tt.shell == "") {
				t.Errorf("shellID = %q, %v; want %q", shell, err, tt.shell)
			}
			cmd, err := r.commandID()
			if cmd != tt.command || (err != nil) != (tt.command == "") {
				t.Errorf("commandID = %q, %v; want %q", cmd, err, tt.command)
			}
		})
	}
}

func TestParseResponseRejects(t *testing.T) {
	for name, data := range map[string]string{
		"not XML":           "<html>oops",
		"not SOAP":          "<Envelope><Body/></Envelope>",
		"wrong RelatesTo":   string(soapAnswer("x", "uuid:OTHER", "")),
		"missing RelatesTo": `<s:Envelope ` + answerNS + `><s:Header></s:Header><s:Body/></s:Envelope>`,
	} {
		if _, err := parseResponse([]byte(data), reqID); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseReceive(t *testing.T) {
	const cmd = "BBBBBBBB-0000-0000-0000-000000000002"
	done := `<rsp:CommandState CommandId="` + cmd + `" State="` + wsmv.CommandStateDone + `"/>`
	running := `<rsp:CommandState CommandId="` + cmd + `" State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running"/>`
	tests := []struct {
		name    string
		body    string
		command string
		want    string
		done    bool
		wantErr bool
	}{
		{"pool pieces", `<rsp:ReceiveResponse><rsp:Stream Name="stdout">` + b64([]byte("ab")) + `</rsp:Stream><rsp:Stream Name="stdout">` + b64([]byte("cd")) + `</rsp:Stream></rsp:ReceiveResponse>`, "", "abcd", false, false},
		{"pipeline done", `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="` + cmd + `">` + b64([]byte("out")) + `</rsp:Stream><rsp:Stream Name="stdout" CommandId="` + cmd + `" End="true"></rsp:Stream>` + done + `</rsp:ReceiveResponse>`, cmd, "out", true, false},
		{"pipeline id in lower case", `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="` + strings.ToLower(cmd) + `">` + b64([]byte("x")) + `</rsp:Stream><rsp:CommandState CommandId="` + strings.ToLower(cmd) + `" State="` + wsmv.CommandStateDone + `"/></rsp:ReceiveResponse>`, cmd, "x", true, false},
		{"running", `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="` + cmd + `">` + b64([]byte("1")) + `</rsp:Stream>` + running + `</rsp:ReceiveResponse>`, cmd, "1", false, false},
		{"another command's data and state", `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="OTHER">` + b64([]byte("no")) + `</rsp:Stream><rsp:CommandState CommandId="OTHER" State="` + wsmv.CommandStateDone + `"/></rsp:ReceiveResponse>`, cmd, "", false, false},
		{"stderr ignored", `<rsp:ReceiveResponse><rsp:Stream Name="stderr">` + b64([]byte("no")) + `</rsp:Stream></rsp:ReceiveResponse>`, "", "", false, false},
		{"base64 with line breaks", `<rsp:ReceiveResponse><rsp:Stream Name="stdout">` + "YWJj\r\n" + `</rsp:Stream></rsp:ReceiveResponse>`, "", "abc", false, false},
		{"bad base64", `<rsp:ReceiveResponse><rsp:Stream Name="stdout">!!!</rsp:Stream></rsp:ReceiveResponse>`, "", "", false, true},
		{"no ReceiveResponse", `<rsp:SendResponse/>`, "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseResponse(soapAnswer(wsmv.NSShell+"/ReceiveResponse", reqID, tt.body), reqID)
			if err != nil {
				t.Fatal(err)
			}
			got, done, err := r.received(tt.command)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if string(got) != tt.want || done != tt.done {
				t.Errorf("received = %q %v, want %q %v", got, done, tt.want, tt.done)
			}
		})
	}
}

// exchangeThrottle is the shape of Exchange's refusal of a new runspace (its
// text as in Microsoft365DSC/Microsoft365DSC#359): the text nested in
// ProviderFault, repeated in an inner WSManFault, followed by the budget
// snapshot.
const exchangeThrottle = `<s:Envelope ` + answerNS + `><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/fault</a:Action><a:RelatesTo>` + reqID + `</a:RelatesTo></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:InternalError</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="">[ex01.contoso.test] Processing data from remote server failed</s:Text></s:Reason><s:Detail><f:WSManFault Code="2150858843" Machine="ex01.contoso.test"><f:Message><f:ProviderFault provider="microsoft.exchange" path="C:\Program Files\Microsoft\Exchange Server\V15\Bin\Microsoft.Exchange.AuthorizationPlugin.dll"><f:WSManFault Code="2150858843" Machine="ex01.contoso.test"><f:Message>Fail to create a runspace because you have exceeded the maximum number of connections allowed : 18 for the policy party : MaxConcurrency. Please close existing runspace and try again.</f:Message></f:WSManFault>Fail to create a runspace because you have exceeded the maximum number of connections allowed : 18 for the policy party : MaxConcurrency. Please close existing runspace and try again.
Policy: GlobalThrottlingPolicy_0f1e; ActiveRunspaces: 18/18; [FailureCategory=AuthZ-AuthorizationException]</f:ProviderFault></f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`

func TestParseFault(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		want      *FaultError
		text      []string
		transient bool
	}{
		{"TimedOut", string(faultEnvelope(reqID, "w:TimedOut", FaultCodeTimedOut, "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.")),
			&FaultError{SOAPCode: "s:Receiver", Subcode: "w:TimedOut", Code: FaultCodeTimedOut, Machine: "ex01.contoso.test"}, []string{"OperationTimeout"}, true},
		{"Exchange throttling", exchangeThrottle,
			&FaultError{SOAPCode: "s:Sender", Subcode: "w:InternalError", Code: 2150858843, Machine: "ex01.contoso.test"},
			[]string{"exceeded the maximum number of connections allowed : 18 for the policy party : MaxConcurrency", "ActiveRunspaces: 18/18", "Processing data from remote server failed"}, true},
		{"access denied", string(faultEnvelope(reqID, "w:AccessDenied", 5, "Access is denied.")),
			&FaultError{SOAPCode: "s:Receiver", Subcode: "w:AccessDenied", Code: 5, Machine: "ex01.contoso.test"}, []string{"Access is denied."}, false},
		{"shell gone", string(faultEnvelope(reqID, "w:InvalidSelectors", 2150858843, "The request for the Windows Remote Shell with ShellId 1234 failed because the shell was not found on the server.")),
			&FaultError{SOAPCode: "s:Receiver", Subcode: "w:InvalidSelectors", Code: 2150858843, Machine: "ex01.contoso.test"}, []string{"shell was not found"}, true},
		{"reason only", `<s:Envelope xmlns:s="` + wsmv.NSSOAP + `"><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value></s:Code><s:Reason><s:Text>Bad request</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>`,
			&FaultError{SOAPCode: "s:Sender"}, []string{"Bad request"}, false},
		{"no fault", string(soapAnswer("x", reqID, `<rsp:ReceiveResponse><rsp:Stream Name="stdout">RmF1bHQ=</rsp:Stream></rsp:ReceiveResponse>`)), nil, nil, false},
		{"a Fault element in another namespace", `<s:Envelope xmlns:s="` + wsmv.NSSOAP + `"><s:Body><Fault>x</Fault></s:Body></s:Envelope>`, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := parseFault([]byte(tt.data))
			if tt.want == nil {
				if f != nil {
					t.Fatalf("found a fault: %+v", f)
				}
				return
			}
			if f == nil {
				t.Fatal("no fault found")
			}
			if f.SOAPCode != tt.want.SOAPCode || f.Subcode != tt.want.Subcode || f.Code != tt.want.Code || f.Machine != tt.want.Machine {
				t.Errorf("fault = %+v, want %+v", f, tt.want)
			}
			for _, s := range tt.text {
				if !strings.Contains(f.Error(), s) {
					t.Errorf("%q lacks %q", f.Error(), s)
				}
			}
			if strings.Count(f.Text(), "Fail to create a runspace") > 1 {
				t.Errorf("the message is repeated: %q", f.Text())
			}
			err := classifyAnswer("Create", 500, []byte(tt.data))
			if errkind.IsTransient(err) != tt.transient {
				t.Errorf("transient = %v, want %v", errkind.IsTransient(err), tt.transient)
			}
			var fe *FaultError
			if !errors.As(err, &fe) || fe.Op != "Create" || fe.Status != 500 {
				t.Errorf("classified as %#v", err)
			}
		})
	}
}

func TestClassifyAnswerWithoutFault(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		transient bool
	}{
		{http.StatusInternalServerError, "<html>Internal Server Error</html>", true},
		{http.StatusServiceUnavailable, "", true},
		{http.StatusTooManyRequests, "", true},
		{http.StatusBadRequest, "Bad Request", false},
		{http.StatusNotFound, "<h1>404 - File or directory not found.</h1>", false},
		{http.StatusForbidden, "The server is too busy", true},
	}
	for _, tt := range tests {
		err := classifyAnswer("Send", tt.status, []byte(tt.body))
		var he *HTTPError
		if !errors.As(err, &he) || he.Status != tt.status {
			t.Errorf("%d: %v, want an *HTTPError", tt.status, err)
			continue
		}
		if errkind.IsTransient(err) != tt.transient {
			t.Errorf("%d: transient %v, want %v", tt.status, errkind.IsTransient(err), tt.transient)
		}
		if tt.body != "" && !strings.Contains(err.Error(), strings.TrimSpace(tt.body)) {
			t.Errorf("%d: the server's text is lost: %v", tt.status, err)
		}
	}
	long := strings.Repeat("x", 10000)
	if err := classifyAnswer("Send", 500, []byte(long)); len(err.Error()) > 400 {
		t.Errorf("an error of %d bytes from a long page", len(err.Error()))
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add([]byte(exchangeThrottle))
	f.Add(faultEnvelope(reqID, "w:TimedOut", FaultCodeTimedOut, "OperationTimeout"))
	f.Add(soapAnswer("x", reqID, `<rsp:ReceiveResponse><rsp:Stream Name="stdout" CommandId="A">YWJj</rsp:Stream><rsp:CommandState CommandId="A" State="`+wsmv.CommandStateDone+`"/></rsp:ReceiveResponse>`))
	f.Add(soapAnswer("x", reqID, `<x:ResourceCreated><a:ReferenceParameters><w:SelectorSet><w:Selector Name="ShellId">S</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if fe := parseFault(data); fe != nil {
			_ = fe.Error()
			if len(fe.Message)+len(fe.Reason) > 2*len(data) {
				t.Fatalf("fault text of %d bytes from %d bytes", len(fe.Message)+len(fe.Reason), len(data))
			}
		}
		r, err := parseResponse(data, "")
		if err != nil {
			return
		}
		_, _ = r.shellID()
		_, _ = r.commandID()
		for _, id := range []string{"", "A"} {
			out, _, err := r.received(id)
			if err == nil && len(out) > len(data) {
				t.Fatalf("%d bytes received from %d", len(out), len(data))
			}
		}
	})
}
