package dnsupdate

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func set(name string, t uint16, ttl uint32, data ...string) RRset {
	return RRset{Name: name, Type: t, TTL: ttl, Data: data}
}

const (
	in  = "outlook.contoso.test."
	ext = "outlook-ext.contoso.test."
)

// snapshot returns the six RRsets SwapPlan needs, with those given.
func snapshot(given ...RRset) []RRset {
	m := index(given)
	var out []RRset
	for _, n := range []string{in, ext} {
		for _, t := range SwapTypes {
			s, ok := m[Key{n, t}]
			if !ok {
				s = RRset{Name: n, Type: t}
			}
			out = append(out, s)
		}
	}
	return out
}

func TestSwapPlan(t *testing.T) {
	cases := []struct {
		name     string
		snap     []RRset
		fwd, rev string // Update rendered by render
		err      string
	}{
		{
			name: "internal A and AAAA, no external",
			snap: snapshot(set(in, dns.TypeA, 600, "203.0.113.10"), set(in, dns.TypeAAAA, 300, "2001:db8::10")),
			fwd: "prereq outlook.contoso.test. A 203.0.113.10 (TTL 600) | outlook.contoso.test. AAAA 2001:db8::10 (TTL 300) | outlook.contoso.test. CNAME (none) | outlook-ext.contoso.test. A (none) | outlook-ext.contoso.test. AAAA (none) | outlook-ext.contoso.test. CNAME (none)\n" +
				"delete outlook.contoso.test. A 203.0.113.10 (TTL 600) | outlook.contoso.test. AAAA 2001:db8::10 (TTL 300)\n" +
				"add outlook-ext.contoso.test. A 203.0.113.10 (TTL 120)\n",
			rev: "prereq outlook.contoso.test. A (none) | outlook.contoso.test. AAAA (none) | outlook.contoso.test. CNAME (none) | outlook-ext.contoso.test. A 203.0.113.10 (TTL 120) | outlook-ext.contoso.test. AAAA (none) | outlook-ext.contoso.test. CNAME (none)\n" +
				"delete outlook-ext.contoso.test. A 203.0.113.10 (TTL 120)\n" +
				"add outlook.contoso.test. A 203.0.113.10 (TTL 600) | outlook.contoso.test. AAAA 2001:db8::10 (TTL 300)\n",
		},
		{
			name: "already swapped",
			snap: snapshot(set(ext, dns.TypeA, 120, "203.0.113.10")),
			fwd:  "prereq outlook.contoso.test. A (none) | outlook.contoso.test. AAAA (none) | outlook.contoso.test. CNAME (none) | outlook-ext.contoso.test. A 203.0.113.10 (TTL 120) | outlook-ext.contoso.test. AAAA (none) | outlook-ext.contoso.test. CNAME (none)\n",
			rev:  "prereq outlook.contoso.test. A (none) | outlook.contoso.test. AAAA (none) | outlook.contoso.test. CNAME (none) | outlook-ext.contoso.test. A 203.0.113.10 (TTL 120) | outlook-ext.contoso.test. AAAA (none) | outlook-ext.contoso.test. CNAME (none)\n",
		},
		{
			name: "internal CNAME, external CNAME and old A with another TTL, external AAAA kept",
			snap: snapshot(set(in, dns.TypeCNAME, 300, "lb.contoso.test."), set(ext, dns.TypeCNAME, 60, "old.contoso.test."),
				set(ext, dns.TypeA, 300, "203.0.113.10"), set(ext, dns.TypeAAAA, 300, "2001:db8::20")),
			fwd: "prereq outlook.contoso.test. A (none) | outlook.contoso.test. AAAA (none) | outlook.contoso.test. CNAME lb.contoso.test. (TTL 300) | outlook-ext.contoso.test. A 203.0.113.10 (TTL 300) | outlook-ext.contoso.test. AAAA 2001:db8::20 (TTL 300) | outlook-ext.contoso.test. CNAME old.contoso.test. (TTL 60)\n" +
				"delete outlook.contoso.test. CNAME lb.contoso.test. (TTL 300) | outlook-ext.contoso.test. A 203.0.113.10 (TTL 300) | outlook-ext.contoso.test. CNAME old.contoso.test. (TTL 60)\n" +
				"add outlook-ext.contoso.test. A 203.0.113.10 (TTL 120)\n",
			rev: "prereq outlook.contoso.test. A (none) | outlook.contoso.test. AAAA (none) | outlook.contoso.test. CNAME (none) | outlook-ext.contoso.test. A 203.0.113.10 (TTL 120) | outlook-ext.contoso.test. AAAA 2001:db8::20 (TTL 300) | outlook-ext.contoso.test. CNAME (none)\n" +
				"delete outlook-ext.contoso.test. A 203.0.113.10 (TTL 120)\n" +
				"add outlook.contoso.test. CNAME lb.contoso.test. (TTL 300) | outlook-ext.contoso.test. A 203.0.113.10 (TTL 300) | outlook-ext.contoso.test. CNAME old.contoso.test. (TTL 60)\n",
		},
		{name: "snapshot incomplete", snap: []RRset{set(in, dns.TypeA, 300, "203.0.113.10")}, err: "the snapshot lacks"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fwd, rev, err := SwapPlan(tc.snap, "contoso.test.", "outlook-ext.contoso.test", "Outlook.contoso.test", "203.0.113.10", 120)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := render(fwd); got != tc.fwd {
				t.Errorf("forward:\n%s\nwant:\n%s", got, tc.fwd)
			}
			if got := render(rev); got != tc.rev {
				t.Errorf("reverse:\n%s\nwant:\n%s", got, tc.rev)
			}
			// The forward update's result is the reverse's precondition and
			// the reverse's result is the snapshot.
			after, ok := fwd.Expected()
			if !ok || render(Update{Prereq: after}) != render(Update{Prereq: sorted(rev.Prereq)}) {
				t.Errorf("forward result %v, reverse prerequisites %v", after, rev.Prereq)
			}
			back, ok := rev.Expected()
			if !ok || render(Update{Prereq: back}) != render(Update{Prereq: sorted(tc.snap)}) {
				t.Errorf("reverse result %v, snapshot %v", back, tc.snap)
			}
		})
	}
}

