package psrp

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"
)

const benchObjects = 100_000

var casTypes = []string{
	"Selected.Microsoft.Exchange.Data.Directory.Management.CASMailbox",
	"System.Management.Automation.PSCustomObject",
	"System.Object",
}

// casMailboxes returns n Select-Object-trimmed CASMailbox objects as the
// server sends them, one PIPELINE_OUTPUT data each: CLIXML (note
// properties in <MS>, as Select-Object makes them), or the same data as
// JSON.
func casMailboxes(tb testing.TB, n int, asJSON bool) (out [][]byte) {
	var e Encoder
	for i := range n {
		out = append(out, casMailbox(tb, &e, i, asJSON))
	}
	return out
}

// casMailbox returns mailbox i of casMailboxes.
func casMailbox(tb testing.TB, e *Encoder, i int, asJSON bool) []byte {
	type cas struct {
		Name                                 string
		Guid                                 string
		MAPIBlockOutlookRpcHttp              bool
		MAPIBlockOutlookExternalConnectivity bool
	}
	g := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d", i))
	name := fmt.Sprintf("user%06d", i)
	o := &Object{
		TypeNames: casTypes,
		ToString:  fmt.Sprintf("@{Name=%s; Guid=%s; MAPIBlockOutlookRpcHttp=False; MAPIBlockOutlookExternalConnectivity=%v}", name, g, i%2 == 0),
		Extended: []Property{
			{"Name", name},
			{"Guid", g},
			{"MAPIBlockOutlookRpcHttp", false},
			{"MAPIBlockOutlookExternalConnectivity", i%2 == 0},
		},
	}
	var b []byte
	var err error
	if asJSON {
		b, err = json.Marshal(cas{name, g.String(), false, i%2 == 0})
	} else {
		b, err = e.Encode(o)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkDecodeCASMailbox decodes 100,000 objects per op, keeping them
// all as a caller would.
func BenchmarkDecodeCASMailbox(b *testing.B) {
	data := casMailboxes(b, benchObjects, false)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var d Decoder
		out := make([]Value, 0, len(data))
		for _, m := range data {
			v, err := d.Decode(m)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, v)
		}
		if len(out) != benchObjects {
			b.Fatal("lost objects")
		}
	}
}

// BenchmarkReceiveCASMailbox is the client's real path for the same
// 100,000 objects: PIPELINE_OUTPUT messages (header, BOM, CLIXML) packed
// into 128 KiB fragment payloads as Receive responses carry them, then per
// payload Defragmenter.Feed, ParseMessage and DecodeBody with one Decoder,
// the output values kept, as Invocation.receive does minus the transport.
func BenchmarkReceiveCASMailbox(b *testing.B) {
	payloads := casMailboxPayloads(b, benchObjects)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var defrag Defragmenter
		var d Decoder
		out := make([]Value, 0, benchObjects)
		for _, p := range payloads {
			msgs, err := defrag.Feed(p)
			if err != nil {
				b.Fatal(err)
			}
			for _, raw := range msgs {
				m, err := ParseMessage(raw)
				if err != nil {
					b.Fatal(err)
				}
				body, err := DecodeBody(&d, m)
				if err != nil {
					b.Fatal(err)
				}
				po, ok := body.(PipelineOutput)
				if !ok {
					b.Fatalf("got %T", body)
				}
				out = append(out, po.Value)
			}
		}
		if len(out) != benchObjects {
			b.Fatal("lost objects")
		}
	}
}

// casMailboxPayloads returns n CASMailbox objects as PIPELINE_OUTPUT
// messages in fragment payloads of at most 128 KiB. It fragments the
// messages one payload's worth at a time, so the process never holds the
// data several times over and the benchmark's peak RSS is the decoding's
// rather than the setup's.
func casMailboxPayloads(tb testing.TB, n int) (payloads [][]byte) {
	const maxPayload = 128 << 10
	rpid, pid := uuid.New(), uuid.New()
	var e Encoder
	var ids ObjectIDs
	var msgs [][]byte
	size := 0
	flush := func() {
		p, err := Fragment(&ids, maxPayload, msgs...)
		if err != nil {
			tb.Fatal(err)
		}
		payloads = append(payloads, p...)
		msgs, size = msgs[:0], 0
	}
	for i := range n {
		data := casMailbox(tb, &e, i, false)
		m := Message{Destination: ToClient, Type: MsgPipelineOutput, RPID: rpid, PID: pid, Data: append(append([]byte{}, utf8BOM...), data...)}
		raw := m.Marshal()
		if size+FragmentHeaderLen+len(raw) > maxPayload {
			flush()
		}
		msgs = append(msgs, raw)
		size += FragmentHeaderLen + len(raw)
	}
	if len(msgs) > 0 {
		flush()
	}
	return payloads
}

// BenchmarkDecodeCASMailboxJSONMap is the baseline: the same data as JSON,
// decoded by encoding/json into generic maps.
func BenchmarkDecodeCASMailboxJSONMap(b *testing.B) {
	data := casMailboxes(b, benchObjects, true)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out := make([]map[string]any, 0, len(data))
		for _, m := range data {
			var v map[string]any
			if err := json.Unmarshal(m, &v); err != nil {
				b.Fatal(err)
			}
			out = append(out, v)
		}
	}
}

// BenchmarkDecodeCASMailboxJSONStruct decodes the JSON into a struct, the
// fastest encoding/json can do.
func BenchmarkDecodeCASMailboxJSONStruct(b *testing.B) {
	type cas struct {
		Name                                 string
		Guid                                 uuid.UUID
		MAPIBlockOutlookRpcHttp              bool
		MAPIBlockOutlookExternalConnectivity bool
	}
	data := casMailboxes(b, benchObjects, true)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		out := make([]cas, len(data))
		for i, m := range data {
			if err := json.Unmarshal(m, &out[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func TestCASMailboxBenchData(t *testing.T) {
	data := casMailboxes(t, 2, false)
	var d Decoder
	v, err := d.Decode(data[1])
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	if n, _ := o.Get("Name"); n != "user000001" || len(o.TypeNames) != 3 {
		t.Fatalf("got %#v", o)
	}
	if _, ok := o.Get("Guid"); !ok {
		t.Fatal("no Guid")
	}

	// The real path's data: every message comes back out of the payloads
	// as the same object.
	var defrag Defragmenter
	var got []Value
	for _, p := range casMailboxPayloads(t, 3) {
		msgs, err := defrag.Feed(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range msgs {
			m, err := ParseMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			body, err := DecodeBody(&d, m)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, body.(PipelineOutput).Value)
		}
	}
	if len(got) != 3 {
		t.Fatalf("got %d messages, want 3", len(got))
	}
	if n, _ := got[1].(*Object).Get("Name"); n != "user000001" {
		t.Fatalf("message 1 holds %#v", got[1])
	}
}
