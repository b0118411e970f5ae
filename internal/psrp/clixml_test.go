package psrp

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// samplesDir holds real Exchange CLIXML samples (Export-Clixml files from
// microsoft/CSS-Exchange and one pypsrp test excerpt, both MIT); the
// SOURCES file beside them names each origin and commit.
const samplesDir = "testdata/samples"

func TestCLIXMLRoundTrip(t *testing.T) {
	key, err := SessionKeyFromBytes(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	g := uuid.MustParse("9b9387fe-1f2a-4c3b-8d4e-5f6a7b8c9d0e")
	enum := &Object{TypeNames: []string{"System.Security.AuthenticationLevel", "System.Enum", "System.ValueType", "System.Object"}, ToString: "Kerberos", Primitive: int32(2)}
	tests := []struct {
		name string
		v    Value
		xml  string // expected encoding, when checked
	}{
		{"nil", nil, `<Nil/>`},
		{"true", true, `<B>true</B>`},
		{"false", false, `<B>false</B>`},
		{"string", "abc", `<S>abc</S>`},
		{"empty string", "", `<S></S>`},
		{"markup", `a<b>&"c'`, `<S>a&lt;b&gt;&amp;"c'</S>`},
		{"crlf", "a\r\nb", `<S>a_x000D__x000A_b</S>`},
		{"tab and nul", "\t\x00", `<S>_x0009__x0000_</S>`},
		{"literal _x", "a_x0041_b", `<S>a_x005F_x0041_b</S>`},
		{"underscore alone", "a_b_", `<S>a_b_</S>`},
		{"surrogate pair", "😀", `<S>_xD83D__xDE00_</S>`},
		{"non-ascii", "RemotePowerShell§1", `<S>RemotePowerShell§1</S>`},
		{"FFFE", "\uFFFE", `<S>_xFFFE_</S>`},
		{"int8", int8(-5), `<SB>-5</SB>`},
		{"uint8", uint8(250), `<By>250</By>`},
		{"int16", int16(-300), `<I16>-300</I16>`},
		{"uint16", uint16(65535), `<U16>65535</U16>`},
		{"int32", int32(-2147483648), `<I32>-2147483648</I32>`},
		{"uint32", uint32(4294967295), `<U32>4294967295</U32>`},
		{"int64", int64(-9223372036854775808), `<I64>-9223372036854775808</I64>`},
		{"uint64", uint64(18446744073709551615), `<U64>18446744073709551615</U64>`},
		{"float32", float32(1.5), `<Sg>1.5</Sg>`},
		{"float64", 1e20, `<Db>1E+20</Db>`},
		{"float64 inf", math.Inf(-1), `<Db>-INF</Db>`},
		{"decimal", Decimal("12.50"), `<D>12.50</D>`},
		{"char", Char('a'), `<C>97</C>`},
		{"datetime offset", time.Date(2024, 1, 2, 3, 4, 5, 123456700, time.FixedZone("", 0)), `<DT>2024-01-02T03:04:05.1234567+00:00</DT>`},
		{"datetime negative offset", time.Date(2022, 10, 19, 18, 10, 53, 0, time.FixedZone("", -7*3600)), `<DT>2022-10-19T18:10:53-07:00</DT>`},
		{"datetime utc", time.Date(2022, 10, 31, 1, 1, 36, 0, time.UTC), `<DT>2022-10-31T01:01:36Z</DT>`},
		{"datetime unspecified", time.Date(1, 1, 1, 0, 0, 0, 0, UnspecifiedZone), `<DT>0001-01-01T00:00:00</DT>`},
		{"timespan", time.Hour + 2*time.Minute + 3500*time.Millisecond, `<TS>PT1H2M3.5S</TS>`},
		{"timespan negative", -(26 * time.Hour), `<TS>-P1DT2H</TS>`},
		{"timespan days", 48 * time.Hour, `<TS>P2D</TS>`},
		{"timespan zero", time.Duration(0), `<TS>PT0S</TS>`},
		{"timespan 100ns", 100 * time.Nanosecond, `<TS>PT0.0000001S</TS>`},
		{"guid", g, `<G>9b9387fe-1f2a-4c3b-8d4e-5f6a7b8c9d0e</G>`},
		{"bytes", []byte{1, 2, 3}, `<BA>AQID</BA>`},
		{"version", Version("2.3"), `<Version>2.3</Version>`},
		{"uri", URI("https://x/owa?a=1&b=2"), `<URI>https://x/owa?a=1&amp;b=2</URI>`},
		{"xml document", XMLDocument("<a/>"), `<XD>&lt;a/&gt;</XD>`},
		{"scriptblock", ScriptBlock("Get-Date"), `<SBK>Get-Date</SBK>`},
		{"enum", enum, `<Obj RefId="0"><TN RefId="0"><T>System.Security.AuthenticationLevel</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>Kerberos</ToString><I32>2</I32></Obj>`},
		{"list", &Object{TypeNames: []string{"System.Object[]", "System.Array", "System.Object"}, Kind: ListContainer, Items: []Value{"a", int32(1), nil}},
			`<Obj RefId="0"><TN RefId="0"><T>System.Object[]</T><T>System.Array</T><T>System.Object</T></TN><LST><S>a</S><I32>1</I32><Nil/></LST></Obj>`},
		{"empty list", &Object{Kind: ListContainer, Items: []Value{}}, `<Obj RefId="0"><LST/></Obj>`},
		{"ie", &Object{Kind: EnumContainer, Items: []Value{"x"}}, `<Obj RefId="0"><IE><S>x</S></IE></Obj>`},
		{"stack", &Object{Kind: StackContainer, Items: []Value{"x"}}, `<Obj RefId="0"><STK><S>x</S></STK></Obj>`},
		{"queue", &Object{Kind: QueueContainer, Items: []Value{"x"}}, `<Obj RefId="0"><QUE><S>x</S></QUE></Obj>`},
		{"dict", &Object{TypeNames: []string{"System.Collections.Hashtable", "System.Object"}, Kind: DictContainer, Entries: []Entry{{Key: "Add", Value: "a@b"}, {Key: "Remove", Value: nil}}},
			`<Obj RefId="0"><TN RefId="0"><T>System.Collections.Hashtable</T><T>System.Object</T></TN><DCT><En><S N="Key">Add</S><S N="Value">a@b</S></En><En><S N="Key">Remove</S><Nil N="Value"/></En></DCT></Obj>`},
		{"props and ms", &Object{
			TypeNames: []string{"Selected.X", "System.Object"}, ToString: "n",
			Adapted:  []Property{{"Name", "n"}, {"Weird Name_x", int32(1)}, {"Inner", &Object{TypeNames: []string{"Selected.X", "System.Object"}}}},
			Extended: []Property{{"Note", true}},
		}, `<Obj RefId="0"><TN RefId="0"><T>Selected.X</T><T>System.Object</T></TN><ToString>n</ToString><Props><S N="Name">n</S><I32 N="Weird Name_x005F_x">1</I32><Obj N="Inner" RefId="1"><TNRef RefId="0"/></Obj></Props><MS><B N="Note">true</B></MS></Obj>`},
		{"secure string", NewSecureString("P@ss w0rd"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MarshalCLIXML(tt.v, key)
			if err != nil {
				t.Fatal(err)
			}
			if tt.xml != "" && string(got) != tt.xml {
				t.Fatalf("encoded\n %s\nwant\n %s", got, tt.xml)
			}
			back, err := UnmarshalCLIXML(got, key)
			if err != nil {
				t.Fatalf("decode %s: %v", got, err)
			}
			if ss, ok := tt.v.(*SecureString); ok {
				bs, ok := back.(*SecureString)
				if !ok || bs.Plain() != ss.Plain() {
					t.Fatalf("secure string came back as %#v", back)
				}
				return
			}
			if tm, ok := tt.v.(time.Time); ok {
				bt := back.(time.Time)
				_, o1 := tm.Zone()
				_, o2 := bt.Zone()
				if !tm.Equal(bt) || o1 != o2 || (tm.Location() == time.UTC) != (bt.Location() == time.UTC) {
					t.Fatalf("time %v came back as %v", tm, bt)
				}
				return
			}
			if !reflect.DeepEqual(normalize(back), normalize(tt.v)) {
				t.Fatalf("round trip: got %#v, want %#v", back, tt.v)
			}
		})
	}
}

// normalize turns empty and nil slices alike for DeepEqual.
func normalize(v Value) Value {
	o, ok := v.(*Object)
	if !ok {
		return v
	}
	c := *o
	if len(c.Items) == 0 {
		c.Items = nil
	}
	if len(c.Entries) == 0 {
		c.Entries = nil
	}
	for i, it := range c.Items {
		c.Items[i] = normalize(it)
	}
	for i := range c.Adapted {
		c.Adapted[i].Value = normalize(c.Adapted[i].Value)
	}
	return &c
}

func TestCLIXMLRefs(t *testing.T) {
	shared := &Object{TypeNames: []string{"Microsoft.Exchange.Data.Directory.ADObjectId", "System.Object"}, ToString: "lab.test/Users/a"}
	root := &Object{Adapted: []Property{{"Identity", shared}, {"Id", shared}}}
	shared.Adapted = []Property{{"Self", shared}}
	b, err := MarshalCLIXML(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `<Ref N="Id" RefId="1"/>`) || !strings.Contains(string(b), `<Ref N="Self" RefId="1"/>`) {
		t.Fatalf("no Ref for the shared object: %s", b)
	}
	v, err := UnmarshalCLIXML(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*Object)
	id, _ := o.Get("Identity")
	id2, _ := o.Get("Id")
	if id.(*Object) != id2.(*Object) {
		t.Fatal("Ref did not resolve to the same *Object")
	}
	self, _ := id.(*Object).Get("Self")
	if self.(*Object) != id.(*Object) {
		t.Fatal("self-reference did not resolve to the object itself")
	}
}

func TestCLIXMLLexical(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Value
	}{
		{"pretty printed with BOM and namespace", "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">\n  <S>x</S>\n</Objs>\n", "x"},
		{"prefixed names", `<ps:S xmlns:ps="urn:x">y</ps:S>`, "y"},
		{"whitespace in S kept", "<S>  a \n</S>", "  a \n"},
		{"character references", `<S>&#65;&#x42;&lt;</S>`, "AB<"},
		{"cdata", `<S>a<![CDATA[<&>]]>b</S>`, "a<&>b"},
		{"comment inside", `<S>a<!-- c -->b</S>`, "ab"},
		{"lowercase escape", `<S>_x000d__x000a_</S>`, "\r\n"},
		{"lone surrogate", `<S>_xD83D_x</S>`, "\uFFFDx"},
		{"self-closing S", `<S N="a" />`, ""},
		{"nil with space", `<Nil N="x" />`, nil},
		{"B True", `<B>True</B>`, true},
		{"single-quoted attribute", `<Obj RefId='0'><ToString>t</ToString></Obj>`, &Object{ToString: "t"}},
		{"i64 enum", `<Obj RefId="0"><TN RefId="0"><T>E</T></TN><ToString>DynamicDistributionGroup</ToString><I64>2048</I64></Obj>`,
			&Object{TypeNames: []string{"E"}, ToString: "DynamicDistributionGroup", Primitive: int64(2048)}},
		{"tn without refid", `<Obj><TN><T>A</T></TN></Obj>`, &Object{TypeNames: []string{"A"}}},
		{"tnref across objects", `<Objs><Obj RefId="0"><TN RefId="0"><T>A</T></TN></Obj><Obj RefId="1"><TNRef RefId="0" /></Obj></Objs>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			vs, err := d.DecodeAll([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "tnref across objects" {
				if len(vs) != 2 || !reflect.DeepEqual(vs[1].(*Object).TypeNames, []string{"A"}) {
					t.Fatalf("got %#v", vs)
				}
				return
			}
			if len(vs) != 1 || !reflect.DeepEqual(vs[0], tt.want) {
				t.Fatalf("got %#v, want %#v", vs, tt.want)
			}
		})
	}
}

func TestCLIXMLBadInput(t *testing.T) {
	deep := strings.Repeat(`<Obj><LST>`, 100) + strings.Repeat(`</LST></Obj>`, 100)
	tests := []struct {
		name, in, want string
	}{
		{"empty", ``, "no CLIXML value"},
		{"unknown element", `<Foo>1</Foo>`, "unknown CLIXML element <Foo>"},
		{"unclosed", `<Obj RefId="0"><Props><S N="a">x</S>`, "ends inside <Props>"},
		{"mismatched", `<S>x</B>`, "</B> closes <S>"},
		{"bad int", `<I32>12a</I32>`, `<I32> holds "12a"`},
		{"int overflow", `<SB>300</SB>`, `<SB> holds "300"`},
		{"bad bool", `<B>yes</B>`, `<B> holds "yes"`},
		{"bad guid", `<G>nope</G>`, `<G> holds "nope"`},
		{"bad base64", `<BA>@@@</BA>`, "not base64"},
		{"bad datetime", `<DT>yesterday</DT>`, "want an xs:dateTime"},
		{"timespan with months", `<TS>P1M</TS>`, "years and months"},
		{"unknown ref", `<Obj RefId="0"><Props><Ref N="x" RefId="7"/></Props></Obj>`, `<Ref RefId="7"> names no object`},
		{"unknown tnref", `<Obj RefId="0"><TNRef RefId="3"/></Obj>`, `<TNRef RefId="3"> names no type list`},
		{"duplicate refid", `<Objs><Obj RefId="0"/><Obj RefId="0"/></Objs>`, "two objects with RefId 0"},
		{"too deep", deep, "nested deeper than 64"},
		{"text between elements", `<Obj RefId="0">hello</Obj>`, "unexpected text"},
		{"secure string without key", `<SS>AAAAAAAAAAAAAAAAAAAAAA==</SS>`, "session key"},
		{"unknown entity", `<S>&nbsp;</S>`, "unknown entity"},
		{"element in S", `<S><B>true</B></S>`, "unexpected child element"},
		{"dict entry without value", `<Obj RefId="0"><DCT><En><S N="Key">a</S></En></DCT></Obj>`, "without a Key and a Value"},
		{"two values to Decode", `<S>a</S><S>b</S>`, "holds 2 values"},
		{"unterminated tag", `<S N="a`, "unterminated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := UnmarshalCLIXML([]byte(tt.in), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	d := Decoder{MaxElements: 3}
	if _, err := d.Decode([]byte(`<Obj RefId="0"><LST><S>a</S><S>b</S><S>c</S></LST></Obj>`)); err == nil || !strings.Contains(err.Error(), "more than 3 elements") {
		t.Fatalf("element limit: %v", err)
	}
}

func TestCLIXMLEncodeErrors(t *testing.T) {
	if _, err := MarshalCLIXML(NewSecureString("x"), nil); err != ErrNoSessionKey {
		t.Fatalf("secure string without key: %v", err)
	}
	if _, err := MarshalCLIXML(struct{}{}, nil); err == nil || !strings.Contains(err.Error(), "cannot encode a Go struct {}") {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := MarshalCLIXML(&Object{Adapted: []Property{{"", 1}}}, nil); err == nil {
		t.Fatal("a property without a name encoded")
	}
}

func TestSamplesDecode(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(samplesDir, "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in %s: %v", samplesDir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d Decoder
			vs, err := d.DecodeAll(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) == 0 {
				t.Fatal("no values")
			}
			// What we decode we can encode, and decode again to the same shape.
			for _, v := range vs {
				b, err := MarshalCLIXML(v, nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := UnmarshalCLIXML(b, nil); err != nil {
					t.Fatalf("re-decode: %v", err)
				}
			}
		})
	}
	read := func(name string) []Value {
		data, err := os.ReadFile(filepath.Join(samplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		var d Decoder
		vs, err := d.DecodeAll(data)
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	srv := read("exchangeserver-e2019cu11-export-clixml.xml")[0].(*Object)
	if name, _ := srv.Get("Name"); name != "SOLO-E19A" {
		t.Errorf("ExchangeServer Name = %v", name)
	}
	wantTN := []string{
		"Microsoft.Exchange.Data.Directory.Management.ExchangeServer",
		"Microsoft.Exchange.Data.Directory.Management.ADPresentationObject",
		"Microsoft.Exchange.Data.Directory.ADObject",
		"Microsoft.Exchange.Data.Directory.ADRawEntry",
		"Microsoft.Exchange.Data.ConfigurableObject",
		"System.Object",
	}
	if !reflect.DeepEqual(srv.TypeNames, wantTN) {
		t.Errorf("ExchangeServer TN = %q", srv.TypeNames)
	}
	cert := read("exchangecertificate-e2019cu11-export-clixml.xml")[0].(*Object)
	raw, _ := cert.Get("RawData")
	if b, ok := raw.([]byte); !ok || len(b) == 0 {
		t.Errorf("ExchangeCertificate RawData = %T len %d", raw, len(b))
	}
	if !strings.Contains(cert.ToString, "[Subject]\r\n") {
		t.Errorf("certificate ToString lost its CR LF: %q", cert.ToString[:min(40, len(cert.ToString))])
	}
	x1 := read("adobjectid-circular-ref-pypsrp-test-excerpt.xml")[0].(*Object)
	if dom, ok := x1.Get("DomainId"); !ok || dom.(*Object) != x1 {
		t.Errorf("X1 DomainId is not the object itself: %#v", dom)
	}
}

// TestDecoderReuse decodes a sequence of documents with one Decoder, as a
// pipeline's receive loop does: the type chain a message repeats, RefIds
// beyond the decoder's small table, and the element limit still counted
// when a repeated <TN> is recognised instead of parsed.
func TestDecoderReuse(t *testing.T) {
	obj := func(tn, props string) string {
		return `<Obj RefId="0"><TN RefId="0">` + tn + `</TN><MS>` + props + `</MS></Obj>`
	}
	xy := `<T>X</T><T>Y</T>`
	steps := []struct {
		name    string
		doc     string
		types   []string
		prop    string // the value of property N, or the error
		wantErr bool
	}{
		{"first", obj(xy, `<S N="N">a</S>`), []string{"X", "Y"}, "a", false},
		{"same chain", obj(xy, `<S N="N">b</S>`), []string{"X", "Y"}, "b", false},
		{"longer chain, same start", obj(xy+`<T>Z</T>`, `<S N="N">c</S>`), []string{"X", "Y", "Z"}, "c", false},
		{"shorter chain again", obj(xy, `<S N="N">d</S>`), []string{"X", "Y"}, "d", false},
		{"whitespace in the chain", obj("<T>X</T>\n<T>Y</T>", `<S N="N">e</S>`), []string{"X", "Y"}, "e", false},
		{"escaped name", obj(`<T>A_x005F_xB</T>`, `<S N="N">f</S>`), []string{"A_xB"}, "f", false},
		{"large RefIds", `<Obj RefId="5000"><TN RefId="7000"><T>X</T></TN><MS><Obj N="Self" RefId="5001"><TNRef RefId="7000"/></Obj><Ref N="Back" RefId="5000"/><S N="N">g</S></MS></Obj>`, []string{"X"}, "g", false},
		{"repeated chain's RefId twice", `<Obj RefId="0"><TN RefId="0">` + xy + `</TN><MS><Obj N="O" RefId="1"><TN RefId="0">` + xy + `</TN></Obj></MS></Obj>`, nil, "two type lists with RefId 0", true},
		{"Ref to an object of an earlier message", `<Obj RefId="1"><MS><Ref N="N" RefId="0"/></MS></Obj>`, nil, "names no object seen before", true},
	}
	var d Decoder
	var kept []*Object
	for _, s := range steps {
		v, err := d.Decode([]byte(s.doc))
		if s.wantErr {
			if err == nil || !strings.Contains(err.Error(), s.prop) {
				t.Fatalf("%s: got %v, want an error with %q", s.name, err, s.prop)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		o := v.(*Object)
		if !reflect.DeepEqual(o.TypeNames, s.types) {
			t.Fatalf("%s: TypeNames %q, want %q", s.name, o.TypeNames, s.types)
		}
		if n, _ := o.Get("N"); n != s.prop {
			t.Fatalf("%s: N = %#v, want %q", s.name, n, s.prop)
		}
		kept = append(kept, o)
	}
	if back, _ := kept[len(kept)-1].Get("Back"); back != kept[len(kept)-1] {
		t.Fatalf("large RefId: Back is %#v", back)
	}
	// A caller's append to one object's properties leaves its neighbour's
	// alone, and earlier objects keep their values.
	kept[0].Extended = append(kept[0].Extended, Property{"Extra", "x"})
	for i, want := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		if n, _ := kept[i].Get("N"); n != want {
			t.Fatalf("object %d: N = %#v after more decoding, want %q", i, n, want)
		}
		if _, ok := kept[i].Get("Extra"); ok != (i == 0) {
			t.Fatalf("object %d: Extra present = %v", i, ok)
		}
	}

	// The element limit: the first document has 6 elements (Obj, TN, two
	// T, MS, S); the repeated chain counts its two T again.
	doc := obj(xy, `<S N="N">a</S>`)
	lim := Decoder{MaxElements: 6}
	for range 2 {
		if _, err := lim.Decode([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := lim.Decode([]byte(obj(xy, `<S N="N">a</S><S N="M">b</S>`))); err == nil || !strings.Contains(err.Error(), "more than 6 elements") {
		t.Fatalf("7 elements with a limit of 6: %v", err)
	}
	tight := Decoder{MaxElements: 4} // Obj, TN, T, MS
	if _, err := tight.Decode([]byte(obj(`<T>X</T>`, ``))); err != nil {
		t.Fatal(err)
	}
	// Obj, MS, Obj, TN and then the repeated chain's T: 5.
	if _, err := tight.Decode([]byte(`<Obj RefId="0"><MS><Obj N="A" RefId="1"><TN RefId="0"><T>X</T></TN></Obj></MS></Obj>`)); err == nil || !strings.Contains(err.Error(), "more than 4 elements") {
		t.Fatalf("a repeated chain past the limit: %v", err)
	}
}

// TestDecoderManyStrings keeps thousands of decoded objects, so their
// strings span many of the decoder's text blocks, and checks every one.
func TestDecoderManyStrings(t *testing.T) {
	var d Decoder
	var kept []*Object
	for i := range 3000 {
		long := strings.Repeat("v", i%600) // some beyond the block limit
		doc := fmt.Sprintf(`<Obj RefId="0"><TN RefId="0"><T>X</T></TN><ToString>%d%s</ToString><MS><S N="Name">user%d</S><S N="Long">%s</S></MS></Obj>`, i, long, i, long)
		v, err := d.Decode([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, v.(*Object))
	}
	for i, o := range kept {
		long := strings.Repeat("v", i%600)
		name, _ := o.Get("Name")
		l, _ := o.Get("Long")
		if name != fmt.Sprintf("user%d", i) || l != long || o.ToString != fmt.Sprint(i)+long {
			t.Fatalf("object %d: %q %q %q", i, name, l, o.ToString)
		}
	}
}
