package rps

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/google/uuid"
)

// Type-name building blocks (the type chains of the real samples in
// internal/psrp/testdata/samples).
const (
	tObject          = "System.Object"
	tPSCustomObject  = "System.Management.Automation.PSCustomObject"
	tConfigurable    = "Microsoft.Exchange.Data.ConfigurableObject"
	tADRawEntry      = "Microsoft.Exchange.Data.Directory.ADRawEntry"
	tADObject        = "Microsoft.Exchange.Data.Directory.ADObject"
	tADPresentation  = "Microsoft.Exchange.Data.Directory.Management.ADPresentationObject"
	tMailEnabled     = "Microsoft.Exchange.Data.Directory.Management.MailEnabledRecipient"
	tADConfig        = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADConfigurationObject"
	tADVdir          = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADVirtualDirectory"
	tExchangeVdir    = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ExchangeVirtualDirectory"
	tWebAppVdir      = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ExchangeWebAppVirtualDirectory"
	tServiceVdir     = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADExchangeServiceVirtualDirectory"
	tCertificate     = "Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate"
	tMeasureInfo     = "Microsoft.PowerShell.Commands.GenericMeasureInfo"
	tCmdletInfo      = "System.Management.Automation.CmdletInfo"
	tParamMetadata   = "System.Management.Automation.ParameterMetadata"
	exchangeAsm      = ", Version=15.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]"
	mscorlibAsm      = ", mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]"
	tMVPBase         = "Microsoft.Exchange.Data.MultiValuedPropertyBase"
	tMVPString       = "Microsoft.Exchange.Data.MultiValuedProperty`1[[System.String" + mscorlibAsm
	tMVPAuthMethod   = "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod, Microsoft.Exchange.Data.Directory" + exchangeAsm
	tADMVPAuthMethod = "Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod, Microsoft.Exchange.Data.Directory" + exchangeAsm
	tMVPEPFlag       = "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.SystemConfiguration.ExtendedProtectionFlag, Microsoft.Exchange.Data.Directory" + exchangeAsm
	tMVPADObjectID   = "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.ADObjectId, Microsoft.Exchange.Data.Directory" + exchangeAsm
	tADMVPADObjectID = "Microsoft.Exchange.Data.Directory.ADMultiValuedProperty`1[[Microsoft.Exchange.Data.Directory.ADObjectId, Microsoft.Exchange.Data.Directory" + exchangeAsm
	tProxyAddresses  = "Microsoft.Exchange.Data.ProxyAddressCollection"
	tProxyBase       = "Microsoft.Exchange.Data.ProxyAddressBaseCollection`1[[Microsoft.Exchange.Data.ProxyAddress, Microsoft.Exchange.Data" + exchangeAsm
	tMVPProxy        = "Microsoft.Exchange.Data.MultiValuedProperty`1[[Microsoft.Exchange.Data.ProxyAddress, Microsoft.Exchange.Data" + exchangeAsm
)

var (
	adTail       = []string{tADObject, tADRawEntry, tConfigurable, tObject}
	presentation = append([]string{tADPresentation}, adTail...)
	configObject = append([]string{tADConfig}, adTail...)
	vdirTail     = append([]string{tExchangeVdir, tADVdir}, configObject...)
)

func chain(head []string, tail []string) []string {
	return append(append([]string(nil), head...), tail...)
}

