package checks

import (
	"context"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

// The validity limits of a certificate: less than MinCertValidity left
// fails, less than WarnCertValidity warns; keys under MinKeyBits warn.
const (
	MinCertValidity  = 30 * 24 * time.Hour
	WarnCertValidity = 60 * 24 * time.Hour
	MinKeyBits       = 2048
)

// ConsistencyCheck is the cross-server pre-check that runs before the
// first change: every server in scope must have the same certificate
// bound to IIS, the same InternalUrl and ExternalUrl on every URL-bearing
// virtual directory, and the same Outlook Anywhere hostnames. It reads
// with three launches (certificates, virtual directories, Outlook
// Anywhere), whatever the number of servers, and names every difference
// per server against the first server in its evidence.
type ConsistencyCheck struct {
	// CheckName defaults to "servers-consistent".
	CheckName string
	// Client reads Exchange.
	Client *exchange.Client
	// Servers are the servers in scope; the first is the reference.
	Servers []string
}

// NewConsistencyCheck returns the consistency check of servers, the first
// being the reference the others are compared with.
func NewConsistencyCheck(client *exchange.Client, servers []string) *ConsistencyCheck {
	return &ConsistencyCheck{Client: client, Servers: append([]string(nil), servers...)}
}

// Name implements check.Check.
func (c *ConsistencyCheck) Name() string {
	return nameOr(c.CheckName, "servers-consistent")
}

// Run implements check.Check.
func (c *ConsistencyCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name()}
	fail := func(format string, args ...any) check.Result {
		res.Status = check.Fail
		res.Message = fmt.Sprintf(format, args...)
		return res
	}
	if c.Client == nil || len(c.Servers) == 0 {
		return fail("nothing to compare: no Exchange client or no server in scope")
	}
	certs, err := c.Client.GetCertificates(ctx, c.Servers)
	if err != nil {
		res.Err = err
		return fail("reading the certificates: %v", err)
	}
	vdirs, err := c.Client.GetVirtualDirectories(ctx, c.Servers)
	if err != nil {
		res.Err = err
		return fail("reading the virtual directories: %v", err)
	}
	oa, err := c.Client.GetOutlookAnywhere(ctx, c.Servers)
	if err != nil {
		res.Err = err
		return fail("reading Outlook Anywhere: %v", err)
	}
	diffs := ConsistencyDifferences(c.Servers, certs, vdirs, oa)
	if len(diffs) > 0 {
		res.Status = check.Fail
		res.Evidence = diffs
		res.Message = fmt.Sprintf("the servers in scope disagree (%d difference(s) from %s); make them agree before the runbook changes anything: %s",
			len(diffs), c.Servers[0], strings.Join(diffs, "; "))
		return res
	}
	res.Status = check.Pass
	if len(c.Servers) == 1 {
		res.Message = fmt.Sprintf("one server in scope (%s): nothing to compare", c.Servers[0])
	} else {
		res.Message = fmt.Sprintf("%d servers agree on the IIS certificate, the virtual directory URLs and the Outlook Anywhere hostnames", len(c.Servers))
	}
	ref := c.Servers[0]
	res.Evidence = append(res.Evidence, fmt.Sprintf("IIS certificate: %s", noneIfEmpty(iisThumbprints(certs)[strings.ToLower(ref)])))
	return res
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// iisThumbprints maps each server (lower case) to the certificates that
// hold IIS there, comma-separated.
func iisThumbprints(certs []exchange.Certificate) map[string]string {
	out := map[string]string{}
	for _, c := range certs {
		if HasServices(c, []string{"IIS"}) {
			k := strings.ToLower(c.Server)
			if out[k] != "" {
				out[k] += ","
			}
			out[k] += strings.ToUpper(c.Thumbprint)
		}
	}
	return out
}

func urlValue(s *string) string {
	if s == nil {
		return "$null"
	}
	return *s
}

// ConsistencyDifferences compares every server with the first one: the
// IIS certificate, each URL-bearing virtual directory's InternalUrl and
// ExternalUrl (virtual directories are matched by identity without the
// server, e.g. "owa (Default Web Site)"), and Outlook Anywhere's internal
// and external hostnames. Each difference reads like
// "EX02 owa ExternalUrl https://a/owa (EX01: https://b/owa)". URLs and
// hostnames compare case-insensitively.
func ConsistencyDifferences(servers []string, certs []exchange.Certificate, vdirs []exchange.VirtualDirectory, oa []exchange.OutlookAnywhere) []string {
	if len(servers) < 2 {
		return nil
	}
	// server (lower) → setting key → value
	settings := map[string]map[string]string{}
	var keys []string
	seen := map[string]bool{}
	set := func(server, key, value string) {
		s := strings.ToLower(server)
		if settings[s] == nil {
			settings[s] = map[string]string{}
		}
		settings[s][key] = value
		if !seen[key] {
			seen[key] = true
			keys = append(keys, key)
		}
	}
	iis := iisThumbprints(certs)
	for _, s := range servers {
		set(s, "IIS certificate", noneIfEmpty(iis[strings.ToLower(s)]))
	}
	urlKind := map[exchange.VDirKind]bool{}
	for _, k := range exchange.URLKinds {
		urlKind[k] = true
	}
	for _, v := range vdirs {
		if !urlKind[v.Kind] {
			continue
		}
		name := vdirName(v)
		set(v.Server, name+" InternalUrl", urlValue(v.InternalUrl))
		set(v.Server, name+" ExternalUrl", urlValue(v.ExternalUrl))
	}
	for _, o := range oa {
		set(o.Server, "Outlook Anywhere InternalHostname", urlValue(o.InternalHostname))
		set(o.Server, "Outlook Anywhere ExternalHostname", urlValue(o.ExternalHostname))
	}
	ref := servers[0]
	refSet := settings[strings.ToLower(ref)]
	var diffs []string
	for _, s := range servers[1:] {
		got := settings[strings.ToLower(s)]
		for _, k := range keys {
			want, inRef := refSet[k]
			have, inS := got[k]
			switch {
			case !inRef:
				diffs = append(diffs, fmt.Sprintf("%s %s %s (%s: no such setting)", s, k, have, ref))
			case !inS:
				diffs = append(diffs, fmt.Sprintf("%s %s: missing (%s: %s)", s, k, ref, want))
			case !strings.EqualFold(have, want):
				diffs = append(diffs, fmt.Sprintf("%s %s %s (%s: %s)", s, k, have, ref, want))
			}
		}
	}
	return diffs
}

// vdirName names a virtual directory without its server: "owa", or
// "owa (Other Site)" when it is not in the Default Web Site.
func vdirName(v exchange.VirtualDirectory) string {
	id := v.Identity
	if i := strings.LastIndexByte(id, '\\'); i >= 0 {
		id = id[i+1:]
	}
	if strings.HasSuffix(id, " (Default Web Site)") || id == "" {
		return string(v.Kind)
	}
	return string(v.Kind) + " [" + id + "]"
}

// HasServices reports whether the certificate holds every one of the
// services (IIS, SMTP, POP, IMAP, …; case-insensitive).
func HasServices(c exchange.Certificate, services []string) bool {
	have := map[string]bool{}
	for _, s := range c.ServiceList() {
		have[strings.ToUpper(s)] = true
	}
	for _, s := range services {
		if !have[strings.ToUpper(strings.TrimSpace(s))] {
			return false
		}
	}
	return true
}

// CertFacts are the properties of a certificate that decide whether the
// runbook may use it, wherever they come from (a PFX, Exchange).
type CertFacts struct {
	Thumbprint    string
	Subject       string
	SANs          []string
	NotAfter      time.Time
	KeyBits       int
	SHA1          bool
	HasPrivateKey bool
}

// FactsFromX509 takes the facts of a parsed certificate; hasKey says
// whether its private key came with it.
func FactsFromX509(c *x509.Certificate, hasKey bool) CertFacts {
	sans := append([]string(nil), c.DNSNames...)
	if len(sans) == 0 && c.Subject.CommonName != "" {
		sans = []string{c.Subject.CommonName}
	}
	return CertFacts{Thumbprint: Thumbprint(c), Subject: c.Subject.String(), SANs: sans, NotAfter: c.NotAfter.UTC(),
		KeyBits: KeyBits(c), SHA1: isSHA1(c), HasPrivateKey: hasKey}
}

// FactsFromExchange takes the facts of a certificate as
// Get-ExchangeCertificate reports it.
func FactsFromExchange(c exchange.Certificate) CertFacts {
	sig := strings.ToLower(c.SignatureAlgorithm)
	return CertFacts{Thumbprint: strings.ToUpper(c.Thumbprint), Subject: c.Subject, SANs: c.CertificateDomains, NotAfter: c.NotAfter,
		KeyBits: c.PublicKeySize, SHA1: strings.HasPrefix(sig, "sha1") || strings.Contains(sig, "withsha1"),
		HasPrivateKey: c.HasPrivateKey}
}

// String renders the facts as the plan and the evidence show them.
func (f CertFacts) String() string {
	sans := append([]string(nil), f.SANs...)
	sort.Strings(sans)
	return fmt.Sprintf("%s %s, SANs %s, not after %s, %d-bit key", f.Thumbprint, f.Subject, strings.Join(sans, " "),
		f.NotAfter.UTC().Format("2006-01-02"), f.KeyBits)
}

// Evaluate judges the facts for hosts at now: failures (no private key,
// hosts not covered by the SANs, less than MinCertValidity left) and
// warnings (less than WarnCertValidity left, a key under MinKeyBits, a
// SHA-1 signature).
func (f CertFacts) Evaluate(hosts []string, now time.Time) (fails, warns []string) {
	if !f.HasPrivateKey {
		fails = append(fails, "no private key")
	}
	if un := Uncovered(f.SANs, hosts...); len(un) > 0 {
		fails = append(fails, fmt.Sprintf("the SANs (%s) do not cover %s", strings.Join(f.SANs, ", "), strings.Join(un, ", ")))
	}
	left := f.NotAfter.Sub(now)
	days := int(left.Hours() / 24)
	switch {
	case left < MinCertValidity:
		fails = append(fails, fmt.Sprintf("expires in %d days, on %s (at least %d days required)", days, f.NotAfter.UTC().Format("2006-01-02"), int(MinCertValidity.Hours()/24)))
	case left < WarnCertValidity:
		warns = append(warns, fmt.Sprintf("expires in %d days, on %s", days, f.NotAfter.UTC().Format("2006-01-02")))
	}
	if f.KeyBits > 0 && f.KeyBits < MinKeyBits {
		warns = append(warns, fmt.Sprintf("%d-bit key (%d or more recommended)", f.KeyBits, MinKeyBits))
	}
	if f.SHA1 {
		warns = append(warns, "SHA-1 signature")
	}
	return fails, warns
}

// CertFactsCheck judges one certificate's facts (e.g. a PFX's, before it
// is imported) against the hosts it must cover.
type CertFactsCheck struct {
	CheckName string
	// What names the certificate in the message, e.g. "the PFX new.pfx".
	What  string
	Facts CertFacts
	Hosts []string
}

// Name implements check.Check.
func (c *CertFactsCheck) Name() string {
	return nameOr(c.CheckName, "certificate")
}

// Run implements check.Check.
func (c *CertFactsCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name(), Evidence: []string{c.What + ": " + c.Facts.String()}}
	fails, warns := c.Facts.Evaluate(c.Hosts, clock(env))
	return verdict(res, c.What, fails, warns, fmt.Sprintf("%s has a private key, covers %s and is valid until %s", c.What,
		strings.Join(c.Hosts, ", "), c.Facts.NotAfter.UTC().Format("2006-01-02")))
}

