package dnsupdate

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/pause"
)

// TSIG is the key that signs updates (RFC 8945).
type TSIG struct {
	// Name is the key's name, e.g. "exrunbook-update.".
	Name string
	// Algorithm is "hmac-sha256" (the default when empty) or "hmac-sha512".
	Algorithm string
	// Secret is the base64 key. It is never logged or printed.
	Secret string
}

// String names the key and algorithm, never the secret.
func (t TSIG) String() string {
	return fmt.Sprintf("TSIG key %s (%s)", t.Name, t.algorithmName())
}

// GoString is String: %#v must not print the secret either.
func (t TSIG) GoString() string { return t.String() }

func (t TSIG) algorithmName() string {
	if t.Algorithm == "" {
		return "hmac-sha256"
	}
	return t.Algorithm
}

// algorithm returns the miekg/dns algorithm name, refusing all but
// hmac-sha256 and hmac-sha512.
func (t TSIG) algorithm() (string, error) {
	switch strings.ToLower(strings.TrimSuffix(t.algorithmName(), ".")) {
	case "hmac-sha256":
		return dns.HmacSHA256, nil
	case "hmac-sha512":
		return dns.HmacSHA512, nil
	}
	return "", fmt.Errorf("TSIG algorithm %q is not supported: use hmac-sha256 or hmac-sha512 (public_dns.tsig.algorithm)", t.Algorithm)
}

// Check validates the key: a valid name, a supported algorithm and a
// base64 secret (whose value is never part of the message).
func (t TSIG) Check() error {
	if t.Name == "" {
		return ErrNoTSIG
	}
	if _, ok := dns.IsDomainName(t.Name); !ok || strings.ContainsAny(t.Name, " \t\r\n\"();\\") {
		return fmt.Errorf("TSIG key name %q is not a valid domain name (public_dns.tsig.name)", t.Name)
	}
	if _, err := t.algorithm(); err != nil {
		return err
	}
	if t.Secret == "" {
		return fmt.Errorf("the secret of TSIG key '%s' is empty: set EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET or public_dns.tsig.secret_file", t.Name)
	}
	if _, err := base64.StdEncoding.DecodeString(t.Secret); err != nil {
		return fmt.Errorf("the secret of TSIG key '%s' is not valid base64 (public_dns.tsig secret)", t.Name)
	}
	return nil
}

// Client talks to a zone's primary: it reads RRsets for the snapshot and
// sends TSIG-signed RFC 2136 updates over TCP.
type Client struct {
	// Server is the primary, "host:port" (":53" is added when missing).
	Server string
	// Zone is the zone, e.g. "contoso.com.".
	Zone string
	// TSIG signs updates (and queries, when set).
	TSIG TSIG
	// Timeout bounds each exchange (default 5 s).
	Timeout time.Duration
	// Retries is how often a SERVFAIL or a timeout is retried: 0 means the
	// default of 2, a negative value means never.
	Retries int
	// Backoff is the wait before the first retry (default 500 ms); it
	// doubles with each retry, up to 5 s.
	Backoff time.Duration
	// Setting is the configuration block that names this server, zone
	// and key, for the messages ("public_dns" when empty;
	// "certificate.acme.challenge_dns" for the ACME challenge zone).
	Setting string

	// now is the clock that dates TSIG signatures (tests skew it).
	now func() time.Time
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 5 * time.Second
}

func (c *Client) retries() int {
	switch {
	case c.Retries < 0:
		return 0
	case c.Retries == 0:
		return 2
	}
	return c.Retries
}

func (c *Client) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *Client) server() string { return withPort(c.Server, "53") }

func (c *Client) zone() string { return dns.CanonicalName(c.Zone) }

// withPort adds port to a host without one ("192.0.2.53" → "192.0.2.53:53").
func withPort(hostport, port string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	return net.JoinHostPort(strings.Trim(hostport, "[]"), port)
}

