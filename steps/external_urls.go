package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

func init() { Register("external-urls", newExternalURLs) }

// DefaultVDirPaths are the paths a URL-bearing virtual directory is
// published under when neither its ExternalUrl nor its InternalUrl names
// one.
var DefaultVDirPaths = map[exchange.VDirKind]string{
	exchange.KindOWA:        "/owa",
	exchange.KindECP:        "/ecp",
	exchange.KindMAPI:       "/mapi",
	exchange.KindEWS:        "/EWS/Exchange.asmx",
	exchange.KindActiveSync: "/Microsoft-Server-ActiveSync",
	exchange.KindOAB:        "/OAB",
}

// ExternalURLsSnapshot is what external-urls captures: every server's
// virtual directories (the six it changes and, to prove they stay
// untouched, Autodiscover and PowerShell), Outlook Anywhere and the
// Autodiscover SCP.
type ExternalURLsSnapshot struct {
	Servers []string `json:"servers"`
	// External is namespace.external at capture time.
	External        string                         `json:"external"`
	VDirs           []exchange.VirtualDirectory    `json:"vdirs"`
	OutlookAnywhere []exchange.OutlookAnywhere     `json:"outlook_anywhere"`
	SCP             []exchange.ClientAccessService `json:"scp"`
}

// externalURLs points the external URLs of every server at the external
// name and records when it did (applied_at).
type externalURLs struct {
	id   string
	deps *Deps
	// captured hands Capture's read to the pre-checks right after it.
	captured capturedRead[exchange.URLCapture]
}

func newExternalURLs(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if err := configOnly(id, "external-urls", "namespace.external", with, deps); err != nil {
		return nil, err
	}
	if ExternalHost(deps.Config.Namespace.External) == "" {
		return nil, fmt.Errorf("step %s (external-urls): namespace.external is empty", id)
	}
	return &externalURLs{id: id, deps: deps}, nil
}

// ExternalHost normalises a configured host name: trimmed, without a
// trailing dot, lower case.
func ExternalHost(h string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), "."))
}

// urlPath returns the escaped path of a parseable absolute URL, "" when
// the URL is unusable or has no path beyond "/".
func urlPath(raw *string) string {
	if raw == nil {
		return ""
	}
	u, err := url.Parse(strings.TrimSpace(*raw))
	if err != nil || u.Host == "" {
		return ""
	}
	p := u.EscapedPath()
	if p == "" || p == "/" {
		return ""
	}
	return p
}

// DesiredExternalURL is the ExternalUrl external-urls gives a virtual
// directory: https://<external><path>, the path taken from its current
// ExternalUrl, else from its InternalUrl (a $null ExternalUrl), else the
// kind's default path. Scheme, port, query and fragment are not kept: the
// external name is published on 443.
func DesiredExternalURL(kind exchange.VDirKind, external string, externalURL, internalURL *string) string {
	p := urlPath(externalURL)
	if p == "" {
		p = urlPath(internalURL)
	}
	if p == "" {
		p = DefaultVDirPaths[kind]
	}
	return "https://" + ExternalHost(external) + p
}

// sameURL compares two URLs (nil is $null) as Exchange does: case-insensitively.
func sameURL(a *string, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return strings.EqualFold(strings.TrimSpace(*a), strings.TrimSpace(*b))
}

// exactURL compares two URLs (nil is $null) byte for byte: rollback
// restores exactly what was captured.
func exactURL(a, b *string) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// byLowerKey indexes items by their key lower-cased: Exchange compares
// GUIDs and names without regard to case.
func byLowerKey[T any](items []T, key func(T) string) map[string]T {
	m := make(map[string]T, len(items))
	for _, it := range items {
		m[strings.ToLower(key(it))] = it
	}
	return m
}

// changed appends "<who> <field> <now> (was <was>)" to diffs when the
// value is not byte for byte the captured one.
func changed(diffs []string, who, field string, now, was *string) []string {
	if exactURL(now, was) {
		return diffs
	}
	return append(diffs, fmt.Sprintf("%s %s %s (was %s)", who, field, strOrNull(now), strOrNull(was)))
}

