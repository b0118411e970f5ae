// Package lab assembles the simulated Exchange organisation that exrunbook
// is tested and demonstrated against: the organisation store (generated on
// the first start, continued from DIR/org.json after), the WinRS endpoint
// (/wsman) over HTTP and HTTPS running the PowerShell interpreter with the
// Exchange cmdlets, per Exchange server an HTTPS listener (the IIS-bound
// certificate, Autodiscover and /PowerShell/), a plain-HTTP listener
// (/PowerShell/) and an SMTP listener with STARTTLS, the internal and
// public authoritative DNS servers, and the loopback control API.
//
// /PowerShell/ is Exchange's remote PowerShell endpoint: MS-PSRP over
// WS-Management for the configuration Microsoft.Exchange (packages wsman,
// runspace and rps), for three accounts: CONTOSO\Administrator
// (Organization Management), CONTOSO\RecipientAdmin (Recipient
// Management) and CONTOSO\NoRoles (no role: refused at session creation),
// with NTLM (sealed over http), Basic (https only) and, given a service
// keytab and krb5.conf (Options.KerberosKeytab, Options.Krb5Conf),
// Kerberos (sealed over http) for principals of the service's realm.
// Start writes DIR/exrunbook.yaml (a ready exrunbook config) and, once
// every listener is up, DIR/endpoints.json.
//
// The lab directory holds:
//
//	org.json, org.journal, org.initial.json  the organisation (package org)
//	ca.pem, secrets/ca.key                   the lab CA (package ca)
//	new-cert.pfx                             the certificate the runbook imports (0600)
//	secrets/admin                            CONTOSO\Administrator's WinRM password (0600)
//	secrets/recipient-admin                  CONTOSO\RecipientAdmin's password (0600)
//	secrets/no-roles                         CONTOSO\NoRoles's password (0600)
//	secrets/tsig                             the TSIG secret, base64 (0600)
//	secrets/pfx                              new-cert.pfx's password (0600)
//	secrets/probe                            the two probe users' password (0600)
//	lab.json                                 seed, names and probe users chosen at generation
//	exrunbook.yaml                           a ready exrunbook config (rewritten on every start)
//	endpoints.json                           the listeners' addresses, present while the lab runs
//	endpoints.last.json                      the last run's addresses (ports are reused when free)
//	krb5.conf                                the realm's krb5.conf, when Kerberos is on
//
// Secret files hold the bare value, without a trailing newline.
//
// It imports none of the orchestrator's packages.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/autodiscover"
	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/rps"
	"github.com/exrunbook/exrunbook/internal/lab/smtp"
	"github.com/exrunbook/exrunbook/internal/lab/wsman"

	"github.com/exrunbook/exrunbook/internal/lab/atomicfile"
)

// Files inside the lab directory.
const (
	FileEndpoints = "endpoints.json"
	// FileLastEndpoints is endpoints.json after Close: the lab is down.
	FileLastEndpoints = "endpoints.last.json"
	FileConfig        = "exrunbook.yaml"
	FileMeta          = "lab.json"
	FilePFX           = "new-cert.pfx"
	DirSecrets        = "secrets"
	SecretAdmin       = "secrets/admin"
	SecretTSIG        = "secrets/tsig"
	SecretPFX         = "secrets/pfx"
	SecretProbe       = "secrets/probe"
	SecretRecipient   = "secrets/recipient-admin"
	SecretNoRoles     = "secrets/no-roles"
)

// The lab's accounts on the Exchange endpoint and their role groups
// (the RBAC assignments the endpoint enforces).
const (
	AccountOrgAdmin       = "organization_admin"
	AccountRecipientAdmin = "recipient_admin"
	AccountNoRoles        = "no_roles"
	RoleOrgManagement     = rps.OrganizationManagement
	RoleRecipientMgmt     = rps.RecipientManagement
)

// TSIG key the public DNS server accepts.
const (
	TSIGName      = "exrunbook-update."
	TSIGAlgorithm = "hmac-sha256"
)

// KeepCalls is how many cmdlet calls GET /calls keeps.
const KeepCalls = 10000

