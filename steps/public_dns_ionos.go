package steps

import (
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/ionos"
)

func init() {
	publicDNSProviders["ionos"] = func(d *Deps, k config.DNSAccessKey) (recordset.Provider, error) {
		key, setting, err := d.Config.DNSAccessToken(k)
		if err != nil {
			return nil, err
		}
		return ionos.New(ionos.Options{APIKey: key, KeySetting: setting, Transport: d.DNSAPITransport})
	}
}