// typeChains gives the full type chain, most derived first, of each type
// the lab's cmdlets write. The chains of ExchangeServer, OrganizationConfig,
// Mailbox, DynamicDistributionGroup, the OWA and EWS virtual directories
// and ExchangeCertificate are the real samples' (internal/psrp/testdata/samples,
// checked by TestTypeChainsMatchSamples); the others follow Exchange's
// class hierarchy the same way (a presentation object of a recipient or
// server, a virtual directory under ExchangeVirtualDirectory, a protocol
// configuration under ADConfigurationObject).
var typeChains = map[string][]string{
	"Microsoft.Exchange.Data.Directory.Management.ExchangeServer":     chain([]string{"Microsoft.Exchange.Data.Directory.Management.ExchangeServer"}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.OrganizationConfig": chain([]string{"Microsoft.Exchange.Data.Directory.Management.OrganizationConfig"}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.ClientAccessServer": chain([]string{"Microsoft.Exchange.Data.Directory.Management.ClientAccessServer"}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.Mailbox": chain([]string{"Microsoft.Exchange.Data.Directory.Management.Mailbox",
		"Microsoft.Exchange.Data.Directory.Management.MailEnabledOrgPerson", tMailEnabled}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.CASMailbox":       chain([]string{"Microsoft.Exchange.Data.Directory.Management.CASMailbox"}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.ReducedRecipient": chain([]string{"Microsoft.Exchange.Data.Directory.Management.ReducedRecipient"}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.WindowsGroup":     chain([]string{"Microsoft.Exchange.Data.Directory.Management.WindowsGroup"}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.DistributionGroup": chain([]string{"Microsoft.Exchange.Data.Directory.Management.DistributionGroup",
		"Microsoft.Exchange.Data.Directory.Management.DistributionGroupBase", tMailEnabled}, presentation),
	"Microsoft.Exchange.Data.Directory.Management.DynamicDistributionGroup": chain([]string{"Microsoft.Exchange.Data.Directory.Management.DynamicDistributionGroup",
		"Microsoft.Exchange.Data.Directory.Management.DistributionGroupBase", tMailEnabled}, presentation),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOwaVirtualDirectory":          chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOwaVirtualDirectory", tWebAppVdir}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADEcpVirtualDirectory":          chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADEcpVirtualDirectory", tWebAppVdir}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADWebServicesVirtualDirectory":  chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADWebServicesVirtualDirectory", tServiceVdir}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADAutodiscoverVirtualDirectory": chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADAutodiscoverVirtualDirectory", tServiceVdir}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADMapiVirtualDirectory":         chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADMapiVirtualDirectory"}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOabVirtualDirectory":          chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOabVirtualDirectory"}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADMobileVirtualDirectory":       chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADMobileVirtualDirectory"}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADPowerShellVirtualDirectory":   chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADPowerShellVirtualDirectory"}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADRpcHttpVirtualDirectory":      chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.ADRpcHttpVirtualDirectory"}, vdirTail),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.Pop3AdConfiguration": chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.Pop3AdConfiguration",
		"Microsoft.Exchange.Data.Directory.SystemConfiguration.PopImapAdConfiguration", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADEmailTransport"}, configObject),
	"Microsoft.Exchange.Data.Directory.SystemConfiguration.Imap4AdConfiguration": chain([]string{"Microsoft.Exchange.Data.Directory.SystemConfiguration.Imap4AdConfiguration",
		"Microsoft.Exchange.Data.Directory.SystemConfiguration.PopImapAdConfiguration", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADEmailTransport"}, configObject),
	tCertificate: {tCertificate, "System.Security.Cryptography.X509Certificates.X509Certificate2", "System.Security.Cryptography.X509Certificates.X509Certificate", tObject},
	"Microsoft.Exchange.Management.SystemConfigurationTasks.BinaryFileDataObject": {"Microsoft.Exchange.Management.SystemConfigurationTasks.BinaryFileDataObject", tConfigurable, tObject},
	tMeasureInfo: {tMeasureInfo, "Microsoft.PowerShell.Commands.MeasureInfo", tObject},
	tCmdletInfo:  {tCmdletInfo, "System.Management.Automation.CommandInfo", tObject},
}

// mvpChains gives the collection type of multi-valued properties whose
// element type is not String (names as in the samples); every other list
// property is a MultiValuedProperty<String>.
var mvpChains = map[string][]string{
	"internalauthenticationmethods": {tADMVPAuthMethod, tMVPAuthMethod, tMVPBase, tObject},
	"externalauthenticationmethods": {tADMVPAuthMethod, tMVPAuthMethod, tMVPBase, tObject},
	"iisauthenticationmethods":      {tADMVPAuthMethod, tMVPAuthMethod, tMVPBase, tObject},
	"extendedprotectionflags":       {tMVPEPFlag, tMVPBase, tObject},
	"emailaddresses":                {tProxyAddresses, tProxyBase, tMVPProxy, tMVPBase, tObject},
	"managedby":                     {tADMVPADObjectID, tMVPADObjectID, tMVPBase, tObject},
	"grantsendonbehalfto":           {tADMVPADObjectID, tMVPADObjectID, tMVPBase, tObject},
	"members":                       {tADMVPADObjectID, tMVPADObjectID, tMVPBase, tObject},
}

var mvpString = []string{tMVPString, tMVPBase, tObject}

// toWire converts an output object to what Exchange's endpoint sends at
// its default (Partial) serialization level (see the package doc, "Objects").
func toWire(v pwsh.Value) psrp.Value {
	switch x := pwsh.Normalize(v).(type) {
	case *pwsh.Object:
		return objectToWire(x)
	case *pwsh.Array:
		items := make([]psrp.Value, len(x.Items))
		for i, it := range x.Items {
			items[i] = toWire(it)
		}
		return &psrp.Object{TypeNames: []string{"System.Object[]", "System.Array", tObject}, Kind: psrp.ListContainer, Items: items}
	case *pwsh.Hashtable:
		return hashtableToWire(x)
	}
	return flatten("", v)
}

func objectToWire(o *pwsh.Object) *psrp.Object {
	tn := o.TypeName()
	switch {
	case tn == tCertificate:
		return certificateToWire(o)
	case tn == tCmdletInfo:
		return cmdletInfoToWire(o)
	case strings.HasPrefix(tn, "Selected."):
		return &psrp.Object{TypeNames: []string{tn, tPSCustomObject, tObject}, ToString: customToString(o), Extended: props(o)}
	case tn == tPSCustomObject:
		return &psrp.Object{TypeNames: []string{tPSCustomObject, tObject}, ToString: customToString(o), Extended: props(o)}
	}
	names := typeChains[tn]
	if names == nil {
		names = []string{tn, tObject}
	}
	return &psrp.Object{TypeNames: append([]string(nil), names...), ToString: displayName(o), Adapted: props(o)}
}

func props(o *pwsh.Object) []psrp.Property {
	ps := o.Props()
	out := make([]psrp.Property, len(ps))
	for i, p := range ps {
		out[i] = psrp.Property{Name: p.Name, Value: flatten(p.Name, p.Value)}
	}
	return out
}

// toStringByName are the types whose ToString is their Name, as the
// samples show (a published Exchange 2016 Get-Mailbox wire capture's
// "Administrator"; the DynamicDistributionGroup and OrganizationConfig
// samples); the others show their Identity (the OWA virtual directory
// sample's "SOLO-E19A\owa (Default Web Site)", a CASMailbox's canonical
// name, as public scripts' error texts show it).
var toStringByName = map[string]bool{
	"Microsoft.Exchange.Data.Directory.Management.Mailbox":                  true,
	"Microsoft.Exchange.Data.Directory.Management.DistributionGroup":        true,
	"Microsoft.Exchange.Data.Directory.Management.DynamicDistributionGroup": true,
	"Microsoft.Exchange.Data.Directory.Management.OrganizationConfig":       true,
}

// displayName is an Exchange object's ToString: its Identity (the
// ADObjectId's text), else its Name; the Name for toStringByName types.
func displayName(o *pwsh.Object) string {
	if o.Str != nil {
		return o.Str()
	}
	order := []string{"Identity", "Name"}
	if toStringByName[o.TypeName()] {
		order = []string{"Name", "Identity"}
	}
	for _, n := range order {
		if v, ok := o.Get(n); ok && v != nil {
			return pwsh.ToString(v)
		}
	}
	return o.TypeName()
}

// customToString is a PSCustomObject's ToString ("@{a=1; b=x}").
func customToString(o *pwsh.Object) string {
	var b strings.Builder
	b.WriteString("@{")
	for i, p := range o.Props() {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Name + "=" + pwsh.ToString(p.Value))
	}
	b.WriteString("}")
	return b.String()
}

