package dnsupdate

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestARecord(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	cases := []struct {
		zone, name, ip string
		ttl            int64
		want           string // zone-file line, or "" when an error is expected
		err            string
	}{
		{"contoso.test.", "outlook-ext.contoso.test", "203.0.113.10", 300, "outlook-ext.contoso.test.\t300\tIN\tA\t203.0.113.10", ""},
		{"Contoso.Test", "Outlook-Ext.CONTOSO.test.", "203.0.113.10", 2, "outlook-ext.contoso.test.\t2\tIN\tA\t203.0.113.10", ""},
		{"contoso.test.", long63 + ".contoso.test.", "203.0.113.10", MaxTTL, long63 + ".contoso.test.\t2147483647\tIN\tA\t203.0.113.10", ""},
		{"contoso.test.", "mail.example.test.", "203.0.113.10", 300, "", "outside zone contoso.test."},
		{"contoso.test.", "xcontoso.test.", "203.0.113.10", 300, "", "outside zone"},
		{"contoso.test.", "contoso.test.", "203.0.113.10", 300, "", "apex"},
		{"contoso.test.", "outlook ext.contoso.test", "203.0.113.10", 300, "", "character ' '"},
		{"contoso.test.", "outlook\".contoso.test", "203.0.113.10", 300, "", "character '\"'"},
		{"contoso.test.", "outlook;x.contoso.test", "203.0.113.10", 300, "", "character ';'"},
		{"contoso.test.", "outlook(.contoso.test", "203.0.113.10", 300, "", "character '('"},
		{"contoso.test.", "outlook\n.contoso.test", "203.0.113.10", 300, "", "character '\\n'"},
		{"contoso.test.", "out\\.look.contoso.test", "203.0.113.10", 300, "", "character '\\\\'"},
		{"contoso.test.", "outlook..contoso.test", "203.0.113.10", 300, "", "empty label"},
		{"contoso.test.", ".outlook.contoso.test", "203.0.113.10", 300, "", "starts with a dot"},
		{"contoso.test.", "-outlook.contoso.test", "203.0.113.10", 300, "", "starts or ends with '-'"},
		{"contoso.test.", "*.contoso.test", "203.0.113.10", 300, "", "character '*'"},
		{"contoso.test.", "@", "203.0.113.10", 300, "", "character '@'"},
		{"contoso.test.", "outlook.cöntoso.test", "203.0.113.10", 300, "", "xn--"},
		{"contoso.test.", long63 + "a.contoso.test", "203.0.113.10", 300, "", "label"},
		{"contoso.test.", strings.Repeat("abcdefghi.", 25) + "contoso.test", "203.0.113.10", 300, "", "at most 253"},
		{"contoso.test.", "", "203.0.113.10", 300, "", "empty"},
		{"contoso.test.", "outlook.contoso.test", "2001:db8::10", 300, "", "not an IPv4 address"},
		{"contoso.test.", "outlook.contoso.test", "::ffff:203.0.113.10", 300, "", "not an IPv4 address"},
		{"contoso.test.", "outlook.contoso.test", "203.0.113.010", 300, "", "not an IPv4 address"},
		{"contoso.test.", "outlook.contoso.test", "203.0.113.10 ; x", 300, "", "not an IPv4 address"},
		{"contoso.test.", "outlook.contoso.test", "", 300, "", "not an IPv4 address"},
		{"contoso.test.", "outlook.contoso.test", "203.0.113.10", 0, "", "TTL 0 is out of range"},
		{"contoso.test.", "outlook.contoso.test", "203.0.113.10", -5, "", "out of range"},
		{"contoso.test.", "outlook.contoso.test", "203.0.113.10", MaxTTL + 1, "", "out of range"},
		{"contoso test.", "outlook.contoso.test", "203.0.113.10", 300, "", "zone name"},
		{".", "outlook.contoso.test", "203.0.113.10", 300, "", "root"},
	}
	for _, tc := range cases {
		got, err := ARecord(tc.zone, tc.name, tc.ip, tc.ttl)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ARecord(%q, %q, %q, %d) = %v, %v; want error containing %q", tc.zone, tc.name, tc.ip, tc.ttl, got, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ARecord(%q, %q, %q, %d): %v", tc.zone, tc.name, tc.ip, tc.ttl, err)
			continue
		}
		if l := got.Lines(); len(l) != 1 || l[0] != tc.want {
			t.Errorf("ARecord(%q, %q, %q, %d) = %q, want %q", tc.zone, tc.name, tc.ip, tc.ttl, l, tc.want)
		}
	}
}

