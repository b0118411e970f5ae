package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

func init() { Register("certificate", newCertificate) }

// CertificateStepID is the id of the certificate step whose `thumbprint`
// output bind-certificate binds.
const CertificateStepID = "certificate"

// The certificate.mode values.
const (
	CertModePFX        = "pfx"
	CertModeThumbprint = "thumbprint"
	CertModeRequest    = "request"
	CertModeACME       = "acme"
)

// CertificateFile describes the PFX the step imports, as parsed locally
// before Exchange is touched. It holds no secret.
type CertificateFile struct {
	Path       string    `json:"path"`
	Thumbprint string    `json:"thumbprint"`
	Subject    string    `json:"subject"`
	SANs       []string  `json:"sans"`
	NotAfter   time.Time `json:"not_after"`
	KeyBits    int       `json:"key_bits"`
	SHA1       bool      `json:"sha1"`
	HasKey     bool      `json:"has_key"`
}

func (f CertificateFile) facts() checks.CertFacts {
	return checks.CertFacts{Thumbprint: f.Thumbprint, Subject: f.Subject, SANs: f.SANs, NotAfter: f.NotAfter,
		KeyBits: f.KeyBits, SHA1: f.SHA1, HasPrivateKey: f.HasKey}
}

// CertificateSnapshot is what the certificate step captures: every
// certificate of every server in scope before the step, so that rollback
// removes only what the step added.
type CertificateSnapshot struct {
	Mode    string   `json:"mode"`
	Servers []string `json:"servers"`
	// Certificates are every server's certificates before the step.
	Certificates []exchange.Certificate `json:"certificates"`
	// Thumbprint is the certificate the step ensures (pfx, thumbprint);
	// in request mode it is learnt later and kept in the outputs.
	Thumbprint string `json:"thumbprint,omitempty"`
	// PFX is the parsed PFX (pfx mode).
	PFX *CertificateFile `json:"pfx,omitempty"`
	// RequestServer, Subject and Domains describe the request (request mode).
	RequestServer string   `json:"request_server,omitempty"`
	Subject       string   `json:"subject,omitempty"`
	Domains       []string `json:"domains,omitempty"`
	// ACMEDirectory is the CA the certificate is ordered from (acme mode;
	// Domains are the names ordered).
	ACMEDirectory string `json:"acme_directory,omitempty"`
}

// certificate is the certificate step: it makes sure that every server in
// scope has a usable certificate, by importing a PFX, verifying an
// installed thumbprint, or requesting one from a CA.
type certificate struct {
	id   string
	deps *Deps
	mode string
	// captured is Capture's read, for the pre-checks right after it.
	captured capturedRead[exchange.URLCapture]
}

func newCertificate(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if err := configOnly(id, "certificate", "certificate", with, deps); err != nil {
		return nil, err
	}
	mode := strings.ToLower(deps.Config.Certificate.Mode)
	switch mode {
	case CertModePFX, CertModeThumbprint, CertModeRequest, CertModeACME:
	default:
		return nil, fmt.Errorf("certificate.mode: %q; expected pfx, thumbprint, request or acme", deps.Config.Certificate.Mode)
	}
	return &certificate{id: id, deps: deps, mode: mode}, nil
}

// hosts are the names the certificate must cover.
func certHosts(cfg *config.Config) []string {
	ns := cfg.Namespace
	var out []string
	for _, h := range []string{ns.Internal, ns.External, ns.Autodiscover} {
		if h != "" {
			out = append(out, h)
		}
	}
	return out
}

// readPFX parses certificate.pfx_file with the PFX password.
func readPFX(c *clients.Factory) (CertificateFile, []byte, string, error) {
	path := c.Config().Certificate.PFXFile
	data, err := os.ReadFile(path)
	if err != nil {
		return CertificateFile{}, nil, "", fmt.Errorf("certificate.pfx_file: %w", err)
	}
	pw, err := c.Secrets().PFXPassword()
	if err != nil {
		return CertificateFile{}, nil, "", err
	}
	key, leaf, _, err := pkcs12.DecodeChain(data, pw)
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return CertificateFile{}, nil, "", fmt.Errorf("certificate.pfx_file %s: the PFX password is wrong (EXRUNBOOK_CERTIFICATE_PFX_PASSWORD or certificate.pfx_password_file)", path)
		}
		return CertificateFile{}, nil, "", fmt.Errorf("certificate.pfx_file %s: not a PFX this tool can read: %v", path, err)
	}
	f := checks.FactsFromX509(leaf, key != nil)
	return CertificateFile{Path: path, Thumbprint: f.Thumbprint, Subject: f.Subject, SANs: f.SANs, NotAfter: f.NotAfter,
		KeyBits: f.KeyBits, SHA1: f.SHA1, HasKey: f.HasPrivateKey}, data, pw, nil
}

