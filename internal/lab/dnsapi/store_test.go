package dnsapi

import (
	"errors"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func newStore() (*Store, *dnsserver.MemZone) {
	z := dnsserver.NewMemZone(org.Zone{View: "public", Name: "contoso.test.",
		SOA: org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 7, TTL: 300},
		NS:  []string{"ns1.contoso.test."},
		Records: []org.Record{
			{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
			{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
		}})
	return &Store{Backend: z}, z
}

func TestStoreRules(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want error
	}{
		{"added", Record{Name: "mail.contoso.test.", Type: "a", TTL: 60, Data: "203.0.113.25"}, nil},
		{"duplicate", Record{Name: "Outlook.Contoso.Test", Type: "A", TTL: 60, Data: "203.0.113.10"}, ErrDuplicate},
		{"beside a CNAME", Record{Name: "www.contoso.test.", Type: "TXT", TTL: 60, Data: `"x"`}, ErrCNAME},
		{"outside the zone", Record{Name: "www.fabrikam.test.", Type: "A", TTL: 60, Data: "203.0.113.9"}, ErrInvalid},
		{"bad data", Record{Name: "x.contoso.test.", Type: "AAAA", TTL: 60, Data: "203.0.113.9"}, ErrInvalid},
		{"line break", Record{Name: "x.contoso.test.", Type: "TXT", TTL: 60, Data: "\"a\"\nx IN A 1.2.3.4"}, ErrInvalid},
		{"SOA", Record{Name: "contoso.test.", Type: "SOA", TTL: 60, Data: "a. b. 1 2 3 4 5"}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, z := newStore()
			before, _ := z.Zone()
			_, err := s.Add(tc.rec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Add = %v, want %v", err, tc.want)
			}
			after, _ := z.Zone()
			switch {
			case tc.want == nil && (after.SOA.Serial != 8 || Text(after) == Text(before)):
				t.Fatalf("not stored: serial %d\n%s", after.SOA.Serial, Text(after))
			case tc.want != nil && (after.SOA.Serial != 7 || Text(after) != Text(before)):
				t.Fatal("a refused record changed the zone")
			}
		})
	}
}

func TestStoreReplaceDeleteAndText(t *testing.T) {
	s, z := newStore()
	recs, _ := s.List()
	var a Record
	for _, r := range recs {
		if r.Type == "A" {
			a = r
		}
	}
	b, err := s.Replace(a.ID, Record{Name: a.Name, Type: "A", TTL: 60, Data: "203.0.113.11"})
	if err != nil || b.ID == a.ID {
		t.Fatalf("Replace = %+v %v", b, err)
	}
	if _, err := s.Delete(a.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete of the old id = %v", err)
	}
	if _, err := s.Delete(b.ID); err != nil {
		t.Fatal(err)
	}
	zz, _ := z.Zone()
	want := "contoso.test.\t300\tIN\tSOA\tns1.contoso.test. hostmaster.contoso.test. (serial) 0 0 0 0\ncontoso.test.\t300\tIN\tNS\tns1.contoso.test.\nwww.contoso.test.\t300\tIN\tCNAME\toutlook.contoso.test.\n"
	if got := Text(zz); got != want || zz.SOA.Serial != 9 {
		t.Fatalf("serial %d, Text:\n%q\nwant\n%q", zz.SOA.Serial, got, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range [][2]string{{"A", "203.0.113.1"}, {"TXT", `"a" "b"`}, {"MX", "10 mail"}, {"CNAME", "x."}, {"SRV", "0 5 443 x."}, {"TXT", "\"\\"}} {
		f.Add("x.contoso.test.", s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, typ, data string) {
		r, err := Parse("contoso.test.", Record{Name: name, Type: typ, TTL: 60, Data: data})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		if strings.ContainsAny(r.Data, "\r\n") {
			t.Fatalf("accepted a line break: %q", r.Data)
		}
		again, err := Parse("contoso.test.", r)
		if err != nil || again != r {
			t.Fatalf("not stable: %+v -> %+v %v", r, again, err)
		}
	})
}