// exchange sends m (re-signing and re-numbering each attempt) and retries
// SERVFAIL answers and timeouts with a doubling backoff. It returns the
// last response (which may come with a TSIG verification error), the
// number of attempts and the transport error, if any.
func (c *Client) exchange(ctx context.Context, m *dns.Msg, network string, sign bool) (*dns.Msg, int, error) {
	cl := &dns.Client{Net: network, Timeout: c.timeout()}
	var alg string
	if sign {
		a, err := c.TSIG.algorithm()
		if err != nil {
			return nil, 0, err
		}
		alg = a
		cl.TsigSecret = map[string]string{dns.CanonicalName(c.TSIG.Name): c.TSIG.Secret}
	}
	wait := c.Backoff
	if wait <= 0 {
		wait = 500 * time.Millisecond
	}
	var (
		r    *dns.Msg
		err  error
		sent int
	)
	for attempt := 0; attempt <= c.retries(); attempt++ {
		if attempt > 0 {
			if err := pause.For(ctx, wait); err != nil {
				return r, sent, err
			}
			if wait *= 2; wait > 5*time.Second {
				wait = 5 * time.Second
			}
		}
		mm := m.Copy()
		mm.Id = dns.Id()
		if sign {
			mm.SetTsig(dns.CanonicalName(c.TSIG.Name), alg, 300, c.clock().Unix())
		}
		sent++
		r, _, err = cl.ExchangeContext(ctx, mm, c.server())
		if ctx.Err() != nil {
			return r, sent, ctx.Err()
		}
		if r == nil || (err != nil && r.MsgHdr.Id != mm.Id) {
			if retryable(err) {
				continue
			}
			return nil, sent, err
		}
		if r.Rcode == dns.RcodeServerFailure {
			continue
		}
		return r, sent, err
	}
	return r, sent, err
}

// retryable reports whether a transport error is worth another try:
// timeouts and connection failures.
func retryable(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// explain turns a response into nil or a *ServerError. verr is the TSIG
// verification error from reading the response.
func (c *Client) explain(op string, r *dns.Msg, attempts int, verr error, signedAt time.Time) error {
	e := &ServerError{Op: op, Server: c.server(), Zone: c.zone(), Rcode: r.Rcode, Attempts: attempts}
	if c.TSIG.Name != "" {
		e.Key = dns.CanonicalName(c.TSIG.Name)
	}
	if t := r.IsTsig(); t != nil && t.Error != 0 {
		e.TSIGError = t.Error
		if t.Error == dns.RcodeBadTime {
			e.LocalTime = signedAt
			if other, err := hexBytes(t.OtherData); err == nil && len(other) == 6 {
				var b [8]byte
				copy(b[2:], other)
				e.ServerTime = time.Unix(int64(binary.BigEndian.Uint64(b[:])), 0)
			}
		}
		return e
	}
	if r.Rcode != dns.RcodeSuccess && !(op == "query" && r.Rcode == dns.RcodeNameError) {
		return e
	}
	if c.TSIG.Name != "" && r.IsTsig() == nil {
		e.Detail = "the response is not TSIG-signed although the request was: the answer cannot be trusted (is something between this machine and the server rewriting DNS?)"
		return e
	}
	if verr != nil {
		if errors.Is(verr, dns.ErrTime) {
			e.Detail = fmt.Sprintf("the response's TSIG signature is outside the time window (%v): synchronise the clocks (NTP)", verr)
		} else {
			e.Detail = fmt.Sprintf("the response's TSIG signature did not verify (%v): the answer cannot be trusted; check public_dns.tsig", verr)
		}
		return e
	}
	return nil
}

func hexBytes(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd hex")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		var v byte
		for _, ch := range s[2*i : 2*i+2] {
			v <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				v |= byte(ch - '0')
			case ch >= 'a' && ch <= 'f':
				v |= byte(ch - 'a' + 10)
			case ch >= 'A' && ch <= 'F':
				v |= byte(ch - 'A' + 10)
			default:
				return nil, fmt.Errorf("bad hex")
			}
		}
		out[i] = v
	}
	return out, nil
}

