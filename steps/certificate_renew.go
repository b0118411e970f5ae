package steps

// `exrunbook certificate renew`: renew the acme-mode certificate when due
// (certificate.acme.renew_before, or the CA's renewal information), import
// it on every server, enable it for exactly the services the old one had,
// prove it on the wire, and only then retire the old one. The progress is
// kept in the state directory (acme/renew.json) so that a killed renewal
// is finished by the next one; a failure before the proof puts the old
// certificate back.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/acme"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/pause"
	"github.com/exrunbook/exrunbook/internal/state"
)

// RenewStateFile is a renewal in progress, relative to the state directory.
const RenewStateFile = "acme/renew.json"

// RenewPendingFile holds the renewed certificate and its key (0600) from
// issuance until the renewal ends; it is apart from the certificate step's
// ACMEPendingFile, so that neither takes the other's certificate.
const RenewPendingFile = "acme/renew-pending.pem"

// The phases of a renewal, in order. A renewal in phase reverting puts the
// old certificate back.
const (
	RenewOrdering  = "ordering"
	RenewImporting = "importing"
	RenewBinding   = "binding"
	RenewProving   = "proving"
	RenewRetiring  = "retiring"
	RenewReverting = "reverting"
)

// RenewState is what a renewal records before each phase.
type RenewState struct {
	Phase   string    `json:"phase"`
	Started time.Time `json:"started"`
	Servers []string  `json:"servers"`
	// Old is the certificate bound to IIS when the renewal began, and
	// OldServices what it held on each server.
	Old         string              `json:"old"`
	OldServices map[string][]string `json:"old_services"`
	// New is the renewed certificate, once issued.
	New string `json:"new,omitempty"`
	// ChallengeRecords are DNS-01 records written and not yet removed.
	ChallengeRecords []acme.TXTRecord `json:"challenge_records,omitempty"`
	// Reason says why the renewal was due.
	Reason string `json:"reason"`
}

// RenewCert describes a certificate in the report.
type RenewCert struct {
	Thumbprint string    `json:"thumbprint"`
	NotAfter   time.Time `json:"not_after,omitzero"`
}

// RenewChange is one change (or, in a dry run, one that would be made).
type RenewChange struct {
	Server     string   `json:"server"`
	Action     string   `json:"action"` // import, enable, remove, restore
	Thumbprint string   `json:"thumbprint"`
	Services   []string `json:"services,omitempty"`
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
}

// RenewReport is the outcome (`certificate renew --output json`).
type RenewReport struct {
	Due     bool          `json:"due"`
	Reason  string        `json:"reason"`
	DryRun  bool          `json:"dry_run"`
	Resumed bool          `json:"resumed"`
	Old     RenewCert     `json:"old"`
	New     *RenewCert    `json:"new"`
	ARI     *RenewWindow  `json:"ari"`
	Proof   []string      `json:"proof"`
	Changes []RenewChange `json:"changes"`
}

// RenewWindow is the CA's suggested renewal window.
type RenewWindow struct {
	Start          time.Time `json:"start"`
	End            time.Time `json:"end"`
	ExplanationURL string    `json:"explanation_url,omitempty"`
}

// Renewer renews the certificate.
type Renewer struct {
	Deps     *Deps
	StateDir string
	Force    bool
	DryRun   bool
	// Logf receives progress lines; Journal one entry per change.
	Logf    func(format string, args ...any)
	Journal func(details map[string]any) error
	// ProofAttempts and ProofWait pace the wire proof (default 5, 2 s):
	// a server may take a moment to present a newly bound certificate.
	ProofAttempts int
	ProofWait     time.Duration
	Now           func() time.Time
}

func (r *Renewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Renewer) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

func (r *Renewer) statePath() string   { return filepath.Join(r.StateDir, RenewStateFile) }
func (r *Renewer) pendingPath() string { return filepath.Join(r.StateDir, RenewPendingFile) }

func (r *Renewer) save(st *RenewState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.statePath()), 0o700); err != nil {
		return err
	}
	return state.WriteFileAtomic(r.statePath(), append(b, '\n'), 0o600)
}

