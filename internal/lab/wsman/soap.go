package wsman

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// The lab's own names beside the shared vocabulary (internal/wsmv).
const (
	actionFault     = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
	addrFault       = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
	resourceCmd     = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
	stateRunning    = wsmv.NSShell + "/CommandState/Running"
	signalTerminate = wsmv.NSShell + "/signal/terminate"
	signalCtrlC     = wsmv.NSShell + "/signal/ctrl_c"
	signalCtrlBreak = wsmv.NSShell + "/signal/ctrl_break"
)

// request is a parsed WS-Management request envelope.
type request struct {
	Action           string
	MessageID        string
	ResourceURI      string
	MaxEnvelopeSize  int           // 0 when absent
	OperationTimeout time.Duration // 0 when absent
	Selectors        map[string]string
	Options          map[string]string

	Shell       *shellBody
	CommandLine *commandLineBody
	Send        *sendBody
	Receive     *receiveBody
	Signal      *signalBody
}

type selector struct {
	Name  string `xml:"Name,attr"`
	Value string `xml:",chardata"`
}

type shellBody struct {
	// ShellID is the ShellId attribute a PSRP client sets to its runspace
	// pool's id (pypsrp, PowerShell).
	ShellID string `xml:"ShellId,attr"`
	// CreationXML is PSRP's creationXml: base64 fragments of
	// SESSION_CAPABILITY and INIT_RUNSPACEPOOL (MS-PSRP §3.1.5.3.1).
	CreationXML   string `xml:"http://schemas.microsoft.com/powershell creationXml"`
	InputStreams  string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell InputStreams"`
	OutputStreams string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell OutputStreams"`
}

type commandLineBody struct {
	// CommandID is the id a PSRP client chooses (its pipeline's id).
	CommandID string   `xml:"CommandId,attr"`
	Command   string   `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Command"`
	Arguments []string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Arguments"`
}

type streamBody struct {
	Name      string `xml:"Name,attr"`
	CommandID string `xml:"CommandId,attr"`
	End       string `xml:"End,attr"`
	Data      string `xml:",chardata"`
}

type sendBody struct {
	Streams []streamBody `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Stream"`
}

type receiveBody struct {
	DesiredStream struct {
		CommandID string `xml:"CommandId,attr"`
		Streams   string `xml:",chardata"`
	} `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell DesiredStream"`
}

type signalBody struct {
	CommandID string `xml:"CommandId,attr"`
	Code      string `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Code"`
}

type rawEnvelope struct {
	XMLName xml.Name `xml:"http://www.w3.org/2003/05/soap-envelope Envelope"`
	Header  struct {
		Action           string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing Action"`
		MessageID        string     `xml:"http://schemas.xmlsoap.org/ws/2004/08/addressing MessageID"`
		ResourceURI      string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd ResourceURI"`
		MaxEnvelopeSize  string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd MaxEnvelopeSize"`
		OperationTimeout string     `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OperationTimeout"`
		Selectors        []selector `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd SelectorSet>Selector"`
		Options          []selector `xml:"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd OptionSet>Option"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Header"`
	Body struct {
		Shell       *shellBody       `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Shell"`
		CommandLine *commandLineBody `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell CommandLine"`
		Send        *sendBody        `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Send"`
		Receive     *receiveBody     `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Receive"`
		Signal      *signalBody      `xml:"http://schemas.microsoft.com/wbem/wsman/1/windows/shell Signal"`
	} `xml:"http://www.w3.org/2003/05/soap-envelope Body"`
}

// parseRequest reads a SOAP envelope. It fails on malformed XML, a
// missing Action or MessageID, and malformed header values.
func parseRequest(b []byte) (*request, error) {
	var env rawEnvelope
	d := xml.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&env); err != nil {
		return nil, fmt.Errorf("malformed SOAP envelope: %w", err)
	}
	h := env.Header
	r := &request{
		Action:      strings.TrimSpace(h.Action),
		MessageID:   strings.TrimSpace(h.MessageID),
		ResourceURI: strings.TrimSpace(h.ResourceURI),
		Selectors:   map[string]string{},
		Options:     map[string]string{},
		Shell:       env.Body.Shell,
		CommandLine: env.Body.CommandLine,
		Send:        env.Body.Send,
		Receive:     env.Body.Receive,
		Signal:      env.Body.Signal,
	}
	if r.Action == "" {
		return nil, errors.New("the request has no a:Action header")
	}
	if r.MessageID == "" {
		return nil, errors.New("the request has no a:MessageID header")
	}
	for _, s := range h.Selectors {
		r.Selectors[s.Name] = strings.TrimSpace(s.Value)
	}
	for _, o := range h.Options {
		r.Options[o.Name] = strings.TrimSpace(o.Value)
	}
	if v := strings.TrimSpace(h.MaxEnvelopeSize); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("w:MaxEnvelopeSize %q is not a positive integer", v)
		}
		r.MaxEnvelopeSize = n
	}
	if v := strings.TrimSpace(h.OperationTimeout); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, err
		}
		r.OperationTimeout = d
	}
	return r, nil
}

