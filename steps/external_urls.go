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
}

func newExternalURLs(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if len(with) > 0 {
		return nil, fmt.Errorf("step %s (external-urls) takes no parameters; it is configured by namespace.external in the config (got with: %s)", id, strings.Join(pdnsParamNames(with), ", "))
	}
	if deps == nil || deps.Config == nil {
		return nil, fmt.Errorf("step %s (external-urls): no configuration", id)
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

// Capture reads every server's virtual directories, Outlook Anywhere and
// SCP in one launch, whatever the number of servers.
func (s *externalURLs) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	servers, err := s.deps.Servers(ctx)
	if err != nil {
		return nil, err
	}
	ex, err := s.deps.Exchange()
	if err != nil {
		return nil, err
	}
	snap := ExternalURLsSnapshot{Servers: ServerNames(servers), External: ExternalHost(s.deps.Config.Namespace.External)}
	st, err := ex.GetURLState(ctx, snap.Servers)
	if err != nil {
		return nil, err
	}
	snap.VDirs, snap.OutlookAnywhere, snap.SCP = st.VDirs, st.OutlookAnywhere, st.SCP
	if err := snap.complete(); err != nil {
		return nil, err
	}
	return json.Marshal(snap)
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
func (s *externalURLs) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := euDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "servers-consistent", Err: err}}
	}
	var out []engine.Check
	if ex, err := s.deps.Exchange(); err != nil {
		out = append(out, checks.ErrorCheck{CheckName: "servers-consistent", Err: err})
	} else {
		out = append(out, &urlConsistencyCheck{client: ex, snap: snap})
	}
	return append(out, s.tlsCheck(snap))
}

// urlConsistencyCheck is the cross-server consistency pre-check
// (checks.ConsistencyDifferences: the IIS certificate, every URL and the
// Outlook Anywhere hostnames) judged on the servers as they were before
// this step: a value this step already set (a rerun after a write failed
// half-way on one server) counts as its captured value, so the step can
// finish what it started. Two launches: certificates and URL state.
type urlConsistencyCheck struct {
	client *exchange.Client
	snap   ExternalURLsSnapshot
}

// Name implements engine.Check.
func (c *urlConsistencyCheck) Name() string { return "servers-consistent" }

// Run implements engine.Check.
func (c *urlConsistencyCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name()}
	certs, err := c.client.GetCertificates(ctx, c.snap.Servers)
	if err != nil {
		res.Status, res.Message = engine.CheckFail, "reading the certificates: "+err.Error()
		return res
	}
	st, err := c.client.GetURLState(ctx, c.snap.Servers)
	if err != nil {
		res.Status, res.Message = engine.CheckFail, "reading the virtual directories and Outlook Anywhere: "+err.Error()
		return res
	}
	vdirs, oa, undone := AsBeforeStep(c.snap, st.VDirs, st.OutlookAnywhere)
	diffs := checks.ConsistencyDifferences(c.snap.Servers, certs, vdirs, oa)
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
	was := map[string]exchange.VirtualDirectory{}
	for _, v := range snap.urlVDirs() {
		was[strings.ToLower(v.Guid)] = v
	}
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
	wasOA := map[string]exchange.OutlookAnywhere{}
	for _, o := range snap.OutlookAnywhere {
		wasOA[strings.ToLower(o.Guid)] = o
	}
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
	targets, err := s.deps.HTTPSTargets(snap.Servers)
	if err != nil {
		return checks.ErrorCheck{CheckName: name, Err: err}
	}
	roots, err := s.deps.RootCAs()
	if err != nil {
		return checks.ErrorCheck{CheckName: name, Err: err}
	}
	return &checks.TLSCheck{CheckName: name, Targets: targets, Names: []string{snap.External}, RootCAs: roots}
}