// Options configure Start. Zero values take the generator's defaults.
type Options struct {
	Dir       string        // the lab directory (created 0700 if missing)
	Mailboxes int           // mailboxes on first start (default 50)
	Allow     int           // direct members of the allow group (default 5)
	Servers   int           // Exchange servers (default 2)
	Seed      int64         // generator seed
	Domain    string        // default "contoso.test"
	Latency   time.Duration // added to every WinRM request
	Faults    string        // fault spec (see faults.Parse)
	// Edge, ChildDomain and DynamicGroup grow the first organisation into
	// a forest (generate.Options): an Edge Transport server, a child
	// domain's mailboxes, a dynamic distribution group in the allow group.
	Edge         bool
	ChildDomain  string
	DynamicGroup bool
	// Now fixes the generation time (default: today, 00:00 UTC, so that a
	// seed gives the same organisation all day).
	Now time.Time
	// KerberosKeytab and Krb5Conf, both or neither, make /PowerShell/
	// accept Kerberos: the HTTP/<host> service keys and the realm's
	// krb5.conf (copied to DIR/krb5.conf and named in endpoints.json).
	// Principals of the service's realm are the lab's users
	// (administrator@CONTOSO.TEST is CONTOSO\Administrator). Without
	// them /PowerShell/ offers NTLM, and Basic over https.
	KerberosKeytab, Krb5Conf string
	// KerberosMaxClockSkew is the clock difference /PowerShell/ tolerates
	// in a Kerberos authenticator (default 5 minutes).
	KerberosMaxClockSkew time.Duration
	// Logf receives one-line notes (nil: discarded).
	Logf func(format string, args ...any)
}

// Endpoints is DIR/endpoints.json; its keys are an interface (README.md,
// "Rehearsing against the lab").
type Endpoints struct {
	Control string `json:"control"`
	WinRM   URLs   `json:"winrm"`
	// PowerShell is the Exchange endpoint (MS-PSRP, configuration
	// Microsoft.Exchange) of the first server; Servers has each one's.
	PowerShell URLs   `json:"powershell"`
	CAFile     string `json:"ca_file"`
	Admin      struct {
		User         string `json:"user"`
		PasswordFile string `json:"password_file"`
	} `json:"admin"`
	Servers map[string]ServerEndpoint `json:"servers"`
	Names   struct {
		Internal     string `json:"internal"`
		External     string `json:"external"`
		Autodiscover string `json:"autodiscover"`
	} `json:"names"`
	DNS struct {
		Internal string `json:"internal"`
		Public   string `json:"public"`
		Zone     string `json:"zone"`
		TSIG     struct {
			Name       string `json:"name"`
			Algorithm  string `json:"algorithm"`
			SecretFile string `json:"secret_file"`
		} `json:"tsig"`
	} `json:"dns"`
	AllowGroup string `json:"allow_group"`
	PFX        struct {
		File         string `json:"file"`
		PasswordFile string `json:"password_file"`
	} `json:"pfx"`
	Probe struct {
		Allowed      string `json:"allowed"`
		Blocked      string `json:"blocked"`
		PasswordFile string `json:"password_file"`
	} `json:"probe"`
	// Kerberos is present when /PowerShell/ accepts Kerberos.
	Kerberos *KerberosEndpoint `json:"kerberos,omitempty"`
	// Users are the accounts of the Exchange endpoint by role:
	// organization_admin (the admin above), recipient_admin and no_roles.
	Users map[string]Account `json:"users"`
}

// URLs is an endpoint over plain HTTP and over HTTPS.
type URLs struct {
	HTTP  string `json:"http"`
	HTTPS string `json:"https"`
}

// Account is a lab user, its password file (0600) and its role groups.
type Account struct {
	User         string   `json:"user"`
	PasswordFile string   `json:"password_file"`
	Roles        []string `json:"roles"`
}

// ServerEndpoint is one Exchange server's listeners: HTTPS (IIS:
// Autodiscover and /PowerShell/), plain HTTP (/PowerShell/) and SMTP.
type ServerEndpoint struct {
	HTTPS      string `json:"https"`
	HTTP       string `json:"http"`
	PowerShell URLs   `json:"powershell"`
	SMTP       string `json:"smtp"`
}

// meta is DIR/lab.json: what the generator decided, for restarts.
type meta struct {
	Seed         int64  `json:"seed"`
	Domain       string `json:"domain"`
	Internal     string `json:"internal"`
	External     string `json:"external"`
	Autodiscover string `json:"autodiscover"`
	ProbeAllowed string `json:"probe_allowed"`
	ProbeBlocked string `json:"probe_blocked"`
}

// Lab is a running lab.
type Lab struct {
	opts      Options
	dir       string
	store     *org.Store
	ca        *ca.CA
	stats     *labstats.Counters
	faults    *faults.Injector
	wsman     *wsman.Server
	psrp      []*wsman.Server // one per Exchange server: /PowerShell/
	smtp      []*smtp.Listener
	https     []*http.Server
	httpDone  []chan struct{}
	ad        []*autodiscover.Listener
	dns       []*dnsserver.Server
	ep        Endpoints
	meta      meta
	continued bool
	closeOnce sync.Once
	closeErr  error
}

func (o Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}