// Capture reads every server's certificates and, in pfx mode, parses the
// PFX (locally, before Exchange is touched). The read is one launch: the
// certificates with the URL state the consistency pre-check judges, and
// when no step of this run has resolved the servers yet, the servers too
// (Get-ExchangeServer in the same script; Deps remembers them).
func (s *certificate) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	if err := s.deps.RequirePermissions(ctx, "certificate"); err != nil {
		return nil, err
	}
	cfg := s.deps.Config
	snap := CertificateSnapshot{Mode: s.mode}
	if s.mode == CertModePFX {
		f, _, _, err := readPFX(s.deps.Clients)
		if err != nil {
			return nil, err
		}
		snap.PFX, snap.Thumbprint = &f, f.Thumbprint
	}
	if s.mode == CertModeThumbprint {
		snap.Thumbprint = strings.ToUpper(cfg.Certificate.Thumbprint)
	}
	if s.mode == CertModeACME {
		snap.Domains, snap.ACMEDirectory = ACMENames(cfg), cfg.Certificate.ACME.Directory
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
		capt, err = ex.GetURLCapture(ctx, cfg.Exchange.Servers, true)
		if err == nil {
			servers = s.deps.rememberServers(capt.Servers)
		}
	}
	if err != nil {
		return nil, err
	}
	snap.Servers = ServerNames(servers)
	snap.Certificates = capt.Certificates
	if s.mode == CertModeRequest {
		snap.RequestServer = cfg.Certificate.Request.Server
		if snap.RequestServer == "" {
			snap.RequestServer = snap.Servers[0]
		}
		snap.Subject = cfg.Certificate.Request.Subject
		if snap.Subject == "" {
			snap.Subject = "CN=" + cfg.Namespace.External
		}
		snap.Domains = certHosts(cfg)
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	s.captured.put(raw, capt)
	return raw, nil
}

func certDecode(snap engine.Snapshot) (CertificateSnapshot, error) {
	var p CertificateSnapshot
	if err := json.Unmarshal(snap, &p); err != nil {
		return p, fmt.Errorf("certificate snapshot: %w", err)
	}
	return p, nil
}

// Plan shows, per server, whether the certificate is imported, verified
// or requested.
func (s *certificate) Plan(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Plan, error) {
	snap, err := certDecode(raw)
	if err != nil {
		return engine.Plan{}, err
	}
	var p engine.Plan
	switch s.mode {
	case CertModePFX:
		f := snap.PFX.facts()
		n := 0
		for _, srv := range snap.Servers {
			ch := engine.Change{Target: srv, Field: "certificate", To: f.Thumbprint}
			if _, ok := checks.FindCertificate(snap.Certificates, srv, f.Thumbprint); ok {
				ch.From = f.Thumbprint
			} else {
				ch.From = "absent"
				ch.To = "import " + f.String()
				n++
			}
			p.Changes = append(p.Changes, ch)
		}
		p.Summary = fmt.Sprintf("import %s from %s onto %d of %d server(s) with Import-ExchangeCertificate", f.String(), snap.PFX.Path, n, len(snap.Servers))
	case CertModeThumbprint:
		for _, srv := range snap.Servers {
			ch := engine.Change{Target: srv, Field: "certificate", From: "absent", To: snap.Thumbprint}
			if c, ok := checks.FindCertificate(snap.Certificates, srv, snap.Thumbprint); ok {
				ch.From = c.Thumbprint
				if !c.HasPrivateKey {
					ch.From += " (no private key)"
				}
			}
			p.Changes = append(p.Changes, ch)
		}
		p.Summary = fmt.Sprintf("verify that certificate %s is installed with its private key on %s (nothing is changed)", snap.Thumbprint, strings.Join(snap.Servers, ", "))
	case CertModeACME:
		return s.planACME(env, snap)
	case CertModeRequest:
		var done string
		if _, err := env.Output(s.id, "thumbprint", &done); err != nil {
			return engine.Plan{}, err
		}
		ch := engine.Change{Target: snap.RequestServer, Field: "certificate", From: "-",
			To: fmt.Sprintf("New-ExchangeCertificate -GenerateRequest %s for %s; CSR written to %s; completed by `exrunbook certificate complete FILE`",
				snap.Subject, strings.Join(snap.Domains, ", "), certCSRFile(s.deps.Config))}
		if done != "" {
			ch.From, ch.To = done, done
		}
		p.Changes = append(p.Changes, ch)
		p.Summary = fmt.Sprintf("request a certificate for %s on %s (private key exportable)", strings.Join(snap.Domains, ", "), snap.RequestServer)
		for _, o := range snap.Servers {
			if strings.EqualFold(o, snap.RequestServer) {
				continue
			}
			to := "export from " + snap.RequestServer + " with its private key and import"
			if done != "" {
				if _, ok := checks.FindCertificate(snap.Certificates, o, done); ok {
					to = done
				}
			}
			p.Changes = append(p.Changes, engine.Change{Target: o, Field: "certificate", From: "absent", To: to})
		}
		if len(snap.Servers) > 1 {
			p.Summary += "; once completed, it is exported (Export-ExchangeCertificate, one-time password) and imported on the other servers"
		}
	}
	return p, nil
}

