package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/miekg/dns"
)

func init() { Register("public-dns", newPublicDNS) }

// The public_dns.mode values.
const (
	publicDNSModeRFC2136 = clients.DNSModeRFC2136
	publicDNSModeManual  = clients.DNSModeManual
)

// PublicDNSPoll is how long the public-dns step waits before it asks the
// nameservers again while one of them still serves the old zone.
const PublicDNSPoll = 10 * time.Second

// PublicDNSManualPoll is how long the public-dns step waits, in manual
// mode, before it looks again whether the records were changed by hand.
const PublicDNSManualPoll = time.Minute

// PublicDNSSnapshot is what the public-dns step captures: the public
// RRsets of both names as the primary served them, and the swap's UPDATE
// and its reverse computed from them. The updates are stored rather than
// recomputed so that a resumed apply and a rollback use exactly the
// prerequisites the plan showed. It holds no secret.
type PublicDNSSnapshot struct {
	// Mode is public_dns.mode at capture time.
	Mode string `json:"mode"`
	// Zone, Internal and External are the zone and the names, canonical.
	Zone     string `json:"zone"`
	Internal string `json:"internal"`
	External string `json:"external"`
	// Source is the server the records were read from (host:port).
	Source string `json:"source"`
	// Records are the A, AAAA and CNAME RRsets of both names.
	Records []dnsupdate.RRset `json:"records"`
	// Forward is the swap; Reverse restores Records.
	Forward dnsupdate.Update `json:"forward"`
	Reverse dnsupdate.Update `json:"reverse"`
	// OldTTL is how long resolvers may keep answering with the old data
	// after the swap: the largest TTL of the deleted RRsets and, when the
	// swap adds an RRset that did not exist, the zone's negative TTL.
	OldTTL uint32 `json:"old_ttl"`
	// CapturedAt is when the records were read.
	CapturedAt time.Time `json:"captured_at"`
}

// publicDNS is the public-dns step: it swaps the public records of the
// internal and the external name in one prerequisite-guarded UPDATE (or,
// in manual mode, prints the zone-file lines and verifies), and waits for
// every nameserver and the old TTL.
type publicDNS struct {
	id   string
	deps *Deps
	cfg  config.PublicDNS
	ns   config.Namespace
	idns config.InternalDNS
	mode string
	zone string
	// internal and external are canonical names inside zone.
	internal, external string
	// prov is the record-set provider, made on first use.
	prov recordset.Provider
}

func newPublicDNS(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if err := configOnly(id, "public-dns", "public_dns", with, deps); err != nil {
		return nil, err
	}
	c := deps.Config
	s := &publicDNS{id: id, deps: deps, cfg: c.PublicDNS, ns: c.Namespace, idns: c.InternalDNS}
	s.mode = strings.ToLower(c.PublicDNS.Mode)
	if s.mode == "" {
		s.mode = publicDNSModeRFC2136
	}
	switch s.mode {
	case publicDNSModeRFC2136:
		if c.PublicDNS.Server == "" {
			return nil, fmt.Errorf("public_dns.server: missing; mode rfc2136 sends the UPDATE to the zone's primary (host:port)")
		}
	case publicDNSModeManual:
		if c.PublicDNS.Server == "" && len(c.PublicDNS.Nameservers) == 0 {
			return nil, fmt.Errorf("public_dns.server: missing; mode manual still reads and verifies the zone: set public_dns.server (the primary) or public_dns.nameservers")
		}
	default:
		if !clients.IsDNSAPI(s.mode) {
			return nil, fmt.Errorf("public_dns.mode: %q is not one of %s", c.PublicDNS.Mode, strings.Join(clients.DNSModes(), ", "))
		}
		if c.PublicDNS.Server == "" && len(c.PublicDNS.Nameservers) == 0 {
			return nil, fmt.Errorf("public_dns.nameservers: missing; mode %s writes through the provider's API and then verifies every authoritative nameserver: list them (host:port)", s.mode)
		}
	}
	z, err := dnsupdate.CheckZone(c.PublicDNS.Zone)
	if err != nil {
		return nil, fmt.Errorf("public_dns.zone: %w", err)
	}
	s.zone = z
	if s.external, err = dnsupdate.CheckName(c.Namespace.External, z); err != nil {
		return nil, fmt.Errorf("namespace.external: %w", err)
	}
	if s.internal, err = dnsupdate.CheckName(c.Namespace.Internal, z); err != nil {
		return nil, fmt.Errorf("namespace.internal: %w", err)
	}
	if s.internal == s.external {
		return nil, fmt.Errorf("namespace.internal and namespace.external are both %s: they must differ", s.internal)
	}
	if _, err := dnsupdate.ARecord(z, c.Namespace.External, c.PublicDNS.PublicIP, int64(c.PublicDNS.TTL)); err != nil {
		return nil, fmt.Errorf("public_dns.public_ip/ttl: %w", err)
	}
	return s, nil
}

