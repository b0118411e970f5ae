package dnsserver

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

const secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

// mem is an in-memory Backend that counts writes.
type mem struct {
	mu     sync.Mutex
	z      org.Zone
	writes int
}

func (m *mem) Zone() (org.Zone, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return clone(m.z), nil
}

func (m *mem) UpdateZone(fn func(*org.Zone) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := clone(m.z)
	if err := fn(&c); err != nil {
		return err
	}
	m.z = c
	m.writes++
	return nil
}

// snap and count read the backend under its lock (the server writes from
// its own goroutines).
func (m *mem) snap() org.Zone {
	m.mu.Lock()
	defer m.mu.Unlock()
	return clone(m.z)
}

func (m *mem) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes
}

func clone(z org.Zone) org.Zone {
	b, _ := json.Marshal(z)
	var c org.Zone
	json.Unmarshal(b, &c)
	return c
}

func publicZone() org.Zone {
	return org.Zone{
		View: "public", Name: "contoso.test.",
		SOA: org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 100, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: 300},
		NS:  []string{"ns1.contoso.test.", "ns2.contoso.test."},
		Records: []org.Record{
			{Name: "outlook.contoso.test.", Type: "A", TTL: 2, Data: "203.0.113.10"},
			{Name: "autodiscover.contoso.test.", Type: "A", TTL: 2, Data: "203.0.113.10"},
			{Name: "mail.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.25"},
			{Name: "contoso.test.", Type: "MX", TTL: 300, Data: "10 mail.contoso.test."},
			{Name: "ns1.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.53"},
			{Name: "ns2.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.54"},
			{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
			{Name: "a.b.contoso.test.", Type: "TXT", TTL: 300, Data: `"deep"`},
		},
	}
}

func start(t *testing.T, key *Key) (*Server, *mem) {
	t.Helper()
	b := &mem{z: publicZone()}
	s, err := Start(Options{Zone: b, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, b
}

var testKey = &Key{Name: "exrunbook-update.", Secret: secret}

func ask(t *testing.T, addr, name string, qt uint16, proto string) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qt)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, dns.TypeToString[qt], proto, err)
	}
	return r
}

func TestQueries(t *testing.T) {
	s, _ := start(t, nil)
	cases := []struct {
		name   string
		qt     uint16
		rcode  int
		aa     bool
		answer []string // rdata texts
		soa    bool     // SOA in authority
	}{
		{"outlook.contoso.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"203.0.113.10"}, false},
		{"OUTLOOK.Contoso.Test.", dns.TypeA, dns.RcodeSuccess, true, []string{"203.0.113.10"}, false},
		{"outlook.contoso.test.", dns.TypeAAAA, dns.RcodeSuccess, true, nil, true},
		{"missing.contoso.test.", dns.TypeA, dns.RcodeNameError, true, nil, true},
		{"b.contoso.test.", dns.TypeA, dns.RcodeSuccess, true, nil, true}, // empty non-terminal
		{"contoso.test.", dns.TypeSOA, dns.RcodeSuccess, true, []string{"ns1.contoso.test. hostmaster.contoso.test. 100 3600 600 86400 60"}, false},
		{"contoso.test.", dns.TypeNS, dns.RcodeSuccess, true, []string{"ns1.contoso.test.", "ns2.contoso.test."}, false},
		{"contoso.test.", dns.TypeMX, dns.RcodeSuccess, true, []string{"10 mail.contoso.test."}, false},
		{"www.contoso.test.", dns.TypeA, dns.RcodeSuccess, true, []string{"outlook.contoso.test.", "203.0.113.10"}, false},
		{"example.org.", dns.TypeA, dns.RcodeRefused, false, nil, false},
		{"contoso.test.", dns.TypeAXFR, dns.RcodeRefused, false, nil, false},
	}
	for _, proto := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			t.Run(proto+"/"+tc.name+"/"+dns.TypeToString[tc.qt], func(t *testing.T) {
				if tc.qt == dns.TypeAXFR && proto == "udp" {
					t.Skip("AXFR is TCP only")
				}
				r := ask(t, s.Addr(), tc.name, tc.qt, proto)
				if r.Rcode != tc.rcode || r.Authoritative != tc.aa {
					t.Fatalf("rcode %s aa %v, want %s aa %v", dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tc.rcode], tc.aa)
				}
				var got []string
				for _, rr := range r.Answer {
					got = append(got, strings.TrimPrefix(rr.String(), rr.Header().String()))
				}
				if strings.Join(got, "|") != strings.Join(tc.answer, "|") {
					t.Errorf("answer %q, want %q", got, tc.answer)
				}
				hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
				if hasSOA != tc.soa {
					t.Errorf("authority %v, want SOA=%v", r.Ns, tc.soa)
				}
				if hasSOA && r.Ns[0].Header().Ttl != 60 {
					t.Errorf("negative SOA TTL %d, want the MINIMUM 60", r.Ns[0].Header().Ttl)
				}
			})
		}
	}
	if r := ask(t, s.Addr(), "contoso.test.", dns.TypeNS, "udp"); len(r.Extra) != 2 {
		t.Errorf("NS answer without glue: %v", r.Extra)
	}
}

