package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func TestBindServices(t *testing.T) {
	cases := []struct {
		name       string
		configured []string
		popImap    bool
		wildcard   bool
		services   string
		x509       string
	}{
		{"default", nil, false, false, "IIS,SMTP", ""},
		{"configured", []string{"iis", "SMTP"}, false, false, "IIS,SMTP", ""},
		{"pop_imap", []string{"IIS", "SMTP"}, true, false, "IIS,SMTP,POP,IMAP", ""},
		{"pop_imap wildcard", []string{"IIS", "SMTP"}, true, true, "IIS,SMTP", "outlook-ext.contoso.test"},
		{"POP in services, wildcard", []string{"IIS", "SMTP", "POP"}, false, true, "IIS,SMTP", "outlook-ext.contoso.test"},
		{"POP in services", []string{"IIS", "POP", "SMTP"}, false, false, "IIS,SMTP,POP,IMAP", ""},
		{"duplicates", []string{"IIS", "iis"}, false, false, "IIS", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, x := BindServices(c.configured, c.popImap, c.wildcard, "outlook-ext.contoso.test")
			if strings.Join(s, ",") != c.services || x != c.x509 {
				t.Fatalf("got %v %q", s, x)
			}
		})
	}
}

func TestIsWildcard(t *testing.T) {
	cases := []struct {
		subject string
		domains []string
		want    bool
	}{
		{"CN=*.contoso.test", []string{"*.contoso.test"}, true},
		{"CN=outlook.contoso.test", []string{"outlook.contoso.test", "*.contoso.test"}, true},
		{"CN=outlook.contoso.test", []string{"outlook.contoso.test", "autodiscover.contoso.test"}, false},
	}
	for _, c := range cases {
		if got := IsWildcard(exchange.Certificate{Subject: c.subject, CertificateDomains: c.domains}); got != c.want {
			t.Errorf("IsWildcard(%s %v) = %v", c.subject, c.domains, got)
		}
	}
}

