package dnsupdate

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// VerifyRequest says what every authoritative nameserver must answer.
type VerifyRequest struct {
	// Zone is the zone (default: the client's).
	Zone string
	// Nameservers are the servers to ask: "host:port", "host" (port 53)
	// or names. Empty: the zone's NS records, read from the primary, each
	// resolved to its addresses (glue from the primary for names inside
	// the zone, the system resolver otherwise).
	Nameservers []string
	// Port is the port of the servers found through NS records (default 53).
	Port int
	// Expect lists the RRsets each server must answer; one without Data
	// must not exist. A TTL other than 0 must match too.
	Expect []RRset
}

// ServerReport is what one nameserver answered.
type ServerReport struct {
	// Server is the address asked ("203.0.113.53:53").
	Server string `json:"server"`
	// Name is the NS name it was found as, if any.
	Name string `json:"name,omitempty"`
	// Serial is the zone's SOA serial it answered (0 if none).
	Serial uint32 `json:"serial"`
	// Authoritative is true when every answer carried the AA flag.
	Authoritative bool `json:"authoritative"`
	// Answers are the RRsets it answered, in Expect's order.
	Answers []RRset `json:"answers,omitempty"`
	// Wrong lists every expectation it did not meet.
	Wrong []string `json:"wrong,omitempty"`
	// Lagging is true when its serial is below the highest seen.
	Lagging bool `json:"lagging,omitempty"`
	// Err is set when it could not be asked.
	Err string `json:"error,omitempty"`
	// Evidence is what it answered, as dig-like lines.
	Evidence []string `json:"evidence,omitempty"`
}

// OK reports whether the server answered authoritatively, as expected,
// with the newest serial.
func (s ServerReport) OK() bool {
	return s.Err == "" && s.Authoritative && len(s.Wrong) == 0 && !s.Lagging
}

// Label is the server's address and, when known, its NS name.
func (s ServerReport) Label() string {
	if s.Name != "" {
		return s.Server + " (" + s.Name + ")"
	}
	return s.Server
}

// VerifyReport is the verdict over all nameservers.
type VerifyReport struct {
	// Zone is the zone verified.
	Zone string `json:"zone"`
	// Serial is the highest SOA serial seen (the primary's included).
	Serial uint32 `json:"serial"`
	// Servers holds one report per nameserver.
	Servers []ServerReport `json:"servers"`
	// Err is set when the nameservers could not be found.
	Err string `json:"error,omitempty"`
}

// OK reports whether there was at least one server and every one is OK.
func (r VerifyReport) OK() bool {
	if r.Err != "" || len(r.Servers) == 0 {
		return false
	}
	for _, s := range r.Servers {
		if !s.OK() {
			return false
		}
	}
	return true
}

// Lagging names the servers whose serial is behind.
func (r VerifyReport) Lagging() []string {
	var out []string
	for _, s := range r.Servers {
		if s.Lagging {
			out = append(out, s.Label())
		}
	}
	return out
}

// Failing names the servers that are not OK, each with why.
func (r VerifyReport) Failing() []string {
	var out []string
	for _, s := range r.Servers {
		if s.OK() {
			continue
		}
		var why []string
		if s.Err != "" {
			why = append(why, s.Err)
		}
		if s.Err == "" && !s.Authoritative {
			why = append(why, "not authoritative (no AA flag)")
		}
		if s.Lagging {
			why = append(why, fmt.Sprintf("lagging: serial %d, newest %d", s.Serial, r.Serial))
		}
		why = append(why, s.Wrong...)
		out = append(out, s.Label()+": "+strings.Join(why, "; "))
	}
	return out
}

// Summary is a one-line verdict.
func (r VerifyReport) Summary() string {
	switch {
	case r.Err != "":
		return r.Err
	case len(r.Servers) == 0:
		return "no nameservers to verify"
	case r.OK():
		return fmt.Sprintf("all %d authoritative nameservers of %s answer as expected with serial %d", len(r.Servers), r.Zone, r.Serial)
	}
	return fmt.Sprintf("%d of %d nameservers of %s are not as expected: %s", len(r.Failing()), len(r.Servers), r.Zone, strings.Join(r.Failing(), " | "))
}

// Evidence is every server's dig-like lines.
func (r VerifyReport) Evidence() []string {
	var out []string
	for _, s := range r.Servers {
		out = append(out, s.Evidence...)
	}
	return out
}