// LoadRenewState reads a renewal in progress; nil when there is none.
func LoadRenewState(stateDir string) (*RenewState, error) {
	p := filepath.Join(stateDir, RenewStateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st RenewState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %v (remove it only after checking which certificate the servers hold)", p, err)
	}
	switch st.Phase {
	case RenewOrdering, RenewImporting, RenewBinding, RenewProving, RenewRetiring, RenewReverting:
	default:
		return nil, fmt.Errorf("%s: unknown phase %q", p, st.Phase)
	}
	if st.Old == "" || len(st.Servers) == 0 {
		return nil, fmt.Errorf("%s: no old certificate or no server recorded", p)
	}
	return &st, nil
}

func (r *Renewer) journal(rep *RenewReport, ch RenewChange) error {
	rep.Changes = append(rep.Changes, ch)
	if ch.OK {
		r.logf("%s: %s %s %s", ch.Server, ch.Action, ch.Thumbprint, strings.Join(ch.Services, ", "))
	} else {
		r.logf("%s: %s %s FAILED: %s", ch.Server, ch.Action, ch.Thumbprint, ch.Error)
	}
	if r.Journal == nil {
		return nil
	}
	return r.Journal(map[string]any{"server": ch.Server, "action": ch.Action, "thumbprint": ch.Thumbprint,
		"services": ch.Services, "ok": ch.OK, "error": ch.Error})
}

// Run renews when due (or forced, or when a killed renewal is to be
// finished) and reports what it did.
func (r *Renewer) Run(ctx context.Context) (rep RenewReport, err error) {
	rep = RenewReport{DryRun: r.DryRun, Changes: []RenewChange{}, Proof: []string{}}
	ex, err := r.Deps.Clients.Exchange()
	if err != nil {
		return rep, err
	}
	st, err := LoadRenewState(r.StateDir)
	if err != nil {
		return rep, err
	}
	if st != nil {
		rep.Due, rep.Resumed, rep.Reason = true, true, "finishing the renewal begun at "+st.Started.UTC().Format(time.RFC3339)+" ("+st.Reason+"), left in phase "+st.Phase
		rep.Old = RenewCert{Thumbprint: st.Old}
		if r.DryRun {
			r.logf("%s: a run that is not a dry run finishes it", rep.Reason)
			return rep, nil
		}
		r.logf("%s", rep.Reason)
		return rep, r.advance(ctx, ex, st, &rep)
	}
	var servers []exchange.Server
	if err := r.retryTransient(ctx, "reading the servers", func() (err error) { servers, err = r.Deps.Servers(ctx); return err }); err != nil {
		return rep, err
	}
	names := ServerNames(servers)
	// The proof needs every server's HTTPS address: refuse before ordering.
	if _, err := r.Deps.Clients.HTTPSTargets(names); err != nil {
		return rep, err
	}
	var capt exchange.CertCapture
	if err := r.retryTransient(ctx, "reading the certificates", func() (err error) { capt, err = ex.GetCertCapture(ctx, names, false, true); return err }); err != nil {
		return rep, err
	}
	old, services, err := boundCertificate(names, capt.Certificates)
	if err != nil {
		return rep, err
	}
	rep.Old = RenewCert{Thumbprint: old.Thumbprint, NotAfter: old.NotAfter}
	ordered := ACMENames(r.Deps.Config)
	for _, p := range capt.PopImap {
		for proto, n := range map[string]*string{"POP": p.PopX509CertificateName, "IMAP": p.ImapX509CertificateName} {
			// A name the old certificate covers is served with it: the
			// new one must cover it too. Other names are another
			// certificate's business.
			if n != nil && *n != "" && checks.SANCovers(old.CertificateDomains, *n) && !checks.SANCovers(ordered, *n) {
				return rep, fmt.Errorf("%s's %s certificate name is %s, which the certificate being replaced covers and the renewed one (%s) would not: add it to the namespace or change Set-%sSettings -X509CertificateName first",
					p.Server, proto, *n, strings.Join(ordered, ", "), map[string]string{"POP": "Pop", "IMAP": "Imap"}[proto])
			}
		}
	}
	due, reason := r.due(ctx, old, &rep)
	rep.Due, rep.Reason = due, reason
	if !due {
		r.logf("certificate %s is not due: %s", old.Thumbprint, reason)
		return rep, nil
	}
	if r.DryRun {
		r.logf("would renew certificate %s (%s) for %s", old.Thumbprint, reason, strings.Join(ordered, ", "))
		for _, s := range names {
			rep.Changes = append(rep.Changes, RenewChange{Server: s, Action: "import", Thumbprint: "(new)", OK: true},
				RenewChange{Server: s, Action: "enable", Thumbprint: "(new)", Services: services[s], OK: true},
				RenewChange{Server: s, Action: "remove", Thumbprint: old.Thumbprint, OK: true})
		}
		return rep, nil
	}
	r.logf("renewing certificate %s: %s", old.Thumbprint, reason)
	st = &RenewState{Phase: RenewOrdering, Started: r.now().UTC(), Servers: names, Old: strings.ToUpper(old.Thumbprint), OldServices: services, Reason: reason}
	if err := r.save(st); err != nil {
		return rep, err
	}
	return rep, r.advance(ctx, ex, st, &rep)
}

