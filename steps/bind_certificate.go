package steps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

func init() { Register("bind-certificate", newBindCertificate) }

// BindCertificateSnapshot is what bind-certificate captures: which
// certificate held which service on every server, and the POP/IMAP
// certificate names, so that rollback can give the services back.
type BindCertificateSnapshot struct {
	Servers    []string `json:"servers"`
	Thumbprint string   `json:"thumbprint"`
	// Services are bound with Enable-ExchangeCertificate.
	Services []string `json:"services"`
	// Wildcard: POP/IMAP get X509CertificateName instead of a binding.
	Wildcard bool `json:"wildcard"`
	// X509CertificateName is set on POP and IMAP (wildcard with pop_imap).
	X509CertificateName string `json:"x509_certificate_name,omitempty"`
	// Certificates are every server's certificates (with their services) before.
	Certificates []exchange.Certificate `json:"certificates"`
	// PopImap are the POP/IMAP certificate names before (when changed).
	PopImap []exchange.PopImapSettings `json:"pop_imap,omitempty"`
}

// bindCertificate binds the certificate of the certificate step to IIS
// and SMTP (and POP/IMAP when configured) on every server.
type bindCertificate struct {
	id   string
	deps *Deps
	// captured is Capture's certificate read, for the pre-check right
	// after it.
	captured capturedRead[[]exchange.Certificate]
}

func newBindCertificate(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if err := configOnly(id, "bind-certificate", "certificate", with, deps); err != nil {
		return nil, err
	}
	return &bindCertificate{id: id, deps: deps}, nil
}

// IsWildcard reports whether a certificate is a wildcard one: its subject
// or one of its names starts with "*.".
func IsWildcard(c exchange.Certificate) bool {
	if strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(c.Subject), "CN="), "*") {
		return true
	}
	for _, d := range c.CertificateDomains {
		if strings.HasPrefix(strings.TrimSpace(d), "*.") {
			return true
		}
	}
	return false
}

// BindServices decides what bind-certificate does with the configured
// services: the services to bind with Enable-ExchangeCertificate and,
// for a wildcard certificate with POP/IMAP, the X509CertificateName
// (the external name) to set instead of binding POP and IMAP.
func BindServices(configured []string, popImap, wildcard bool, external string) (services []string, x509Name string) {
	if len(configured) == 0 {
		configured = []string{"IIS", "SMTP"}
	}
	seen := map[string]bool{}
	add := func(s string) {
		u := strings.ToUpper(strings.TrimSpace(s))
		if u != "" && !seen[u] {
			seen[u] = true
			services = append(services, u)
		}
	}
	wantPopImap := popImap
	for _, s := range configured {
		u := strings.ToUpper(strings.TrimSpace(s))
		if u == "POP" || u == "IMAP" {
			wantPopImap = true
			continue
		}
		add(u)
	}
	if wantPopImap {
		if wildcard {
			x509Name = external
		} else {
			add("POP")
			add("IMAP")
		}
	}
	return services, x509Name
}

// thumbprint is the certificate to bind: the certificate step's output,
// else certificate.thumbprint.
func (s *bindCertificate) thumbprint(env engine.Env) (string, error) {
	var t string
	if _, err := env.Output(CertificateStepID, "thumbprint", &t); err != nil {
		return "", err
	}
	if t != "" {
		return strings.ToUpper(t), nil
	}
	// Before the certificate step has run (a plan preview), the
	// certificate it will install is known in pfx and thumbprint modes.
	cfg := s.deps.Config
	switch strings.ToLower(cfg.Certificate.Mode) {
	case CertModePFX:
		f, _, _, err := readPFX(s.deps.Clients)
		if err != nil {
			return "", err
		}
		return f.Thumbprint, nil
	case CertModeThumbprint:
		if cfg.Certificate.Thumbprint != "" {
			return strings.ToUpper(cfg.Certificate.Thumbprint), nil
		}
	}
	return "", fmt.Errorf("no certificate to bind yet: the %s step records it (request mode: once `exrunbook certificate complete FILE` has given the CA's answer)", CertificateStepID)
}