// Start opens (or creates) the lab in opts.Dir and starts every listener on
// 127.0.0.1. It returns once DIR/endpoints.json is written. Cancelling ctx
// closes the lab.
func Start(ctx context.Context, opts Options) (l *Lab, err error) {
	if opts.Dir == "" {
		return nil, errors.New("lab: a directory is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, DirSecrets), 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(dir, DirSecrets), 0o700); err != nil {
		return nil, err
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now().UTC().Truncate(24 * time.Hour)
	}
	l = &Lab{opts: opts, dir: dir, stats: &labstats.Counters{}}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	l.stats.KeepCalls(KeepCalls)
	spec, err := faults.Parse(opts.Faults)
	if err != nil {
		return l, err
	}
	if opts.Latency > 0 {
		spec.Latency = opts.Latency
	}
	l.faults = faults.New(spec)

	secrets := map[string]func() (string, error){
		SecretAdmin: func() (string, error) { return randomPassword(20) },
		SecretTSIG: func() (string, error) {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return "", err
			}
			return base64.StdEncoding.EncodeToString(b), nil
		},
		SecretPFX:       func() (string, error) { return randomPassword(20) },
		SecretProbe:     func() (string, error) { return randomPassword(16) },
		SecretRecipient: func() (string, error) { return randomPassword(20) },
		SecretNoRoles:   func() (string, error) { return randomPassword(20) },
	}
	secret := map[string]string{}
	for _, name := range []string{SecretAdmin, SecretTSIG, SecretPFX, SecretProbe, SecretRecipient, SecretNoRoles} {
		v, err := ensureSecret(filepath.Join(dir, name), secrets[name])
		if err != nil {
			return l, err
		}
		secret[name] = v
	}

	_, orgErr := os.Stat(filepath.Join(dir, org.FileOrg))
	l.continued = orgErr == nil
	l.ca, err = ca.Load(dir)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrNotExist) && !l.continued:
		if l.ca, err = ca.New(labCAName(opts.Domain), time.Now(), nil); err != nil {
			return l, err
		}
		if err := l.ca.Save(dir); err != nil {
			return l, err
		}
	default:
		return l, fmt.Errorf("lab: %s holds an organisation but its CA cannot be read: %w", dir, err)
	}

	l.store, err = org.OpenOrCreate(dir, func() (*org.Org, error) {
		return l.generate(secret[SecretPFX], secret[SecretProbe])
	})
	if err != nil {
		return l, err
	}
	if err := readJSON(filepath.Join(dir, FileMeta), &l.meta); err != nil {
		return l, fmt.Errorf("lab: %w", err)
	}
	if l.continued {
		opts.logf("continuing the organisation in %s", filepath.Join(dir, org.FileOrg))
	}

	// The ports of the last run are reused when free. endpoints.json goes
	// away until every listener is up again, so that nobody reads stale
	// addresses (Close moves it to endpoints.last.json).
	var prev Endpoints
	if readJSON(filepath.Join(dir, FileEndpoints), &prev) != nil {
		readJSON(filepath.Join(dir, FileLastEndpoints), &prev)
	}
	if err := os.Remove(filepath.Join(dir, FileEndpoints)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return l, err
	}
	if err := l.startListeners(prev, secret); err != nil {
		return l, err
	}
	if err := l.writeFiles(); err != nil {
		return l, err
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	return l, nil
}

func labCAName(domain string) string {
	if domain == "" {
		domain = generate.DefaultDomain
	}
	return "exrunbook lab CA (" + domain + ")"
}

// generate makes the first organisation and writes what goes beside it:
// DIR/new-cert.pfx and DIR/lab.json. The two probe users get the probe
// password.
func (l *Lab) generate(pfxPassword, probePassword string) (*org.Org, error) {
	res, err := generate.Generate(generate.Options{
		Mailboxes: l.opts.Mailboxes, Allow: l.opts.Allow, Servers: l.opts.Servers,
		Seed: l.opts.Seed, Domain: l.opts.Domain, Now: l.opts.Now, CA: l.ca,
		Edge: l.opts.Edge, ChildDomain: l.opts.ChildDomain, DynamicGroup: l.opts.DynamicGroup,
	})
	if err != nil {
		return nil, err
	}
	for _, m := range res.Org.Mailboxes {
		if m.PrimarySmtpAddress == res.ProbeAllowed || m.PrimarySmtpAddress == res.ProbeBlocked {
			m.Password = probePassword
		}
	}
	pfx, err := res.Ready.PFX(pfxPassword, l.ca.Cert)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(l.dir, FilePFX), pfx, 0o600); err != nil {
		return nil, err
	}
	m := meta{Seed: l.opts.Seed, Domain: res.Org.Domain, Internal: res.Internal, External: res.External,
		Autodiscover: res.Autodiscover, ProbeAllowed: res.ProbeAllowed, ProbeBlocked: res.ProbeBlocked}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := atomicfile.Write(filepath.Join(l.dir, FileMeta), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return res.Org, nil
}

