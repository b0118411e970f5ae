package dnstext

import "testing"

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"v=spf1 -all", `"v=spf1 -all"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"tab\there", `"tab\009here"`},
		{"\x7f\xff", `"\127\255"`},
		{"é", `"\195\169"`},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`plain`: "plain", `a\"b`: `a"b`, `a\\b`: `a\b`, `\001x`: "\x01x", `\255`: "\xff", `\999`: "999", `end\`: `end\`} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRoundTrip: whatever bytes a value holds, Unescape reads back what
// Quote wrote (between its quotes).
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", "plain", `a"b\c`, "\x00\x1f\x7f\xff", `\123`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		if len(q) < 2 || q[0] != '"' || q[len(q)-1] != '"' {
			t.Fatalf("Quote(%q) = %s: not quoted", s, q)
		}
		if got := Unescape(q[1 : len(q)-1]); got != s {
			t.Fatalf("Unescape(Quote(%q)) = %q", s, got)
		}
	})
}