// FuzzARecord: whatever the configuration says, ARecord either refuses it
// or yields exactly one A record with the canonical name, the TTL and the
// address asked for, and its zone-file line parses back to that record.
func FuzzARecord(f *testing.F) {
	f.Add("contoso.test.", "outlook-ext.contoso.test", "203.0.113.10", int64(300))
	f.Add("contoso.test", "a.b.contoso.test.", "203.0.113.1", int64(1))
	f.Add("contoso.test.", "x.contoso.test\n@ IN A 1.2.3.4", "203.0.113.10", int64(300))
	f.Add("contoso.test.", "x.contoso.test", "203.0.113.10\nevil 300 IN A 1.2.3.4", int64(300))
	f.Add("contoso.test.", "x;.contoso.test", "203.0.113.10", int64(300))
	f.Add("contoso.test.", "x.contoso.test", "203.0.113.10", int64(1)<<40)
	f.Add("contoso.test.", "(x).contoso.test", "203.0.113.10", int64(60))
	f.Add("contoso.test.", "$ORIGIN.contoso.test", "203.0.113.10", int64(60))
	f.Fuzz(func(t *testing.T, zone, name, ip string, ttl int64) {
		rs, err := ARecord(zone, name, ip, ttl)
		if err != nil {
			return
		}
		if rs.Type != dns.TypeA || len(rs.Data) != 1 || int64(rs.TTL) != ttl || rs.Data[0] != ip {
			t.Fatalf("ARecord(%q, %q, %q, %d) = %+v", zone, name, ip, ttl, rs)
		}
		if rs.Name != dns.CanonicalName(strings.TrimSuffix(name, ".")+".") {
			t.Fatalf("name %q became %q", name, rs.Name)
		}
		_, add := ZoneFileLines(Update{Add: []RRset{rs}})
		if len(add) != 1 {
			t.Fatalf("lines = %q", add)
		}
		zp := dns.NewZoneParser(strings.NewReader(add[0]+"\n"), ".", "")
		var rrs []dns.RR
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			rrs = append(rrs, rr)
		}
		if err := zp.Err(); err != nil {
			t.Fatalf("line %q does not parse: %v", add[0], err)
		}
		if len(rrs) != 1 {
			t.Fatalf("line %q parses as %d records", add[0], len(rrs))
		}
		a, ok := rrs[0].(*dns.A)
		if !ok || a.Hdr.Name != rs.Name || int64(a.Hdr.Ttl) != ttl || a.Hdr.Class != dns.ClassINET || a.A.String() != ip {
			t.Fatalf("line %q parses as %v", add[0], rrs[0])
		}
		// The same record goes into the UPDATE message.
		m, err := Update{Add: []RRset{rs}}.msg(dns.CanonicalName(strings.TrimSuffix(zone, ".") + "."))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Ns) != 1 || m.Ns[0].String() != a.String() {
			t.Fatalf("update carries %v, want %v", m.Ns, a)
		}
	})
}

func TestCheckHostnameLengths(t *testing.T) {
	// 253 characters without the final dot is the longest name allowed.
	label := strings.Repeat("a", 63)
	name := label + "." + label + "." + label + "." + strings.Repeat("b", 61)
	if len(name) != 253 {
		t.Fatalf("setup: len %d", len(name))
	}
	if _, err := CheckHostname(name); err != nil {
		t.Fatalf("253 characters refused: %v", err)
	}
	if _, err := CheckHostname(name + "b"); err == nil {
		t.Fatal("254 characters accepted")
	}
}