// The bind plan names, per server and service, the holder now and after;
// a service the certificate already holds is no change.
func TestBindCertificatePlan(t *testing.T) {
	snap := BindCertificateSnapshot{Servers: []string{"EX01", "EX02"}, Thumbprint: "NEW", Services: []string{"IIS", "SMTP"},
		Certificates: []exchange.Certificate{
			{Server: "EX01", Thumbprint: "OLD", Services: "IIS, SMTP"}, {Server: "EX01", Thumbprint: "NEW", Services: "None"},
			{Server: "EX02", Thumbprint: "OLD", Services: "IIS"}, {Server: "EX02", Thumbprint: "NEW", Services: "SMTP"},
		}}
	raw, _ := json.Marshal(snap)
	s := &bindCertificate{id: "bind-certificate", deps: testDeps(nil, clients.Options{})}
	p, err := s.Plan(context.Background(), &pdnsEnv{}, raw)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Changes {
		got = append(got, c.Target+" "+c.Field+": "+c.From+" -> "+c.To)
	}
	want := []string{"EX01 IIS certificate: OLD -> NEW", "EX01 SMTP certificate: OLD -> NEW", "EX02 IIS certificate: OLD -> NEW", "EX02 SMTP certificate: NEW -> NEW"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || p.Pending() != 3 {
		t.Fatalf("plan:\n%s", strings.Join(got, "\n"))
	}
}

// A wildcard certificate with pop_imap: IIS and SMTP are bound, POP and
// IMAP get X509CertificateName (the external name) instead; applying again
// changes nothing; rollback restores the bindings and the $null names.
func TestBindCertificateWildcardPopImapLab(t *testing.T) {
	cl := startCertLab(t)
	now := time.Now()
	wild, err := cl.lab.CA().Issue("*.contoso.test", []string{"*.contoso.test"}, now.Add(-time.Hour), now.AddDate(1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		for _, s := range []string{"EX01", "EX02"} {
			o.Certificates = append(o.Certificates, generate.OrgCertificate(s, wild, "wildcard", 0, false))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cl.cfg.Certificate.Mode, cl.cfg.Certificate.Thumbprint, cl.cfg.Certificate.PopImap = CertModeThumbprint, wild.Thumbprint(), true
	before := cl.lab.Org()
	ex, err := clients.New(cl.cfg, clients.Options{}).Exchange()
	if err != nil {
		t.Fatal(err)
	}
	pi, err := ex.GetPopImapSettings(context.Background(), []string{"EX01", "EX02"})
	if err != nil {
		t.Fatal(err)
	}
	m := &launchMeter{c: cl.lab.Counters(), rows: map[string]map[string]int64{}, snap: map[string]engine.Snapshot{}}
	eng, _, sink := cl.openMetered(t, m, "certificate", "bind-certificate")
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatalf("run: %v\n%s", err, sink.logs())
	}
	// The endpoint cannot restart POP3/IMAP4: the result says so.
	if !strings.Contains(sink.logs(), "restart the services MSExchangePOP3, MSExchangePOP3BE, MSExchangeIMAP4 and MSExchangeIMAP4BE on EX01, EX02") {
		t.Errorf("no POP/IMAP restart note in the log:\n%s", sink.logs())
	}
	// Only the Exchange endpoint was used: the test's own session and
	// the run's.
	noScripts(t, "wildcard bind-certificate", cl.lab.Stats(), 2)
	t.Logf("pipelines per phase: %v", m.rows)
	th := wild.Thumbprint()
	for _, s := range []string{"EX01", "EX02"} {
		if got := cl.certs(s)[th]; got != org.ServiceIIS|org.ServiceSMTP {
			t.Fatalf("%s: the wildcard holds %v, want IIS and SMTP only", s, got)
		}
	}
	after, err := ex.GetPopImapSettings(context.Background(), []string{"EX01", "EX02"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range after {
		if strOrNull(p.PopX509CertificateName) != cl.cfg.Namespace.External || strOrNull(p.ImapX509CertificateName) != cl.cfg.Namespace.External {
			t.Fatalf("%s: POP %s IMAP %s", p.Server, strOrNull(p.PopX509CertificateName), strOrNull(p.ImapX509CertificateName))
		}
	}
	v := stepChecks(t, eng, "bind-certificate")
	if r := findResult(t, v.PostChecks, "certificate-bound"); r.Status != engine.CheckPass || !strings.Contains(r.Message, "POP and IMAP use") {
		t.Fatalf("bound: %+v", r)
	}
	if r := findResult(t, v.PostChecks, "tls"); r.Status != engine.CheckPass {
		t.Fatalf("tls: %+v", r)
	}

	// Apply again: no Enable-ExchangeCertificate, no Set-*Settings.
	st, _ := newBindCertificate("bind-certificate", nil, testDeps(cl.cfg, clients.Options{}))
	env := &pdnsEnv{now: time.Now(), outputs: map[string]json.RawMessage{}}
	snap, err := st.Capture(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	s0 := cl.lab.Stats()
	if _, err := st.Apply(context.Background(), env, snap); err != nil {
		t.Fatal(err)
	}
	s1 := cl.lab.Stats()
	for _, c := range []string{"Enable-ExchangeCertificate", "Set-PopSettings", "Set-ImapSettings"} {
		if n := callCount(s1, c) - callCount(s0, c); n != 0 {
			t.Errorf("a second apply called %s %d time(s)", c, n)
		}
	}

	if err := eng.RollbackAll(context.Background()); err != nil {
		t.Fatalf("rollback: %v\n%s", err, sink.logs())
	}
	if n := m.rows["bind-certificate"]["rollback"]; n == 0 {
		t.Errorf("wildcard bind-certificate rollback sent no pipeline")
	}
	restored, err := ex.GetPopImapSettings(context.Background(), []string{"EX01", "EX02"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range pi {
		if strOrNull(pi[i].PopX509CertificateName) != strOrNull(restored[i].PopX509CertificateName) ||
			strOrNull(pi[i].ImapX509CertificateName) != strOrNull(restored[i].ImapX509CertificateName) {
			t.Fatalf("%s: POP/IMAP names %+v, were %+v", pi[i].Server, restored[i], pi[i])
		}
	}
	if !bytes.Equal(before, cl.lab.Org()) {
		t.Fatal("rollback did not restore the organisation")
	}
}

func FuzzParseCertificateAnswer(f *testing.F) {
	c, err := ca.New("fuzz CA", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.CertPEM())
	f.Add(c.Cert.Raw)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("not base64 !"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		cert, err := ParseCertificateAnswer(data)
		if err == nil && cert == nil {
			t.Fatal("no certificate and no error")
		}
		if err == nil {
			if _, err := ParseCertificateAnswer(ca.CertificatePEM(cert)); err != nil {
				t.Fatalf("the PEM of a parsed answer does not parse: %v", err)
			}
		}
	})
}

// pop_imap with a named (not wildcard) certificate binds POP and IMAP
// too; rolling back both steps still restores the org: the POP/IMAP flags
// the bind rollback cannot take away do not keep the certificate.
func TestBindCertificatePopImapNamedLab(t *testing.T) {
	cl := startCertLab(t)
	cl.cfg.Certificate.PopImap = true
	want := cl.readyLeaf(t).Thumbprint()
	eng, _, sink := cl.open(t, "certificate", "bind-certificate")
	if err := eng.Run(context.Background(), pdnsRun); err != nil {
		t.Fatalf("run: %v\n%s", err, sink.logs())
	}
	all := org.ServiceIIS | org.ServiceSMTP | org.ServicePOP | org.ServiceIMAP
	for _, s := range []string{"EX01", "EX02"} {
		if got := cl.certs(s)[want]; got != all {
			t.Fatalf("%s: %v", s, got)
		}
	}
	if err := eng.RollbackAll(context.Background()); err != nil {
		t.Fatalf("rollback: %v\n%s", err, sink.logs())
	}
	if !bytes.Equal(cl.lab.Org(), cl.initial(t)) {
		t.Fatal("the org after rollback differs from org.initial.json")
	}
	if !strings.Contains(sink.logs(), "no certificate held POP before") {
		t.Errorf("the log does not say POP stays bound:\n%s", sink.logs())
	}
}

// bind-certificate proves SMTP after STARTTLS only where it bound SMTP and
// exchange.smtp says where a server listens; IIS is proven on 443.
func TestBindCertificatePostCheckNames(t *testing.T) {
	cases := []struct {
		name     string
		services []string
		smtp     map[string]string
		want     string
		targets  int
	}{
		{"IIS and SMTP, both listeners", []string{"IIS", "SMTP"}, map[string]string{"EX01": "127.0.0.1:2525", "ex02": "127.0.0.1:2526"}, "certificate-bound,tls,smtp-starttls", 2},
		{"one listener configured", []string{"IIS", "SMTP"}, map[string]string{"EX02": "127.0.0.1:2526"}, "certificate-bound,tls,smtp-starttls", 1},
		{"no exchange.smtp", []string{"IIS", "SMTP"}, nil, "certificate-bound,tls", 0},
		{"SMTP not bound", []string{"IIS"}, map[string]string{"EX01": "127.0.0.1:2525"}, "certificate-bound,tls", 0},
		{"SMTP alone", []string{"SMTP"}, map[string]string{"EX01": "127.0.0.1:2525", "EX02": "127.0.0.1:2526"}, "certificate-bound,smtp-starttls", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := euConfig()
			cfg.Exchange.HTTPS = map[string]string{"EX01": "127.0.0.1:4431", "EX02": "127.0.0.1:4432"}
			cfg.Exchange.SMTP = tc.smtp
			s := &bindCertificate{id: "bind-certificate", deps: testDeps(cfg, clients.Options{Runner: adwRunner{}})}
			raw, _ := json.Marshal(BindCertificateSnapshot{Servers: []string{"EX01", "EX02"}, Thumbprint: "NEW", Services: tc.services})
			var names []string
			for _, c := range s.PostChecks(&pdnsEnv{}, raw) {
				names = append(names, c.Name())
				if sc, ok := c.(*checks.SMTPCheck); ok {
					if len(sc.Targets) != tc.targets || sc.ExpectThumbprint != "NEW" || strings.Join(sc.Names, ",") != cfg.Namespace.External {
						t.Errorf("smtp check: %+v", sc)
					}
				}
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Errorf("post-checks %s, want %s", got, tc.want)
			}
		})
	}
}
