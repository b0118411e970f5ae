package steps

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// adwURLsStep stands in for external-urls: its Apply records applied_at
// from the engine's clock, as the real step does.
type adwURLsStep struct{}

func (adwURLsStep) Capture(context.Context, engine.Env) (engine.Snapshot, error) {
	return engine.Snapshot(`{}`), nil
}
func (adwURLsStep) Plan(context.Context, engine.Env, engine.Snapshot) (engine.Plan, error) {
	return engine.Plan{Changes: []engine.Change{{Target: "EX01\\owa (Default Web Site)", Field: "ExternalUrl", From: "$null", To: "https://outlook-ext.contoso.test/owa"}}}, nil
}
func (adwURLsStep) PreChecks(engine.Env, engine.Snapshot) []engine.Check { return nil }
func (adwURLsStep) Apply(_ context.Context, env engine.Env, _ engine.Snapshot) (engine.Outcome, error) {
	return engine.Outcome{}, env.SetOutput("applied_at", env.Now().UTC())
}
func (adwURLsStep) PostChecks(engine.Env, engine.Snapshot) []engine.Check       { return nil }
func (adwURLsStep) Rollback(context.Context, engine.Env, engine.Snapshot) error { return nil }

// adwRunner answers Get-ExchangeServer with one server.
type adwRunner struct{}

func (adwRunner) Run(_ context.Context, pl psrp.Pipeline, _ []psrp.Value) (*psrp.Result, error) {
	if pl.Commands[0].Name != "Get-ExchangeServer" {
		return nil, fmt.Errorf("unexpected pipeline: %s", pl)
	}
	return &psrp.Result{Output: []psrp.Value{&psrp.Object{Extended: []psrp.Property{
		{Name: "Name", Value: "EX01"}, {Name: "Fqdn", Value: "ex01.contoso.test"}, {Name: "Guid", Value: "5f0c3b8e-2f55-4c1e-9d0a-6c1f7a3e8b21"},
		{Name: "AdminDisplayVersion", Value: "Version 15.2 (Build 1544.4)"}, {Name: "ServerRole", Value: "Mailbox"}, {Name: "IsEdgeServer", Value: false},
	}}}}, nil
}

func adwConfig(t *testing.T) *config.Config {
	t.Helper()
	if os.Getenv(config.EnvProbePassword) != "" {
		t.Skipf("%s is set in the environment and would change which checks the step builds", config.EnvProbePassword)
	}
	c := config.Default()
	c.Namespace = config.Namespace{Internal: "outlook.contoso.test", External: "outlook-ext.contoso.test", Autodiscover: "autodiscover.contoso.test"}
	return c
}

