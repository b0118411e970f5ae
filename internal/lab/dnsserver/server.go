// Package dnsserver is the lab's authoritative DNS: one server per view
// (internal, public), UDP and TCP on one loopback port, serving one zone of
// the organisation with the AA flag, NXDOMAIN and NODATA answers carrying the
// SOA, and REFUSED for names outside the zone.
//
// A server given a TSIG key accepts RFC 2136 UPDATEs signed with it
// (hmac-sha256 or hmac-sha512): prerequisites (section 2.4 and 3.2) with
// their RCODEs, the update section (add, delete an RRset, delete every RRset
// at a name, delete one RR; section 3.4), an SOA serial bump and persistence
// through the Backend. As BIND does, an unknown key gets NOTAUTH with TSIG
// error BADKEY, a bad MAC NOTAUTH with BADSIG (both unsigned), a clock skew
// beyond the fudge NOTAUTH with a signed BADTIME; unsigned updates, and any
// update on a server without a key, are REFUSED; an update for another zone
// gets NOTAUTH.
package dnsserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// Backend is where a server's zone lives.
type Backend interface {
	// Zone returns a copy of the zone.
	Zone() (org.Zone, error)
	// UpdateZone runs fn on the stored zone while holding the store's lock
	// and persists the result if fn returns nil. An error from fn leaves
	// the stored zone as it was and is returned.
	UpdateZone(fn func(z *org.Zone) error) error
}

// Key is a TSIG key: its name ("exrunbook-update.") and its secret, base64.
type Key struct {
	Name   string
	Secret string
}

// Algorithms the servers accept for TSIG.
var Algorithms = []string{dns.HmacSHA256, dns.HmacSHA512}

// Options configure one server.
type Options struct {
	// Addr to listen on, UDP and TCP; default "127.0.0.1:0".
	Addr string
	// Zone is the zone served.
	Zone Backend
	// Key, when not nil, lets signed UPDATEs change the zone.
	Key *Key
	// Fudge is the TSIG time window; default 300 s.
	Fudge uint16
}

// Server is one running authoritative server.
type Server struct {
	opts Options
	udp  *dns.Server
	tcp  *dns.Server
	addr string
	wg   sync.WaitGroup
}

// Start listens on UDP and TCP (the same port) and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Zone == nil {
		return nil, errors.New("dnsserver: no zone")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Fudge == 0 {
		opts.Fudge = 300
	}
	if opts.Key != nil {
		opts.Key = &Key{Name: dns.CanonicalName(opts.Key.Name), Secret: opts.Key.Secret}
	}
	var pc net.PacketConn
	var ln net.Listener
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		pc, err = net.ListenPacket("udp", opts.Addr)
		if err != nil {
			return nil, fmt.Errorf("dnsserver: %w", err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if !strings.HasSuffix(opts.Addr, ":0") {
			return nil, fmt.Errorf("dnsserver: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dnsserver: %w", err)
	}
	s := &Server{opts: opts, addr: pc.LocalAddr().String()}
	prov := provider{key: opts.Key}
	s.udp = &dns.Server{PacketConn: pc, Handler: s, TsigProvider: prov, MsgAcceptFunc: accept}
	s.tcp = &dns.Server{Listener: ln, Handler: s, TsigProvider: prov, MsgAcceptFunc: accept}
	started := make(chan struct{}, 2)
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		srv.NotifyStartedFunc = func() { started <- struct{}{} }
		s.wg.Add(1)
		go func(srv *dns.Server) {
			defer s.wg.Done()
			srv.ActivateAndServe()
		}(srv)
	}
	<-started
	<-started
	return s, nil
}

// Addr is "127.0.0.1:PORT", for both UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops both listeners and waits for them.
func (s *Server) Close() error {
	e1 := s.udp.Shutdown()
	e2 := s.tcp.Shutdown()
	s.wg.Wait()
	return errors.Join(e1, e2)
}

// provider verifies and signs with the one key, for the accepted
// algorithms only.
type provider struct{ key *Key }