// source is the server the step reads the zone from: the primary, or in
// manual mode without one, the first nameserver.
func (s *publicDNS) source() string {
	if s.cfg.Server != "" {
		return s.cfg.Server
	}
	return s.cfg.Nameservers[0]
}

// client returns the DNS client for the verification and the negative
// TTL: TSIG-signed through Deps in rfc2136 mode, unsigned otherwise (no
// key is needed to read an authoritative server).
func (s *publicDNS) client() (*dnsupdate.Client, error) {
	if s.mode != publicDNSModeRFC2136 {
		return &dnsupdate.Client{Server: s.source(), Zone: s.zone}, nil
	}
	return s.deps.Clients.PublicDNSUpdate()
}

// provider returns the record-set provider of public_dns.mode: every read
// of the records and every write goes through it.
func (s *publicDNS) provider(env engine.Env) (recordset.Provider, error) {
	if s.prov != nil {
		return s.prov, nil
	}
	p, err := s.deps.Clients.PublicDNSRecordSet(env.Logf)
	if err != nil {
		return nil, err
	}
	s.prov = p
	return s.prov, nil
}

// current reads the current value of each RRset's name and type through
// the provider, in the same order.
func (s *publicDNS) current(ctx context.Context, env engine.Env, sets []dnsupdate.RRset) ([]dnsupdate.RRset, error) {
	prov, err := s.provider(env)
	if err != nil {
		return nil, err
	}
	// One read per name, with all of its types.
	var names []string
	types := map[string][]uint16{}
	for _, set := range sets {
		n := dns.CanonicalName(set.Name)
		if _, ok := types[n]; !ok {
			names = append(names, n)
		}
		types[n] = append(types[n], set.Type)
	}
	got := map[dnsupdate.Key]dnsupdate.RRset{}
	for _, n := range names {
		cur, err := prov.GetRRsets(ctx, s.zone, n, types[n]...)
		if err != nil {
			return nil, err
		}
		for i, t := range types[n] {
			got[dnsupdate.Key{Name: n, Type: t}] = recordset.Normalize(cur[i])
		}
	}
	out := make([]dnsupdate.RRset, 0, len(sets))
	for _, set := range sets {
		out = append(out, got[set.Key()])
	}
	return out, nil
}

// snapshotSets are the A, AAAA and CNAME RRsets of both names, empty.
func (s *publicDNS) snapshotSets() []dnsupdate.RRset {
	var out []dnsupdate.RRset
	for _, n := range []string{s.internal, s.external} {
		for _, t := range dnsupdate.SwapTypes {
			out = append(out, dnsupdate.RRset{Name: n, Type: t})
		}
	}
	return out
}

// atomic is the provider when it applies an update all at once.
func (s *publicDNS) atomic(env engine.Env) (recordset.Atomic, bool) {
	prov, err := s.provider(env)
	if err != nil {
		return nil, false
	}
	a, ok := prov.(recordset.Atomic)
	return a, ok
}

