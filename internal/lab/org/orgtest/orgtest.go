// Package orgtest builds small, deterministic organisations for tests of
// the lab's Exchange cmdlets and of the org package: two servers in a DAG,
// the usual virtual directories, one certificate per server (no real key
// material: tests that need real certificates make their own), mailboxes
// whose names include hostile characters, and nested groups.
package orgtest

import (
	"fmt"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/google/uuid"
)

// HostileNames are display names the fixture gives its first mailboxes:
// quotes of every kind, subexpressions, backticks, semicolons, newlines and
// non-ASCII.
var HostileNames = []string{
	`O'Brien`,
	"Smart ‘Quote’ ‚Low‛",
	`Say "Hi"`,
	`$(Remove-Item C:\)`,
	"Back`tick",
	"Semi;colon",
	"New\nLine",
	"Zoë Ørsted 山田",
}

// Epoch is the fixed creation time of every fixture object.
var Epoch = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

// ID makes a deterministic GUID from a label.
func ID(label string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceOID, []byte("exrunbook-orgtest/"+label))
}

func str(s string) *string { return &s }

// New returns an organisation with servers EX01 and EX02 (DAG01) and n
// mailboxes (n ≥ len(HostileNames) gives every hostile name). Mailbox i has
// alias "user<i>" unless it carries a hostile name, in which case the alias
// is "hostile<i>". Groups: AllowExternalAccess (security) contains user0,
// user1 and the nested group AllowNested (distribution), which contains the
// last mailbox.
func New(n int) *org.Org {
	o := &org.Org{Name: "Contoso", Domain: "contoso.test", NetBIOS: "CONTOSO", DomainController: "DC01.contoso.test"}
	o.Config = org.OrganizationConfig{Name: "Contoso", Guid: ID("orgconfig"), MapiHttpEnabled: true}
	for _, name := range []string{"EX01", "EX02"} {
		low := strings.ToLower(name)
		fqdn := low + ".contoso.test"
		o.Servers = append(o.Servers, &org.Server{
			Name: name, Fqdn: fqdn, Guid: ID("server/" + name), DatabaseAvailabilityGroup: "DAG01",
			AdminDisplayVersion: "Version 15.2 (Build 1544.4)", Edition: "Enterprise", ServerRole: "Mailbox",
			Site: "contoso.test/Configuration/Sites/Default-First-Site-Name", WhenCreated: Epoch,
		})
		o.Certificates = append(o.Certificates, &org.Certificate{
			Server: name, Thumbprint: strings.ToUpper(fmt.Sprintf("%040x", ID("cert/old").ID())), Subject: "CN=outlook.contoso.test",
			Issuer: "CN=Contoso Lab CA", SerialNumber: "01", FriendlyName: "Contoso 2024",
			CertificateDomains: []string{"outlook.contoso.test", "autodiscover.contoso.test"},
			NotBefore:          Epoch, NotAfter: Epoch.AddDate(2, 0, 0), Services: org.ServiceIMAP | org.ServicePOP | org.ServiceIIS | org.ServiceSMTP,
			HasPrivateKey: true, KeySize: 2048, SignatureAlgorithm: "sha256RSA", Status: org.CertValid,
		})
		for _, k := range []struct{ kind, name, path string }{
			{org.KindOwa, "owa", "owa"}, {org.KindEcp, "ecp", "ecp"}, {org.KindMapi, "mapi", "mapi"},
			{org.KindWebServices, "EWS", "EWS/Exchange.asmx"}, {org.KindActiveSync, "Microsoft-Server-ActiveSync", "Microsoft-Server-ActiveSync"},
			{org.KindOab, "OAB", "OAB"}, {org.KindAutodiscover, "Autodiscover", "Autodiscover/Autodiscover.xml"}, {org.KindPowerShell, "PowerShell", "powershell"},
		} {
			v := &org.VDir{Kind: k.kind, Server: name, Name: k.name + " (Default Web Site)", Guid: ID("vdir/" + name + "/" + k.kind),
				InternalUrl: str("https://outlook.contoso.test/" + k.path), ExternalUrl: str("https://outlook.contoso.test/" + k.path),
				ExtendedProtectionTokenChecking: "None", WhenCreated: Epoch, WindowsAuthentication: true}
			if k.kind == org.KindMapi {
				v.IISAuthenticationMethods = []string{"Ntlm", "OAuth", "Negotiate"}
				v.InternalAuthenticationMethods = []string{"Ntlm", "OAuth", "Negotiate"}
			}
			if k.kind == org.KindAutodiscover || k.kind == org.KindOab {
				v.ExternalUrl = nil
			}
			if k.kind == org.KindPowerShell {
				v.InternalUrl = str("http://" + fqdn + "/powershell")
				v.ExternalUrl = nil
			}
			o.VirtualDirectories = append(o.VirtualDirectories, v)
		}
		o.OutlookAnywhere = append(o.OutlookAnywhere, &org.OutlookAnywhere{Server: name, Name: "Rpc (Default Web Site)", Guid: ID("oa/" + name),
			InternalHostname: str("outlook.contoso.test"), ExternalHostname: str("outlook.contoso.test"),
			InternalClientsRequireSsl: true, ExternalClientsRequireSsl: true,
			InternalClientAuthenticationMethod: "Ntlm", ExternalClientAuthenticationMethod: "Negotiate",
			IISAuthenticationMethods: []string{"Basic", "Ntlm", "Negotiate"}, ExtendedProtectionTokenChecking: "None", WhenCreated: Epoch})
		o.ClientAccess = append(o.ClientAccess, &org.ClientAccessService{Server: name, Guid: ID("cas/" + name),
			AutoDiscoverServiceInternalUri: str("https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml")})
		o.PopSettings = append(o.PopSettings, &org.ProtocolSettings{Server: name, LoginType: "SecureLogin",
			InternalConnectionSettings: []string{fqdn + ":995:SSL", fqdn + ":110:TLS"}})
		o.ImapSettings = append(o.ImapSettings, &org.ProtocolSettings{Server: name, LoginType: "SecureLogin",
			InternalConnectionSettings: []string{fqdn + ":993:SSL", fqdn + ":143:TLS"}})
	}
	for i := 0; i < n; i++ {
		alias := fmt.Sprintf("user%d", i)
		display := fmt.Sprintf("User %d", i)
		if i < len(HostileNames) {
			alias = fmt.Sprintf("hostile%d", i)
			display = HostileNames[i]
		}
		srv := o.Servers[i%2].Name
		smtp := alias + "@contoso.test"
		o.Mailboxes = append(o.Mailboxes, &org.Mailbox{
			Guid: ID("mbx/" + alias), ExchangeGuid: ID("mbxx/" + alias), Name: display, Alias: alias, DisplayName: display,
			PrimarySmtpAddress: smtp, EmailAddresses: []string{"SMTP:" + smtp}, SamAccountName: alias,
			DistinguishedName: "CN=" + org.EscapeRDN(display) + ",OU=Users,DC=contoso,DC=test", UserPrincipalName: smtp,
			LegacyExchangeDN:     "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + alias,
			RecipientTypeDetails: org.UserMailbox, ServerName: strings.ToLower(srv), Database: "DB0" + srv[len(srv)-1:], WhenCreated: Epoch,
			ActiveSyncEnabled: true, OWAEnabled: true, OWAforDevicesEnabled: true, ECPEnabled: true, EwsEnabled: true,
			PopEnabled: true, ImapEnabled: true, MAPIEnabled: true, Password: "Passw0rd!" + alias,
		})
	}
	nested := &org.Group{Guid: ID("grp/nested"), Name: "AllowNested", Alias: "AllowNested", DisplayName: "AllowNested",
		DistinguishedName: "CN=AllowNested,OU=Groups,DC=contoso,DC=test", PrimarySmtpAddress: "AllowNested@contoso.test",
		SamAccountName: "AllowNested", RecipientTypeDetails: org.MailUniversalDistributionGroup, WhenCreated: Epoch}
	allow := &org.Group{Guid: ID("grp/allow"), Name: "AllowExternalAccess", Alias: "AllowExternalAccess", DisplayName: "AllowExternalAccess",
		DistinguishedName: "CN=AllowExternalAccess,OU=Groups,DC=contoso,DC=test", PrimarySmtpAddress: "AllowExternalAccess@contoso.test",
		SamAccountName: "AllowExternalAccess", RecipientTypeDetails: org.MailUniversalSecurityGroup, WhenCreated: Epoch}
	if n > 0 {
		nested.Members = []uuid.UUID{o.Mailboxes[n-1].Guid}
		allow.Members = append(allow.Members, o.Mailboxes[0].Guid)
	}
	if n > 1 {
		allow.Members = append(allow.Members, o.Mailboxes[1].Guid)
	}
	allow.Members = append(allow.Members, nested.Guid)
	o.Groups = []*org.Group{allow, nested}
	for _, view := range []string{"internal", "public"} {
		z := &org.Zone{View: view, Name: "contoso.test.", SOA: org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 1,
			Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 300, TTL: 3600}, NS: []string{"ns1.contoso.test."}}
		addr := "192.0.2.10"
		if view == "public" {
			addr = "203.0.113.10"
		}
		z.Records = []org.Record{{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: addr},
			{Name: "autodiscover.contoso.test.", Type: "A", TTL: 300, Data: addr}}
		o.Zones = append(o.Zones, z)
	}
	return o
}

