package exchange

import (
	"fmt"
	"reflect"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// boolParams maps the Boolean parameters of a Set- cmdlet to the field of
// the object T each one sets (its index path in T).
type boolParams[T any] map[string][]int

// boolFields is the table of the parameters named as the bool fields of T
// they set, and of aliases, further parameter names for one of those
// fields. A name that is not a bool field of T panics when the package is
// initialised, so a wrong table never reaches a cmdlet.
func boolFields[T any](fields []string, aliases map[string]string) boolParams[T] {
	t := reflect.TypeFor[T]()
	b := boolParams[T]{}
	add := func(param, field string) {
		f, ok := t.FieldByName(field)
		if !ok || f.Type.Kind() != reflect.Bool {
			panic(fmt.Sprintf("lab/exchange: %s has no bool field %s for -%s", t, field, param))
		}
		b[param] = f.Index
	}
	for _, f := range fields {
		add(f, f)
	}
	for param, field := range aliases {
		add(param, field)
	}
	return b
}

// set sets t's field for the parameter name to val as PowerShell converts
// it, and reports whether name is one of the table's parameters.
func (b boolParams[T]) set(t *T, name string, val any) bool {
	index, ok := b[name]
	if ok {
		reflect.ValueOf(t).Elem().FieldByIndex(index).SetBool(pwsh.ToBool(val))
	}
	return ok
}

// casMailboxBools are Set-CASMailbox's Boolean protocol switches.
var casMailboxBools = boolFields[org.Mailbox]([]string{
	"ActiveSyncEnabled", "OWAEnabled", "OWAforDevicesEnabled", "ECPEnabled", "EwsEnabled",
	"PopEnabled", "ImapEnabled", "MAPIEnabled",
	"MAPIBlockOutlookNonCachedMode", "MAPIBlockOutlookRpcHttp", "MAPIBlockOutlookExternalConnectivity",
}, nil)

// vdirBools are the Boolean parameters of the Set-*VirtualDirectory
// cmdlets, with the older names some of them also accept.
var vdirBools = boolFields[org.VDir]([]string{
	"BasicAuthentication", "WindowsAuthentication", "DigestAuthentication", "FormsAuthentication",
	"OAuthAuthentication", "AdfsAuthentication", "RequireSSL",
}, map[string]string{"BasicAuthEnabled": "BasicAuthentication", "WindowsAuthEnabled": "WindowsAuthentication"})

// outlookAnywhereBools are Set-OutlookAnywhere's Boolean parameters.
var outlookAnywhereBools = boolFields[org.OutlookAnywhere]([]string{
	"ExternalClientsRequireSsl", "InternalClientsRequireSsl", "SSLOffloading",
}, nil)
