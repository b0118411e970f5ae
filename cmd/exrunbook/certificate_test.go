package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

const certRunbook = `name: cert-book
description: the certificate step alone
steps:
  - id: certificate
    kind: certificate
    title: Certificate
`

// `certificate complete FILE` against a lab: run waits (75) with the CSR
// written; a file that is not a certificate, or answers another key, is a
// usage error (2) and changes nothing; the lab CA's answer completes the
// request on EX01 (0) and the step is done.
func TestCertificateCompleteLab(t *testing.T) {
	f := newFixture(t, certRunbook)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	labDir := filepath.Join(f.dir, "lab")
	l, err := lab.Start(ctx, lab.Options{Dir: labDir, Mailboxes: 8, Allow: 2, Servers: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfgText, err := os.ReadFile(filepath.Join(labDir, lab.FileConfig))
	if err != nil {
		t.Fatal(err)
	}
	csrFile := filepath.Join(f.dir, "out", "ex01.csr")
	s := strings.Replace(string(cfgText), "  mode: pfx\n", "  mode: request\n  request:\n    csr_file: "+csrFile+"\n", 1)
	s = strings.Replace(s, "  servers: []", "  servers: [EX01]", 1)
	if s == string(cfgText) {
		t.Fatal("the lab config has changed shape")
	}
	write(t, f.config, s)

	if r := f.run(t, "certificate", "complete", filepath.Join(f.dir, "nothing.cer")); r.code != exitUsage {
		t.Fatalf("complete with a missing file: %d %s", r.code, r.errout)
	}
	early := filepath.Join(f.dir, "early.cer")
	write(t, early, string(l.CA().CertPEM()))
	if r := f.run(t, "certificate", "complete", early); r.code != exitRefused || !strings.Contains(r.errout, "not waiting") {
		t.Fatalf("complete before any request: %d %s", r.code, r.errout)
	}
	if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
		t.Fatalf("complete before any request created the state directory: %v", err)
	}
	r := f.run(t, "run", "--yes", "--unattended")
	if r.code != exitWaiting || !strings.Contains(r.errout+r.out, "exrunbook certificate complete FILE") {
		t.Fatalf("run: %d\n%s\n%s", r.code, r.out, r.errout)
	}
	csrPEM, err := os.ReadFile(csrFile)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ca.ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}

	notCert := filepath.Join(f.dir, "junk.cer")
	write(t, notCert, "hello")
	if r := f.run(t, "certificate", "complete", notCert); r.code != exitUsage {
		t.Fatalf("junk: %d %s", r.code, r.errout)
	}
	other, err := l.CA().Issue("other.contoso.test", []string{"other.contoso.test"}, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(f.dir, "wrong.cer")
	write(t, wrong, string(other.CertPEM()))
	if r := f.run(t, "certificate", "complete", wrong); r.code != exitUsage || !strings.Contains(r.errout, "not the answer to the request") {
		t.Fatalf("wrong answer: %d %s", r.code, r.errout)
	}
	if st := f.status(t).statuses()["certificate"]; st != "waiting" {
		t.Fatalf("after refused answers the step is %s", st)
	}

	signed, err := l.CA().SignCSR(csr, time.Now(), 400*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	answer := filepath.Join(f.dir, "answer.cer")
	write(t, answer, string(ca.CertificatePEM(signed)))
	r = f.run(t, "certificate", "complete", answer)
	if r.code != 0 || !strings.Contains(r.out, ca.Thumbprint(signed)) {
		t.Fatalf("complete: %d\n%s\n%s", r.code, r.out, r.errout)
	}
	if st := f.status(t).statuses()["certificate"]; st != "done" {
		t.Fatalf("the step is %s", st)
	}
	var status string
	l.Store().Read(func(o *org.Org) {
		if c, err := o.FindCertificate("EX01", ca.Thumbprint(signed)); err == nil {
			status = c.Status
		}
	})
	if status != org.CertValid {
		t.Fatalf("EX01 certificate status %q", status)
	}
	if r := f.run(t, "certificate", "complete", answer); r.code != exitRefused {
		t.Fatalf("complete again: %d %s", r.code, r.errout)
	}
}
