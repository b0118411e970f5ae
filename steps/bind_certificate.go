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
}

func newBindCertificate(id string, with map[string]any, deps *Deps) (engine.Step, error) {
	if len(with) > 0 {
		return nil, fmt.Errorf("step %s (bind-certificate) takes no parameters; it is configured by certificate in the config (got with: %s)", id, strings.Join(pdnsParamNames(with), ", "))
	}
	if deps == nil || deps.Config == nil {
		return nil, fmt.Errorf("step %s (bind-certificate): no configuration", id)
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
		f, _, _, err := readPFX(cfg)
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
// and IMAP get a certificate name, their current names.
func (s *bindCertificate) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	thumb, err := s.thumbprint(env)
	if err != nil {
		return nil, err
	}
	servers, err := s.deps.Servers(ctx)
	if err != nil {
		return nil, err
	}
	ex, err := s.deps.Exchange()
	if err != nil {
		return nil, err
	}
	snap := BindCertificateSnapshot{Servers: ServerNames(servers), Thumbprint: thumb}
	if snap.Certificates, err = ex.GetCertificates(ctx, snap.Servers); err != nil {
		return nil, err
	}
	// A server without the certificate (a plan preview before the
	// certificate step) is reported by the certificate-present pre-check.
	for _, srv := range snap.Servers {
		if c, ok := checks.FindCertificate(snap.Certificates, srv, thumb); ok {
			snap.Wildcard = snap.Wildcard || IsWildcard(c)
		}
	}
	cfg := s.deps.Config
	snap.Services, snap.X509CertificateName = BindServices(cfg.Certificate.Services, cfg.Certificate.PopImap, snap.Wildcard, cfg.Namespace.External)
	if snap.X509CertificateName != "" {
		if snap.PopImap, err = ex.GetPopImapSettings(ctx, snap.Servers); err != nil {
			return nil, err
		}
	}
	return json.Marshal(snap)
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
	p.Summary = fmt.Sprintf("Enable-ExchangeCertificate -Thumbprint %s -Services %s -Force on %s", snap.Thumbprint, strings.Join(snap.Services, ","), strings.Join(snap.Servers, ", "))
	if snap.X509CertificateName != "" {
		p.Summary += fmt.Sprintf("; wildcard certificate: POP and IMAP get X509CertificateName %s instead of a binding", snap.X509CertificateName)
	}
	return p, nil
}

// PreChecks: the certificate is usable on every server.
func (s *bindCertificate) PreChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := bindDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: err}}
	}
	ex, err := s.deps.Exchange()
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-present", Err: err}}
	}
	return []engine.Check{&checks.CertificatePresentCheck{CheckName: "certificate-present", Client: ex, Servers: snap.Servers,
		Thumbprint: snap.Thumbprint, Hosts: certHosts(s.deps.Config)}}
}

// Apply enables the certificate for the services on every server where
// it does not hold them all yet, then sets the POP/IMAP names that differ.
func (s *bindCertificate) Apply(ctx context.Context, env engine.Env, raw engine.Snapshot) (engine.Outcome, error) {
	snap, err := bindDecode(raw)
	if err != nil {
		return engine.Outcome{}, err
	}
	ex, err := s.deps.Exchange()
	if err != nil {
		return engine.Outcome{}, err
	}
	if err := env.SetOutput("thumbprint", snap.Thumbprint); err != nil {
		return engine.Outcome{}, err
	}
	certs, err := ex.GetCertificates(ctx, snap.Servers)
	if err != nil {
		return engine.Outcome{}, err
	}
	for i, srv := range snap.Servers {
		c, ok := checks.FindCertificate(certs, srv, snap.Thumbprint)
		if !ok {
			return engine.Outcome{}, fmt.Errorf("certificate %s is no longer installed on %s", snap.Thumbprint, srv)
		}
		if checks.HasServices(c, snap.Services) {
			env.Logf("%s: %s already holds %s", srv, snap.Thumbprint, strings.Join(snap.Services, ", "))
		} else {
			got, err := ex.EnableCertificate(ctx, srv, snap.Thumbprint, snap.Services, true)
			if err != nil {
				return engine.Outcome{}, err
			}
			env.Logf("%s: %s now holds %s", srv, snap.Thumbprint, got)
		}
		env.Progress(i+1, len(snap.Servers), "servers")
	}
	if snap.X509CertificateName != "" {
		cur, err := ex.GetPopImapSettings(ctx, snap.Servers)
		if err != nil {
			return engine.Outcome{}, err
		}
		name := snap.X509CertificateName
		var changes []exchange.PopImapChange
		for _, pi := range cur {
			if pi.PopX509CertificateName == nil || !strings.EqualFold(*pi.PopX509CertificateName, name) {
				changes = append(changes, exchange.PopImapChange{Server: pi.Server, Protocol: exchange.POP, Name: &name})
			}
			if pi.ImapX509CertificateName == nil || !strings.EqualFold(*pi.ImapX509CertificateName, name) {
				changes = append(changes, exchange.PopImapChange{Server: pi.Server, Protocol: exchange.IMAP, Name: &name})
			}
		}
		if err := popImapResults(ex.SetPopImapCertificateNames(ctx, changes)); err != nil {
			return engine.Outcome{}, err
		}
		if len(changes) > 0 {
			env.Logf("POP and IMAP X509CertificateName set to %s (%d change(s))", name, len(changes))
		}
	}
	return engine.Outcome{}, env.SetOutput("bound_on", snap.Servers)
}