// pdnsTransient marks transport failures (timeouts, refused connections)
// as worth retrying; a server's refusal or a conflict is not.
func pdnsTransient(err error) error {
	if err == nil {
		return nil
	}
	var se *dnsupdate.ServerError
	var ce *dnsupdate.ConflictError
	if errors.As(err, &se) || errors.As(err, &ce) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return errkind.Transient(err)
	}
	return err
}

// Capture reads the public RRsets of both names from the primary and
// computes the swap and its reverse.
func (s *publicDNS) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	c, err := s.client()
	if err != nil {
		return nil, err
	}
	recs, err := s.current(ctx, env, s.snapshotSets())
	if err != nil {
		return nil, pdnsTransient(fmt.Errorf("reading the public records of %s (%s): %w", s.zone, s.sourceName(), err))
	}
	fwd, rev, err := dnsupdate.SwapPlan(recs, s.zone, s.external, s.internal, s.cfg.PublicIP, int64(s.cfg.TTL))
	if err != nil {
		return nil, err
	}
	snap := PublicDNSSnapshot{
		Mode: s.mode, Zone: s.zone, Internal: s.internal, External: s.external, Source: s.sourceName(),
		Records: recs, Forward: fwd, Reverse: rev, OldTTL: fwd.MaxDeletedTTL(), CapturedAt: env.Now().UTC(),
	}
	if pdnsAddsNewRRset(fwd, recs) {
		neg, err := c.NegativeTTL(ctx)
		if err != nil {
			return nil, pdnsTransient(fmt.Errorf("reading the negative TTL of %s: %w", s.zone, err))
		}
		snap.OldTTL = max(snap.OldTTL, neg)
	}
	return json.Marshal(snap)
}

// pdnsAddsNewRRset reports whether u adds an RRset that did not exist in
// before: resolvers may have cached its absence for the negative TTL.
func pdnsAddsNewRRset(u dnsupdate.Update, before []dnsupdate.RRset) bool {
	existed := map[dnsupdate.Key]bool{}
	for _, r := range before {
		if r.Exists() {
			existed[r.Key()] = true
		}
	}
	for _, a := range u.Add {
		if !existed[a.Key()] {
			return true
		}
	}
	return false
}

func pdnsDecode(snap engine.Snapshot) (PublicDNSSnapshot, error) {
	var p PublicDNSSnapshot
	if err := json.Unmarshal(snap, &p); err != nil {
		return p, fmt.Errorf("public-dns snapshot: %w", err)
	}
	if len(p.Records) == 0 {
		return p, fmt.Errorf("public-dns snapshot holds no records: roll the step back and run it again")
	}
	return p, nil
}

// expected is the state the swap leaves: every RRset of both names.
func (p PublicDNSSnapshot) expected() ([]dnsupdate.RRset, error) {
	want, ok := p.Forward.Expected()
	if !ok {
		return nil, fmt.Errorf("the stored update does not determine the records it leaves (snapshot damaged?)")
	}
	return want, nil
}

func pdnsDescribe(r dnsupdate.RRset) string {
	if !r.Exists() {
		return "(none)"
	}
	return fmt.Sprintf("%s (TTL %d)", r.Values(), r.TTL)
}

