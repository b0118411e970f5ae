package exchange

import (
	"crypto/rand"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// Options configures the cmdlets.
type Options struct {
	// Stats receives MailboxWrites (one per Set-CASMailbox that wrote),
	// VdirChanges (one per Set-*VirtualDirectory / Set-OutlookAnywhere that
	// wrote) and CASMailboxRows (one per row Get-CASMailbox returns). The
	// interpreter itself counts cmdlet calls. May be nil.
	Stats *labstats.Counters
	// LocalServer is the server the session runs on: the default of -Server
	// for the certificate and POP/IMAP cmdlets. Empty: the first server by
	// name.
	LocalServer string
	// Now is the clock for WhenChanged and new certificates (default time.Now).
	Now func() time.Time
	// Rand is the randomness for new keys (default crypto/rand).
	Rand io.Reader
}

type ex struct {
	st   *org.Store
	opts Options
}

// Register registers every Exchange cmdlet of cmdlets.json on h, each
// requiring the snap-in pwsh.ExchangeSnapin, working on the organisation
// in st.
func Register(h *pwsh.Host, st *org.Store, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	x := &ex{st: st, opts: opts}
	impls := x.impls()
	specs := append(append([]cmdletSpec(nil), cmdletTable...), extraCmdlets...)
	for _, spec := range specs {
		fn, ok := impls[spec.Name]
		if !ok {
			return fmt.Errorf("exchange: no implementation of %s", spec.Name)
		}
		def := pwsh.CmdletDef{
			Name:             spec.Name,
			ImplementingType: implementingType(spec.Name),
			Params:           paramDefs(spec),
			RequiresSnapin:   pwsh.ExchangeSnapin,
			Process:          fn,
		}
		if err := h.Register(def); err != nil {
			return err
		}
	}
	if len(impls) != len(specs) {
		return fmt.Errorf("exchange: %d implementations for %d cmdlets", len(impls), len(specs))
	}
	return nil
}

// CmdletNames lists the registered cmdlets, sorted.
func CmdletNames() []string {
	out := make([]string, 0, len(cmdletTable))
	for _, c := range cmdletTable {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

func (x *ex) impls() map[string]func(*pwsh.Call) error {
	m := map[string]func(*pwsh.Call) error{
		"Get-ExchangeServer":           x.getExchangeServer,
		"Get-ExchangeCertificate":      x.getExchangeCertificate,
		"New-ExchangeCertificate":      x.newExchangeCertificate,
		"Import-ExchangeCertificate":   x.importExchangeCertificate,
		"Enable-ExchangeCertificate":   x.enableExchangeCertificate,
		"Remove-ExchangeCertificate":   x.removeExchangeCertificate,
		"Export-ExchangeCertificate":   x.exportExchangeCertificate,
		"Get-OutlookAnywhere":          x.getOutlookAnywhere,
		"Set-OutlookAnywhere":          x.setOutlookAnywhere,
		"Get-ClientAccessService":      x.getClientAccessService,
		"Set-ClientAccessService":      x.setClientAccessService,
		"Get-OrganizationConfig":       x.getOrganizationConfig,
		"Set-OrganizationConfig":       x.setOrganizationConfig,
		"Get-Mailbox":                  x.getMailbox,
		"Get-CASMailbox":               x.getCASMailbox,
		"Set-CASMailbox":               x.setCASMailbox,
		"Get-DistributionGroup":        x.getDistributionGroup,
		"Get-DistributionGroupMember":  x.getDistributionGroupMember,
		"Get-Group":                    x.getGroup,
		"Get-Recipient":                x.getRecipient,
		"Get-PopSettings":              x.getProtocolSettings("Pop"),
		"Set-PopSettings":              x.setProtocolSettings("Pop"),
		"Get-ImapSettings":             x.getProtocolSettings("Imap"),
		"Set-ImapSettings":             x.setProtocolSettings("Imap"),
		"Set-ADServerSettings":         x.setADServerSettings,
		"Get-DynamicDistributionGroup": x.getDynamicDistributionGroup,
	}
	for _, k := range vdirCmdlets {
		m["Get-"+k.noun] = x.getVDir(k)
		if k.settable {
			m["Set-"+k.noun] = x.setVDir(k)
		}
	}
	return m
}

// implementingType gives the cmdlet's .NET class, which ends the
// FullyQualifiedErrorId of its errors.
func implementingType(name string) string {
	ns := "Microsoft.Exchange.Management.SystemConfigurationTasks."
	for _, n := range []string{"Mailbox", "Recipient", "Group"} {
		if strings.Contains(name, n) {
			ns = "Microsoft.Exchange.Management.RecipientTasks."
		}
	}
	return ns + strings.ReplaceAll(name, "-", "")
}

// Enum values of the Exchange enums whose values the lab models.
var (
	allowedServicesNames   = []string{"None", "IMAP", "POP", "UM", "IIS", "SMTP", "Federation", "UMCallRouter"}
	allowedServicesNumbers = []int64{0, 1, 2, 4, 8, 16, 32, 64}
	authMethodNames        = []string{"Basic", "Digest", "Ntlm", "Fba", "WindowsIntegrated", "LiveIdFba", "LiveIdBasic", "WSSecurity", "Certificate", "NegoEx", "OAuth", "Adfs", "Kerberos", "Negotiate", "LiveIdNegotiate", "Misconfigured"}
	epTokenCheckingNames   = []string{"None", "Allow", "Require"}
)

// paramDefs maps the documented parameters to the interpreter's binding
// types. Exchange's *IdParameter types take a string or an object from a
// Get- cmdlet; MultiValuedProperty takes arrays or @{Add=…;Remove=…}; the
// enums the lab models are validated at binding, the others are strings.
func paramDefs(spec cmdletSpec) []pwsh.ParamDef {
	// The interpreter binds without parameter sets, so when two parameters
	// share a position (Thumbprint and Identity), only Thumbprint keeps it.
	posTaken := map[int]string{}
	for _, p := range spec.Params {
		if p.Position > 0 {
			if cur, ok := posTaken[p.Position]; !ok || p.Name == "Thumbprint" || (cur != "Thumbprint" && p.Name < cur) {
				posTaken[p.Position] = p.Name
			}
		}
	}
	params := spec.Params
	if spec.Name == "Set-OrganizationConfig" {
		// cmdlets.json lists only MapiHttpEnabled of its 84 on-premises
		// parameters; its note names Confirm, WhatIf and DomainController
		// among them, which scripts commonly pass.
		params = append(append([]paramSpec(nil), params...),
			paramSpec{Name: "Confirm", Type: "SwitchParameter", Switch: true, Aliases: []string{"cf"}},
			paramSpec{Name: "WhatIf", Type: "SwitchParameter", Switch: true, Aliases: []string{"wi"}},
			paramSpec{Name: "DomainController", Type: "Fqdn"})
	}
	var out []pwsh.ParamDef
	for _, p := range params {
		d := pwsh.ParamDef{Name: p.Name, Mandatory: p.Mandatory, Aliases: p.Aliases}
		if p.Position > 0 && posTaken[p.Position] == p.Name {
			d.Position = p.Position
		}
		if p.Pipeline {
			if p.Name == "Identity" {
				d.ValueFromPipeline = true
			}
			d.ValueFromPipelineByPropertyName = true
		}
		switch t := p.Type; {
		case t == "SwitchParameter":
			d.Type = pwsh.TSwitch
		case t == "Boolean":
			d.Type = pwsh.TBool
			if spec.Name == "Set-CASMailbox" && p.Name == "MapiHttpEnabled" {
				// Nullable<bool>: $null means "use the organisation's setting".
				d.Type, d.TypeName = pwsh.TObject, "System.Nullable`1[System.Boolean]"
			}
		case t == "String":
			d.Type = pwsh.TString
		case t == "String[]":
			d.Type = pwsh.TStringArray
		case t == "RecipientTypeDetails[]" || t == "RecipientType[]":
			d.Type, d.TypeName = pwsh.TStringArray, "Microsoft.Exchange.Data.Directory.Recipient."+t
		case t == "Int32":
			d.Type = pwsh.TInt
		case t == "Unlimited":
			d.Type, d.TypeName = pwsh.TUnlimited, "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"
		case t == "MultiValuedProperty":
			d.Type, d.TypeName = pwsh.TMultiValued, "Microsoft.Exchange.Data.MultiValuedProperty`1[System.String]"
		case t == "ProxyAddressCollection":
			d.Type, d.TypeName = pwsh.TMultiValued, "Microsoft.Exchange.Data.ProxyAddressCollection"
		case t == "Uri":
			d.Type = pwsh.TUri
		case strings.HasSuffix(t, "IdParameter"):
			d.Type, d.TypeName = pwsh.TIdentity, "Microsoft.Exchange.Configuration.Tasks."+t
		case t == "SecureString":
			d.Type = pwsh.TSecureString
		case t == "Byte[]":
			d.Type = pwsh.TByteArray
		case t == "AllowedServices":
			d.Type, d.TypeName = pwsh.TEnum, "Microsoft.Exchange.Management.SystemConfigurationTasks.AllowedServices"
			d.EnumValues, d.EnumNumbers, d.Flags = allowedServicesNames, allowedServicesNumbers, true
		case t == "AuthenticationMethod":
			d.Type, d.TypeName = pwsh.TEnum, "Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod"
			d.EnumValues = authMethodNames
		case t == "ExtendedProtectionTokenCheckingMode":
			d.Type, d.TypeName = pwsh.TEnum, "Microsoft.Exchange.Data.Directory.ExtendedProtectionTokenCheckingMode"
			d.EnumValues = epTokenCheckingNames
		case t == "PSCredential" || t == "PSCredential[]" || t == "X509Certificate2":
			d.Type = pwsh.TObject
		case t == "Fqdn":
			d.Type, d.TypeName = pwsh.TString, "Microsoft.Exchange.Data.Fqdn"
		case t == "Hostname":
			d.Type, d.TypeName = pwsh.TString, "Microsoft.Exchange.Data.Hostname"
		case t == "SmtpAddress":
			d.Type, d.TypeName = pwsh.TString, "Microsoft.Exchange.Data.SmtpAddress"
		default:
			// Enums and value types the lab does not model: bound as text
			// and accepted; the cmdlets ignore them.
			d.Type, d.TypeName = pwsh.TString, t
		}
		out = append(out, d)
	}
	return out
}

// exchangeError turns an org error into Exchange's error record details.
func exchangeError(err error, target pwsh.Value) *pwsh.Error {
	switch e := err.(type) {
	case *pwsh.Error:
		return e
	case *org.NotFoundError:
		return &pwsh.Error{Message: e.Error(), ExceptionType: e.ExceptionType(), Category: pwsh.CatNotSpecified, ErrorID: errID(e.ExceptionType()), TargetObject: target}
	case *org.AmbiguousError:
		return &pwsh.Error{Message: e.Error(), ExceptionType: e.ExceptionType(), Category: pwsh.CatNotSpecified, ErrorID: errID(e.ExceptionType()), TargetObject: target}
	}
	return &pwsh.Error{Message: err.Error(), ExceptionType: "Microsoft.Exchange.Configuration.Tasks.TaskException", Category: pwsh.CatInvalidOperation, ErrorID: errID(err.Error()), TargetObject: target}
}

// errID makes the 8-hex-digit id Exchange puts before the cmdlet's class in
// a FullyQualifiedErrorId.
func errID(s string) string { return fmt.Sprintf("%08X", crc32.ChecksumIEEE([]byte(s))) }

// taskError is an Exchange validation error (non-terminating, like every
// Exchange error: scripts need -ErrorAction Stop to catch it).
func taskError(exception string, cat pwsh.ErrorCategory, target pwsh.Value, format string, a ...any) *pwsh.Error {
	msg := fmt.Sprintf(format, a...)
	return &pwsh.Error{Message: msg, ExceptionType: exception, Category: cat, ErrorID: errID(exception), TargetObject: target}
}

// writeErr writes err as a non-terminating error and returns what the
// interpreter says (non-nil when it became terminating).
// Parameter binding failures are terminating for the command, as
// PowerShell's own binder makes them.
func writeErr(c *pwsh.Call, err error, target pwsh.Value) error {
	e := exchangeError(err, target)
	if strings.HasPrefix(e.ExceptionType, "System.Management.Automation.ParameterBinding") {
		return e
	}
	return c.WriteError(e, e.Category, target)
}

// promptFails is what a prompting cmdlet fails with where the session
// cannot prompt: message is the prompt Exchange would show. The host
// decides the words (pwsh.Call.PromptUnavailable): powershell.exe over
// WinRS is in NonInteractive mode, a remote runspace has no host UI.
func promptFails(c *pwsh.Call, message string, target pwsh.Value) *pwsh.Error {
	return c.PromptUnavailable(message, target)
}

// certDate is a certificate date as Exchange's prompts print it (en-US).
func certDate(t time.Time) string { return t.UTC().Format("1/2/2006 3:04:05 PM") }

func (x *ex) now() time.Time { return x.opts.Now().UTC() }

// localServer is the session's server.
func (x *ex) localServer(o *org.Org) string {
	if x.opts.LocalServer != "" {
		return x.opts.LocalServer
	}
	best := ""
	for _, s := range o.Servers {
		if s.IsEdge() {
			continue // sessions never run on an Edge Transport server
		}
		if best == "" || strings.ToLower(s.Name) < strings.ToLower(best) {
			best = s.Name
		}
	}
	return best
}

// identityText turns a bound *IdParameter value into the identity string
// to resolve: an object from a Get- cmdlet gives its Guid (else Identity,
// else Name), a Guid its text, anything else its string form.
func identityText(v pwsh.Value, prefer ...string) string {
	switch t := v.(type) {
	case nil:
		return ""
	case *pwsh.Object:
		for _, p := range append(prefer, "Guid", "Identity", "Name") {
			if pv, ok := t.Get(p); ok && pv != nil {
				return pwsh.ToString(pv)
			}
		}
		return t.ToString()
	}
	return pwsh.ToString(v)
}

// serverParam resolves -Server (or the local server) to a server name.
func (x *ex) serverParam(c *pwsh.Call, o *org.Org) (string, error) {
	if v, ok := c.Param("Server"); ok && v != nil {
		s, err := o.FindServer(identityText(v, "Name", "Fqdn"))
		if err != nil {
			return "", err
		}
		return s.Name, nil
	}
	return x.localServer(o), nil
}
