package exchange

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// Need is one cmdlet a step runs, with the parameters it passes and the
// Exchange management role that grants them (Microsoft's built-in roles).
type Need struct {
	Cmdlet string
	Params []string
	Role   string
}

// Built-in management roles (learn.microsoft.com, "Built-in management
// roles").
const (
	RoleCertificates   = "Exchange Server Certificates"
	RoleVirtualDirs    = "Exchange Virtual Directories"
	RoleServers        = "Exchange Servers"
	RoleOrgConfig      = "Organization Configuration"
	RoleMailRecipients = "Mail Recipients"
	RoleDistGroups     = "Distribution Groups"
	RolePopImap        = "POP3 And IMAP4 Protocols"
	RoleViewRecipients = "View-Only Recipients"
	RoleViewConfig     = "View-Only Configuration"
)

var (
	needSession  = []Need{{"Set-ADServerSettings", []string{"ViewEntireForest"}, RoleViewRecipients}}
	needServers  = []Need{{"Get-ExchangeServer", nil, RoleViewConfig}}
	needCertRead = []Need{{"Get-ExchangeCertificate", []string{"Server", "Thumbprint"}, RoleCertificates}}
	needURLRead  = []Need{
		{"Get-OwaVirtualDirectory", []string{"ADPropertiesOnly", "Identity"}, RoleVirtualDirs},
		{"Get-EcpVirtualDirectory", []string{"ADPropertiesOnly", "Identity"}, RoleVirtualDirs},
		{"Get-MapiVirtualDirectory", []string{"ADPropertiesOnly", "Identity"}, RoleVirtualDirs},
		{"Get-WebServicesVirtualDirectory", []string{"ADPropertiesOnly", "Identity"}, RoleVirtualDirs},
		{"Get-ActiveSyncVirtualDirectory", []string{"ADPropertiesOnly", "Identity"}, RoleVirtualDirs},
		{"Get-OabVirtualDirectory", []string{"ADPropertiesOnly", "Identity"}, RoleVirtualDirs},
		{"Get-AutodiscoverVirtualDirectory", []string{"ADPropertiesOnly"}, RoleVirtualDirs},
		{"Get-PowerShellVirtualDirectory", []string{"ADPropertiesOnly"}, RoleVirtualDirs},
		{"Get-OutlookAnywhere", []string{"ADPropertiesOnly", "Identity"}, RoleVirtualDirs},
		{"Get-ClientAccessService", nil, RoleViewConfig},
	}
	needPopImapRead = []Need{
		{"Get-PopSettings", []string{"Server"}, RolePopImap},
		{"Get-ImapSettings", []string{"Server"}, RolePopImap},
	}
	needRecipients = []Need{
		{"Get-DistributionGroup", []string{"Identity"}, RoleViewRecipients},
		{"Get-DistributionGroupMember", []string{"Identity", "ResultSize"}, RoleViewRecipients},
		{"Get-DynamicDistributionGroup", []string{"Identity"}, RoleViewRecipients},
		{"Get-Recipient", []string{"RecipientPreviewFilter", "OrganizationalUnit", "ResultSize"}, RoleViewRecipients},
		{"Get-Mailbox", []string{"RecipientTypeDetails", "ResultSize"}, RoleViewRecipients},
		{"Get-CASMailbox", []string{"ResultSize"}, RoleViewRecipients},
	}
)

