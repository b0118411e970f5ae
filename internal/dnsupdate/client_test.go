package dnsupdate

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const testSecret = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="

func TestExplain(t *testing.T) {
	signed := &Client{Server: "192.0.2.53:53", Zone: "contoso.test.", TSIG: TSIG{Name: "exrunbook-update.", Secret: testSecret}}
	unsigned := &Client{Server: "192.0.2.53", Zone: "contoso.test."}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	serverTime := func(ts time.Time) string {
		b := make([]byte, 8)
		for i, v := 0, ts.Unix(); i < 8; i++ {
			b[7-i] = byte(v >> (8 * i))
		}
		return hex.EncodeToString(b[2:])
	}
	resp := func(rcode int, tsigErr uint16, other string) *dns.Msg {
		m := new(dns.Msg)
		m.Rcode = rcode
		m.Extra = append(m.Extra, &dns.TSIG{Hdr: dns.RR_Header{Name: "exrunbook-update.", Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
			Algorithm: dns.HmacSHA256, Error: tsigErr, OtherData: other, OtherLen: uint16(len(other) / 2)})
		return m
	}
	plain := func(rcode int) *dns.Msg { m := new(dns.Msg); m.Rcode = rcode; return m }
	cases := []struct {
		name     string
		c        *Client
		op       string
		r        *dns.Msg
		attempts int
		verr     error
		want     []string // "" → nil error
	}{
		{"badsig", signed, "update", resp(dns.RcodeNotAuth, dns.RcodeBadSig, ""), 1, dns.ErrSig,
			[]string{"update to 192.0.2.53:53 for zone contoso.test.: the server rejected the TSIG key 'exrunbook-update.' (BADSIG): check public_dns.tsig.name/algorithm and the secret"}},
		{"badkey", signed, "update", resp(dns.RcodeNotAuth, dns.RcodeBadKey, ""), 1, nil,
			[]string{"rejected the TSIG key 'exrunbook-update.' (BADKEY)"}},
		{"badtime with server time", signed, "update", resp(dns.RcodeNotAuth, dns.RcodeBadTime, serverTime(at.Add(10*time.Minute))), 1, dns.ErrTime,
			[]string{"BADTIME", "this machine's time was 2026-11-22T10:00:00Z, the server's 2026-11-22T10:10:00Z (this machine is 10m0s behind the server)", "NTP"}},
		{"badtime without server time", signed, "update", resp(dns.RcodeNotAuth, dns.RcodeBadTime, ""), 1, nil,
			[]string{"BADTIME", "this machine's time was 2026-11-22T10:00:00Z: synchronise"}},
		{"badalg", signed, "update", resp(dns.RcodeNotAuth, dns.RcodeBadAlg, ""), 1, nil, []string{"BADALG", "public_dns.tsig.algorithm"}},
		{"refused update", signed, "update", resp(dns.RcodeRefused, 0, ""), 1, nil,
			[]string{"the server refused the update (REFUSED): is the key 'exrunbook-update.' allowed to update zone contoso.test."}},
		{"refused unsigned update", unsigned, "update", plain(dns.RcodeRefused), 1, nil, []string{"unsigned update", "public_dns.tsig"}},
		{"refused query", unsigned, "query", plain(dns.RcodeRefused), 1, nil, []string{"the server refused the query (REFUSED)"}},
		{"notzone", signed, "update", resp(dns.RcodeNotZone, 0, ""), 1, nil, []string{"outside zone contoso.test. (NOTZONE)"}},
		{"notauth signed update", signed, "update", resp(dns.RcodeNotAuth, 0, ""), 1, nil, []string{"NOTAUTH", "not authoritative for contoso.test.", "public_dns.server"}},
		{"notauth query", unsigned, "query", plain(dns.RcodeNotAuth), 1, nil, []string{"the server is not authoritative for contoso.test. (NOTAUTH)"}},
		{"servfail", signed, "update", resp(dns.RcodeServerFailure, 0, ""), 3, nil, []string{"SERVFAIL) 3 time(s) in a row"}},
		{"formerr", signed, "update", resp(dns.RcodeFormatError, 0, ""), 1, nil, []string{"could not parse the update (FORMERR)"}},
		{"notimp", unsigned, "update", plain(dns.RcodeNotImplemented), 1, nil, []string{"NOTIMP", "public_dns.mode: manual"}},
		{"unsigned answer to a signed request", signed, "update", plain(dns.RcodeSuccess), 1, nil, []string{"not TSIG-signed"}},
		{"signature does not verify", signed, "update", resp(dns.RcodeSuccess, 0, ""), 1, dns.ErrSig, []string{"did not verify", "cannot be trusted"}},
		{"signature out of time", signed, "query", resp(dns.RcodeSuccess, 0, ""), 1, dns.ErrTime, []string{"outside the time window", "NTP"}},
		{"success", signed, "update", resp(dns.RcodeSuccess, 0, ""), 1, nil, nil},
		{"nxdomain query", unsigned, "query", plain(dns.RcodeNameError), 1, nil, nil},
		{"nxdomain update", unsigned, "update", plain(dns.RcodeNameError), 1, nil, []string{"NXDOMAIN"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.explain(tc.op, tc.r, tc.attempts, tc.verr, at)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("want nil, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error, got nil")
			}
			var se *ServerError
			if !errors.As(err, &se) {
				t.Fatalf("want *ServerError, got %T", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatal("error shows the secret")
			}
		})
	}
}

func TestConflictErrorMessage(t *testing.T) {
	e := &ConflictError{Zone: "contoso.test.", Rcode: dns.RcodeYXRrset, Conflicts: []Conflict{
		{Expected: RRset{Name: ext, Type: dns.TypeA}, Current: set(ext, dns.TypeA, 60, "203.0.113.66")},
	}}
	want := "the record changed since the plan (the server answered YXRRSET to the prerequisites, so nothing was changed); " +
		"outlook-ext.contoso.test. A: planned (none), now 203.0.113.66 (TTL 60): review the current records and plan again"
	if e.Error() != want {
		t.Fatalf("got  %s\nwant %s", e.Error(), want)
	}
	e = &ConflictError{Zone: "contoso.test.", Rcode: dns.RcodeNXRrset, QueryErr: errors.New("timeout")}
	if !strings.Contains(e.Error(), "could not be read: timeout") {
		t.Fatal(e.Error())
	}
}

func TestTSIGCheckAndString(t *testing.T) {
	cases := []struct {
		k    TSIG
		want string
	}{
		{TSIG{Name: "exrunbook-update.", Secret: testSecret}, ""},
		{TSIG{Name: "exrunbook-update.", Algorithm: "HMAC-SHA512", Secret: testSecret}, ""},
		{TSIG{Name: "exrunbook-update.", Algorithm: "hmac-md5", Secret: testSecret}, `TSIG algorithm "hmac-md5" is not supported: use hmac-sha256 or hmac-sha512`},
		{TSIG{Name: "exrunbook-update.", Algorithm: "hmac-sha1", Secret: testSecret}, "not supported"},
		{TSIG{Secret: testSecret}, "no TSIG key configured"},
		{TSIG{Name: "bad name.", Secret: testSecret}, "not a valid domain name"},
		{TSIG{Name: "exrunbook-update."}, "is empty"},
		{TSIG{Name: "exrunbook-update.", Secret: "not base64!"}, "not valid base64"},
	}
	for _, tc := range cases {
		err := tc.k.Check()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.k, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: err %v, want %q", tc.k, err, tc.want)
		}
		if err != nil && tc.k.Secret != "" && strings.Contains(err.Error(), tc.k.Secret) {
			t.Errorf("error shows the secret: %v", err)
		}
	}
	k := TSIG{Name: "exrunbook-update.", Secret: testSecret}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprintf("%v", Client{TSIG: k})} {
		if strings.Contains(s, testSecret) {
			t.Errorf("formatting shows the secret: %s", s)
		}
	}
}