// Apply reads the current values (one launch) and writes only what
// differs: one script for every virtual directory (OWA and ECP together,
// MAPI with its IISAuthenticationMethods) and one for Outlook Anywhere.
// Then it records applied_at, once: a later apply keeps the first time.
func (s *externalURLs) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, err := euDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	ex, err := s.deps.Exchange()
	if err != nil {
		return engine.Outcome{}, err
	}
	cur, err := ex.GetURLState(ctx, snap.Servers)
	if err != nil {
		return engine.Outcome{}, err
	}
	vchanges, ochanges, names, err := ExternalURLChanges(snap, cur.VDirs, cur.OutlookAnywhere)
	if err != nil {
		return engine.Outcome{}, err
	}
	if err := itemFailures("Set-*VirtualDirectory -ExternalUrl", names)(ex.SetExternalURLs(ctx, vchanges)); err != nil {
		return engine.Outcome{}, err
	}
	if len(vchanges) > 0 {
		env.Logf("ExternalUrl set to https://%s/… on %d virtual director(y/ies)", snap.External, len(vchanges))
	}
	if err := itemFailures("Set-OutlookAnywhere", names)(ex.SetOutlookAnywhere(ctx, ochanges)); err != nil {
		return engine.Outcome{}, err
	}
	if len(ochanges) > 0 {
		env.Logf("Outlook Anywhere ExternalHostname set to %s on %d server(s)", snap.External, len(ochanges))
	}
	if len(vchanges)+len(ochanges) == 0 {
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

// ExternalURLChanges compares the current virtual directories and Outlook
// Anywhere settings with the ones the snapshot leads to and returns only
// the writes still needed, and the identity of every GUID for messages.
// A captured object that has disappeared is an error.
func ExternalURLChanges(snap ExternalURLsSnapshot, cur []exchange.VirtualDirectory, curOA []exchange.OutlookAnywhere) ([]exchange.VDirURLChange, []exchange.OutlookAnywhereChange, map[string]string, error) {
	names := map[string]string{}
	byGuid := map[string]exchange.VirtualDirectory{}
	for _, v := range cur {
		byGuid[strings.ToLower(v.Guid)] = v
	}
	var vch []exchange.VDirURLChange
	var missing []string
	for _, v := range snap.urlVDirs() {
		names[strings.ToLower(v.Guid)] = v.Identity
		now, ok := byGuid[strings.ToLower(v.Guid)]
		if !ok {
			missing = append(missing, v.Identity)
			continue
		}
		want := DesiredExternalURL(v.Kind, snap.External, v.ExternalUrl, v.InternalUrl)
		if sameURL(now.ExternalUrl, &want) {
			continue
		}
		vch = append(vch, exchange.VDirURLChange{Kind: v.Kind, Guid: v.Guid, ExternalUrl: &want})
	}
	oaByGuid := map[string]exchange.OutlookAnywhere{}
	for _, o := range curOA {
		oaByGuid[strings.ToLower(o.Guid)] = o
	}
	var och []exchange.OutlookAnywhereChange
	for _, o := range snap.OutlookAnywhere {
		names[strings.ToLower(o.Guid)] = o.Identity
		now, ok := oaByGuid[strings.ToLower(o.Guid)]
		if !ok {
			missing = append(missing, o.Identity)
			continue
		}
		if oaDesired(now, snap.External) {
			continue
		}
		host := snap.External
		// The captured method is kept (passed back, so it survives).
		och = append(och, exchange.OutlookAnywhereChange{Guid: o.Guid, ExternalHostname: &host, ExternalClientsRequireSsl: true,
			ExternalClientAuthenticationMethod: o.ExternalClientAuthenticationMethod})
	}
	if len(missing) > 0 {
		return nil, nil, names, fmt.Errorf("no longer found in Exchange: %s", strings.Join(missing, ", "))
	}
	return vch, och, names, nil
}

// itemFailures turns a batched write's per-item results into one error
// naming every failed object and Exchange's words. When the operation
// itself failed too (e.g. Exchange throttled an item, which the exchange
// package marks transient), that error is wrapped, so the engine still
// sees it as transient.
func itemFailures(what string, names map[string]string) func([]exchange.ItemResult, error) error {
	return func(res []exchange.ItemResult, err error) error {
		if err != nil && len(res) == 0 {
			return err
		}
		var failed []string
		for _, r := range res {
			if r.OK {
				continue
			}
			n := names[strings.ToLower(r.ID)]
			if n == "" {
				n = r.ID
			}
			failed = append(failed, n+": "+r.Error)
		}
		switch {
		case len(failed) > 0 && err != nil:
			return fmt.Errorf("%s failed for %s: %w", what, strings.Join(failed, "; "), err)
		case len(failed) > 0:
			return fmt.Errorf("%s failed for %s", what, strings.Join(failed, "; "))
		}
		return err
	}
}

// PostChecks: every external URL and Outlook Anywhere use the external
// name, and nothing the step must not touch has changed. Both checks
// share one read (one launch).
func (s *externalURLs) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := euDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "external-urls-set", Err: err}}
	}
	ex, err := s.deps.Exchange()
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
	once    sync.Once
	vdirs   []exchange.VirtualDirectory
	oa      []exchange.OutlookAnywhere
	scp     []exchange.ClientAccessService
	err     error
}

