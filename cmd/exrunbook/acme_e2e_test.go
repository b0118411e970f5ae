package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/acme"
	"github.com/exrunbook/exrunbook/internal/acme/pebbletest"
	"github.com/exrunbook/exrunbook/internal/dnsupdate/bindtest"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/wsman"
)

// Issue 13's acceptance tests: certificate.mode acme against Pebble, whose
// VA resolves the DNS-01 records through the lab's public DNS.

// acmeLab is an e2e lab whose exrunbook runs in acme mode against p: the
// config from the environment, as an operator could set it, and
// exchange.ca_file a bundle of the lab CA, Pebble's root and its
// intermediate (the lab's HTTPS presents the leaf alone).
func acmeLab(t *testing.T, bin string, opts lab.Options) (*e2eLab, *pebbletest.Server) {
	t.Helper()
	e := startE2ELab(t, bin, opts)
	ep := e.l.Endpoints()
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: ep.DNS.Public})
	labCA, err := os.ReadFile(ep.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "trust.pem")
	data := append(append(labCA, p.RootPEM()...), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Intermediate().Raw})...)
	if err := os.WriteFile(bundle, data, 0o644); err != nil {
		t.Fatal(err)
	}
	e.env = append(e.env, "EXRUNBOOK_CERTIFICATE_MODE=acme",
		"EXRUNBOOK_CERTIFICATE_ACME_DIRECTORY="+p.DirectoryURL,
		"EXRUNBOOK_CERTIFICATE_ACME_CA_FILE="+p.CAFile,
		"EXRUNBOOK_CERTIFICATE_ACME_EMAIL=hostmaster@contoso.test",
		"EXRUNBOOK_EXCHANGE_CA_FILE="+bundle)
	return e, p
}

// presented is the leaf every server presents for every name (TLS 443).
func presented(t *testing.T, e *e2eLab) map[string]*x509.Certificate {
	t.Helper()
	ep := e.l.Endpoints()
	out := map[string]*x509.Certificate{}
	for srv, s := range ep.Servers {
		for _, name := range []string{ep.Names.Internal, ep.Names.External, ep.Names.Autodiscover} {
			conn, err := tls.Dial("tcp", s.HTTPS, &tls.Config{ServerName: name, InsecureSkipVerify: true}) //nolint:gosec // verified below
			if err != nil {
				t.Fatalf("%s %s: %v", srv, name, err)
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			out[srv+" "+name] = leaf
		}
	}
	return out
}

// smtpPresented is the leaf every server's SMTP listener (exchange.smtp of
// the lab's config) presents after STARTTLS for the external name.
func smtpPresented(t *testing.T, e *e2eLab) map[string]*x509.Certificate {
	t.Helper()
	ep := e.l.Endpoints()
	probe := &checks.SMTPCheck{Names: []string{ep.Names.External}}
	out := map[string]*x509.Certificate{}
	for srv, s := range ep.Servers {
		leaf, _, err := probe.StartTLS(context.Background(), s.SMTP)
		if err != nil {
			t.Fatalf("%s SMTP %s: %v", srv, s.SMTP, err)
		}
		out[srv+" "+ep.Names.External] = leaf
	}
	return out
}

// smtpShows fails unless every server's SMTP listener presents thumb.
func smtpShows(t *testing.T, e *e2eLab, thumb, when string) {
	t.Helper()
	for k, c := range smtpPresented(t, e) {
		if got := acme.Thumbprint(c); got != thumb {
			t.Errorf("%s: %s SMTP STARTTLS presents %s, not %s", when, k, got, thumb)
		}
	}
}

// issuedByPebble requires every presented certificate to chain to
// Pebble's root for its name.
func issuedByPebble(t *testing.T, p *pebbletest.Server, certs map[string]*x509.Certificate) {
	t.Helper()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(p.Root())
	inter.AddCert(p.Intermediate())
	for k, c := range certs {
		name := strings.Fields(k)[1]
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name}); err != nil {
			t.Errorf("%s presents %s (%s, issued by %s): not a certificate from Pebble: %v", k, acme.Thumbprint(c), c.Subject, c.Issuer, err)
		}
	}
}