func isURLKind(k exchange.VDirKind) bool {
	_, ok := DefaultVDirPaths[k]
	return ok
}

func euDecode(raw engine.Snapshot) (ExternalURLsSnapshot, error) {
	var s ExternalURLsSnapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, fmt.Errorf("external-urls snapshot: %w", err)
	}
	return s, nil
}

// urlVDirs are the snapshot's URL-bearing virtual directories, in order.
func (s ExternalURLsSnapshot) urlVDirs() []exchange.VirtualDirectory {
	var out []exchange.VirtualDirectory
	for _, v := range s.VDirs {
		if isURLKind(v.Kind) {
			out = append(out, v)
		}
	}
	return out
}

// Capture reads every server's virtual directories, Outlook Anywhere,
// SCP and certificates in one launch, whatever the number of servers.
// When the run has not resolved the servers in scope yet, the same
// script resolves them (Get-ExchangeServer), and Deps remembers them for
// the later steps. The read is kept for the pre-checks that follow.
func (s *externalURLs) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	if err := s.deps.RequirePermissions(ctx, "external-urls"); err != nil {
		return nil, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return nil, err
	}
	servers, known := s.deps.knownServers()
	var capt exchange.URLCapture
	if known {
		capt, err = ex.GetURLCapture(ctx, ServerNames(servers), false)
	} else {
		capt, err = ex.GetURLCapture(ctx, s.deps.Config.Exchange.Servers, true)
		if err == nil {
			servers = s.deps.rememberServers(capt.Servers)
		}
	}
	if err != nil {
		return nil, err
	}
	snap := ExternalURLsSnapshot{Servers: ServerNames(servers), External: ExternalHost(s.deps.Config.Namespace.External)}
	snap.VDirs, snap.OutlookAnywhere, snap.SCP = capt.VDirs, capt.OutlookAnywhere, capt.SCP
	if err := snap.complete(); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	s.captured.put(raw, capt)
	return raw, nil
}

// complete requires every server to have each URL-bearing kind and
// Outlook Anywhere: a server whose vdir is missing would be left out
// silently otherwise.
func (s ExternalURLsSnapshot) complete() error {
	var missing []string
	for _, srv := range s.Servers {
		for _, k := range exchange.URLKinds {
			found := false
			for _, v := range s.VDirs {
				if v.Kind == k && strings.EqualFold(v.Server, srv) {
					found = true
					break
				}
			}
			if !found {
				missing = append(missing, srv+" "+string(k))
			}
		}
		found := false
		for _, o := range s.OutlookAnywhere {
			found = found || strings.EqualFold(o.Server, srv)
		}
		if !found {
			missing = append(missing, srv+" Outlook Anywhere")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing virtual directories: %s", strings.Join(missing, ", "))
	}
	return nil
}

// oaDesired reports whether an Outlook Anywhere already has the external
// settings.
func oaDesired(o exchange.OutlookAnywhere, external string) bool {
	return o.ExternalHostname != nil && strings.EqualFold(*o.ExternalHostname, external) && o.ExternalClientsRequireSsl
}

// Plan lists every ExternalUrl and Outlook Anywhere value: current → desired.
func (s *externalURLs) Plan(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Plan, error) {
	snap, err := euDecode(raw)
	if err != nil {
		return engine.Plan{}, err
	}
	return ExternalURLsPlan(snap), nil
}

// ExternalURLsPlan renders the plan of a snapshot.
func ExternalURLsPlan(snap ExternalURLsSnapshot) engine.Plan {
	var p engine.Plan
	vd := snap.urlVDirs()
	for _, v := range vd {
		from := strOrNull(v.ExternalUrl)
		to := DesiredExternalURL(v.Kind, snap.External, v.ExternalUrl, v.InternalUrl)
		if sameURL(v.ExternalUrl, &to) {
			to = from
		}
		p.Changes = append(p.Changes, engine.Change{Target: v.Identity, Field: "ExternalUrl", From: from, To: to})
	}
	for _, o := range snap.OutlookAnywhere {
		from := strOrNull(o.ExternalHostname)
		to := snap.External
		if o.ExternalHostname != nil && strings.EqualFold(*o.ExternalHostname, to) {
			to = from
		}
		p.Changes = append(p.Changes,
			engine.Change{Target: o.Identity, Field: "ExternalHostname", From: from, To: to},
			engine.Change{Target: o.Identity, Field: "ExternalClientsRequireSsl", From: psBoolText(o.ExternalClientsRequireSsl), To: "True"},
			engine.Change{Target: o.Identity, Field: "ExternalClientAuthenticationMethod", From: o.ExternalClientAuthenticationMethod, To: o.ExternalClientAuthenticationMethod})
	}
	p.Summary = fmt.Sprintf("ExternalUrl https://%s/<same path> on the OWA, ECP, MAPI, EWS, ActiveSync and OAB virtual directories (%d) and Outlook Anywhere ExternalHostname %s on %s; InternalUrls, the Autodiscover and PowerShell virtual directories and the SCP stay as they are",
		snap.External, len(vd), snap.External, strings.Join(snap.Servers, ", "))
	return p
}

func psBoolText(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// PreChecks: the servers agree (as they were before this step), and every
// server already presents a certificate valid for the external name.
// Right after Capture the consistency check judges the capture's own
// read (no launch); on a rerun or resume with the stored snapshot it
// reads once (one launch: certificates and URL state together).
func (s *externalURLs) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := euDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "servers-consistent", Err: err}}
	}
	var out []engine.Check
	if capt, ok := s.captured.take(raw); ok {
		out = append(out, &urlConsistencyCheck{snap: snap, read: &sharedRead[exchange.URLCapture]{read: func(context.Context) (exchange.URLCapture, error) { return capt, nil }}})
	} else if ex, err := s.deps.Clients.Exchange(); err != nil {
		out = append(out, checks.ErrorCheck{CheckName: "servers-consistent", Err: err})
	} else {
		out = append(out, &urlConsistencyCheck{snap: snap, read: &sharedRead[exchange.URLCapture]{read: func(ctx context.Context) (exchange.URLCapture, error) {
			return ex.GetURLCapture(ctx, snap.Servers, false)
		}}})
	}
	return append(out, s.tlsCheck(snap))
}

