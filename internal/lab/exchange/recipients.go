package exchange

import (
	"fmt"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/google/uuid"
)

// defaultResultSizeWarning is what Exchange warns when the default
// ResultSize (1000) cut the output short.
const defaultResultSizeWarning = `By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify "-ResultSize Unlimited". Be aware that, depending on the actual number of items, returning all items can take a long time and consume a large amount of memory. Also, we don't recommend storing the results in a variable. Instead, pipe the results to another command or script to perform batch operations.`

// explicitResultSizeWarning is the warning when an explicit -ResultSize N
// cut the output short.
const explicitResultSizeWarning = "There are more results available than are currently displayed. To view them, increase the value for the ResultSize parameter."

// chunk is how many mailboxes are copied under one read lock while
// streaming; the lock is never held while objects flow downstream (which
// may be Set-CASMailbox, taking the write lock).
const chunk = 256

var recipientTypeDetailsValues = []string{
	"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "LinkedMailbox", "LegacyMailbox",
	"DiscoveryMailbox", "ArbitrationMailbox", "MailUser", "MailContact", "DynamicDistributionGroup",
	"MailUniversalDistributionGroup", "MailUniversalSecurityGroup", "MailNonUniversalGroup", "RoomList",
	"RemoteUserMailbox", "RemoteSharedMailbox", "RemoteRoomMailbox", "RemoteEquipmentMailbox", "User",
	"UniversalSecurityGroup", "UniversalDistributionGroup", "GroupMailbox", "LinkedUser", "PublicFolder",
	"SchedulingMailbox", "MonitoringMailbox", "AuditLogMailbox", "AuxAuditLogMailbox", "SupervisoryReviewPolicyMailbox",
}

var recipientTypeValues = []string{"DynamicDistributionGroup", "MailContact", "MailNonUniversalGroup", "MailUniversalDistributionGroup", "MailUniversalSecurityGroup", "MailUser", "PublicFolder", "UserMailbox"}