func verdict(res check.Result, what string, fails, warns []string, ok string) check.Result {
	switch {
	case len(fails) > 0:
		res.Status = check.Fail
		res.Message = what + ": " + strings.Join(fails, "; ")
	case len(warns) > 0:
		res.Status = check.Warn
		res.Message = what + ": " + strings.Join(warns, "; ")
	default:
		res.Status = check.Pass
		res.Message = ok
	}
	return res
}

// CertificatePresentCheck requires the certificate Thumbprint on every
// server, complete (not a pending request), with its private key, its
// SANs covering Hosts, and at least 30 days of validity (warning under
// 60 days, under 2048 bits, on SHA-1). One launch reads every server.
type CertificatePresentCheck struct {
	CheckName  string
	Client     *exchange.Client
	Servers    []string
	Thumbprint string
	Hosts      []string
	// Read, when set, gives the certificates to judge instead of
	// Client.GetCertificates (a read the step has already made or
	// shares with its other checks); Client may then be nil.
	Read func(ctx context.Context) ([]exchange.Certificate, error)
}

// Name implements check.Check.
func (c *CertificatePresentCheck) Name() string {
	return nameOr(c.CheckName, "certificate-present")
}

// Run implements check.Check.
func (c *CertificatePresentCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name()}
	if (c.Client == nil && c.Read == nil) || len(c.Servers) == 0 || c.Thumbprint == "" {
		res.Status = check.Fail
		res.Message = "nothing to check: no Exchange client, no server or no thumbprint"
		return res
	}
	now := clock(env)
	read := c.Read
	if read == nil {
		read = func(ctx context.Context) ([]exchange.Certificate, error) {
			return c.Client.GetCertificates(ctx, c.Servers)
		}
	}
	certs, err := read(ctx)
	if err != nil {
		res.Status = check.Fail
		res.Message = fmt.Sprintf("reading the certificates: %v", err)
		res.Err = err
		return res
	}
	var fails, warns []string
	for _, s := range c.Servers {
		cert, ok := FindCertificate(certs, s, c.Thumbprint)
		if !ok {
			fails = append(fails, fmt.Sprintf("%s: certificate %s is not installed", s, strings.ToUpper(c.Thumbprint)))
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: no certificate %s", s, strings.ToUpper(c.Thumbprint)))
			continue
		}
		f := FactsFromExchange(cert)
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %s, status %s, services %s", s, f, cert.Status, cert.Services))
		if cert.Status != "" && !strings.EqualFold(cert.Status, "Valid") {
			fails = append(fails, fmt.Sprintf("%s: certificate %s has status %s (a pending request is completed with `exrunbook certificate complete FILE`)", s, f.Thumbprint, cert.Status))
		}
		fl, wn := f.Evaluate(c.Hosts, now)
		for _, m := range fl {
			fails = append(fails, s+": "+m)
		}
		for _, m := range wn {
			warns = append(warns, s+": "+m)
		}
	}
	return verdict(res, "certificate "+strings.ToUpper(c.Thumbprint), fails, warns,
		fmt.Sprintf("certificate %s is installed with its private key on %s, covers %s", strings.ToUpper(c.Thumbprint),
			strings.Join(c.Servers, ", "), strings.Join(c.Hosts, ", ")))
}

