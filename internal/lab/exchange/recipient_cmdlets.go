package exchange

import (
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/google/uuid"
)

func (x *ex) getMailbox(c *pwsh.Call) error {
	q, err := x.parseQuery(c, recipientFilterable, recipientFilterableList)
	if err != nil {
		return writeErr(c, err, nil)
	}
	if v, ok := c.Param("Server"); ok && v != nil {
		var ferr error
		x.st.Read(func(o *org.Org) {
			s, err := o.FindServer(identityText(v, "Name", "Fqdn"))
			if err != nil {
				ferr = err
				return
			}
			q.server = strings.ToLower(s.Name)
		})
		if ferr != nil {
			return writeErr(c, ferr, v)
		}
	}
	if v, ok := c.Param("Database"); ok && v != nil {
		q.database = identityText(v, "Name")
	}
	return x.stream(c, q, true, false, func(r *recipient) *pwsh.Object { return mailboxObject(r.m) }, nil)
}

func (x *ex) getCASMailbox(c *pwsh.Call) error {
	q, err := x.parseQuery(c, casFilterable, casFilterableList)
	if err != nil {
		return writeErr(c, err, nil)
	}
	var onRow func()
	if x.opts.Stats != nil {
		onRow = func() { x.opts.Stats.CASMailboxRows.Add(1) }
	}
	return x.stream(c, q, true, false, func(r *recipient) *pwsh.Object { return casMailboxObject(r.m) }, onRow)
}

func (x *ex) getRecipient(c *pwsh.Call) error {
	q, err := x.parseQuery(c, recipientFilterable, recipientFilterableList)
	if err != nil {
		return writeErr(c, err, nil)
	}
	if v, ok := c.Param("Database"); ok && v != nil {
		q.database = identityText(v, "Name")
	}
	return x.stream(c, q, true, true, func(r *recipient) *pwsh.Object { return reducedRecipient("Get-Recipient", r) }, nil)
}

func (x *ex) getDistributionGroup(c *pwsh.Call) error {
	q, err := x.parseQuery(c, recipientFilterable, recipientFilterableList)
	if err != nil {
		return writeErr(c, err, nil)
	}
	return x.stream(c, q, false, true, func(r *recipient) *pwsh.Object { return distributionGroupObject(r.g) }, nil)
}

func (x *ex) getGroup(c *pwsh.Call) error {
	q, err := x.parseQuery(c, recipientFilterable, recipientFilterableList)
	if err != nil {
		return writeErr(c, err, nil)
	}
	names := map[uuid.UUID]string{}
	x.st.Read(func(o *org.Org) {
		for _, g := range o.Groups {
			for _, id := range g.Members {
				switch r := o.RecipientByGuid(id).(type) {
				case *org.Mailbox:
					names[id] = org.CanonicalName(r.DistinguishedName)
				case *org.Group:
					names[id] = org.CanonicalName(r.DistinguishedName)
				}
			}
		}
	})
	return x.stream(c, q, false, true, func(r *recipient) *pwsh.Object {
		g := r.g
		var members []string
		for _, id := range g.Members {
			if n, ok := names[id]; ok {
				members = append(members, n)
			}
		}
		return newObject("Get-Group", "Microsoft.Exchange.Data.Directory.Management.WindowsGroup",
			"Name", g.Name, "DisplayName", g.DisplayName, "RecipientType", recipientType(g.RecipientTypeDetails),
			"RecipientTypeDetails", g.RecipientTypeDetails, "Members", arrV(members), "ManagedBy", arrV(nil),
			"Notes", "", "IsHierarchicalGroup", false, "SimpleDisplayName", "", "WindowsEmailAddress", g.PrimarySmtpAddress,
			"Identity", org.CanonicalName(g.DistinguishedName), "Guid", guidV(g.Guid), "DistinguishedName", g.DistinguishedName,
			"GroupType", groupType(g.RecipientTypeDetails), "SamAccountName", g.SamAccountName,
			"WhenCreated", g.WhenCreated, "WhenChanged", g.WhenCreated)
	}, nil)
}

// getDistributionGroupMember lists a group's direct members; a nested group
// is a member of type group, not expanded.
func (x *ex) getDistributionGroupMember(c *pwsh.Call) error {
	q, err := x.parseQuery(c, recipientFilterable, recipientFilterableList)
	if err != nil {
		return writeErr(c, err, nil)
	}
	var members []*recipient
	var ferr error
	idv, _ := c.Param("Identity")
	x.st.Read(func(o *org.Org) {
		g, err := o.FindGroup(identityText(idv))
		if err != nil {
			ferr = err
			return
		}
		for _, id := range g.Members {
			switch r := o.RecipientByGuid(id).(type) {
			case *org.Mailbox:
				m := *r
				members = append(members, &recipient{m: &m})
			case *org.Group:
				gg := *r
				members = append(members, &recipient{g: &gg})
			case *org.DynamicGroup:
				dd := *r
				members = append(members, &recipient{d: &dd})
			}
		}
	})
	if ferr != nil {
		return writeErr(c, ferr, idv)
	}
	var count int64
	for _, r := range members {
		if q.limit >= 0 && count >= q.limit {
			if q.explicit {
				return c.WriteWarning(explicitResultSizeWarning)
			}
			return c.WriteWarning(defaultResultSizeWarning)
		}
		count++
		if err := c.WriteObject(reducedRecipient("Get-DistributionGroupMember", r)); err != nil {
			return err
		}
	}
	return nil
}