// PreChecks: the servers agree (the first change of the runbook), and
// the certificate is usable (the PFX itself, the installed thumbprint),
// or, in request mode, the request server is the only server in scope.
// Right after Capture the checks judge the capture's own read (no
// launch); on a rerun or resume with the stored snapshot they share one
// read (one launch).
func (s *certificate) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := certDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate", Err: err}}
	}
	read := &sharedRead[exchange.URLCapture]{}
	if capt, ok := s.captured.take(raw); ok {
		read.read = func(context.Context) (exchange.URLCapture, error) { return capt, nil }
	} else if ex, err := s.deps.Clients.Exchange(); err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "servers-consistent", Err: err}}
	} else {
		read.read = func(ctx context.Context) (exchange.URLCapture, error) {
			return ex.GetURLCapture(ctx, snap.Servers, false)
		}
	}
	out := []engine.Check{&consistencyCheck{servers: snap.Servers, read: read}}
	hosts := certHosts(s.deps.Config)
	switch s.mode {
	case CertModePFX:
		out = append(out, &checks.CertFactsCheck{CheckName: "pfx-certificate", What: "the PFX " + snap.PFX.Path, Facts: snap.PFX.facts(), Hosts: hosts})
	case CertModeThumbprint:
		out = append(out, &checks.CertificatePresentCheck{CheckName: "certificate-present", Servers: snap.Servers, Thumbprint: snap.Thumbprint, Hosts: hosts,
			Read: func(ctx context.Context) ([]exchange.Certificate, error) {
				capt, err := read.get(ctx)
				return capt.Certificates, err
			}})
	case CertModeRequest:
		out = append(out, requestScopeCheck{servers: snap.Servers, server: snap.RequestServer})
	case CertModeACME:
		out = append(out, acmeNamesCheck{cfg: s.deps.Config, deps: s.deps}, acmeDirectoryCheck{cfg: s.deps.Config})
	}
	return out
}

// consistencyCheck is the cross-server consistency pre-check
// (checks.ConsistencyDifferences) over a read shared with the step's
// other pre-checks: the capture's, or one GetURLCapture.
type consistencyCheck struct {
	servers []string
	read    *sharedRead[exchange.URLCapture]
}

func (c *consistencyCheck) Name() string { return "servers-consistent" }

func (c *consistencyCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name()}
	if len(c.servers) == 0 {
		res.Status, res.Message = engine.CheckFail, "nothing to compare: no server in scope"
		return res
	}
	st, err := c.read.get(ctx)
	if err != nil {
		res.Status, res.Message, res.Err = engine.CheckFail, "reading the certificates, virtual directories and Outlook Anywhere: "+err.Error(), err
		return res
	}
	diffs := checks.ConsistencyDifferences(c.servers, st.Certificates, st.VDirs, st.OutlookAnywhere)
	if len(diffs) > 0 {
		res.Status, res.Evidence = engine.CheckFail, diffs
		res.Message = fmt.Sprintf("the servers in scope disagree (%d difference(s) from %s); make them agree before the runbook changes anything: %s",
			len(diffs), c.servers[0], strings.Join(diffs, "; "))
		return res
	}
	res.Status = engine.CheckPass
	if len(c.servers) == 1 {
		res.Message = fmt.Sprintf("one server in scope (%s): nothing to compare", c.servers[0])
	} else {
		res.Message = fmt.Sprintf("%d servers agree on the IIS certificate, the virtual directory URLs and the Outlook Anywhere hostnames", len(c.servers))
	}
	return res
}