type upd struct {
	name    string
	build   func(m *dns.Msg)
	rcode   int
	written bool
	check   func(t *testing.T, z org.Zone)
}

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

func records(z org.Zone, name, typ string) []string {
	var out []string
	for _, r := range z.Records {
		if strings.EqualFold(r.Name, name) && r.Type == typ {
			out = append(out, r.Data)
		}
	}
	return out
}

func TestUpdates(t *testing.T) {
	cases := []upd{
		{name: "add A and delete RRset, the runbook's change", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) {
				m.Used([]dns.RR{rr("outlook.contoso.test. 0 IN A 203.0.113.10")}) // value-dependent prerequisite
				m.NameNotUsed([]dns.RR{rr("outlook-ext.contoso.test. 0 IN A 0.0.0.0")})
				m.Insert([]dns.RR{rr("outlook-ext.contoso.test. 2 IN A 203.0.113.10")})
				m.RemoveRRset([]dns.RR{rr("outlook.contoso.test. 0 IN A 0.0.0.0")})
			},
			check: func(t *testing.T, z org.Zone) {
				if got := records(z, "outlook-ext.contoso.test.", "A"); len(got) != 1 || got[0] != "203.0.113.10" {
					t.Errorf("outlook-ext A = %v", got)
				}
				if got := records(z, "outlook.contoso.test.", "A"); len(got) != 0 {
					t.Errorf("outlook A still %v", got)
				}
				if z.SOA.Serial != 101 {
					t.Errorf("serial %d, want 101", z.SOA.Serial)
				}
			}},
		{name: "value-dependent prerequisite differs", rcode: dns.RcodeNXRrset,
			build: func(m *dns.Msg) {
				m.Used([]dns.RR{rr("outlook.contoso.test. 0 IN A 203.0.113.99")})
				m.RemoveRRset([]dns.RR{rr("outlook.contoso.test. 0 IN A 0.0.0.0")})
			}},
		{name: "value-dependent prerequisite is a subset", rcode: dns.RcodeNXRrset,
			build: func(m *dns.Msg) {
				m.Used([]dns.RR{rr("contoso.test. 0 IN NS ns1.contoso.test.")})
			}},
		{name: "yxrrset holds", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) {
				m.RRsetUsed([]dns.RR{rr("mail.contoso.test. 0 IN A 0.0.0.0")})
				m.Insert([]dns.RR{rr("mail.contoso.test. 300 IN A 203.0.113.26")})
			},
			check: func(t *testing.T, z org.Zone) {
				if got := records(z, "mail.contoso.test.", "A"); len(got) != 2 {
					t.Errorf("mail A = %v", got)
				}
			}},
		{name: "yxrrset fails", rcode: dns.RcodeNXRrset,
			build: func(m *dns.Msg) { m.RRsetUsed([]dns.RR{rr("mail.contoso.test. 0 IN AAAA ::")}) }},
		{name: "nxrrset fails", rcode: dns.RcodeYXRrset,
			build: func(m *dns.Msg) { m.RRsetNotUsed([]dns.RR{rr("mail.contoso.test. 0 IN A 0.0.0.0")}) }},
		{name: "yxdomain fails", rcode: dns.RcodeNameError,
			build: func(m *dns.Msg) { m.NameUsed([]dns.RR{rr("nothere.contoso.test. 0 IN A 0.0.0.0")}) }},
		{name: "nxdomain fails", rcode: dns.RcodeYXDomain,
			build: func(m *dns.Msg) { m.NameNotUsed([]dns.RR{rr("mail.contoso.test. 0 IN A 0.0.0.0")}) }},
		{name: "prerequisite outside the zone", rcode: dns.RcodeNotZone,
			build: func(m *dns.Msg) { m.NameUsed([]dns.RR{rr("example.org. 0 IN A 0.0.0.0")}) }},
		{name: "update outside the zone", rcode: dns.RcodeNotZone,
			build: func(m *dns.Msg) { m.Insert([]dns.RR{rr("x.example.org. 60 IN A 203.0.113.1")}) }},
		{name: "delete one RR", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) { m.Remove([]dns.RR{rr("ns2.contoso.test. 0 IN A 203.0.113.54")}) },
			check: func(t *testing.T, z org.Zone) {
				if got := records(z, "ns2.contoso.test.", "A"); len(got) != 0 {
					t.Errorf("ns2 A = %v", got)
				}
			}},
		{name: "delete all RRsets at a name", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) { m.RemoveName([]dns.RR{rr("www.contoso.test. 0 IN A 0.0.0.0")}) },
			check: func(t *testing.T, z org.Zone) {
				for _, r := range z.Records {
					if r.Name == "www.contoso.test." {
						t.Errorf("www still has %v", r)
					}
				}
			}},
		{name: "apex SOA and NS survive delete-name", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) { m.RemoveName([]dns.RR{rr("contoso.test. 0 IN A 0.0.0.0")}) },
			check: func(t *testing.T, z org.Zone) {
				if len(z.NS) != 2 || z.SOA.MName == "" || len(records(z, "contoso.test.", "MX")) != 0 {
					t.Errorf("apex after delete-name: NS %v SOA %v MX %v", z.NS, z.SOA, records(z, "contoso.test.", "MX"))
				}
			}},
		{name: "the last apex NS is kept", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) {
				m.Remove([]dns.RR{rr("contoso.test. 0 IN NS ns1.contoso.test."), rr("contoso.test. 0 IN NS ns2.contoso.test.")})
			},
			check: func(t *testing.T, z org.Zone) {
				if len(z.NS) != 1 {
					t.Errorf("NS %v, want one left", z.NS)
				}
			}},
		{name: "duplicate add changes nothing", rcode: dns.RcodeSuccess, written: false,
			build: func(m *dns.Msg) { m.Insert([]dns.RR{rr("mail.contoso.test. 300 IN A 203.0.113.25")}) }},
		{name: "add with a new TTL changes the RRset's TTL", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) { m.Insert([]dns.RR{rr("outlook.contoso.test. 300 IN A 203.0.113.10")}) },
			check: func(t *testing.T, z org.Zone) {
				for _, r := range z.Records {
					if r.Name == "outlook.contoso.test." && r.TTL != 300 {
						t.Errorf("TTL %d", r.TTL)
					}
				}
			}},
		{name: "CNAME cannot join other data", rcode: dns.RcodeSuccess, written: false,
			build: func(m *dns.Msg) { m.Insert([]dns.RR{rr("mail.contoso.test. 300 IN CNAME outlook.contoso.test.")}) }},
		{name: "prerequisite with a TTL is a format error", rcode: dns.RcodeFormatError,
			build: func(m *dns.Msg) {
				m.Answer = append(m.Answer, &dns.ANY{Hdr: dns.RR_Header{Name: "mail.contoso.test.", Rrtype: dns.TypeA, Class: dns.ClassANY, Ttl: 5}})
			}},
		{name: "add of type ANY is a format error", rcode: dns.RcodeFormatError,
			build: func(m *dns.Msg) {
				a := &dns.ANY{Hdr: dns.RR_Header{Name: "x.contoso.test.", Rrtype: dns.TypeANY, Class: dns.ClassINET, Ttl: 60}}
				m.Ns = append(m.Ns, a)
			}},
		{name: "newer SOA replaces", rcode: dns.RcodeSuccess, written: true,
			build: func(m *dns.Msg) {
				m.Insert([]dns.RR{rr("contoso.test. 300 IN SOA ns1.contoso.test. hostmaster.contoso.test. 500 3600 600 86400 60")})
			},
			check: func(t *testing.T, z org.Zone) {
				if z.SOA.Serial != 501 {
					t.Errorf("serial %d, want 501 (500 then the bump)", z.SOA.Serial)
				}
			}},
		{name: "older SOA ignored", rcode: dns.RcodeSuccess, written: false,
			build: func(m *dns.Msg) {
				m.Insert([]dns.RR{rr("contoso.test. 300 IN SOA ns1.contoso.test. hostmaster.contoso.test. 5 3600 600 86400 60")})
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, b := start(t, testKey)
			m := new(dns.Msg)
			m.SetUpdate("contoso.test.")
			tc.build(m)
			m.SetTsig("exrunbook-update.", dns.HmacSHA256, 300, time.Now().Unix())
			c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{"exrunbook-update.": secret}, Timeout: 2 * time.Second}
			r, _, err := c.Exchange(m, s.Addr())
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			if (b.count() > 0) != tc.written {
				t.Errorf("writes %d, want written=%v", b.count(), tc.written)
			}
			if tc.check != nil {
				tc.check(t, b.snap())
			}
			if !tc.written && b.snap().SOA.Serial != 100 {
				t.Errorf("serial moved to %d without a change", b.snap().SOA.Serial)
			}
		})
	}
}

