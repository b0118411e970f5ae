package exchange

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// readSingleQuoted is a reference tokenizer for PowerShell's single-quoted
// string literal starting at src[0]: a single-quote character (' ‘ ’ ‚ ‛)
// ends the literal unless the next character is also a single quote, in
// which case the pair stands for the second one. It returns the value and
// the number of bytes the token takes, or ok=false if it is unterminated.
func readSingleQuoted(src string) (val string, n int, ok bool) {
	r, size := utf8.DecodeRuneInString(src)
	if !isSingleQuote(r) {
		return "", 0, false
	}
	i := size
	var b strings.Builder
	for i < len(src) {
		c, cs := utf8.DecodeRuneInString(src[i:])
		i += cs
		if isSingleQuote(c) {
			next, ns := utf8.DecodeRuneInString(src[i:])
			if i < len(src) && isSingleQuote(next) {
				b.WriteRune(next)
				i += ns
				continue
			}
			return b.String(), i, true
		}
		b.WriteRune(c)
	}
	return "", 0, false
}

func TestQuote(t *testing.T) {
	cases := map[string]string{
		"":            "''",
		"abc":         "'abc'",
		"O'Brien":     "'O''Brien'",
		"‘x’":         "'‘‘x’’'",
		"‚‛":          "'‚‚‛‛'",
		"$(calc)`n\"": "'$(calc)`n\"'",
		"a\nb\x00":    "'a\nb\x00'",
		"'":           "''''",
	}
	for in, want := range cases {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
		v, n, ok := readSingleQuoted(Quote(in))
		if !ok || n != len(Quote(in)) || v != in {
			t.Errorf("Quote(%q) reads back as %q (n=%d ok=%v)", in, v, n, ok)
		}
	}
	if got := Quote("a\xffb"); got != "'a\uFFFDb'" {
		t.Errorf("invalid UTF-8: %q", got)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "'", "‘’‚‛", "x'; Remove-Mailbox * -Confirm:$false; '", "$(Get-Date)", "`'`", "\x00\r\n", "@'\n'@", "\"", "''''"} {
		f.Add(s, "tail")
	}
	f.Fuzz(func(t *testing.T, s, tail string) {
		q := Quote(s)
		want := s
		if !utf8.ValidString(s) {
			want = strings.ToValidUTF8(s, "\uFFFD")
		}
		// ONE token: the literal ends exactly where Quote's output ends,
		// even with arbitrary text after it, and decodes to the input.
		v, n, ok := readSingleQuoted(q + " " + tail)
		if !ok || n != len(q) || v != want {
			t.Fatalf("Quote(%q) = %q: token of %d bytes (ok=%v) reading %q", s, q, n, ok, v)
		}
	})
}
