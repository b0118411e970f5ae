package exchange

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// Every hostile and non-ASCII name comes back byte for byte through the
// Exchange endpoint (CLIXML is UTF-8, with _xHHHH_ escapes for what XML
// cannot carry).
func TestLabNonASCIINamesSurviveExactly(t *testing.T) {
	e := startLab(t, 60)

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
		// One read of Get-CASMailbox: no Alias, and no type when two were asked for.
		if r.Name != m.Name || r.PrimarySmtpAddress != m.PrimarySmtpAddress || r.Alias != "" || r.RecipientTypeDetails != "" {
			t.Errorf("mailbox %s: got %q/%q/%q/%q, want %q/%q and no alias or type", m.Guid, r.Name, r.Alias, r.PrimarySmtpAddress, r.RecipientTypeDetails,
				m.Name, m.PrimarySmtpAddress)
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