// noChallengeRecords requires the public zone to hold no _acme-challenge record.
func noChallengeRecords(t *testing.T, e *e2eLab) {
	t.Helper()
	for _, z := range parseOrg(t, e.org(t)).Zones {
		for _, r := range z.Records {
			if strings.HasPrefix(r.Name, "_acme-challenge.") {
				t.Errorf("challenge record left in the %s zone: %s %s %s", z.View, r.Name, r.Type, r.Data)
			}
		}
	}
}

func TestE2EACME(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: builds exrunbook and runs the runbook in acme mode against the lab and Pebble")
	}
	bin := buildExrunbook(t, t.TempDir())
	t.Run("Runbook", func(t *testing.T) { testACMERunbook(t, bin) })
	t.Run("UnwritableChallenge", func(t *testing.T) { testACMEUnwritable(t, bin) })
	t.Run("Renew", func(t *testing.T) { testACMERenew(t, bin) })
	t.Run("RenewKilled", func(t *testing.T) { testACMERenewKilled(t, bin) })
	t.Run("RenewNotProven", func(t *testing.T) { testACMERenewNotProven(t, bin) })
	t.Run("RenewFaults", func(t *testing.T) { testACMERenewFaults(t, bin) })
}

// testACMERunbook: the whole runbook in acme mode; both servers then
// present a Pebble certificate for every name, no challenge record is
// left, the account key is 0600, and rollback --all restores the org.
func testACMERunbook(t *testing.T, bin string) {
	e, p := acmeLab(t, bin, lab.Options{Mailboxes: 60, Allow: 4, Servers: 2, Seed: 13})
	initial := e.initial(t)
	r := e.mustRun(t, 0, "run", "--unattended", "--yes", "--wait")
	if !strings.Contains(r.out, "runbook split-namespace complete") {
		t.Errorf("run output does not say the runbook is complete:\n%s", tail(r.out, 2000))
	}
	certs := presented(t, e)
	issuedByPebble(t, p, certs)
	issuedByPebble(t, p, smtpPresented(t, e))
	smtpShows(t, e, iisCertificate(t, e), "after the runbook")
	noChallengeRecords(t, e)
	fi, err := os.Stat(filepath.Join(e.stateDir, acme.AccountKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("account key in the state directory: %v, %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "acme", "pending.pem")); !os.IsNotExist(err) {
		t.Errorf("the issued key is still kept after the import: %v", err)
	}
	e.mustRun(t, 0, "check")
	e.mustRun(t, 0, "rollback", "--all", "--yes")
	if got := e.org(t); string(got) != string(initial) {
		t.Fatalf("after rollback --all, /org differs from org.initial.json: %s", firstDiff(got, initial))
	}
}

// testACMEUnwritable: a challenge whose TXT record cannot be written (the
// TSIG secret is wrong) fails the step with a clear error, and nothing is
// imported on any server.
func testACMEUnwritable(t *testing.T, bin string) {
	e, _ := acmeLab(t, bin, lab.Options{Mailboxes: 20, Allow: 2, Servers: 2, Seed: 14})
	e.env = append(e.env, "EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET="+bindtest.RandomSecret())
	before := e.org(t)
	r := e.mustRun(t, 1, "run", "--unattended", "--yes", "--only", "certificate")
	msg := r.out + r.errout
	// The acme-names pre-check reads where each record would land with
	// the update key before anything is ordered or imported.
	if !strings.Contains(msg, "pre-check acme-names failed: the DNS-01 challenge records cannot be written") ||
		!strings.Contains(msg, "rejected the TSIG key") || !strings.Contains(msg, "check public_dns.tsig") {
		t.Errorf("the failure does not say the challenge record could not be written:\n%s", tail(msg, 3000))
	}
	if got := e.org(t); string(got) != string(before) {
		t.Fatalf("the org changed although the challenge failed: %s", firstDiff(got, before))
	}
}

// labCert is a certificate in the lab's org JSON.
type labCert struct {
	Server, Thumbprint, Services, Issuer string
}

func labCerts(t *testing.T, e *e2eLab) []labCert {
	t.Helper()
	var doc struct{ Certificates []labCert }
	if err := json.Unmarshal(e.org(t), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Certificates
}

// iisCertificate is the one certificate bound to IIS on every server; it
// fails unless each server has exactly one and they agree, and unless
// every server presents it on 443 for every name.
func iisCertificate(t *testing.T, e *e2eLab) string {
	t.Helper()
	per := map[string][]string{}
	for _, c := range labCerts(t, e) {
		for _, s := range strings.Split(c.Services, ",") {
			if strings.TrimSpace(s) == "IIS" {
				per[c.Server] = append(per[c.Server], c.Thumbprint)
			}
		}
	}
	thumb := ""
	for srv := range e.l.Endpoints().Servers {
		if len(per[srv]) != 1 {
			t.Fatalf("%s has %d certificates bound to IIS (%v): want exactly one", srv, len(per[srv]), per[srv])
		}
		if thumb == "" {
			thumb = per[srv][0]
		} else if per[srv][0] != thumb {
			t.Fatalf("the servers disagree on the IIS certificate: %v", per)
		}
	}
	for k, c := range presented(t, e) {
		if acme.Thumbprint(c) != thumb {
			t.Fatalf("%s presents %s, not the IIS-bound %s", k, acme.Thumbprint(c), thumb)
		}
	}
	return thumb
}

// pebbleCerts are the certificates issued by Pebble on each server.
func pebbleCerts(t *testing.T, e *e2eLab) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, c := range labCerts(t, e) {
		if strings.Contains(c.Issuer, "Pebble") {
			out[c.Server] = append(out[c.Server], c.Thumbprint)
		}
	}
	return out
}

type renewJSON struct {
	Due     bool   `json:"due"`
	Reason  string `json:"reason"`
	Resumed bool   `json:"resumed"`
	Old     struct {
		Thumbprint string `json:"thumbprint"`
	} `json:"old"`
	New *struct {
		Thumbprint string    `json:"thumbprint"`
		NotAfter   time.Time `json:"not_after"`
	} `json:"new"`
	Proof   []string `json:"proof"`
	Changes []struct {
		Server, Action, Thumbprint string
		OK                         bool
	} `json:"changes"`
}

// testACMERenew: renew when nothing is due changes nothing; --force
// replaces the certificate on both servers, removes the old one, and the
// wire shows the new one; ARI saying so renews without --force.
func testACMERenew(t *testing.T, bin string) {
	e, p := acmeLab(t, bin, lab.Options{Mailboxes: 20, Allow: 2, Servers: 2, Seed: 15})
	e.mustRun(t, 0, "run", "--unattended", "--yes", "--until", "bind-certificate")
	first := iisCertificate(t, e)
	issuedByPebble(t, p, presented(t, e))
	smtpShows(t, e, first, "after the runbook")

	before := e.org(t)
	// Each renew ends its PSRP session: more renewals than Exchange lets
	// one user hold sessions (PowerShellMaxConcurrency) all succeed.
	var r result
	for i := 0; i <= wsman.DefaultMaxConcurrency; i++ {
		r = e.mustRun(t, 0, "certificate", "renew")
		if !strings.Contains(r.out, "nothing to renew") {
			t.Fatalf("renew %d when nothing is due says:\n%s", i+1, r.out)
		}
	}
	r = e.mustRun(t, 0, "certificate", "renew", "--dry-run", "--force")
	if !strings.Contains(r.out, "dry run") {
		t.Errorf("dry run says:\n%s", r.out)
	}
	if got := e.org(t); string(got) != string(before) {
		t.Fatalf("renew with nothing due (or --dry-run) changed the org: %s", firstDiff(got, before))
	}

	r = e.mustRun(t, 0, "certificate", "renew", "--force", "--output", "json")
	var rep renewJSON
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatalf("renew --output json: %v\n%s", err, r.out)
	}
	second := iisCertificate(t, e)
	if second == first || rep.New == nil || rep.New.Thumbprint != second || rep.Old.Thumbprint != first {
		t.Fatalf("renew --force: IIS holds %s (was %s); report %+v", second, first, rep)
	}
	issuedByPebble(t, p, presented(t, e))
	smtpShows(t, e, second, "after renew --force")
	for srv, thumbs := range pebbleCerts(t, e) {
		if len(thumbs) != 1 || thumbs[0] != second {
			t.Errorf("%s holds the Pebble certificates %v; want only %s (the old one removed)", srv, thumbs, second)
		}
	}
	// Renew proved both on the wire: TLS on 443 and SMTP STARTTLS on
	// every exchange.smtp address.
	proof := strings.Join(rep.Proof, "\n")
	if !strings.Contains(proof, "tls: ") || !strings.Contains(proof, "smtp-starttls: 2 server(s) offer STARTTLS") {
		t.Errorf("the report lacks the TLS or SMTP proof: %v", rep.Proof)
	}
	var actions []string
	for _, je := range e.journal(t) {
		if je.Kind == "certificate-renew" {
			actions = append(actions, fmt.Sprint(je.Details["server"], " ", je.Details["action"]))
		}
	}
	for _, srv := range []string{"EX01", "EX02"} {
		for _, a := range []string{"import", "enable", "remove"} {
			if !strings.Contains(strings.Join(actions, ","), srv+" "+a) {
				t.Errorf("no journal line for %s %s: %v", srv, a, actions)
			}
		}
	}

	// The CA's renewal information says renew now: renew without --force.
	leaf := presented(t, e)["EX01 "+e.l.Endpoints().Names.External]
	now := time.Now().UTC()
	p.SetRenewalInfo(t, leaf, fmt.Sprintf(`{"suggestedWindow":{"start":%q,"end":%q},"explanationURL":"https://pebble.test/why"}`,
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)))
	r = e.mustRun(t, 0, "certificate", "renew")
	third := iisCertificate(t, e)
	if third == second || !strings.Contains(r.out, "renewal information (ARI)") {
		t.Fatalf("renew after ARI said so: IIS holds %s (was %s)\n%s", third, second, r.out)
	}
	smtpShows(t, e, third, "after the ARI renewal")

	// The runbook's checks (bind-certificate's TLS and SMTP STARTTLS
	// among them) follow the renewed certificate, and rollback removes it
	// with the step's own.
	r = e.mustRun(t, 0, "check")
	if !strings.Contains(r.out, "smtp-starttls") {
		t.Errorf("check does not prove SMTP STARTTLS:\n%s", tail(r.out, 3000))
	}
	e.mustRun(t, 0, "rollback", "--all", "--yes")
	if got, initial := e.org(t), e.initial(t); string(got) != string(initial) {
		t.Fatalf("after renewals and rollback --all, /org differs from org.initial.json: %s", firstDiff(got, initial))
	}
}

