package exchange

import (
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

type vdirKind struct {
	kind     string
	noun     string // "OwaVirtualDirectory"
	typeName string
	path     string // the IIS application path under Default Web Site
	fsPath   string
	settable bool
}

var vdirCmdlets = []vdirKind{
	{org.KindOwa, "OwaVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOwaVirtualDirectory", "owa", `FrontEnd\HttpProxy\owa`, true},
	{org.KindEcp, "EcpVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADEcpVirtualDirectory", "ecp", `FrontEnd\HttpProxy\ecp`, true},
	{org.KindMapi, "MapiVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADMapiVirtualDirectory", "mapi", `FrontEnd\HttpProxy\mapi`, true},
	{org.KindWebServices, "WebServicesVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADWebServicesVirtualDirectory", "EWS", `FrontEnd\HttpProxy\EWS`, true},
	{org.KindActiveSync, "ActiveSyncVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADMobileVirtualDirectory", "Microsoft-Server-ActiveSync", `FrontEnd\HttpProxy\sync`, true},
	{org.KindOab, "OabVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOabVirtualDirectory", "OAB", `FrontEnd\HttpProxy\OAB`, true},
	{org.KindAutodiscover, "AutodiscoverVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADAutodiscoverVirtualDirectory", "Autodiscover", `FrontEnd\HttpProxy\Autodiscover`, false},
	{org.KindPowerShell, "PowerShellVirtualDirectory", "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADPowerShellVirtualDirectory", "PowerShell", `FrontEnd\HttpProxy\PowerShell`, false},
}

// ambiguousParameterSet is PowerShell's binding error for -Identity with
// -Server on the Get-*VirtualDirectory cmdlets.
func ambiguousParameterSet() *pwsh.Error {
	return &pwsh.Error{
		Message:       "Parameter set cannot be resolved using the specified named parameters.",
		ExceptionType: "System.Management.Automation.ParameterBindingException",
		Category:      pwsh.CatInvalidArgument, ErrorID: "AmbiguousParameterSet",
	}
}

func (x *ex) vdirObject(cmdlet string, k vdirKind, o *org.Org, v *org.VDir, adOnly bool) *pwsh.Object {
	srv, _ := o.FindServer(v.Server)
	fqdn, version := strings.ToLower(v.Server), ""
	if srv != nil {
		fqdn, version = srv.Fqdn, srv.AdminDisplayVersion
	}
	kv := []any{
		"Name", v.Name, "Server", v.Server, "Identity", v.Identity(),
		"InternalUrl", uriV(v.InternalUrl), "ExternalUrl", uriV(v.ExternalUrl),
		"InternalAuthenticationMethods", arrV(v.InternalAuthenticationMethods),
		"ExternalAuthenticationMethods", arrV(v.ExternalAuthenticationMethods),
		"MetabasePath", "IIS://" + fqdn + "/W3SVC/1/ROOT/" + k.path,
		"Path", `C:\Program Files\Microsoft\Exchange Server\V15\` + k.fsPath,
		"ExtendedProtectionTokenChecking", epTokenV(v.ExtendedProtectionTokenChecking),
		"ExtendedProtectionFlags", arrV(v.ExtendedProtectionFlags),
		"ExtendedProtectionSPNList", arrV(v.ExtendedProtectionSPNList),
		"AdminDisplayVersion", version, "ExchangeVersion", exchangeVersion,
		"DistinguishedName", "CN=" + org.EscapeRDN(v.Name) + ",CN=HTTP,CN=Protocols," + serverDN(o, v.Server),
		"Guid", guidV(v.Guid), "WhenChanged", changed(v.WhenChanged, v.WhenCreated), "WhenCreated", v.WhenCreated,
		"WhenChangedUTC", changed(v.WhenChanged, v.WhenCreated).UTC(), "WhenCreatedUTC", v.WhenCreated.UTC(),
		"IsValid", true, "ObjectState", "Unchanged", "OriginatingServer", o.DomainController,
	}
	if k.kind == org.KindOwa {
		kv = append(kv, "ServerName", v.Server)
	}
	if k.kind == org.KindMapi {
		kv = append(kv, "IISAuthenticationMethods", arrV(v.IISAuthenticationMethods))
	}
	if !adOnly {
		// Properties read from the IIS metabase; -ADPropertiesOnly leaves them out.
		switch k.kind {
		case org.KindActiveSync:
			kv = append(kv, "BasicAuthEnabled", v.BasicAuthentication, "WindowsAuthEnabled", v.WindowsAuthentication)
		case org.KindMapi:
		default:
			kv = append(kv, "BasicAuthentication", v.BasicAuthentication, "WindowsAuthentication", v.WindowsAuthentication,
				"DigestAuthentication", v.DigestAuthentication, "OAuthAuthentication", v.OAuthAuthentication)
			if k.kind == org.KindOwa || k.kind == org.KindEcp {
				kv = append(kv, "FormsAuthentication", v.FormsAuthentication, "AdfsAuthentication", v.AdfsAuthentication)
			}
			if k.kind == org.KindOab || k.kind == org.KindPowerShell {
				kv = append(kv, "RequireSSL", v.RequireSSL)
			}
		}
	}
	return newObject(cmdlet, k.typeName, kv...)
}

func (x *ex) getVDir(k vdirKind) func(c *pwsh.Call) error {
	cmdlet := "Get-" + k.noun
	return func(c *pwsh.Call) error {
		idv, hasID := c.Param("Identity")
		srvv, hasSrv := c.Param("Server")
		if hasID && hasSrv {
			return ambiguousParameterSet()
		}
		adOnly := c.Bool("ADPropertiesOnly")
		var objs []*pwsh.Object
		var ferr error
		x.st.Read(func(o *org.Org) {
			var list []*org.VDir
			switch {
			case hasSrv && srvv != nil:
				s, err := o.FindServer(identityText(srvv, "Name", "Fqdn"))
				if err != nil {
					ferr = err
					return
				}
				list = o.ServerVDirs(k.kind, s.Name)
			case hasID && idv != nil:
				found, err := o.FindVDirs(k.kind, identityText(idv), "")
				if err != nil {
					// Documented: a non-existent Identity returns every object.
					found = o.ServerVDirs(k.kind, "")
				}
				list = found
			default:
				list = o.ServerVDirs(k.kind, "")
			}
			for _, v := range list {
				objs = append(objs, x.vdirObject(cmdlet, k, o, v, adOnly))
			}
		})
		if ferr != nil {
			return writeErr(c, ferr, srvv)
		}
		for _, ob := range objs {
			if err := c.WriteObject(ob); err != nil {
				return err
			}
		}
		return nil
	}
}

func (x *ex) setVDir(k vdirKind) func(c *pwsh.Call) error {
	return func(c *pwsh.Call) error {
		idv, _ := c.Param("Identity")
		id := identityText(idv)
		urlGiven := c.IsBound("InternalUrl") || c.IsBound("ExternalUrl")
		if k.kind == org.KindMapi && urlGiven && !c.IsBound("IISAuthenticationMethods") {
			return writeErr(c, taskError("Microsoft.Exchange.Configuration.Tasks.TaskException", pwsh.CatInvalidArgument, idv,
				"The IISAuthenticationMethods parameter must be specified when you use the InternalUrl or ExternalUrl parameter."), idv)
		}
		if c.Bool("WhatIf") {
			return nil
		}
		changedAny := false
		var warn string
		err := x.st.UpdateRest(func(o *org.Org) error {
			found, err := o.FindVDirs(k.kind, id, "")
			orig, err := single(found, err, id)
			if err != nil {
				return err
			}
			// Changes go to a copy, stored only when all of them are valid.
			before := *orig
			v := &before
			v.InternalAuthenticationMethods = append([]string(nil), before.InternalAuthenticationMethods...)
			v.ExternalAuthenticationMethods = append([]string(nil), before.ExternalAuthenticationMethods...)
			v.IISAuthenticationMethods = append([]string(nil), before.IISAuthenticationMethods...)
			v.ExtendedProtectionFlags = append([]string(nil), before.ExtendedProtectionFlags...)
			v.ExtendedProtectionSPNList = append([]string(nil), before.ExtendedProtectionSPNList...)
			for _, name := range c.Bound() {
				val, _ := c.Param(name)
				if vdirBools.set(v, name, val) {
					continue
				}
				switch name {
				case "InternalUrl":
					v.InternalUrl = urlParam(val)
				case "ExternalUrl":
					v.ExternalUrl = urlParam(val)
				case "InternalAuthenticationMethods":
					if v.InternalAuthenticationMethods, err = authMethods(name, v.InternalAuthenticationMethods, val); err != nil {
						return err
					}
				case "ExternalAuthenticationMethods":
					if v.ExternalAuthenticationMethods, err = authMethods(name, v.ExternalAuthenticationMethods, val); err != nil {
						return err
					}
				case "IISAuthenticationMethods":
					m, err := authMethods(name, v.IISAuthenticationMethods, val)
					if err != nil {
						return err
					}
					if len(m) == 0 {
						return taskError("Microsoft.Exchange.Configuration.Tasks.TaskException", pwsh.CatInvalidArgument, idv,
							"The IISAuthenticationMethods parameter can't be empty.")
					}
					v.IISAuthenticationMethods = m
				case "ExtendedProtectionTokenChecking":
					v.ExtendedProtectionTokenChecking = enumName(val)
				case "ExtendedProtectionFlags":
					v.ExtendedProtectionFlags = multiValued(v.ExtendedProtectionFlags, val)
				case "ExtendedProtectionSPNList":
					v.ExtendedProtectionSPNList = multiValued(v.ExtendedProtectionSPNList, val)
				}
			}
			if k.kind == org.KindOwa && (!equalStrPtr(orig.InternalUrl, v.InternalUrl) || !equalStrPtr(orig.ExternalUrl, v.ExternalUrl)) {
				warn = "You've changed the InternalURL or ExternalURL for the OWA virtual directory. Please make the same change for the ECP virtual directory in the same website."
			}
			changedAny = true
			v.WhenChanged = x.now()
			*orig = *v
			return nil
		})
		if err != nil {
			return writeErr(c, err, idv)
		}
		if changedAny && x.opts.Stats != nil {
			x.opts.Stats.VdirChanges.Add(1)
		}
		if warn != "" {
			return c.WriteWarning(warn)
		}
		return nil
	}
}

// urlParam stores a bound Uri: nil stays nil ($null), never "".
func urlParam(v pwsh.Value) *string {
	switch u := v.(type) {
	case nil:
		return nil
	case *pwsh.Uri:
		if u == nil {
			return nil
		}
		return ptr(u.AbsoluteUri())
	}
	s := pwsh.ToString(v)
	if s == "" {
		return nil
	}
	return &s
}

// Outlook Anywhere.

const oaType = "Microsoft.Exchange.Data.Directory.SystemConfiguration.ADRpcHttpVirtualDirectory"

func (x *ex) oaObject(o *org.Org, a *org.OutlookAnywhere) *pwsh.Object {
	const cmdlet = "Get-OutlookAnywhere"
	srv, _ := o.FindServer(a.Server)
	fqdn, version := strings.ToLower(a.Server), ""
	if srv != nil {
		fqdn, version = srv.Fqdn, srv.AdminDisplayVersion
	}
	kv := []any{
		"Name", a.Name, "Server", a.Server, "ServerName", a.Server, "Identity", a.Identity(),
		"ExternalHostname", strPtrV(a.ExternalHostname), "InternalHostname", strPtrV(a.InternalHostname),
		"ExternalClientAuthenticationMethod", authMethodV(a.ExternalClientAuthenticationMethod),
		"InternalClientAuthenticationMethod", authMethodV(a.InternalClientAuthenticationMethod),
		"ExternalClientsRequireSsl", a.ExternalClientsRequireSsl, "InternalClientsRequireSsl", a.InternalClientsRequireSsl,
		"SSLOffloading", a.SSLOffloading,
		"ExtendedProtectionTokenChecking", epTokenV(a.ExtendedProtectionTokenChecking),
		"MetabasePath", "IIS://" + fqdn + "/W3SVC/1/ROOT/Rpc",
		"Path", `C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\rpc`,
		"AdminDisplayVersion", version, "ExchangeVersion", exchangeVersion,
		"DistinguishedName", "CN=" + org.EscapeRDN(a.Name) + ",CN=HTTP,CN=Protocols," + serverDN(o, a.Server),
		"Guid", guidV(a.Guid), "WhenChanged", changed(a.WhenChanged, a.WhenCreated), "WhenCreated", a.WhenCreated,
		// Stored in Active Directory, so present with -ADPropertiesOnly too.
		"IISAuthenticationMethods", arrV(a.IISAuthenticationMethods),
	}
	return newObject(cmdlet, oaType, kv...)
}

func (x *ex) getOutlookAnywhere(c *pwsh.Call) error {
	idv, hasID := c.Param("Identity")
	srvv, hasSrv := c.Param("Server")
	if hasID && hasSrv {
		return ambiguousParameterSet()
	}
	var objs []*pwsh.Object
	var ferr error
	x.st.Read(func(o *org.Org) {
		list := o.OutlookAnywhere
		switch {
		case hasSrv && srvv != nil:
			s, err := o.FindServer(identityText(srvv, "Name", "Fqdn"))
			if err != nil {
				ferr = err
				return
			}
			list, _ = o.FindOutlookAnywhere("*", s.Name)
		case hasID && idv != nil:
			if found, err := o.FindOutlookAnywhere(identityText(idv), ""); err == nil {
				list = found
			}
		}
		for _, a := range list {
			objs = append(objs, x.oaObject(o, a))
		}
	})
	if ferr != nil {
		return writeErr(c, ferr, srvv)
	}
	for _, ob := range objs {
		if err := c.WriteObject(ob); err != nil {
			return err
		}
	}
	return nil
}

func (x *ex) setOutlookAnywhere(c *pwsh.Call) error {
	idv, _ := c.Param("Identity")
	id := identityText(idv)
	if c.IsBound("DefaultAuthenticationMethod") && (c.IsBound("ExternalClientAuthenticationMethod") || c.IsBound("InternalClientAuthenticationMethod") || c.IsBound("IISAuthenticationMethods")) {
		return writeErr(c, taskError("Microsoft.Exchange.Configuration.Tasks.TaskArgumentException", pwsh.CatInvalidArgument, idv,
			"The DefaultAuthenticationMethod parameter can't be used with the ExternalClientAuthenticationMethod, InternalClientAuthenticationMethod or IISAuthenticationMethods parameters."), idv)
	}
	if v, ok := c.Param("ExternalHostname"); ok && v != nil {
		h := pwsh.ToString(v)
		if strings.Contains(h, "/") || strings.Contains(h, ":") || strings.ContainsAny(h, " \t") || h == "" {
			return writeErr(c, &pwsh.Error{
				Message:       "Cannot bind parameter 'ExternalHostname'. Cannot convert value \"" + h + "\" to type \"Microsoft.Exchange.Data.Hostname\". Error: \"'" + h + "' isn't a valid host name.\"",
				ExceptionType: "System.Management.Automation.ParameterBindingException", Category: pwsh.CatInvalidArgument,
				ErrorID: "CannotConvertArgumentNoMessage", TargetObject: v}, v)
		}
	}
	for _, p := range []string{"ExternalClientAuthenticationMethod", "InternalClientAuthenticationMethod", "DefaultAuthenticationMethod"} {
		if v, ok := c.Param(p); ok {
			n := enumName(v)
			if !containsFold([]string{"Basic", "Ntlm", "Negotiate"}, n) {
				return writeErr(c, taskError("Microsoft.Exchange.Configuration.Tasks.TaskArgumentException", pwsh.CatInvalidArgument, idv,
					"The value '%s' isn't valid for %s. Valid values are Basic, Ntlm and Negotiate.", n, p), idv)
			}
		}
	}
	if c.Bool("WhatIf") {
		return nil
	}
	err := x.st.UpdateRest(func(o *org.Org) error {
		found, err := o.FindOutlookAnywhere(id, "")
		orig, err := single(found, err, id)
		if err != nil {
			return err
		}
		// Changes go to a copy, stored only when all of them are valid.
		cp := *orig
		a := &cp
		a.IISAuthenticationMethods = append([]string(nil), orig.IISAuthenticationMethods...)
		for _, name := range c.Bound() {
			val, _ := c.Param(name)
			if outlookAnywhereBools.set(a, name, val) {
				continue
			}
			switch name {
			case "ExternalHostname":
				a.ExternalHostname = hostParam(val)
			case "InternalHostname":
				a.InternalHostname = hostParam(val)
			case "ExternalClientAuthenticationMethod":
				a.ExternalClientAuthenticationMethod = canonicalAuth(enumName(val))
			case "InternalClientAuthenticationMethod":
				a.InternalClientAuthenticationMethod = canonicalAuth(enumName(val))
			case "DefaultAuthenticationMethod":
				m := canonicalAuth(enumName(val))
				a.ExternalClientAuthenticationMethod, a.InternalClientAuthenticationMethod = m, m
				a.IISAuthenticationMethods = []string{m}
			case "IISAuthenticationMethods":
				if a.IISAuthenticationMethods, err = authMethods(name, a.IISAuthenticationMethods, val); err != nil {
					return err
				}
			case "ExtendedProtectionTokenChecking":
				a.ExtendedProtectionTokenChecking = enumName(val)
			case "Name":
				a.Name = pwsh.ToString(val)
			}
		}
		a.WhenChanged = x.now()
		*orig = *a
		return nil
	})
	if err != nil {
		return writeErr(c, err, idv)
	}
	if x.opts.Stats != nil {
		x.opts.Stats.VdirChanges.Add(1)
	}
	return nil
}

func canonicalAuth(n string) string {
	for _, m := range authMethodNames {
		if strings.EqualFold(m, n) {
			return m
		}
	}
	return n
}

func hostParam(v pwsh.Value) *string {
	if v == nil {
		return nil
	}
	s := pwsh.ToString(v)
	if s == "" {
		return nil
	}
	return &s
}

// authMethods applies a MultiValuedProperty of AuthenticationMethod: values
// take the enum's casing ("NTLM" is stored as "Ntlm"); an unknown name fails
// as PowerShell's conversion does.
func authMethods(param string, cur []string, val pwsh.Value) ([]string, error) {
	m := multiValued(cur, val)
	for i, n := range m {
		canon := ""
		for _, a := range authMethodNames {
			if strings.EqualFold(a, strings.TrimSpace(n)) {
				canon = a
			}
		}
		if canon == "" {
			return nil, &pwsh.Error{
				Message: fmt.Sprintf("Cannot bind parameter '%s'. Cannot convert value \"%s\" to type \"Microsoft.Exchange.Data.Directory.SystemConfiguration.AuthenticationMethod\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\n%s\"",
					param, n, n, strings.Join(authMethodNames, ", ")),
				ExceptionType: "System.Management.Automation.ParameterBindingException", Category: pwsh.CatInvalidArgument,
				ErrorID: "CannotConvertArgumentNoMessage",
			}
		}
		m[i] = canon
	}
	return m, nil
}

// single is the one object a lookup that may find several (FindVDirs,
// FindOutlookAnywhere) found for identity: the lookup's error as it is, or
// an AmbiguousError when it found more than one (none found is the
// lookup's NotFoundError).
func single[T any](found []T, err error, identity string) (T, error) {
	var zero T
	switch {
	case err != nil:
		return zero, err
	case len(found) != 1:
		return zero, &org.AmbiguousError{Identity: identity}
	}
	return found[0], nil
}
