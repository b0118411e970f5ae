package steps

import (
	"sort"

	"github.com/exrunbook/exrunbook/internal/recordset"
)

// publicDNSProviders opens the record-set provider of each public_dns.mode
// that writes through a provider's HTTP API. Each provider lives in its own
// package; the entries are added in public_dns_<provider>.go.
var publicDNSProviders = map[string]func(*Deps) (recordset.Provider, error){}

// PublicDNSModes lists every public_dns.mode the public-dns step accepts.
func PublicDNSModes() []string {
	out := []string{publicDNSModeRFC2136, publicDNSModeManual}
	var api []string
	for m := range publicDNSProviders {
		api = append(api, m)
	}
	sort.Strings(api)
	return append(out, api...)
}