// FindCertificate finds thumbprint on server in certs (case-insensitive).
func FindCertificate(certs []exchange.Certificate, server, thumbprint string) (exchange.Certificate, bool) {
	for _, c := range certs {
		if strings.EqualFold(c.Server, server) && strings.EqualFold(c.Thumbprint, thumbprint) {
			return c, true
		}
	}
	return exchange.Certificate{}, false
}

// CertificateBoundCheck requires that Exchange reports Thumbprint holding
// Services on every server and, when X509CertificateName is set, that
// POP and IMAP use that name (Get-PopSettings/Get-ImapSettings). One
// launch per kind of data.
type CertificateBoundCheck struct {
	CheckName           string
	Client              *exchange.Client
	Servers             []string
	Thumbprint          string
	Services            []string
	X509CertificateName string
	// Read, when set, gives the certificates and the POP/IMAP settings
	// to judge in one read instead of Client's two (GetCertificates,
	// GetPopImapSettings); Client may then be nil.
	Read func(ctx context.Context) ([]exchange.Certificate, []exchange.PopImapSettings, error)
}

// Name implements check.Check.
func (c *CertificateBoundCheck) Name() string {
	return nameOr(c.CheckName, "certificate-bound")
}

// Run implements check.Check.
func (c *CertificateBoundCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name()}
	fail := func(format string, args ...any) check.Result {
		res.Status = check.Fail
		res.Message = fmt.Sprintf(format, args...)
		return res
	}
	if (c.Client == nil && c.Read == nil) || len(c.Servers) == 0 || c.Thumbprint == "" || (len(c.Services) == 0 && c.X509CertificateName == "") {
		return fail("nothing to check: no Exchange client, no server, no thumbprint or no service")
	}
	var fails []string
	var certs []exchange.Certificate
	var pi []exchange.PopImapSettings
	if c.Read != nil {
		var err error
		if certs, pi, err = c.Read(ctx); err != nil {
			res.Err = err
			return fail("reading the certificates and the POP and IMAP settings: %v", err)
		}
	}
	if len(c.Services) > 0 {
		if c.Read == nil {
			var err error
			if certs, err = c.Client.GetCertificates(ctx, c.Servers); err != nil {
				res.Err = err
				return fail("reading the certificates: %v", err)
			}
		}
		for _, s := range c.Servers {
			cert, ok := FindCertificate(certs, s, c.Thumbprint)
			if !ok {
				fails = append(fails, fmt.Sprintf("%s: certificate %s is not installed", s, strings.ToUpper(c.Thumbprint)))
				continue
			}
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %s holds %s", s, strings.ToUpper(c.Thumbprint), cert.Services))
			if !HasServices(cert, c.Services) {
				fails = append(fails, fmt.Sprintf("%s: certificate %s holds %s, not %s", s, strings.ToUpper(c.Thumbprint), cert.Services, strings.Join(c.Services, ", ")))
			}
		}
	}
	if c.X509CertificateName != "" {
		if c.Read == nil {
			var err error
			if pi, err = c.Client.GetPopImapSettings(ctx, c.Servers); err != nil {
				res.Err = err
				return fail("reading the POP and IMAP settings: %v", err)
			}
		}
		seen := map[string]bool{}
		for _, p := range pi {
			seen[strings.ToLower(p.Server)] = true
		}
		for _, s := range c.Servers {
			if !seen[strings.ToLower(s)] {
				fails = append(fails, fmt.Sprintf("%s: no POP and IMAP settings were read", s))
			}
		}
		for _, p := range pi {
			for _, x := range []struct {
				proto string
				v     *string
			}{{"POP", p.PopX509CertificateName}, {"IMAP", p.ImapX509CertificateName}} {
				res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %s X509CertificateName %s", p.Server, x.proto, urlValue(x.v)))
				if x.v == nil || !strings.EqualFold(*x.v, c.X509CertificateName) {
					fails = append(fails, fmt.Sprintf("%s: %s X509CertificateName is %s, not %s", p.Server, x.proto, urlValue(x.v), c.X509CertificateName))
				}
			}
		}
	}
	what := "certificate " + strings.ToUpper(c.Thumbprint)
	ok := fmt.Sprintf("%s holds %s on %s", what, strings.Join(c.Services, ", "), strings.Join(c.Servers, ", "))
	if c.X509CertificateName != "" {
		ok += fmt.Sprintf("; POP and IMAP use %s", c.X509CertificateName)
	}
	return verdict(res, what, fails, nil, ok)
}

// ErrorCheck is a check that could not be built (e.g. the servers could
// not be read): it fails with the error, so that the problem is shown
// where the check would have been. Its error is not carried as
// CheckResult.Err: running the check again cannot change it, so the
// engine must not retry it.
type ErrorCheck struct {
	CheckName string
	Err       error
}

// Name implements check.Check.
func (c ErrorCheck) Name() string { return c.CheckName }

// Run implements check.Check.
func (c ErrorCheck) Run(context.Context, check.Env) check.Result {
	return check.Result{Name: c.CheckName, Status: check.Fail, Message: c.Err.Error()}
}