func TestUpdateRefusals(t *testing.T) {
	insert := func(zone string) *dns.Msg {
		m := new(dns.Msg)
		m.SetUpdate(zone)
		m.Insert([]dns.RR{rr("x." + zone + " 60 IN A 203.0.113.1")})
		return m
	}
	cases := []struct {
		name      string
		serverKey *Key
		msg       *dns.Msg
		keyName   string
		alg       string
		secret    string
		signedAt  time.Time
		rcode     int
		tsigError uint16
	}{
		{"unsigned", testKey, insert("contoso.test."), "", "", "", time.Time{}, dns.RcodeRefused, 0},
		{"server without a key", nil, insert("contoso.test."), "exrunbook-update.", dns.HmacSHA256, secret, time.Now(), dns.RcodeNotAuth, dns.RcodeBadKey},
		{"unknown key name", testKey, insert("contoso.test."), "other.", dns.HmacSHA256, secret, time.Now(), dns.RcodeNotAuth, dns.RcodeBadKey},
		{"wrong secret", testKey, insert("contoso.test."), "exrunbook-update.", dns.HmacSHA256, "d3Jvbmc=", time.Now(), dns.RcodeNotAuth, dns.RcodeBadSig},
		{"unaccepted algorithm", testKey, insert("contoso.test."), "exrunbook-update.", dns.HmacSHA1, secret, time.Now(), dns.RcodeNotAuth, dns.RcodeBadKey},
		{"clock skew", testKey, insert("contoso.test."), "exrunbook-update.", dns.HmacSHA256, secret, time.Now().Add(-time.Hour), dns.RcodeNotAuth, dns.RcodeBadTime},
		{"another zone", testKey, insert("example.org."), "exrunbook-update.", dns.HmacSHA256, secret, time.Now(), dns.RcodeNotAuth, 0},
		{"sha512 accepted", testKey, insert("contoso.test."), "exrunbook-update.", dns.HmacSHA512, secret, time.Now(), dns.RcodeSuccess, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, b := start(t, tc.serverKey)
			if tc.keyName != "" {
				tc.msg.SetTsig(tc.keyName, tc.alg, 300, tc.signedAt.Unix())
			}
			// Sign by hand, then send raw, so that the response can be read
			// even when its TSIG is unsigned or an error.
			var wire []byte
			var mac string
			var err error
			if tc.keyName != "" {
				wire, mac, err = dns.TsigGenerate(tc.msg, tc.secret, "", false)
			} else {
				wire, err = tc.msg.Pack()
			}
			if err != nil {
				t.Fatal(err)
			}
			conn, err := net.Dial("udp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			conn.Write(wire)
			buf := make([]byte, 4096)
			n, err := conn.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:n]); err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
			rt := r.IsTsig()
			if tc.tsigError != 0 {
				if rt == nil || rt.Error != tc.tsigError {
					t.Fatalf("TSIG %v, want error %s", rt, dns.RcodeToString[int(tc.tsigError)])
				}
				if (tc.tsigError == dns.RcodeBadTime) != (rt.MACSize > 0) {
					t.Errorf("MAC size %d: BADTIME answers are signed, BADKEY/BADSIG are not", rt.MACSize)
				}
				if tc.tsigError == dns.RcodeBadTime && rt.OtherLen != 6 {
					t.Errorf("BADTIME without the server's time")
				}
			}
			if tc.rcode == dns.RcodeSuccess {
				if err := dns.TsigVerify(buf[:n], secret, mac, false); err != nil {
					t.Errorf("response signature: %v", err)
				}
			}
			if (b.count() > 0) != (tc.rcode == dns.RcodeSuccess) {
				t.Errorf("writes %d", b.count())
			}
		})
	}
}

