package steps

// The certificate step's acme mode: order the certificate from an ACME CA
// with DNS-01 challenges written through the public-DNS configuration,
// then import it on every server in scope as the pfx mode does.

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/acme"
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/state"
)

// ACMEPendingFile is where an issued certificate and its key wait, mode
// 0600 in the state directory, until every server has imported it; it is
// removed then (the key lives on in Exchange only). A process killed
// between issuance and import finds it instead of ordering again.
const ACMEPendingFile = "acme/pending.pem"

// The propagation waits: records written by exrunbook reach the
// nameservers in seconds to minutes; records added by hand take longer.
const (
	ACMEPropagationTimeout       = 10 * time.Minute
	ACMEManualPropagationTimeout = time.Hour
)

// ACMENames are the names ordered: the external name first (the subject),
// then the internal and the autodiscover name.
func ACMENames(cfg *config.Config) []string {
	ns := cfg.Namespace
	var out []string
	seen := map[string]bool{}
	for _, h := range []string{ns.External, ns.Internal, ns.Autodiscover} {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}

// StateDirOf is deps' state directory (the CLI's default when unset).
func StateDirOf(d *Deps) string {
	if d.StateDir != "" {
		return d.StateDir
	}
	return ".exrunbook"
}

// ACMEClient builds the ACME client from certificate.acme: the directory,
// the account key in the state directory, the CA bundle, the external
// account binding.
func ACMEClient(f *clients.Factory, stateDir string, logf func(string, ...any)) (*acme.Client, error) {
	cfg := f.Config()
	a := cfg.Certificate.ACME
	hc, err := acme.HTTPClient(a.CAFile)
	if err != nil {
		return nil, err
	}
	c := &acme.Client{DirectoryURL: a.Directory, Email: a.Email, HTTPClient: hc, Logf: logf,
		AccountKeyFile: filepath.Join(stateDir, acme.AccountKeyFile), PropagationTimeout: ACMEPropagationTimeout}
	if strings.EqualFold(cfg.PublicDNS.Mode, publicDNSModeManual) || strings.EqualFold(a.ChallengeDNS.Mode, publicDNSModeManual) {
		c.PropagationTimeout = ACMEManualPropagationTimeout
		c.PollInterval = 10 * time.Second
	}
	if a.EABKID != "" {
		s, err := f.Secrets().ACMEEABHMAC()
		if err != nil {
			return nil, err
		}
		k, err := acme.ParseEABKey(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("certificate.acme.eab_hmac_file / %s: %w", config.EnvACMEEABHMAC, err)
		}
		c.EAB = &acme.EAB{KID: a.EABKID, HMACKey: k}
	}
	return c, nil
}

// ACMEChallengeDNS returns the DNS-01 writer and the propagation check,
// both over the record-set interface: the TXT record of a name goes to
// _acme-challenge.<name> in public_dns.zone through public_dns.mode
// (RFC 2136 with TSIG, printed for a person in manual mode, or a
// provider's API), unless that name is a CNAME: then it goes to the
// CNAME's target, through certificate.acme.challenge_dns when the target
// lies in that zone. Each record is verified on every authoritative
// nameserver of the zone it lands in (the block's nameservers, or the
// zone's NS records).
func ACMEChallengeDNS(d *Deps, logf func(string, ...any)) (acme.TXTWriter, acme.Propagation, error) {
	r, err := acmeRecordSetDNS(d, logf)
	if err != nil {
		return nil, nil, err
	}
	return r, r, nil
}

func acmeRecordSetDNS(d *Deps, logf func(string, ...any)) (*acme.RecordSetDNS, error) {
	w, err := d.Clients.ChallengeWriter(logf)
	if err != nil {
		return nil, err
	}
	var zones []acme.ZoneServers
	for _, k := range []config.DNSAccessKey{config.PublicDNSKey, config.ChallengeDNSKey} {
		a := d.Config.DNSAccess(k)
		if !a.Configured() {
			continue
		}
		src, err := clients.DNSReadServer(k, a)
		if err != nil {
			return nil, fmt.Errorf("%w; certificate.mode acme reads the challenge records from the zone", err)
		}
		zs := acme.ZoneServers{Zone: a.Zone, Server: src, Nameservers: a.Nameservers}
		if k != config.PublicDNSKey {
			zs.Setting = string(k)
		}
		zones = append(zones, zs)
	}
	return &acme.RecordSetDNS{Writer: w, Zones: zones}, nil
}

// acmeNamesCheck: every name ordered lies inside public_dns.zone, where
// its _acme-challenge name is; with deps, it also reads (nothing is
// written) where each TXT record will land, following _acme-challenge
// CNAMEs, so that a CNAME into a zone exrunbook may not write, or a loop,
// fails the plan instead of the order.
type acmeNamesCheck struct {
	cfg  *config.Config
	deps *Deps
}

func (acmeNamesCheck) Name() string { return "acme-names" }

func (c acmeNamesCheck) Run(ctx context.Context, _ engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name(), Status: engine.CheckPass}
	var bad []string
	names := ACMENames(c.cfg)
	for _, n := range names {
		if _, err := dnsupdate.CheckName(n, c.cfg.PublicDNS.Zone); err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) > 0 {
		res.Status = engine.CheckFail
		res.Message = "the DNS-01 challenge records cannot be written in public_dns.zone: " + strings.Join(bad, "; ")
		return res
	}
	if c.deps == nil {
		for _, n := range names {
			res.Evidence = append(res.Evidence, acme.ChallengeFQDN(n)+" TXT in zone "+c.cfg.PublicDNS.Zone)
		}
		res.Message = fmt.Sprintf("the %d names' DNS-01 records go into zone %s (public_dns.mode %s)", len(names), c.cfg.PublicDNS.Zone, c.cfg.PublicDNS.Mode)
		return res
	}
	r, err := acmeRecordSetDNS(c.deps, func(string, ...any) {})
	if err != nil {
		res.Status, res.Message, res.Err = engine.CheckFail, err.Error(), err
		return res
	}
	zones := map[string]bool{}
	for _, n := range names {
		fqdn := acme.ChallengeFQDN(n)
		target, acc, err := r.Writer.Target(ctx, fqdn)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		zones[acc.Zone] = true
		if target == fqdn {
			res.Evidence = append(res.Evidence, fqdn+" TXT in zone "+acc.Zone)
		} else {
			res.Evidence = append(res.Evidence, fqdn+" is a CNAME: TXT at "+target+" in zone "+acc.Zone)
		}
	}
	if len(bad) > 0 {
		res.Status = engine.CheckFail
		res.Message = "the DNS-01 challenge records cannot be written: " + strings.Join(bad, "; ")
		return res
	}
	res.Message = fmt.Sprintf("the %d names' DNS-01 records go into %d zone(s) exrunbook may write", len(names), len(zones))
	return res
}