// The forest AddForest adds.
const (
	EdgeServer     = "EDGE01"
	ChildDomain    = "emea.contoso.test"
	DynamicGroup   = "AllowField"
	DynamicFilter  = "((Department -eq 'Field') -and (CustomAttribute1 -eq 'External'))"
	ChildMailboxes = 3
)

// AddForest grows an organisation from New(n) (n ≥ 12) into a forest: the
// Edge Transport server EDGE01 (no virtual directories, no DAG); the child
// domain emea.contoso.test with mailboxes emea0…emea2 (emea0 a direct
// member of AllowExternalAccess); and the dynamic distribution group
// AllowField, a member of AllowExternalAccess, whose filter selects user8
// and user9 (user10 has the department only) in OU=Users of contoso.test.
func AddForest(o *org.Org) {
	o.Servers = append(o.Servers, &org.Server{Name: EdgeServer, Fqdn: "edge01.contoso.test", Guid: ID("server/" + EdgeServer),
		AdminDisplayVersion: "Version 15.2 (Build 1544.4)", Edition: "Standard", ServerRole: org.RoleEdge, WhenCreated: Epoch})
	for i := 0; i < ChildMailboxes; i++ {
		alias := fmt.Sprintf("emea%d", i)
		smtp := alias + "@" + ChildDomain
		o.Mailboxes = append(o.Mailboxes, &org.Mailbox{
			Guid: ID("mbx/" + alias), ExchangeGuid: ID("mbxx/" + alias), Name: "EMEA " + alias, Alias: alias, DisplayName: "EMEA " + alias,
			PrimarySmtpAddress: smtp, EmailAddresses: []string{"SMTP:" + smtp}, SamAccountName: alias,
			DistinguishedName: "CN=EMEA " + alias + ",OU=Users,DC=emea,DC=contoso,DC=test", UserPrincipalName: smtp,
			LegacyExchangeDN:     "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + alias,
			RecipientTypeDetails: org.UserMailbox, ServerName: "ex01", Database: "DB01", WhenCreated: Epoch,
			ActiveSyncEnabled: true, OWAEnabled: true, OWAforDevicesEnabled: true, ECPEnabled: true, EwsEnabled: true,
			PopEnabled: true, ImapEnabled: true, MAPIEnabled: true,
		})
	}
	byAlias := map[string]*org.Mailbox{}
	for _, m := range o.Mailboxes {
		byAlias[m.Alias] = m
	}
	for _, a := range []string{"user8", "user9"} {
		byAlias[a].Department, byAlias[a].CustomAttribute1 = "Field", "External"
	}
	byAlias["user10"].Department = "Field"
	d := &org.DynamicGroup{Guid: ID("ddg/field"), Name: DynamicGroup, Alias: DynamicGroup, DisplayName: DynamicGroup,
		DistinguishedName: "CN=" + DynamicGroup + ",OU=Groups,DC=contoso,DC=test", PrimarySmtpAddress: DynamicGroup + "@contoso.test",
		LegacyExchangeDN: "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + DynamicGroup,
		RecipientFilter:  DynamicFilter, RecipientContainer: "OU=Users,DC=contoso,DC=test", WhenCreated: Epoch}
	o.DynamicGroups = append(o.DynamicGroups, d)
	for _, g := range o.Groups {
		if g.Name == "AllowExternalAccess" {
			g.Members = append(g.Members, byAlias["emea0"].Guid, d.Guid)
		}
	}
	o.InvalidateIndex()
}