// boundCertificate is the certificate bound to IIS on every server (they
// must agree) and, per server, the services it holds.
func boundCertificate(servers []string, certs []exchange.Certificate) (exchange.Certificate, map[string][]string, error) {
	var old exchange.Certificate
	services := map[string][]string{}
	var disagree []string
	for _, s := range servers {
		var found *exchange.Certificate
		for i, c := range certs {
			if strings.EqualFold(c.Server, s) && checks.HasServices(c, []string{"IIS"}) {
				found = &certs[i]
			}
		}
		if found == nil {
			return old, nil, fmt.Errorf("%s has no certificate bound to IIS: bind one first (the runbook's bind-certificate step)", s)
		}
		if old.Thumbprint == "" {
			old = *found
		} else if !strings.EqualFold(old.Thumbprint, found.Thumbprint) {
			disagree = append(disagree, fmt.Sprintf("%s holds %s", s, found.Thumbprint))
		}
		services[s] = found.ServiceList()
	}
	if len(disagree) > 0 {
		return old, nil, fmt.Errorf("the servers do not agree on the IIS certificate (%s holds %s; %s): make them agree before renewing", servers[0], old.Thumbprint, strings.Join(disagree, "; "))
	}
	return old, services, nil
}

// due decides: forced (Force); within renew_before of expiry; or inside (or past)
// the window the CA's renewal information suggests.
func (r *Renewer) due(ctx context.Context, old exchange.Certificate, rep *RenewReport) (bool, string) {
	now := r.now()
	before := r.Deps.Config.Certificate.ACME.RenewBefore.D()
	left := old.NotAfter.Sub(now)
	days := func(d time.Duration) string { return fmt.Sprintf("%.1f days", d.Hours()/24) }
	if r.Force {
		return true, "forced by the operator"
	}
	if left < before {
		return true, fmt.Sprintf("it expires at %s, in %s: within certificate.acme.renew_before (%s)", old.NotAfter.UTC().Format(time.RFC3339), days(left), days(before))
	}
	base := fmt.Sprintf("it expires at %s, in %s, more than certificate.acme.renew_before (%s)", old.NotAfter.UTC().Format(time.RFC3339), days(left), days(before))
	leaf, err := r.presentedLeaf(ctx, old.Thumbprint)
	if err != nil {
		r.logf("the CA's renewal information is not asked: %v", err)
		return false, base
	}
	hc, err := acme.HTTPClient(r.Deps.Config.Certificate.ACME.CAFile)
	if err != nil {
		r.logf("the CA's renewal information is not asked: %v", err)
		return false, base
	}
	ri, found, err := acme.GetRenewalInfo(ctx, hc, r.Deps.Config.Certificate.ACME.Directory, leaf)
	switch {
	case err != nil:
		r.logf("the CA's renewal information could not be read (%v); deciding by the expiry alone", err)
		return false, base
	case !found:
		return false, base + "; the CA offers no renewal information"
	}
	rep.ARI = &RenewWindow{Start: ri.Start, End: ri.End, ExplanationURL: ri.ExplanationURL}
	if !now.Before(ri.Start) {
		why := fmt.Sprintf("the CA's renewal information (ARI) suggests renewing between %s and %s", ri.Start.UTC().Format(time.RFC3339), ri.End.UTC().Format(time.RFC3339))
		if ri.ExplanationURL != "" {
			why += " (" + ri.ExplanationURL + ")"
		}
		return true, why
	}
	return false, base + fmt.Sprintf("; the CA's renewal window opens at %s", ri.Start.UTC().Format(time.RFC3339))
}