// Plan shows every RRset of both names before → after, and in manual mode
// the zone-file lines to remove and add.
func (s *publicDNS) Plan(ctx context.Context, env engine.Env, snap engine.Snapshot) (engine.Plan, error) {
	p, err := pdnsDecode(snap)
	if err != nil {
		return engine.Plan{}, err
	}
	after, err := p.expected()
	if err != nil {
		return engine.Plan{}, err
	}
	before := map[dnsupdate.Key]dnsupdate.RRset{}
	for _, r := range p.Records {
		before[r.Key()] = r
	}
	var plan engine.Plan
	for _, a := range after {
		b, ok := before[a.Key()]
		if !ok {
			b = dnsupdate.RRset{Name: a.Name, Type: a.Type}
		}
		from, to := pdnsDescribe(b), pdnsDescribe(a)
		if dnsupdate.Same(b, a) {
			to = from
		}
		plan.Changes = append(plan.Changes, engine.Change{Target: a.Name + " " + a.TypeString(), Field: "public records", From: from, To: to})
	}
	if p.Forward.Empty() {
		plan.Summary = fmt.Sprintf("zone %s already publishes %s and not %s: nothing to change", p.Zone, p.External, p.Internal)
		return plan, nil
	}
	if p.Mode == publicDNSModeManual {
		remove, add := dnsupdate.ZoneFileLines(p.Forward)
		for _, l := range remove {
			plan.Changes = append(plan.Changes, engine.Change{Target: "zone file " + p.Zone, Field: "remove line", From: l, To: "(none)"})
		}
		for _, l := range add {
			plan.Changes = append(plan.Changes, engine.Change{Target: "zone file " + p.Zone, Field: "add line", From: "(none)", To: l})
		}
		plan.Summary = fmt.Sprintf("manual mode: change zone %s by hand (remove %d line(s), add %d, raise the serial); the step then verifies every nameserver and waits %ds for the old TTL", p.Zone, len(remove), len(add), p.OldTTL)
		return plan, nil
	}
	if p.Mode != publicDNSModeRFC2136 {
		plan.Summary = fmt.Sprintf("%d change(s) through the %s API for zone %s, one RRset at a time: the external name is published before the internal one is removed; the records are read first and nothing is changed if they differ from the snapshot of %s; then every nameserver must serve it and the old TTL (%ds) must pass",
			len(pdnsWrites(after, p.Records, p.External, p.Internal)), p.Mode, p.Zone, p.CapturedAt.Format(time.RFC3339), p.OldTTL)
		return plan, nil
	}
	plan.Summary = fmt.Sprintf("one TSIG-signed UPDATE to %s for zone %s, guarded by prerequisites equal to the snapshot of %s; then every nameserver must serve it and the old TTL (%ds) must pass", p.Source, p.Zone, p.CapturedAt.Format(time.RFC3339), p.OldTTL)
	return plan, nil
}

// internalCheck is the internal resolution check, or nil (logged) when
// internal_dns.server is not configured.
func (s *publicDNS) internalCheck(env engine.Env) engine.Check {
	if s.idns.Server == "" {
		env.Logf("internal_dns.server is not configured: internal resolution of %s and %s is not checked", s.ns.Internal, s.ns.Autodiscover)
		return nil
	}
	names := []string{s.ns.Internal}
	if s.ns.Autodiscover != "" {
		names = append(names, s.ns.Autodiscover)
	}
	return checks.InternalResolutionCheck{Server: s.idns.Server, Names: names, Addresses: s.idns.Addresses}
}

// PreChecks: internal DNS still resolves the internal names internally,
// and in rfc2136 mode the TSIG key is usable.
func (s *publicDNS) PreChecks(env engine.Env, snap engine.Snapshot) []engine.Check {
	var out []engine.Check
	if c := s.internalCheck(env); c != nil {
		out = append(out, c)
	}
	if s.mode == publicDNSModeRFC2136 {
		out = append(out, publicDNSKeyCheck{deps: s.deps})
	}
	return out
}

// publicDNSKeyCheck passes when the TSIG key that signs the UPDATE is
// complete: a name, a supported algorithm and a base64 secret.
type publicDNSKeyCheck struct{ deps *Deps }

func (publicDNSKeyCheck) Name() string { return "TSIG key" }

func (k publicDNSKeyCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: k.Name()}
	c, err := k.deps.Clients.PublicDNSUpdate()
	if err == nil {
		err = c.TSIG.Check()
	}
	if err != nil {
		res.Status, res.Message = engine.CheckFail, err.Error()
		return res
	}
	res.Status = engine.CheckPass
	res.Message = fmt.Sprintf("%s is configured for updates to %s", c.TSIG, c.Server)
	return res
}

