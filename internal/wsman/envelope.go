package wsman

import (
	"encoding/base64"
	"encoding/xml"
	"strconv"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// defaultLang is the locale every request asks for.
const defaultLang = "en-US"

// header is what every request's SOAP header carries.
type header struct {
	To              string
	Action          string
	MessageID       string // "uuid:…"
	ResourceURI     string
	MaxEnvelopeSize int
	SessionID       string // "uuid:…"
	Timeout         time.Duration
	ShellID         string // empty: no SelectorSet (Create)
	Options         []option
}

type option struct {
	Name, Value string
	MustComply  bool
}

// writeEnvelope writes a whole envelope with body (already XML).
func writeEnvelope(b *strings.Builder, h header, body string) {
	b.WriteString(`<s:Envelope xmlns:s="` + wsmv.NSSOAP + `" xmlns:a="` + wsmv.NSAddressing + `" xmlns:w="` + wsmv.NSWSMan + `" xmlns:p="` + wsmv.NSMSWSMan + `" xmlns:rsp="` + wsmv.NSShell + `">`)
	b.WriteString(`<s:Header>`)
	b.WriteString(`<a:To>` + esc(h.To) + `</a:To>`)
	b.WriteString(`<a:ReplyTo><a:Address s:mustUnderstand="true">` + wsmv.AddrAnonymous + `</a:Address></a:ReplyTo>`)
	b.WriteString(`<a:Action s:mustUnderstand="true">` + esc(h.Action) + `</a:Action>`)
	b.WriteString(`<a:MessageID>` + esc(h.MessageID) + `</a:MessageID>`)
	b.WriteString(`<w:ResourceURI s:mustUnderstand="true">` + esc(h.ResourceURI) + `</w:ResourceURI>`)
	b.WriteString(`<w:MaxEnvelopeSize s:mustUnderstand="true">` + strconv.Itoa(h.MaxEnvelopeSize) + `</w:MaxEnvelopeSize>`)
	b.WriteString(`<w:Locale xml:lang="` + defaultLang + `" s:mustUnderstand="false"/>`)
	b.WriteString(`<p:DataLocale xml:lang="` + defaultLang + `" s:mustUnderstand="false"/>`)
	b.WriteString(`<p:SessionId s:mustUnderstand="false">` + esc(h.SessionID) + `</p:SessionId>`)
	b.WriteString(`<w:OperationTimeout>` + duration(h.Timeout) + `</w:OperationTimeout>`)
	if h.ShellID != "" {
		b.WriteString(`<w:SelectorSet><w:Selector Name="ShellId">` + esc(h.ShellID) + `</w:Selector></w:SelectorSet>`)
	}
	if len(h.Options) > 0 {
		// mustUnderstand as pypsrp always sends it.
		b.WriteString(`<w:OptionSet s:mustUnderstand="true">`)
		for _, o := range h.Options {
			b.WriteString(`<w:Option Name="` + esc(o.Name) + `"`)
			if o.MustComply {
				b.WriteString(` MustComply="true"`)
			}
			b.WriteString(`>` + esc(o.Value) + `</w:Option>`)
		}
		b.WriteString(`</w:OptionSet>`)
	}
	b.WriteString(`</s:Header><s:Body>`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
}

// duration is an xs:duration in whole seconds, e.g. PT20S.
func duration(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return "PT" + strconv.FormatInt(s, 10) + "S"
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }

// createBody is the rsp:Shell of a PSRP Create (MS-PSRP 3.1.5.3.1): the
// pool's id as ShellId, streams stdin pr / stdout, and creationXml.
func createBody(shellID string, creationXML []byte) string {
	return `<rsp:Shell ShellId="` + esc(shellID) + `"><rsp:InputStreams>stdin pr</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>` +
		`<creationXml xmlns="` + wsmv.NSPowerShell + `">` + b64(creationXML) + `</creationXml></rsp:Shell>`
}

// createOptions is the protocolversion option Create must carry.
var createOptions = []option{{Name: "protocolversion", Value: "2.3", MustComply: true}}

// receiveBody asks for stdout of the pool (commandID empty) or a pipeline.
func receiveBody(commandID string) string {
	if commandID == "" {
		return `<rsp:Receive><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>`
	}
	return `<rsp:Receive><rsp:DesiredStream CommandId="` + esc(commandID) + `">stdout</rsp:DesiredStream></rsp:Receive>`
}

// poolReceiveOptions keeps the pool alive while its Receive waits
// (MS-PSRP 3.1.5.3.7; pypsrp WinRS.receive).
var poolReceiveOptions = []option{{Name: "WSMAN_CMDSHELL_OPTION_KEEPALIVE", Value: "TRUE"}}

// commandBody starts a pipeline: an empty rsp:Command and the first
// CREATE_PIPELINE fragment(s) in rsp:Arguments (MS-PSRP 3.1.5.3.3).
func commandBody(commandID string, arguments []byte) string {
	return `<rsp:CommandLine CommandId="` + esc(commandID) + `"><rsp:Command></rsp:Command><rsp:Arguments>` + b64(arguments) + `</rsp:Arguments></rsp:CommandLine>`
}

// commandOptions are pypsrp's for a PSRP Command (the PowerShell plug-in
// runs no cmd.exe either way; sending what the reference client sends to
// Exchange keeps us on the proven path).
var commandOptions = []option{{Name: "WINRS_SKIP_CMD_SHELL", Value: "FALSE"}}

// sendBody carries fragments on stream to the pool (commandID empty) or a
// pipeline, one rsp:Stream per chunk.
func sendBody(stream, commandID string, chunks ...[]byte) string {
	var b strings.Builder
	b.WriteString(`<rsp:Send>`)
	for _, c := range chunks {
		b.WriteString(`<rsp:Stream Name="` + esc(stream) + `"`)
		if commandID != "" {
			b.WriteString(` CommandId="` + esc(commandID) + `"`)
		}
		b.WriteString(`>` + b64(c) + `</rsp:Stream>`)
	}
	b.WriteString(`</rsp:Send>`)
	return b.String()
}

// signalBody sends code to a pipeline (or the shell when commandID is
// empty).
func signalBody(commandID, code string) string {
	if commandID == "" {
		return `<rsp:Signal><rsp:Code>` + esc(code) + `</rsp:Code></rsp:Signal>`
	}
	return `<rsp:Signal CommandId="` + esc(commandID) + `"><rsp:Code>` + esc(code) + `</rsp:Code></rsp:Signal>`
}

// payloadMargin covers what the skeleton leaves out: longer ids, more
// options, another rsp:Stream element (pypsrp pads by the same 256).
const payloadMargin = 256

// maxPayload is how many raw bytes fit, base64'd, in one Send or Command
// under maxEnvelope: the envelope less the larger of the two skeletons
// and the margin, times 3/4 for base64 (pypsrp wsman.py
// _calc_envelope_size). The PSRP layer's fragment headers are part of
// these bytes.
func maxPayload(maxEnvelope int, to, resourceURI string) int {
	zero := "00000000-0000-0000-0000-000000000000"
	h := header{To: to, Action: wsmv.ActionSend, MessageID: "uuid:" + zero, ResourceURI: resourceURI,
		MaxEnvelopeSize: maxEnvelope, SessionID: "uuid:" + zero, Timeout: 24 * time.Hour, ShellID: zero}
	var send, cmd strings.Builder
	writeEnvelope(&send, h, sendBody("stdin", zero, nil))
	h.Action = wsmv.ActionCommand
	writeEnvelope(&cmd, h, commandBody(zero, nil))
	skeleton := max(send.Len(), cmd.Len())
	avail := maxEnvelope - skeleton - payloadMargin
	if avail < 4 {
		return 0
	}
	return avail / 4 * 3
}