// Query reads one RRset from the primary (no recursion, over TCP, signed
// when a TSIG key is set). A missing name or type is an RRset without
// Data. The answer must be authoritative.
func (c *Client) Query(ctx context.Context, name string, qtype uint16) (_ RRset, err error) {
	defer func() { err = c.rename(err) }()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = false
	sign := c.TSIG.Name != ""
	signedAt := c.clock()
	r, attempts, err := c.exchange(ctx, m, "tcp", sign)
	if r == nil {
		if err == nil {
			err = fmt.Errorf("no answer")
		}
		return RRset{}, fmt.Errorf("query %s %s at %s: %w", name, typeString(qtype), c.server(), err)
	}
	if e := c.explain("query", r, attempts, err, signedAt); e != nil {
		return RRset{}, e
	}
	if !r.Authoritative {
		return RRset{}, fmt.Errorf("query %s %s at %s: the answer is not authoritative (no AA flag): public_dns.server must be the primary of zone %s", name, typeString(qtype), c.server(), c.zone())
	}
	return fromRRs(name, qtype, r.Answer), nil
}

// QueryTypes reads the RRset of each type of name, in the order given,
// as Query does.
func (c *Client) QueryTypes(ctx context.Context, name string, types ...uint16) ([]RRset, error) {
	out := make([]RRset, 0, len(types))
	for _, t := range types {
		s, err := c.Query(ctx, name, t)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Snapshot reads the A, AAAA and CNAME RRsets of each name from the
// primary: what the public-dns step captures before it changes anything.
func (c *Client) Snapshot(ctx context.Context, names ...string) ([]RRset, error) {
	var out []RRset
	for _, n := range names {
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME} {
			s, err := c.Query(ctx, n, t)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// Current reads from the primary the current value of each RRset's name
// and type, in the same order.
func (c *Client) Current(ctx context.Context, sets []RRset) ([]RRset, error) {
	out := make([]RRset, 0, len(sets))
	for _, s := range sets {
		cur, err := c.Query(ctx, s.Name, s.Type)
		if err != nil {
			return nil, err
		}
		out = append(out, cur)
	}
	return out, nil
}

// Update is one RFC 2136 UPDATE: all of it applies, or none.
type Update struct {
	// Prereq lists RRsets that must exist exactly so (value-dependent,
	// RFC 2136 2.4.2); an RRset without Data must not exist (2.4.3).
	Prereq []RRset `json:"prereq,omitempty"`
	// Delete lists RRsets to delete entirely (2.5.2). Their Data is not
	// sent; it shows what is removed (ZoneFileLines).
	Delete []RRset `json:"delete,omitempty"`
	// Add lists records to add (2.5.1), with their TTL.
	Add []RRset `json:"add,omitempty"`
}

// Empty reports whether the update changes nothing (prerequisites aside).
func (u Update) Empty() bool { return len(u.Delete) == 0 && len(u.Add) == 0 }

// Expected is the state of every RRset the update touches once it has
// applied, sorted by name and type. It is known only when each touched
// RRset also has a prerequisite or is deleted first; ok is false otherwise.
func (u Update) Expected() (sets []RRset, ok bool) {
	state := index(u.Prereq)
	for _, d := range u.Delete {
		state[d.Key()] = RRset{Name: d.Key().Name, Type: d.Type}
	}
	for _, a := range u.Add {
		k := a.Key()
		cur, known := state[k]
		if !known {
			return nil, false
		}
		merged := RRset{Name: k.Name, Type: a.Type, TTL: a.TTL, Data: append(append([]string(nil), cur.Data...), a.Data...)}
		state[k] = merged.normalize()
	}
	for _, s := range state {
		sets = append(sets, s)
	}
	sortSets(sets)
	return sets, true
}

// msg builds the UPDATE message for zone z, refusing RRsets outside it.
func (u Update) msg(z string) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetUpdate(z)
	check := func(what string, s RRset) error {
		if !dns.IsSubDomain(z, dns.CanonicalName(s.Name)) {
			return fmt.Errorf("%s %s is outside zone %s", what, s.Key(), z)
		}
		return nil
	}
	for _, p := range u.Prereq {
		if err := check("prerequisite", p); err != nil {
			return nil, err
		}
		if p.Exists() {
			rrs, err := p.toRRs()
			if err != nil {
				return nil, err
			}
			m.Used(rrs)
		} else {
			m.RRsetNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: dns.Fqdn(p.Name), Rrtype: p.Type}}})
		}
	}
	for _, d := range u.Delete {
		if err := check("deletion", d); err != nil {
			return nil, err
		}
		m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: dns.Fqdn(d.Name), Rrtype: d.Type}}})
	}
	for _, a := range u.Add {
		if err := check("addition", a); err != nil {
			return nil, err
		}
		if !a.Exists() {
			return nil, fmt.Errorf("addition %s has no records", a.Key())
		}
		if a.TTL < 1 || a.TTL > MaxTTL {
			return nil, fmt.Errorf("addition %s: TTL %d is out of range (1 to %d)", a.Key(), a.TTL, MaxTTL)
		}
		rrs, err := a.toRRs()
		if err != nil {
			return nil, err
		}
		m.Insert(rrs)
	}
	return m, nil
}