// urlConsistencyCheck is the cross-server consistency pre-check
// (checks.ConsistencyDifferences: the IIS certificate, every URL and the
// Outlook Anywhere hostnames) judged on the servers as they were before
// this step: a value this step already set (a rerun after a write failed
// half-way on one server) counts as its captured value, so the step can
// finish what it started.
type urlConsistencyCheck struct {
	snap ExternalURLsSnapshot
	read *sharedRead[exchange.URLCapture]
}

// Name implements engine.Check.
func (c *urlConsistencyCheck) Name() string { return "servers-consistent" }

// Run implements engine.Check.
func (c *urlConsistencyCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name()}
	st, err := c.read.get(ctx)
	if err != nil {
		res.Status, res.Message, res.Err = engine.CheckFail, "reading the certificates, virtual directories and Outlook Anywhere: "+err.Error(), err
		return res
	}
	vdirs, oa, undone := AsBeforeStep(c.snap, st.VDirs, st.OutlookAnywhere)
	diffs := checks.ConsistencyDifferences(c.snap.Servers, st.Certificates, vdirs, oa)
	if len(diffs) > 0 {
		res.Status, res.Evidence = engine.CheckFail, diffs
		res.Message = fmt.Sprintf("the servers in scope disagree (%d difference(s) from %s); make them agree before the runbook changes anything: %s",
			len(diffs), c.snap.Servers[0], strings.Join(diffs, "; "))
		return res
	}
	res.Status = engine.CheckPass
	res.Message = fmt.Sprintf("%d server(s) agree on the IIS certificate, the virtual directory URLs and the Outlook Anywhere hostnames", len(c.snap.Servers))
	if undone > 0 {
		res.Message += fmt.Sprintf(" (%d value(s) this step already set counted as before)", undone)
	}
	return res
}

