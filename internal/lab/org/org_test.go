package org_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
	"github.com/google/uuid"
)

func gen(n int) func() (*org.Org, error) {
	return func() (*org.Org, error) { return orgtest.New(n), nil }
}

func TestServicesString(t *testing.T) {
	cases := []struct {
		s    org.Services
		want string
	}{
		{0, "None"},
		{org.ServiceIIS, "IIS"},
		{org.ServiceIIS | org.ServiceSMTP | org.ServiceIMAP | org.ServicePOP, "IMAP, POP, IIS, SMTP"},
		{org.ServiceSMTP | org.ServiceUM, "UM, SMTP"},
	}
	for _, c := range cases {
		if got := c.s.String(); got != c.want {
			t.Errorf("%d: %q, want %q", c.s, got, c.want)
		}
		back, ok := org.ParseServices(c.want)
		if !ok || back != c.s {
			t.Errorf("ParseServices(%q) = %v %v", c.want, back, ok)
		}
	}
	if _, ok := org.ParseServices("IIS, Bogus"); ok {
		t.Error("ParseServices accepted Bogus")
	}
	if s, ok := org.ParseServices("iis,smtp"); !ok || s != org.ServiceIIS|org.ServiceSMTP {
		t.Errorf("case-insensitive parse: %v %v", s, ok)
	}
}

func TestFindMailboxForms(t *testing.T) {
	o := orgtest.New(20)
	want := o.Mailboxes[10]
	for _, id := range []string{
		want.Guid.String(), strings.ToUpper(want.Guid.String()), "user10", "USER10", "User 10",
		"user10@contoso.test", `CONTOSO\user10`, `contoso\USER10`, want.DistinguishedName,
		"contoso.test/Users/User 10", want.LegacyExchangeDN,
	} {
		m, err := o.FindMailbox(id)
		if err != nil || m != want {
			t.Errorf("FindMailbox(%q) = %v, %v", id, m, err)
		}
	}
	_, err := o.FindMailbox("nobody")
	var nf *org.NotFoundError
	if !errors.As(err, &nf) || err.Error() != "The operation couldn't be performed because object 'nobody' couldn't be found on 'DC01.contoso.test'." {
		t.Errorf("not found: %v", err)
	}
	// Two mailboxes with the same display-name-derived Name are ambiguous by name.
	o.Mailboxes[11].Name = "User 10"
	o.InvalidateIndex()
	_, err = o.FindMailbox("user 10")
	var am *org.AmbiguousError
	if !errors.As(err, &am) || err.Error() != "The operation couldn't be performed because 'user 10' matches multiple entries." {
		t.Errorf("ambiguous: %v", err)
	}
	// Hostile names resolve as data.
	for i, name := range orgtest.HostileNames {
		m, err := o.FindMailbox(name)
		if err != nil || m != o.Mailboxes[i] {
			t.Errorf("hostile %q: %v %v", name, m, err)
		}
	}
}

func TestFindGroupAndExpand(t *testing.T) {
	o := orgtest.New(10)
	g, err := o.FindGroup("allowexternalaccess@contoso.test")
	if err != nil {
		t.Fatal(err)
	}
	got := o.ExpandGroup(g)
	if len(got) != 3 || got[0] != o.Mailboxes[0] || got[1] != o.Mailboxes[1] || got[2] != o.Mailboxes[9] {
		t.Fatalf("expand: %v", got)
	}
	// A cycle does not loop.
	nested, _ := o.FindGroup("AllowNested")
	nested.Members = append(nested.Members, g.Guid)
	if n := len(o.ExpandGroup(g)); n != 3 {
		t.Fatalf("cycle: %d", n)
	}
	r, err := o.FindRecipient("AllowNested")
	if _, ok := r.(*org.Group); !ok || err != nil {
		t.Fatalf("recipient group: %v %v", r, err)
	}
	if _, err := o.FindGroup("user1"); err == nil {
		t.Fatal("a mailbox resolved as a group")
	}
}