// Apply swaps the records (rfc2136) or waits for them to be swapped by
// hand (manual), then requires every nameserver to serve them and the old
// TTL to have passed.
func (s *publicDNS) Apply(ctx context.Context, env engine.Env, snap engine.Snapshot) (engine.Outcome, error) {
	p, err := pdnsDecode(snap)
	if err != nil {
		return engine.Outcome{}, err
	}
	want, err := p.expected()
	if err != nil {
		return engine.Outcome{}, err
	}
	c, err := s.client()
	if err != nil {
		return engine.Outcome{}, err
	}
	var updatedAt time.Time
	recorded, err := env.Output(s.id, "updated_at", &updatedAt)
	if err != nil {
		return engine.Outcome{}, err
	}
	if p.Forward.Empty() {
		env.Logf("zone %s already is as desired: nothing to update", p.Zone)
		recorded, updatedAt = true, time.Time{}
	}

	if p.Mode == publicDNSModeManual {
		remove, add := dnsupdate.ZoneFileLines(p.Forward)
		if !recorded {
			env.Logf("public_dns.mode is manual: change zone %s by hand, raise its serial and reload it.", p.Zone)
			for _, l := range remove {
				env.Logf("remove: %s", l)
			}
			for _, l := range add {
				env.Logf("add:    %s", l)
			}
		}
		rep := c.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: s.cfg.Nameservers, Expect: want})
		if !rep.OK() {
			if recorded {
				return s.lagging(env, rep)
			}
			return engine.Outcome{WaitUntil: env.Now().Add(PublicDNSManualPoll),
				Reason: "waiting for the records to be changed by hand: " + rep.Summary()}, nil
		}
		if !recorded {
			updatedAt = env.Now().UTC()
			if err := env.SetOutput("updated_at", updatedAt); err != nil {
				return engine.Outcome{}, err
			}
			env.Logf("every nameserver serves the new records (serial %d)", rep.Serial)
		}
		return s.oldTTLWait(env, p, updatedAt)
	}

	if !recorded {
		cur, err := s.current(ctx, env, want)
		if err != nil {
			return engine.Outcome{}, pdnsTransient(fmt.Errorf("reading the current records from %s: %w", p.Source, err))
		}
		if pdnsSameSets(want, cur) {
			// A crash after the server accepted the UPDATE but before
			// updated_at was recorded: the zone already holds it.
			env.Logf("zone %s already holds the new records (an earlier attempt's update was accepted): not sending it again", p.Zone)
		} else if a, ok := s.atomic(env); ok {
			if err := a.Apply(ctx, s.zone, p.Forward); err != nil {
				var ce *dnsupdate.ConflictError
				if errors.As(err, &ce) {
					return engine.Outcome{}, err
				}
				return engine.Outcome{}, pdnsTransient(err)
			}
			env.Logf("%s accepted the UPDATE of zone %s", p.Source, p.Zone)
		} else {
			if err := s.stepwise(ctx, env, p, want, cur, p.External, p.Internal, "apply"); err != nil {
				return engine.Outcome{}, err
			}
		}
		updatedAt = env.Now().UTC()
		if err := env.SetOutput("updated_at", updatedAt); err != nil {
			return engine.Outcome{}, err
		}
	}
	rep := c.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: s.cfg.Nameservers, Expect: want})
	if !rep.OK() {
		// The primary itself no longer serving the swap means someone
		// changed the records after it: waiting would never end.
		cur, err := s.current(ctx, env, want)
		if err != nil {
			return engine.Outcome{}, pdnsTransient(fmt.Errorf("reading the current records from %s: %w", p.Source, err))
		}
		if !pdnsSameSets(want, cur) {
			var diffs []string
			for i := range want {
				if !dnsupdate.Same(want[i], cur[i]) {
					diffs = append(diffs, fmt.Sprintf("%s %s: updated to %s, now %s", want[i].Name, want[i].TypeString(), pdnsDescribe(want[i]), pdnsDescribe(cur[i])))
				}
			}
			return engine.Outcome{}, fmt.Errorf("the records of zone %s changed on %s after the update at %s: %s: review them, then roll the step back or run it again",
				p.Zone, p.Source, updatedAt.UTC().Format(time.RFC3339), strings.Join(diffs, "; "))
		}
		return s.lagging(env, rep)
	}
	return s.oldTTLWait(env, p, updatedAt)
}