// fakePrimary is an in-process primary for one RRset that can fail on
// purpose: answer SERVFAIL, or apply an update and lose the answer.
type fakePrimary struct {
	mu        sync.Mutex
	a         []string // outlook-ext A data
	servfails int      // answer the next n updates with SERVFAIL
	drops     int      // apply the next n updates but do not answer
	unsigned  bool     // answer without TSIG
	blackhole bool     // never answer updates
	updates   int      // applied updates
	received  int      // update messages received
	addr      string
}

func startFake(t *testing.T, f *fakePrimary) *Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: l, Net: "tcp", TsigSecret: map[string]string{"exrunbook-update.": testSecret}, Handler: f,
		MsgAcceptFunc: func(dns.Header) dns.MsgAcceptAction { return dns.MsgAccept }}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	f.addr = l.Addr().String()
	return &Client{Server: f.addr, Zone: "contoso.test.", TSIG: TSIG{Name: "exrunbook-update.", Secret: testSecret},
		Timeout: 300 * time.Millisecond, Retries: 2, Backoff: time.Millisecond}
}

func (f *fakePrimary) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	reply := func() {
		if r.IsTsig() != nil && w.TsigStatus() == nil && !f.unsigned {
			m.SetTsig(r.IsTsig().Hdr.Name, dns.HmacSHA256, 300, time.Now().Unix())
		}
		w.WriteMsg(m)
	}
	if r.IsTsig() == nil || w.TsigStatus() != nil {
		m.Rcode = dns.RcodeRefused
		reply()
		return
	}
	if r.Opcode != dns.OpcodeUpdate {
		m.Authoritative = true
		if q := r.Question[0]; strings.EqualFold(q.Name, ext) && q.Qtype == dns.TypeA {
			for _, d := range f.a {
				rr, _ := dns.NewRR(ext + " 60 IN A " + d)
				m.Answer = append(m.Answer, rr)
			}
		}
		reply()
		return
	}
	f.received++
	if f.blackhole {
		return
	}
	if f.servfails > 0 {
		f.servfails--
		m.Rcode = dns.RcodeServerFailure
		reply()
		return
	}
	// Prerequisites: value-dependent A, or A must not exist.
	var want []string
	mustNotExist := false
	for _, p := range r.Answer {
		if p.Header().Class == dns.ClassNONE {
			mustNotExist = true
		} else if a, ok := p.(*dns.A); ok {
			want = append(want, a.A.String())
		}
	}
	switch {
	case mustNotExist && len(f.a) > 0:
		m.Rcode = dns.RcodeYXRrset
		reply()
		return
	case !mustNotExist && strings.Join(want, ",") != strings.Join(f.a, ","):
		m.Rcode = dns.RcodeNXRrset
		reply()
		return
	}
	for _, u := range r.Ns {
		if u.Header().Class == dns.ClassANY {
			f.a = nil
		} else if a, ok := u.(*dns.A); ok {
			f.a = append(f.a, a.A.String())
		}
	}
	f.updates++
	if f.drops > 0 {
		f.drops--
		return // the answer is lost
	}
	reply()
}

