package rps

import (
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// The role groups the lab models (Exchange's built-in role groups of the
// same names).
const (
	OrganizationManagement         = "Organization Management"
	RecipientManagement            = "Recipient Management"
	ViewOnlyOrganizationManagement = "View-Only Organization Management"
)

// roleGroup says which Exchange cmdlets a role group grants and which of
// their parameters it withholds.
type roleGroup struct {
	// all grants every Exchange cmdlet the host registers.
	all bool
	// readOnly grants every Exchange Get- cmdlet the host registers.
	readOnly bool
	// cmdlets grants these (when the host registers them).
	cmdlets []string
	// hidden are parameters withheld, by cmdlet (lower case) then
	// parameter name.
	hidden map[string][]string
}

// roleGroups is the lab's RBAC table. Organization Management holds every
// role, so every cmdlet and parameter. Recipient Management holds the
// recipient roles (Mail Recipients, Distribution Groups, ...): the recipient
// cmdlets and the organisation's configuration read, and none of the
// certificate, virtual-directory, server (Get-ExchangeServer,
// *-ClientAccessService), Outlook Anywhere or POP/IMAP cmdlets. Because it
// has no server or database cmdlets, the lab also withholds the parameters
// that scope a recipient query by server or database (Get-Mailbox -Server
// and -Database, Get-Recipient -Database): that split is the lab's choice,
// Microsoft documents that RBAC trims parameters but not this detail.
// View-Only Organization Management reads everything (every Get- cmdlet).
var roleGroups = map[string]roleGroup{
	strings.ToLower(OrganizationManagement): {all: true},
	strings.ToLower(RecipientManagement): {
		cmdlets: []string{
			"Get-CASMailbox", "Set-CASMailbox", "Get-Mailbox", "Get-Recipient", "Get-User",
			"Get-Group", "Get-DistributionGroup", "Get-DistributionGroupMember",
			"Get-DynamicDistributionGroup", "Get-OrganizationConfig", "Set-ADServerSettings",
		},
		hidden: map[string][]string{
			"get-mailbox":   {"Server", "Database"},
			"get-recipient": {"Database"},
		},
	},
	strings.ToLower(ViewOnlyOrganizationManagement): {readOnly: true},
}

// RoleGroups lists the role groups Options.Assignments may name.
func RoleGroups() []string {
	return []string{OrganizationManagement, RecipientManagement, ViewOnlyOrganizationManagement}
}

// nonExchange are the commands of PowerShell's restricted remote-server
// session that the endpoint exposes to everyone who has a role
// (PowerShell's InitialSessionState.CreateRestricted for
// SessionCapabilities.RemoteServer, engine/InitialSessionState.cs).
var nonExchange = []string{"Exit-PSSession", "Get-Command", "Get-FormatData", "Measure-Object", "Out-Default", "Select-Object"}

// grant computes what groups allow, from the host's Exchange cmdlets:
// cmdlet name (lower case) → its definition, trimmed to the allowed
// parameters. A cmdlet granted by several groups gets the union of their
// parameters.
func grant(exchangeCmdlets map[string]pwsh.CmdletDef, groups []string) map[string]*pwsh.CmdletDef {
	type acc struct {
		def    pwsh.CmdletDef
		hidden map[string]int // lower parameter → groups that hide it
		grants int
	}
	got := map[string]*acc{}
	add := func(key string, hidden []string) {
		def, ok := exchangeCmdlets[key]
		if !ok {
			return
		}
		a := got[key]
		if a == nil {
			a = &acc{def: def, hidden: map[string]int{}}
			got[key] = a
		}
		a.grants++
		for _, h := range hidden {
			a.hidden[strings.ToLower(h)]++
		}
	}
	for _, g := range groups {
		rg := roleGroups[strings.ToLower(g)]
		for key := range exchangeCmdlets {
			switch {
			case rg.all:
				add(key, nil)
			case rg.readOnly && strings.HasPrefix(key, "get-"):
				add(key, nil)
			}
		}
		for _, name := range rg.cmdlets {
			key := strings.ToLower(name)
			add(key, rg.hidden[key])
		}
	}
	out := make(map[string]*pwsh.CmdletDef, len(got))
	for key, a := range got {
		def := a.def
		var params []pwsh.ParamDef
		for _, p := range def.Params {
			// hidden only when every granting group hides it
			if a.hidden[strings.ToLower(p.Name)] == a.grants {
				continue
			}
			params = append(params, p)
		}
		def.Params = params
		out[key] = &def
	}
	return out
}

// sortedNames returns the display names of defs, sorted.
func sortedNames(defs map[string]*pwsh.CmdletDef) []string {
	out := make([]string, 0, len(defs))
	for _, d := range defs {
		out = append(out, d.Name)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i]) < strings.ToLower(out[j]) })
	return out
}