// lagging is the outcome while some nameserver does not serve the change yet.
func (s *publicDNS) lagging(env engine.Env, rep dnsupdate.VerifyReport) (engine.Outcome, error) {
	if rep.Err != "" {
		return engine.Outcome{}, errkind.Transient(fmt.Errorf("verifying the nameservers: %s", rep.Err))
	}
	var names, lame []string
	for _, sr := range rep.Servers {
		if sr.Err == "" && !sr.Authoritative {
			lame = append(lame, sr.Label())
		}
		if !sr.OK() {
			names = append(names, sr.Label())
		}
	}
	if len(lame) > 0 {
		// A server that answers without AA is not authoritative for the
		// zone: no amount of waiting makes it serve the change.
		return engine.Outcome{}, fmt.Errorf("nameserver(s) %s answer without the AA flag: they are not authoritative for zone %s; check public_dns.nameservers (or the zone's NS records): %s",
			strings.Join(lame, ", "), rep.Zone, rep.Summary())
	}
	for _, f := range rep.Failing() {
		env.Logf("not yet: %s", f)
	}
	return engine.Outcome{WaitUntil: env.Now().Add(PublicDNSPoll),
		Reason: fmt.Sprintf("waiting for nameserver(s) %s to serve the new records of zone %s (serial %d)", strings.Join(names, ", "), rep.Zone, rep.Serial)}, nil
}

// oldTTLWait is done once the old TTL has passed since the update.
func (s *publicDNS) oldTTLWait(env engine.Env, p PublicDNSSnapshot, updatedAt time.Time) (engine.Outcome, error) {
	if updatedAt.IsZero() || p.OldTTL == 0 {
		return engine.Outcome{}, nil
	}
	until := updatedAt.Add(time.Duration(p.OldTTL) * time.Second)
	if env.Now().Before(until) {
		return engine.Outcome{WaitUntil: until, Reason: fmt.Sprintf("resolvers may cache the old record until %s (old TTL %ds)", until.UTC().Format(time.RFC3339), p.OldTTL)}, nil
	}
	return engine.Outcome{}, nil
}

func pdnsSameSets(a, b []dnsupdate.RRset) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !dnsupdate.Same(a[i], b[i]) {
			return false
		}
	}
	return true
}

// publicDNSErrCheck fails with the error that kept a check from being built.
type publicDNSErrCheck struct {
	name string
	err  error
}

func (c publicDNSErrCheck) Name() string { return c.name }

func (c publicDNSErrCheck) Run(context.Context, engine.Env) engine.CheckResult {
	return engine.CheckResult{Name: c.name, Status: engine.CheckFail, Message: c.err.Error()}
}

// PostChecks: every authoritative nameserver serves the new records with
// one serial, and internal DNS still resolves the internal names.
func (s *publicDNS) PostChecks(env engine.Env, snap engine.Snapshot) []engine.Check {
	const name = "public DNS records"
	var out []engine.Check
	p, err := pdnsDecode(snap)
	var want []dnsupdate.RRset
	if err == nil {
		want, err = p.expected()
	}
	var c *dnsupdate.Client
	if err == nil {
		c, err = s.client()
	}
	if err != nil {
		out = append(out, publicDNSErrCheck{name: name, err: err})
	} else {
		out = append(out, checks.PublicRecordsCheck{CheckName: name, Client: c,
			Request: dnsupdate.VerifyRequest{Nameservers: s.cfg.Nameservers, Expect: want}})
	}
	if ic := s.internalCheck(env); ic != nil {
		out = append(out, ic)
	}
	return out
}