// Capture reads every server's certificates and services and, when POP
// and IMAP get a certificate name, their current names: one launch, which
// also resolves the servers when no step of this run has yet.
func (s *bindCertificate) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	if err := s.deps.RequirePermissions(ctx, "bind-certificate"); err != nil {
		return nil, err
	}
	thumb, err := s.thumbprint(env)
	if err != nil {
		return nil, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return nil, err
	}
	cfg := s.deps.Config
	// POP/IMAP names are read when a wildcard certificate would need
	// them; whether it is one is known only from the read.
	_, maybeName := BindServices(cfg.Certificate.Services, cfg.Certificate.PopImap, true, cfg.Namespace.External)
	servers, known := s.deps.knownServers()
	var capt exchange.CertCapture
	if known {
		capt, err = ex.GetCertCapture(ctx, ServerNames(servers), false, maybeName != "")
	} else {
		capt, err = ex.GetCertCapture(ctx, cfg.Exchange.Servers, true, maybeName != "")
		if err == nil {
			servers = s.deps.rememberServers(capt.Servers)
		}
	}
	if err != nil {
		return nil, err
	}
	snap := BindCertificateSnapshot{Servers: ServerNames(servers), Thumbprint: thumb, Certificates: capt.Certificates}
	// A server without the certificate (a plan preview before the
	// certificate step) is reported by the certificate-present pre-check.
	for _, srv := range snap.Servers {
		if c, ok := checks.FindCertificate(snap.Certificates, srv, thumb); ok {
			snap.Wildcard = snap.Wildcard || IsWildcard(c)
		}
	}
	snap.Services, snap.X509CertificateName = BindServices(cfg.Certificate.Services, cfg.Certificate.PopImap, snap.Wildcard, cfg.Namespace.External)
	if snap.X509CertificateName != "" {
		snap.PopImap = capt.PopImap
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	s.captured.put(raw, snap.Certificates)
	return raw, nil
}

func bindDecode(raw engine.Snapshot) (BindCertificateSnapshot, error) {
	var p BindCertificateSnapshot
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("bind-certificate snapshot: %w", err)
	}
	return p, nil
}

// holders lists, for a server, the certificate holding each service
// (thumbprints joined by "," when several hold it; "none" when none).
func holders(certs []exchange.Certificate, server, service string) string {
	var out []string
	for _, c := range certs {
		if strings.EqualFold(c.Server, server) && checks.HasServices(c, []string{service}) {
			out = append(out, strings.ToUpper(c.Thumbprint))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

func strOrNull(p *string) string {
	if p == nil {
		return "$null"
	}
	return *p
}

// Plan shows, per server and service, the certificate that holds it now
// and the one that will.
func (s *bindCertificate) Plan(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Plan, error) {
	snap, err := bindDecode(raw)
	if err != nil {
		return engine.Plan{}, err
	}
	var p engine.Plan
	for _, srv := range snap.Servers {
		for _, svc := range snap.Services {
			from := holders(snap.Certificates, srv, svc)
			to := snap.Thumbprint
			if strings.Contains(","+from+",", ","+snap.Thumbprint+",") {
				to = from // already held (additively) by T
			}
			p.Changes = append(p.Changes, engine.Change{Target: srv, Field: svc + " certificate", From: from, To: to})
		}
	}
	for _, pi := range snap.PopImap {
		p.Changes = append(p.Changes,
			engine.Change{Target: pi.Server + " POP", Field: "X509CertificateName", From: strOrNull(pi.PopX509CertificateName), To: snap.X509CertificateName},
			engine.Change{Target: pi.Server + " IMAP", Field: "X509CertificateName", From: strOrNull(pi.ImapX509CertificateName), To: snap.X509CertificateName})
	}
	p.Summary = fmt.Sprintf("Enable-ExchangeCertificate -Thumbprint %s -Services %s -DoNotRequireSsl -Force on %s", snap.Thumbprint, strings.Join(snap.Services, ","), strings.Join(snap.Servers, ", "))
	if snap.X509CertificateName != "" {
		p.Summary += fmt.Sprintf("; wildcard certificate: POP and IMAP get X509CertificateName %s instead of a binding; %s", snap.X509CertificateName, popImapRestartNote(snap.Servers))
	}
	return p, nil
}

// PreChecks: the certificate is usable on every server. Right after
// Capture the check judges the capture's read (no launch); on a rerun or
// resume with the stored snapshot it reads once.
func (s *bindCertificate) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := bindDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: err}}
	}
	chk := &checks.CertificatePresentCheck{CheckName: "certificate-present", Servers: snap.Servers,
		Thumbprint: snap.Thumbprint, Hosts: certHosts(s.deps.Config)}
	if certs, ok := s.captured.take(raw); ok {
		chk.Read = func(context.Context) ([]exchange.Certificate, error) { return certs, nil }
		return []engine.Check{chk}
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: err}}
	}
	chk.Client = ex
	return []engine.Check{chk}
}