// state reads the counters and data under the lock.
func (f *fakePrimary) state() (received, updates int, a string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received, f.updates, strings.Join(f.a, ",")
}

func swapUpdate() Update {
	return Update{
		Prereq: []RRset{{Name: ext, Type: dns.TypeA}},
		Add:    []RRset{set(ext, dns.TypeA, 60, "203.0.113.10")},
	}
}

func TestRetriesServfail(t *testing.T) {
	f := &fakePrimary{servfails: 2}
	c := startFake(t, f)
	if err := c.Update(context.Background(), swapUpdate()); err != nil {
		t.Fatal(err)
	}
	if rcv, upd, _ := f.state(); rcv != 3 || upd != 1 {
		t.Fatalf("received %d, applied %d; want 3, 1", rcv, upd)
	}

	f2 := &fakePrimary{servfails: 5}
	c2 := startFake(t, f2)
	err := c2.Update(context.Background(), swapUpdate())
	var se *ServerError
	if !errors.As(err, &se) || se.Rcode != dns.RcodeServerFailure || se.Attempts != 3 {
		t.Fatalf("want SERVFAIL after 3 attempts, got %v", err)
	}
	if rcv, upd, _ := f2.state(); rcv != 3 || upd != 0 {
		t.Fatalf("received %d, applied %d", rcv, upd)
	}
}