// Endpoints returns what DIR/endpoints.json holds.
func (l *Lab) Endpoints() Endpoints { return l.ep }

// Dir is the lab directory (absolute).
func (l *Lab) Dir() string { return l.dir }

// Continued reports whether Start continued an existing DIR/org.json.
func (l *Lab) Continued() bool { return l.continued }

// Store is the organisation store.
func (l *Lab) Store() *org.Store { return l.store }

// CA is the lab's certificate authority.
func (l *Lab) CA() *ca.CA { return l.ca }

// Stats returns the counters and their simulated cost.
func (l *Lab) Stats() labstats.Stats { return l.stats.Snapshot() }

// Counters gives direct access to the counters (reset, kept calls).
func (l *Lab) Counters() *labstats.Counters { return l.stats }

// Faults is the lab's fault injector (POST /faults sets it).
func (l *Lab) Faults() *faults.Injector { return l.faults }

// Org returns the canonical JSON of the organisation (both zones included).
func (l *Lab) Org() []byte { return l.store.Canonical() }

// Close stops every listener and flushes the store. It is safe to call
// more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		for _, s := range l.https {
			errs = append(errs, s.Close())
		}
		for _, d := range l.httpDone {
			<-d
		}
		for _, a := range l.ad {
			errs = append(errs, a.Close())
		}
		for _, d := range l.dns {
			errs = append(errs, d.Close())
		}
		if l.ep.Control != "" {
			// The addresses are dead now: endpoints.json must not claim
			// a running lab.
			ep := filepath.Join(l.dir, FileEndpoints)
			if err := os.Rename(ep, filepath.Join(l.dir, FileLastEndpoints)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		for _, sm := range l.smtp {
			errs = append(errs, sm.Close())
		}
		if l.wsman != nil {
			l.wsman.Close()
		}
		for _, ps := range l.psrp {
			ps.Close()
		}
		if l.store != nil {
			errs = append(errs, l.store.Close())
		}
		for _, e := range errs {
			if e != nil && !errors.Is(e, http.ErrServerClosed) && !errors.Is(e, net.ErrClosed) {
				l.closeErr = e
				break
			}
		}
	})
	return l.closeErr
}

// accounts returns the Exchange endpoint's users (for authentication) and
// the accounts by role key, with their role groups.
func (l *Lab) accounts(netbios string, secret map[string]string) (map[string]string, map[string]Account) {
	acc := map[string]Account{
		AccountOrgAdmin:       {User: netbios + `\Administrator`, PasswordFile: filepath.Join(l.dir, SecretAdmin), Roles: []string{RoleOrgManagement}},
		AccountRecipientAdmin: {User: netbios + `\RecipientAdmin`, PasswordFile: filepath.Join(l.dir, SecretRecipient), Roles: []string{RoleRecipientMgmt}},
		AccountNoRoles:        {User: netbios + `\NoRoles`, PasswordFile: filepath.Join(l.dir, SecretNoRoles), Roles: []string{}},
	}
	users := map[string]string{
		acc[AccountOrgAdmin].User:       secret[SecretAdmin],
		acc[AccountRecipientAdmin].User: secret[SecretRecipient],
		acc[AccountNoRoles].User:        secret[SecretNoRoles],
	}
	return users, acc
}

// ensureSecret returns the secret in path, making it (mode 0600) first if
// it does not exist. An existing file with a looser mode is tightened.
func ensureSecret(path string, make func() (string, error)) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", err
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("lab: %s is empty", path)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	s, err := make()
	if err != nil {
		return "", err
	}
	return s, atomicfile.Write(path, []byte(s), 0o600)
}

// randomPassword draws n characters from letters, digits and a few
// punctuation marks that need no quoting in YAML, shells or PowerShell
// single quotes, with at least one of each class.
func randomPassword(n int) (string, error) {
	const (
		lower   = "abcdefghijkmnopqrstuvwxyz"
		upper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digits  = "23456789"
		special = "-_.+="
	)
	all := lower + upper + digits + special
	pick := func(set string) (byte, error) {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[i.Int64()], nil
	}
	out := make([]byte, 0, n)
	for _, set := range []string{lower, upper, digits, special} {
		c, err := pick(set)
		if err != nil {
			return "", err
		}
		out = append(out, c)
	}
	for len(out) < n {
		c, err := pick(all)
		if err != nil {
			return "", err
		}
		out = append(out, c)
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