// Apply imports the PFX where it is missing, verifies the thumbprint, or
// requests the certificate and waits for the CA's answer.
func (s *certificate) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, err := certDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return engine.Outcome{}, err
	}
	switch s.mode {
	case CertModePFX:
		return engine.Outcome{}, s.applyPFX(ctx, env, ex, snap)
	case CertModeACME:
		return engine.Outcome{}, s.applyACME(ctx, env, ex, snap)
	case CertModeThumbprint:
		certs, err := ex.GetCertificates(ctx, snap.Servers)
		if err != nil {
			return engine.Outcome{}, err
		}
		var bad []string
		for _, srv := range snap.Servers {
			c, ok := checks.FindCertificate(certs, srv, snap.Thumbprint)
			switch {
			case !ok:
				bad = append(bad, srv+": not installed")
			case !c.HasPrivateKey:
				bad = append(bad, srv+": no private key")
			}
		}
		if len(bad) > 0 {
			return engine.Outcome{}, fmt.Errorf("certificate %s cannot be used (this mode installs nothing): %s", snap.Thumbprint, strings.Join(bad, "; "))
		}
		env.Logf("certificate %s is installed with its private key on %s", snap.Thumbprint, strings.Join(snap.Servers, ", "))
		return engine.Outcome{}, env.SetOutput("thumbprint", snap.Thumbprint)
	default:
		return s.applyRequest(ctx, env, ex, snap)
	}
}

func (s *certificate) applyPFX(ctx context.Context, env engine.Env, ex *exchange.Client, snap CertificateSnapshot) error {
	f, data, pw, err := readPFX(s.deps.Clients)
	if err != nil {
		return err
	}
	if f.Thumbprint != snap.Thumbprint {
		return fmt.Errorf("certificate.pfx_file %s now holds %s, not %s as when the step began: roll the step back to start over with the new file", f.Path, f.Thumbprint, snap.Thumbprint)
	}
	if err := env.SetOutput("thumbprint", f.Thumbprint); err != nil {
		return err
	}
	return importWhereMissing(ctx, env, ex, snap, f.Thumbprint, data, pw)
}

// importWhereMissing imports the PFX (whose leaf is thumb) on every server
// of the snapshot that lacks it, in one script, and records imported_on:
// the servers that did not have it in the snapshot.
func importWhereMissing(ctx context.Context, env engine.Env, ex *exchange.Client, snap CertificateSnapshot, thumb string, data []byte, pw string) error {
	res, err := ex.ImportPFXWhereMissing(ctx, snap.Servers, thumb, data, pw)
	if err != nil {
		return err
	}
	var imported, failed []string
	n := 0
	for _, r := range res {
		_, had := checks.FindCertificate(snap.Certificates, r.Server, thumb)
		switch {
		case !r.OK:
			failed = append(failed, r.Server+": "+r.Error)
		case r.Changed && !strings.EqualFold(r.Thumbprint, thumb):
			imported = append(imported, r.Server)
			failed = append(failed, fmt.Sprintf("%s: Exchange imported %s, not %s", r.Server, r.Thumbprint, thumb))
		case r.Changed:
			imported = append(imported, r.Server)
			n++
			env.Logf("%s: imported %s", r.Server, r.Thumbprint)
		case !had:
			imported = append(imported, r.Server) // by an earlier, interrupted Apply
		}
	}
	if n == 0 && len(failed) == 0 {
		env.Logf("certificate %s is already on every server", thumb)
	}
	if err := env.SetOutput("imported_on", nonNil(imported)); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("Import-ExchangeCertificate failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// PostChecks: the certificate is on every server in scope, with its
// private key, covering the names and valid long enough.
func (s *certificate) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := certDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: err}}
	}
	thumb := snap.Thumbprint
	if thumb == "" {
		if _, err := env.Output(s.id, "thumbprint", &thumb); err != nil {
			return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: err}}
		}
	}
	if thumb == "" {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: errors.New("the step has recorded no certificate yet (request mode: `exrunbook certificate complete FILE`)")}}
	}
	thumb = CurrentCertificate(s.deps, thumb)
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: err}}
	}
	return []engine.Check{&checks.CertificatePresentCheck{CheckName: "certificate-present", Client: ex, Servers: snap.Servers,
		Thumbprint: thumb, Hosts: certHosts(s.deps.Config)}}
}

