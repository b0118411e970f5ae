package pwsh

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// The -f operator, [char] and [regex]::Replace with a MatchEvaluator
// script block: each script and the stdout Windows PowerShell 5.1 prints.
var formatRegexCases = []semanticsCase{
	// --- -f (String.Format) ---
	{`'{0}-{1}' -f 'a', 'b'`, `a-b`},
	{`'{1}{0}' -f 'a', 'b'`, `ba`},
	{`$a = 1, 2; '{0} {1}' -f $a`, `1 2`}, // an array's elements are the arguments
	{`'{0:x4}' -f 255`, `00ff`},
	{`'{0:X}' -f 255`, `FF`},
	{`'{0:x}' -f -1`, `ffffffff`},              // Int32: 32-bit two's complement
	{`'{0:x}' -f 4294967296`, `100000000`},     // Int64
	{`'{0:d5}' -f 42`, `00042`},                // zero-padded
	{`'{0:D3}' -f -7`, `-007`},                 // sign before the padding
	{`'{{{0}}}' -f 1`, `{1}`},                  // {{ and }} are braces
	{`'[{0,5}]' -f 'ab'`, `[   ab]`},           // right-aligned
	{`'[{0,-5}]' -f 'ab'`, `[ab   ]`},          // left-aligned
	{`'{0:x4}' -f 'abc'`, `abc`},               // String is not IFormattable: the specifier is ignored
	{`'{0:x4}' -f [char]'A'`, `A`},             // nor is Char
	{`'<{0}>' -f $null`, `<>`},                 // $null formats as nothing
	{`'{0}' -f 1.5`, `1.5`},                    // Double.ToString()
	{`'{0}' -f 1 + 1`, `11`},                   // -f binds tighter than +
	{`'{0}' -f 2 * 3`, `222`},                  // and tighter than *
	{`'\u{0:x4}' -f 23665`, `\u5c71`},          // the JSON escape of 山
	{`"{0}!" -f 'x'`, `x!`},                    // a double-quoted string without expansions is a literal
	{`[string]::Join(',', ('{0}' -f 7))`, `7`}, // -f inside method arguments
	// --- [char] ---
	{`[int][char]'A'`, `65`},
	{`[char]65`, `A`},
	{`[int][char]'山'`, `23665`},
	{`[int][char]'ë'`, `235`},
	{`[char]'a' -eq 'A'`, `True`},
	{`[char]'a' -ceq 'A'`, `False`},
	{`[char]'x' -is [char]`, `True`},
	{`[int][char]$null`, `0`},
	{`[char]'q' | ConvertTo-Json`, `"q"`},
	// --- [regex]::Replace with a MatchEvaluator ---
	{`[regex]::Replace('abc', 'b', { param($m) $m.Value.ToUpper() })`, `aBc`},
	{`[regex]::Replace('a1b22', '\d+', { param($m) '<' + $m.Value + '>' })`, `a<1>b<22>`},
	{`[regex]::Replace('xax', 'a', { param($m) $m.Index })`, `x1x`},
	{`[regex]::Replace('abc', 'x', { param($m) 'y' })`, `abc`},
	{`[regex]::Replace('abc', 'B', { param($m) 'y' })`, `abc`}, // case-sensitive
	{`[regex]::Replace('ab', '.', { $args[0].Value + '!' })`, `a!b!`},
	{`[regex]::Replace('ab', '.', { param($m) })`, ``},            // no output: ''
	{`[regex]::Replace('ab', '.', { param($m) 1, 2 })`, `1 21 2`}, // an array joins with $OFS
	{`[regex]::Replace('ab', '.', { param($m) "$m" })`, `ab`},     // a Match renders as its Value
	{`[regex]::Replace('ab', '.', { param($m, $x) [string]($null -eq $x) })`, `TrueTrue`},
	{`$n = 0; [regex]::Replace('aa', 'a', { param($m) $n = 5; 'b' }); $n`, "bb\n0"}, // a child scope
	{`$n = 3; [regex]::Replace('aa', 'a', { param($m) $n })`, `33`},                 // that reads its parent's
	{`$l = @(); $l += 1; [regex]::Replace('a', 'a', { param($m) $l += 2; $l.Count }); $l.Count`, "2\n1"},
	{`[regex]::Replace('a', 'a', { param($m) return 'r'; 'x' })`, `r`},
	{`[regex]::Replace(12, '1', { param($m) 'x' })`, `x2`},           // the input converts to string
	{`"<$([regex]::Replace($null, 'a', { param($m) 'x' }))>"`, `<>`}, // $null passes to a string parameter as ''
	{`[regex]::Replace('ab', $null, { param($m) '-' })`, `-a-b-`},    // an empty pattern matches between characters
	// UTF-16 code units, as .NET matches them
	{`[regex]::Replace('a😀', '.', { param($m) $m.Length })`, `111`},
	{`[regex]::Replace('😀x', '[^\x00-\x7E]', { param($m) $m.Value })`, `😀x`}, // the halves rejoin
	{`[regex]::Replace('😀x', 'x', { param($m) $m.Index })`, `😀2`},
	{`[regex]::Replace('Zoë', '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })`, `Zo\u00eb`},
	{`[regex]::Replace('山田', '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })`, `\u5c71\u7530`},
	{`[regex]::Replace('a😀b', '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })`, `a\ud83d\ude00b`},
	{"[regex]::Replace((@{n = \"Zo\u00eb \u2018q\u2019 \u00c5\"} | ConvertTo-Json -Compress), '[^\\x00-\\x7E]', { param($m) '\\u{0:x4}' -f [int][char]$m.Value })",
		`{"n":"Zo\u00eb \u2018q\u2019 \u00c5"}`},
	{`[regex]::Replace("a$([char]127)", '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })`, `a\u007f`},
	{`'😀'[0].Length`, `1`}, // a lone surrogate is one unit
}

