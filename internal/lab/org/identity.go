package org

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

var zeroTime time.Time

// NotFoundError is Exchange's ManagementObjectNotFoundException.
type NotFoundError struct {
	Identity         string
	DomainController string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found on '%s'.", e.Identity, e.DomainController)
}

// Category is the PowerShell error category Exchange reports.
func (e *NotFoundError) Category() string { return "NotSpecified" }

// ExceptionType is the .NET exception type Exchange throws.
func (e *NotFoundError) ExceptionType() string {
	return "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
}

// AmbiguousError is Exchange's ManagementObjectAmbiguousException.
type AmbiguousError struct{ Identity string }

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("The operation couldn't be performed because '%s' matches multiple entries.", e.Identity)
}

// Category is the PowerShell error category Exchange reports.
func (e *AmbiguousError) Category() string { return "NotSpecified" }

// ExceptionType is the .NET exception type Exchange throws.
func (e *AmbiguousError) ExceptionType() string {
	return "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException"
}

// InvalidValueError is a value that cannot be converted to an Exchange type.
type InvalidValueError struct{ Value, Type string }

func (e *InvalidValueError) Error() string {
	return fmt.Sprintf("Cannot convert value \"%s\" to type \"%s\".", e.Value, e.Type)
}

// InvalidateIndex drops the identity index; the next lookup rebuilds it.
// Store.Update calls it; code that changes names, addresses or membership
// outside a Store must call it.
func (o *Org) InvalidateIndex() {
	o.idx.mu.Lock()
	o.idx.mbxBuilt, o.idx.grpBuilt = false, false
	o.idx.mbx, o.idx.mbxByID, o.idx.grp, o.idx.grpByID = nil, nil, nil, nil
	o.idx.mu.Unlock()
}

// invalidateGroups drops the group half of the index only: for changes
// that leave the mailboxes alone.
func (o *Org) invalidateGroups() {
	o.idx.mu.Lock()
	o.idx.grpBuilt = false
	o.idx.grp, o.idx.grpByID = nil, nil
	o.idx.mu.Unlock()
}

func (o *Org) index() *index {
	o.idx.mu.Lock()
	defer o.idx.mu.Unlock()
	if !o.idx.mbxBuilt {
		o.idx.mbx = make(map[string][]*Mailbox, len(o.Mailboxes)*8)
		o.idx.mbxByID = make(map[uuid.UUID]*Mailbox, len(o.Mailboxes))
		for _, m := range o.Mailboxes {
			o.idx.mbxByID[m.Guid] = m
			for _, k := range o.recipientKeys(m.Name, m.Alias, m.DisplayName, m.PrimarySmtpAddress, m.SamAccountName, m.UserPrincipalName, m.DistinguishedName, m.LegacyExchangeDN, m.EmailAddresses) {
				o.idx.mbx[k] = appendUnique(o.idx.mbx[k], m)
			}
		}
		o.idx.mbxBuilt = true
	}
	if !o.idx.grpBuilt {
		o.idx.grp = make(map[string][]*Group, len(o.Groups)*8)
		o.idx.grpByID = make(map[uuid.UUID]*Group, len(o.Groups))
		for _, g := range o.Groups {
			o.idx.grpByID[g.Guid] = g
			for _, k := range o.recipientKeys(g.Name, g.Alias, g.DisplayName, g.PrimarySmtpAddress, g.SamAccountName, "", g.DistinguishedName, g.LegacyExchangeDN, nil) {
				o.idx.grp[k] = appendUnique(o.idx.grp[k], g)
			}
		}
		o.idx.grpBuilt = true
	}
	return &o.idx
}

func appendUnique[T comparable](s []T, x T) []T {
	for _, y := range s {
		if y == x {
			return s
		}
	}
	return append(s, x)
}

