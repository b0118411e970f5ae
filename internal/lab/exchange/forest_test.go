package exchange_test

import (
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
)

func forestLab(t *testing.T) *lab {
	t.Helper()
	o := orgtest.New(12)
	orgtest.AddForest(o)
	return newLab(t, o)
}

// TestViewEntireForestWidensRecipientSearches: a session sees its
// server's domain until Set-ADServerSettings -ViewEntireForest $true, and
// then every domain, for the rest of the session only.
func TestViewEntireForestWidensRecipientSearches(t *testing.T) {
	l := forestLab(t)
	const forest = "Set-ADServerSettings -ViewEntireForest $true\n"
	for _, c := range []struct{ script, want string }{
		{"@(Get-Mailbox -ResultSize Unlimited).Count", "12"},
		{"@(Get-CASMailbox -ResultSize Unlimited).Count", "12"},
		{"@(Get-Recipient -RecipientType UserMailbox -ResultSize Unlimited).Count", "12"},
		{forest + "@(Get-Mailbox -ResultSize Unlimited).Count", "15"},
		{forest + "@(Get-CASMailbox -ResultSize Unlimited).Count", "15"},
		{forest + "@(Get-Recipient -RecipientType UserMailbox -ResultSize Unlimited).Count", "15"},
		{forest + "Set-ADServerSettings -ViewEntireForest $false\n@(Get-CASMailbox -ResultSize Unlimited).Count", "12"},
		{forest + "@(Get-CASMailbox -OrganizationalUnit emea.contoso.test/Users).Count", "3"},
		{"@(Get-CASMailbox -OrganizationalUnit emea.contoso.test/Users).Count", "0"},
		{forest + "(Get-CASMailbox -Identity emea1@emea.contoso.test).Name", "EMEA emea1"},
		{forest + "Set-CASMailbox -Identity emea1@emea.contoso.test -OWAEnabled $false; (Get-CASMailbox emea1@emea.contoso.test).OWAEnabled", "False"},
	} {
		if out := strings.TrimSpace(l.ok(c.script)); out != c.want {
			t.Errorf("%q → %q, want %q", c.script, out, c.want)
		}
	}
	// outside the forest view, another domain's recipient is not found,
	// for reading or writing
	for _, script := range []string{"Get-CASMailbox -Identity emea2@emea.contoso.test", "Set-CASMailbox -Identity emea2 -OWAEnabled $false"} {
		if errs := l.fails(script); !strings.Contains(errs, "couldn't be found") {
			t.Errorf("%s: %s", script, errs)
		}
	}
	// the forest view of one session is not another's
	if out := strings.TrimSpace(l.ok("@(Get-Mailbox -ResultSize Unlimited).Count")); out != "12" {
		t.Errorf("a new session inherited the forest view: %s", out)
	}
}

func TestDynamicDistributionGroup(t *testing.T) {
	l := forestLab(t)
	for _, c := range []struct{ script, want string }{
		{"@(Get-DynamicDistributionGroup).Count", "1"},
		{"$d = Get-DynamicDistributionGroup -Identity AllowField; $d.RecipientFilter; $d.RecipientContainer; $d.LdapRecipientFilter; $d.RecipientTypeDetails",
			orgtest.DynamicFilter + "\ncontoso.test/Users\n(&(department=Field)(extensionAttribute1=External))\nDynamicDistributionGroup"},
		{"(Get-DynamicDistributionGroup -Identity AllowField@contoso.test).Name", "AllowField"},
		{"@(Get-DynamicDistributionGroup -Filter \"Name -like 'Nothing*'\").Count", "0"},
		{"$d = Get-DynamicDistributionGroup AllowField; (Get-Recipient -RecipientPreviewFilter $d.RecipientFilter -OrganizationalUnit $d.RecipientContainer -ResultSize Unlimited | Sort-Object Alias | ForEach-Object { $_.Alias }) -join ','", "user8,user9"},
		{"@(Get-Recipient -RecipientPreviewFilter \"Department -eq 'Field'\" -ResultSize Unlimited).Count", "3"},
		{"@(Get-Recipient -RecipientPreviewFilter \"Department -eq 'Field'\" -OrganizationalUnit 'OU=Groups,DC=contoso,DC=test').Count", "0"},
		{"(Get-DistributionGroupMember AllowExternalAccess | Where-Object { $_.RecipientType -eq 'DynamicDistributionGroup' }).Name", "AllowField"},
		{"(Get-Recipient -Identity AllowField).RecipientType", "DynamicDistributionGroup"},
		{"@(Get-Recipient -RecipientTypeDetails DynamicDistributionGroup).Count", "1"},
	} {
		if out := strings.TrimSpace(l.ok(c.script)); out != c.want {
			t.Errorf("%q → %q, want %q", c.script, out, c.want)
		}
	}
	errs := l.fails("Get-DynamicDistributionGroup -Identity NoSuchGroup")
	if !strings.Contains(errs, "NoSuchGroup") || !strings.Contains(errs, "couldn't be found") {
		t.Errorf("unknown identity: %s", errs)
	}
}

func TestEdgeServer(t *testing.T) {
	l := forestLab(t)
	for _, c := range []struct{ script, want string }{
		{"$s = Get-ExchangeServer EDGE01; $s.ServerRole; $s.IsEdgeServer; $s.IsClientAccessServer; $s.IsMailboxServer; [string]$s.DatabaseAvailabilityGroup", "Edge\nTrue\nFalse\nFalse"},
		{"(Get-ExchangeServer EX01).IsEdgeServer", "False"},
		{"@(Get-ExchangeServer).Count", "3"},
		{"@(Get-OwaVirtualDirectory -Server EDGE01).Count", "0"},
	} {
		if out := strings.TrimSpace(l.ok(c.script)); out != c.want {
			t.Errorf("%q → %q, want %q", c.script, out, c.want)
		}
	}
}
