package exchange

import (
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

// setADServerSettings accepts the session's AD scope settings. The lab's
// organisation is one domain, whose recipients every session sees, so
// -ViewEntireForest widens nothing here; the cmdlet exists so that a
// client that sets the forest view, as one must in a forest of several
// domains, runs as it would against Exchange.
func (x *ex) setADServerSettings(c *pwsh.Call) error {
	return nil
}

// getDynamicDistributionGroup answers as Exchange does in an organisation
// without dynamic distribution groups, which the lab's is: nothing, and
// an identity that is not found.
func (x *ex) getDynamicDistributionGroup(c *pwsh.Call) error {
	v, ok := c.Param("Identity")
	if !ok {
		return nil
	}
	var dc string
	x.st.Read(func(o *org.Org) { dc = o.DomainController })
	return writeErr(c, &org.NotFoundError{Identity: identityText(v), DomainController: dc}, v)
}
