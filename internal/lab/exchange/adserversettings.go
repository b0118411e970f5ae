package exchange

import (
	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// extraCmdlets are cmdlets the lab implements that cmdlets.json does not
// document; their parameters are those of Microsoft's pages
// (learn.microsoft.com/powershell/module/exchange/set-adserversettings).
var extraCmdlets = []cmdletSpec{
	{Name: "Set-ADServerSettings", Params: []paramSpec{
		{Name: "ConfigurationDomainController", Type: "Fqdn"},
		{Name: "Confirm", Type: "SwitchParameter", Switch: true, Aliases: []string{"cf"}},
		{Name: "PreferredGlobalCatalog", Type: "Fqdn"},
		{Name: "PreferredServer", Type: "Fqdn"},
		{Name: "RecipientViewRoot", Type: "String"},
		{Name: "ViewEntireForest", Type: "Boolean"},
		{Name: "WhatIf", Type: "SwitchParameter", Switch: true, Aliases: []string{"wi"}},
	}},
	// learn.microsoft.com/powershell/module/exchange/get-dynamicdistributiongroup
	{Name: "Get-DynamicDistributionGroup", Params: []paramSpec{
		{Name: "Anr", Type: "String"},
		{Name: "DomainController", Type: "Fqdn"},
		{Name: "Filter", Type: "String"},
		{Name: "Identity", Type: "DynamicGroupIdParameter", Position: 1, Pipeline: true},
		{Name: "ManagedBy", Type: "GeneralRecipientIdParameter"},
		{Name: "OrganizationalUnit", Type: "OrganizationalUnitIdParameter"},
		{Name: "ReadFromDomainController", Type: "SwitchParameter", Switch: true},
		{Name: "ResultSize", Type: "Unlimited"},
		{Name: "SortBy", Type: "String"},
	}},
}

// viewEntireForestKey is where a runspace keeps its -ViewEntireForest.
const viewEntireForestKey = "ADServerSettings.ViewEntireForest"

// setADServerSettings sets the runspace's recipient scope. Exchange scopes
// a session to its server's domain by default; -ViewEntireForest $true
// widens recipient searches (Get-Mailbox, Get-CASMailbox, Get-Recipient
// and the group cmdlets) to every domain of the forest, for the rest of
// the session.
func (x *ex) setADServerSettings(c *pwsh.Call) error {
	v, ok := c.Param("ViewEntireForest")
	if !ok || c.Bool("WhatIf") {
		return nil
	}
	c.Runspace.Set(viewEntireForestKey, pwsh.ToBool(v))
	return nil
}

// forestView reports whether the call's runspace views the entire forest.
func forestView(c *pwsh.Call) bool {
	if c.Runspace == nil {
		return false
	}
	b, _ := c.Runspace.Get(viewEntireForestKey).(bool)
	return b
}

// dynamicType is a dynamic distribution group's RecipientType and
// RecipientTypeDetails.
const dynamicType = "DynamicDistributionGroup"

// getDynamicDistributionGroup lists the dynamic distribution groups (by
// -Identity, -Filter, -Anr, -OrganizationalUnit, -ResultSize), as
// DynamicDistributionGroup objects.
func (x *ex) getDynamicDistributionGroup(c *pwsh.Call) error {
	q, err := x.parseQuery(c, recipientFilterable, recipientFilterableList)
	if err != nil {
		return writeErr(c, err, nil)
	}
	var groups []org.DynamicGroup
	var members map[uuid.UUID][]string
	var ferr error
	x.st.Read(func(o *org.Org) {
		members = memberIndex(o)
		if q.hasIdentity && q.identity != nil {
			d, err := o.FindDynamicGroup(identityText(q.identity))
			if err != nil {
				ferr = err
				return
			}
			groups = []org.DynamicGroup{*d}
			return
		}
		for _, d := range o.DynamicGroups {
			groups = append(groups, *d)
		}
	})
	if ferr != nil {
		return writeErr(c, ferr, q.identity)
	}
	var count int64
	for k := range groups {
		r := &recipient{d: &groups[k], memberOf: members[groups[k].Guid]}
		if !q.matches(r) {
			continue
		}
		if q.limit >= 0 && count >= q.limit {
			if q.explicit {
				return c.WriteWarning(explicitResultSizeWarning)
			}
			return c.WriteWarning(defaultResultSizeWarning)
		}
		count++
		if err := c.WriteObject(dynamicGroupObject(r.d)); err != nil {
			return err
		}
	}
	return nil
}

// dynamicGroupObject is Get-DynamicDistributionGroup's object, with the
// property names of Exchange 2019's (the sample
// dynamicdistributiongroup-e2019-export-clixml.xml).
func dynamicGroupObject(d *org.DynamicGroup) *pwsh.Object {
	return newObject("Get-DynamicDistributionGroup", "Microsoft.Exchange.Data.Directory.Management.DynamicDistributionGroup",
		"RecipientContainer", org.CanonicalName(d.RecipientContainer), "RecipientFilter", d.RecipientFilter,
		"LdapRecipientFilter", ldapFilter(d.RecipientFilter), "IncludedRecipients", nil, "RecipientFilterType", "Custom",
		"Notes", "", "ManagedBy", nil, "Alias", d.Alias, "OrganizationalUnit", ouOf(d.DistinguishedName),
		"DisplayName", d.DisplayName, "EmailAddresses", arrV(smtpAddrs(nil, d.PrimarySmtpAddress)),
		"HiddenFromAddressListsEnabled", false, "LegacyExchangeDN", d.LegacyExchangeDN,
		"PrimarySmtpAddress", d.PrimarySmtpAddress, "RecipientType", dynamicType, "RecipientTypeDetails", dynamicType,
		"WindowsEmailAddress", d.PrimarySmtpAddress, "Identity", org.CanonicalName(d.DistinguishedName),
		"ExchangeVersion", exchangeVersion, "Name", d.Name, "DistinguishedName", d.DistinguishedName,
		"Guid", guidV(d.Guid), "WhenCreated", d.WhenCreated, "WhenChanged", d.WhenCreated)
}