func TestFindVDirs(t *testing.T) {
	o := orgtest.New(0)
	cases := []struct {
		id, server string
		n          int
	}{
		{`EX01\owa (Default Web Site)`, "", 1},
		{`ex02\OWA (default web site)`, "", 1},
		{`owa (Default Web Site)`, "", 2},
		{`owa (Default Web Site)`, "EX02", 1},
		{`owa (Default Web Site)`, "ex02.contoso.test", 1},
		{`EX01\owa*`, "", 1},
		{orgtest.ID("vdir/EX02/Owa").String(), "", 1},
	}
	for _, c := range cases {
		v, err := o.FindVDirs(org.KindOwa, c.id, c.server)
		if err != nil || len(v) != c.n {
			t.Errorf("FindVDirs(%q,%q) = %d, %v", c.id, c.server, len(v), err)
		}
	}
	if _, err := o.FindVDirs(org.KindOwa, `EX03\owa (Default Web Site)`, ""); err == nil {
		t.Error("EX03 found")
	}
	if _, err := o.FindVDirs(org.KindEcp, orgtest.ID("vdir/EX02/Owa").String(), ""); err == nil {
		t.Error("an OWA GUID resolved as ECP")
	}
}

func TestStorePersistsAndRestartContinues(t *testing.T) {
	dir := t.TempDir()
	s, err := org.OpenOrCreate(dir, gen(30))
	if err != nil {
		t.Fatal(err)
	}
	initial, err := s.Initial()
	if err != nil || !bytes.Equal(initial, s.Canonical()) {
		t.Fatalf("initial file differs from canonical: %v", err)
	}
	var id = orgtest.ID("mbx/user20")
	if err := s.UpdateMailbox(id, func(m *org.Mailbox) error { m.MAPIBlockOutlookRpcHttp = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(o *org.Org) error {
		v, _ := o.FindVDirs(org.KindOwa, `EX01\owa (Default Web Site)`, "")
		v[0].ExternalUrl = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateMailbox(id, func(m *org.Mailbox) error { m.OWAEnabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	// No Close: as if the process had been killed. The journal holds the last change.
	if _, err := os.Stat(filepath.Join(dir, org.FileJournal)); err != nil {
		t.Fatalf("journal: %v", err)
	}
	generated := false
	s2, err := org.OpenOrCreate(dir, func() (*org.Org, error) { generated = true; return orgtest.New(1), nil })
	if err != nil {
		t.Fatal(err)
	}
	if generated {
		t.Fatal("restart regenerated the organisation")
	}
	s2.Read(func(o *org.Org) {
		m := o.MailboxByGuid(id)
		if !m.MAPIBlockOutlookRpcHttp || m.OWAEnabled {
			t.Errorf("mailbox changes lost: %+v", m)
		}
		v, _ := o.FindVDirs(org.KindOwa, `EX01\owa (Default Web Site)`, "")
		if v[0].ExternalUrl != nil {
			t.Error("vdir change lost")
		}
		if m.Password == "" {
			t.Error("password not persisted")
		}
	})
	if !bytes.Equal(s.Canonical(), s2.Canonical()) {
		t.Fatal("restarted store differs")
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, org.FileJournal)); !os.IsNotExist(err) {
		t.Fatalf("journal not folded on Close: %v", err)
	}
	again, _ := s2.Initial()
	if !bytes.Equal(again, initial) {
		t.Fatal("org.initial.json was rewritten")
	}
}

func TestJournalTornLastLineIgnored(t *testing.T) {
	dir := t.TempDir()
	s, err := org.OpenOrCreate(dir, gen(5))
	if err != nil {
		t.Fatal(err)
	}
	id := orgtest.ID("mbx/hostile1")
	if err := s.UpdateMailbox(id, func(m *org.Mailbox) error { m.MAPIBlockOutlookExternalConnectivity = true; return nil }); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, org.FileJournal), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"Mailbox":{"Guid":"`)
	f.Close()
	s2, err := org.OpenOrCreate(dir, gen(5))
	if err != nil {
		t.Fatal(err)
	}
	s2.Read(func(o *org.Org) {
		if !o.MailboxByGuid(id).MAPIBlockOutlookExternalConnectivity {
			t.Error("complete journal line lost")
		}
	})
}

func TestCanonicalEqualAfterDoUndo(t *testing.T) {
	s := org.NewMemory(orgtest.New(12))
	before := s.Canonical()
	// Do.
	must(t, s.Update(func(o *org.Org) error {
		o.Certificates = append(o.Certificates, &org.Certificate{Server: "EX01", Thumbprint: "ABCDEF", Status: org.CertValid, KeyPEM: "secret", Services: org.ServiceIIS})
		o.Certificates[0].Services &^= org.ServiceIIS
		z := o.Zone("public")
		z.Records = append(z.Records[1:], org.Record{Name: "outlook-ext.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.20"}, z.Records[0])
		z.SOA.Serial = 99
		o.Config.MapiHttpEnabled = false
		o.Mailboxes[3].MAPIBlockOutlookRpcHttp = true
		o.Mailboxes[3].EmailAddresses = nil
		t := true
		o.Mailboxes[4].MapiHttpEnabled = &t
		return nil
	}))
	if bytes.Equal(before, s.Canonical()) {
		t.Fatal("change not visible in canonical JSON")
	}
	// Undo, in a different order and with slices rebuilt.
	must(t, s.Update(func(o *org.Org) error {
		z := o.Zone("public")
		var keep []org.Record
		for _, r := range z.Records {
			if r.Name != "outlook-ext.contoso.test." {
				keep = append(keep, r)
			}
		}
		z.Records = keep
		z.SOA.Serial = 100
		o.Certificates = o.Certificates[:len(o.Certificates)-1]
		o.Certificates[0].Services |= org.ServiceIIS
		o.Config.MapiHttpEnabled = true
		o.Mailboxes[3].MAPIBlockOutlookRpcHttp = false
		o.Mailboxes[3].EmailAddresses = []string{"SMTP:hostile3@contoso.test"}
		o.Mailboxes[4].MapiHttpEnabled = nil
		o.Mailboxes[5].WhenChanged = orgtest.Epoch.AddDate(1, 0, 0)
		o.Groups[0].Members = []uuid.UUID{o.Groups[0].Members[2], o.Groups[0].Members[0], o.Groups[0].Members[1]}
		return nil
	}))
	after := s.Canonical()
	if !bytes.Equal(before, after) {
		t.Fatalf("canonical differs after undo:\n%s", diff(before, after))
	}
	if !bytes.HasSuffix(after, []byte("}\n")) || bytes.Contains(after, []byte("secret")) || bytes.Contains(after, []byte("Passw0rd")) {
		t.Fatal("canonical form: trailing newline, no secrets")
	}
}

func TestHostileNamesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := org.OpenOrCreate(dir, gen(len(orgtest.HostileNames)))
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	s2, err := org.OpenOrCreate(dir, gen(0))
	if err != nil {
		t.Fatal(err)
	}
	var canon struct {
		Mailboxes []struct{ DisplayName string }
	}
	if err := json.Unmarshal(s2.Canonical(), &canon); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range canon.Mailboxes {
		seen[m.DisplayName] = true
	}
	for _, n := range orgtest.HostileNames {
		if !seen[n] {
			t.Errorf("hostile name %q did not round-trip", n)
		}
	}
}

func TestCanonicalName(t *testing.T) {
	cases := map[string]string{
		"CN=Alice,OU=Users,DC=contoso,DC=test":           "contoso.test/Users/Alice",
		`CN=O\, Brien \"x\",OU=Users,DC=contoso,DC=test`: `contoso.test/Users/O, Brien "x"`,
	}
	for dn, want := range cases {
		if got := org.CanonicalName(dn); got != want {
			t.Errorf("%q: %q, want %q", dn, got, want)
		}
	}
	for _, n := range orgtest.HostileNames {
		dn := "CN=" + org.EscapeRDN(n) + ",DC=x"
		if got := org.SplitDN(dn)[0][1]; got != n {
			t.Errorf("EscapeRDN/SplitDN %q → %q", n, got)
		}
	}
}

func FuzzSplitDN(f *testing.F) {
	for _, n := range orgtest.HostileNames {
		f.Add(n)
	}
	f.Add(`a,b\`)
	f.Fuzz(func(t *testing.T, v string) {
		dn := "CN=" + org.EscapeRDN(v) + ",OU=Users,DC=contoso,DC=test"
		if got := org.SplitDN(dn)[0][1]; got != v {
			t.Fatalf("%q → %q", v, got)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func diff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return strings.Join(al[max(0, i-3):min(len(al), i+3)], "\n") + "\n---\n" + strings.Join(bl[max(0, i-3):min(len(bl), i+3)], "\n")
		}
	}
	return "(b longer)"
}

func FuzzParseServices(f *testing.F) {
	for _, s := range []string{"IIS, SMTP", "None", "imap,pop", "Bogus", ",,", "UMCallRouter"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := org.ParseServices(s)
		if !ok {
			return
		}
		back, ok := org.ParseServices(v.String())
		if !ok || back != v {
			t.Fatalf("%q → %v → %q → %v", s, v, v.String(), back)
		}
	})
}

func TestUpdateRestIsJournalledAndReplayed(t *testing.T) {
	dir := t.TempDir()
	s, err := org.OpenOrCreate(dir, gen(20))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := os.Stat(filepath.Join(dir, org.FileOrg))
	must(t, s.UpdateRest(func(o *org.Org) error {
		v, _ := o.FindVDirs(org.KindOab, `EX02\OAB (Default Web Site)`, "")
		v[0].ExternalUrl = nil
		o.Config.MapiHttpEnabled = false
		return nil
	}))
	must(t, s.UpdateMailbox(orgtest.ID("mbx/user12"), func(m *org.Mailbox) error { m.ImapEnabled = false; return nil }))
	if after, _ := os.Stat(filepath.Join(dir, org.FileOrg)); !after.ModTime().Equal(info.ModTime()) || after.Size() != info.Size() {
		t.Error("UpdateRest rewrote org.json")
	}
	s2, err := org.OpenOrCreate(dir, gen(1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Canonical(), s2.Canonical()) {
		t.Fatal("journal replay differs")
	}
	s2.Read(func(o *org.Org) {
		if o.Config.MapiHttpEnabled || o.MailboxByGuid(orgtest.ID("mbx/user12")).ImapEnabled {
			t.Error("changes lost")
		}
	})
}

// TestStaleJournalIgnored simulates a crash between org.json's rename and
// the journal's removal: the old journal must not be replayed over the
// newer org.json.
func TestStaleJournalIgnored(t *testing.T) {
	dir := t.TempDir()
	s, err := org.OpenOrCreate(dir, gen(5))
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.UpdateRest(func(o *org.Org) error { o.Config.MapiHttpEnabled = false; return nil }))
	stale, err := os.ReadFile(filepath.Join(dir, org.FileJournal))
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Update(func(o *org.Org) error { o.Config.MapiHttpEnabled = true; return nil }))
	if err := os.WriteFile(filepath.Join(dir, org.FileJournal), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := org.OpenOrCreate(dir, gen(1))
	if err != nil {
		t.Fatal(err)
	}
	s2.Read(func(o *org.Org) {
		if !o.Config.MapiHttpEnabled {
			t.Fatal("a stale journal was replayed over a newer org.json")
		}
	})
	if !bytes.Equal(s.Canonical(), s2.Canonical()) {
		t.Fatal("restart differs")
	}
}