func sorted(s []RRset) []RRset {
	out := make([]RRset, 0, len(s))
	for _, r := range s {
		out = append(out, r.normalize())
	}
	sortSets(out)
	return out
}

func render(u Update) string {
	var b strings.Builder
	for _, part := range []struct {
		label string
		sets  []RRset
	}{{"prereq", u.Prereq}, {"delete", u.Delete}, {"add", u.Add}} {
		if len(part.sets) == 0 {
			continue
		}
		var s []string
		for _, r := range part.sets {
			s = append(s, r.String())
		}
		b.WriteString(part.label + " " + strings.Join(s, " | ") + "\n")
	}
	return b.String()
}

func TestSwapPlanRefusesBadInput(t *testing.T) {
	snap := snapshot()
	cases := []struct{ ext, in, ip, err string }{
		{"outlook.contoso.test", "outlook.contoso.test", "203.0.113.10", "must differ"},
		{"outlook-ext.example.test", "outlook.contoso.test", "203.0.113.10", "external name: name \"outlook-ext.example.test\" is outside zone"},
		{"outlook-ext.contoso.test", "outlook.example.test", "203.0.113.10", "internal name: name \"outlook.example.test\" is outside zone"},
		{"outlook-ext.contoso.test", "outlook.contoso.test", "2001:db8::1", "not an IPv4 address"},
	}
	for _, tc := range cases {
		if _, _, err := SwapPlan(snap, "contoso.test.", tc.ext, tc.in, tc.ip, 300); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("SwapPlan(%s, %s, %s) = %v, want %q", tc.ext, tc.in, tc.ip, err, tc.err)
		}
	}
}