func TestFormatRegexSemantics(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	for _, c := range formatRegexCases {
		r := run(h, c.script, "")
		if got := norm(r.out); got != c.want || r.err != "" {
			t.Errorf("%s\n got: %q\nwant: %q\nstderr: %s", c.script, got, c.want, clixmlText(r.err, "Error"))
		}
	}
}

// The escaping expression gives pure ASCII, so an OEM code page loses
// nothing, while the raw text is corrupted.
func TestEscapedJSONSurvivesCodePage(t *testing.T) {
	for _, cp := range []int{437, 850} {
		h := testHost(t, 3, nil, nil)
		h.opts.CodePage = cp
		names := "Zo\u00eb \u00c5ngstr\u00f6m \u5c71\u7530 \u2018q\u2019 \U0001F600"
		script := `$r = [pscustomobject]@{ n = "` + names + `" }
[regex]::Replace((ConvertTo-Json -InputObject $r -Compress), '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })
ConvertTo-Json -InputObject $r -Compress`
		r := run(h, script, "")
		lines := strings.Split(norm(r.out), "\n")
		if r.err != "" || len(lines) != 2 {
			t.Fatalf("cp%d: out %q err %s", cp, r.out, clixmlText(r.err, "Error"))
		}
		if want := `{"n":"Zo\u00eb \u00c5ngstr\u00f6m \u5c71\u7530 \u2018q\u2019 \ud83d\ude00"}`; lines[0] != want {
			t.Errorf("cp%d escaped: %q, want %q", cp, lines[0], want)
		}
		if strings.Contains(lines[1], "\u5c71") || !strings.Contains(lines[1], "?") {
			t.Errorf("cp%d: the raw JSON should have lost 山田 to '?': %q", cp, lines[1])
		}
	}
}

func TestFormatRegexErrors(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	cases := []struct{ script, msg string }{
		{`'{1}' -f 'a'`, "Error formatting a string: Index (zero based) must be greater than or equal to zero and less than the size of the argument list.."},
		{`'{0' -f 1`, "Error formatting a string: Input string was not in a correct format.."},
		{`'a}' -f 1`, "Error formatting a string: Input string was not in a correct format.."},
		{`'{0:x}' -f 1.5`, "Error formatting a string: Format specifier was invalid.."},
		{`[char]'ab'`, `Cannot convert value "ab" to type "System.Char". Error: "String must be exactly one character long."`},
		{`[char]'😀'`, `Cannot convert value "😀" to type "System.Char". Error: "String must be exactly one character long."`},
		{`[char]70000`, `Cannot convert value "70000" to type "System.Char". Error: "Value was either too large or too small for a character."`},
		{`[regex]::Replace('a', 'a', { param($m) throw 'boom' })`, `Exception calling "Replace" with "3" argument(s): "boom"`},
		{`[regex]::Replace('a', 'a', { param($m) [char]'ab' })`, `Exception calling "Replace" with "3" argument(s): "Cannot convert value "ab" to type "System.Char". Error: "String must be exactly one character long.""`},
		{`[regex]::Replace('a', '(', { param($m) 'x' })`, `Exception calling "Replace" with "3" argument(s): "parsing "(" - `},
	}
	for _, c := range cases {
		r := run(h, c.script, "")
		if text := clixmlText(r.err, "Error"); !strings.Contains(text, c.msg) || r.code != 1 || r.out != "" {
			t.Errorf("%s: want error %q, got out %q code %d:\n%s", c.script, c.msg, r.out, r.code, text)
		}
	}
	// an error inside the evaluator ends the call even when errors continue
	r := run(h, `$ErrorActionPreference = 'Continue'; [regex]::Replace('ab', '.', { param($m) [char]'xy'; 'z' }); 'after'`, "")
	if norm(r.out) != "after" || !strings.Contains(clixmlText(r.err, "Error"), `Exception calling "Replace"`) {
		t.Errorf("statement-terminating evaluator error: out %q err %s", r.out, clixmlText(r.err, "Error"))
	}
}