// flatten converts a property value at depth 0 of a Partial-level object:
// primitives stay primitives (bool B, whole numbers I32 or I64, dates DT,
// GUIDs G, byte arrays BA, URIs URI), lists become MultiValuedProperty
// objects of strings, and every other value (enums, Unlimited, nested
// objects) its string form.
func flatten(name string, v pwsh.Value) psrp.Value {
	switch x := pwsh.Normalize(v).(type) {
	case nil:
		return nil
	case bool, string, float64, time.Time:
		return x
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return int32(x)
		}
		return x
	case []byte:
		return x
	case pwsh.Guid:
		return uuid.UUID(x)
	case *pwsh.Uri:
		return psrp.URI(x.String())
	case pwsh.Char:
		return psrp.Char(x)
	case time.Duration:
		return enhancedTimeSpan(x)
	case *pwsh.Array:
		names := mvpChains[strings.ToLower(name)]
		if names == nil {
			names = mvpString
		}
		items := make([]psrp.Value, 0, len(x.Items))
		for _, it := range x.Items {
			if it == nil {
				continue
			}
			items = append(items, pwsh.ToString(it))
		}
		return &psrp.Object{TypeNames: append([]string(nil), names...), Kind: psrp.ListContainer, Items: items}
	case *pwsh.Object:
		if x.TypeName() == tPSCustomObject || strings.HasPrefix(x.TypeName(), "Selected.") {
			return customToString(x)
		}
		return displayName(x)
	case *pwsh.SecureString:
		return "System.Security.SecureString"
	}
	return pwsh.ToString(v)
}