func TestZoneRoundTrip(t *testing.T) {
	z := publicZone()
	zn, err := parseZone(&z)
	if err != nil {
		t.Fatal(err)
	}
	var back org.Zone
	back.View, back.Name = z.View, z.Name
	zn.store(&back)
	a, _ := json.Marshal(z)
	b, _ := json.Marshal(back)
	if string(a) != string(b) {
		t.Errorf("zone did not round-trip:\n%s\n%s", a, b)
	}
	bad := publicZone()
	bad.Records = append(bad.Records, org.Record{Name: "x.example.org.", Type: "A", TTL: 1, Data: "203.0.113.1"})
	if _, err := parseZone(&bad); err == nil {
		t.Error("a record outside the zone was accepted")
	}
	bad = publicZone()
	bad.Records[0].Data = "not-an-address"
	if _, err := parseZone(&bad); err == nil {
		t.Error("bad RDATA was accepted")
	}
}

// fakeWriter captures what the handler writes.
type fakeWriter struct {
	dns.ResponseWriter
	msg *dns.Msg
}

func (f *fakeWriter) WriteMsg(m *dns.Msg) error { f.msg = m; return nil }
func (f *fakeWriter) TsigStatus() error         { return nil }
func (f *fakeWriter) RemoteAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
}

func FuzzServeDNS(f *testing.F) {
	q := new(dns.Msg)
	q.SetQuestion("outlook.contoso.test.", dns.TypeA)
	w1, _ := q.Pack()
	u := new(dns.Msg)
	u.SetUpdate("contoso.test.")
	u.Insert([]dns.RR{rr("x.contoso.test. 60 IN A 203.0.113.1")})
	u.RemoveName([]dns.RR{rr("mail.contoso.test. 0 IN A 0.0.0.0")})
	w2, _ := u.Pack()
	f.Add(w1)
	f.Add(w2)
	f.Fuzz(func(t *testing.T, wire []byte) {
		m := new(dns.Msg)
		if m.Unpack(wire) != nil || m.IsTsig() != nil {
			return
		}
		b := &mem{z: publicZone()}
		s := &Server{opts: Options{Zone: b, Key: testKey, Fudge: 300}}
		w := &fakeWriter{}
		s.ServeDNS(w, m)
		if m.Response {
			return
		}
		if w.msg == nil {
			t.Fatal("no answer")
		}
		if m.Opcode == dns.OpcodeUpdate && b.count() > 0 {
			t.Fatal("an unsigned update was applied")
		}
		z := b.snap()
		if _, err := parseZone(&z); err != nil {
			t.Fatalf("zone broken: %v", err)
		}
	})
}