func (p provider) mac(msg []byte, t *dns.TSIG) ([]byte, error) {
	if p.key == nil || dns.CanonicalName(t.Hdr.Name) != p.key.Name {
		return nil, dns.ErrSecret
	}
	secret, err := base64.StdEncoding.DecodeString(p.key.Secret)
	if err != nil {
		return nil, dns.ErrSecret
	}
	var h hash.Hash
	switch dns.CanonicalName(t.Algorithm) {
	case dns.HmacSHA256:
		h = hmac.New(sha256.New, secret)
	case dns.HmacSHA512:
		h = hmac.New(sha512.New, secret)
	default:
		return nil, dns.ErrKeyAlg
	}
	h.Write(msg)
	return h.Sum(nil), nil
}

// Generate computes the MAC of a response.
func (p provider) Generate(msg []byte, t *dns.TSIG) ([]byte, error) { return p.mac(msg, t) }

// Verify checks the MAC of a request.
func (p provider) Verify(msg []byte, t *dns.TSIG) error {
	want, err := p.mac(msg, t)
	if err != nil {
		return err
	}
	got, err := hex.DecodeString(t.MAC)
	if err != nil || !hmac.Equal(want, got) {
		return dns.ErrSig
	}
	return nil
}

// accept lets queries and updates through to ServeDNS (miekg's default
// turns UPDATE away), ignores responses and answers other opcodes NOTIMP.
func accept(dh dns.Header) dns.MsgAcceptAction {
	if dh.Bits&(1<<15) != 0 {
		return dns.MsgIgnore
	}
	switch int(dh.Bits>>11) & 0xF {
	case dns.OpcodeQuery, dns.OpcodeUpdate:
		return dns.MsgAccept
	}
	return dns.MsgRejectNotImplemented
}

// ServeDNS answers one message.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = false
	if r.Response {
		return
	}
	tsig := r.IsTsig()
	if tsig != nil {
		if st := w.TsigStatus(); st != nil {
			s.tsigError(w, r, m, tsig, st)
			return
		}
	}
	switch r.Opcode {
	case dns.OpcodeQuery:
		s.query(w, r, m)
	case dns.OpcodeUpdate:
		m.Rcode = s.update(r, tsig != nil)
	default:
		m.Rcode = dns.RcodeNotImplemented
	}
	s.write(w, r, m, tsig)
}

func (s *Server) write(w dns.ResponseWriter, r, m *dns.Msg, tsig *dns.TSIG) {
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(1232, opt.Do())
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := 512
		if opt := r.IsEdns0(); opt != nil && opt.UDPSize() > 512 {
			size = int(min(opt.UDPSize(), 1232))
		}
		if tsig != nil {
			size -= 100 // room for the TSIG record
		}
		m.Truncate(size)
	}
	if tsig != nil {
		m.SetTsig(tsig.Hdr.Name, tsig.Algorithm, s.opts.Fudge, time.Now().Unix())
	}
	w.WriteMsg(m)
}

// tsigError answers a message whose TSIG failed, as RFC 8945 5.2 and BIND
// do: NOTAUTH with the TSIG error; unsigned for BADKEY and BADSIG, signed
// and carrying the server's time for BADTIME.
func (s *Server) tsigError(w dns.ResponseWriter, r, m *dns.Msg, t *dns.TSIG, st error) {
	m.Rcode = dns.RcodeNotAuth
	code := uint16(dns.RcodeBadSig)
	switch {
	case errors.Is(st, dns.ErrSecret), errors.Is(st, dns.ErrKeyAlg):
		code = dns.RcodeBadKey
	case errors.Is(st, dns.ErrTime):
		code = dns.RcodeBadTime
	}
	m.SetTsig(t.Hdr.Name, t.Algorithm, t.Fudge, int64(t.TimeSigned))
	rt := m.IsTsig()
	rt.Error = code
	if code == dns.RcodeBadTime {
		rt.OtherLen = 6
		rt.OtherData = fmt.Sprintf("%012x", time.Now().Unix())
		w.WriteMsg(m) // signed
		return
	}
	// Unsigned, but keeping the request's time as BIND does (miekg would
	// zero it, which clients report as a clock problem).
	rt.OrigId = r.Id
	wire, err := m.Pack()
	if err != nil {
		return
	}
	w.Write(wire)
}