// AsBeforeStep returns copies of the current virtual directories and
// Outlook Anywhere settings in which every external value that this step
// already set (equal to its desired value, but not captured so) is
// replaced by the captured one, and how many were replaced.
func AsBeforeStep(snap ExternalURLsSnapshot, vdirs []exchange.VirtualDirectory, oa []exchange.OutlookAnywhere) ([]exchange.VirtualDirectory, []exchange.OutlookAnywhere, int) {
	was := byLowerKey(snap.urlVDirs(), func(v exchange.VirtualDirectory) string { return v.Guid })
	n := 0
	outV := append([]exchange.VirtualDirectory(nil), vdirs...)
	for i, v := range outV {
		w, ok := was[strings.ToLower(v.Guid)]
		if !ok {
			continue
		}
		want := DesiredExternalURL(w.Kind, snap.External, w.ExternalUrl, w.InternalUrl)
		if sameURL(v.ExternalUrl, &want) && !sameURL(w.ExternalUrl, &want) {
			outV[i].ExternalUrl = w.ExternalUrl
			n++
		}
	}
	wasOA := byLowerKey(snap.OutlookAnywhere, func(o exchange.OutlookAnywhere) string { return o.Guid })
	outO := append([]exchange.OutlookAnywhere(nil), oa...)
	for i, o := range outO {
		w, ok := wasOA[strings.ToLower(o.Guid)]
		if !ok {
			continue
		}
		if oaDesired(o, snap.External) && !oaDesired(w, snap.External) {
			outO[i].ExternalHostname, outO[i].ExternalClientsRequireSsl = w.ExternalHostname, w.ExternalClientsRequireSsl
			n++
		}
	}
	return outV, outO, n
}

// tlsCheck connects to every server with SNI set to the external name.
func (s *externalURLs) tlsCheck(snap ExternalURLsSnapshot) engine.Check {
	const name = "tls-external-name"
	chk, err := s.deps.Clients.TLSProbe(name, snap.Servers, []string{snap.External})
	if err != nil {
		return checks.ErrorCheck{CheckName: name, Err: err}
	}
	return chk
}

// Apply is one launch: a script that, for every virtual directory and
// then every Outlook Anywhere, compares the current value on the server
// with the desired one and writes only what differs (OWA and ECP in the
// same script, MAPI passing back the IISAuthenticationMethods it has just
// read). There is no separate read before it, so an apply with nothing to
// do costs that one launch. Then it records applied_at, once: a later
// apply keeps the first time.
func (s *externalURLs) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, err := euDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return engine.Outcome{}, err
	}
	vw, ow, names := ExternalURLWrites(snap)
	res, err := ex.SetURLsWhereDifferent(ctx, vw, ow, exchange.CompareApply)
	if err := changeFailures(res, err, names, len(vw), "Set-*VirtualDirectory -ExternalUrl", "Set-OutlookAnywhere"); err != nil {
		logChanged(env, res, len(vw), "ExternalUrl set to https://"+snap.External+"/… on %d virtual director(y/ies)", "Outlook Anywhere ExternalHostname set to "+snap.External+" on %d server(s)")
		return engine.Outcome{}, err
	}
	if logChanged(env, res, len(vw), "ExternalUrl set to https://"+snap.External+"/… on %d virtual director(y/ies)", "Outlook Anywhere ExternalHostname set to "+snap.External+" on %d server(s)") == 0 {
		env.Logf("every external URL and Outlook Anywhere already uses %s", snap.External)
	}
	var at any
	if ok, err := env.Output(s.id, "applied_at", &at); err != nil {
		return engine.Outcome{}, err
	} else if !ok {
		if err := env.SetOutput("applied_at", env.Now().UTC()); err != nil {
			return engine.Outcome{}, err
		}
	}
	return engine.Outcome{}, nil
}

// logChanged logs how many virtual directories (the first nv results)
// and Outlook Anywhere settings were written, and returns the total.
func logChanged(env engine.Env, res []exchange.ChangeResult, nv int, vdirMsg, oaMsg string) int {
	var v, o int
	for i, r := range res {
		if !r.Changed {
			continue
		}
		if i < nv {
			v++
		} else {
			o++
		}
	}
	if v > 0 {
		env.Logf(vdirMsg, v)
	}
	if o > 0 {
		env.Logf(oaMsg, o)
	}
	return v + o
}

