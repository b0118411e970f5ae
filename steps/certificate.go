package steps

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/exrunbook/exrunbook/checks"
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

// CertificateRequestWait is how long a request-mode certificate step
// waits for `exrunbook certificate complete FILE` before it looks again.
const CertificateRequestWait = 24 * time.Hour

// CertificateResponseFile is where `exrunbook certificate complete FILE`
// puts the CA's answer for the waiting request-mode step to import: the
// CSR file's path with ".answer.cer" appended.
func CertificateResponseFile(cfg *config.Config) string {
	return certCSRFile(cfg) + ".answer.cer"
}

func certCSRFile(cfg *config.Config) string {
	f := cfg.Certificate.Request.CSRFile
	if f == "" {
		f = "exrunbook.csr"
	}
	return f
}

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
func readPFX(cfg *config.Config) (CertificateFile, []byte, string, error) {
	path := cfg.Certificate.PFXFile
	data, err := os.ReadFile(path)
	if err != nil {
		return CertificateFile{}, nil, "", fmt.Errorf("certificate.pfx_file: %w", err)
	}
	pw, err := cfg.PFXPassword()
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
		f, _, _, err := readPFX(cfg)
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
	ex, err := s.deps.Exchange()
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
	} else if ex, err := s.deps.Exchange(); err != nil {
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

// requestScopeCheck requires the requesting server to be in scope: the
// other servers get the completed certificate from it.
type requestScopeCheck struct {
	servers []string
	server  string
}

func (requestScopeCheck) Name() string { return "request-scope" }

func (c requestScopeCheck) Run(context.Context, engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name(), Evidence: []string{"servers in scope: " + strings.Join(c.servers, ", ")}}
	for _, s := range c.servers {
		if strings.EqualFold(s, c.server) {
			res.Status = engine.CheckPass
			res.Message = fmt.Sprintf("the request is made on %s; the other servers in scope get the completed certificate from it", c.server)
			return res
		}
	}
	res.Status = engine.CheckFail
	res.Message = fmt.Sprintf("certificate.request.server %s is not in scope (%s)", c.server, strings.Join(c.servers, ", "))
	return res
}

// Apply imports the PFX where it is missing, verifies the thumbprint, or
// requests the certificate and waits for the CA's answer.
func (s *certificate) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, err := certDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	ex, err := s.deps.Exchange()
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
	f, data, pw, err := readPFX(s.deps.Config)
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

func (s *certificate) applyRequest(ctx context.Context, env engine.Env, ex *exchange.Client, snap CertificateSnapshot) (engine.Outcome, error) {
	srv := snap.RequestServer
	csrFile := certCSRFile(s.deps.Config)
	answerFile := CertificateResponseFile(s.deps.Config)
	var done string
	if _, err := env.Output(s.id, "thumbprint", &done); err != nil {
		return engine.Outcome{}, err
	}
	// One read of every server: the request server's state here, the
	// others' for spread (the import below changes only the request
	// server).
	certs, err := ex.GetCertificates(ctx, snap.Servers)
	if err != nil {
		return engine.Outcome{}, err
	}
	if done != "" {
		if c, ok := checks.FindCertificate(certs, srv, done); ok && strings.EqualFold(c.Status, "Valid") {
			env.Logf("the request was completed on %s: certificate %s", srv, done)
			return engine.Outcome{}, s.spread(ctx, env, ex, snap, done, certs)
		}
	}
	var csr, pending string
	if _, err := env.Output(s.id, "csr", &csr); err != nil {
		return engine.Outcome{}, err
	}
	if _, err := env.Output(s.id, "request_thumbprint", &pending); err != nil {
		return engine.Outcome{}, err
	}
	if csr == "" {
		before := map[string]bool{}
		for _, c := range certs {
			if strings.EqualFold(c.Server, srv) {
				before[strings.ToUpper(c.Thumbprint)] = true
			}
		}
		env.Logf("New-ExchangeCertificate -GenerateRequest on %s for %s (%s)", srv, strings.Join(snap.Domains, ", "), snap.Subject)
		keySize := s.deps.Config.Certificate.Request.KeySize
		if keySize == 0 {
			keySize = 2048
		}
		if csr, err = ex.NewExportableCertificateRequest(ctx, srv, snap.Subject, snap.Domains, keySize); err != nil {
			return engine.Outcome{}, err
		}
		if err := env.SetOutput("csr", csr); err != nil {
			return engine.Outcome{}, err
		}
		after, err := ex.GetCertificates(ctx, []string{srv})
		if err != nil {
			return engine.Outcome{}, err
		}
		for _, c := range after {
			if !before[strings.ToUpper(c.Thumbprint)] && strings.EqualFold(c.Status, "PendingRequest") {
				pending = strings.ToUpper(c.Thumbprint)
			}
		}
		if pending == "" {
			return engine.Outcome{}, fmt.Errorf("New-ExchangeCertificate returned a request but %s lists no new pending request", srv)
		}
		if err := env.SetOutput("request_thumbprint", pending); err != nil {
			return engine.Outcome{}, err
		}
		if err := env.SetOutput("request_server", srv); err != nil {
			return engine.Outcome{}, err
		}
	}
	if cur, err := os.ReadFile(csrFile); err != nil || !bytes.Equal(cur, []byte(csr)) {
		if err := os.MkdirAll(filepath.Dir(csrFile), 0o755); err != nil {
			return engine.Outcome{}, fmt.Errorf("certificate.request.csr_file: %w", err)
		}
		if err := os.WriteFile(csrFile, []byte(csr), 0o644); err != nil {
			return engine.Outcome{}, fmt.Errorf("certificate.request.csr_file: %w", err)
		}
		env.Logf("the certificate request (CSR) is in %s: send it to your CA", absPath(csrFile))
	}
	answer, err := os.ReadFile(answerFile)
	if errors.Is(err, os.ErrNotExist) {
		return engine.Outcome{WaitUntil: env.Now().Add(CertificateRequestWait),
			Reason: fmt.Sprintf("waiting for `exrunbook certificate complete FILE` with the CA's answer to the request written to %s", absPath(csrFile))}, nil
	}
	if err != nil {
		return engine.Outcome{}, fmt.Errorf("the CA's answer %s: %w", answerFile, err)
	}
	leaf, err := ParseCertificateAnswer(answer)
	if err != nil {
		return engine.Outcome{}, fmt.Errorf("the CA's answer %s: %w", answerFile, err)
	}
	if err := CheckAnswerMatchesCSR(leaf, []byte(csr)); err != nil {
		return engine.Outcome{}, fmt.Errorf("the CA's answer %s: %w", answerFile, err)
	}
	thumb := checks.Thumbprint(leaf)
	if c, ok := checks.FindCertificate(certs, srv, thumb); ok && strings.EqualFold(c.Status, "Valid") {
		env.Logf("%s already holds %s", srv, thumb)
	} else {
		env.Logf("Import-ExchangeCertificate on %s: completing the pending request %s with %s", srv, pending, thumb)
		got, err := ex.ImportCertificateResponse(ctx, srv, answer)
		if err != nil {
			return engine.Outcome{}, err
		}
		if !strings.EqualFold(got, thumb) {
			return engine.Outcome{}, fmt.Errorf("Exchange completed the request as %s, not %s", got, thumb)
		}
	}
	if err := env.SetOutput("thumbprint", thumb); err != nil {
		return engine.Outcome{}, err
	}
	return engine.Outcome{}, s.spread(ctx, env, ex, snap, thumb, certs)
}