// enhancedTimeSpan is Exchange's EnhancedTimeSpan text ("14.00:00:00").
func enhancedTimeSpan(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	days := int64(d / (24 * time.Hour))
	d -= time.Duration(days) * 24 * time.Hour
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	out := fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	if days > 0 {
		out = strconv.FormatInt(days, 10) + "." + out
	}
	if neg {
		out = "-" + out
	}
	return out
}

func hashtableToWire(h *pwsh.Hashtable) *psrp.Object {
	o := &psrp.Object{TypeNames: []string{"System.Collections.Hashtable", tObject}, Kind: psrp.DictContainer}
	for _, e := range h.Entries() {
		o.Entries = append(o.Entries, psrp.Entry{Key: e.Name, Value: toWire(e.Value)})
	}
	return o
}

// certificateToWire sends what every real sample of an ExchangeCertificate
// carries: RawData (the DER certificate) and X509Certificate2's ToString.
// Services, Thumbprint, Status and the rest travel only inside Full-level
// SerializationData, which this endpoint does not model (Microsoft:
// Get-ExchangeCertificate "does not fully support remote PowerShell";
// MicrosoftDocs/office-docs-powershell#5256: the services are not
// reported there).
func certificateToWire(o *pwsh.Object) *psrp.Object {
	raw, _ := o.Get("RawData")
	der, _ := raw.([]byte)
	return &psrp.Object{
		TypeNames: append([]string(nil), typeChains[tCertificate]...),
		ToString:  x509Text(der),
		Adapted:   []psrp.Property{{Name: "RawData", Value: der}},
	}
}

// x509Text is X509Certificate2.ToString() with en-US dates, as the samples
// show it; empty when der is not a certificate.
func x509Text(der []byte) string {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return ""
	}
	const nl = "\r\n"
	date := func(t time.Time) string { return t.UTC().Format("01/02/2006 15:04:05") }
	return "[Subject]" + nl + "  " + dotNetName(c.Subject) + nl + nl +
		"[Issuer]" + nl + "  " + dotNetName(c.Issuer) + nl + nl +
		"[Serial Number]" + nl + "  " + fmt.Sprintf("%X", c.SerialNumber.Bytes()) + nl + nl +
		"[Not Before]" + nl + "  " + date(c.NotBefore) + nl + nl +
		"[Not After]" + nl + "  " + date(c.NotAfter) + nl + nl +
		"[Thumbprint]" + nl + "  " + thumbprint(der) + nl
}

// maxDepth bounds how deeply a client's value may nest (lists,
// dictionaries, properties); a decoder that resolves <Ref> to the same
// object can hand over a cycle, which this bound also stops.
const maxDepth = 32

// errScriptBlock marks a script block among a client's values.
var errScriptBlock = errors.New("script block")

