package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad configs, bad runbooks and bad command lines all exit 2 with a
// message naming the key (or file:line), and leave the state directory
// untouched: not even created.
func TestBadInputExitsTwoAndTouchesNothing(t *testing.T) {
	type edit struct{ from, to string }
	cases := []struct {
		name    string
		config  []edit // edits to goodConfig
		runbook []edit // edits to testRunbook
		args    []string
		want    []string // in stderr; @CONFIG@ and @RUNBOOK@ are replaced by the paths
	}{
		// Configuration.
		{name: "endpoint not a URL", config: []edit{{"https://ex01.contoso.test/PowerShell/", "ex01.contoso.test"}},
			want: []string{"@CONFIG@:2: exchange.endpoint:", `"ex01.contoso.test"`, "https://"}},
		{name: "auth enum", config: []edit{{"auth: ntlm", "auth: digest"}}, want: []string{"@CONFIG@:3: exchange.auth:", `"digest"`, "kerberos, ntlm, basic"}},
		{name: "basic over http", config: []edit{{"https://ex01.contoso.test/PowerShell/", "http://ex01.contoso.test/PowerShell/"}, {"auth: ntlm", "auth: basic"}},
			want: []string{"exchange.auth:", "clear text"}},
		{name: "winrm endpoint", config: []edit{{"https://ex01.contoso.test/PowerShell/", "https://ex01.contoso.test:5986/wsman"}},
			want: []string{"exchange.endpoint:", "is the WinRM endpoint", "http://ex01.contoso.test/PowerShell/"}},
		{name: "internal is a URL", config: []edit{{"internal: outlook.contoso.test", "internal: https://outlook.contoso.test/owa"}},
			want: []string{"@CONFIG@:6: namespace.internal:", "not a URL"}},
		{name: "external is a URL", config: []edit{{"external: outlook-ext.contoso.test", "external: https://outlook-ext.contoso.test"}},
			want: []string{"namespace.external:", "expected a hostname such as outlook-ext.contoso.com, not a URL"}},
		{name: "external equals internal", config: []edit{{"external: outlook-ext.contoso.test", "external: outlook.contoso.test"}},
			want: []string{"namespace.external:", "same as namespace.internal"}},
		{name: "certificate mode", config: []edit{{"mode: thumbprint", "mode: magic"}}, want: []string{"@CONFIG@:10: certificate.mode:", `"magic"`}},
		{name: "short thumbprint", config: []edit{{"thumbprint: 5113AE", "thumbprint: 00"}}, want: []string{"certificate.thumbprint:", "40 hexadecimal digits"}},
		{name: "pfx without file", config: []edit{{"mode: thumbprint", "mode: pfx"}}, want: []string{"certificate.pfx_file: missing"}},
		{name: "duration", config: []edit{{"min_wait: 5s", "min_wait: two hours"}}, want: []string{"@CONFIG@:13: autodiscover.min_wait:", `"two hours"`, "2h"}},
		{name: "dns mode", config: []edit{{"mode: manual", "mode: axfr"}}, want: []string{"public_dns.mode:", "rfc2136, manual"}},
		{name: "rfc2136 needs server", config: []edit{{"mode: manual", "mode: rfc2136"}}, want: []string{"public_dns.server: missing", "public_dns.tsig.name: missing"}},
		{name: "zone without dot", config: []edit{{"zone: contoso.test.", "zone: contoso.test"}}, want: []string{"@CONFIG@:16: public_dns.zone:", "trailing dot"}},
		{name: "names outside zone", config: []edit{{"zone: contoso.test.", "zone: fabrikam.test."}}, want: []string{"namespace.internal:", `not inside public_dns.zone "fabrikam.test."`}},
		{name: "public ip", config: []edit{{"public_ip: 203.0.113.10", "public_ip: 203.0.113"}}, want: []string{"@CONFIG@:17: public_dns.public_ip:", `"203.0.113"`}},
		{name: "ttl", config: []edit{{"ttl: 2", "ttl: -5"}}, want: []string{"public_dns.ttl:", "positive"}},
		{name: "batch size", config: []edit{{"allow_group: AllowExternalAccess", "allow_group: AllowExternalAccess\n  batch_size: lots"}}, want: []string{"mailboxes.batch_size:", `"lots"`}},
		{name: "internal dns host:port", config: []edit{{"mailboxes:", "internal_dns: {server: 192.0.2.53}\nmailboxes:"}}, want: []string{"internal_dns.server:", "host:port"}},
		{name: "unknown key", config: []edit{{"ttl: 2", "ttl: 2\n  public_ipp: 203.0.113.11"}}, want: []string{"@CONFIG@:19: public_dns.public_ipp: unknown key; did you mean public_dns.public_ip?"}},
		{name: "secret in yaml", config: []edit{{"user: CONTOSO\\Administrator", "user: CONTOSO\\Administrator\n  password: Sup3rS3cret"}},
			want: []string{"@CONFIG@:5: exchange.password:", "EXRUNBOOK_EXCHANGE_PASSWORD", "exchange.password_file"}},
		{name: "secret file world-readable", config: []edit{{"user: CONTOSO\\Administrator", "user: CONTOSO\\Administrator\n  password_file: DIR/pw"}},
			want: []string{"exchange.password_file:", "0644", "chmod 600"}},
		{name: "yaml syntax", config: []edit{{"namespace:\n", "namespace: [\n"}}, want: []string{"@CONFIG@:", "invalid YAML"}},
		{name: "missing config file", args: []string{"--config", "DIR/nope.yaml", "run"}, want: []string{"nope.yaml", "no such file"}},
		// Runbooks.
		{name: "duplicate step id", runbook: []edit{{"id: second", "id: first"}}, want: []string{"@RUNBOOK@:7: duplicate step id \"first\" (first defined on line 4)"}},
		{name: "unknown kind", runbook: []edit{{"kind: test-set\n    title: Second", "kind: test-sett\n    title: Second"}},
			want: []string{"@RUNBOOK@:7: step second: kind \"test-sett\" is not available", "step kinds not available in this build: test-sett"}},
		{name: "unknown step field", runbook: []edit{{"approval: auto", "aproval: auto"}}, want: []string{"@RUNBOOK@:13: unknown step field \"aproval\"", "did you mean approval?"}},
		{name: "unknown runbook field", runbook: []edit{{"description:", "descripton:"}}, want: []string{"@RUNBOOK@:2: unknown runbook field \"descripton\""}},
		{name: "bad approval", runbook: []edit{{"approval: auto", "approval: sometimes"}}, want: []string{"@RUNBOOK@:10: step verify: approval \"sometimes\""}},
		{name: "step without kind", runbook: []edit{{"    kind: test-set\n    title: First change\n", "    title: First change\n"}}, want: []string{"@RUNBOOK@:4: step first has no kind"}},
		{name: "bad step parameter", runbook: []edit{{"title: First change", "title: First change\n    with: {bad: 1}"}}, want: []string{"@RUNBOOK@:4: step first (test-set): parameter bad: 1 is not accepted"}},
		{name: "runbook yaml syntax", runbook: []edit{{"steps:", "steps: {"}}, want: []string{"@RUNBOOK@:", "invalid YAML"}},
		{name: "missing runbook file", args: []string{"--runbook", "DIR/none.yaml", "run"}, want: []string{"none.yaml", "cannot read runbook"}},
		{name: "config and runbook both bad", config: []edit{{"ttl: 2", "ttl: x"}}, runbook: []edit{{"id: second", "id: first"}},
			want: []string{"public_dns.ttl:", "@RUNBOOK@:7: duplicate step id"}},
		// Command lines.
		{name: "unknown flag", args: []string{"run", "--yess"}, want: []string{"unknown flag: --yess"}},
		{name: "unknown command", args: []string{"rnu"}, want: []string{"unknown command \"rnu\""}},
		{name: "bad output", args: []string{"--output", "xml", "status"}, want: []string{"--output \"xml\""}},
		{name: "bad log level", args: []string{"--log-level", "loud", "run"}, want: []string{"--log-level \"loud\""}},
		{name: "run takes no args", args: []string{"run", "first"}, want: []string{"unknown command \"first\""}},
		{name: "rollback without id", args: []string{"rollback"}, want: []string{"exactly one step ID, or --all"}},
		{name: "rollback id and all", args: []string{"rollback", "first", "--all"}, want: []string{"not both"}},
		{name: "skip without reason", args: []string{"skip", "first"}, want: []string{"required flag(s) \"reason\""}},
		{name: "unknown step", args: []string{"run", "--until", "fifth", "--yes", "--unattended"}, want: []string{"unknown step \"fifth\""}},
		{name: "rollback unknown step", args: []string{"rollback", "frist", "--yes"}, want: []string{"unknown step \"frist\"; the runbook test-book has: first, second, verify"}},
		{name: "skip unknown step", args: []string{"skip", "frist", "--reason", "x"}, want: []string{"unknown step \"frist\""}},
		{name: "skip blank reason", args: []string{"skip", "first", "--reason", " "}, want: []string{"skip needs a reason"}},
		{name: "check unknown step", args: []string{"check", "first", "frist"}, want: []string{"unknown step \"frist\""}},
		{name: "until and only", args: []string{"run", "--until", "first", "--only", "second", "--yes", "--unattended"}, want: []string{"--until and --only"}},
	}
	if len(cases) < 25 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, testRunbook)
			cfg, rb := goodConfig, testRunbook
			for _, e := range c.config {
				if !strings.Contains(cfg, e.from) {
					t.Fatalf("config lacks %q", e.from)
				}
				cfg = strings.Replace(cfg, e.from, strings.ReplaceAll(e.to, "DIR", f.dir), 1)
			}
			for _, e := range c.runbook {
				if !strings.Contains(rb, e.from) {
					t.Fatalf("runbook lacks %q", e.from)
				}
				rb = strings.Replace(rb, e.from, e.to, 1)
			}
			write(t, f.config, cfg)
			write(t, f.runbook, rb)
			write(t, filepath.Join(f.dir, "pw"), "not-shown")
			args := c.args
			if args == nil {
				args = []string{"run", "--unattended", "--yes"}
			}
			for i := range args {
				args[i] = strings.ReplaceAll(args[i], "DIR", f.dir)
			}
			r := cli(context.Background(), "", false, f.args(args...)...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.out, r.errout)
			}
			for _, w := range c.want {
				w = strings.ReplaceAll(strings.ReplaceAll(w, "@CONFIG@", f.config), "@RUNBOOK@", f.runbook)
				if !strings.Contains(r.errout, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.errout)
				}
			}
			if strings.Contains(r.errout+r.out, "Sup3rS3cret") || strings.Contains(r.errout+r.out, "not-shown") {
				t.Error("a secret value was printed")
			}
			if _, err := os.Stat(f.stateDir); !os.IsNotExist(err) {
				entries, _ := os.ReadDir(f.stateDir)
				t.Errorf("state directory touched: %v %v", err, fmt.Sprint(entries))
			}
		})
	}
}
