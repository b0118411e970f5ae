package recordset

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name    string
		rrtype  uint16
		ttl     uint32
		data    []string
		want    []string
		wantTTL uint32
		wantErr string
	}{
		{"addresses sorted and de-duplicated", dns.TypeA, 60, []string{"203.0.113.20", "203.0.113.10", "203.0.113.20"}, []string{"203.0.113.10", "203.0.113.20"}, 60, ""},
		{"cname without final dot", dns.TypeCNAME, 300, []string{"Target.Example.NET"}, []string{"Target.Example.NET."}, 300, ""},
		{"unquoted txt is quoted", dns.TypeTXT, 120, []string{`token with "quote"`}, []string{`"token with \"quote\""`}, 120, ""},
		{"quoted txt kept", dns.TypeTXT, 120, []string{`"abc"`}, []string{`"abc"`}, 120, ""},
		{"empty set has ttl 0", dns.TypeAAAA, 300, nil, nil, 0, ""},
		{"bad address", dns.TypeA, 60, []string{"not-an-ip"}, nil, 0, "does not parse"},
		{"line break", dns.TypeTXT, 60, []string{"a\nb"}, nil, 0, "line break"},
		{"unknown type", 65000, 60, []string{"x"}, nil, 0, "unknown type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical("Outlook.Contoso.Test", tc.rrtype, tc.ttl, tc.data...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != "outlook.contoso.test." || got.TTL != tc.wantTTL || strings.Join(got.Data, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %+v, want data %q ttl %d", got, tc.want, tc.wantTTL)
			}
		})
	}
}

func TestDiffAndInZone(t *testing.T) {
	want := RRset{Name: "outlook.contoso.test.", Type: dns.TypeA, TTL: 300, Data: []string{"203.0.113.10"}}
	cur := RRset{Name: "outlook.contoso.test.", Type: dns.TypeA, TTL: 300, Data: []string{"198.51.100.7"}}
	if got := Diff(want, cur); got != "outlook.contoso.test. A: expected 203.0.113.10 (TTL 300), found 198.51.100.7 (TTL 300)" {
		t.Errorf("Diff = %q", got)
	}
	if got := Diff(want, RRset{Name: want.Name, Type: want.Type}); !strings.HasSuffix(got, "found (none)") {
		t.Errorf("Diff against none = %q", got)
	}
	if _, _, err := InZone("contoso.test.", "outlook.fabrikam.test."); err == nil || !strings.Contains(err.Error(), "outside zone contoso.test.") {
		t.Errorf("InZone outside: %v", err)
	}
	if z, n, err := InZone("Contoso.Test", "A.Contoso.Test"); err != nil || z != "contoso.test." || n != "a.contoso.test." {
		t.Errorf("InZone = %q %q %v", z, n, err)
	}
}
