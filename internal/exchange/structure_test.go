package exchange

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// skeleton replaces every single-quoted literal of a script with '…' and
// returns the literals' values, using the reference tokenizer.
func skeleton(t *testing.T, script string) (string, []string) {
	t.Helper()
	var b strings.Builder
	var lits []string
	for i := 0; i < len(script); {
		r, n := utf8.DecodeRuneInString(script[i:])
		if isSingleQuote(r) {
			v, m, ok := readSingleQuoted(script[i:])
			if !ok {
				t.Fatalf("unterminated literal at %d in:\n%s", i, script)
			}
			lits = append(lits, v)
			b.WriteString("'…'")
			i += m
			continue
		}
		b.WriteRune(r)
		i += n
	}
	return b.String(), lits
}

var hostileValues = []string{
	"x'; Remove-Mailbox -Identity * -Confirm:$false; '",
	"‘; Stop-Computer; ’",
	"‚‛''‘’",
	"$(Remove-Item C:\\ -Recurse)",
	"`'`\"",
	"line1\r\nline2\n'; ",
	"\x00nul",
	"@'\n'@",
	"\" + $env:PATH + \"",
	"Zoë Ørsted 山田 😀",
	"",
}

// Whatever the values, no generated script changes structure: the same
// skeleton, with the values coming back intact as literals.
func TestScriptStructureIndependentOfValues(t *testing.T) {
	ops := map[string]func(c *Client, v string){
		"servers_named": func(c *Client, v string) { _, _ = c.GetExchangeServers(context.Background(), []string{v, "EX02"}) },
		"certificates":  func(c *Client, v string) { _, _ = c.GetCertificates(context.Background(), []string{v}) },
		"import_pfx": func(c *Client, v string) {
			_, _ = c.ImportPFX(context.Background(), []string{v}, []byte(v+"pfx"), "pw")
		},
		"enable_certificate": func(c *Client, v string) {
			_, _ = c.EnableCertificate(context.Background(), v, v, []string{v, "SMTP"}, true)
		},
		"remove_certificate": func(c *Client, v string) { _ = c.RemoveCertificate(context.Background(), v, v) },
		"new_certificate_request": func(c *Client, v string) {
			_, _ = c.NewCertificateRequest(context.Background(), v, v, []string{v, v})
		},
		"import_certificate_response": func(c *Client, v string) {
			_, _ = c.ImportCertificateResponse(context.Background(), v, []byte(v+"x"))
		},
		"popimap_get": func(c *Client, v string) { _, _ = c.GetPopImapSettings(context.Background(), []string{v}) },
		"popimap_set": func(c *Client, v string) {
			_, _ = c.SetPopImapCertificateNames(context.Background(), []PopImapChange{{Server: v, Protocol: POP, Name: &v}})
		},
		"vdirs": func(c *Client, v string) { _, _ = c.GetVirtualDirectories(context.Background(), []string{v}) },
		"set_external_urls": func(c *Client, v string) {
			_, _ = c.SetExternalURLs(context.Background(), []VDirURLChange{{Kind: KindOWA, Guid: g1, ExternalUrl: &v}, {Kind: KindMAPI, Guid: g2, ExternalUrl: &v}})
		},
		"outlook_anywhere_get": func(c *Client, v string) { _, _ = c.GetOutlookAnywhere(context.Background(), []string{v}) },
		"outlook_anywhere_set": func(c *Client, v string) {
			_, _ = c.SetOutlookAnywhere(context.Background(), []OutlookAnywhereChange{{Guid: g1, ExternalHostname: &v, ExternalClientAuthenticationMethod: "Ntlm"}})
		},
		"client_access_services": func(c *Client, v string) {
			_, _ = c.GetClientAccessServices(context.Background(), []string{v})
		},
		"cas_mailboxes": func(c *Client, v string) { _, _ = c.GetCASMailboxes(context.Background(), []string{v}) },
		"expand_group":  func(c *Client, v string) { _, _ = c.ExpandGroup(context.Background(), v+"g") },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			benign := &fakeRunner{}
			op(New(benign), "EX01")
			if len(benign.scripts) != 1 {
				t.Fatalf("benign value ran %d scripts", len(benign.scripts))
			}
			want, _ := skeleton(t, benign.scripts[0])
			for _, v := range hostileValues {
				f := &fakeRunner{}
				op(New(f), v)
				if len(f.scripts) != 1 {
					t.Fatalf("value %q ran %d scripts", v, len(f.scripts))
				}
				got, lits := skeleton(t, f.scripts[0])
				if got != want {
					t.Fatalf("value %q changed the script's structure:\n%s\nwant:\n%s", v, got, want)
				}
				if v != "" && !strings.Contains(strings.Join(lits, "\x01"), v) {
					t.Fatalf("value %q does not come back as a literal: %q", v, lits)
				}
			}
		})
	}
}