// presentedLeaf reads the certificate from the wire (the first server's
// HTTPS, SNI the external name): ARI names a certificate by its issuer key
// and serial, which Get-ExchangeCertificate does not give.
func (r *Renewer) presentedLeaf(ctx context.Context, thumb string) (*x509.Certificate, error) {
	names, _ := r.Deps.Servers(ctx)
	targets, err := r.Deps.Clients.HTTPSTargets(ServerNames(names))
	if err != nil || len(targets) == 0 {
		return nil, fmt.Errorf("no HTTPS address to read the certificate from: %v", err)
	}
	d := &tls.Dialer{Config: &tls.Config{ServerName: r.Deps.Config.Namespace.External, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}} //nolint:gosec // only read, matched by thumbprint
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(cctx, "tcp", targets[0].Addr)
	if err != nil {
		return nil, fmt.Errorf("reading the certificate from %s: %w", targets[0].Addr, err)
	}
	defer conn.Close()
	leaf := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	if !strings.EqualFold(checks.Thumbprint(leaf), thumb) {
		return nil, fmt.Errorf("%s presents %s, not the IIS certificate %s", targets[0].Addr, checks.Thumbprint(leaf), thumb)
	}
	return leaf, nil
}

// renewRetries is how often a phase that failed transiently (HTTP 5xx, a
// dropped connection, throttling: errkind.Transient) is tried again
// before the renewal gives up; every phase is idempotent.
const renewRetries = 3

// retryTransient runs f, again after a transient failure, up to
// renewRetries times with a doubling wait.
func (r *Renewer) retryTransient(ctx context.Context, what string, f func() error) error {
	wait := time.Second
	for i := 0; ; i++ {
		err := f()
		if err == nil || !errkind.IsTransient(err) || i >= renewRetries || ctx.Err() != nil {
			return err
		}
		r.logf("%s failed transiently (%v): trying again in %s", what, err, wait)
		if err := pause.For(ctx, wait); err != nil {
			return err
		}
		wait *= 2
	}
}

// advance carries the renewal from its recorded phase to the end.
func (r *Renewer) advance(ctx context.Context, ex *exchange.Client, st *RenewState, rep *RenewReport) error {
	retries, wait := 0, time.Second
	for {
		var err error
		switch st.Phase {
		case RenewOrdering:
			err = r.order(ctx, st, rep)
		case RenewImporting:
			err = r.importNew(ctx, ex, st, rep)
		case RenewBinding:
			err = r.bindNew(ctx, ex, st, rep)
		case RenewProving:
			err = r.prove(ctx, st, rep)
		case RenewRetiring:
			if err = r.retire(ctx, ex, st, rep); err == nil {
				return nil
			}
		case RenewReverting:
			return r.revert(ctx, ex, st, rep, nil)
		}
		if err != nil && errkind.IsTransient(err) && retries < renewRetries && ctx.Err() == nil {
			retries++
			r.logf("%s failed transiently (%v): trying again in %s", st.Phase, err, wait)
			_ = pause.For(ctx, wait) // an ended ctx fails the next attempt, which is then not retried
			wait *= 2
			continue
		}
		retries, wait = 0, time.Second
		if err != nil {
			if st.Phase == RenewRetiring {
				// The new certificate is bound and proven: keep it; the
				// next run removes the old one.
				return err
			}
			if st.Phase == RenewOrdering || ctx.Err() != nil {
				// Nothing is on the servers yet; or interrupted: the next
				// run continues from the recorded phase.
				if st.Phase == RenewOrdering && ctx.Err() == nil {
					if rerr := r.finish(); rerr != nil {
						err = errors.Join(err, rerr)
					}
				}
				return err
			}
			return r.revert(ctx, ex, st, rep, err)
		}
	}
}