// ExternalURLWrites returns the desired value of every URL-bearing
// virtual directory and Outlook Anywhere of the snapshot, for the
// server-side compare-and-set (the server skips what is already in
// place), and the identity of every GUID for messages. Outlook Anywhere
// keeps its captured authentication method (passed back, so it survives).
func ExternalURLWrites(snap ExternalURLsSnapshot) ([]exchange.VDirURLChange, []exchange.OutlookAnywhereChange, map[string]string) {
	names := map[string]string{}
	var vch []exchange.VDirURLChange
	for _, v := range snap.urlVDirs() {
		names[strings.ToLower(v.Guid)] = v.Identity
		want := DesiredExternalURL(v.Kind, snap.External, v.ExternalUrl, v.InternalUrl)
		vch = append(vch, exchange.VDirURLChange{Kind: v.Kind, Guid: v.Guid, ExternalUrl: &want})
	}
	var och []exchange.OutlookAnywhereChange
	for _, o := range snap.OutlookAnywhere {
		names[strings.ToLower(o.Guid)] = o.Identity
		host := snap.External
		och = append(och, exchange.OutlookAnywhereChange{Guid: o.Guid, ExternalHostname: &host, ExternalClientsRequireSsl: true,
			ExternalClientAuthenticationMethod: o.ExternalClientAuthenticationMethod})
	}
	return vch, och, names
}

// changeFailures turns a compare-and-set write's per-item results into
// one error naming every failed object (the first nv results are virtual
// directories, labelled vdirWhat, the rest oaWhat) and Exchange's words.
// When the operation itself failed too (e.g. Exchange throttled an item,
// which the exchange package marks transient), that error is wrapped, so
// the engine still sees it as transient.
func changeFailures(res []exchange.ChangeResult, err error, names map[string]string, nv int, vdirWhat, oaWhat string) error {
	if err != nil && len(res) == 0 {
		return err
	}
	var failedV, failedO []string
	for i, r := range res {
		if r.OK {
			continue
		}
		n := names[strings.ToLower(r.ID)]
		if n == "" {
			n = r.ID
		}
		if i < nv {
			failedV = append(failedV, n+": "+r.Error)
		} else {
			failedO = append(failedO, n+": "+r.Error)
		}
	}
	var parts []string
	if len(failedV) > 0 {
		parts = append(parts, fmt.Sprintf("%s failed for %s", vdirWhat, strings.Join(failedV, "; ")))
	}
	if len(failedO) > 0 {
		parts = append(parts, fmt.Sprintf("%s failed for %s", oaWhat, strings.Join(failedO, "; ")))
	}
	switch {
	case len(parts) > 0 && err != nil:
		return fmt.Errorf("%s: %w", strings.Join(parts, "; "), err)
	case len(parts) > 0:
		return errors.New(strings.Join(parts, "; "))
	}
	return err
}

// PostChecks: every external URL and Outlook Anywhere use the external
// name, and nothing the step must not touch has changed. Both checks
// share one read (one launch).
func (s *externalURLs) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := euDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "external-urls-set", Err: err}}
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "external-urls-set", Err: err}}
	}
	r := &euRead{client: ex, servers: snap.Servers}
	return []engine.Check{
		&externalURLsSetCheck{read: r, snap: snap},
		&untouchedCheck{read: r, snap: snap},
	}
}

// euRead reads the current state once for the checks that share it.
type euRead struct {
	client  *exchange.Client
	servers []string
	mu      sync.Mutex
	done    bool
	vdirs   []exchange.VirtualDirectory
	oa      []exchange.OutlookAnywhere
	scp     []exchange.ClientAccessService
	err     error
}

// get reads once for every check of the phase; a read that failed with a
// transient error is made again by the next get (the engine's retry).
func (r *euRead) get(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done || errkind.IsTransient(r.err) {
		var st exchange.URLState
		st, r.err = r.client.GetURLState(ctx, r.servers)
		r.vdirs, r.oa, r.scp = st.VDirs, st.OutlookAnywhere, st.SCP
		r.done = true
	}
	return r.err
}

// externalURLsSetCheck passes when every URL-bearing virtual directory's
// ExternalUrl is the desired one and Outlook Anywhere publishes the
// external name with SSL required.
type externalURLsSetCheck struct {
	read *euRead
	snap ExternalURLsSnapshot
}