func joinNeeds(lists ...[]Need) []Need {
	var out []Need
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// StepNeeds lists, per step kind, every cmdlet and parameter the step
// runs on the Exchange endpoint (the session's Set-ADServerSettings
// included). `exrunbook permissions` prints it; PermissionsCheck checks it.
var StepNeeds = map[string][]Need{
	"certificate": joinNeeds(needSession, needServers, needCertRead, []Need{
		{"Import-ExchangeCertificate", []string{"Server", "FileData", "Password"}, RoleCertificates},
		{"New-ExchangeCertificate", []string{"Server", "GenerateRequest", "SubjectName", "DomainName", "KeySize", "PrivateKeyExportable"}, RoleCertificates},
		{"Export-ExchangeCertificate", []string{"Server", "Thumbprint", "BinaryEncoded", "Password"}, RoleCertificates},
		{"Remove-ExchangeCertificate", []string{"Server", "Thumbprint", "Confirm"}, RoleCertificates},
	}),
	"bind-certificate": joinNeeds(needSession, needServers, needCertRead, needPopImapRead, []Need{
		{"Enable-ExchangeCertificate", []string{"Server", "Thumbprint", "Services", "DoNotRequireSsl", "Force"}, RoleCertificates},
		{"Set-PopSettings", []string{"Server", "X509CertificateName"}, RolePopImap},
		{"Set-ImapSettings", []string{"Server", "X509CertificateName"}, RolePopImap},
	}),
	"external-urls": joinNeeds(needSession, needServers, needURLRead, needCertRead, []Need{
		{"Set-OwaVirtualDirectory", []string{"Identity", "ExternalUrl"}, RoleVirtualDirs},
		{"Set-EcpVirtualDirectory", []string{"Identity", "ExternalUrl"}, RoleVirtualDirs},
		{"Set-MapiVirtualDirectory", []string{"Identity", "ExternalUrl", "IISAuthenticationMethods"}, RoleVirtualDirs},
		{"Set-WebServicesVirtualDirectory", []string{"Identity", "ExternalUrl"}, RoleVirtualDirs},
		{"Set-ActiveSyncVirtualDirectory", []string{"Identity", "ExternalUrl"}, RoleVirtualDirs},
		{"Set-OabVirtualDirectory", []string{"Identity", "ExternalUrl"}, RoleVirtualDirs},
		{"Set-OutlookAnywhere", []string{"Identity", "ExternalHostname", "ExternalClientsRequireSsl", "ExternalClientAuthenticationMethod"}, RoleVirtualDirs},
	}),
	"mapi-http": joinNeeds(needSession, []Need{
		{"Get-OrganizationConfig", nil, RoleViewConfig},
		{"Set-OrganizationConfig", []string{"MapiHttpEnabled"}, RoleOrgConfig},
		{"Get-CASMailbox", []string{"ResultSize"}, RoleViewRecipients},
		{"Get-Mailbox", []string{"RecipientTypeDetails", "ResultSize"}, RoleViewRecipients},
	}),
	"block-mailboxes": joinNeeds(needSession, needServers, needRecipients, []Need{
		{"Set-CASMailbox", []string{"Identity", "MAPIBlockOutlookRpcHttp", "MAPIBlockOutlookExternalConnectivity"}, RoleMailRecipients},
	}),
}

// Missing is one cmdlet or parameter the signed-in account cannot run.
type Missing struct {
	Cmdlet string
	// Param is empty when the whole cmdlet is missing.
	Param string
	Role  string
}

func (m Missing) String() string {
	if m.Param == "" {
		return fmt.Sprintf("%s (role %s)", m.Cmdlet, m.Role)
	}
	return fmt.Sprintf("%s -%s (role %s)", m.Cmdlet, m.Param, m.Role)
}

// CheckPermissions asks the endpoint, with ONE Get-Command, which of the
// needed cmdlets the signed-in account may run and with which parameters
// (RBAC trims both), and returns what is missing, in the order needed.
func (c *Client) CheckPermissions(ctx context.Context, needs []Need) ([]Missing, error) {
	const op = "CheckPermissions"
	seen := map[string]bool{}
	var names []psrp.Value
	for _, n := range needs {
		if !seen[n.Cmdlet] {
			seen[n.Cmdlet] = true
			names = append(names, n.Cmdlet)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	// Not trimmed: CommandInfo's Parameters is a dictionary, which
	// Select-Object would flatten to its type name.
	pl := pipeline(command("Get-Command", param("Name", psrp.NewList(names...))))
	res, err := c.readResult(ctx, op, pl)
	if err != nil {
		return nil, err
	}
	// A cmdlet the account lacks is a non-terminating "not recognized"
	// error record; what is listed is what RBAC allows.
	have := map[string]map[string]bool{}
	rs, err := rows(op, res.Output)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		name := r.need("Name")
		ps := map[string]bool{}
		if o, ok := r.value("Parameters").(*psrp.Object); ok {
			for _, e := range o.Entries {
				if k, ok := asString(e.Key); ok {
					ps[strings.ToLower(k)] = true
				}
			}
		}
		if r.err != nil {
			return nil, r.err
		}
		have[strings.ToLower(name)] = ps
	}
	var missing []Missing
	done := map[string]bool{}
	for _, n := range needs {
		ps, ok := have[strings.ToLower(n.Cmdlet)]
		if !ok {
			if !done[n.Cmdlet] {
				done[n.Cmdlet] = true
				missing = append(missing, Missing{Cmdlet: n.Cmdlet, Role: n.Role})
			}
			continue
		}
		for _, p := range n.Params {
			if key := n.Cmdlet + " -" + p; !ps[strings.ToLower(p)] && !done[key] {
				done[key] = true
				missing = append(missing, Missing{Cmdlet: n.Cmdlet, Param: p, Role: n.Role})
			}
		}
	}
	return missing, nil
}

// StepKindsWithNeeds lists the step kinds of StepNeeds, sorted.
func StepKindsWithNeeds() []string {
	out := make([]string, 0, len(StepNeeds))
	for k := range StepNeeds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