// testACMERenewKilled: renew --force is killed with SIGKILL at random
// moments, then renew runs again; every time the organisation ends with
// exactly one bound certificate on each server, the new one or the old
// one, and no other Pebble certificate.
func testACMERenewKilled(t *testing.T, bin string) {
	e, _ := acmeLab(t, bin, lab.Options{Mailboxes: 20, Allow: 2, Servers: 2, Seed: 16})
	e.mustRun(t, 0, "run", "--unattended", "--yes", "--until", "bind-certificate")
	start := time.Now()
	e.mustRun(t, 0, "certificate", "renew", "--force")
	full := time.Since(start) // the kills land within one uninterrupted renewal's time
	cur := iisCertificate(t, e)
	rng := rand.New(rand.NewPCG(2026120701, 13))
	const cycles = 20
	resumed, replaced, kills, orphans, restarts := 0, 0, 0, 0, 0
	phases := map[string]int{}
	for i := 0; i < cycles; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), e2eCommandTimeout)
		cmd, _, _ := e.command(ctx, "certificate", "renew", "--force")
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if killWhen(t, e, rng, i, full, done) {
			cmd.Process.Kill()
			<-done
			kills++
			orphans++
		}
		cancel()
		// A killed exrunbook cannot close its PSRP session: Exchange keeps
		// it until its idle timeout and refuses a user's 19th session
		// (PowerShellMaxConcurrency 18). Restarting the lab stands for
		// that timeout passing, before the orphans reach the limit.
		if orphans >= 8 {
			e.restart(t)
			orphans, restarts = 0, restarts+1
		}
		if b, err := os.ReadFile(filepath.Join(e.stateDir, "acme", "renew.json")); err == nil {
			var st struct{ Phase string }
			if json.Unmarshal(b, &st) == nil {
				phases[st.Phase]++
			}
		}
		if e.locked(t) {
			e.mustRun(t, 0, "unlock")
		}
		r := e.mustRun(t, 0, "certificate", "renew", "--output", "json")
		var rep renewJSON
		if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
			t.Fatalf("cycle %d: %v\n%s", i, err, r.out)
		}
		if rep.Resumed {
			resumed++
		}
		now := iisCertificate(t, e)
		for srv, thumbs := range pebbleCerts(t, e) {
			if len(thumbs) != 1 || thumbs[0] != now {
				t.Fatalf("cycle %d: %s holds the Pebble certificates %v; want only the bound %s", i, srv, thumbs, now)
			}
		}
		if now != cur {
			replaced++
		}
		cur = now
		noChallengeRecords(t, e)
	}
	t.Logf("%d cycles, %d kills (%d lab restarts for the sessions they left): %d renewals finished by the next run, %d cycles ended with a new certificate", cycles, kills, restarts, resumed, replaced)
	t.Logf("phases a kill left a renewal in: %v (an uninterrupted renewal takes %s)", phases, full.Round(time.Millisecond))
	if resumed == 0 || len(phases) < 3 {
		t.Errorf("the kills landed in too few phases of a renewal (%v): the test does not test resuming", phases)
	}
}