// acmeDirectoryCheck reads the CA's directory (a GET, nothing is
// registered): the URL is an ACME directory, and an external account
// binding is configured when the CA requires one.
type acmeDirectoryCheck struct{ cfg *config.Config }

func (acmeDirectoryCheck) Name() string { return "acme-ca" }

func (c acmeDirectoryCheck) Run(ctx context.Context, _ engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name(), Status: engine.CheckFail}
	a := c.cfg.Certificate.ACME
	hc, err := acme.HTTPClient(a.CAFile)
	if err != nil {
		res.Message = err.Error()
		return res
	}
	d, err := acme.GetDirectory(ctx, hc, a.Directory)
	if err != nil {
		res.Message, res.Err = err.Error(), err
		return res
	}
	res.Evidence = []string{"newOrder " + d.NewOrder}
	if d.RenewalInfo != "" {
		res.Evidence = append(res.Evidence, "renewalInfo "+d.RenewalInfo)
	}
	if d.EABRequired && a.EABKID == "" {
		res.Message = fmt.Sprintf("the CA %s requires an external account binding: set certificate.acme.eab_kid and its HMAC key (%s or certificate.acme.eab_hmac_file)", a.Directory, config.EnvACMEEABHMAC)
		return res
	}
	res.Status = engine.CheckPass
	res.Message = fmt.Sprintf("%s is an ACME directory", a.Directory)
	if d.RenewalInfo != "" {
		res.Message += " with renewal information (ARI)"
	}
	if d.EABRequired {
		res.Message += "; it requires the external account binding " + a.EABKID
	}
	return res
}