// Rollback restores the captured RRsets with their old TTLs: a reverse
// UPDATE under prerequisites equal to the state the swap left (rfc2136),
// or the zone-file lines to apply by hand and a verification (manual).
func (s *publicDNS) Rollback(ctx context.Context, env engine.Env, snap engine.Snapshot) error {
	p, err := pdnsDecode(snap)
	if err != nil {
		return err
	}
	if p.Forward.Empty() {
		env.Logf("the step changed nothing in zone %s: nothing to roll back", p.Zone)
		return nil
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	if p.Mode == publicDNSModeManual {
		rep := c.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: s.cfg.Nameservers, Expect: p.Records})
		if rep.OK() {
			env.Logf("every nameserver serves the records of zone %s as captured: rolled back", p.Zone)
			return nil
		}
		remove, add := dnsupdate.ZoneFileLines(p.Reverse)
		env.Logf("public_dns.mode is manual: restore zone %s by hand, raise its serial and reload it.", p.Zone)
		for _, l := range remove {
			env.Logf("remove: %s", l)
		}
		for _, l := range add {
			env.Logf("add:    %s", l)
		}
		return fmt.Errorf("zone %s is not restored yet (%s): remove %s, add %s by hand, then run rollback again",
			p.Zone, rep.Summary(), pdnsLines(remove), pdnsLines(add))
	}
	cur, err := s.current(ctx, env, p.Records)
	if err != nil {
		return pdnsTransient(fmt.Errorf("reading the current records from %s: %w", p.Source, err))
	}
	if pdnsSameSets(p.Records, cur) {
		env.Logf("zone %s already holds the captured records: nothing to roll back", p.Zone)
		return nil
	}
	a, atomic := s.atomic(env)
	if !atomic {
		if err := s.stepwise(ctx, env, p, p.Records, cur, p.Internal, p.External, "rollback"); err != nil {
			var de *pdnsDriftError
			if errors.As(err, &de) {
				var at time.Time
				if ok, _ := env.Output(s.id, "updated_at", &at); !ok {
					env.Logf("the swap was never applied by this step and the records differ from both the snapshot and the swap (%v): leaving them as they are", err)
					return nil
				}
				return fmt.Errorf("rollback refused: %w", err)
			}
			return err
		}
		env.Logf("the %s API restored the records of zone %s; resolvers may cache the swapped records for up to %ds", p.Mode, p.Zone, p.Reverse.MaxDeletedTTL())
		rep := c.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: s.cfg.Nameservers, Expect: p.Records})
		if !rep.OK() {
			env.Logf("not every nameserver serves the restored records yet: %s", rep.Summary())
		}
		return nil
	}
	if err := a.Apply(ctx, s.zone, p.Reverse); err != nil {
		var ce *dnsupdate.ConflictError
		if errors.As(err, &ce) {
			var at time.Time
			if ok, _ := env.Output(s.id, "updated_at", &at); !ok {
				env.Logf("the swap was never applied by this step and the records differ from both the snapshot and the swap (%v): leaving them as they are", err)
				return nil
			}
			return fmt.Errorf("rollback refused: the records are no longer as the swap left them: %w", err)
		}
		return pdnsTransient(err)
	}
	env.Logf("%s accepted the reverse UPDATE of zone %s; resolvers may cache the swapped records for up to %ds", p.Source, p.Zone, p.Reverse.MaxDeletedTTL())
	rep := c.Verify(ctx, dnsupdate.VerifyRequest{Nameservers: s.cfg.Nameservers, Expect: p.Records})
	if !rep.OK() {
		env.Logf("not every nameserver serves the restored records yet: %s", rep.Summary())
	}
	return nil
}

// sourceName says where the records are read: the primary, or the API.
func (s *publicDNS) sourceName() string {
	switch s.mode {
	case publicDNSModeRFC2136, publicDNSModeManual:
		return s.source()
	}
	return "the " + s.mode + " API"
}
