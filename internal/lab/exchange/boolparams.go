package exchange

import (
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// boolParams maps the Boolean parameters of a Set- cmdlet to the field of
// the object each one sets.
type boolParams[T any] map[string]func(*T) *bool

// set sets t's field for the parameter name to val as PowerShell converts
// it, and reports whether name is one of the table's parameters.
func (b boolParams[T]) set(t *T, name string, val any) bool {
	field, ok := b[name]
	if ok {
		*field(t) = pwsh.ToBool(val)
	}
	return ok
}

// casMailboxBools are Set-CASMailbox's Boolean protocol switches.
var casMailboxBools = boolParams[org.Mailbox]{
	"ActiveSyncEnabled":                    func(m *org.Mailbox) *bool { return &m.ActiveSyncEnabled },
	"OWAEnabled":                           func(m *org.Mailbox) *bool { return &m.OWAEnabled },
	"OWAforDevicesEnabled":                 func(m *org.Mailbox) *bool { return &m.OWAforDevicesEnabled },
	"ECPEnabled":                           func(m *org.Mailbox) *bool { return &m.ECPEnabled },
	"EwsEnabled":                           func(m *org.Mailbox) *bool { return &m.EwsEnabled },
	"PopEnabled":                           func(m *org.Mailbox) *bool { return &m.PopEnabled },
	"ImapEnabled":                          func(m *org.Mailbox) *bool { return &m.ImapEnabled },
	"MAPIEnabled":                          func(m *org.Mailbox) *bool { return &m.MAPIEnabled },
	"MAPIBlockOutlookNonCachedMode":        func(m *org.Mailbox) *bool { return &m.MAPIBlockOutlookNonCachedMode },
	"MAPIBlockOutlookRpcHttp":              func(m *org.Mailbox) *bool { return &m.MAPIBlockOutlookRpcHttp },
	"MAPIBlockOutlookExternalConnectivity": func(m *org.Mailbox) *bool { return &m.MAPIBlockOutlookExternalConnectivity },
}

// vdirBools are the Boolean parameters of the Set-*VirtualDirectory
// cmdlets, with the older names some of them also accept.
var vdirBools = boolParams[org.VDir]{
	"BasicAuthentication":   func(v *org.VDir) *bool { return &v.BasicAuthentication },
	"BasicAuthEnabled":      func(v *org.VDir) *bool { return &v.BasicAuthentication },
	"WindowsAuthentication": func(v *org.VDir) *bool { return &v.WindowsAuthentication },
	"WindowsAuthEnabled":    func(v *org.VDir) *bool { return &v.WindowsAuthentication },
	"DigestAuthentication":  func(v *org.VDir) *bool { return &v.DigestAuthentication },
	"FormsAuthentication":   func(v *org.VDir) *bool { return &v.FormsAuthentication },
	"OAuthAuthentication":   func(v *org.VDir) *bool { return &v.OAuthAuthentication },
	"AdfsAuthentication":    func(v *org.VDir) *bool { return &v.AdfsAuthentication },
	"RequireSSL":            func(v *org.VDir) *bool { return &v.RequireSSL },
}

// outlookAnywhereBools are Set-OutlookAnywhere's Boolean parameters.
var outlookAnywhereBools = boolParams[org.OutlookAnywhere]{
	"ExternalClientsRequireSsl": func(a *org.OutlookAnywhere) *bool { return &a.ExternalClientsRequireSsl },
	"InternalClientsRequireSsl": func(a *org.OutlookAnywhere) *bool { return &a.InternalClientsRequireSsl },
	"SSLOffloading":             func(a *org.OutlookAnywhere) *bool { return &a.SSLOffloading },
}
