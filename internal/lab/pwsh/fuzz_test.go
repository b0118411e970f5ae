package pwsh

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	`'it''s'`, `"a$($x)b"`, "@'\nx\n'@", "@\"\n$a\n\"@", `$a = 1,2,3; $a | ConvertTo-Json -Compress`,
	`Get-Mailbox -ResultSize Unlimited | select alias`, `if ($x) { 1 } elseif ($y) { 2 } else { 3 }`,
	`foreach ($i in 1,2) { $i }`, `for ($i=0; $i -lt 3; $i++) { }`, `try { throw 'x' } catch [System.Exception] { $_ } finally { }`,
	`[pscustomobject]@{a=1; 'b'=@(1,2); c=@{d=$null}}`, `$x.Prop.Sub[0].Method('a', 2)`, `[Console]::In.ReadLine()`,
	`,@($r) | ConvertTo-Json -Depth 3`, `-not $a -and !$b -or $c`, `"$a:"`, `${weird name}`, `'‘’‚‛'`, `“x”„`,
	"<# c #> 'a' # d", "'a' +`\n'b'", `Get-Foo -Name:$false -Force @splat`, `$h['k'] += 1`, `[int[]]$x`,
	`@{`, `"$(`, `$(`, `[`, `'`, `"`, `@'`, `{`, `(`, `-`, `$`, `@`, `$x.`, `1e`, `0x`, `[string`,
}

// FuzzParse checks that parsing never panics and that accepted scripts
// keep parsing identically.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	for _, c := range semanticsCases {
		f.Add(c.script)
	}
	f.Fuzz(func(t *testing.T, src string) {
		body, err := parseScript(src)
		if err == nil && body == nil {
			t.Fatal("nil body without error")
		}
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok {
				t.Fatalf("error of type %T", err)
			}
			if pe.Ext.line < 1 || pe.Ext.col < 1 {
				t.Fatalf("bad position %+v for %q", pe.Ext, src)
			}
		}
	})
}

// FuzzStringLiteral checks single-quoted literal round trips: doubling every
// single-quote character (ASCII and Unicode) yields a literal whose value is
// the original text — the quoting rule the Exchange scripts rely on.
func FuzzStringLiteral(f *testing.F) {
	for _, s := range []string{"", "plain", "it's", "‘’‚‛", "a$(b)`c", "\"x\"", "line\nbreak", "@'", "'@\n", "é ü ß", "$env:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		var b strings.Builder
		b.WriteByte('\'')
		for _, r := range s {
			if isSingleQuote(r) {
				b.WriteRune(r)
			}
			b.WriteRune(r)
		}
		b.WriteByte('\'')
		p := &parser{src: []rune(b.String())}
		p.lineStarts = []int{0}
		e, err := p.primary()
		if err != nil {
			t.Fatalf("%q: %v", b.String(), err)
		}
		c, ok := e.(*constExpr)
		if !ok || c.v != s || p.i != len(p.src) {
			t.Fatalf("%q parsed as %#v (consumed %d of %d)", b.String(), e, p.i, len(p.src))
		}
	})
}

// FuzzRun runs arbitrary scripts with a short deadline: the interpreter must
// never panic, whatever it is given.
func FuzzRun(f *testing.F) {
	for _, c := range semanticsCases {
		f.Add(strings.ReplaceAll(c.script, "§", "`"))
	}
	h := testHost(f, 3, nil, nil)
	f.Fuzz(func(t *testing.T, src string) {
		if strings.Contains(strings.ToLower(src), "sleep") || strings.Contains(strings.ToLower(src), "get-many") {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		h.RunScript(ctx, src, strings.NewReader("a\nb\n"), io.Discard, io.Discard)
	})
}