// Filterable properties (lower case → canonical).
func propSet(names ...string) (map[string]string, string) {
	m := map[string]string{}
	for _, n := range names {
		m[strings.ToLower(n)] = n
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return m, strings.Join(sorted, ", ")
}

var (
	recipientFilterable, recipientFilterableList = propSet("Alias", "CustomAttribute1", "Database", "Department", "DisplayName", "DistinguishedName", "EmailAddresses",
		"ExchangeGuid", "Guid", "HiddenFromAddressListsEnabled", "LegacyExchangeDN", "MemberOfGroup", "Name", "PrimarySmtpAddress",
		"RecipientType", "RecipientTypeDetails", "SamAccountName", "ServerName", "UserPrincipalName", "WindowsEmailAddress")
	// MAPIBlock* and MapiHttpEnabled are not filterable in Exchange: scripts
	// must filter them on the client.
	casFilterable, casFilterableList = propSet("Alias", "Database", "DisplayName", "DistinguishedName", "EmailAddresses",
		"ExchangeGuid", "Guid", "HiddenFromAddressListsEnabled", "LegacyExchangeDN", "MemberOfGroup", "Name", "PrimarySmtpAddress",
		"RecipientType", "RecipientTypeDetails", "SamAccountName", "ServerName", "UserPrincipalName", "WindowsEmailAddress",
		"ActiveSyncEnabled", "OWAEnabled", "OWAforDevicesEnabled", "EwsEnabled", "PopEnabled", "ImapEnabled", "MAPIEnabled", "ECPEnabled")
)

func recipientType(details string) string {
	switch details {
	case org.MailUniversalSecurityGroup, org.MailUniversalDistributionGroup, dynamicType:
		return details
	}
	return "UserMailbox"
}

// query is a parsed Get-Mailbox / Get-CASMailbox / Get-Recipient / group
// query.
type query struct {
	identity    pwsh.Value
	hasIdentity bool
	filter      filterNode
	anr         string
	types       []string
	recipTypes  []string
	server      string
	database    string
	limit       int64 // -1: unlimited
	explicit    bool
	sortBy      string
	ou          string // -OrganizationalUnit: DN or canonical name of the container
	none        bool   // a switch selected a kind of recipient the lab has none of
	// domain, when set, is the only domain whose recipients a walk
	// returns: the session's server's, until Set-ADServerSettings
	// -ViewEntireForest $true widens the view to the forest.
	domain string
}

func (x *ex) parseQuery(c *pwsh.Call, filterable map[string]string, filterList string) (*query, error) {
	q := &query{limit: 1000}
	if !forestView(c) {
		x.st.Read(func(o *org.Org) { q.domain = o.Domain })
	}
	q.identity, q.hasIdentity = c.Param("Identity")
	if v, ok := c.Param("ResultSize"); ok {
		q.explicit = true
		switch u := v.(type) {
		case pwsh.Unlimited:
			if u.IsUnlimited {
				q.limit = -1
			} else {
				q.limit = u.Value
			}
		default:
			var n int64
			if _, err := fmt.Sscan(pwsh.ToString(v), &n); err == nil {
				q.limit = n
			}
		}
	}
	if f := c.String("Filter"); f != "" {
		n, err := parseFilter(f, filterable, filterList)
		if err != nil {
			return nil, err
		}
		q.filter = n
	}
	q.anr = c.String("Anr")
	for _, p := range []struct {
		name   string
		allow  []string
		into   *[]string
		typeNm string
	}{
		{"RecipientTypeDetails", recipientTypeDetailsValues, &q.types, "Microsoft.Exchange.Data.Directory.Recipient.RecipientTypeDetails"},
		{"RecipientType", recipientTypeValues, &q.recipTypes, "Microsoft.Exchange.Data.Directory.Recipient.RecipientType"},
	} {
		v, ok := c.Param(p.name)
		if !ok {
			continue
		}
		for _, s := range stringsOf(v) {
			for _, part := range strings.Split(s, ",") {
				part = strings.TrimSpace(part)
				canon := ""
				for _, a := range p.allow {
					if strings.EqualFold(a, part) {
						canon = a
					}
				}
				if canon == "" {
					return nil, &pwsh.Error{
						Message:       fmt.Sprintf("Cannot bind parameter '%s'. Cannot convert value \"%s\" to type \"%s\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\n%s\"", p.name, part, p.typeNm, part, strings.Join(p.allow, ", ")),
						ExceptionType: "System.Management.Automation.ParameterBindingException", Category: pwsh.CatInvalidArgument,
						ErrorID: "CannotConvertArgumentNoMessage",
					}
				}
				*p.into = append(*p.into, canon)
			}
		}
	}
	q.sortBy = c.String("SortBy")
	if v, ok := c.Param("OrganizationalUnit"); ok && v != nil {
		q.ou = identityText(v, "DistinguishedName", "Identity")
	}
	if f := c.String("RecipientPreviewFilter"); f != "" && q.filter == nil {
		n, err := parseFilter(f, filterable, filterList)
		if err != nil {
			return nil, err
		}
		q.filter = n
	}
	// System mailboxes (arbitration, audit log, monitoring, migration,
	// public folder, group, supervisory review), archives and managers are
	// not modelled: asking for them finds none.
	for _, sw := range []string{"Arbitration", "Archive", "AuditLog", "AuxAuditLog", "GroupMailbox", "Migration", "Monitoring",
		"PublicFolder", "RemoteArchive", "SupervisoryReviewPolicy"} {
		if c.Bool(sw) {
			q.none = true
		}
	}
	if v, ok := c.Param("ManagedBy"); ok && v != nil {
		q.none = true
	}
	return q, nil
}

// inOU reports whether dn lies in the container ou, given as a DN or as a
// canonical name ("contoso.test/Users").
func inOU(dn, ou string) bool {
	if strings.Contains(ou, "=") {
		return strings.HasSuffix(strings.ToLower(dn), ","+strings.ToLower(ou))
	}
	cn := strings.ToLower(org.CanonicalName(dn))
	return strings.HasPrefix(cn, strings.TrimSuffix(strings.ToLower(ou), "/")+"/")
}

// recipient is a copied mailbox or group with what filters need.
type recipient struct {
	m        *org.Mailbox
	g        *org.Group
	d        *org.DynamicGroup
	memberOf []string // DNs of the groups that contain it directly
}

func (r *recipient) get(prop string) (any, bool) {
	if v, ok := r.entry().get(prop, r.memberOf); ok {
		return v, true
	}
	switch {
	case r.m != nil:
		m := r.m
		switch prop {
		case "Database":
			return m.Database, true
		case "ExchangeGuid":
			return m.ExchangeGuid.String(), true
		case "SamAccountName":
			return m.SamAccountName, true
		case "ServerName":
			return m.ServerName, true
		case "UserPrincipalName":
			return m.UserPrincipalName, true
		case "Department":
			return m.Department, true
		case "CustomAttribute1":
			return m.CustomAttribute1, true
		case "ActiveSyncEnabled":
			return m.ActiveSyncEnabled, true
		case "OWAEnabled":
			return m.OWAEnabled, true
		case "OWAforDevicesEnabled":
			return m.OWAforDevicesEnabled, true
		case "EwsEnabled":
			return m.EwsEnabled, true
		case "PopEnabled":
			return m.PopEnabled, true
		case "ImapEnabled":
			return m.ImapEnabled, true
		case "MAPIEnabled":
			return m.MAPIEnabled, true
		case "ECPEnabled":
			return m.ECPEnabled, true
		}
	case r.g != nil:
		if prop == "SamAccountName" {
			return r.g.SamAccountName, true
		}
	}
	return nil, false
}

// directoryEntry is what every kind of recipient (mailbox, group, dynamic
// group) has, as filters read it.
type directoryEntry struct {
	guid                                                         uuid.UUID
	name, alias, displayName, dn, legacyDN, primary, typeDetails string
	// addrs are the proxy addresses kept; a group has its primary alone.
	addrs []string
}

// entry is r's directory entry.
func (r *recipient) entry() directoryEntry {
	switch {
	case r.d != nil:
		d := r.d
		return directoryEntry{d.Guid, d.Name, d.Alias, d.DisplayName, d.DistinguishedName, d.LegacyExchangeDN, d.PrimarySmtpAddress, dynamicType, nil}
	case r.m != nil:
		m := r.m
		return directoryEntry{m.Guid, m.Name, m.Alias, m.DisplayName, m.DistinguishedName, m.LegacyExchangeDN, m.PrimarySmtpAddress, m.RecipientTypeDetails, m.EmailAddresses}
	}
	g := r.g
	return directoryEntry{g.Guid, g.Name, g.Alias, g.DisplayName, g.DistinguishedName, g.LegacyExchangeDN, g.PrimarySmtpAddress, g.RecipientTypeDetails, nil}
}

// get reads a property every recipient has; memberOf are the DNs of the
// groups that contain it directly.
func (e directoryEntry) get(prop string, memberOf []string) (any, bool) {
	switch prop {
	case "Alias":
		return e.alias, true
	case "DisplayName":
		return e.displayName, true
	case "DistinguishedName":
		return e.dn, true
	case "EmailAddresses":
		return smtpAddrs(e.addrs, e.primary), true
	case "Guid":
		return e.guid.String(), true
	case "HiddenFromAddressListsEnabled":
		return false, true
	case "LegacyExchangeDN":
		return e.legacyDN, true
	case "MemberOfGroup":
		return memberOf, true
	case "Name":
		return e.name, true
	case "PrimarySmtpAddress", "WindowsEmailAddress":
		return e.primary, true
	case "RecipientType":
		return recipientType(e.typeDetails), true
	case "RecipientTypeDetails":
		return e.typeDetails, true
	}
	return nil, false
}

func smtpAddrs(addrs []string, primary string) []string {
	if len(addrs) == 0 && primary != "" {
		return []string{"SMTP:" + primary}
	}
	return addrs
}

func (q *query) matches(r *recipient) bool {
	if q.none {
		return false
	}
	if q.ou != "" || q.domain != "" {
		dn, _ := r.get("DistinguishedName")
		if q.ou != "" && !inOU(dn.(string), q.ou) {
			return false
		}
		if q.domain != "" && !strings.EqualFold(org.DomainOf(dn.(string)), q.domain) {
			return false
		}
	}
	details, _ := r.get("RecipientTypeDetails")
	if len(q.types) > 0 && !containsFold(q.types, details.(string)) {
		return false
	}
	rt, _ := r.get("RecipientType")
	if len(q.recipTypes) > 0 && !containsFold(q.recipTypes, rt.(string)) {
		return false
	}
	if q.server != "" {
		s, _ := r.get("ServerName")
		if ss, _ := s.(string); !strings.EqualFold(ss, q.server) {
			return false
		}
	}
	if q.database != "" {
		d, _ := r.get("Database")
		if ds, _ := d.(string); !strings.EqualFold(ds, q.database) {
			return false
		}
	}
	if q.anr != "" {
		hit := false
		for _, p := range []string{"Name", "Alias", "DisplayName", "PrimarySmtpAddress", "SamAccountName"} {
			v, _ := r.get(p)
			if s, ok := v.(string); ok && strings.HasPrefix(strings.ToLower(s), strings.ToLower(q.anr)) {
				hit = true
			}
		}
		if !hit {
			return false
		}
	}
	if q.filter != nil && !q.filter.eval(r.get) {
		return false
	}
	return true
}

// memberIndex maps a recipient GUID to the DNs of the groups that contain
// it directly.
func memberIndex(o *org.Org) map[uuid.UUID][]string {
	idx := map[uuid.UUID][]string{}
	for _, g := range o.Groups {
		for _, m := range g.Members {
			idx[m] = append(idx[m], g.DistinguishedName)
		}
	}
	return idx
}

// stream runs a recipient query: it resolves -Identity or walks the
// mailboxes (and groups when withGroups) in chunks, copying each chunk
// under the read lock, and writes one object per match through mk, up to
// the ResultSize limit, then warns if the limit cut the output short.
func (x *ex) stream(c *pwsh.Call, q *query, withMailboxes, withGroups bool, mk func(r *recipient) *pwsh.Object, onRow func()) error {
	var mptrs []*org.Mailbox
	var gptrs []*org.Group
	var dyn []org.DynamicGroup // copies: a handful, never changed by cmdlets
	var members map[uuid.UUID][]string
	var ferr error
	x.st.Read(func(o *org.Org) {
		members = memberIndex(o)
		if q.hasIdentity && q.identity != nil {
			id := identityText(q.identity)
			var r any
			var err error
			switch {
			case withMailboxes && withGroups:
				r, err = o.FindRecipient(id)
				if _, nf := err.(*org.NotFoundError); nf {
					if d, derr := o.FindDynamicGroup(id); derr == nil {
						r, err = d, nil
					}
				}
			case withMailboxes:
				r, err = o.FindMailbox(id)
			default:
				r, err = o.FindGroup(id)
			}
			if err == nil && q.domain != "" && !strings.EqualFold(org.DomainOf(recipientDN(r)), q.domain) {
				// Exchange looks in the session's domain only.
				err = &org.NotFoundError{Identity: id, DomainController: o.DomainController}
			}
			if err != nil {
				ferr = err
				return
			}
			switch t := r.(type) {
			case *org.Mailbox:
				mptrs = []*org.Mailbox{t}
			case *org.Group:
				gptrs = []*org.Group{t}
			case *org.DynamicGroup:
				dyn = []org.DynamicGroup{*t}
			}
			return
		}
		if withMailboxes {
			mptrs = append([]*org.Mailbox(nil), o.Mailboxes...)
		}
		if withGroups {
			gptrs = append([]*org.Group(nil), o.Groups...)
			for _, d := range o.DynamicGroups {
				dyn = append(dyn, *d)
			}
		}
	})
	if ferr != nil {
		return writeErr(c, ferr, q.identity)
	}
	var count int64
	more := false
	emit := func(r *recipient) (bool, error) {
		if !q.matches(r) {
			return true, nil
		}
		if q.limit >= 0 && count >= q.limit {
			more = true
			return false, nil
		}
		count++
		if onRow != nil {
			onRow()
		}
		return true, c.WriteObject(mk(r))
	}
	if q.sortBy != "" {
		return x.sorted(c, q, mptrs, gptrs, dyn, members, emit, &more)
	}
	for i := 0; i < len(mptrs); i += chunk {
		j := min(i+chunk, len(mptrs))
		batch := make([]org.Mailbox, 0, j-i)
		x.st.Read(func(*org.Org) {
			for _, p := range mptrs[i:j] {
				batch = append(batch, *p)
			}
		})
		for k := range batch {
			cont, err := emit(&recipient{m: &batch[k], memberOf: members[batch[k].Guid]})
			if err != nil {
				return err
			}
			if !cont {
				goto done
			}
		}
	}
	{
		var batch []org.Group
		x.st.Read(func(*org.Org) {
			for _, p := range gptrs {
				g := *p
				g.Members = append([]uuid.UUID(nil), p.Members...)
				batch = append(batch, g)
			}
		})
		for k := range batch {
			cont, err := emit(&recipient{g: &batch[k], memberOf: members[batch[k].Guid]})
			if err != nil {
				return err
			}
			if !cont {
				goto done
			}
		}
	}
	for k := range dyn {
		cont, err := emit(&recipient{d: &dyn[k], memberOf: members[dyn[k].Guid]})
		if err != nil {
			return err
		}
		if !cont {
			break
		}
	}
done:
	if more {
		if q.explicit {
			return c.WriteWarning(explicitResultSizeWarning)
		}
		return c.WriteWarning(defaultResultSizeWarning)
	}
	return nil
}

// sorted is stream's path for -SortBy: everything is copied, sorted by the
// property, then emitted.
func (x *ex) sorted(c *pwsh.Call, q *query, mptrs []*org.Mailbox, gptrs []*org.Group, dyn []org.DynamicGroup, members map[uuid.UUID][]string, emit func(*recipient) (bool, error), more *bool) error {
	var all []*recipient
	x.st.Read(func(*org.Org) {
		for _, p := range mptrs {
			m := *p
			all = append(all, &recipient{m: &m, memberOf: members[m.Guid]})
		}
		for _, p := range gptrs {
			g := *p
			all = append(all, &recipient{g: &g, memberOf: members[g.Guid]})
		}
	})
	for k := range dyn {
		all = append(all, &recipient{d: &dyn[k], memberOf: members[dyn[k].Guid]})
	}
	key, desc := q.sortBy, false
	if strings.HasPrefix(key, "-") {
		key, desc = key[1:], true
	}
	if canon, ok := recipientFilterable[strings.ToLower(key)]; ok {
		key = canon
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, _ := all[i].get(key)
		b, _ := all[j].get(key)
		less := strings.ToLower(fmt.Sprint(a)) < strings.ToLower(fmt.Sprint(b))
		if desc {
			return strings.ToLower(fmt.Sprint(b)) < strings.ToLower(fmt.Sprint(a))
		}
		return less
	})
	for _, r := range all {
		cont, err := emit(r)
		if err != nil {
			return err
		}
		if !cont {
			break
		}
	}
	if *more {
		if q.explicit {
			return c.WriteWarning(explicitResultSizeWarning)
		}
		return c.WriteWarning(defaultResultSizeWarning)
	}
	return nil
}
