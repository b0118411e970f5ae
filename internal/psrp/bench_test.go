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
	type cas struct {
		Name                                 string
		Guid                                 string
		MAPIBlockOutlookRpcHttp              bool
		MAPIBlockOutlookExternalConnectivity bool
	}
	var e Encoder
	for i := range n {
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
		out = append(out, b)
	}
	return out
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
}