// Verify asks every authoritative nameserver of the zone (RD=0) for the
// SOA and each expected RRset, requires the AA flag, and compares answers
// and serials: a server whose serial is below the highest seen (the
// primary's included) is lagging; one whose answers differ is wrong.
func (c *Client) Verify(ctx context.Context, req VerifyRequest) VerifyReport {
	zone := req.Zone
	if zone == "" {
		zone = c.Zone
	}
	zone = dns.CanonicalName(zone)
	rep := VerifyReport{Zone: zone}
	port := "53"
	if req.Port > 0 {
		port = strconv.Itoa(req.Port)
	}
	type target struct{ addr, name string }
	var targets []target
	if len(req.Nameservers) == 0 {
		ns, err := c.Nameservers(ctx, zone, port)
		if err != nil {
			rep.Err = fmt.Sprintf("finding the nameservers of %s: %v", zone, err)
			return rep
		}
		for _, n := range ns {
			targets = append(targets, target{n.Addr, n.Name})
		}
	} else {
		for _, s := range req.Nameservers {
			addrs, err := resolveServer(ctx, s)
			if err != nil {
				rep.Servers = append(rep.Servers, ServerReport{Server: s, Err: err.Error(), Evidence: []string{fmt.Sprintf("; %s: %v", s, err)}})
				continue
			}
			for _, a := range addrs {
				name := ""
				if a != s {
					name = s
				}
				targets = append(targets, target{a, name})
			}
		}
	}
	v := &verifier{c: c, zone: zone, expect: req.Expect}
	reports := make([]ServerReport, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reports[i] = v.server(ctx, t.addr, t.name)
		}()
	}
	var primary uint32
	if c.Server != "" {
		if soa, err := c.Query(ctx, zone, dns.TypeSOA); err == nil && soa.Exists() {
			primary = soaSerial(soa.Data[0])
		}
	}
	wg.Wait()
	rep.Servers = append(rep.Servers, reports...)
	rep.Serial = primary
	for _, s := range rep.Servers {
		if s.Err == "" && s.Serial > rep.Serial {
			rep.Serial = s.Serial
		}
	}
	for i := range rep.Servers {
		s := &rep.Servers[i]
		if s.Err == "" && s.Serial < rep.Serial {
			s.Lagging = true
			s.Evidence = append(s.Evidence, fmt.Sprintf("; @%s is LAGGING: serial %d, newest %d", s.Server, s.Serial, rep.Serial))
		}
	}
	return rep
}

func soaSerial(rdata string) uint32 {
	f := strings.Fields(rdata)
	if len(f) < 3 {
		return 0
	}
	n, _ := strconv.ParseUint(f[2], 10, 32)
	return uint32(n)
}

// resolveServer turns "host:port", "host" or "name[:port]" into addresses.
func resolveServer(ctx context.Context, s string) ([]string, error) {
	hp := withPort(s, "53")
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return nil, fmt.Errorf("nameserver %q: %v", s, err)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return []string{hp}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("nameserver %q does not resolve: %v", s, err)
	}
	var out []string
	for _, ip := range ips {
		out = append(out, net.JoinHostPort(ip.Unmap().String(), port))
	}
	sort.Strings(out)
	return out, nil
}

// NameServer is one address of an NS of the zone.
type NameServer struct {
	// Name is the NS target, e.g. "ns1.contoso.com.".
	Name string
	// Addr is one of its addresses with the port, e.g. "203.0.113.53:53".
	Addr string
}

// Nameservers reads the zone's NS RRset from the primary and resolves each
// name: from the primary when the name is inside the zone (its glue),
// otherwise through the system resolver.
func (c *Client) Nameservers(ctx context.Context, zone, port string) ([]NameServer, error) {
	zone = dns.CanonicalName(zone)
	ns, err := c.Query(ctx, zone, dns.TypeNS)
	if err != nil {
		return nil, err
	}
	if !ns.Exists() {
		return nil, fmt.Errorf("the primary %s has no NS records for %s", c.server(), zone)
	}
	var out []NameServer
	for _, name := range ns.Data {
		name = dns.CanonicalName(name)
		var addrs []string
		if dns.IsSubDomain(zone, name) {
			for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
				s, err := c.Query(ctx, name, t)
				if err != nil {
					return nil, err
				}
				for _, d := range s.Data {
					addrs = append(addrs, net.JoinHostPort(d, port))
				}
			}
		} else {
			ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", strings.TrimSuffix(name, "."))
			if err != nil {
				return nil, fmt.Errorf("nameserver %s of %s does not resolve: %v", name, zone, err)
			}
			for _, ip := range ips {
				addrs = append(addrs, net.JoinHostPort(ip.Unmap().String(), port))
			}
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("nameserver %s of %s has no address", name, zone)
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			out = append(out, NameServer{Name: name, Addr: a})
		}
	}
	return out, nil
}