func (r *Renewer) setPhase(st *RenewState, phase string) error {
	st.Phase = phase
	return r.save(st)
}

// order obtains the new certificate (or takes the one an interrupted run
// obtained) and keeps it in the pending file.
func (r *Renewer) order(ctx context.Context, st *RenewState, rep *RenewReport) error {
	w, prop, err := ACMEChallengeDNS(r.Deps, r.logf)
	if err != nil {
		return err
	}
	if len(st.ChallengeRecords) > 0 {
		r.logf("removing %d challenge record(s) left by an interrupted renewal", len(st.ChallengeRecords))
		if err := acme.CleanUp(ctx, w, st.ChallengeRecords); err != nil {
			return err
		}
		st.ChallengeRecords = nil
		if err := r.save(st); err != nil {
			return err
		}
	}
	cert, err := LoadACMEPending(r.pendingPath())
	if err != nil {
		return err
	}
	if cert != nil && strings.EqualFold(cert.Thumbprint(), st.Old) {
		cert = nil // the pending file of the certificate being replaced
	}
	if cert == nil {
		c, err := ACMEClient(r.Deps.Clients, r.StateDir, r.logf)
		if err != nil {
			return err
		}
		cert, err = c.Obtain(ctx, ACMENames(r.Deps.Config), w, prop, acme.Hooks{
			Presenting: func(recs []acme.TXTRecord) error { st.ChallengeRecords = recs; return r.save(st) },
			CleanedUp:  func([]acme.TXTRecord) { st.ChallengeRecords = nil; r.save(st) },
		})
		if err != nil {
			return err
		}
		if err := SaveACMEPending(r.pendingPath(), cert); err != nil {
			return err
		}
	} else {
		r.logf("certificate %s was issued by an interrupted renewal: using it", cert.Thumbprint())
	}
	st.New = cert.Thumbprint()
	rep.New = &RenewCert{Thumbprint: st.New, NotAfter: cert.Leaf().NotAfter}
	return r.setPhase(st, RenewImporting)
}

func (r *Renewer) pending(st *RenewState, rep *RenewReport) (*acme.Certificate, error) {
	cert, err := LoadACMEPending(r.pendingPath())
	if err != nil {
		return nil, err
	}
	if cert == nil || !strings.EqualFold(cert.Thumbprint(), st.New) {
		return nil, fmt.Errorf("the renewed certificate %s is no longer in %s", st.New, r.pendingPath())
	}
	rep.New = &RenewCert{Thumbprint: st.New, NotAfter: cert.Leaf().NotAfter}
	return cert, nil
}