func (s *certificate) planACME(env engine.Env, snap CertificateSnapshot) (engine.Plan, error) {
	var done string
	if _, err := env.Output(s.id, "thumbprint", &done); err != nil {
		return engine.Plan{}, err
	}
	var p engine.Plan
	for _, srv := range snap.Servers {
		ch := engine.Change{Target: srv, Field: "certificate", From: "absent",
			To: fmt.Sprintf("import a certificate from %s for %s", snap.ACMEDirectory, strings.Join(snap.Domains, ", "))}
		if done != "" {
			ch.To = "import " + done
			if _, ok := checks.FindCertificate(snap.Certificates, srv, done); ok {
				ch.From = done
			}
		}
		p.Changes = append(p.Changes, ch)
	}
	via := "public_dns.mode " + s.deps.Config.PublicDNS.Mode
	if cd := s.deps.Config.Certificate.ACME.ChallengeDNS; cd.Configured() {
		via += fmt.Sprintf(", or at the target of an _acme-challenge CNAME in %s through certificate.acme.challenge_dns.mode %s", cd.Zone, cd.Mode)
	}
	p.Summary = fmt.Sprintf("order a certificate for %s from %s with DNS-01 (TXT records at _acme-challenge.<name> through %s, checked on every authoritative nameserver of the zone they land in, removed afterwards), RSA %d, and import it on %d server(s) with Import-ExchangeCertificate",
		strings.Join(snap.Domains, ", "), snap.ACMEDirectory, via, acme.RSAKeyBits, len(snap.Servers))
	return p, nil
}

// applyACME orders (or finds the certificate ordered by an interrupted
// run) and imports it where it is missing.
func (s *certificate) applyACME(ctx context.Context, env engine.Env, ex *exchange.Client, snap CertificateSnapshot) error {
	stateDir := StateDirOf(s.deps)
	w, prop, err := ACMEChallengeDNS(s.deps, env.Logf)
	if err != nil {
		return err
	}
	if err := s.cleanLeftoverChallenges(ctx, env, w); err != nil {
		return err
	}
	var thumb string
	if _, err := env.Output(s.id, "thumbprint", &thumb); err != nil {
		return err
	}
	pendingPath := filepath.Join(stateDir, ACMEPendingFile)
	cert, err := LoadACMEPending(pendingPath)
	if err != nil {
		return err
	}
	switch {
	case cert != nil && (thumb == "" || strings.EqualFold(thumb, cert.Thumbprint())):
		env.Logf("certificate %s was issued by an earlier attempt: importing it", cert.Thumbprint())
	case thumb != "":
		// Issued, imported everywhere and the pending file removed; or
		// the file was lost. Either way the servers tell.
		certs, err := ex.GetCertificates(ctx, snap.Servers)
		if err != nil {
			return err
		}
		var missing []string
		for _, srv := range snap.Servers {
			if _, ok := checks.FindCertificate(certs, srv, thumb); !ok {
				missing = append(missing, srv)
			}
		}
		if len(missing) == 0 {
			env.Logf("certificate %s is on every server", thumb)
			return nil
		}
		return fmt.Errorf("certificate %s is missing on %s and its key is no longer in %s: roll the step back (`exrunbook rollback %s`) and run it again to order a new one",
			thumb, strings.Join(missing, ", "), pendingPath, s.id)
	default:
		c, err := ACMEClient(s.deps.Clients, stateDir, env.Logf)
		if err != nil {
			return err
		}
		cert, err = c.Obtain(ctx, snap.Domains, w, prop, acme.Hooks{
			Presenting: func(recs []acme.TXTRecord) error { return env.SetOutput("challenge_records", recs) },
			CleanedUp:  func([]acme.TXTRecord) { env.SetOutput("challenge_records", []acme.TXTRecord{}) },
		})
		if err != nil {
			return err
		}
		if err := SaveACMEPending(pendingPath, cert); err != nil {
			return err
		}
	}
	thumb = cert.Thumbprint()
	if err := env.SetOutput("thumbprint", thumb); err != nil {
		return err
	}
	if err := env.SetOutput("not_after", cert.Leaf().NotAfter.UTC()); err != nil {
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
	if err := importWhereMissing(ctx, env, ex, snap, thumb, pfx, pw); err != nil {
		return err
	}
	return RemoveACMEPending(pendingPath)
}

// cleanLeftoverChallenges removes the challenge records a killed process
// recorded but could not remove.
func (s *certificate) cleanLeftoverChallenges(ctx context.Context, env engine.Env, w acme.TXTWriter) error {
	var left []acme.TXTRecord
	if _, err := env.Output(s.id, "challenge_records", &left); err != nil {
		return err
	}
	if len(left) == 0 {
		return nil
	}
	env.Logf("removing %d challenge record(s) left by an interrupted attempt", len(left))
	if err := acme.CleanUp(ctx, w, left); err != nil {
		return err
	}
	return env.SetOutput("challenge_records", []acme.TXTRecord{})
}

// acmeRenewed are the certificates renewals installed after the step:
// rollback removes them with the step's own.
func (s *certificate) acmeRenewed() ([]string, error) {
	c, err := LoadACMECurrent(StateDirOf(s.deps))
	if err != nil || c == nil {
		return nil, err
	}
	return c.Renewed, nil
}

// rollbackACME removes what the acme mode left outside Exchange: the
// pending certificate, leftover challenge records and the record of
// renewals (called once their certificates are removed).
func (s *certificate) rollbackACME(ctx context.Context, env engine.Env) error {
	var left []acme.TXTRecord
	if _, err := env.Output(s.id, "challenge_records", &left); err != nil {
		return err
	}
	if len(left) > 0 {
		w, _, err := ACMEChallengeDNS(s.deps, env.Logf)
		if err != nil {
			return err
		}
		if err := s.cleanLeftoverChallenges(ctx, env, w); err != nil {
			return err
		}
	}
	if err := RemoveACMEPending(filepath.Join(StateDirOf(s.deps), ACMEPendingFile)); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(StateDirOf(s.deps), ACMECurrentFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// SaveACMEPending keeps an issued certificate (key and chain, PEM) at
// path, mode 0600, written atomically.
func SaveACMEPending(path string, c *acme.Certificate) error {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		return err
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	for _, x := range c.Chain {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: x.Raw})...)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return state.WriteFileAtomic(path, b, 0o600)
}

// LoadACMEPending reads what SaveACMEPending wrote; nil when there is none.
func LoadACMEPending(path string) (*acme.Certificate, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &acme.Certificate{}
	for rest := b; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("%s: the key is %T, not RSA", path, k)
			}
			c.Key = rk
		case "CERTIFICATE":
			x, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			c.Chain = append(c.Chain, x)
		}
	}
	if c.Key == nil || len(c.Chain) == 0 {
		return nil, fmt.Errorf("%s holds no key and certificate: remove it to order a new certificate", path)
	}
	if pub, ok := c.Chain[0].PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&c.Key.PublicKey) {
		return nil, fmt.Errorf("%s: the certificate does not certify the key: remove it to order a new certificate", path)
	}
	return c, nil
}

