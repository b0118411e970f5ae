package steps

import (
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/azure"
)

func init() {
	publicDNSProviders["azure"] = func(d *Deps, k config.DNSAccessKey) (recordset.Provider, error) {
		secret, setting, err := d.Config.DNSAccessToken(k)
		if err != nil {
			return nil, err
		}
		a := d.Config.DNSAccess(k).Azure
		return azure.New(azure.Options{TenantID: a.TenantID, ClientID: a.ClientID, ClientSecret: secret,
			SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup,
			Key: string(k), SecretSetting: setting, Transport: d.DNSAPITransport})
	}
}
