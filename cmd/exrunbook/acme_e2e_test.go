package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/acme"
	"github.com/exrunbook/exrunbook/internal/acme/pebbletest"
	"github.com/exrunbook/exrunbook/internal/dnsupdate/bindtest"
	"github.com/exrunbook/exrunbook/internal/lab"
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
	if !strings.Contains(msg, "DNS-01 challenge for") || !strings.Contains(msg, "cannot be answered") {
		t.Errorf("the failure does not say the challenge record could not be written:\n%s", tail(msg, 3000))
	}
	if got := e.org(t); string(got) != string(before) {
		t.Fatalf("the org changed although the challenge failed: %s", firstDiff(got, before))
	}
}
