package dnsupdate

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/dnsupdate/bindtest"
	"github.com/miekg/dns"
)

const testZone = "contoso.test."

// publicZone is the public zone before the swap: the internal name
// outlook has an A (TTL 600) and an AAAA; outlook-ext does not exist.
func publicZone(serial string) string {
	return `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. ` + serial + ` 3600 600 86400 60
@ IN NS ns1.contoso.test.
@ IN NS ns2.contoso.test.
ns1 IN A 203.0.113.53
ns2 IN A 203.0.113.54
outlook 600 IN A 203.0.113.10
outlook IN AAAA 2001:db8::10
www IN A 203.0.113.80
`
}

// swappedZone is publicZone after the swap, as a second server would
// load it.
func swappedZone(serial string) string {
	return `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. ` + serial + ` 3600 600 86400 60
@ IN NS ns1.contoso.test.
@ IN NS ns2.contoso.test.
ns1 IN A 203.0.113.53
ns2 IN A 203.0.113.54
outlook-ext 120 IN A 203.0.113.10
www IN A 203.0.113.80
`
}

var digQueries = []string{
	"outlook.contoso.test A", "outlook.contoso.test AAAA", "outlook.contoso.test CNAME",
	"outlook-ext.contoso.test A", "outlook-ext.contoso.test AAAA", "outlook-ext.contoso.test CNAME",
	"www.contoso.test A",
}

// readerSecret is the secret of a key the test servers know but do not
// allow to update the zone.
var readerSecret = bindtest.RandomSecret()

func startPublic(t *testing.T) (*bindtest.Server, *Client) {
	t.Helper()
	s := bindtest.Start(t, bindtest.Options{Zone: testZone, ZoneText: publicZone("2026112201"),
		OtherKeys: map[string]string{"reader.": readerSecret}})
	return s, clientFor(s)
}