// RemoveACMEPending removes the pending certificate, if any.
func RemoveACMEPending(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ACMECurrentFile records, in the state directory, what `certificate
// renew` installed: the certificate that now stands for the certificate
// step's, and every certificate renewals installed (which rollback
// removes with the step's own).
const ACMECurrentFile = "acme/current.json"

// ACMECurrent is ACMECurrentFile.
type ACMECurrent struct {
	Thumbprint string    `json:"thumbprint"`
	NotAfter   time.Time `json:"not_after"`
	// Renewed lists every thumbprint a renewal installed, oldest first.
	Renewed []string `json:"renewed"`
}

// LoadACMECurrent reads ACMECurrentFile; nil when no renewal happened.
func LoadACMECurrent(stateDir string) (*ACMECurrent, error) {
	p := filepath.Join(stateDir, ACMECurrentFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c ACMECurrent
	if err := json.Unmarshal(b, &c); err != nil || c.Thumbprint == "" {
		return nil, fmt.Errorf("%s: not a record of the renewed certificate (%v)", p, err)
	}
	return &c, nil
}

func saveACMECurrent(stateDir string, c *ACMECurrent) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(stateDir, ACMECurrentFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return state.WriteFileAtomic(p, append(b, '\n'), 0o600)
}

// CurrentCertificate is the thumbprint the checks expect for the
// certificate the runbook installed: recorded, unless a renewal has
// replaced it since (acme mode).
func CurrentCertificate(d *Deps, recorded string) string {
	if d == nil || d.Config == nil || !strings.EqualFold(d.Config.Certificate.Mode, CertModeACME) {
		return recorded
	}
	if c, err := LoadACMECurrent(StateDirOf(d)); err == nil && c != nil {
		return c.Thumbprint
	}
	return recorded
}