// Apply is ONE script over every server: the server enables the
// certificate for the services only where it misses one of them, and
// sets the POP/IMAP names only where they differ (case-insensitively).
func (s *bindCertificate) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, err := bindDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return engine.Outcome{}, err
	}
	if err := env.SetOutput("thumbprint", snap.Thumbprint); err != nil {
		return engine.Outcome{}, err
	}
	var binds []exchange.CertBinding
	if len(snap.Services) > 0 {
		for _, srv := range snap.Servers {
			binds = append(binds, exchange.CertBinding{Server: srv, Thumbprint: snap.Thumbprint, Services: snap.Services})
		}
	}
	var names []exchange.PopImapChange
	if snap.X509CertificateName != "" {
		name := snap.X509CertificateName
		for _, srv := range snap.Servers {
			names = append(names, exchange.PopImapChange{Server: srv, Protocol: exchange.POP, Name: &name},
				exchange.PopImapChange{Server: srv, Protocol: exchange.IMAP, Name: &name})
		}
	}
	res, err := ex.EnableCertificatesWhereMissing(ctx, binds, names, exchange.CompareApply)
	if err != nil {
		return engine.Outcome{}, err
	}
	if err := bindResults(env, res, binds, func(b exchange.CertBinding, err string) string {
		return fmt.Sprintf("%s: enabling %s for %s: %s", b.Server, b.Thumbprint, strings.Join(b.Services, ", "), err)
	}); err != nil {
		return engine.Outcome{}, err
	}
	if n := countChanged(res[len(binds):]); n > 0 {
		env.Logf("POP and IMAP X509CertificateName set to %s (%d change(s)); %s", snap.X509CertificateName, n, popImapRestartNote(snap.Servers))
	}
	return engine.Outcome{}, env.SetOutput("bound_on", snap.Servers)
}