// Rollback removes what the step added: the certificate (or pending
// request) on every server that did not have it in the snapshot, and only
// when nothing binds it.
func (s *certificate) Rollback(ctx context.Context, env engine.Env, raw engine.Snapshot) (err error) {
	snap, err := certDecode(raw)
	if err != nil {
		return err
	}
	thumbs := map[string]bool{}
	if snap.Mode == CertModePFX && snap.Thumbprint != "" {
		thumbs[strings.ToUpper(snap.Thumbprint)] = true
	}
	for _, key := range []string{"thumbprint", "request_thumbprint"} {
		var t string
		if _, err := env.Output(s.id, key, &t); err != nil {
			return err
		}
		if t != "" && snap.Mode != CertModeThumbprint {
			thumbs[strings.ToUpper(t)] = true
		}
	}
	if snap.Mode == CertModeACME {
		renewed, err := s.acmeRenewed()
		if err != nil {
			return err
		}
		for _, t := range renewed {
			thumbs[strings.ToUpper(t)] = true
		}
		defer func() {
			if err == nil {
				err = s.rollbackACME(ctx, env)
			}
		}()
	}
	if snap.Mode == CertModeRequest {
		for _, f := range []string{CertificateResponseFile(s.deps.Config), certCSRFile(s.deps.Config)} {
			if err := os.Remove(f); err == nil {
				env.Logf("removed %s", f)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	if len(thumbs) == 0 {
		env.Logf("the step installed nothing: nothing to remove")
		return nil
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return err
	}
	// Every (server, thumbprint) the snapshot did not have; the server
	// removes each one present in ONE script, and none at all while any
	// of them holds IIS or SMTP (IIS and SMTP always have a certificate:
	// while this one holds them it is in use). POP/IMAP/UM flags that a
	// rolled-back bind-certificate could not take away (bindings are
	// additive, and no certificate held them before) do not keep it.
	sorted := make([]string, 0, len(thumbs))
	for t := range thumbs {
		sorted = append(sorted, t)
	}
	sort.Strings(sorted)
	var items []exchange.CertRemoval
	for _, srv := range snap.Servers {
		for _, t := range sorted {
			if _, had := checks.FindCertificate(snap.Certificates, srv, t); !had {
				items = append(items, exchange.CertRemoval{Server: srv, Thumbprint: t})
			}
		}
	}
	if len(items) == 0 {
		env.Logf("no certificate the step installed is left to remove")
		return nil
	}
	res, err := ex.RemoveCertificatesWhereUnbound(ctx, items)
	if err != nil {
		return err
	}
	var bound, failed []string
	removed := 0
	for _, r := range res {
		switch {
		case !r.OK:
			failed = append(failed, fmt.Sprintf("%s: %s: %s", r.Server, r.Thumbprint, r.Error))
		case r.Present && r.Bound():
			bound = append(bound, fmt.Sprintf("%s on %s holds %s", r.Thumbprint, r.Server, r.Services))
		case r.Removed:
			removed++
			if other := (exchange.Certificate{Services: r.Services}).ServiceList(); len(other) > 0 {
				env.Logf("%s: %s still held %s, which no certificate held before; removed it", r.Server, r.Thumbprint, strings.Join(other, ", "))
			}
			env.Logf("%s: removed certificate %s", r.Server, r.Thumbprint)
		}
	}
	if len(bound) > 0 {
		return fmt.Errorf("refusing to remove a certificate that is in use (%s): roll back bind-certificate first, so that the previous certificate holds those services again", strings.Join(bound, "; "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("Remove-ExchangeCertificate: %s", strings.Join(failed, "; "))
	}
	if removed == 0 {
		env.Logf("no certificate the step installed is left to remove")
	}
	return nil
}