func (s *Server) query(w dns.ResponseWriter, r, m *dns.Msg) {
	if len(r.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		return
	}
	q := r.Question[0]
	z, err := s.opts.Zone.Zone()
	if err != nil {
		m.Rcode = dns.RcodeServerFailure
		return
	}
	zn, err := parseZone(&z)
	if err != nil {
		m.Rcode = dns.RcodeServerFailure
		return
	}
	if (q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY) || !zn.contains(q.Name) {
		m.Rcode = dns.RcodeRefused
		return
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		m.Rcode = dns.RcodeRefused
		return
	}
	m.Authoritative = true
	name := q.Name
	for hops := 0; hops < 8; hops++ {
		all := zn.at(name, dns.TypeANY)
		if len(all) == 0 {
			if !zn.emptyNonTerminal(name) {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = append(m.Ns, zn.negativeSOA())
			break
		}
		var ans []dns.RR
		if q.Qtype == dns.TypeANY {
			ans = all
		} else {
			ans = zn.at(name, q.Qtype)
		}
		if len(ans) > 0 {
			m.Answer = append(m.Answer, renamed(ans, name)...)
			break
		}
		cname := zn.at(name, dns.TypeCNAME)
		if len(cname) == 0 {
			m.Ns = append(m.Ns, zn.negativeSOA())
			break
		}
		m.Answer = append(m.Answer, renamed(cname, name)...)
		name = cname[0].(*dns.CNAME).Target
		if !zn.contains(name) {
			break
		}
	}
	// Glue for in-zone name servers and MX targets.
	for _, rr := range m.Answer {
		var target string
		switch v := rr.(type) {
		case *dns.NS:
			target = v.Ns
		case *dns.MX:
			target = v.Mx
		default:
			continue
		}
		if zn.contains(target) {
			m.Extra = append(m.Extra, zn.at(target, dns.TypeA)...)
			m.Extra = append(m.Extra, zn.at(target, dns.TypeAAAA)...)
		}
	}
}

// renamed copies rrs with the owner name spelt as the question spelt it.
func renamed(rrs []dns.RR, name string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = name
		out[i] = c
	}
	return out
}

// errNoChange ends an UPDATE that changes nothing without writing.
var errNoChange = errors.New("dnsserver: the update changes nothing")

// update processes an RFC 2136 UPDATE and returns its RCODE.
func (s *Server) update(r *dns.Msg, signed bool) int {
	if len(r.Question) != 1 || r.Question[0].Qtype != dns.TypeSOA {
		return dns.RcodeFormatError
	}
	if s.opts.Key == nil || !signed {
		return dns.RcodeRefused
	}
	zq := r.Question[0]
	err := s.opts.Zone.UpdateZone(func(z *org.Zone) error {
		zn, err := parseZone(z)
		if err != nil {
			return rcodeError(dns.RcodeServerFailure)
		}
		if zq.Qclass != dns.ClassINET || dns.CanonicalName(zq.Name) != zn.origin {
			return rcodeError(dns.RcodeNotAuth)
		}
		if rc := checkPrerequisites(zn, r.Answer); rc != dns.RcodeSuccess {
			return rcodeError(rc)
		}
		if rc := prescan(zn, r.Ns); rc != dns.RcodeSuccess {
			return rcodeError(rc)
		}
		if !applyUpdates(zn, r.Ns) {
			return errNoChange
		}
		soa := zn.soa()
		soa.Serial++
		if soa.Serial == 0 {
			soa.Serial = 1
		}
		zn.store(z)
		return nil
	})
	var rc rcodeError
	switch {
	case err == nil, errors.Is(err, errNoChange):
		return dns.RcodeSuccess
	case errors.As(err, &rc):
		return int(rc)
	default:
		return dns.RcodeServerFailure
	}
}