func (r *euRead) get(ctx context.Context) error {
	r.once.Do(func() {
		var st exchange.URLState
		st, r.err = r.client.GetURLState(ctx, r.servers)
		r.vdirs, r.oa, r.scp = st.VDirs, st.OutlookAnywhere, st.SCP
	})
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
		res.Status, res.Message = engine.CheckFail, err.Error()
		return res
	}
	byGuid := map[string]exchange.VirtualDirectory{}
	for _, v := range c.read.vdirs {
		byGuid[strings.ToLower(v.Guid)] = v
	}
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
	oaByGuid := map[string]exchange.OutlookAnywhere{}
	for _, o := range c.read.oa {
		oaByGuid[strings.ToLower(o.Guid)] = o
	}
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
		res.Status, res.Message = engine.CheckFail, err.Error()
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
	byGuid := map[string]exchange.VirtualDirectory{}
	for _, v := range vdirs {
		byGuid[strings.ToLower(v.Guid)] = v
	}
	for _, was := range snap.VDirs {
		now, ok := byGuid[strings.ToLower(was.Guid)]
		if !ok {
			diffs = append(diffs, was.Identity+" not found")
			continue
		}
		if !exactURL(now.InternalUrl, was.InternalUrl) {
			diffs = append(diffs, fmt.Sprintf("%s InternalUrl %s (was %s)", was.Identity, strOrNull(now.InternalUrl), strOrNull(was.InternalUrl)))
		}
		if !isURLKind(was.Kind) {
			if !exactURL(now.ExternalUrl, was.ExternalUrl) {
				diffs = append(diffs, fmt.Sprintf("%s ExternalUrl %s (was %s)", was.Identity, strOrNull(now.ExternalUrl), strOrNull(was.ExternalUrl)))
			}
			seen = append(seen, fmt.Sprintf("%s %s/%s", was.Identity, strOrNull(now.InternalUrl), strOrNull(now.ExternalUrl)))
		}
	}
	oaByGuid := map[string]exchange.OutlookAnywhere{}
	for _, o := range oa {
		oaByGuid[strings.ToLower(o.Guid)] = o
	}
	for _, was := range snap.OutlookAnywhere {
		now, ok := oaByGuid[strings.ToLower(was.Guid)]
		if ok && !exactURL(now.InternalHostname, was.InternalHostname) {
			diffs = append(diffs, fmt.Sprintf("%s InternalHostname %s (was %s)", was.Identity, strOrNull(now.InternalHostname), strOrNull(was.InternalHostname)))
		}
	}
	scpBy := map[string]exchange.ClientAccessService{}
	for _, c := range scp {
		scpBy[strings.ToLower(c.Name)] = c
	}
	for _, was := range snap.SCP {
		now, ok := scpBy[strings.ToLower(was.Name)]
		if !ok {
			diffs = append(diffs, was.Name+" SCP not found")
			continue
		}
		if !exactURL(now.AutoDiscoverServiceInternalUri, was.AutoDiscoverServiceInternalUri) {
			diffs = append(diffs, fmt.Sprintf("%s AutoDiscoverServiceInternalUri %s (was %s)", was.Name, strOrNull(now.AutoDiscoverServiceInternalUri), strOrNull(was.AutoDiscoverServiceInternalUri)))
		}
		seen = append(seen, fmt.Sprintf("%s SCP %s", was.Name, strOrNull(now.AutoDiscoverServiceInternalUri)))
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		return diffs, ""
	}
	return nil, fmt.Sprintf("%d InternalUrls, the Autodiscover and PowerShell virtual directories and the SCP are as captured: %s", len(snap.VDirs), strings.Join(seen, "; "))
}

