package org

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/google/uuid"
)

// TestOrgRestCoversEveryField keeps orgRest (what UpdateRest journals) in
// step with Org: every exported field but Mailboxes, same name and type.
func TestOrgRestCoversEveryField(t *testing.T) {
	ot, rt := reflect.TypeOf(Org{}), reflect.TypeOf(orgRest{})
	n := 0
	for i := 0; i < ot.NumField(); i++ {
		f := ot.Field(i)
		if !f.IsExported() || f.Name == "Mailboxes" || f.Name == "Generation" {
			continue
		}
		n++
		rf, ok := rt.FieldByName(f.Name)
		if !ok || rf.Type != f.Type || rf.Tag != f.Tag {
			t.Errorf("orgRest lacks %s %v %q", f.Name, f.Type, f.Tag)
		}
	}
	if n != rt.NumField() {
		t.Errorf("orgRest has %d fields, Org %d besides Mailboxes", rt.NumField(), n)
	}
	// And restOf/applyTo carry them all.
	a := &Org{Name: "A", Domain: "a.test", NetBIOS: "A", DomainController: "DC",
		Servers: []*Server{{Name: "S"}}, Certificates: []*Certificate{{Server: "S", Thumbprint: "T"}},
		VirtualDirectories: []*VDir{{Kind: KindOwa, Server: "S"}}, OutlookAnywhere: []*OutlookAnywhere{{Server: "S"}},
		ClientAccess: []*ClientAccessService{{Server: "S"}}, Config: OrganizationConfig{Name: "A", MapiHttpEnabled: true},
		PopSettings: []*ProtocolSettings{{Server: "S"}}, ImapSettings: []*ProtocolSettings{{Server: "S", LoginType: "x"}},
		Groups: []*Group{{Guid: uuid.New(), Name: "G"}}, Zones: []*Zone{{View: "internal", Name: "a.test."}},
		Mailboxes: []*Mailbox{{Guid: uuid.New(), Name: "M"}}}
	line, err := json.Marshal(journalEntry{Rest: restOf(a)})
	if err != nil {
		t.Fatal(err)
	}
	var e journalEntry
	if err := json.Unmarshal(line, &e); err != nil {
		t.Fatal(err)
	}
	b := &Org{Mailboxes: a.Mailboxes}
	e.Rest.applyTo(b)
	if !bytes.Equal(Canonical(a), Canonical(b)) {
		t.Fatalf("restOf/applyTo lose data:\n%s\n%s", Canonical(a), Canonical(b))
	}
}

// TestCanonicalStreamingMatchesWholeEncoding checks that CanonicalTo's
// mailbox-at-a-time output is byte for byte the indented encoding of the
// whole canonical organisation.
func TestCanonicalStreamingMatchesWholeEncoding(t *testing.T) {
	for _, o := range []*Org{fixture(40), fixture(0), fixture(1)} {
		c, mbx := canonicalOrg(o)
		for _, p := range mbx {
			m := *p
			m.WhenChanged, m.Password = zeroTime, ""
			c.Mailboxes = append(c.Mailboxes, &m)
		}
		if len(mbx) == 0 {
			c.Mailboxes = []*Mailbox{}
		}
		whole, err := indentJSON(c, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := Canonical(o); !bytes.Equal(got, whole) {
			t.Fatalf("streamed canonical JSON differs (%d mailboxes):\n%s\n----\n%s", len(mbx), got, whole)
		}
	}
}

// fixture is a small organisation with awkward mailbox data (the orgtest
// package cannot be imported here: it imports org).
func fixture(n int) *Org {
	o := &Org{Name: "C", Domain: "c.test", NetBIOS: "C", DomainController: "DC01.c.test"}
	names := []string{`O'Brien <x> & "y"`, "New\nLine", "Zoë ‘q’", "\x7f\u2028"}
	for i := 0; i < n; i++ {
		f := false
		m := &Mailbox{Guid: uuid.NewSHA1(uuid.NameSpaceOID, []byte{byte(i), byte(i >> 8)}), Name: names[i%len(names)],
			Alias: "a", EmailAddresses: []string{"SMTP:a@c.test"}, Password: "secret"}
		if i%3 == 0 {
			m.MapiHttpEnabled = &f
			m.EmailAddresses = nil
		}
		o.Mailboxes = append(o.Mailboxes, m)
	}
	o.Groups = []*Group{{Name: "G"}}
	return o
}

func TestUpdateRestKeepsMailboxIndex(t *testing.T) {
	o := fixture(10)
	s := NewMemory(o)
	if _, err := o.FindMailbox(o.Mailboxes[3].Guid.String()); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRest(func(o *Org) error {
		o.Groups = append(o.Groups, &Group{Guid: uuid.New(), Name: "New"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !o.idx.mbxBuilt || o.idx.grpBuilt {
		t.Fatalf("after UpdateRest: mailbox index built %v, group index built %v", o.idx.mbxBuilt, o.idx.grpBuilt)
	}
	if _, err := o.FindGroup("New"); err != nil {
		t.Fatal("the group index was not rebuilt:", err)
	}
}