func popImapResults(res []exchange.ItemResult, err error) error {
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range res {
		if !r.OK {
			failed = append(failed, r.ID+": "+r.Error)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("Set-PopSettings/Set-ImapSettings failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// PostChecks: Exchange says the certificate holds the services on every
// server, and every server's HTTPS address presents it for the internal,
// external and autodiscover names (verified against the CA pool).
func (s *bindCertificate) PostChecks(env engine.Env, raw engine.Snapshot) []engine.Check {
	snap, err := bindDecode(raw)
	if err != nil {
		return []engine.Check{checks.ErrorCheck{CheckName: "certificate-bound", Err: err}}
	}
	var out []engine.Check
	if ex, err := s.deps.Exchange(); err != nil {
		out = append(out, checks.ErrorCheck{CheckName: "certificate-bound", Err: err})
	} else {
		out = append(out, &checks.CertificateBoundCheck{CheckName: "certificate-bound", Client: ex, Servers: snap.Servers,
			Thumbprint: snap.Thumbprint, Services: snap.Services, X509CertificateName: snap.X509CertificateName})
	}
	if !containsFold(snap.Services, "IIS") {
		return out
	}
	targets, err := s.deps.HTTPSTargets(snap.Servers)
	if err != nil {
		return append(out, checks.ErrorCheck{CheckName: "tls", Err: err})
	}
	roots, err := s.deps.RootCAs()
	if err != nil {
		return append(out, checks.ErrorCheck{CheckName: "tls", Err: err})
	}
	return append(out, &checks.TLSCheck{CheckName: "tls", Targets: targets, Names: certHosts(s.deps.Config),
		RootCAs: roots, ExpectThumbprint: snap.Thumbprint})
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
// takes IIS and SMTP back), and restores the POP/IMAP names ($null stays
// $null). A service no certificate held before cannot be unbound; the log
// says so.
func (s *bindCertificate) Rollback(ctx context.Context, env engine.Env, raw engine.Snapshot) error {
	snap, err := bindDecode(raw)
	if err != nil {
		return err
	}
	ex, err := s.deps.Exchange()
	if err != nil {
		return err
	}
	certs, err := ex.GetCertificates(ctx, snap.Servers)
	if err != nil {
		return err
	}
	var errs []error
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
			svcs := prev[t]
			c, ok := checks.FindCertificate(certs, srv, t)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: the previous certificate %s (for %s) is no longer installed", srv, t, strings.Join(svcs, ", ")))
				continue
			}
			if checks.HasServices(c, svcs) && !anyHeldBy(certs, srv, snap.Thumbprint, svcs) {
				env.Logf("%s: %s already holds %s again", srv, t, strings.Join(svcs, ", "))
				continue
			}
			got, err := ex.EnableCertificate(ctx, srv, t, svcs, true)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			env.Logf("%s: %s holds %s again", srv, t, got)
		}
	}
	if len(snap.PopImap) > 0 {
		cur, err := ex.GetPopImapSettings(ctx, snap.Servers)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		now := map[string]exchange.PopImapSettings{}
		for _, c := range cur {
			now[strings.ToLower(c.Server)] = c
		}
		var changes []exchange.PopImapChange
		for _, was := range snap.PopImap {
			c := now[strings.ToLower(was.Server)]
			if strOrNull(c.PopX509CertificateName) != strOrNull(was.PopX509CertificateName) {
				changes = append(changes, exchange.PopImapChange{Server: was.Server, Protocol: exchange.POP, Name: was.PopX509CertificateName})
			}
			if strOrNull(c.ImapX509CertificateName) != strOrNull(was.ImapX509CertificateName) {
				changes = append(changes, exchange.PopImapChange{Server: was.Server, Protocol: exchange.IMAP, Name: was.ImapX509CertificateName})
			}
		}
		if err := popImapResults(ex.SetPopImapCertificateNames(ctx, changes)); err != nil {
			errs = append(errs, err)
		} else if len(changes) > 0 {
			env.Logf("POP and IMAP X509CertificateName restored (%d change(s))", len(changes))
		}
	}
	return errors.Join(errs...)
}

// anyHeldBy reports whether thumbprint holds any of services on server.
func anyHeldBy(certs []exchange.Certificate, server, thumbprint string, services []string) bool {
	c, ok := checks.FindCertificate(certs, server, thumbprint)
	if !ok {
		return false
	}
	for _, s := range services {
		if checks.HasServices(c, []string{s}) {
			return true
		}
	}
	return false
}
