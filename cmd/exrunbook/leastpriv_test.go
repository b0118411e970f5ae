package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab"
)

// Least privilege: signed in as the lab's recipient-only admin (Recipient
// Management), `plan` fails the certificate step's permissions pre-check
// naming the missing cmdlets and their role, and changes nothing;
// `enforce` works as that admin.
func TestLeastPrivilegeLab(t *testing.T) {
	e := startEnforceLab(t, 30)
	ep := e.l.Endpoints()
	acct := ep.Users[lab.AccountRecipientAdmin]
	raw, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(raw), "user: "+yamlString(ep.Admin.User), "user: "+yamlString(acct.User), 1)
	cfg = strings.Replace(cfg, "password_file: "+yamlString(ep.Admin.PasswordFile), "password_file: "+yamlString(acct.PasswordFile), 1)
	if cfg == string(raw) || !strings.Contains(cfg, acct.PasswordFile) {
		t.Fatalf("could not switch the config to %s:\n%s", acct.User, raw)
	}
	e.config = e.config + ".recipient.yaml"
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	before := e.l.Org()
	r := cli(context.Background(), "", false, "--config", e.config, "--state-dir", e.stateDir, "plan")
	if r.code == 0 || !strings.Contains(r.errout+r.out, "Import-ExchangeCertificate (role Exchange Server Certificates)") ||
		!strings.Contains(r.errout+r.out, acct.User) {
		t.Fatalf("plan as %s: code %d\nstdout:\n%s\nstderr:\n%s", acct.User, r.code, tail(r.out, 2000), tail(r.errout, 2000))
	}
	if !bytes.Equal(before, e.l.Org()) {
		t.Fatal("plan changed the organisation")
	}
	if r := e.enforce("--max-changes", "1000"); r.code != 0 {
		t.Fatalf("enforce as %s: code %d\n%s", acct.User, r.code, r.errout)
	}
	e.decided(t)
}
