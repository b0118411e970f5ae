package exchange

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestParseCASMailboxes(t *testing.T) {
	tru, fal := true, false
	m1 := `{"g":"` + g1 + `","a":"ann","n":"Ann O'Neil","s":"ann@contoso.test","t":"UserMailbox"}`
	m2 := `{"g":"` + g2 + `","a":"bob","n":"Bob","s":"bob@contoso.test","t":"SharedMailbox"}`
	c1 := `{"g":"` + g1 + `","r":true,"x":false,"h":null}`
	c2 := `{"g":"` + strings.ToUpper(g2) + `","r":false,"x":true,"h":false}`
	c3 := `{"g":"11111111-2222-3333-4444-555555555555","r":true,"x":true,"h":true}` // not a wanted type
	want := []CASMailbox{
		{Guid: g1, Alias: "ann", Name: "Ann O'Neil", PrimarySmtpAddress: "ann@contoso.test", RecipientTypeDetails: "UserMailbox", MAPIBlockOutlookRpcHttp: true},
		{Guid: g2, Alias: "bob", Name: "Bob", PrimarySmtpAddress: "bob@contoso.test", RecipientTypeDetails: "SharedMailbox", MAPIBlockOutlookExternalConnectivity: true, MapiHttpEnabled: &fal},
	}
	_ = tru
	ok := []struct {
		name, in string
		want     []CASMailbox
	}{
		{"m then c", `{"m":[` + m1 + `,` + m2 + `],"c":[` + c1 + `,` + c3 + `,` + c2 + `]}`, want},
		{"c then m", `{"c":[` + c2 + `,` + c3 + `,` + c1 + `],"m":[` + m1 + `,` + m2 + `]}`, want},
		{"single objects", `{"m":` + m1 + `,"c":` + c1 + `}`, want[:1]},
		{"extra properties skipped", `{"x":{"y":[1,{"z":2}]},"m":[{"q":[1],"g":"` + g1 + `","a":"ann","n":"Ann O'Neil","s":"ann@contoso.test","t":"UserMailbox"}],"c":[` + c1 + `]}`, want[:1]},
		{"mailbox without CAS row left out", `{"m":[` + m1 + `,` + m2 + `],"c":[` + c1 + `]}`, want[:1]},
		{"empty", `{"m":[],"c":[]}`, nil},
		{"nulls", `{"m":null,"c":null}`, nil},
		{"escaped JSON", `{"m":[{"g":"` + g1 + `","a":"ann","n":"Ann O\u0027Neil","s":"ann@contoso.test","t":"UserMailbox"}],"c":[` + c1 + `]}`, want[:1]},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCASMailboxes(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows, want %d: %+v", len(got), len(tc.want), got)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if (g.MapiHttpEnabled == nil) != (w.MapiHttpEnabled == nil) || (g.MapiHttpEnabled != nil && *g.MapiHttpEnabled != *w.MapiHttpEnabled) {
					t.Fatalf("row %d MapiHttpEnabled %v, want %v", i, g.MapiHttpEnabled, w.MapiHttpEnabled)
				}
				g.MapiHttpEnabled, w.MapiHttpEnabled = nil, nil
				if g != w {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, g, w)
				}
			}
		})
	}
	bad := map[string]string{
		"":                                  "no output",
		"[]":                                "expected a JSON object",
		"WARNING: x":                        "not JSON",
		`{"m":[` + m1:                       "truncated",
		`{"m":[]}`:                          "missing",
		`{"c":[]}`:                          "missing",
		`{"m":[{"g":"` + g1 + `"}],"c":[]}`: "missing",
		`{"m":[],"c":[{"g":"` + g1 + `","r":true,"x":true}]}`:           "lacks",
		`{"m":[],"c":[{"g":"` + g1 + `","r":"yes","x":true,"h":null}]}`: "expected true or false",
		`{"m":[],"c":[{"g":"` + g1 + `","r":null,"x":true,"h":null}]}`:  "expected true or false",
		`{"m":[{"g":"nope","a":"a","n":"n","s":"s","t":"t"}],"c":[]}`:   "not a GUID",
		`{"m":[{"g":1,"a":"a","n":"n","s":"s","t":"t"}],"c":[]}`:        "expected a string",
		`{"m":[1],"c":[]}`:         "expected '{'",
		`{"m":"x","c":[]}`:         "expected an array",
		`{"m":[],"c":[]} trailing`: "after the JSON",
	}
	for in, want := range bad {
		_, err := parseCASMailboxes(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: want error containing %q, got %v", in, want, err)
		}
	}
}

func TestGetCASMailboxesErrorNamesOperation(t *testing.T) {
	_, err := New(&fakeRunner{out: `{"m":[`}).GetCASMailboxes(context.Background(), []string{"UserMailbox"})
	if err == nil || !strings.Contains(err.Error(), "exchange GetCASMailboxes:") {
		t.Fatalf("got %v", err)
	}
}

func FuzzParseCASMailboxes(f *testing.F) {
	f.Add(`{"m":[{"g":"` + g1 + `","a":"a","n":"n","s":"s","t":"UserMailbox"}],"c":[{"g":"` + g1 + `","r":true,"x":false,"h":null}]}`)
	f.Add(`{"c":[{"g":"` + g1 + `","r":true,"x":false,"h":true}],"m":{"g":"` + g1 + `","a":"a","n":"n","s":"s","t":"x"}}`)
	f.Add(`{"m":null,"c":[]}`)
	f.Add(`{"m":[{}],"c":[{"g":[]}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		rows, err := parseCASMailboxes(in)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range rows {
			if _, err := parseGUID(r.Guid); err != nil {
				t.Fatalf("row with bad GUID %q", r.Guid)
			}
			if seen[strings.ToLower(r.Guid)] {
				t.Fatalf("duplicate row %q", r.Guid)
			}
			seen[strings.ToLower(r.Guid)] = true
		}
	})
}

// casJSON builds the script's output for n mailboxes, as the server
// would send it.
func casJSON(n int) string {
	var b strings.Builder
	b.Grow(n * 240)
	b.WriteString(`{"m":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"g":"%08x-0000-4000-8000-%012x","a":"user%d","n":"User %d","s":"user%d@contoso.test","t":"UserMailbox"}`, i, i, i, i, i)
	}
	b.WriteString(`],"c":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		h := "null"
		if i%10 == 0 {
			h = "false"
		}
		fmt.Fprintf(&b, `{"g":"%08x-0000-4000-8000-%012x","r":%t,"x":%t,"h":%s}`, i, i, i%3 == 0, i%3 == 0, h)
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestParseManyCASMailboxes(t *testing.T) {
	rows, err := parseCASMailboxes(casJSON(5000))
	if err != nil || len(rows) != 5000 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	if rows[30].MapiHttpEnabled == nil || *rows[30].MapiHttpEnabled || rows[31].MapiHttpEnabled != nil || !rows[30].MAPIBlockOutlookRpcHttp || rows[31].MAPIBlockOutlookRpcHttp {
		t.Fatalf("flags wrong: %+v %+v", rows[30], rows[31])
	}
	if rows[4999].Alias != "user4999" {
		t.Fatalf("last row %+v", rows[4999])
	}
}

// BenchmarkParseCASMailboxes100k measures parsing 100,000 rows (see
// -benchmem for allocations and bytes; "rows-B" reports the retained
// bytes per row).
func BenchmarkParseCASMailboxes100k(b *testing.B) {
	in := casJSON(100000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows, err := parseCASMailboxes(in)
		if err != nil || len(rows) != 100000 {
			b.Fatalf("%d rows, %v", len(rows), err)
		}
	}
}
