package exchange

import (
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

func ouOf(dn string) string {
	cn := org.CanonicalName(dn)
	if i := strings.LastIndexByte(cn, '/'); i > 0 {
		return cn[:i]
	}
	return cn
}

var (
	mailboxShape, casShape shape
	// reducedShapes: per cmdlet, the mailbox and the group shape.
	reducedShapes = map[string]*[3]shape{"Get-Recipient": {}, "Get-DistributionGroupMember": {}}
)

func mailboxObject(m *org.Mailbox) *pwsh.Object {
	const cmdlet = "Get-Mailbox"
	return newShapedObject(&mailboxShape, cmdlet, "Microsoft.Exchange.Data.Directory.Management.Mailbox",
		"Name", m.Name, "Alias", m.Alias, "DisplayName", m.DisplayName, "PrimarySmtpAddress", m.PrimarySmtpAddress,
		"EmailAddresses", arrV(smtpAddrs(m.EmailAddresses, m.PrimarySmtpAddress)), "WindowsEmailAddress", m.PrimarySmtpAddress,
		"UserPrincipalName", m.UserPrincipalName, "SamAccountName", m.SamAccountName,
		"RecipientType", recipientType(m.RecipientTypeDetails), "RecipientTypeDetails", m.RecipientTypeDetails,
		"Database", m.Database, "ServerName", m.ServerName, "ExchangeGuid", guidV(m.ExchangeGuid), "Guid", guidV(m.Guid),
		"Identity", org.CanonicalName(m.DistinguishedName), "DistinguishedName", m.DistinguishedName,
		"LegacyExchangeDN", m.LegacyExchangeDN, "OrganizationalUnit", ouOf(m.DistinguishedName),
		"HiddenFromAddressListsEnabled", false, "AccountDisabled", m.RecipientTypeDetails != org.UserMailbox,
		"IsLinked", false, "ExchangeVersion", exchangeVersion,
		"WhenCreated", m.WhenCreated, "WhenChanged", changed(m.WhenChanged, m.WhenCreated))
}

func casMailboxObject(m *org.Mailbox) *pwsh.Object {
	const cmdlet = "Get-CASMailbox"
	var mapiHTTP pwsh.Value
	if m.MapiHttpEnabled != nil {
		mapiHTTP = *m.MapiHttpEnabled
	}
	var versions pwsh.Value
	if m.MAPIBlockOutlookVersions != "" {
		versions = m.MAPIBlockOutlookVersions
	}
	return newShapedObject(&casShape, cmdlet, "Microsoft.Exchange.Data.Directory.Management.CASMailbox",
		"Name", m.Name, "Identity", org.CanonicalName(m.DistinguishedName), "DisplayName", m.DisplayName,
		"PrimarySmtpAddress", m.PrimarySmtpAddress, "SamAccountName", m.SamAccountName, "LegacyExchangeDN", m.LegacyExchangeDN,
		"DistinguishedName", m.DistinguishedName, "Guid", guidV(m.Guid),
		"ActiveSyncEnabled", m.ActiveSyncEnabled, "OWAEnabled", m.OWAEnabled, "OWAforDevicesEnabled", m.OWAforDevicesEnabled,
		"ECPEnabled", m.ECPEnabled, "EwsEnabled", m.EwsEnabled, "PopEnabled", m.PopEnabled, "ImapEnabled", m.ImapEnabled,
		"MAPIEnabled", m.MAPIEnabled, "MapiHttpEnabled", mapiHTTP,
		"MAPIBlockOutlookNonCachedMode", m.MAPIBlockOutlookNonCachedMode, "MAPIBlockOutlookVersions", versions,
		"MAPIBlockOutlookRpcHttp", m.MAPIBlockOutlookRpcHttp, "MAPIBlockOutlookExternalConnectivity", m.MAPIBlockOutlookExternalConnectivity,
		"ServerName", m.ServerName, "EmailAddresses", arrV(smtpAddrs(m.EmailAddresses, m.PrimarySmtpAddress)),
		"ExchangeVersion", exchangeVersion, "WhenChanged", changed(m.WhenChanged, m.WhenCreated), "WhenCreated", m.WhenCreated)
}

// reducedRecipient is Get-Recipient's and Get-DistributionGroupMember's object.
func reducedRecipient(cmdlet string, r *recipient) *pwsh.Object {
	const typ = "Microsoft.Exchange.Data.Directory.Management.ReducedRecipient"
	if m := r.m; m != nil {
		return newShapedObject(&reducedShapes[cmdlet][0], cmdlet, typ,
			"Name", m.Name, "DisplayName", m.DisplayName, "Alias", m.Alias, "PrimarySmtpAddress", m.PrimarySmtpAddress,
			"EmailAddresses", arrV(smtpAddrs(m.EmailAddresses, m.PrimarySmtpAddress)),
			"RecipientType", recipientType(m.RecipientTypeDetails), "RecipientTypeDetails", m.RecipientTypeDetails,
			"HiddenFromAddressListsEnabled", false, "DistinguishedName", m.DistinguishedName,
			"Identity", org.CanonicalName(m.DistinguishedName), "Guid", guidV(m.Guid), "ExchangeGuid", guidV(m.ExchangeGuid),
			"LegacyExchangeDN", m.LegacyExchangeDN, "WindowsEmailAddress", m.PrimarySmtpAddress,
			"OrganizationalUnit", ouOf(m.DistinguishedName), "SamAccountName", m.SamAccountName, "ServerName", m.ServerName,
			"Database", m.Database, "WhenCreated", m.WhenCreated, "WhenChanged", changed(m.WhenChanged, m.WhenCreated))
	}
	if d := r.d; d != nil {
		return newShapedObject(&reducedShapes[cmdlet][2], cmdlet, typ,
			"Name", d.Name, "DisplayName", d.DisplayName, "Alias", d.Alias, "PrimarySmtpAddress", d.PrimarySmtpAddress,
			"EmailAddresses", arrV(smtpAddrs(nil, d.PrimarySmtpAddress)),
			"RecipientType", dynamicType, "RecipientTypeDetails", dynamicType,
			"HiddenFromAddressListsEnabled", false, "DistinguishedName", d.DistinguishedName,
			"Identity", org.CanonicalName(d.DistinguishedName), "Guid", guidV(d.Guid),
			"LegacyExchangeDN", d.LegacyExchangeDN, "WindowsEmailAddress", d.PrimarySmtpAddress,
			"OrganizationalUnit", ouOf(d.DistinguishedName),
			"WhenCreated", d.WhenCreated, "WhenChanged", d.WhenCreated)
	}
	g := r.g
	return newShapedObject(&reducedShapes[cmdlet][1], cmdlet, typ,
		"Name", g.Name, "DisplayName", g.DisplayName, "Alias", g.Alias, "PrimarySmtpAddress", g.PrimarySmtpAddress,
		"EmailAddresses", arrV(smtpAddrs(nil, g.PrimarySmtpAddress)),
		"RecipientType", recipientType(g.RecipientTypeDetails), "RecipientTypeDetails", g.RecipientTypeDetails,
		"HiddenFromAddressListsEnabled", false, "DistinguishedName", g.DistinguishedName,
		"Identity", org.CanonicalName(g.DistinguishedName), "Guid", guidV(g.Guid),
		"LegacyExchangeDN", g.LegacyExchangeDN, "WindowsEmailAddress", g.PrimarySmtpAddress,
		"OrganizationalUnit", ouOf(g.DistinguishedName), "SamAccountName", g.SamAccountName,
		"WhenCreated", g.WhenCreated, "WhenChanged", g.WhenCreated)
}

func groupType(details string) string {
	if details == org.MailUniversalSecurityGroup {
		return "Universal, SecurityEnabled"
	}
	return "Universal"
}

func distributionGroupObject(g *org.Group) *pwsh.Object {
	return newObject("Get-DistributionGroup", "Microsoft.Exchange.Data.Directory.Management.DistributionGroup",
		"Name", g.Name, "DisplayName", g.DisplayName, "Alias", g.Alias, "PrimarySmtpAddress", g.PrimarySmtpAddress,
		"EmailAddresses", arrV(smtpAddrs(nil, g.PrimarySmtpAddress)), "RecipientType", recipientType(g.RecipientTypeDetails),
		"RecipientTypeDetails", g.RecipientTypeDetails, "GroupType", groupType(g.RecipientTypeDetails),
		"HiddenFromAddressListsEnabled", false, "SamAccountName", g.SamAccountName, "WindowsEmailAddress", g.PrimarySmtpAddress,
		"LegacyExchangeDN", g.LegacyExchangeDN, "OrganizationalUnit", ouOf(g.DistinguishedName),
		"Identity", org.CanonicalName(g.DistinguishedName), "Guid", guidV(g.Guid), "DistinguishedName", g.DistinguishedName,
		"ExchangeVersion", exchangeVersion, "WhenCreated", g.WhenCreated, "WhenChanged", g.WhenCreated)
}