// Rollback restores every captured ExternalUrl ($null stays $null) and
// Outlook Anywhere setting, writing only what differs.
func (s *externalURLs) Rollback(ctx context.Context, env engine.Env, raw engine.Snapshot) error {
	snap, err := euDecode(raw)
	if err != nil {
		return err
	}
	ex, err := s.deps.Exchange()
	if err != nil {
		return err
	}
	cur, err := ex.GetURLState(ctx, snap.Servers)
	if err != nil {
		return err
	}
	vch, och, names, err := ExternalURLRestores(snap, cur.VDirs, cur.OutlookAnywhere)
	if err != nil {
		return err
	}
	var errs []error
	if err := itemFailures("restoring ExternalUrl", names)(ex.SetExternalURLs(ctx, vch)); err != nil {
		errs = append(errs, err)
	} else if len(vch) > 0 {
		env.Logf("ExternalUrl restored on %d virtual director(y/ies)", len(vch))
	}
	if err := itemFailures("restoring Outlook Anywhere", names)(ex.SetOutlookAnywhere(ctx, och)); err != nil {
		errs = append(errs, err)
	} else if len(och) > 0 {
		env.Logf("Outlook Anywhere restored on %d server(s)", len(och))
	}
	return errors.Join(errs...)
}

// ExternalURLRestores returns the writes that bring the current values
// back to the snapshot exactly: a captured $null ExternalUrl or
// ExternalHostname is written as $null.
func ExternalURLRestores(snap ExternalURLsSnapshot, cur []exchange.VirtualDirectory, curOA []exchange.OutlookAnywhere) ([]exchange.VDirURLChange, []exchange.OutlookAnywhereChange, map[string]string, error) {
	names := map[string]string{}
	byGuid := map[string]exchange.VirtualDirectory{}
	for _, v := range cur {
		byGuid[strings.ToLower(v.Guid)] = v
	}
	var missing []string
	var vch []exchange.VDirURLChange
	for _, was := range snap.urlVDirs() {
		names[strings.ToLower(was.Guid)] = was.Identity
		now, ok := byGuid[strings.ToLower(was.Guid)]
		if !ok {
			missing = append(missing, was.Identity)
			continue
		}
		if !exactURL(now.ExternalUrl, was.ExternalUrl) {
			vch = append(vch, exchange.VDirURLChange{Kind: was.Kind, Guid: was.Guid, ExternalUrl: was.ExternalUrl})
		}
	}
	oaByGuid := map[string]exchange.OutlookAnywhere{}
	for _, o := range curOA {
		oaByGuid[strings.ToLower(o.Guid)] = o
	}
	var och []exchange.OutlookAnywhereChange
	for _, was := range snap.OutlookAnywhere {
		names[strings.ToLower(was.Guid)] = was.Identity
		now, ok := oaByGuid[strings.ToLower(was.Guid)]
		if !ok {
			missing = append(missing, was.Identity)
			continue
		}
		if exactURL(now.ExternalHostname, was.ExternalHostname) && now.ExternalClientsRequireSsl == was.ExternalClientsRequireSsl &&
			now.ExternalClientAuthenticationMethod == was.ExternalClientAuthenticationMethod {
			continue
		}
		och = append(och, exchange.OutlookAnywhereChange{Guid: was.Guid, ExternalHostname: was.ExternalHostname,
			ExternalClientsRequireSsl: was.ExternalClientsRequireSsl, ExternalClientAuthenticationMethod: was.ExternalClientAuthenticationMethod})
	}
	if len(missing) > 0 {
		return vch, och, names, fmt.Errorf("cannot restore, no longer found in Exchange: %s", strings.Join(missing, ", "))
	}
	return vch, och, names, nil
}