func TestRetryAfterLostAnswerIsSuccess(t *testing.T) {
	f := &fakePrimary{drops: 1}
	c := startFake(t, f)
	if err := c.Update(context.Background(), swapUpdate()); err != nil {
		t.Fatalf("update whose first answer was lost: %v", err)
	}
	if rcv, upd, a := f.state(); rcv != 2 || upd != 1 || a != "203.0.113.10" {
		t.Fatalf("received %d, applied %d, data %v", rcv, upd, a)
	}
}

func TestTimeoutsGiveUp(t *testing.T) {
	f := &fakePrimary{blackhole: true}
	c := startFake(t, f)
	c.Retries = 1
	err := c.Update(context.Background(), swapUpdate())
	if rcv, _, _ := f.state(); err == nil || !strings.Contains(err.Error(), "failed after 2 attempt(s)") || rcv != 2 {
		t.Fatalf("want failure after 2 attempts, got %v (%d received)", err, rcv)
	}
	// A retried delete whose first attempt applied (its answer lost)
	// meets failed prerequisites, sees the intended state and succeeds.
	f2 := &fakePrimary{drops: 1, a: []string{"203.0.113.9"}}
	c2 := startFake(t, f2)
	err = c2.Update(context.Background(), Update{Prereq: []RRset{set(ext, dns.TypeA, 60, "203.0.113.9")}, Delete: []RRset{{Name: ext, Type: dns.TypeA}}})
	if rcv, _, a := f2.state(); err != nil || rcv != 2 || a != "" {
		t.Fatalf("retried delete: %v (%d received, data %v)", err, rcv, a)
	}
}

func TestUnsignedAnswerRejected(t *testing.T) {
	f := &fakePrimary{unsigned: true}
	c := startFake(t, f)
	err := c.Update(context.Background(), swapUpdate())
	if err == nil || !strings.Contains(err.Error(), "not TSIG-signed") {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Query(context.Background(), ext, dns.TypeA); err == nil || !strings.Contains(err.Error(), "not TSIG-signed") {
		t.Fatalf("query: got %v", err)
	}
}

func TestUpdateRefusesBadInput(t *testing.T) {
	c := &Client{Server: "127.0.0.1:1", Zone: "contoso.test.", TSIG: TSIG{Name: "exrunbook-update.", Secret: testSecret}}
	cases := []struct {
		u    Update
		want string
	}{
		{Update{Add: []RRset{set("www.example.test.", dns.TypeA, 60, "203.0.113.1")}}, "outside zone contoso.test."},
		{Update{Delete: []RRset{{Name: "example.test.", Type: dns.TypeA}}}, "outside zone"},
		{Update{Prereq: []RRset{set("x.example.test.", dns.TypeA, 60, "203.0.113.1")}}, "outside zone"},
		{Update{Add: []RRset{{Name: ext, Type: dns.TypeA, TTL: 60}}}, "has no records"},
		{Update{Add: []RRset{set(ext, dns.TypeA, 0, "203.0.113.1")}}, "TTL 0 is out of range"},
		{Update{Add: []RRset{set(ext, dns.TypeA, 60, "203.0.113.1\nevil.contoso.test. 60 IN A 203.0.113.2")}}, "line break"},
		{Update{Add: []RRset{set(ext, dns.TypeA, 60, "203.0.113.1 ; comment")}}, ""},
		{Update{Add: []RRset{set(ext, dns.TypeA, 60, "not-an-address")}}, "record"},
	}
	for _, tc := range cases {
		_, err := tc.u.msg("contoso.test.")
		if tc.want == "" {
			// A trailing comment is harmless: it is not part of the record.
			if err != nil {
				t.Errorf("%v: %v", tc.u, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.u, err, tc.want)
		}
	}
	noKey := *c
	noKey.TSIG = TSIG{}
	if err := noKey.Update(context.Background(), swapUpdate()); !errors.Is(err, ErrNoTSIG) {
		t.Fatalf("unsigned update: %v", err)
	}
}
