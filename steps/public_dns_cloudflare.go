package steps

import (
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/cloudflare"
)

func init() {
	publicDNSProviders["cloudflare"] = func(d *Deps, k config.DNSAccessKey) (recordset.Provider, error) {
		token, setting, err := d.Config.DNSAccessToken(k)
		if err != nil {
			return nil, err
		}
		return cloudflare.New(cloudflare.Options{Token: token, TokenSetting: setting, Transport: d.DNSAPITransport})
	}
}
