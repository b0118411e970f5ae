package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertificateRenewPrintScheduleAndUsage(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exrunbook.yaml")
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := `exchange:
  endpoint: https://ex01.contoso.com/PowerShell/
  auth: ntlm
  user: CONTOSO\admin
  password_file: pw
namespace: {internal: outlook.contoso.com, external: outlook-ext.contoso.com, autodiscover: autodiscover.contoso.com}
public_dns: {mode: rfc2136, zone: contoso.com., server: "ns1.contoso.com:53", public_ip: 203.0.113.10, tsig: {name: exrunbook-update.}}
mailboxes: {allow_group: AllowExternalAccess}
`
	write(t, cfg, base+"certificate: {mode: acme, acme: {directory: https://acme-staging-v02.api.letsencrypt.org/directory, renew_before: 30d}}\n")
	state := filepath.Join(dir, "state")
	r := cli(context.Background(), "", false, "--config", cfg, "--state-dir", state, "certificate", "renew", "--print-schedule", "systemd")
	if r.code != 0 {
		t.Fatalf("systemd: %d %s", r.code, r.errout)
	}
	for _, want := range []string{"OnCalendar=0/12:00", "certificate renew", "--config " + cfg, "Persistent=true",
		"LoadCredential=public-dns-tsig-secret:/etc/exrunbook/public-dns-tsig-secret", "EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET_FILE="} {
		if !strings.Contains(r.out, want) {
			t.Errorf("systemd lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "exchange-password") {
		t.Errorf("exchange.password_file is configured: no credential needed for it:\n%s", r.out)
	}
	r = cli(context.Background(), "", false, "--config", cfg, "--state-dir", state, "certificate", "renew", "--print-schedule", "windows")
	if r.code != 0 || !strings.Contains(r.out, "<Interval>PT720M</Interval>") {
		t.Fatalf("windows: %d %s\n%s", r.code, r.errout, r.out)
	}
	for _, bad := range [][]string{{"--print-schedule", "cron"}, {"--print-schedule", "systemd", "--force"}, {"extra"}} {
		r = cli(context.Background(), "", false, append([]string{"--config", cfg, "--state-dir", state, "certificate", "renew"}, bad...)...)
		if r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", bad, r.code, r.errout)
		}
	}
	// Not acme mode: a usage error that touches nothing.
	write(t, cfg, base+`certificate: {mode: thumbprint, thumbprint: "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"}`+"\n")
	r = cli(context.Background(), "", false, "--config", cfg, "--state-dir", state, "certificate", "renew")
	if r.code != 2 || !strings.Contains(r.errout, "certificate.mode is \"thumbprint\"") {
		t.Fatalf("thumbprint mode: %d %s", r.code, r.errout)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("the state directory was created for a refused renew: %v", err)
	}
}
