package exchange

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// The lab writes stdout in OEM code page 437, as powershell.exe over WinRM
// does: raw non-ASCII JSON loses characters there, while the scripts'
// ASCII-escaped JSON brings every hostile name back byte for byte.
func TestLabNonASCIINamesSurviveOEMCodePage(t *testing.T) {
	e := startLab(t, 60)

	// Without the escaping, the code page corrupts the names.
	raw, err := e.c.r.RunPowerShell(e.ctx, scriptHeader+"ConvertTo-Json -InputObject "+Quote("Zo\u00eb \u5c71\u7530 \u2018q\u2019")+" -Compress\n", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(raw.Stdout); got != "\"Zo\x89 ?? ?q?\"" {
		t.Fatalf("the lab's stdout is not code page 437: %q", got)
	}
	// The same through jsonOut is pure ASCII and decodes exactly.
	esc, err := e.c.r.RunPowerShell(e.ctx, scriptHeader+jsonOut(Quote("Zo\u00eb \u5c71\u7530 \u2018q\u2019 \U0001F600"), 1), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(esc.Stdout); got != `"Zo\u00eb \u5c71\u7530 \u2018q\u2019 \ud83d\ude00"` {
		t.Fatalf("escaped output %q", got)
	}

	rows, err := e.c.GetCASMailboxes(e.ctx, []string{org.UserMailbox, org.SharedMailbox})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]CASMailbox{}
	for _, r := range rows {
		got[r.Guid] = r
	}
	var want []*org.Mailbox
	e.l.Store().Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails == org.UserMailbox || m.RecipientTypeDetails == org.SharedMailbox {
				want = append(want, m)
			}
		}
	})
	if len(rows) != len(want) {
		t.Fatalf("%d rows, the lab has %d mailboxes", len(rows), len(want))
	}
	nonASCII := 0
	for _, m := range want {
		r, ok := got[m.Guid.String()]
		if !ok {
			t.Errorf("mailbox %s (%q) missing", m.Guid, m.Name)
			continue
		}
		if r.Name != m.Name || r.Alias != m.Alias || r.PrimarySmtpAddress != m.PrimarySmtpAddress || r.RecipientTypeDetails != m.RecipientTypeDetails {
			t.Errorf("mailbox %s: got %q/%q/%q/%q, want %q/%q/%q/%q", m.Guid, r.Name, r.Alias, r.PrimarySmtpAddress, r.RecipientTypeDetails,
				m.Name, m.Alias, m.PrimarySmtpAddress, m.RecipientTypeDetails)
		}
		if !utf8.ValidString(r.Name) || strings.ContainsRune(r.Name, utf8.RuneError) {
			t.Errorf("mailbox %s: name %q is not clean UTF-8", m.Guid, r.Name)
		}
		if strings.IndexFunc(m.Name, func(c rune) bool { return c > 0x7E }) >= 0 {
			nonASCII++
		}
	}
	// every hostile name came back (Name is the display name with the line break as a space)
	names := map[string]bool{}
	for _, r := range rows {
		names[r.Name] = true
	}
	for _, h := range generate.HostileNames {
		if n := strings.ReplaceAll(h, "\n", " "); !names[n] {
			t.Errorf("hostile name %q missing", n)
		}
	}
	if nonASCII < 4 {
		t.Fatalf("only %d non-ASCII names: the test proves nothing", nonASCII)
	}
}