func (r *Renewer) importNew(ctx context.Context, ex *exchange.Client, st *RenewState, rep *RenewReport) error {
	cert, err := r.pending(st, rep)
	if err != nil {
		return err
	}
	pw, err := acme.OneTimePassword()
	if err != nil {
		return err
	}
	pfx, err := cert.PFX(pw)
	if err != nil {
		return err
	}
	res, err := ex.ImportPFXWhereMissing(ctx, st.Servers, st.New, pfx, pw)
	if err != nil {
		return err
	}
	var failed []string
	for _, x := range res {
		switch {
		case !x.OK:
			failed = append(failed, x.Server+": "+x.Error)
			r.journal(rep, RenewChange{Server: x.Server, Action: "import", Thumbprint: st.New, Error: x.Error})
		case x.Changed:
			if err := r.journal(rep, RenewChange{Server: x.Server, Action: "import", Thumbprint: st.New, OK: true}); err != nil {
				return err
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("Import-ExchangeCertificate failed: %s", strings.Join(failed, "; "))
	}
	return r.setPhase(st, RenewBinding)
}

// bindNew enables the new certificate for exactly the services the old
// one held on each server.
func (r *Renewer) bindNew(ctx context.Context, ex *exchange.Client, st *RenewState, rep *RenewReport) error {
	if err := r.enable(ctx, ex, st, st.New, "enable", rep); err != nil {
		return err
	}
	return r.setPhase(st, RenewProving)
}

func (r *Renewer) enable(ctx context.Context, ex *exchange.Client, st *RenewState, thumb, action string, rep *RenewReport) error {
	var binds []exchange.CertBinding
	for _, s := range st.Servers {
		if sv := st.OldServices[s]; len(sv) > 0 {
			binds = append(binds, exchange.CertBinding{Server: s, Thumbprint: thumb, Services: sv})
		}
	}
	res, err := ex.EnableCertificatesWhereMissing(ctx, binds, nil, exchange.CompareApply)
	if err != nil {
		return err
	}
	var failed []string
	for _, b := range binds {
		for _, x := range res {
			if x.ID != exchange.BindID(b.Server, b.Thumbprint) {
				continue
			}
			ch := RenewChange{Server: b.Server, Action: action, Thumbprint: thumb, Services: b.Services, OK: x.OK, Error: x.Error}
			if !x.OK {
				failed = append(failed, b.Server+": "+x.Error)
			}
			if x.Changed || !x.OK {
				if err := r.journal(rep, ch); err != nil {
					return err
				}
			}
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("Enable-ExchangeCertificate %s failed: %s", thumb, strings.Join(failed, "; "))
	}
	return nil
}

// prove requires every server to present the new certificate on 443 for
// every name and, where exchange.smtp has an address and SMTP was bound,
// after STARTTLS.
func (r *Renewer) prove(ctx context.Context, st *RenewState, rep *RenewReport) error {
	cert, err := r.pending(st, rep)
	if err != nil {
		return err
	}
	roots, err := r.Deps.Clients.RootCAs()
	if err != nil {
		return err
	}
	roots = roots.Clone()
	if f := r.Deps.Config.Certificate.ACME.CAFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("certificate.acme.ca_file: %w", err)
		}
		roots.AppendCertsFromPEM(b)
	}
	tls, err := r.Deps.Clients.TLSProbe("tls", st.Servers, ACMENames(r.Deps.Config))
	if err != nil {
		return err
	}
	tls.RootCAs, tls.Intermediates, tls.ExpectThumbprint = roots, cert.Chain[1:], st.New
	proofs := []engine.Check{tls}
	var smtpServers []string
	for _, s := range st.Servers {
		if containsFold(st.OldServices[s], "SMTP") {
			smtpServers = append(smtpServers, s)
		}
	}
	smtp, err := r.Deps.Clients.SMTPProbe("smtp-starttls", smtpServers, []string{r.Deps.Config.Namespace.External})
	if err != nil {
		return err
	}
	if smtp != nil {
		smtp.RootCAs, smtp.Intermediates, smtp.ExpectThumbprint = roots, cert.Chain[1:], st.New
		proofs = append(proofs, smtp)
	} else {
		r.logf("SMTP STARTTLS is not proven: exchange.smtp has no address for the servers that hold SMTP")
	}
	attempts, wait := r.ProofAttempts, r.ProofWait
	if attempts <= 0 {
		attempts = 5
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	env := proofEnv{now: r.now}
	for _, c := range proofs {
		var res engine.CheckResult
		for i := 0; i < attempts; i++ {
			if i > 0 {
				if err := pause.For(ctx, wait); err != nil {
					return err
				}
			}
			if res = c.Run(ctx, env); res.Status != engine.CheckFail {
				break
			}
		}
		if res.Status == engine.CheckFail {
			return fmt.Errorf("the renewed certificate %s is not proven on the wire (%s): %s", st.New, c.Name(), res.Message)
		}
		rep.Proof = append(rep.Proof, c.Name()+": "+res.Message)
		r.logf("proven: %s: %s", c.Name(), res.Message)
	}
	return r.setPhase(st, RenewRetiring)
}

// proofEnv is the engine.Env the proof checks run with (they only read
// the clock).
type proofEnv struct{ now func() time.Time }

func (e proofEnv) Now() time.Time                         { return e.now() }
func (proofEnv) Logf(string, ...any)                      {}
func (proofEnv) Progress(int, int, string)                {}
func (proofEnv) SetOutput(string, any) error              { return errors.New("no outputs during renewal") }
func (proofEnv) Output(string, string, any) (bool, error) { return false, nil }

// retire removes the old certificate from every server where nothing
// binds it any more.
func (r *Renewer) retire(ctx context.Context, ex *exchange.Client, st *RenewState, rep *RenewReport) error {
	if _, err := r.pending(st, rep); err != nil && rep.New == nil {
		rep.New = &RenewCert{Thumbprint: st.New}
	}
	var items []exchange.CertRemoval
	for _, s := range st.Servers {
		items = append(items, exchange.CertRemoval{Server: s, Thumbprint: st.Old})
	}
	res, err := ex.RemoveCertificatesWhereUnbound(ctx, items)
	if err != nil {
		return err
	}
	var bound, failed []string
	for _, x := range res {
		switch {
		case !x.OK:
			failed = append(failed, x.Server+": "+x.Error)
			r.journal(rep, RenewChange{Server: x.Server, Action: "remove", Thumbprint: st.Old, Error: x.Error})
		case x.Present && x.Bound():
			bound = append(bound, fmt.Sprintf("%s still holds %s on %s", st.Old, x.Services, x.Server))
		case x.Removed:
			if err := r.journal(rep, RenewChange{Server: x.Server, Action: "remove", Thumbprint: st.Old, OK: true}); err != nil {
				return err
			}
		}
	}
	if len(bound) > 0 || len(failed) > 0 {
		return fmt.Errorf("the renewed certificate %s is bound and proven, but the old one %s was not removed everywhere (%s); `certificate renew` tries again",
			st.New, st.Old, strings.Join(append(bound, failed...), "; "))
	}
	cur, err := LoadACMECurrent(r.StateDir)
	if err != nil {
		return err
	}
	if cur == nil {
		cur = &ACMECurrent{}
	}
	if !containsFold(cur.Renewed, st.New) {
		cur.Renewed = append(cur.Renewed, st.New)
	}
	cur.Thumbprint = st.New
	if rep.New != nil {
		cur.NotAfter = rep.New.NotAfter
	}
	if err := saveACMECurrent(r.StateDir, cur); err != nil {
		return err
	}
	return r.finish()
}

// revert puts the old certificate back for its services and removes the
// new one, after cause (nil when resuming a revert).
func (r *Renewer) revert(ctx context.Context, ex *exchange.Client, st *RenewState, rep *RenewReport, cause error) error {
	if cause != nil {
		r.logf("renewal failed (%v): putting certificate %s back", cause, st.Old)
	}
	if st.Phase != RenewReverting {
		if err := r.setPhase(st, RenewReverting); err != nil {
			return errors.Join(cause, err)
		}
	}
	if err := r.retryTransient(ctx, "restoring "+st.Old, func() error { return r.enable(ctx, ex, st, st.Old, "restore", rep) }); err != nil {
		return errors.Join(cause, fmt.Errorf("putting the old certificate back failed (run `certificate renew` again to retry): %w", err))
	}
	if st.New != "" {
		var items []exchange.CertRemoval
		for _, s := range st.Servers {
			items = append(items, exchange.CertRemoval{Server: s, Thumbprint: st.New})
		}
		var res []exchange.CertRemoveResult
		err := r.retryTransient(ctx, "removing "+st.New, func() (err error) { res, err = ex.RemoveCertificatesWhereUnbound(ctx, items); return err })
		if err != nil {
			return errors.Join(cause, err)
		}
		for _, x := range res {
			if x.Removed {
				if err := r.journal(rep, RenewChange{Server: x.Server, Action: "remove", Thumbprint: st.New, OK: true}); err != nil {
					return errors.Join(cause, err)
				}
			} else if !x.OK || (x.Present && x.Bound()) {
				return errors.Join(cause, fmt.Errorf("removing the renewed certificate %s from %s failed: %s %s", st.New, x.Server, x.Error, x.Services))
			}
		}
	}
	if err := r.finish(); err != nil {
		return errors.Join(cause, err)
	}
	if cause == nil {
		cause = fmt.Errorf("an interrupted renewal failed earlier; certificate %s is bound again and the renewed one removed: run `certificate renew` to try again", st.Old)
	}
	return fmt.Errorf("%w; certificate %s is still bound", cause, st.Old)
}

// finish forgets the renewal: the state file and the pending key.
func (r *Renewer) finish() error {
	if err := RemoveACMEPending(r.pendingPath()); err != nil {
		return err
	}
	if err := os.Remove(r.statePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