// dotNetName is a distinguished name as .NET's X500DistinguishedName
// prints it: most specific first, ", " between the parts, .NET's short
// attribute names (S for the state, E for an e-mail address), and a value
// holding a separator in double quotes.
func dotNetName(n pkix.Name) string {
	seq := n.ToRDNSequence()
	parts := make([]string, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		var avas []string
		for _, ava := range seq[i] {
			key, ok := oidNames[ava.Type.String()]
			if !ok {
				key = "OID." + ava.Type.String()
			}
			v := fmt.Sprint(ava.Value)
			if strings.ContainsAny(v, ",+=\"\n<>#;") || strings.TrimSpace(v) != v {
				v = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
			}
			avas = append(avas, key+"="+v)
		}
		parts = append(parts, strings.Join(avas, " + "))
	}
	return strings.Join(parts, ", ")
}

var oidNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "S", "2.5.4.9": "STREET", "2.5.4.10": "O",
	"2.5.4.11": "OU", "2.5.4.5": "SERIALNUMBER", "1.2.840.113549.1.9.1": "E", "0.9.2342.19200300.100.1.25": "DC",
}

// fromWire converts a client's argument or input value to the
// interpreter's. A deserialized object keeps its properties (so binding
// by property name works) under its type names without "Deserialized.".
// A script block cannot be built in a NoLanguage runspace
// (errScriptBlock); a value nested deeper than maxDepth is refused.
func fromWire(v psrp.Value) (pwsh.Value, error) { return fromWireAt(v, 0) }

func fromWireAt(v psrp.Value, depth int) (pwsh.Value, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("the value nests more than %d levels deep (or refers to itself)", maxDepth)
	}
	switch x := v.(type) {
	case nil, bool, string, float64, time.Time, time.Duration, []byte:
		return x, nil
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int, float32:
		return pwsh.Normalize(x), nil
	case psrp.Char:
		return pwsh.Char(x), nil
	case uuid.UUID:
		return pwsh.Guid(x), nil
	case psrp.Version:
		return string(x), nil
	case psrp.URI:
		u, err := pwsh.NewUri(string(x))
		if err != nil {
			return string(x), nil
		}
		return u, nil
	case psrp.XMLDocument:
		return string(x), nil
	case psrp.Decimal:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return string(x), nil
		}
		return f, nil
	case *psrp.SecureString:
		return pwsh.NewSecureString(x.Plain()), nil
	case psrp.ScriptBlock:
		return nil, errScriptBlock
	case *psrp.Object:
		return objectFromWire(x, depth)
	}
	return nil, fmt.Errorf("values of Go type %T are not CLIXML values", v)
}

func objectFromWire(o *psrp.Object, depth int) (pwsh.Value, error) {
	if o == nil {
		return nil, nil
	}
	switch o.Kind {
	case psrp.ListContainer, psrp.EnumContainer, psrp.StackContainer, psrp.QueueContainer:
		items := make([]pwsh.Value, len(o.Items))
		for i, it := range o.Items {
			v, err := fromWireAt(it, depth+1)
			if err != nil {
				return nil, err
			}
			items[i] = v
		}
		return pwsh.NewArray(items...), nil
	case psrp.DictContainer:
		h := pwsh.NewHashtable()
		for _, e := range o.Entries {
			v, err := fromWireAt(e.Value, depth+1)
			if err != nil {
				return nil, err
			}
			k, err := fromWireAt(e.Key, depth+1)
			if err != nil {
				return nil, err
			}
			h.Set(pwsh.ToString(k), v)
		}
		return h, nil
	}
	if o.Primitive != nil && len(o.Adapted) == 0 && len(o.Extended) == 0 {
		if o.IsA("System.Enum") && o.ToString != "" {
			return o.ToString, nil
		}
		return fromWireAt(o.Primitive, depth+1)
	}
	names := make([]string, 0, len(o.TypeNames))
	for _, t := range o.TypeNames {
		names = append(names, strings.TrimPrefix(t, "Deserialized."))
	}
	if len(names) == 0 {
		names = []string{tPSCustomObject}
	}
	out := pwsh.NewObject(names[0])
	out.TypeNames = names
	for _, ps := range [][]psrp.Property{o.Adapted, o.Extended} {
		for _, p := range ps {
			v, err := fromWireAt(p.Value, depth+1)
			if err != nil {
				return nil, err
			}
			out.Set(p.Name, v)
		}
	}
	if o.ToString != "" {
		s := o.ToString
		out.Str = func() string { return s }
	}
	return out, nil
}
