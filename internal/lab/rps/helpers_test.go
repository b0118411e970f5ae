package rps_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/exchange"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/exrunbook/exrunbook/internal/lab/rps"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	admin    = `CONTOSO\Administrator`
	helpdesk = `CONTOSO\helpdesk`
	viewer   = `CONTOSO\viewer`
	nobody   = `CONTOSO\nobody`
)

type fixture struct {
	t     testing.TB
	ep    *rps.Endpoint
	st    *org.Store
	stats *labstats.Counters
	thumb string
}

type fixtureOpts struct {
	mailboxes int
	faults    string
	budget    int
	period    time.Duration
	clock     func() time.Time
	forest    bool // orgtest.AddForest: an Edge server, a child domain, a dynamic group
}

// newFixture builds the lab's organisation (EX01 holding a real
// CA-issued certificate for IIS, SMTP, POP and IMAP; EX02 none), a Host
// with the Exchange cmdlets, and an Endpoint with an organisation admin,
// a recipient admin, a view-only admin and a user without roles.
func newFixture(t testing.TB, fo fixtureOpts) *fixture {
	t.Helper()
	if fo.mailboxes == 0 {
		fo.mailboxes = 16
	}
	root, err := ca.New("Contoso Lab CA", now.AddDate(-1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue("outlook.contoso.test", []string{"outlook.contoso.test", "autodiscover.contoso.test"}, now.AddDate(0, -6, 0), now.AddDate(0, 6, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := orgtest.New(fo.mailboxes)
	if fo.forest {
		orgtest.AddForest(o)
	}
	o.Certificates = []*org.Certificate{{Server: "EX01", Thumbprint: leaf.Thumbprint(), Subject: "CN=outlook.contoso.test",
		Issuer: "CN=Contoso Lab CA", CertificateDomains: []string{"outlook.contoso.test", "autodiscover.contoso.test"},
		NotBefore: leaf.Cert.NotBefore, NotAfter: leaf.Cert.NotAfter, Services: org.ServiceIMAP | org.ServicePOP | org.ServiceIIS | org.ServiceSMTP,
		HasPrivateKey: true, PrivateKeyExportable: true, KeySize: 2048, SignatureAlgorithm: "sha256RSA", Status: org.CertValid,
		CertPEM: string(leaf.CertPEM()), KeyPEM: string(leaf.KeyPEM())}}
	st := org.NewMemory(o)
	stats := &labstats.Counters{}
	clock := fo.clock
	if clock == nil {
		clock = func() time.Time { return now }
	}
	hopts := pwsh.HostOptions{Stats: stats, User: admin, Now: clock}
	if fo.faults != "" {
		spec, err := faults.Parse(fo.faults)
		if err != nil {
			t.Fatal(err)
		}
		hopts.Faults = faults.New(spec)
	}
	h := pwsh.NewHost(hopts)
	if err := exchange.Register(h, st, exchange.Options{Stats: stats, LocalServer: "EX01", Now: clock}); err != nil {
		t.Fatal(err)
	}
	ep, err := rps.New(rps.Options{Host: h, Server: "EX01", Now: clock, CmdletBudget: fo.budget, CmdletPeriod: fo.period,
		Assignments: map[string][]string{
			admin:    {rps.OrganizationManagement},
			helpdesk: {rps.RecipientManagement},
			viewer:   {rps.ViewOnlyOrganizationManagement},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ep: ep, st: st, stats: stats, thumb: leaf.Thumbprint()}
}

// sink records what a pipeline sends.
type sink struct {
	mu       sync.Mutex
	out      []psrp.Value
	errs     []*psrp.ErrorRecord
	warnings []string
}

func (s *sink) Output(v psrp.Value) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = append(s.out, v)
	return nil
}

func (s *sink) Error(r *psrp.ErrorRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, r)
	return nil
}

func (s *sink) Warning(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnings = append(s.warnings, text)
	return nil
}

// cmd builds a command from a name and alternating parameter names and
// values; a name "" is a positional argument.
func cmd(name string, kv ...any) psrp.Command {
	c := psrp.Command{Name: name}
	for i := 0; i+1 < len(kv); i += 2 {
		c.Params = append(c.Params, psrp.Parameter{Name: kv[i].(string), Value: kv[i+1]})
	}
	return c
}

func pipeline(cmds ...psrp.Command) psrp.Pipeline {
	return psrp.Pipeline{Commands: cmds, NoInput: true}
}

// run runs pl as user (with input when in is not nil).
func (f *fixture) run(user string, pl psrp.Pipeline, in []psrp.Value) (*sink, *psrp.ErrorRecord) {
	f.t.Helper()
	p, err := f.ep.Principal(user)
	if err != nil {
		f.t.Fatalf("Principal(%s): %v", user, err)
	}
	var ch chan psrp.Value
	if in != nil {
		pl.NoInput = false
		ch = make(chan psrp.Value, len(in))
		for _, v := range in {
			ch <- v
		}
		close(ch)
	}
	s := &sink{}
	rec := f.ep.Run(context.Background(), p, pl, ch, s)
	return s, rec
}

// ok runs pl and fails on a terminating error or an error record.
func (f *fixture) ok(user string, pl psrp.Pipeline) *sink {
	f.t.Helper()
	s, rec := f.run(user, pl, nil)
	if rec != nil {
		f.t.Fatalf("%v failed: %s (%s)", names(pl), rec.Message, rec.FullyQualifiedErrorID)
	}
	if len(s.errs) > 0 {
		f.t.Fatalf("%v wrote errors: %s (%s)", names(pl), s.errs[0].Message, s.errs[0].FullyQualifiedErrorID)
	}
	return s
}

func names(pl psrp.Pipeline) string {
	var n []string
	for _, c := range pl.Commands {
		n = append(n, c.Name)
	}
	return strings.Join(n, " | ")
}

func obj(t *testing.T, v psrp.Value) *psrp.Object {
	t.Helper()
	o, ok := v.(*psrp.Object)
	if !ok {
		t.Fatalf("output %T %v, want *psrp.Object", v, v)
	}
	return o
}

func prop(t *testing.T, o *psrp.Object, name string) psrp.Value {
	t.Helper()
	v, ok := o.Get(name)
	if !ok {
		t.Fatalf("object %s has no property %s", o.TypeNames[0], name)
	}
	return v
}