func clientFor(s *bindtest.Server) *Client {
	return &Client{Server: s.Addr, Zone: s.Zone, TSIG: TSIG{Name: s.KeyName, Algorithm: s.Algorithm, Secret: s.Secret},
		Timeout: 2 * time.Second, Retries: 1, Backoff: 10 * time.Millisecond}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// soaAside returns the zone's SOA as dig prints it, without the serial.
func soaAside(t *testing.T, s *bindtest.Server) string {
	t.Helper()
	f := strings.Fields(s.Dig(t, "+noall", "+answer", "contoso.test", "SOA"))
	if len(f) != 11 {
		t.Fatalf("unexpected SOA: %v", f)
	}
	f[6] = "SERIAL"
	return strings.Join(f, " ")
}

func TestSwapAndRollbackAgainstBIND(t *testing.T) {
	t.Parallel()
	s, c := startPublic(t)
	ctx := ctxT(t)
	before := s.DigAnswers(t, digQueries...)
	soaBefore := soaAside(t, s)
	serialBefore, _ := s.SOASerial()

	snap, err := c.Snapshot(ctx, "outlook.contoso.test", "outlook-ext.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	fwd, rev, err := SwapPlan(snap, testZone, "outlook-ext.contoso.test", "outlook.contoso.test", "203.0.113.10", 120)
	if err != nil {
		t.Fatal(err)
	}
	if fwd.Empty() {
		t.Fatal("forward update is empty")
	}
	if err := c.Update(ctx, fwd); err != nil {
		t.Fatal(err)
	}
	after := s.DigAnswers(t, digQueries...)
	if !strings.Contains(after, "outlook-ext.contoso.test.\t120\tIN\tA\t203.0.113.10") {
		t.Fatalf("dig after the swap lacks the external A:\n%s", after)
	}
	if strings.Contains(after, "outlook.contoso.test.\t") {
		t.Fatalf("dig after the swap still shows the internal name:\n%s", after)
	}
	if !strings.Contains(after, "www.contoso.test.\t300\tIN\tA\t203.0.113.80") {
		t.Fatalf("unrelated record changed:\n%s", after)
	}
	if serial, _ := s.SOASerial(); serial <= serialBefore {
		t.Fatalf("serial %d not above %d after the update", serial, serialBefore)
	}

	// The post-swap state is verified authoritative on the server.
	want, ok := fwd.Expected()
	if !ok {
		t.Fatal("forward update's result is not known")
	}
	rep := c.Verify(ctx, VerifyRequest{Nameservers: []string{s.Addr}, Expect: want})
	if !rep.OK() {
		t.Fatalf("verify after swap: %s\n%s", rep.Summary(), strings.Join(rep.Evidence(), "\n"))
	}

	// Re-sending the same forward update now conflicts: it never overwrites.
	var ce *ConflictError
	if err := c.Update(ctx, fwd); !errors.As(err, &ce) {
		t.Fatalf("second forward update: want ConflictError, got %v", err)
	}

	if err := c.Update(ctx, rev); err != nil {
		t.Fatal(err)
	}
	if got := s.DigAnswers(t, digQueries...); got != before {
		t.Fatalf("dig after rollback differs:\n--- before\n%s--- after\n%s", before, got)
	}
	if got := soaAside(t, s); got != soaBefore {
		t.Fatalf("SOA after rollback differs apart from the serial:\n%s\n%s", soaBefore, got)
	}
}

func TestConflictAgainstBIND(t *testing.T) {
	t.Parallel()
	s, c := startPublic(t)
	ctx := ctxT(t)
	snap, err := c.Snapshot(ctx, "outlook.contoso.test", "outlook-ext.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	fwd, _, err := SwapPlan(snap, testZone, "outlook-ext.contoso.test", "outlook.contoso.test", "203.0.113.10", 120)
	if err != nil {
		t.Fatal(err)
	}
	// Someone changes the internal name's A between plan and apply.
	s.NSUpdate(t, "update delete outlook.contoso.test. A\nupdate add outlook.contoso.test. 600 A 203.0.113.99")
	before := s.DigAnswers(t, digQueries...)
	serialBefore, _ := s.SOASerial()

	err = c.Update(ctx, fwd)
	var ce *ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("want ConflictError, got %v", err)
	}
	if ce.Rcode != dns.RcodeNXRrset {
		t.Errorf("rcode = %s, want NXRRSET", dns.RcodeToString[ce.Rcode])
	}
	if len(ce.Conflicts) != 1 {
		t.Fatalf("conflicts = %+v, want exactly the internal A", ce.Conflicts)
	}
	cf := ce.Conflicts[0]
	if cf.Expected.Name != "outlook.contoso.test." || cf.Expected.Type != dns.TypeA ||
		strings.Join(cf.Expected.Data, ",") != "203.0.113.10" || strings.Join(cf.Current.Data, ",") != "203.0.113.99" {
		t.Fatalf("conflict = %+v", cf)
	}
	for _, want := range []string{"the record changed since the plan", "outlook.contoso.test. A: planned 203.0.113.10 (TTL 600), now 203.0.113.99 (TTL 600)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got := s.DigAnswers(t, digQueries...); got != before {
		t.Fatalf("a failed update changed the zone:\n--- before\n%s--- after\n%s", before, got)
	}
	if serial, _ := s.SOASerial(); serial != serialBefore {
		t.Fatalf("serial moved from %d to %d", serialBefore, serial)
	}
}

func TestServerRefusalsAgainstBIND(t *testing.T) {
	t.Parallel()
	s, good := startPublic(t)
	ctx := ctxT(t)
	before := s.DigAnswers(t, digQueries...)
	add := Update{
		Prereq: []RRset{{Name: "new.contoso.test.", Type: dns.TypeA}},
		Add:    []RRset{{Name: "new.contoso.test.", Type: dns.TypeA, TTL: 60, Data: []string{"203.0.113.20"}}},
	}
	with := func(f func(c *Client)) *Client {
		c := *good
		f(&c)
		return &c
	}
	secret := bindtest.RandomSecret()
	cases := []struct {
		name      string
		client    *Client
		tsigError uint16
		rcode     int
		want      []string
	}{
		{"wrong secret", with(func(c *Client) { c.TSIG.Secret = secret }), dns.RcodeBadSig, dns.RcodeNotAuth,
			[]string{"the server rejected the TSIG key 'exrunbook-update.' (BADSIG): check public_dns.tsig.name/algorithm and the secret"}},
		{"unknown key", with(func(c *Client) { c.TSIG.Name = "nobody." }), dns.RcodeBadKey, dns.RcodeNotAuth,
			[]string{"the server rejected the TSIG key 'nobody.' (BADKEY)"}},
		{"wrong algorithm", with(func(c *Client) { c.TSIG.Algorithm = "hmac-sha512" }), dns.RcodeBadKey, dns.RcodeNotAuth,
			[]string{"rejected the TSIG key 'exrunbook-update.'"}},
		{"clock skew", with(func(c *Client) { c.now = func() time.Time { return time.Now().Add(-time.Hour) } }), dns.RcodeBadTime, dns.RcodeNotAuth,
			[]string{"BADTIME", "clocks", "the server's", "synchronise the clocks"}},
		{"key not allowed", with(func(c *Client) { c.TSIG.Name = "reader."; c.TSIG.Secret = readerSecret }), 0, dns.RcodeRefused,
			[]string{"the server refused the update (REFUSED): is the key 'reader.' allowed to update zone contoso.test. "}},
		{"not our zone", with(func(c *Client) { c.Zone = "example.test." }), 0, dns.RcodeNotAuth,
			[]string{"NOTAUTH", "example.test."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client
			u := add
			if c.Zone == "example.test." {
				u = Update{Add: []RRset{{Name: "x.example.test.", Type: dns.TypeA, TTL: 60, Data: []string{"203.0.113.21"}}},
					Prereq: []RRset{{Name: "x.example.test.", Type: dns.TypeA}}}
			}
			err := c.Update(ctx, u)
			t.Log(err)
			var se *ServerError
			if !errors.As(err, &se) {
				t.Fatalf("want ServerError, got %T %v", err, err)
			}
			if se.TSIGError != tc.tsigError || se.Rcode != tc.rcode {
				t.Errorf("rcode %s, TSIG error %d; want %s, %d", dns.RcodeToString[se.Rcode], se.TSIGError, dns.RcodeToString[tc.rcode], tc.tsigError)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), c.TSIG.Secret) || strings.Contains(err.Error(), s.Secret) {
				t.Fatal("the error shows a secret")
			}
		})
	}
	if got := s.DigAnswers(t, digQueries...); got != before {
		t.Fatalf("a refused update changed the zone:\n%s\n%s", before, got)
	}
	// The same update with the right key works.
	if err := good.Update(ctx, add); err != nil {
		t.Fatal(err)
	}
	if got := s.DigAnswers(t, "new.contoso.test A"); !strings.Contains(got, "new.contoso.test.\t60\tIN\tA\t203.0.113.20") {
		t.Fatalf("dig:\n%s", got)
	}
}

func TestNameserversFromNSRecords(t *testing.T) {
	t.Parallel()
	_, c := startPublic(t)
	ns, err := c.Nameservers(ctxT(t), testZone, "53")
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, n := range ns {
		got = append(got, n.Name+"="+n.Addr)
	}
	want := "ns1.contoso.test.=203.0.113.53:53 ns2.contoso.test.=203.0.113.54:53"
	if strings.Join(got, " ") != want {
		t.Fatalf("nameservers = %v, want %s", got, want)
	}
	// SOA TTL 300, MINIMUM 60: negative answers are cached 60 s.
	if neg, err := c.NegativeTTL(ctxT(t)); err != nil || neg != 60 {
		t.Fatalf("negative TTL = %d, %v; want 60", neg, err)
	}
}

func TestVerifyNamesLaggingServer(t *testing.T) {
	t.Parallel()
	bindtest.Require(t, "rndc")
	primary, c := startPublic(t)
	second := bindtest.Start(t, bindtest.Options{Zone: testZone, ZoneText: publicZone("2026112201")})
	ctx := ctxT(t)
	snap, err := c.Snapshot(ctx, "outlook.contoso.test", "outlook-ext.contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	fwd, _, err := SwapPlan(snap, testZone, "outlook-ext.contoso.test", "outlook.contoso.test", "203.0.113.10", 120)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, fwd); err != nil {
		t.Fatal(err)
	}
	want, _ := fwd.Expected()
	req := VerifyRequest{Nameservers: []string{primary.Addr, second.Addr}, Expect: want}
	rep := c.Verify(ctx, req)
	t.Logf("summary: %s\nevidence:\n%s", rep.Summary(), strings.Join(rep.Evidence(), "\n"))
	if rep.OK() {
		t.Fatalf("verify passed with a lagging server:\n%s", strings.Join(rep.Evidence(), "\n"))
	}
	if lag := rep.Lagging(); len(lag) != 1 || lag[0] != second.Addr {
		t.Fatalf("lagging = %v, want [%s]", lag, second.Addr)
	}
	if !rep.Servers[0].OK() {
		t.Fatalf("primary not OK: %+v", rep.Servers[0])
	}
	sum := rep.Summary()
	for _, w := range []string{second.Addr, "lagging: serial 2026112201", "outlook-ext.contoso.test. A: want 203.0.113.10, got (none)"} {
		if !strings.Contains(sum, w) {
			t.Errorf("summary %q lacks %q", sum, w)
		}
	}
	ev := strings.Join(rep.Evidence(), "\n")
	if !strings.Contains(ev, "; @"+second.Addr+" is LAGGING") || !strings.Contains(ev, "outlook-ext.contoso.test.\t120\tIN\tA\t203.0.113.10") {
		t.Errorf("evidence:\n%s", ev)
	}

	// The second server gets the new zone (same serial as the primary).
	serial, _ := primary.SOASerial()
	second.Reload(t, swappedZone(uintText(serial)))
	rep = c.Verify(ctx, req)
	if !rep.OK() {
		t.Fatalf("verify after the second server caught up: %s\n%s", rep.Summary(), strings.Join(rep.Evidence(), "\n"))
	}
	if rep.Serial != serial {
		t.Fatalf("serial = %d, want %d", rep.Serial, serial)
	}
}

func TestVerifyWrongDataAndUnreachable(t *testing.T) {
	t.Parallel()
	s, c := startPublic(t)
	ctx := ctxT(t)
	c.Timeout = 300 * time.Millisecond
	c.Retries = -1
	dead := deadAddr(t)
	rep := c.Verify(ctx, VerifyRequest{Nameservers: []string{s.Addr, dead}, Expect: []RRset{
		{Name: "outlook.contoso.test.", Type: dns.TypeA},
		{Name: "www.contoso.test.", Type: dns.TypeA, TTL: 300, Data: []string{"203.0.113.80"}},
	}})
	if rep.OK() {
		t.Fatal("verify passed")
	}
	if rep.Servers[0].OK() || len(rep.Servers[0].Wrong) != 1 || !strings.Contains(rep.Servers[0].Wrong[0], "outlook.contoso.test. A: want (none), got 203.0.113.10") {
		t.Fatalf("server 0: %+v", rep.Servers[0])
	}
	if rep.Servers[1].Err == "" {
		t.Fatalf("server 1 (nothing listening) has no error: %+v", rep.Servers[1])
	}
	if !strings.Contains(rep.Summary(), dead) {
		t.Fatalf("summary does not name %s: %s", dead, rep.Summary())
	}
}

func TestResolveInternalAgainstBIND(t *testing.T) {
	t.Parallel()
	s := bindtest.Start(t, bindtest.Options{Zone: testZone, ZoneText: `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. 1 3600 600 86400 60
@ IN NS ns1.contoso.test.
ns1 IN A 192.0.2.53
outlook IN A 192.0.2.25
autodiscover IN CNAME outlook.contoso.test.
mail IN A 192.0.2.25
mail IN A 192.0.2.26
`})
	ctx := ctxT(t)
	rep := ResolveInternal(ctx, InternalRequest{Server: s.Addr, Names: []string{"outlook.contoso.test", "autodiscover.contoso.test"}, Addresses: []string{"192.0.2.25"}})
	if !rep.OK() {
		t.Fatalf("internal resolution: %v\n%s", rep.Problems(), strings.Join(rep.Evidence, "\n"))
	}
	if got := strings.Join(rep.Results[1].Chain, ","); got != "outlook.contoso.test." {
		t.Fatalf("autodiscover chain = %q", got)
	}
	rep = ResolveInternal(ctx, InternalRequest{Server: s.Addr, Names: []string{"outlook.contoso.test", "mail.contoso.test", "nothere.contoso.test"}, Addresses: []string{"192.0.2.25"}})
	if rep.OK() {
		t.Fatal("internal resolution passed with wrong answers")
	}
	probs := strings.Join(rep.Problems(), "\n")
	for _, w := range []string{"mail.contoso.test.: resolves to 192.0.2.25, 192.0.2.26; want 192.0.2.25", "nothere.contoso.test.: " + s.Addr + " answered NXDOMAIN"} {
		if !strings.Contains(probs, w) {
			t.Errorf("problems %q lack %q", probs, w)
		}
	}
}

func uintText(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// deadAddr is a UDP address on 127.0.0.1 where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}
