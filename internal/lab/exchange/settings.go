package exchange

import (
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

func (x *ex) getExchangeServer(c *pwsh.Call) error {
	var objs []*pwsh.Object
	var ferr error
	idv, hasID := c.Param("Identity")
	x.st.Read(func(o *org.Org) {
		if hasID && idv != nil {
			s, err := o.FindServer(identityText(idv, "Name", "Fqdn"))
			if err != nil {
				ferr = err
				return
			}
			objs = append(objs, serverObject(o, s))
			return
		}
		domain := c.String("Domain")
		for _, s := range o.Servers {
			if domain != "" && !strings.HasSuffix(strings.ToLower(s.Fqdn), "."+strings.ToLower(domain)) {
				continue
			}
			objs = append(objs, serverObject(o, s))
		}
	})
	if ferr != nil {
		return writeErr(c, ferr, idv)
	}
	for _, ob := range objs {
		if err := c.WriteObject(ob); err != nil {
			return err
		}
	}
	return nil
}

func casObject(o *org.Org, a *org.ClientAccessService) *pwsh.Object {
	fqdn := ""
	if s, err := o.FindServer(a.Server); err == nil {
		fqdn = s.Fqdn
	}
	return newObject("Get-ClientAccessService", "Microsoft.Exchange.Data.Directory.Management.ClientAccessServer",
		"Name", a.Server, "Identity", a.Server, "Fqdn", fqdn,
		"AutoDiscoverServiceInternalUri", uriV(a.AutoDiscoverServiceInternalUri),
		"AutoDiscoverServiceCN", a.Server, "AutoDiscoverSiteScope", arrV(a.AutoDiscoverSiteScope),
		"AlternateServiceAccountConfiguration", nil, "Guid", guidV(a.Guid), "DistinguishedName", serverDN(o, a.Server))
}

func (x *ex) getClientAccessService(c *pwsh.Call) error {
	var objs []*pwsh.Object
	var ferr error
	idv, hasID := c.Param("Identity")
	x.st.Read(func(o *org.Org) {
		list := o.ClientAccess
		if hasID && idv != nil {
			s, err := o.FindServer(identityText(idv, "Name", "Fqdn"))
			if err != nil {
				ferr = err
				return
			}
			list = nil
			if a := o.ClientAccessFor(s.Name); a != nil {
				list = append(list, a)
			}
		}
		for _, a := range list {
			objs = append(objs, casObject(o, a))
		}
	})
	if ferr != nil {
		return writeErr(c, ferr, idv)
	}
	for _, ob := range objs {
		if err := c.WriteObject(ob); err != nil {
			return err
		}
	}
	return nil
}

func (x *ex) setClientAccessService(c *pwsh.Call) error {
	idv, _ := c.Param("Identity")
	if c.Bool("WhatIf") {
		return nil
	}
	err := x.st.UpdateRest(func(o *org.Org) error {
		s, err := o.FindServer(identityText(idv, "Name", "Fqdn"))
		if err != nil {
			return err
		}
		a := o.ClientAccessFor(s.Name)
		if a == nil {
			return &org.NotFoundError{Identity: identityText(idv), DomainController: o.DomainController}
		}
		for _, name := range c.Bound() {
			val, _ := c.Param(name)
			switch name {
			case "AutoDiscoverServiceInternalUri":
				a.AutoDiscoverServiceInternalUri = urlParam(val)
			case "AutoDiscoverSiteScope":
				a.AutoDiscoverSiteScope = multiValued(a.AutoDiscoverSiteScope, val)
			}
		}
		a.WhenChanged = x.now()
		return nil
	})
	if err != nil {
		return writeErr(c, err, idv)
	}
	return nil
}

func (x *ex) getOrganizationConfig(c *pwsh.Call) error {
	var ob *pwsh.Object
	x.st.Read(func(o *org.Org) {
		cfg := o.Config
		dn := "CN=" + org.EscapeRDN(cfg.Name) + ",CN=Microsoft Exchange,CN=Services,CN=Configuration,DC=" + strings.Join(strings.Split(o.Domain, "."), ",DC=")
		ob = newObject("Get-OrganizationConfig", "Microsoft.Exchange.Data.Directory.Management.OrganizationConfig",
			"Name", cfg.Name, "Identity", cfg.Name, "Guid", guidV(cfg.Guid), "MapiHttpEnabled", cfg.MapiHttpEnabled,
			"LegacyExchangeDN", "/o="+cfg.Name, "DisplayName", cfg.Name, "AdminDisplayVersion", "",
			"ExchangeVersion", exchangeVersion, "DistinguishedName", dn, "IsDehydrated", false, "IsMixedMode", false,
			"PublicFoldersEnabled", "Local", "EwsEnabled", nil, "OAuth2ClientProfileEnabled", false,
			"WhenChanged", timeOrNull(cfg.WhenChanged))
	})
	return c.WriteObject(ob)
}

func (x *ex) setOrganizationConfig(c *pwsh.Call) error {
	if c.Bool("WhatIf") {
		return nil
	}
	v, ok := c.Param("MapiHttpEnabled")
	if !ok {
		return nil
	}
	return x.st.UpdateRest(func(o *org.Org) error {
		o.Config.MapiHttpEnabled = pwsh.ToBool(v)
		o.Config.WhenChanged = x.now()
		return nil
	})
}

func protoList(o *org.Org, proto string) []*org.ProtocolSettings {
	if proto == "Pop" {
		return o.PopSettings
	}
	return o.ImapSettings
}

func (x *ex) getProtocolSettings(proto string) func(c *pwsh.Call) error {
	cmdlet := "Get-" + proto + "Settings"
	typ := "Microsoft.Exchange.Data.Directory.SystemConfiguration.Pop3AdConfiguration"
	if proto == "Imap" {
		typ = "Microsoft.Exchange.Data.Directory.SystemConfiguration.Imap4AdConfiguration"
	}
	return func(c *pwsh.Call) error {
		var ob *pwsh.Object
		var ferr error
		x.st.Read(func(o *org.Org) {
			server, err := x.serverParam(c, o)
			if err != nil {
				ferr = err
				return
			}
			p := org.ProtocolFor(protoList(o, proto), server)
			if p == nil {
				ferr = &org.NotFoundError{Identity: server, DomainController: o.DomainController}
				return
			}
			ob = newObject(cmdlet, typ,
				"ExternalConnectionSettings", arrV(p.ExternalConnectionSettings), "InternalConnectionSettings", arrV(p.InternalConnectionSettings),
				"SSLBindings", arrV(p.SSLBindings), "UnencryptedOrTLSBindings", arrV(p.UnencryptedOrTLSBindings),
				"X509CertificateName", strPtrV(p.X509CertificateName), "LoginType", p.LoginType,
				"ProtocolLogEnabled", p.ProtocolLogEnabled, "Server", p.Server, "Identity", p.Server+`\1`,
				"Name", "1")
		})
		if ferr != nil {
			return writeErr(c, ferr, nil)
		}
		return c.WriteObject(ob)
	}
}

func (x *ex) setProtocolSettings(proto string) func(c *pwsh.Call) error {
	return func(c *pwsh.Call) error {
		if c.Bool("WhatIf") {
			return nil
		}
		err := x.st.UpdateRest(func(o *org.Org) error {
			server, err := x.serverParam(c, o)
			if err != nil {
				return err
			}
			p := org.ProtocolFor(protoList(o, proto), server)
			if p == nil {
				return &org.NotFoundError{Identity: server, DomainController: o.DomainController}
			}
			for _, name := range c.Bound() {
				val, _ := c.Param(name)
				switch name {
				case "X509CertificateName":
					p.X509CertificateName = hostParam(val)
				case "LoginType":
					p.LoginType = pwsh.ToString(val)
				case "InternalConnectionSettings":
					p.InternalConnectionSettings = multiValued(p.InternalConnectionSettings, val)
				case "ExternalConnectionSettings":
					p.ExternalConnectionSettings = multiValued(p.ExternalConnectionSettings, val)
				case "SSLBindings":
					p.SSLBindings = multiValued(p.SSLBindings, val)
				case "UnencryptedOrTLSBindings":
					p.UnencryptedOrTLSBindings = multiValued(p.UnencryptedOrTLSBindings, val)
				case "ProtocolLogEnabled":
					p.ProtocolLogEnabled = pwsh.ToBool(val)
				}
			}
			p.WhenChanged = x.now()
			return nil
		})
		if err != nil {
			return writeErr(c, err, nil)
		}
		return nil
	}
}

func timeOrNull(t time.Time) pwsh.Value {
	if t.IsZero() {
		return nil
	}
	return t
}