// recipientKeys lists the lower-cased identity strings a recipient answers
// to: name, alias, display name, SMTP addresses, DOMAIN\sam, UPN, DN and
// legacy DN.
func (o *Org) recipientKeys(name, alias, display, smtp, sam, upn, dn, legacy string, addrs []string) []string {
	keys := []string{name, alias, smtp, dn, legacy, upn}
	if dn != "" {
		keys = append(keys, CanonicalName(dn))
	}
	if sam != "" {
		keys = append(keys, o.NetBIOS+`\`+sam, sam)
	}
	for _, a := range addrs {
		if p, rest, ok := strings.Cut(a, ":"); ok && strings.EqualFold(p, "smtp") {
			keys = append(keys, rest)
		}
	}
	_ = display // Exchange does not resolve -Identity by display name.
	out := keys[:0]
	for _, k := range keys {
		if k != "" {
			out = append(out, strings.ToLower(k))
		}
	}
	return out
}

// MailboxByGuid returns the mailbox with that GUID, or nil.
func (o *Org) MailboxByGuid(id uuid.UUID) *Mailbox {
	return o.index().mbxByID[id]
}

// GroupByGuid returns the group with that GUID, or nil.
func (o *Org) GroupByGuid(id uuid.UUID) *Group {
	return o.index().grpByID[id]
}

// RecipientByGuid returns the *Mailbox or *Group with that GUID, or nil.
func (o *Org) RecipientByGuid(id uuid.UUID) any {
	ix := o.index()
	if m := ix.mbxByID[id]; m != nil {
		return m
	}
	if g := ix.grpByID[id]; g != nil {
		return g
	}
	if d := o.DynamicGroupByGuid(id); d != nil {
		return d
	}
	return nil
}

// DynamicGroupByGuid returns the dynamic distribution group with that
// GUID, or nil. (Organisations hold a handful: a scan is enough.)
func (o *Org) DynamicGroupByGuid(id uuid.UUID) *DynamicGroup {
	for _, d := range o.DynamicGroups {
		if d.Guid == id {
			return d
		}
	}
	return nil
}

// FindDynamicGroup resolves a dynamic distribution group identity (GUID,
// name, alias, display name, DN, canonical name, legacy DN or SMTP
// address), case-insensitively.
func (o *Org) FindDynamicGroup(identity string) (*DynamicGroup, error) {
	return find(o, identity, o.DynamicGroupByGuid, func(id string) []*DynamicGroup {
		var found []*DynamicGroup
		for _, d := range o.DynamicGroups {
			for _, k := range []string{d.Name, d.Alias, d.DisplayName, d.DistinguishedName, CanonicalName(d.DistinguishedName), d.LegacyExchangeDN, d.PrimarySmtpAddress} {
				if k != "" && strings.EqualFold(k, id) {
					found = append(found, d)
					break
				}
			}
		}
		return found
	})
}

// FindMailbox resolves a mailbox identity as Exchange does: GUID, name,
// alias, DN, legacy DN, SMTP address, DOMAIN\sam, sam or UPN,
// case-insensitively.
func (o *Org) FindMailbox(identity string) (*Mailbox, error) {
	return find(o, identity, o.MailboxByGuid, func(id string) []*Mailbox { return o.index().mbx[strings.ToLower(id)] })
}

// FindGroup resolves a group identity (GUID, name, alias, DN, SMTP address,
// DOMAIN\sam).
func (o *Org) FindGroup(identity string) (*Group, error) {
	return find(o, identity, o.GroupByGuid, func(id string) []*Group { return o.index().grp[strings.ToLower(id)] })
}

// find resolves identity, trimmed, to one object: by byGuid when it is a
// GUID written in full and such an object exists, else by byName, which
// returns every object the text names. None is a NotFoundError, several an
// AmbiguousError.
func find[T comparable](o *Org, identity string, byGuid func(uuid.UUID) T, byName func(id string) []T) (T, error) {
	var zero T
	id := strings.TrimSpace(identity)
	if g, err := uuid.Parse(id); err == nil && len(id) >= 32 {
		if r := byGuid(g); r != zero {
			return r, nil
		}
	}
	found := byName(id)
	switch len(found) {
	case 0:
		return zero, &NotFoundError{Identity: identity, DomainController: o.DomainController}
	case 1:
		return found[0], nil
	}
	return zero, &AmbiguousError{Identity: identity}
}

// FindRecipient resolves any recipient: it returns a *Mailbox or a *Group.
func (o *Org) FindRecipient(identity string) (any, error) {
	id := strings.TrimSpace(identity)
	if g, err := uuid.Parse(id); err == nil && len(id) >= 32 {
		if r := o.RecipientByGuid(g); r != nil {
			return r, nil
		}
	}
	k := strings.ToLower(id)
	ix := o.index()
	n := len(ix.mbx[k]) + len(ix.grp[k])
	switch {
	case n == 0:
		return nil, &NotFoundError{Identity: identity, DomainController: o.DomainController}
	case n > 1:
		return nil, &AmbiguousError{Identity: identity}
	case len(ix.mbx[k]) == 1:
		return ix.mbx[k][0], nil
	}
	return ix.grp[k][0], nil
}

// ExpandGroup returns every mailbox reachable from the group through nested
// groups, each once, in first-reached order. Cycles are tolerated.
func (o *Org) ExpandGroup(g *Group) []*Mailbox {
	var out []*Mailbox
	seenM := map[uuid.UUID]bool{}
	seenG := map[uuid.UUID]bool{}
	var walk func(*Group)
	walk = func(g *Group) {
		if seenG[g.Guid] {
			return
		}
		seenG[g.Guid] = true
		for _, id := range g.Members {
			switch r := o.RecipientByGuid(id).(type) {
			case *Mailbox:
				if !seenM[r.Guid] {
					seenM[r.Guid] = true
					out = append(out, r)
				}
			case *Group:
				walk(r)
			}
		}
	}
	walk(g)
	return out
}

// FindServer resolves a server by name, FQDN or GUID.
func (o *Org) FindServer(identity string) (*Server, error) {
	id := strings.TrimSpace(identity)
	for _, s := range o.Servers {
		if strings.EqualFold(s.Name, id) || strings.EqualFold(s.Fqdn, id) || strings.EqualFold(s.Guid.String(), id) {
			return s, nil
		}
	}
	return nil, &NotFoundError{Identity: identity, DomainController: o.DomainController}
}

// ServerVDirs returns the server's virtual directories of one kind.
func (o *Org) ServerVDirs(kind, server string) []*VDir {
	var out []*VDir
	for _, v := range o.VirtualDirectories {
		if v.Kind == kind && (server == "" || strings.EqualFold(v.Server, server)) {
			out = append(out, v)
		}
	}
	return out
}

// FindVDirs resolves a virtual directory identity of one kind:
// "SERVER\owa (Default Web Site)", "owa (Default Web Site)" (optionally
// restricted to server), a GUID, or a name with the wildcard "*"
// ("owa*", "EX01\owa*"). It may return several for a bare name without
// server. None found is a NotFoundError.
func (o *Org) FindVDirs(kind, identity, server string) ([]*VDir, error) {
	id := strings.TrimSpace(identity)
	var out []*VDir
	if g, err := uuid.Parse(id); err == nil && len(id) >= 32 {
		for _, v := range o.VirtualDirectories {
			if v.Kind == kind && v.Guid == g {
				out = append(out, v)
			}
		}
	} else {
		srv, name := server, id
		if s, n, ok := strings.Cut(id, `\`); ok {
			srv, name = s, n
		}
		for _, v := range o.ServerVDirs(kind, "") {
			if srv != "" && !strings.EqualFold(v.Server, srv) && !o.serverMatches(v.Server, srv) {
				continue
			}
			if wildMatch(name, v.Name) {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil, &NotFoundError{Identity: identity, DomainController: o.DomainController}
	}
	return out, nil
}

func (o *Org) serverMatches(name, identity string) bool {
	s, err := o.FindServer(identity)
	return err == nil && strings.EqualFold(s.Name, name)
}

// FindOutlookAnywhere resolves "SERVER\Rpc (Default Web Site)", a bare
// name (optionally restricted to server) or a GUID.
func (o *Org) FindOutlookAnywhere(identity, server string) ([]*OutlookAnywhere, error) {
	id := strings.TrimSpace(identity)
	var out []*OutlookAnywhere
	g, gerr := uuid.Parse(id)
	srv, name := server, id
	if s, n, ok := strings.Cut(id, `\`); ok {
		srv, name = s, n
	}
	for _, oa := range o.OutlookAnywhere {
		switch {
		case gerr == nil && len(id) >= 32:
			if oa.Guid == g {
				out = append(out, oa)
			}
		case (srv == "" || strings.EqualFold(oa.Server, srv) || o.serverMatches(oa.Server, srv)) && wildMatch(name, oa.Name):
			out = append(out, oa)
		}
	}
	if len(out) == 0 {
		return nil, &NotFoundError{Identity: identity, DomainController: o.DomainController}
	}
	return out, nil
}

// wildMatch compares case-insensitively; a "*" in pattern matches any run.
func wildMatch(pattern, s string) bool {
	p, t := strings.ToLower(pattern), strings.ToLower(s)
	if !strings.Contains(p, "*") {
		return p == t
	}
	parts := strings.Split(p, "*")
	if !strings.HasPrefix(t, parts[0]) {
		return false
	}
	t = t[len(parts[0]):]
	for i := 1; i < len(parts)-1; i++ {
		k := strings.Index(t, parts[i])
		if k < 0 {
			return false
		}
		t = t[k+len(parts[i]):]
	}
	return strings.HasSuffix(t, parts[len(parts)-1])
}

// ServerCertificates returns the certificates in one server's store.
func (o *Org) ServerCertificates(server string) []*Certificate {
	var out []*Certificate
	for _, c := range o.Certificates {
		if strings.EqualFold(c.Server, server) {
			out = append(out, c)
		}
	}
	return out
}

// BoundCertificates returns server's valid certificates that have a key
// and are bound to one of services, newest first: a binding made later
// replaces the one before, as in IIS and the transport service.
func (o *Org) BoundCertificates(server string, services Services) []*Certificate {
	var out []*Certificate
	for _, c := range o.ServerCertificates(server) {
		if c.Services&services != 0 && c.Status == CertValid && c.CertPEM != "" && c.KeyPEM != "" {
			out = append(out, c)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].NotBefore.After(out[j-1].NotBefore); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// FindCertificate returns the certificate with that thumbprint on server.
func (o *Org) FindCertificate(server, thumbprint string) (*Certificate, error) {
	for _, c := range o.Certificates {
		if strings.EqualFold(c.Server, server) && strings.EqualFold(c.Thumbprint, strings.TrimSpace(thumbprint)) {
			return c, nil
		}
	}
	return nil, &NotFoundError{Identity: thumbprint, DomainController: o.DomainController}
}

// ClientAccessFor returns the server's ClientAccessService, or nil.
func (o *Org) ClientAccessFor(server string) *ClientAccessService {
	for _, c := range o.ClientAccess {
		if strings.EqualFold(c.Server, server) {
			return c
		}
	}
	return nil
}

// ProtocolFor returns the server's settings from list (PopSettings or
// ImapSettings), or nil.
func ProtocolFor(list []*ProtocolSettings, server string) *ProtocolSettings {
	for _, p := range list {
		if strings.EqualFold(p.Server, server) {
			return p
		}
	}
	return nil
}

// Zone returns the zone of the view ("internal" or "public"), or nil.
func (o *Org) Zone(view string) *Zone {
	for _, z := range o.Zones {
		if z.View == view {
			return z
		}
	}
	return nil
}