func TestZoneFileLinesGolden(t *testing.T) {
	snap := snapshot(set(in, dns.TypeA, 600, "203.0.113.11", "203.0.113.10"), set(in, dns.TypeAAAA, 300, "2001:db8::10"),
		set(ext, dns.TypeCNAME, 60, "old.contoso.test."))
	fwd, rev, err := SwapPlan(snap, "contoso.test.", "outlook-ext.contoso.test", "outlook.contoso.test", "203.0.113.10", 300)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, u := range []struct {
		label string
		u     Update
	}{{"forward", fwd}, {"reverse", rev}} {
		remove, add := ZoneFileLines(u.u)
		b.WriteString("; " + u.label + ": remove\n" + strings.Join(remove, "\n") + "\n; " + u.label + ": add\n" + strings.Join(add, "\n") + "\n")
	}
	remove, _ := ZoneFileLines(Update{Delete: []RRset{{Name: "Old.Contoso.Test", Type: dns.TypeTXT}}})
	b.WriteString("; unknown data\n" + strings.Join(remove, "\n") + "\n")
	got := b.String()
	path := filepath.Join("testdata", "zonefile.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("zone-file lines:\n%s\nwant (%s):\n%s", got, path, want)
	}
	// Every line that is not a comment is one valid record.
	for _, l := range strings.Split(got, "\n") {
		if l == "" || strings.HasPrefix(l, ";") {
			continue
		}
		if _, err := parseOne(l); err != nil {
			t.Errorf("line %q: %v", l, err)
		}
	}
}

func TestUpdateExpected(t *testing.T) {
	u := Update{Add: []RRset{set(ext, dns.TypeA, 60, "203.0.113.10")}}
	if _, ok := u.Expected(); ok {
		t.Fatal("result known for an add without a prerequisite")
	}
	u.Prereq = []RRset{set(ext, dns.TypeA, 300, "203.0.113.9")}
	got, ok := u.Expected()
	if !ok || len(got) != 1 || got[0].String() != "outlook-ext.contoso.test. A 203.0.113.10, 203.0.113.9 (TTL 60)" {
		t.Fatalf("merge: %v %v", got, ok)
	}
}

func TestRRsetComparison(t *testing.T) {
	a := set("Lb.Contoso.Test", dns.TypeCNAME, 300, "LB2.contoso.test.")
	b := set("lb.contoso.test.", dns.TypeCNAME, 60, "lb2.contoso.test.")
	if !SameData(a, b) || Same(a, b) {
		t.Fatalf("SameData %v Same %v", SameData(a, b), Same(a, b))
	}
	txt1 := set("t.contoso.test.", dns.TypeTXT, 60, `"Hello"`)
	txt2 := set("t.contoso.test.", dns.TypeTXT, 60, `"hello"`)
	if SameData(txt1, txt2) {
		t.Fatal("TXT compared case-insensitively")
	}
	if !Same(set(in, dns.TypeA, 0), set(in, dns.TypeA, 300)) {
		t.Fatal("two absent RRsets differ by TTL")
	}
	if SameData(set(in, dns.TypeA, 60, "203.0.113.1"), set(in, dns.TypeA, 60, "203.0.113.1", "203.0.113.2")) {
		t.Fatal("subset compared equal")
	}
}

func TestDiffsAndDeletedTTL(t *testing.T) {
	snap := snapshot(set(in, dns.TypeA, 600, "203.0.113.10"), set(in, dns.TypeAAAA, 300, "2001:db8::10"), set(ext, dns.TypeAAAA, 300, "2001:db8::20"))
	fwd, rev, err := SwapPlan(snap, "contoso.test.", ext, in, "203.0.113.10", 120)
	if err != nil {
		t.Fatal(err)
	}
	diffs, ok := fwd.Diffs()
	if !ok {
		t.Fatal("diffs unknown")
	}
	var got []string
	for _, d := range diffs {
		got = append(got, d.From.String()+" -> "+d.To.Values())
	}
	want := "outlook-ext.contoso.test. A (none) -> 203.0.113.10 | outlook.contoso.test. A 203.0.113.10 (TTL 600) -> (none) | outlook.contoso.test. AAAA 2001:db8::10 (TTL 300) -> (none)"
	if strings.Join(got, " | ") != want {
		t.Fatalf("diffs:\n%s\nwant:\n%s", strings.Join(got, " | "), want)
	}
	if fwd.MaxDeletedTTL() != 600 || rev.MaxDeletedTTL() != 120 {
		t.Fatalf("max deleted TTL: forward %d, reverse %d", fwd.MaxDeletedTTL(), rev.MaxDeletedTTL())
	}
	if _, ok := (Update{Add: []RRset{set(ext, dns.TypeA, 60, "203.0.113.1")}}).Diffs(); ok {
		t.Fatal("diffs known without prerequisites")
	}
}