// spread copies the completed certificate from the requesting server to
// the other servers in scope that lack it, as administrators do for a
// DAG: Export-ExchangeCertificate with its private key under a one-time
// random password (on stdin, never stored), then Import-ExchangeCertificate.
// certs is Apply's read of every server (the other servers' certificates
// are as they were then).
func (s *certificate) spread(ctx context.Context, env engine.Env, ex *exchange.Client, snap CertificateSnapshot, thumb string, certs []exchange.Certificate) error {
	srv := snap.RequestServer
	imported := []string{srv}
	var missing []string
	for _, o := range snap.Servers {
		if strings.EqualFold(o, srv) {
			continue
		}
		_, had := checks.FindCertificate(snap.Certificates, o, thumb)
		if _, ok := checks.FindCertificate(certs, o, thumb); ok {
			if !had {
				imported = append(imported, o)
			}
			continue
		}
		missing = append(missing, o)
	}
	if len(missing) > 0 {
		pw, err := oneTimePassword()
		if err != nil {
			return err
		}
		env.Logf("exporting %s from %s with its private key to import it on %s", thumb, srv, strings.Join(missing, ", "))
		pfx, err := ex.ExportCertificate(ctx, srv, thumb, pw)
		if err != nil {
			return err
		}
		res, err := ex.ImportPFX(ctx, missing, pfx, pw)
		if err != nil {
			return err
		}
		var failed []string
		for _, r := range res {
			if r.OK {
				imported = append(imported, r.Server)
				env.Logf("%s: imported %s", r.Server, r.Thumbprint)
			} else {
				failed = append(failed, r.Server+": "+r.Error)
			}
		}
		if err := env.SetOutput("imported_on", imported); err != nil {
			return err
		}
		if len(failed) > 0 {
			return fmt.Errorf("Import-ExchangeCertificate of the exported certificate failed: %s", strings.Join(failed, "; "))
		}
		return nil
	}
	return env.SetOutput("imported_on", imported)
}

// oneTimePassword protects an exported PFX on its way between servers.
func oneTimePassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// ParseCertificateAnswer reads a CA's answer: PEM (the first
// CERTIFICATE block is the leaf), bare base64 DER, or DER. A PFX is
// refused: the answer to a request carries no key.
func ParseCertificateAnswer(data []byte) (*x509.Certificate, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		rest := data
		for {
			blk, rest = pem.Decode(rest)
			if blk == nil {
				return nil, errors.New("no CERTIFICATE block in the PEM file")
			}
			if blk.Type == "CERTIFICATE" {
				return x509.ParseCertificate(blk.Bytes)
			}
		}
	}
	der := data
	if s := strings.Join(strings.Fields(string(data)), ""); s != "" {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			der = b
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("not a certificate (PEM, base64 or DER): %v", err)
	}
	return c, nil
}

// CheckAnswerMatchesCSR verifies that the certificate certifies the key
// of the request csr (PEM, as New-ExchangeCertificate returned it).
func CheckAnswerMatchesCSR(cert *x509.Certificate, csr []byte) error {
	blk, _ := pem.Decode(csr)
	if blk == nil {
		return errors.New("the recorded request is not PEM")
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return fmt.Errorf("the recorded request: %w", err)
	}
	type pub interface{ Equal(x crypto.PublicKey) bool }
	k, ok := req.PublicKey.(pub)
	if !ok || !k.Equal(cert.PublicKey) {
		return fmt.Errorf("certificate %s (%s) is not the answer to the request: its key differs", checks.Thumbprint(cert), cert.Subject)
	}
	return nil
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
	ex, err := s.deps.Exchange()
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
	ex, err := s.deps.Exchange()
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
