package generate

import (
	"bytes"
	"github.com/google/uuid"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// TestForest: the forest options add an Edge server, the child domain's
// mailboxes and the dynamic group, and leave everything else as the plain
// organisation has it.
func TestForest(t *testing.T) {
	t.Parallel()
	plain := build(t, Options{Seed: 3}).Org
	r := build(t, Options{Seed: 3, Edge: true, ChildDomain: "emea", DynamicGroup: true})
	o := r.Org
	if !bytes.Equal(org.Canonical(build(t, Options{Seed: 3, Edge: true, ChildDomain: "emea", DynamicGroup: true}).Org), org.Canonical(o)) {
		t.Fatal("the forest is not deterministic")
	}

	var edge *org.Server
	for _, s := range o.Servers {
		if s.IsEdge() {
			if edge != nil {
				t.Fatal("two Edge servers")
			}
			edge = s
		}
	}
	if edge == nil || edge.Name != EdgeServer || edge.DatabaseAvailabilityGroup != "" || len(o.Servers) != len(plain.Servers)+1 {
		t.Fatalf("Edge server %+v among %d servers", edge, len(o.Servers))
	}
	for _, v := range o.VirtualDirectories {
		if v.Server == EdgeServer {
			t.Errorf("Edge server has the virtual directory %s", v.Identity())
		}
	}
	for _, c := range o.Certificates {
		if c.Server == EdgeServer {
			t.Errorf("Edge server has certificate %s", c.Thumbprint)
		}
	}
	for _, m := range o.Mailboxes {
		if strings.EqualFold(m.ServerName, EdgeServer) {
			t.Errorf("mailbox %s on the Edge server", m.Alias)
		}
	}

	var child []*org.Mailbox
	for _, m := range o.Mailboxes {
		if org.DomainOf(m.DistinguishedName) == "emea.contoso.test" {
			child = append(child, m)
			if !strings.HasSuffix(m.PrimarySmtpAddress, "@emea.contoso.test") || m.Password == "" {
				t.Errorf("child mailbox %+v", m)
			}
		}
	}
	if len(child) != 6 || len(o.Mailboxes) != len(plain.Mailboxes)+6 {
		t.Fatalf("%d child-domain mailboxes of %d", len(child), len(o.Mailboxes))
	}

	if len(o.DynamicGroups) != 1 {
		t.Fatalf("dynamic groups %v", o.DynamicGroups)
	}
	d := o.DynamicGroups[0]
	var allow *org.Group
	for _, g := range o.Groups {
		if g.Name == AllowGroup {
			allow = g
		}
	}
	has := func(ids []uuid.UUID, id uuid.UUID) bool {
		for _, x := range ids {
			if x == id {
				return true
			}
		}
		return false
	}
	if !has(allow.Members, d.Guid) || !has(allow.Members, child[0].Guid) {
		t.Fatal("the allow group lacks the dynamic group or the first child-domain mailbox")
	}
	o.InvalidateIndex()
	expanded := map[uuid.UUID]bool{}
	for _, m := range o.ExpandGroup(allow) {
		expanded[m.Guid] = true
	}
	selected, departmentOnly := 0, 0
	for _, m := range o.Mailboxes {
		if m.Department != DynamicDepartment {
			continue
		}
		if expanded[m.Guid] || org.DomainOf(m.DistinguishedName) != "contoso.test" {
			t.Errorf("dynamic member %s is also a static allow member or outside the first domain", m.Alias)
		}
		if m.CustomAttribute1 == DynamicAttribute {
			selected++
		} else {
			departmentOnly++
		}
	}
	if selected != DynamicMembers || departmentOnly != 1 {
		t.Errorf("%d mailboxes match the filter, %d the department only", selected, departmentOnly)
	}
	if !strings.Contains(d.RecipientFilter, "Department -eq '"+DynamicDepartment+"'") || d.RecipientContainer != "OU=Users,DC=contoso,DC=test" {
		t.Errorf("dynamic group %+v", d)
	}
}