// bindResults logs what EnableCertificatesWhereMissing did and joins its
// failures (binds are the bindings sent, whose results come first).
func bindResults(env engine.Env, res []exchange.BindResult, binds []exchange.CertBinding, failure func(exchange.CertBinding, string) string) error {
	var failed []string
	for i, r := range res {
		if i < len(binds) {
			b := binds[i]
			switch {
			case !r.OK:
				failed = append(failed, failure(b, r.Error))
			case r.Changed:
				env.Logf("%s: %s now holds %s", b.Server, b.Thumbprint, r.Services)
			default:
				env.Logf("%s: %s already holds %s", b.Server, b.Thumbprint, strings.Join(b.Services, ", "))
			}
			env.Progress(i+1, len(binds), "servers")
			continue
		}
		if !r.OK {
			failed = append(failed, "Set-PopSettings/Set-ImapSettings "+r.ID+": "+r.Error)
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

func countChanged(res []exchange.BindResult) int {
	n := 0
	for _, r := range res {
		if r.Changed {
			n++
		}
	}
	return n
}

// PostChecks: Exchange says the certificate holds the services on every
// server, and every server's HTTPS address presents it for the internal,
// external and autodiscover names (verified against the CA pool).
func (s *bindCertificate) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := bindDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-bound", Err: err}}
	}
	// After `certificate renew` (acme mode) the renewed certificate holds
	// the services.
	snap.Thumbprint = CurrentCertificate(s.deps, snap.Thumbprint)
	var out []engine.Check
	if ex, err := s.deps.Clients.Exchange(); err != nil {
		out = append(out, checks.ErrorCheck{CheckName: "certificate-bound", Err: err})
	} else {
		// one launch: the certificates and, for a wildcard, POP/IMAP
		out = append(out, &checks.CertificateBoundCheck{CheckName: "certificate-bound", Servers: snap.Servers,
			Thumbprint: snap.Thumbprint, Services: snap.Services, X509CertificateName: snap.X509CertificateName,
			Read: func(ctx context.Context) ([]exchange.Certificate, []exchange.PopImapSettings, error) {
				capt, err := ex.GetCertCapture(ctx, snap.Servers, false, snap.X509CertificateName != "")
				return capt.Certificates, capt.PopImap, err
			}})
	}
	if containsFold(snap.Services, "IIS") {
		out = append(out, s.tlsCheck(snap))
	}
	// SMTP on the wire where exchange.smtp says it listens: the certificate
	// after STARTTLS is the bound one, trusted for the external name.
	if containsFold(snap.Services, "SMTP") {
		smtp, err := s.deps.Clients.SMTPProbe("smtp-starttls", snap.Servers, []string{s.deps.Config.Namespace.External})
		switch {
		case err != nil:
			return append(out, checks.ErrorCheck{CheckName: "smtp-starttls", Err: err})
		case smtp != nil:
			smtp.ExpectThumbprint = snap.Thumbprint
			out = append(out, smtp)
		}
	}
	return out
}

// tlsCheck proves IIS on the wire: every server presents the bound
// certificate on 443 for every name.
func (s *bindCertificate) tlsCheck(snap BindCertificateSnapshot) engine.Check {
	chk, err := s.deps.Clients.TLSProbe("tls", snap.Servers, certHosts(s.deps.Config))
	if err != nil {
		return checks.ErrorCheck{CheckName: "tls", Err: err}
	}
	chk.ExpectThumbprint = snap.Thumbprint
	return chk
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// Rollback gives every service the step moved back to the certificate
// that held it before (bindings are additive: enabling the previous one
// takes IIS and SMTP back), and restores the POP/IMAP names exactly ($null
// stays $null), in ONE script that changes only what differs. A service no
// certificate held before cannot be unbound; the log says so.
func (s *bindCertificate) Rollback(ctx context.Context, env engine.Env, raw engine.Snapshot) error {
	snap, err := bindDecode(raw)
	if err != nil {
		return err
	}
	var binds []exchange.CertBinding
	for _, srv := range snap.Servers {
		// previous thumbprint → the services it held that T was given
		prev := map[string][]string{}
		for _, svc := range snap.Services {
			if c, ok := checks.FindCertificate(snap.Certificates, srv, snap.Thumbprint); ok && checks.HasServices(c, []string{svc}) {
				continue // T held it before the step
			}
			h := holders(snap.Certificates, srv, svc)
			if h == "none" {
				env.Logf("%s: no certificate held %s before; a binding cannot be removed, so %s keeps it", srv, svc, snap.Thumbprint)
				continue
			}
			for _, t := range strings.Split(h, ",") {
				prev[t] = append(prev[t], svc)
			}
		}
		thumbs := make([]string, 0, len(prev))
		for t := range prev {
			thumbs = append(thumbs, t)
		}
		sort.Strings(thumbs)
		for _, t := range thumbs {
			binds = append(binds, exchange.CertBinding{Server: srv, Thumbprint: t, Services: prev[t]})
		}
	}
	var names []exchange.PopImapChange
	for _, was := range snap.PopImap {
		names = append(names, exchange.PopImapChange{Server: was.Server, Protocol: exchange.POP, Name: was.PopX509CertificateName},
			exchange.PopImapChange{Server: was.Server, Protocol: exchange.IMAP, Name: was.ImapX509CertificateName})
	}
	if len(binds)+len(names) == 0 {
		return nil
	}
	ex, err := s.deps.Clients.Exchange()
	if err != nil {
		return err
	}
	res, err := ex.EnableCertificatesWhereMissing(ctx, binds, names, exchange.CompareExact)
	if err != nil {
		return err
	}
	err = bindResults(env, res, binds, func(b exchange.CertBinding, err string) string {
		return fmt.Sprintf("%s: the previous certificate %s (for %s) cannot hold them again: %s", b.Server, b.Thumbprint, strings.Join(b.Services, ", "), err)
	})
	if n := countChanged(res[len(binds):]); n > 0 {
		env.Logf("POP and IMAP X509CertificateName restored (%d change(s))", n)
	}
	return err
}

// popImapRestartNote says what the Exchange endpoint cannot do: POP3 and
// IMAP4 read a new X509CertificateName only when their services restart.
func popImapRestartNote(servers []string) string {
	return fmt.Sprintf("restart the services MSExchangePOP3, MSExchangePOP3BE, MSExchangeIMAP4 and MSExchangeIMAP4BE on %s (the remote PowerShell endpoint cannot restart Windows services)",
		strings.Join(servers, ", "))
}
