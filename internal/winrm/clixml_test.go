package winrm

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const objsOpen = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"

func TestDecodeCLIXML(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		msg      string
		details  int
		warnings []string
	}{
		{"empty", "", "", 0, nil},
		{"full record", clixmlErr, "Set-CASMailbox : The operation couldn't be performed because object 'x' couldn't be found.", 4,
			[]string{"By default, only the first 1000 items are returned."}},
		{"plain text stderr", "something broke\r\nbadly\r\n", "something broke\nbadly", 0, nil},
		{"escapes", objsOpen + "<S S=\"Error\">tab_x0009_quote_x0022_ under_x005F_x0041_ smile_xD83D__xDE00_ &lt;&amp;&gt;_x000D__x000A_</S></Objs>",
			"tab\tquote\" under_x0041_ smile😀 <&>", 0, nil},
		{"two errors", objsOpen + "<S S=\"Error\">first_x000D__x000A_</S><S S=\"Error\">    + CategoryInfo : X_x000D__x000A_</S><S S=\"Error\">second_x000D__x000A_</S></Objs>",
			"first\nsecond", 1, nil},
		{"progress and verbose ignored", objsOpen + "<Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T></TN><MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>Preparing modules for first use.</AV></PR></MS></Obj><S S=\"verbose\">v</S><S S=\"Warning\">WARNING: w1</S></Objs>",
			"", 0, []string{"w1"}},
		{"two blocks", objsOpen + "<S S=\"warning\">a</S></Objs>\r\n" + objsOpen + "<S S=\"Error\">b_x000A_</S></Objs>", "b", 0, []string{"a"}},
		{"truncated", objsOpen + "<S S=\"Error\">cut off", "cut off", 0, nil},
		{"only details", objsOpen + "<S S=\"Error\">At line:1 char:1_x000A_</S></Objs>", "At line:1 char:1", 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			et, w := DecodeCLIXML(tc.in)
			if et.Message != tc.msg {
				t.Errorf("message %q, want %q", et.Message, tc.msg)
			}
			if len(et.Details) != tc.details {
				t.Errorf("details %q, want %d", et.Details, tc.details)
			}
			if !reflect.DeepEqual(w, tc.warnings) {
				t.Errorf("warnings %q, want %q", w, tc.warnings)
			}
		})
	}
}

func TestDecodeEscapesLeavesNonEscapesAlone(t *testing.T) {
	for in, want := range map[string]string{
		"_x":         "_x",
		"_x00_":      "_x00_",
		"_xZZZZ_":    "_xZZZZ_",
		"a_x0041_b":  "aAb",
		"_xD83D_":    "\uFFFD", // lone surrogate
		"plain_text": "plain_text",
	} {
		if got := decodeEscapes(in); got != want {
			t.Errorf("decodeEscapes(%q) = %q, want %q", in, got, want)
		}
	}
}

// encodeEscapes is PowerShell's side of the _xHHHH_ convention, for the
// fuzz round trip.
func encodeEscapes(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '_':
			b.WriteString("_x005F_")
		case r < 0x20:
			b.WriteString("_x00")
			b.WriteByte("0123456789ABCDEF"[r>>4])
			b.WriteByte("0123456789ABCDEF"[r&15])
			b.WriteByte('_')
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func FuzzDecodeCLIXML(f *testing.F) {
	f.Add(clixmlErr, "message")
	f.Add(objsOpen+"<S S=\"Error\">x</S>", "y_x000D_")
	f.Add("#< CLIXML", "")
	f.Add("<Objs><S S=\"Error\">_xD800__x0041_</S></Objs>#< CLIXML<", "‘’")
	f.Fuzz(func(t *testing.T, raw, msg string) {
		// Arbitrary input must never panic, and the output is valid text.
		et, w := DecodeCLIXML(raw)
		for _, l := range append(append([]string{et.Message}, et.Details...), w...) {
			if !utf8.ValidString(l) && utf8.ValidString(raw) {
				t.Fatalf("invalid UTF-8 %q from valid input", l)
			}
		}
		// A well-formed record round-trips to its message.
		if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\r\n\t\v\f\x00") {
			return
		}
		m := strings.TrimSpace(msg)
		if m == "" || isDetailLine(m) || strings.ContainsRune(m, utf8.RuneError) || hasInvalidXMLRune(m) {
			return
		}
		in := objsOpen + "<S S=\"Error\">" + encodeEscapes(m) + "_x000D__x000A_</S></Objs>"
		et, _ = DecodeCLIXML(in)
		if et.Message != m {
			t.Fatalf("round trip of %q gave %q", m, et.Message)
		}
	})
}

func hasInvalidXMLRune(s string) bool {
	for _, r := range s {
		if r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') {
			return true
		}
		if r >= 0x7F && r <= 0x9F {
			// encoding/xml accepts these, but keep the round trip to
			// printable text
			return true
		}
	}
	return false
}