// Name implements engine.Check.
func (c *externalURLsSetCheck) Name() string { return "external-urls-set" }

// Run implements engine.Check.
func (c *externalURLsSetCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name()}
	if err := c.read.get(ctx); err != nil {
		res.Status, res.Message, res.Err = engine.CheckFail, err.Error(), err
		return res
	}
	byGuid := byLowerKey(c.read.vdirs, func(v exchange.VirtualDirectory) string { return v.Guid })
	var bad []string
	for _, v := range c.snap.urlVDirs() {
		want := DesiredExternalURL(v.Kind, c.snap.External, v.ExternalUrl, v.InternalUrl)
		now, ok := byGuid[strings.ToLower(v.Guid)]
		if !ok {
			bad = append(bad, v.Identity+" not found")
			res.Evidence = append(res.Evidence, v.Identity+" ExternalUrl: (not found)")
			continue
		}
		res.Evidence = append(res.Evidence, now.Identity+" ExternalUrl "+strOrNull(now.ExternalUrl))
		if !sameURL(now.ExternalUrl, &want) {
			bad = append(bad, fmt.Sprintf("%s ExternalUrl %s (want %s)", now.Identity, strOrNull(now.ExternalUrl), want))
		}
	}
	oaByGuid := byLowerKey(c.read.oa, func(o exchange.OutlookAnywhere) string { return o.Guid })
	for _, o := range c.snap.OutlookAnywhere {
		now, ok := oaByGuid[strings.ToLower(o.Guid)]
		if !ok {
			bad = append(bad, o.Identity+" not found")
			continue
		}
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s ExternalHostname %s ExternalClientsRequireSsl %s ExternalClientAuthenticationMethod %s",
			now.Identity, strOrNull(now.ExternalHostname), psBoolText(now.ExternalClientsRequireSsl), now.ExternalClientAuthenticationMethod))
		if !oaDesired(now, c.snap.External) {
			bad = append(bad, fmt.Sprintf("%s ExternalHostname %s ExternalClientsRequireSsl %s (want %s, True)", now.Identity,
				strOrNull(now.ExternalHostname), psBoolText(now.ExternalClientsRequireSsl), c.snap.External))
		}
	}
	if len(bad) > 0 {
		res.Status, res.Message = engine.CheckFail, "not using "+c.snap.External+": "+strings.Join(bad, "; ")
		return res
	}
	res.Status = engine.CheckPass
	res.Message = fmt.Sprintf("%d external URLs and %d Outlook Anywhere settings use %s", len(c.snap.urlVDirs()), len(c.snap.OutlookAnywhere), c.snap.External)
	return res
}

// untouchedCheck passes when every InternalUrl, the Autodiscover and
// PowerShell virtual directories, the Outlook Anywhere internal host
// names and the SCP are as captured.
type untouchedCheck struct {
	read *euRead
	snap ExternalURLsSnapshot
}

// Name implements engine.Check.
func (c *untouchedCheck) Name() string { return "internal-urls-untouched" }

// Run implements engine.Check.
func (c *untouchedCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name()}
	if err := c.read.get(ctx); err != nil {
		res.Status, res.Message, res.Err = engine.CheckFail, err.Error(), err
		return res
	}
	res.Evidence, res.Message = UntouchedDifferences(c.snap, c.read.vdirs, c.read.oa, c.read.scp)
	if len(res.Evidence) > 0 {
		res.Status = engine.CheckFail
		res.Message = "changed although external-urls never touches them: " + strings.Join(res.Evidence, "; ")
		return res
	}
	res.Status = engine.CheckPass
	return res
}