type verifier struct {
	c      *Client
	zone   string
	expect []RRset
}

// ask sends one non-recursive query over UDP, then TCP when truncated.
func (v *verifier) ask(ctx context.Context, addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	m.SetEdns0(1232, false)
	c := &Client{Server: addr, Timeout: v.c.Timeout, Retries: v.c.Retries, Backoff: v.c.Backoff}
	r, _, err := c.exchange(ctx, m, "udp", false)
	if err == nil && r != nil && r.Truncated {
		r, _, err = c.exchange(ctx, m, "tcp", false)
	}
	if r == nil && err == nil {
		err = fmt.Errorf("no answer")
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func flags(r *dns.Msg) string {
	f := []string{"qr"}
	if r.Authoritative {
		f = append(f, "aa")
	}
	if r.RecursionDesired {
		f = append(f, "rd")
	}
	if r.RecursionAvailable {
		f = append(f, "ra")
	}
	return strings.Join(f, " ")
}

func (v *verifier) server(ctx context.Context, addr, name string) ServerReport {
	rep := ServerReport{Server: addr, Name: name, Authoritative: true}
	r, err := v.ask(ctx, addr, v.zone, dns.TypeSOA)
	if err != nil {
		rep.Authoritative = false
		rep.Err = fmt.Sprintf("no answer: %v", err)
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("; @%s %s SOA: %v", addr, v.zone, err))
		return rep
	}
	soa := fromRRs(v.zone, dns.TypeSOA, r.Answer)
	rep.Evidence = append(rep.Evidence, fmt.Sprintf("; @%s %s SOA: status %s, flags %s", addr, v.zone, rcodeName(r.Rcode), flags(r)))
	if !r.Authoritative {
		rep.Authoritative = false
		rep.Wrong = append(rep.Wrong, fmt.Sprintf("its %s SOA answer is not authoritative (no AA flag)", v.zone))
	}
	if soa.Exists() {
		rep.Serial = soaSerial(soa.Data[0])
		rep.Evidence = append(rep.Evidence, soa.Lines()...)
	} else {
		rep.Wrong = append(rep.Wrong, fmt.Sprintf("it has no SOA for %s (%s)", v.zone, rcodeName(r.Rcode)))
	}
	for _, want := range v.expect {
		want = want.normalize()
		r, err := v.ask(ctx, addr, want.Name, want.Type)
		if err != nil {
			rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s %s: no answer: %v", want.Name, want.TypeString(), err))
			rep.Evidence = append(rep.Evidence, fmt.Sprintf("; @%s %s %s: %v", addr, want.Name, want.TypeString(), err))
			rep.Answers = append(rep.Answers, RRset{Name: want.Name, Type: want.Type})
			continue
		}
		got := fromRRs(want.Name, want.Type, r.Answer)
		rep.Answers = append(rep.Answers, got)
		none := ""
		if !got.Exists() {
			none = ", no records"
		}
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("; @%s %s %s: status %s, flags %s%s", addr, want.Name, want.TypeString(), rcodeName(r.Rcode), flags(r), none))
		rep.Evidence = append(rep.Evidence, got.Lines()...)
		if !r.Authoritative {
			rep.Authoritative = false
			rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s %s: answer not authoritative (no AA flag)", want.Name, want.TypeString()))
			continue
		}
		if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
			rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s %s: answered %s", want.Name, want.TypeString(), rcodeName(r.Rcode)))
			continue
		}
		switch {
		case !SameData(want, got):
			rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s %s: want %s, got %s", want.Name, want.TypeString(), want.Values(), got.Values()))
		case want.Exists() && want.TTL != 0 && want.TTL != got.TTL:
			rep.Wrong = append(rep.Wrong, fmt.Sprintf("%s %s: want TTL %d, got %d", want.Name, want.TypeString(), want.TTL, got.TTL))
		}
	}
	for _, w := range rep.Wrong {
		rep.Evidence = append(rep.Evidence, fmt.Sprintf("; @%s is WRONG: %s", addr, w))
	}
	return rep
}