// setCASMailbox changes one mailbox's CAS settings and identity fields.
func (x *ex) setCASMailbox(c *pwsh.Call) error {
	idv, _ := c.Param("Identity")
	if v, ok := c.Param("MapiHttpEnabled"); ok && v != nil {
		switch v.(type) {
		case bool, int64, float64:
		default:
			return writeErr(c, &pwsh.Error{
				Message:       fmt.Sprintf("Cannot process argument transformation on parameter 'MapiHttpEnabled'. Cannot convert value \"%s\" to type \"System.Nullable`1[System.Boolean]\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.", pwsh.ToString(v)),
				ExceptionType: "System.Management.Automation.ParameterBindingArgumentTransformationException", Category: pwsh.CatInvalidData,
				ErrorID: "ParameterArgumentTransformationError"}, v)
		}
	}
	var id uuid.UUID
	var ferr error
	x.st.Read(func(o *org.Org) {
		if ob, ok := idv.(*pwsh.Object); ok {
			if gv, ok := ob.Get("Guid"); ok {
				if g, ok := gv.(pwsh.Guid); ok && o.MailboxByGuid(uuid.UUID(g)) != nil {
					id = uuid.UUID(g)
					return
				}
			}
		}
		m, err := o.FindMailbox(identityText(idv))
		if err == nil && !forestView(c) && !strings.EqualFold(org.DomainOf(m.DistinguishedName), o.Domain) {
			// outside the session's domain, as Exchange scopes it
			err = &org.NotFoundError{Identity: identityText(idv), DomainController: o.DomainController}
		}
		if err != nil {
			ferr = err
			return
		}
		id = m.Guid
	})
	if ferr != nil {
		return writeErr(c, ferr, idv)
	}
	if c.Bool("WhatIf") {
		return nil
	}
	// Identity fields must stay unique.
	for _, p := range []string{"PrimarySmtpAddress", "SamAccountName", "Name"} {
		v, ok := c.Param(p)
		if !ok {
			continue
		}
		s := pwsh.ToString(v)
		var clash bool
		x.st.Read(func(o *org.Org) {
			r, err := o.FindRecipient(s)
			if err == nil {
				if m, ok := r.(*org.Mailbox); !ok || m.Guid != id {
					clash = true
				}
			} else if _, amb := err.(*org.AmbiguousError); amb {
				clash = true
			}
		})
		if clash {
			return writeErr(c, taskError("Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", pwsh.CatInvalidArgument, idv,
				"The %s '%s' is already used by another recipient.", p, s), idv)
		}
	}
	err := x.st.UpdateMailbox(id, func(m *org.Mailbox) error {
		for _, name := range c.Bound() {
			val, _ := c.Param(name)
			if casMailboxBools.set(m, name, val) {
				continue
			}
			switch name {
			case "MapiHttpEnabled":
				if val == nil {
					m.MapiHttpEnabled = nil
				} else {
					m.MapiHttpEnabled = ptr(pwsh.ToBool(val))
				}
			case "MAPIBlockOutlookVersions":
				m.MAPIBlockOutlookVersions = pwsh.ToString(val)
			case "DisplayName":
				m.DisplayName = pwsh.ToString(val)
			case "Name":
				m.Name = pwsh.ToString(val)
			case "SamAccountName":
				m.SamAccountName = pwsh.ToString(val)
			case "PrimarySmtpAddress":
				p := pwsh.ToString(val)
				addrs := []string{"SMTP:" + p}
				for _, a := range smtpAddrs(m.EmailAddresses, m.PrimarySmtpAddress) {
					k, rest, _ := strings.Cut(a, ":")
					if strings.EqualFold(rest, p) {
						continue
					}
					if k == "SMTP" {
						a = "smtp:" + rest
					}
					addrs = append(addrs, a)
				}
				m.PrimarySmtpAddress, m.EmailAddresses = p, addrs
			case "EmailAddresses":
				addrs := multiValued(smtpAddrs(m.EmailAddresses, m.PrimarySmtpAddress), val)
				for i, a := range addrs {
					if !strings.Contains(a, ":") {
						addrs[i] = "smtp:" + a
					}
				}
				for _, a := range addrs {
					if strings.HasPrefix(a, "SMTP:") {
						m.PrimarySmtpAddress = a[5:]
					}
				}
				m.EmailAddresses = addrs
			}
		}
		m.WhenChanged = x.now()
		return nil
	})
	if err != nil {
		return writeErr(c, err, idv)
	}
	if x.opts.Stats != nil {
		x.opts.Stats.MailboxWrites.Add(1)
	}
	return nil
}

// recipientDN is the DN of a *Mailbox, *Group or *DynamicGroup.
func recipientDN(r any) string {
	switch t := r.(type) {
	case *org.Mailbox:
		return t.DistinguishedName
	case *org.Group:
		return t.DistinguishedName
	case *org.DynamicGroup:
		return t.DistinguishedName
	}
	return ""
}
