package steps

import (
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/hetzner"
)

func init() {
	publicDNSProviders["hetzner"] = func(d *Deps, k config.DNSAccessKey) (recordset.Provider, error) {
		token, setting, err := d.Config.DNSAccessToken(k)
		if err != nil {
			return nil, err
		}
		return hetzner.New(hetzner.Options{Token: token, TokenSetting: setting, Transport: d.DNSAPITransport})
	}
}
