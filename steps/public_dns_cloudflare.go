package steps

import (
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/cloudflare"
)

func init() {
	publicDNSProviders["cloudflare"] = func(d *Deps) (recordset.Provider, error) {
		token, setting, err := d.Config.DNSProviderToken()
		if err != nil {
			return nil, err
		}
		return cloudflare.New(cloudflare.Options{Token: token, TokenSetting: setting, Transport: d.DNSAPITransport})
	}
}