func adwOpen(t *testing.T, cfg *config.Config, withURLs bool, clock engine.Clock, sink engine.Sink) *engine.Engine {
	t.Helper()
	f, ok := Lookup("autodiscover-wait")
	if !ok {
		t.Fatal("autodiscover-wait is not registered")
	}
	step, err := f("autodiscover-wait", nil, testDeps(cfg, clients.Options{Runner: adwRunner{}}))
	if err != nil {
		t.Fatal(err)
	}
	var defs []engine.StepDef
	if withURLs {
		defs = append(defs, engine.StepDef{ID: "external-urls", Kind: "external-urls", Step: adwURLsStep{}})
	}
	defs = append(defs, engine.StepDef{ID: "autodiscover-wait", Kind: "autodiscover-wait", Approval: "auto", Step: step})
	e, err := engine.Open(context.Background(), engine.Options{StateDir: t.TempDir(), Clock: clock, Sink: sink,
		Retry: engine.RetryPolicy{Attempts: 1}, Runbook: engine.Runbook{Name: "autodiscover-wait-test", Steps: defs}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestAutodiscoverWaitNeedsAppliedAt(t *testing.T) {
	eng := adwOpen(t, adwConfig(t), false, newPDNSClock(), nil)
	err := eng.Run(context.Background(), pdnsRun)
	var sf *engine.StepFailedError
	if !errors.As(err, &sf) || !strings.Contains(err.Error(), "external-urls has not recorded when it changed the URLs; run it first") {
		t.Fatalf("got %v", err)
	}
}

func TestAutodiscoverWaitWaitsMinWait(t *testing.T) {
	cfg := adwConfig(t)
	clock := newPDNSClock()
	sink := &pdnsSink{}
	eng := adwOpen(t, cfg, true, clock, sink)

	plans, err := eng.PlanSteps(context.Background())
	if err != nil || len(plans) != 2 {
		t.Fatalf("PlanSteps: %v %+v", err, plans)
	}
	if ch := plans[1].Plan.Changes; len(ch) != 1 || ch[0].To != "external-urls.applied_at + 2h0m0s" || ch[0].From != "-" {
		t.Fatalf("plan before external-urls: %+v", plans[1].Plan)
	}

	appliedAt := clock.Now()
	we := pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	want := appliedAt.Add(2 * time.Hour)
	if we.Step != "autodiscover-wait" || !we.Until.Equal(want) || we.Reason != "Autodiscover answers are cached (TTL in hours): clients pick up the new external URLs by then" {
		t.Fatalf("wait: %+v, want until %s", we, want)
	}
	// The plan now names the time.
	env := &pdnsEnv{now: clock.Now(), outputs: map[string]json.RawMessage{}}
	b, _ := json.Marshal(appliedAt)
	env.outputs["external-urls/applied_at"] = b
	s, _ := newAutodiscoverWait("autodiscover-wait", nil, testDeps(cfg, clients.Options{}))
	p, err := s.Plan(context.Background(), env, nil)
	if err != nil || len(p.Changes) != 1 || p.Changes[0].To != want.Format(time.RFC3339) || p.Changes[0].Field != "wait until" {
		t.Fatalf("plan: %+v %v", p, err)
	}

	clock.Advance(2*time.Hour - time.Second)
	pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
	clock.Advance(time.Second)
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatal(err)
	}
	v, _ := eng.StepState("autodiscover-wait")
	if v.Status != engine.StatusDone || len(v.PostChecks) != 0 {
		t.Fatalf("status %s, post-checks %+v", v.Status, v.PostChecks)
	}
	if !strings.Contains(sink.logs(), "the Autodiscover probe is not configured") {
		t.Errorf("logs do not say the probe is not configured:\n%s", sink.logs())
	}
	if err := eng.Rollback(context.Background(), "autodiscover-wait", false); err != nil {
		t.Fatalf("rollback: %v", err)
	}
}

// adwCA issues the Autodiscover server's certificate.
func adwCA(t *testing.T) (caFile string, leaf tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "adw test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	lkey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	lTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "autodiscover.contoso.test"},
		DNSNames: []string{"autodiscover.contoso.test"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	lDER, err := x509.CreateCertificate(rand.Reader, lTmpl, ca, &lkey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{lDER}, PrivateKey: lkey}
}

// adwServer answers Autodiscover POX for allowed@contoso.test, offering
// the external MAPI/HTTP URL only when offer is set.
func adwServer(t *testing.T, cert tls.Certificate, offer *atomic.Bool, requests *atomic.Int32) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		user, pass, ok := r.BasicAuth()
		if !ok || pass != "probe-pw" || user != "allowed@contoso.test" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || !strings.EqualFold(r.URL.Path, "/autodiscover/autodiscover.xml") ||
			r.Header.Get("X-MapiHttpCapability") != "1" || r.Host != "autodiscover.contoso.test" ||
			!strings.Contains(string(body), "<EMailAddress>allowed@contoso.test</EMailAddress>") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ext := ""
		if offer.Load() {
			ext = "<ExternalUrl>https://outlook-ext.contoso.test/mapi/emsmdb/?MailboxId=g@contoso.test</ExternalUrl>"
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><Account><AccountType>email</AccountType><Action>settings</Action><Protocol Type="mapiHttp" Version="1"><MailStore><InternalUrl>https://outlook.contoso.test/mapi/emsmdb/?MailboxId=g@contoso.test</InternalUrl>%s</MailStore></Protocol></Account></Response></Autodiscover>`, ext)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// With probe credentials the post-check asks Autodiscover on every server
// in scope and requires the external name.
func TestAutodiscoverWaitProbe(t *testing.T) {
	caFile, cert := adwCA(t)
	var offer atomic.Bool
	var requests atomic.Int32
	addr := adwServer(t, cert, &offer, &requests)
	pwFile := filepath.Join(t.TempDir(), "probe.pw")
	if err := os.WriteFile(pwFile, []byte("probe-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		offer bool
	}{{"external name offered", true}, {"external name not offered yet", false}} {
		t.Run(c.name, func(t *testing.T) {
			offer.Store(c.offer)
			requests.Store(0)
			cfg := adwConfig(t)
			cfg.Exchange.CAFile = caFile
			cfg.Exchange.HTTPS = map[string]string{"EX01": addr}
			cfg.Autodiscover.Probe = config.Probe{AllowedUser: "allowed@contoso.test", BlockedUser: "blocked@contoso.test", PasswordFile: pwFile}
			clock := newPDNSClock()
			eng := adwOpen(t, cfg, true, clock, nil)
			pdnsWaiting(t, eng.Run(context.Background(), pdnsRun))
			clock.Advance(2 * time.Hour)
			err := eng.Run(context.Background(), pdnsRun)
			v, _ := eng.StepState("autodiscover-wait")
			if requests.Load() == 0 {
				t.Fatal("the probe never reached the Autodiscover server")
			}
			if c.offer {
				if err != nil {
					t.Fatal(err)
				}
				r := pdnsCheck(t, v.PostChecks, "autodiscover-allowed-user", engine.CheckPass)
				if !strings.Contains(strings.Join(r.Evidence, "\n"), "EX01 as allowed@contoso.test: external https://outlook-ext.contoso.test/mapi/") {
					t.Errorf("evidence: %v", r.Evidence)
				}
				return
			}
			var sf *engine.StepFailedError
			if !errors.As(err, &sf) || !strings.Contains(err.Error(), "post-check autodiscover-allowed-user failed") ||
				!strings.Contains(err.Error(), "does not offer outlook-ext.contoso.test") {
				t.Fatalf("got %v", err)
			}
			pdnsCheck(t, v.PostChecks, "autodiscover-allowed-user", engine.CheckFail)
		})
	}
}

// A server without an HTTPS address fails the probe instead of being skipped.
func TestAutodiscoverWaitProbeNeedsAddresses(t *testing.T) {
	cfg := adwConfig(t)
	cfg.Autodiscover.Probe = config.Probe{AllowedUser: "allowed@contoso.test", BlockedUser: "blocked@contoso.test", PasswordFile: "/nonexistent/probe.pw"}
	s, err := newAutodiscoverWait("autodiscover-wait", nil, testDeps(cfg, clients.Options{Runner: adwRunner{}}))
	if err != nil {
		t.Fatal(err)
	}
	chks := s.PostChecks(&pdnsEnv{}, nil)
	if len(chks) != 1 {
		t.Fatalf("checks: %v", chks)
	}
	res := chks[0].Run(context.Background(), &pdnsEnv{})
	if res.Status != engine.CheckFail || !strings.Contains(res.Message, "exchange.https has no address for EX01") {
		t.Fatalf("got %s %q", res.Status, res.Message)
	}
}

// Without probe credentials there is no probe check (a check that cannot
// fail is worse than none), and the log says why.
func TestAutodiscoverWaitNoProbe(t *testing.T) {
	for _, c := range []struct {
		name  string
		probe config.Probe
		log   string
	}{
		{"no users", config.Probe{}, "autodiscover.probe.allowed_user"},
		{"no password", config.Probe{AllowedUser: "allowed@contoso.test", BlockedUser: "blocked@contoso.test"}, "no password"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := adwConfig(t)
			cfg.Autodiscover.Probe = c.probe
			s, err := newAutodiscoverWait("autodiscover-wait", nil, testDeps(cfg, clients.Options{}))
			if err != nil {
				t.Fatal(err)
			}
			env := &pdnsEnv{}
			if chks := s.PostChecks(env, nil); len(chks) != 0 {
				t.Fatalf("checks without probe credentials: %v", chks)
			}
			if len(env.logs) != 1 || !strings.Contains(env.logs[0], "probe is not configured") || !strings.Contains(env.logs[0], c.log) {
				t.Fatalf("logs: %v", env.logs)
			}
		})
	}
}

func TestAutodiscoverWaitFactory(t *testing.T) {
	cfg := config.Default()
	if _, err := newAutodiscoverWait("autodiscover-wait", map[string]any{"min_wait": "1h"}, testDeps(cfg, clients.Options{})); err == nil || !strings.Contains(err.Error(), "takes no parameters") {
		t.Fatalf("parameters: %v", err)
	}
	cfg.Autodiscover.MinWait = config.Duration(-time.Second)
	if _, err := newAutodiscoverWait("autodiscover-wait", nil, testDeps(cfg, clients.Options{})); err == nil || !strings.Contains(err.Error(), "autodiscover.min_wait") {
		t.Fatalf("negative wait: %v", err)
	}
	cfg.Autodiscover.MinWait = config.Duration(5 * time.Second)
	s, err := newAutodiscoverWait("autodiscover-wait", nil, testDeps(cfg, clients.Options{}))
	if err != nil || s.(*autodiscoverWait).minWait != 5*time.Second {
		t.Fatalf("5s: %v %v", s, err)
	}
}