// testACMERenewNotProven: when the renewed certificate cannot be proven on
// the wire (EX02's HTTPS address answers nothing), renew fails with exit 1,
// the old certificate is bound again everywhere and the new one removed.
func testACMERenewNotProven(t *testing.T, bin string) {
	e, _ := acmeLab(t, bin, lab.Options{Mailboxes: 20, Allow: 2, Servers: 2, Seed: 17})
	e.mustRun(t, 0, "run", "--unattended", "--yes", "--until", "bind-certificate")
	before := iisCertificate(t, e)
	orgBefore := e.org(t)
	ep := e.l.Endpoints()
	env := e.env
	e.env = append(append([]string(nil), env...), "EXRUNBOOK_EXCHANGE_HTTPS=EX01="+ep.Servers["EX01"].HTTPS+",EX02=127.0.0.1:1")
	r := e.mustRun(t, 1, "certificate", "renew", "--force")
	e.env = env
	if !strings.Contains(r.errout, "not proven on the wire") || !strings.Contains(r.errout, before+" is still bound") {
		t.Errorf("the failure does not say what happened:\n%s", r.errout)
	}
	if got := iisCertificate(t, e); got != before {
		t.Fatalf("after a failed renewal IIS holds %s, not the old %s", got, before)
	}
	for srv, thumbs := range pebbleCerts(t, e) {
		if len(thumbs) != 1 || thumbs[0] != before {
			t.Errorf("%s holds the Pebble certificates %v after the failed renewal; want only %s", srv, thumbs, before)
		}
	}
	if got := e.org(t); string(got) != string(orgBefore) {
		t.Errorf("the org differs from before the failed renewal: %s", firstDiff(got, orgBefore))
	}
	if _, err := os.Stat(filepath.Join(e.stateDir, "acme", "renew.json")); !os.IsNotExist(err) {
		t.Errorf("the failed renewal is still recorded: %v", err)
	}
	var restored bool
	for _, je := range e.journal(t) {
		if je.Kind == "certificate-renew" && je.Details["action"] == "restore" {
			restored = true
		}
	}
	if !restored {
		t.Error("no journal line for restoring the old certificate")
	}
}

