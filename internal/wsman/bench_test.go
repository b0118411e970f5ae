package wsman

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// BenchmarkSendEnvelope builds a full Send envelope at the large envelope
// size (the cost of base64 and the header per request).
func BenchmarkSendEnvelope(b *testing.B) {
	p := maxPayload(LargeMaxEnvelopeSize, "http://ex01/PowerShell/", ResourceURIExchange)
	payload := bytes.Repeat([]byte{0xab}, p)
	h := header{To: "http://ex01/PowerShell/", Action: wsmv.ActionSend, MessageID: "uuid:X", ResourceURI: ResourceURIExchange,
		MaxEnvelopeSize: LargeMaxEnvelopeSize, SessionID: "uuid:Y", Timeout: 20 * time.Second, ShellID: goldenShell}
	b.SetBytes(int64(p))
	for b.Loop() {
		var sb strings.Builder
		writeEnvelope(&sb, h, sendBody("stdin", goldenCmd, payload))
	}
}

// BenchmarkReceiveResponse parses a full-size ReceiveResponse.
func BenchmarkReceiveResponse(b *testing.B) {
	data := bytes.Repeat([]byte("fragment"), LargeMaxEnvelopeSize/16)
	answer := soapAnswer(wsmv.NSShell+"/ReceiveResponse", reqID, `<rsp:ReceiveResponse>`+streams(goldenCmd, data)+`<rsp:CommandState CommandId="`+goldenCmd+`" State="`+wsmv.CommandStateDone+`"/></rsp:ReceiveResponse>`)
	b.SetBytes(int64(len(answer)))
	for b.Loop() {
		r, err := parseResponse(answer, reqID)
		if err != nil {
			b.Fatal(err)
		}
		if f := parseFault(answer); f != nil {
			b.Fatal("fault")
		}
		if _, _, err := r.received(goldenCmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal wraps and unwraps a full-size message through the
// multipart framing.
func BenchmarkSeal(b *testing.B) {
	msg := bytes.Repeat([]byte("<x/>"), LargeMaxEnvelopeSize/4)
	c, s := NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{}), NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{})
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		body, ct, err := c.Wrap(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Unwrap(ct, body); err != nil {
			b.Fatal(err)
		}
	}
}
