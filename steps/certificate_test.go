package steps

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// certLab is a lab started in-process with the config it wrote.
type certLab struct {
	lab *lab.Lab
	cfg *config.Config
	dir string
}

// startCertLab starts a two-server lab in a temporary directory and
// loads the exrunbook.yaml it wrote; mutate adjusts the config.
func startCertLab(t *testing.T) *certLab {
	t.Helper()
	for _, v := range []string{config.EnvProbePassword, "EXRUNBOOK_CERTIFICATE_PFX_PASSWORD", "EXRUNBOOK_EXCHANGE_PASSWORD"} {
		if os.Getenv(v) != "" {
			t.Skipf("%s is set in the environment and would override the lab's secrets", v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	l, err := lab.Start(ctx, lab.Options{Dir: dir, Mailboxes: 8, Allow: 2, Servers: 2, Seed: 7})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(); cancel() })
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join(dir, lab.FileConfig)})
	if err != nil {
		t.Fatal(err)
	}
	return &certLab{lab: l, cfg: cfg, dir: dir}
}

// open binds the given step kinds (ids equal kinds) to the lab's config
// and opens an engine over a fresh state directory.
func (c *certLab) open(t *testing.T, kinds ...string) (*engine.Engine, *Deps, *pdnsSink) {
	t.Helper()
	deps := testDeps(c.cfg, clients.Options{})
	var defs []engine.StepDef
	for _, k := range kinds {
		f, ok := Lookup(k)
		if !ok {
			t.Fatalf("%s is not registered", k)
		}
		s, err := f(k, nil, deps)
		if err != nil {
			t.Fatal(err)
		}
		defs = append(defs, engine.StepDef{ID: k, Kind: k, Step: s})
	}
	sink := &pdnsSink{}
	e, err := engine.Open(context.Background(), engine.Options{StateDir: t.TempDir(), Sink: sink,
		Retry: engine.RetryPolicy{Attempts: 1}, Runbook: engine.Runbook{Name: "certificate-test", Steps: defs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, deps, sink
}

// certs lists the lab's certificates of server: thumbprint → services.
func (c *certLab) certs(server string) map[string]org.Services {
	out := map[string]org.Services{}
	c.lab.Store().Read(func(o *org.Org) {
		for _, x := range o.ServerCertificates(server) {
			out[x.Thumbprint] = x.Services
		}
	})
	return out
}

func (c *certLab) initial(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, org.FileInitial))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readyLeaf is the lab's ready certificate (DIR/new-cert.pfx).
func (c *certLab) readyLeaf(t *testing.T) *ca.Leaf {
	t.Helper()
	data, err := os.ReadFile(c.cfg.Certificate.PFXFile)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := c.cfg.Secrets(nil).PFXPassword()
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, err := ca.ParsePFX(data, pw)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func stepChecks(t *testing.T, e *engine.Engine, id string) engine.StepView {
	t.Helper()
	v, ok := e.StepState(id)
	if !ok {
		t.Fatalf("no step %s", id)
	}
	return v
}

func findResult(t *testing.T, rs []engine.CheckResult, name string) engine.CheckResult {
	t.Helper()
	for _, r := range rs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no check %s in %+v", name, rs)
	return engine.CheckResult{}
}

// The whole pfx path against the lab: import onto both servers, bind to
// IIS and SMTP, the TLS check sees the new certificate by SNI on each
// server's listener, the certificate step refuses to roll back while
// the certificate is bound, and rolling back both restores the org
// byte for byte.
func TestCertificatePFXBindAndRollbackLab(t *testing.T) {
	cl := startCertLab(t)
	leaf := cl.readyLeaf(t)
	want := leaf.Thumbprint()
	eng, deps, sink := cl.open(t, "certificate", "bind-certificate")
	ctx := context.Background()

	plans, err := eng.PlanSteps(ctx)
	if err != nil || len(plans) != 2 || plans[0].Err != nil {
		t.Fatalf("PlanSteps: %v %+v", err, plans)
	}
	p := plans[0].Plan
	if p.Pending() != 2 || !strings.Contains(p.Changes[0].To, "import "+want) || !strings.Contains(p.Summary, "onto 2 of 2 server(s)") {
		t.Fatalf("certificate plan: %+v", p)
	}
	if r := findResult(t, plans[0].PreChecks, "servers-consistent"); r.Status != engine.CheckPass {
		t.Fatalf("consistency: %+v", r)
	}
	if r := findResult(t, plans[0].PreChecks, "pfx-certificate"); r.Status != engine.CheckPass {
		t.Fatalf("pfx pre-check: %+v", r)
	}
	// bind-certificate previews the PFX's certificate, which its
	// pre-check says is not installed yet.
	if plans[1].Err != nil || plans[1].Plan.Pending() != 4 || plans[1].Plan.Changes[0].To != want {
		t.Fatalf("bind plan: %v %+v", plans[1].Err, plans[1].Plan)
	}
	if r := findResult(t, plans[1].PreChecks, "certificate-present"); r.Status != engine.CheckFail || !strings.Contains(r.Message, "EX01: certificate "+want+" is not installed") {
		t.Fatalf("bind pre-check before the import: %+v", r)
	}
	// A snapshot taken now is what the engine captures: used below to
	// call the certificate step's Rollback directly.
	certStep, _ := newCertificate("certificate", nil, deps)
	env := &pdnsEnv{now: time.Now(), outputs: map[string]json.RawMessage{}}
	snap, err := certStep.Capture(ctx, env)
	if err != nil {
		t.Fatal(err)
	}

	if err := eng.Run(ctx, pdnsRun); err != nil {
		t.Fatalf("run: %v\n%s", err, sink.logs())
	}
	for _, srv := range []string{"EX01", "EX02"} {
		got := cl.certs(srv)
		if s, ok := got[want]; !ok || s != org.ServiceIIS|org.ServiceSMTP {
			t.Fatalf("%s: certificate %s services %v (present %v); all: %v", srv, want, s, ok, got)
		}
		for th, s := range got {
			if th != want && s&(org.ServiceIIS|org.ServiceSMTP) != 0 {
				t.Errorf("%s: %s still holds %v", srv, th, s)
			}
		}
	}
	cv := stepChecks(t, eng, "certificate")
	var imported []string
	if err := json.Unmarshal(cv.Outputs["imported_on"], &imported); err != nil || strings.Join(imported, ",") != "EX01,EX02" {
		t.Fatalf("imported_on: %s %v", cv.Outputs["imported_on"], err)
	}
	bv := stepChecks(t, eng, "bind-certificate")
	tlsRes := findResult(t, bv.PostChecks, "tls")
	if tlsRes.Status != engine.CheckPass || len(tlsRes.Evidence) != 6 {
		t.Fatalf("tls: %+v", tlsRes)
	}
	for _, ev := range tlsRes.Evidence {
		if !strings.Contains(ev, "thumbprint "+want) {
			t.Errorf("tls evidence without the new certificate: %s", ev)
		}
	}
	if r := findResult(t, bv.PostChecks, "certificate-bound"); r.Status != engine.CheckPass {
		t.Fatalf("bound: %+v", r)
	}
	// SMTP is proven after STARTTLS on each server's listener (exchange.smtp).
	smtpRes := findResult(t, bv.PostChecks, "smtp-starttls")
	if smtpRes.Status != engine.CheckPass || len(smtpRes.Evidence) != 2 {
		t.Fatalf("smtp-starttls: %+v", smtpRes)
	}
	for i, srv := range []string{"EX01", "EX02"} {
		if ev := smtpRes.Evidence[i]; !strings.HasPrefix(ev, srv+" "+cl.cfg.Exchange.SMTP[srv]+" STARTTLS") || !strings.Contains(ev, "thumbprint "+want) {
			t.Errorf("smtp evidence for %s without its listener or the new certificate: %s", srv, ev)
		}
	}
	// The SMTP proof fails when the wire presents another certificate than
	// the one the step bound (here: a snapshot naming another thumbprint).
	bindStep, _ := newBindCertificate("bind-certificate", nil, deps)
	bsnap := BindCertificateSnapshot{Servers: []string{"EX01", "EX02"}, Thumbprint: strings.Repeat("AB", 20), Services: []string{"IIS", "SMTP"}}
	other, _ := json.Marshal(bsnap)
	ran := false
	for _, c := range bindStep.PostChecks(env, other) {
		if c.Name() != "smtp-starttls" {
			continue
		}
		ran = true
		r := c.Run(ctx, env)
		if r.Status != engine.CheckFail || !strings.Contains(r.Message, "EX02 "+cl.cfg.Exchange.SMTP["EX02"]+" STARTTLS presents "+want+", not the expected "+bsnap.Thumbprint) {
			t.Errorf("smtp-starttls against another thumbprint: %+v", r)
		}
	}
	if !ran {
		t.Error("bind-certificate has no smtp-starttls post-check although exchange.smtp is set")
	}

	// Drift detection runs the post-checks again: still passing.
	sc, err := eng.Checks(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sc {
		if s.Failed() {
			t.Fatalf("check %s: %+v", s.ID, s.Results)
		}
	}

	// The certificate step refuses to remove a bound certificate.
	b, _ := json.Marshal(want)
	env.outputs["certificate/thumbprint"] = b
	err = certStep.Rollback(ctx, env, snap)
	if err == nil || !strings.Contains(err.Error(), "IIS, SMTP") || !strings.Contains(err.Error(), "roll back bind-certificate first") {
		t.Fatalf("rollback of a bound certificate: %v", err)
	}
	if _, ok := cl.certs("EX01")[want]; !ok {
		t.Fatal("the refused rollback removed the certificate")
	}

	if err := eng.RollbackAll(ctx); err != nil {
		t.Fatalf("rollback: %v\n%s", err, sink.logs())
	}
	if got := cl.lab.Org(); !bytes.Equal(got, cl.initial(t)) {
		t.Fatalf("the org after rollback differs from org.initial.json")
	}
}

// Applying the pfx mode again after every server has the certificate
// imports nothing; a server that has it already is skipped.
func TestCertificatePFXIdempotentLab(t *testing.T) {
	cl := startCertLab(t)
	leaf := cl.readyLeaf(t)
	// EX02 has the certificate already (an administrator imported it).
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		o.Certificates = append(o.Certificates, generate.OrgCertificate("EX02", leaf, "ready", 0, false))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	eng, _, sink := cl.open(t, "certificate")
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatalf("run: %v\n%s", err, sink.logs())
	}
	v := stepChecks(t, eng, "certificate")
	var on []string
	json.Unmarshal(v.Outputs["imported_on"], &on)
	if strings.Join(on, ",") != "EX01" {
		t.Fatalf("imported_on %v, want EX01 only", on)
	}
	before := cl.lab.Stats()
	st, _ := newCertificate("certificate", nil, testDeps(cl.cfg, clients.Options{}))
	env := &pdnsEnv{now: time.Now(), outputs: map[string]json.RawMessage{}}
	snap, err := st.Capture(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Plan(context.Background(), env, snap)
	if err != nil || p.Pending() != 0 {
		t.Fatalf("plan after the import: %+v %v", p, err)
	}
	if _, err := st.Apply(context.Background(), env, snap); err != nil {
		t.Fatal(err)
	}
	after := cl.lab.Stats()
	if n := callCount(after, "Import-ExchangeCertificate") - callCount(before, "Import-ExchangeCertificate"); n != 0 {
		t.Fatalf("a second apply imported %d time(s)", n)
	}
	// Rollback removes it only where the step imported it: EX02 keeps it.
	if err := eng.RollbackAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := cl.certs("EX01")[leaf.Thumbprint()]; ok {
		t.Error("EX01 still has the imported certificate")
	}
	if _, ok := cl.certs("EX02")[leaf.Thumbprint()]; !ok {
		t.Error("rollback removed EX02's certificate, which the step did not import")
	}
}

func callCount(s labstats.Stats, cmdlet string) int { return int(s.Cmdlets[cmdlet]) }

// Thumbprint mode verifies only: the lab's current certificate lacks the
// external name and is refused; the ready one, installed by hand, passes
// and is bound.
func TestCertificateThumbprintModeLab(t *testing.T) {
	cl := startCertLab(t)
	var current string
	for th := range cl.certs("EX01") {
		current = th
	}
	t.Run("current certificate lacks the external name", func(t *testing.T) {
		cl.cfg.Certificate.Mode, cl.cfg.Certificate.Thumbprint = CertModeThumbprint, current
		eng, _, _ := cl.open(t, "certificate")
		err := eng.Run(context.Background(), pdnsRun)
		var sf *engine.StepFailedError
		if !errors.As(err, &sf) || !strings.Contains(err.Error(), "do not cover "+cl.cfg.Namespace.External) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("installed ready certificate", func(t *testing.T) {
		leaf := cl.readyLeaf(t)
		if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
			for _, s := range []string{"EX01", "EX02"} {
				o.Certificates = append(o.Certificates, generate.OrgCertificate(s, leaf, "ready", 0, false))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		cl.cfg.Certificate.Mode, cl.cfg.Certificate.Thumbprint = CertModeThumbprint, strings.ToLower(leaf.Thumbprint())
		before := cl.lab.Org()
		eng, _, sink := cl.open(t, "certificate", "bind-certificate")
		if err := eng.Run(context.Background(), engine.RunOptions{Yes: true, Unattended: true, Until: "certificate"}); err != nil {
			t.Fatalf("run: %v\n%s", err, sink.logs())
		}
		if !bytes.Equal(before, cl.lab.Org()) {
			t.Fatal("thumbprint mode changed the organisation")
		}
		if err := eng.Run(context.Background(), pdnsRun); err != nil {
			t.Fatalf("bind: %v\n%s", err, sink.logs())
		}
		if cl.certs("EX02")[leaf.Thumbprint()] != org.ServiceIIS|org.ServiceSMTP {
			t.Fatalf("EX02: %v", cl.certs("EX02"))
		}
		if err := eng.RollbackAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, cl.lab.Org()) {
			t.Fatal("rollback did not restore the bindings")
		}
	})
}

// Request mode: the CSR is written (on EX02, the configured request
// server) and the step waits; the lab CA signs it; the answer placed where
// `certificate complete` puts it completes the request, and the
// certificate is exported with its key to EX01; bind and roll back
// restore the org.
func TestCertificateRequestModeLab(t *testing.T) {
	cl := startCertLab(t)
	cl.cfg.Certificate.Mode = CertModeRequest
	cl.cfg.Certificate.Request.CSRFile = filepath.Join(t.TempDir(), "req", "ex.csr")

	t.Run("request server out of scope is refused", func(t *testing.T) {
		cl.cfg.Certificate.Request.Server = "EX09"
		defer func() { cl.cfg.Certificate.Request.Server = "" }()
		eng, _, _ := cl.open(t, "certificate")
		err := eng.Run(context.Background(), pdnsRun)
		if err == nil || !strings.Contains(err.Error(), "certificate.request.server EX09 is not in scope") {
			t.Fatalf("got %v", err)
		}
	})

	cl.cfg.Certificate.Request.Server = "EX02"
	eng, _, sink := cl.open(t, "certificate", "bind-certificate")
	ctx := context.Background()
	err := eng.Run(ctx, pdnsRun)
	we := pdnsWaiting(t, err)
	if we.Step != "certificate" || !strings.Contains(we.Reason, "exrunbook certificate complete FILE") || !strings.Contains(we.Reason, "ex.csr") {
		t.Fatalf("wait: %+v", we)
	}
	csrPEM, err := os.ReadFile(cl.cfg.Certificate.Request.CSRFile)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ca.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(csr.DNSNames, ",") != strings.Join(certHosts(cl.cfg), ",") || csr.Subject.CommonName != cl.cfg.Namespace.External {
		t.Fatalf("CSR for %v %s", csr.DNSNames, csr.Subject)
	}
	// Running again before the answer keeps waiting and makes no second request.
	pdnsWaiting(t, eng.Run(ctx, pdnsRun))

	signed, err := cl.lab.CA().SignCSR(csr, time.Now(), 400*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// An answer for another key is refused.
	other := cl.readyLeaf(t)
	if err := os.WriteFile(CertificateResponseFile(cl.cfg), other.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.OverrideWait("certificate", "test: wrong answer"); err != nil {
		t.Fatal(err)
	}
	if err := eng.Run(ctx, pdnsRun); err == nil || !strings.Contains(err.Error(), "is not the answer to the request") {
		t.Fatalf("wrong answer: %v", err)
	}
	if err := os.WriteFile(CertificateResponseFile(cl.cfg), ca.CertificatePEM(signed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := eng.Run(ctx, pdnsRun); err != nil {
		t.Fatalf("run after the answer: %v\n%s", err, sink.logs())
	}
	want := ca.Thumbprint(signed)
	for _, srv := range []string{"EX01", "EX02"} {
		if cl.certs(srv)[want] != org.ServiceIIS|org.ServiceSMTP {
			t.Fatalf("%s: %v", srv, cl.certs(srv))
		}
	}
	var on []string
	json.Unmarshal(stepChecks(t, eng, "certificate").Outputs["imported_on"], &on)
	if strings.Join(on, ",") != "EX02,EX01" {
		t.Fatalf("imported_on %v", on)
	}
	if n := callCount(cl.lab.Stats(), "Export-ExchangeCertificate"); n != 1 {
		t.Fatalf("%d exports", n)
	}
	if err := eng.RollbackAll(ctx); err != nil {
		t.Fatalf("rollback: %v\n%s", err, sink.logs())
	}
	if !bytes.Equal(cl.lab.Org(), cl.initial(t)) {
		t.Fatal("the org after rollback differs from org.initial.json")
	}
	if _, err := os.Stat(CertificateResponseFile(cl.cfg)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the answer file is left after rollback: %v", err)
	}
}

// The consistency pre-check fails when one server's URL differs, and
// names the server, the setting and both values.
func TestConsistencyCheckLab(t *testing.T) {
	cl := startCertLab(t)
	ex, err := clients.New(cl.cfg, clients.Options{}).Exchange()
	if err != nil {
		t.Fatal(err)
	}
	chk := checks.NewConsistencyCheck(ex, []string{"EX01", "EX02"})
	if r := chk.Run(context.Background(), nil); r.Status != engine.CheckPass {
		t.Fatalf("fresh lab: %+v", r)
	}
	var was string
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		for _, v := range o.ServerVDirs(org.KindOwa, "EX02") {
			if v.ExternalUrl != nil {
				was = *v.ExternalUrl
			} else {
				was = "$null"
			}
			u := "https://elsewhere.contoso.test/owa"
			v.ExternalUrl = &u
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := cl.lab.Stats()
	r := chk.Run(context.Background(), nil)
	want := "EX02 owa ExternalUrl https://elsewhere.contoso.test/owa (EX01: " + was + ")"
	if r.Status != engine.CheckFail || len(r.Evidence) != 1 || r.Evidence[0] != want {
		t.Fatalf("got %+v, want evidence %q", r, want)
	}
	if n := launches(cl.lab.Stats()) - launches(before); n != 0 {
		t.Errorf("the check took %d PowerShell launches or shells, want 0", n)
	}
	// The certificate step's pre-check stops it before any change.
	eng, _, _ := cl.open(t, "certificate")
	orgBefore := cl.lab.Org()
	if err := eng.Run(context.Background(), pdnsRun); err == nil || !strings.Contains(err.Error(), "EX02 owa ExternalUrl") {
		t.Fatalf("run: %v", err)
	}
	if !bytes.Equal(orgBefore, cl.lab.Org()) {
		t.Fatal("the step changed the org although the pre-check failed")
	}
}

// launches counts what the script transport would have used: powershell.exe
// runs, WinRS shells and refused scripts. On the Exchange endpoint it stays 0.
func launches(s labstats.Stats) int { return int(s.PowerShellLaunches + s.Shells + s.ScriptsRefused) }

// The CA's answer is read as PEM (leaf first), base64 or DER, and must
// certify the request's key.
func TestParseCertificateAnswerAndMatch(t *testing.T) {
	authority, err := ca.New("answer CA", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "outlook-ext.contoso.test"},
		DNSNames: []string{"outlook-ext.contoso.test"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrPEM := pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der})
	csr, err := ca.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := authority.SignCSR(csr, time.Now(), 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := authority.Issue("other.contoso.test", []string{"other.contoso.test"}, time.Now(), time.Now().AddDate(1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	pemChain := append(ca.CertificatePEM(leaf), authority.CertPEM()...)
	cases := []struct {
		name  string
		data  []byte
		thumb string
		err   string
	}{
		{"PEM with chain", pemChain, ca.Thumbprint(leaf), ""},
		{"PEM after a key block", append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), pemChain...), ca.Thumbprint(leaf), ""},
		{"base64 DER with line breaks", []byte(strings.ReplaceAll(base64.StdEncoding.EncodeToString(leaf.Raw), "A", "A\r\n")), ca.Thumbprint(leaf), ""},
		{"DER", leaf.Raw, ca.Thumbprint(leaf), ""},
		{"PEM without a certificate", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}), "", "no CERTIFICATE block"},
		{"text", []byte("hello"), "", "not a certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseCertificateAnswer(c.data)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || checks.Thumbprint(got) != c.thumb {
				t.Fatalf("got %v", err)
			}
		})
	}
	if err := CheckAnswerMatchesCSR(leaf, csrPEM); err != nil {
		t.Fatalf("the answer: %v", err)
	}
	if err := CheckAnswerMatchesCSR(other.Cert, csrPEM); err == nil || !strings.Contains(err.Error(), "its key differs") {
		t.Fatalf("another certificate: %v", err)
	}
	if err := CheckAnswerMatchesCSR(leaf, []byte("junk")); err == nil {
		t.Fatal("a junk request matched")
	}
}