// renewPhases are the phases a renewal records, in order.
var renewPhases = []string{"ordering", "importing", "binding", "proving", "retiring"}

// killWhen waits for the moment to kill a renewal and reports whether it
// came before the process ended: one cycle in three at a random time
// within an uninterrupted renewal's duration (full), the others a few
// random milliseconds after the renewal records a randomly chosen phase
// (the Exchange phases are short next to the order, so random times alone
// rarely land in them).
func killWhen(t *testing.T, e *e2eLab, rng *rand.Rand, cycle int, full time.Duration, done chan error) bool {
	t.Helper()
	if cycle%3 == 0 {
		select {
		case err := <-done:
			done <- err
			return false
		case <-time.After(time.Duration(rng.Int64N(int64(full)))):
			return true
		}
	}
	target := renewPhases[rng.IntN(len(renewPhases))]
	jitter := time.Duration(rng.Int64N(int64(30 * time.Millisecond)))
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			done <- err
			return false
		case <-tick.C:
			b, err := os.ReadFile(filepath.Join(e.stateDir, "acme", "renew.json"))
			if err != nil {
				continue
			}
			var st struct{ Phase string }
			if json.Unmarshal(b, &st) == nil && st.Phase == target {
				time.Sleep(jitter)
				return true
			}
		}
	}
}

