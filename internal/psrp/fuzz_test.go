package psrp

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"
)

func FuzzDefragment(f *testing.F) {
	var ids ObjectIDs
	p, _ := Fragment(&ids, 64, bytes.Repeat([]byte("m"), 200), []byte("short"))
	for _, s := range p {
		f.Add(s)
	}
	f.Add(append(frag(1, 0, FlagStart, "a"), frag(1, 1, FlagEnd, "b")...))
	f.Add(frag(1, 0, 0xFF, "x"))
	f.Fuzz(func(t *testing.T, payload []byte) {
		d := Defragmenter{MaxMessageSize: 1 << 16, MaxBuffered: 1 << 16}
		msgs, err := d.Feed(payload)
		total := 0
		for _, m := range msgs {
			total += len(m)
		}
		if total > len(payload) {
			t.Fatalf("%d message bytes out of a %d-byte payload", total, len(payload))
		}
		if err == nil && d.buffered > d.MaxBuffered {
			t.Fatalf("buffered %d over the limit", d.buffered)
		}
	})
}

func FuzzDecodeCLIXML(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(samplesDir, "*.xml"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	for _, s := range []string{
		`<Obj RefId="0"><TN RefId="0"><T>A</T></TN><ToString>x</ToString><I32>2</I32><Props><S N="a">_x000D_</S><Ref N="b" RefId="0"/></Props></Obj>`,
		`<Obj RefId="0"><DCT><En><S N="Key">k</S><Nil N="Value"/></En></DCT></Obj>`,
		`<TS>-P1DT2H3M4.5S</TS>`, `<DT>2024-01-02T03:04:05.1234567+00:00</DT>`, `<S>a<![CDATA[b]]>&amp;</S>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := Decoder{MaxElements: 10000}
		vs, err := d.DecodeAll(data)
		if err != nil {
			return
		}
		for _, v := range vs {
			b, err := MarshalCLIXML(v, nil)
			if err != nil {
				continue // e.g. a Primitive that is an object: decodable, not re-encodable
			}
			if _, err := UnmarshalCLIXML(b, nil); err != nil {
				t.Fatalf("re-decode of %s: %v", b, err)
			}
		}
	})
}

func FuzzDecodeMessage(f *testing.F) {
	rpid := uuid.MustParse("11111111-2222-3333-4444-555555555555")
	for _, b := range []Body{
		PipelineState{State: PipelineFailed, Error: &ErrorRecord{Message: "boom", FullyQualifiedErrorID: "X", Category: "NotSpecified"}},
		RunspacePoolState{State: RunspacePoolOpened},
		SessionCapability{ProtocolVersion: "2.3", PSVersion: "2.0", SerializationVersion: "1.1.0.1"},
		InformationalRecord{Kind: MsgWarningRecord, Message: "careful"},
	} {
		m, err := NewMessage(ToClient, rpid, uuid.Nil, b, nil)
		if err == nil {
			f.Add(m.Marshal())
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(data)
		if err != nil {
			return
		}
		d := Decoder{MaxElements: 10000}
		_, _ = DecodeBody(&d, m)
	})
}