// Update sends u to the primary as one TSIG-signed UPDATE over TCP. A
// failed prerequisite is a *ConflictError carrying the current values;
// other refusals are a *ServerError saying what to check. When a retried
// UPDATE meets failed prerequisites because an earlier attempt did apply
// (its answer was lost), Update reports success.
func (c *Client) Update(ctx context.Context, u Update) (err error) {
	defer func() { err = c.rename(err) }()
	if err := c.TSIG.Check(); err != nil {
		return err
	}
	z, err := CheckZone(c.Zone)
	if err != nil {
		return fmt.Errorf("public_dns.zone: %w", err)
	}
	m, err := u.msg(z)
	if err != nil {
		return fmt.Errorf("update of zone %s: %w", z, err)
	}
	signedAt := c.clock()
	r, attempts, err := c.exchange(ctx, m, "tcp", true)
	if r == nil {
		if err == nil {
			err = fmt.Errorf("no answer")
		}
		return fmt.Errorf("update to %s for zone %s failed after %d attempt(s): %w", c.server(), z, attempts, err)
	}
	if isPrereqFailure(r.Rcode) {
		if attempts > 1 {
			if want, ok := u.Expected(); ok {
				if cur, qerr := c.Current(ctx, want); qerr == nil && allSame(want, cur) {
					return nil
				}
			}
		}
		return c.conflict(ctx, r.Rcode, u.Prereq)
	}
	return c.explain("update", r, attempts, err, signedAt)
}

func allSame(want, cur []RRset) bool {
	if len(want) != len(cur) {
		return false
	}
	for i := range want {
		if !Same(want[i], cur[i]) {
			return false
		}
	}
	return true
}

// conflict builds the ConflictError, reading the current values of the
// prerequisites from the primary.
func (c *Client) conflict(ctx context.Context, rcode int, prereq []RRset) error {
	e := &ConflictError{Zone: c.zone(), Rcode: rcode}
	cur, err := c.Current(ctx, prereq)
	if err != nil {
		e.QueryErr = err
		return e
	}
	for i, p := range prereq {
		if !SameData(p.normalize(), cur[i]) {
			e.Conflicts = append(e.Conflicts, Conflict{Expected: p.normalize(), Current: cur[i]})
		}
	}
	return e
}