// peer returns the path of a real tool, skipping (or failing under
// EXRUNBOOK_REQUIRE_PEERS=1) when it is missing.
func peer(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("%s is required (EXRUNBOOK_REQUIRE_PEERS=1): %v", name, err)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func TestDigAndNsupdate(t *testing.T) {
	dig := peer(t, "dig")
	nsupdate := peer(t, "nsupdate")
	s, b := start(t, testKey)
	host, port, _ := net.SplitHostPort(s.Addr())
	run := func(name string, stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%s: %v", name, err)
		}
		return string(out)
	}
	out := run(dig, "", "@"+host, "-p", port, "+norecurse", "outlook.contoso.test", "A")
	if !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, " aa") || !strings.Contains(out, "203.0.113.10") {
		t.Fatalf("dig A:\n%s", out)
	}
	out = run(dig, "", "@"+host, "-p", port, "+tcp", "nothere.contoso.test", "A")
	if !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, "SOA") {
		t.Fatalf("dig NXDOMAIN:\n%s", out)
	}

	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("key \"exrunbook-update.\" {\n algorithm hmac-sha256;\n secret \""+secret+"\";\n};\n"), 0o600)
	script := "server " + host + " " + port + "\nzone contoso.test.\n" +
		"prereq yxrrset outlook.contoso.test. IN A 203.0.113.10\n" +
		"update add outlook-ext.contoso.test. 2 IN A 203.0.113.10\n" +
		"update delete outlook.contoso.test. A\nsend\n"
	out = run(nsupdate, script, "-k", keyFile)
	if strings.TrimSpace(out) != "" {
		t.Fatalf("nsupdate: %s", out)
	}
	if got := records(b.snap(), "outlook-ext.contoso.test.", "A"); len(got) != 1 {
		t.Fatalf("nsupdate did not add outlook-ext: %v", b.snap().Records)
	}
	out = run(dig, "", "@"+host, "-p", port, "contoso.test", "SOA", "+short")
	if !strings.Contains(out, " 101 ") {
		t.Errorf("serial after nsupdate: %q", out)
	}

	// The prerequisite no longer holds.
	out = run(nsupdate, script, "-k", keyFile)
	if !strings.Contains(out, "NXRRSET") {
		t.Errorf("nsupdate with a stale prerequisite: %q", out)
	}

	badKey := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(badKey, []byte("key \"exrunbook-update.\" {\n algorithm hmac-sha256;\n secret \"d3JvbmctLXNlY3JldA==\";\n};\n"), 0o600)
	before := b.count()
	out = run(nsupdate, "server "+host+" "+port+"\nzone contoso.test.\nupdate add y.contoso.test. 2 IN A 203.0.113.11\nsend\n", "-k", badKey)
	if !strings.Contains(out, "NOTAUTH(BADSIG)") {
		t.Errorf("nsupdate with a wrong key: %q", out)
	}
	if b.count() != before {
		t.Error("a wrongly signed update was applied")
	}
	out = run(nsupdate, "server "+host+" "+port+"\nzone contoso.test.\nupdate add y.contoso.test. 2 IN A 203.0.113.11\nsend\n")
	if !strings.Contains(out, "REFUSED") {
		t.Errorf("unsigned nsupdate: %q", out)
	}
	out = run(dig, "", "@"+host, "-p", port, "-y", "hmac-sha256:exrunbook-update.:d3JvbmctLXNlY3JldA==", "outlook-ext.contoso.test", "A")
	if !strings.Contains(out, "status: NOTAUTH") || !strings.Contains(out, " BADSIG ") {
		t.Errorf("dig with a wrong key: %q", out)
	}
}