// testACMERenewFaults: renewals retry what failed transiently and finish.
// Renewals 1-3 run while Exchange throttles 20% of the
// Import-ExchangeCertificate calls: the injector draws only for the faults
// that are set, so with a fixed seed the throttled calls are the same on
// every run and the test knows that renew itself retried. Renewal 4 runs
// under 5% HTTP 500s and 2% dropped connections, which are drawn per
// request (how many requests a renewal makes depends on timing), and
// must finish all the same.
func testACMERenewFaults(t *testing.T, bin string) {
	e, p := acmeLab(t, bin, lab.Options{Mailboxes: 20, Allow: 2, Servers: 2, Seed: 18})
	e.mustRun(t, 0, "run", "--unattended", "--yes", "--until", "bind-certificate")
	// The faults reach the renewals only (the runbook under faults is
	// e2e's Faults test).
	cur := iisCertificate(t, e)
	retried := 0
	for i, faults := range []string{
		"throttle:Import-ExchangeCertificate=0.2,seed=18", "", "",
		"http500=0.05,drop=0.02,seed=18",
	} {
		if faults != "" {
			e.post(t, "/faults", faults)
		}
		r := e.mustRun(t, 0, "certificate", "renew", "--force")
		if i < 3 {
			retried += strings.Count(r.out, "failed transiently")
		}
		next := iisCertificate(t, e)
		if next == cur {
			t.Fatalf("renewal %d did not replace %s:\n%s", i+1, cur, r.out)
		}
		for srv, thumbs := range pebbleCerts(t, e) {
			if len(thumbs) != 1 || thumbs[0] != next {
				t.Fatalf("renewal %d: %s holds the Pebble certificates %v; want only %s", i+1, srv, thumbs, next)
			}
		}
		cur = next
	}
	t.Logf("3 renewals under throttling, %d operations retried by renew itself, then one under HTTP faults", retried)
	if retried == 0 {
		t.Error("no throttling reached renew (the seed should make some): the test does not test its retries")
	}
	issuedByPebble(t, p, presented(t, e))
}
