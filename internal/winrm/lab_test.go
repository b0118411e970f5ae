package winrm

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/lab"
)

// Against the lab's WS-Man server and PowerShell interpreter: every
// authentication method the lab speaks (Basic and NTLM, over https and
// http, NTLM over http sealed), stdin, CLIXML errors and warnings.
func TestAgainstLab(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{Dir: t.TempDir(), Mailboxes: 5, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ep := l.Endpoints()
	pwb, err := os.ReadFile(ep.Admin.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwb))
	script := "$ErrorActionPreference = 'Stop'\n$s = [Console]::In.ReadLine()\nWrite-Warning 'careful'\n[pscustomobject]@{ got = $s; n = 'Zoë' } | ConvertTo-Json -Compress\n"

	configs := map[string]Config{
		"basic https":      {Endpoint: ep.WinRM.HTTPS, Auth: AuthBasic, CAFile: ep.CAFile},
		"ntlm https":       {Endpoint: ep.WinRM.HTTPS, Auth: AuthNTLM, CAFile: ep.CAFile},
		"ntlm http":        {Endpoint: ep.WinRM.HTTP, Auth: AuthNTLM},
		"basic http opt":   {Endpoint: ep.WinRM.HTTP, Auth: AuthBasic, AllowHTTPBasic: true},
		"ntlm upn https":   {Endpoint: ep.WinRM.HTTPS, Auth: AuthNTLM, CAFile: ep.CAFile},
		"ntlm http sealed": {Endpoint: ep.WinRM.HTTP, Auth: AuthNTLM, Encryption: true},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			cfg.User, cfg.Password, cfg.OperationTimeout = ep.Admin.User, pw, 10*time.Second
			if name == "ntlm upn https" {
				// DOMAIN\user → user@domain
				dom, user, _ := strings.Cut(ep.Admin.User, `\`)
				cfg.User = user + "@" + strings.ToLower(dom)
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.RunPowerShell(ctx, script, "s3cret ‘x’\n")
			if err != nil {
				t.Fatalf("%v (stderr %q)", err, res.Stderr)
			}
			// The lab writes stdout in OEM code page 437 as powershell.exe
			// over WinRM does: ë is byte 0x89, ‘ and ’ are not in it.
			if strings.TrimSpace(res.Stdout) != "{\"got\":\"s3cret ?x?\",\"n\":\"Zo\x89\"}" || len(res.Warnings) != 1 || res.Warnings[0] != "careful" {
				t.Fatalf("got %+v", res)
			}
			_, err = c.RunPowerShell(ctx, "$ErrorActionPreference = 'Stop'\nGet-OrganizationConfig\n", "")
			var pe *PowerShellError
			if !errors.As(err, &pe) || !strings.Contains(pe.Message, "Get-OrganizationConfig") || pe.ExitCode != 1 {
				t.Fatalf("cmdlet without snap-in: %v", err)
			}
			cfg.Password = "wrong"
			c, _ = New(cfg)
			_, err = c.RunPowerShell(ctx, "1", "")
			var ae *AuthError
			if !errors.As(err, &ae) || engine.IsTransient(err) {
				t.Fatalf("wrong password: %v", err)
			}
		})
	}

	t.Run("https without the CA", func(t *testing.T) {
		c, err := New(Config{Endpoint: ep.WinRM.HTTPS, Auth: AuthNTLM, User: ep.Admin.User, Password: pw})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RunPowerShell(ctx, "1", "")
		var te *TLSError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), "exchange.ca_file") {
			t.Fatalf("got %v", err)
		}
	})
}