// parseDuration reads an xs:duration of days, hours, minutes and seconds
// (PT60S, PT60.000S, PT1M30S, P1DT2H). Years and months are refused.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("w:OperationTimeout %q is not an xs:duration such as PT60S", s)
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad
	}
	var total float64
	inTime := false
	num := ""
	seen := false
	for _, c := range s[1:] {
		switch {
		case c == 'T':
			if inTime || num != "" {
				return 0, bad
			}
			inTime = true
		case c >= '0' && c <= '9' || c == '.':
			num += string(c)
		default:
			if num == "" {
				return 0, bad
			}
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v < 0 {
				return 0, bad
			}
			num = ""
			seen = true
			switch {
			case c == 'D' && !inTime:
				total += v * 86400
			case c == 'H' && inTime:
				total += v * 3600
			case c == 'M' && inTime:
				total += v * 60
			case c == 'S' && inTime:
				total += v
			default:
				return 0, bad
			}
		}
	}
	if num != "" || !seen || total > 1e6 {
		return 0, bad
	}
	return time.Duration(total * float64(time.Second)), nil
}

// xmlText escapes s for element content and attribute values.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// envelope renders a response envelope around body.
func envelope(action, relatesTo, messageID, body string) []byte {
	var b strings.Builder
	b.Grow(len(body) + 900)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<s:Envelope xml:lang="en-US" xmlns:s="` + wsmv.NSSOAP + `" xmlns:a="` + wsmv.NSAddressing + `" xmlns:x="` + wsmv.NSTransfer +
		`" xmlns:w="` + wsmv.NSWSMan + `" xmlns:rsp="` + wsmv.NSShell + `" xmlns:p="` + wsmv.NSMSWSMan + `">`)
	b.WriteString(`<s:Header><a:Action>` + xmlText(action) + `</a:Action><a:MessageID>` + messageID +
		`</a:MessageID><a:To>` + wsmv.AddrAnonymous + `</a:To><a:RelatesTo>` + xmlText(relatesTo) + `</a:RelatesTo></s:Header>`)
	if body == "" {
		b.WriteString(`<s:Body/>`)
	} else {
		b.WriteString(`<s:Body>` + body + `</s:Body>`)
	}
	b.WriteString(`</s:Envelope>`)
	return []byte(b.String())
}

// fault is a SOAP fault as WinRM words it.
type fault struct {
	status  int    // HTTP status, 500 unless said otherwise
	code    string // s:Sender or s:Receiver
	subcode string // w:TimedOut, w:InvalidSelectors, …
	wsman   uint32 // f:WSManFault Code
	text    string
	action  string // a:Action; empty means the WS-Management fault action
}

func (f *fault) Error() string { return f.subcode + ": " + f.text }

func (f *fault) render(relatesTo, messageID, machine string) []byte {
	action := f.action
	if action == "" {
		action = actionFault
	}
	body := `<s:Fault><s:Code><s:Value>` + f.code + `</s:Value><s:Subcode><s:Value>` + f.subcode +
		`</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">` + xmlText(f.text) +
		`</s:Text></s:Reason><s:Detail><f:WSManFault xmlns:f="` + wsmv.NSFault + `" Code="` + strconv.FormatUint(uint64(f.wsman), 10) +
		`" Machine="` + xmlText(machine) + `"><f:Message>` + xmlText(f.text) + `</f:Message></f:WSManFault></s:Detail></s:Fault>`
	return envelope(action, relatesTo, messageID, body)
}

// The faults Windows answers.
func faultTimedOut() *fault {
	return &fault{code: "s:Receiver", subcode: "w:TimedOut", wsman: 2150858793,
		text: "The WS-Management service cannot complete the operation within the time specified in OperationTimeout."}
}

func faultShellNotFound(id string) *fault {
	return &fault{code: "s:Sender", subcode: "w:InvalidSelectors", wsman: 2150858843,
		text: "The request for the Windows Remote Shell with ShellId " + id + " failed because the shell was not found on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on the server. Provide the correct ShellId or create a new shell and execute the command again."}
}

func faultCommandNotFound(id string) *fault {
	return &fault{code: "s:Sender", subcode: "w:InvalidSelectors", wsman: 2150858843,
		text: "The request for the Windows Remote Shell with CommandId " + id + " failed because the command was not found on the server. Possible causes are: the specified CommandId is incorrect or the command has already been terminated."}
}

func faultAccessDenied() *fault {
	return &fault{code: "s:Sender", subcode: "w:AccessDenied", wsman: 5, text: "Access is denied."}
}

func faultActionNotSupported(action string) *fault {
	return &fault{code: "s:Sender", subcode: "a:ActionNotSupported", wsman: 2150858754, action: addrFault,
		text: "The WS-Management service cannot process the request because the action " + action + " is not supported."}
}

func faultSchema(detail string) *fault {
	return &fault{code: "s:Sender", subcode: "w:SchemaValidationError", wsman: 2150858817,
		text: "The WS-Management service cannot process the request because the XML is invalid: " + detail}
}

func faultResourceURI(uri string) *fault {
	return &fault{code: "s:Sender", subcode: "w:InvalidResourceURI", wsman: 2150858811,
		text: "The WS-Management service cannot process the request. The resource URI " + uri + " is not supported by this lab; only the cmd shell is."}
}

func faultQuota(n int) *fault {
	return &fault{code: "s:Receiver", subcode: "w:QuotaLimit", wsman: 2150859174,
		text: fmt.Sprintf("The WS-Management service cannot process the request. This user is allowed a maximum number of %d concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.", n)}
}

func faultEncodingLimit(n int) *fault {
	return &fault{code: "s:Sender", subcode: "w:EncodingLimit", wsman: 2150858866,
		text: fmt.Sprintf("The WS-Management service cannot process the request because the MaxEnvelopeSize %d is below the minimum of %d.", n, minEnvelopeSize)}
}

func faultInternal(text string) *fault {
	return &fault{code: "s:Receiver", subcode: "w:InternalError", wsman: 2150858752, text: text}
}