// UntouchedDifferences compares what external-urls must leave alone with
// the snapshot: every virtual directory's InternalUrl, the Autodiscover and
// PowerShell ExternalUrls, Outlook Anywhere's InternalHostname and the
// SCP. It returns the differences and, when there are none, a message
// with the values seen.
func UntouchedDifferences(snap ExternalURLsSnapshot, vdirs []exchange.VirtualDirectory, oa []exchange.OutlookAnywhere, scp []exchange.ClientAccessService) ([]string, string) {
	var diffs, seen []string
	byGuid := byLowerKey(vdirs, func(v exchange.VirtualDirectory) string { return v.Guid })
	for _, was := range snap.VDirs {
		now, ok := byGuid[strings.ToLower(was.Guid)]
		if !ok {
			diffs = append(diffs, was.Identity+" not found")
			continue
		}
		diffs = changed(diffs, was.Identity, "InternalUrl", now.InternalUrl, was.InternalUrl)
		if !isURLKind(was.Kind) {
			diffs = changed(diffs, was.Identity, "ExternalUrl", now.ExternalUrl, was.ExternalUrl)
			seen = append(seen, fmt.Sprintf("%s %s/%s", was.Identity, strOrNull(now.InternalUrl), strOrNull(now.ExternalUrl)))
		}
	}
	oaByGuid := byLowerKey(oa, func(o exchange.OutlookAnywhere) string { return o.Guid })
	for _, was := range snap.OutlookAnywhere {
		now, ok := oaByGuid[strings.ToLower(was.Guid)]
		if ok {
			diffs = changed(diffs, was.Identity, "InternalHostname", now.InternalHostname, was.InternalHostname)
		}
	}
	scpBy := byLowerKey(scp, func(c exchange.ClientAccessService) string { return c.Name })
	for _, was := range snap.SCP {
		now, ok := scpBy[strings.ToLower(was.Name)]
		if !ok {
			diffs = append(diffs, was.Name+" SCP not found")
			continue
		}
		diffs = changed(diffs, was.Name, "AutoDiscoverServiceInternalUri", now.AutoDiscoverServiceInternalUri, was.AutoDiscoverServiceInternalUri)
		seen = append(seen, fmt.Sprintf("%s SCP %s", was.Name, strOrNull(now.AutoDiscoverServiceInternalUri)))
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		return diffs, ""
	}
	return nil, fmt.Sprintf("%d InternalUrls, the Autodiscover and PowerShell virtual directories and the SCP are as captured: %s", len(snap.VDirs), strings.Join(seen, "; "))
}

// Rollback restores every captured ExternalUrl ($null stays $null) and
// Outlook Anywhere setting in one launch: the server compares each value
// exactly with the captured one and writes only what differs.
func (s *externalURLs) Rollback(ctx context.Context, env engine.Env, raw engine.Snapshot) error {
	snap, err := euDecode(raw)
	if err != nil {
		return err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return err
	}
	vw, ow, names := ExternalURLRestoreWrites(snap)
	res, err := ex.SetURLsWhereDifferent(ctx, vw, ow, exchange.CompareExact)
	logChanged(env, res, len(vw), "ExternalUrl restored on %d virtual director(y/ies)", "Outlook Anywhere restored on %d server(s)")
	return changeFailures(res, err, names, len(vw), "restoring ExternalUrl", "restoring Outlook Anywhere")
}

// ExternalURLRestoreWrites returns the captured value of every URL-bearing
// virtual directory and Outlook Anywhere, for the exact server-side
// compare-and-set: a captured $null ExternalUrl or ExternalHostname is
// compared and written as $null.
func ExternalURLRestoreWrites(snap ExternalURLsSnapshot) ([]exchange.VDirURLChange, []exchange.OutlookAnywhereChange, map[string]string) {
	names := map[string]string{}
	var vch []exchange.VDirURLChange
	for _, was := range snap.urlVDirs() {
		names[strings.ToLower(was.Guid)] = was.Identity
		vch = append(vch, exchange.VDirURLChange{Kind: was.Kind, Guid: was.Guid, ExternalUrl: was.ExternalUrl})
	}
	var och []exchange.OutlookAnywhereChange
	for _, was := range snap.OutlookAnywhere {
		names[strings.ToLower(was.Guid)] = was.Identity
		och = append(och, exchange.OutlookAnywhereChange{Guid: was.Guid, ExternalHostname: was.ExternalHostname,
			ExternalClientsRequireSsl: was.ExternalClientsRequireSsl, ExternalClientAuthenticationMethod: was.ExternalClientAuthenticationMethod})
	}
	return vch, och, names
}
