package exchange

import (
	"strings"
	"unicode/utf8"
)

// isSingleQuote reports whether PowerShell's tokenizer treats r as a
// single quote: the ASCII apostrophe and the Unicode quotes ‘ ’ ‚ ‛.
func isSingleQuote(r rune) bool {
	switch r {
	case '\'', '\u2018', '\u2019', '\u201A', '\u201B':
		return true
	}
	return false
}

// Quote returns s as one PowerShell single-quoted string literal that
// evaluates to s: every single-quote character (' ‘ ’ ‚ ‛) is doubled,
// and nothing else is special inside single quotes (no $ expansion, no
// backtick escapes; newlines and NUL are literal). Quote("") is ”.
// Invalid UTF-8 becomes U+FFFD, as it would in the UTF-16 command line.
// Every value from data or config that goes into a script goes through
// Quote.
func Quote(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for _, r := range s {
		if isSingleQuote(r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// quoteList returns @('a','b') for a PowerShell array of strings (@() when
// empty), every element through Quote.
func quoteList(items []string) string {
	var b strings.Builder
	b.WriteString("@(")
	for i, s := range items {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Quote(s))
	}
	b.WriteString(")")
	return b.String()
}

// psBool is $true or $false.
func psBool(v bool) string {
	if v {
		return "$true"
	}
	return "$false"
}

// quoteOrNull is Quote(*s), or $null for nil.
func quoteOrNull(s *string) string {
	if s == nil {
		return "$null"
	}
	return Quote(*s)
}
