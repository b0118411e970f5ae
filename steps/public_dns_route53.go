package steps

import (
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/route53"
)

func init() {
	publicDNSProviders["route53"] = func(d *Deps, k config.DNSAccessKey) (recordset.Provider, error) {
		secret, setting, err := d.Config.DNSAccessToken(k)
		if err != nil {
			return nil, err
		}
		r := d.Config.DNSAccess(k).Route53
		return route53.New(route53.Options{AccessKeyID: r.AccessKeyID, SecretAccessKey: secret, HostedZoneID: r.HostedZoneID, KeySetting: setting})
	}
}
