package steps

import (
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/hetzner"
)

func init() {
	publicDNSProviders["hetzner"] = func(d *Deps) (recordset.Provider, error) {
		token, setting, err := d.Config.DNSProviderToken()
		if err != nil {
			return nil, err
		}
		return hetzner.New(hetzner.Options{Token: token, TokenSetting: setting, Transport: d.DNSAPITransport})
	}
}
