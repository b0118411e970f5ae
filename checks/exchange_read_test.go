package checks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

// With Read set, CertificatePresentCheck judges that read and launches
// nothing; a failed read fails the check.
func TestCertificatePresentCheckJudgesGivenRead(t *testing.T) {
	env := fixedEnv{time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}
	hosts := []string{"outlook.contoso.test", "outlook-ext.contoso.test"}
	cases := []struct {
		name   string
		certs  []exchange.Certificate
		err    error
		status check.Status
		msg    string
	}{
		{"on both", []exchange.Certificate{exCert("EX01", "AAAA", "None"), exCert("EX02", "aaaa", "IIS")}, nil, check.Pass, "installed with its private key"},
		{"missing on EX02", []exchange.Certificate{exCert("EX01", "AAAA", "None")}, nil, check.Fail, "EX02: certificate AAAA is not installed"},
		{"read fails", nil, errors.New("WinRM refused"), check.Fail, "reading the certificates: WinRM refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeExchange{}
			reads := 0
			chk := &CertificatePresentCheck{Client: exchange.New(f), Servers: []string{"EX01", "EX02"}, Thumbprint: "aaaa", Hosts: hosts,
				Read: func(context.Context) ([]exchange.Certificate, error) { reads++; return c.certs, c.err }}
			r := chk.Run(context.Background(), env)
			if r.Status != c.status || !strings.Contains(r.Message, c.msg) || reads != 1 || len(f.scripts) != 0 {
				t.Fatalf("%+v (%d reads, %d scripts)", r, reads, len(f.scripts))
			}
		})
	}
	chk := &CertificatePresentCheck{Servers: []string{"EX01"}, Thumbprint: "AAAA",
		Read: func(context.Context) ([]exchange.Certificate, error) {
			return []exchange.Certificate{exCert("EX01", "AAAA", "None")}, nil
		}}
	if r := chk.Run(context.Background(), env); r.Status == check.Fail && strings.Contains(r.Message, "nothing to check") {
		t.Fatalf("a Read without a Client was refused: %+v", r)
	}
}

// With Read set, CertificateBoundCheck judges that one read (certificates
// and POP/IMAP together) and launches nothing; a server missing from the
// POP/IMAP read fails.
func TestCertificateBoundCheckJudgesGivenRead(t *testing.T) {
	ext := "outlook-ext.contoso.test"
	certs := []exchange.Certificate{exCert("EX01", "AAAA", "IIS, SMTP"), exCert("EX02", "AAAA", "IIS, SMTP")}
	both := []exchange.PopImapSettings{{Server: "EX01", PopX509CertificateName: sp(ext), ImapX509CertificateName: sp(ext)},
		{Server: "EX02", PopX509CertificateName: sp("OUTLOOK-EXT.contoso.test"), ImapX509CertificateName: sp(ext)}}
	cases := []struct {
		name   string
		certs  []exchange.Certificate
		pi     []exchange.PopImapSettings
		err    error
		status check.Status
		msg    string
	}{
		{"bound and named", certs, both, nil, check.Pass, "POP and IMAP use " + ext},
		{"EX02 not read", certs, both[:1], nil, check.Fail, "EX02: no POP and IMAP settings were read"},
		{"SMTP missing", []exchange.Certificate{certs[0], exCert("EX02", "AAAA", "IIS")}, both, nil, check.Fail, "EX02: certificate AAAA holds IIS, not IIS, SMTP"},
		{"IMAP $null", certs, []exchange.PopImapSettings{both[0], {Server: "EX02", PopX509CertificateName: sp(ext)}}, nil, check.Fail, "EX02: IMAP X509CertificateName is $null"},
		{"read fails", nil, nil, errors.New("refused"), check.Fail, "reading the certificates and the POP and IMAP settings: refused"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reads := 0
			chk := &CertificateBoundCheck{Servers: []string{"EX01", "EX02"}, Thumbprint: "aaaa", Services: []string{"IIS", "SMTP"}, X509CertificateName: ext,
				Read: func(context.Context) ([]exchange.Certificate, []exchange.PopImapSettings, error) {
					reads++
					return c.certs, c.pi, c.err
				}}
			r := chk.Run(context.Background(), nil)
			if r.Status != c.status || !strings.Contains(r.Message, c.msg) || reads != 1 {
				t.Fatalf("%+v (%d reads)", r, reads)
			}
		})
	}
}