func TestParseComposite(t *testing.T) {
	cases := []struct {
		f, out string
		bad    bool
	}{
		{"a{0}b", "a[0]b", false},
		{"{0,3:x2}", "[0,3,x2]", false},
		{"{ 0}", "", true},
		{"{0 , -2}", "[0,-2]", false},
		{"{{}}", "{}", false},
		{"{", "", true},
		{"}", "", true},
		{"{0:x{}", "", true},
		{"{a}", "", true},
	}
	for _, c := range cases {
		var b strings.Builder
		err := parseComposite(c.f, func(s string) { b.WriteString(s) }, func(it formatItem) error {
			b.WriteString("[" + itoa(it.index))
			if it.align != 0 {
				b.WriteString("," + itoa(it.align))
			}
			if it.spec != "" {
				b.WriteString("," + it.spec)
			}
			b.WriteString("]")
			return nil
		})
		if (err != nil) != c.bad || (!c.bad && b.String() != c.out) {
			t.Errorf("%q: got %q err %v", c.f, b.String(), err)
		}
	}
}

func itoa(n int) string { return ToString(int64(n)) }

func TestUTF16Strings(t *testing.T) {
	for _, s := range []string{"", "abc", "Zo\u00eb", "\u5c71\u7530", "a\U0001F600b", "\xed\xa0\xbd", "\xed\xb8\x80x"} {
		if got := utf16ToString(utf16Units(s)); got != s {
			t.Errorf("round trip %q: %q", s, got)
		}
	}
	u := utf16Units("\U0001F600")
	if len(u) != 2 || utf16ToString(u[:1]) != "\xed\xa0\xbd" || utf16ToString(u[1:]) != "\xed\xb8\x80" {
		t.Errorf("halves of a pair: %x", u)
	}
	if utf16ToString(append(utf16Units("\xed\xa0\xbd"), utf16Units("\xed\xb8\x80")...)) != "\U0001F600" {
		t.Error("halves do not rejoin")
	}
	if got := utf16Units("a\xffb"); len(got) != 3 || got[1] != 0xFFFD {
		t.Errorf("invalid byte: %x", got)
	}
}

func FuzzFormat(f *testing.F) {
	for _, s := range []string{"{0}", "{0:x4}", "{{}}", "{0,-3}", "{1}", "a{0:d2}b", "{", "}"} {
		f.Add(s, int64(5))
	}
	h := NewHost(HostOptions{})
	f.Fuzz(func(t *testing.T, format string, n int64) {
		s := newSession(h, t.Context(), nil, &strings.Builder{}, &strings.Builder{})
		v, err := s.format(format, &Array{Items: []Value{n, "s"}}, extent{})
		if err == nil {
			if _, ok := v.(string); !ok {
				t.Fatalf("%q: %T", format, v)
			}
		}
	})
}

// BenchmarkEscapeJSON runs the scripts' ASCII escaping over ~2 MB and
// ~20 MB of JSON (one name in 20 non-ASCII, as in the lab's 100k-mailbox
// org): ns/B stays flat when the escaping is linear.
func BenchmarkEscapeJSON(b *testing.B) {
	for _, rows := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString(`{"m":[`)
			for i := 0; i < rows; i++ {
				name := fmt.Sprintf("User Number %06d", i)
				if i%20 == 0 {
					name = fmt.Sprintf("Zo\u00eb \u5c71\u7530 %06d", i)
				}
				fmt.Fprintf(&sb, `{"g":"%08d-0000-4000-8000-000000000000","a":"user%06d","n":"%s","s":"user%06d@contoso.test","t":"UserMailbox"},`, i, i, name, i)
			}
			sb.WriteString(`{}]}`)
			json := sb.String()
			h := NewHost(HostOptions{CodePage: 437})
			script := `[regex]::Replace($input0, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value })`
			body, err := parseScript(script)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(json)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var out countingWriter
				s := newSession(h, context.Background(), nil, &oemWriter{w: &out, cm: codePage(437)}, io.Discard)
				s.vars["input0"] = &variable{v: json}
				if err := s.runBody(body, s.outDefault); err != nil {
					b.Fatal(err)
				}
				s.out.Flush()
				if out.n < len(json) {
					b.Fatalf("%d bytes out of %d", out.n, len(json))
				}
			}
		})
	}
}
