package steps

import (
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/route53"
)

func init() {
	publicDNSProviders["route53"] = func(d *Deps) (recordset.Provider, error) {
		secret, setting, err := d.Config.DNSProviderToken()
		if err != nil {
			return nil, err
		}
		r := d.Config.PublicDNS.Route53
		return route53.New(route53.Options{AccessKeyID: r.AccessKeyID, SecretAccessKey: secret, HostedZoneID: r.HostedZoneID, KeySetting: setting})
	}
}
