package config

import (
	"strings"
)

// PublicDNSAPIModes are the public_dns.mode values that write through a
// DNS provider's HTTP API. Only providers whose fake-API acceptance tests
// pass are listed.
var PublicDNSAPIModes = []string{"cloudflare", "hetzner", "ionos", "route53"}

// The environment variables that carry the providers' API tokens.
const (
	EnvCloudflareToken = "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN"
	EnvHetznerToken    = "EXRUNBOOK_PUBLIC_DNS_HETZNER_API_TOKEN"
	EnvIONOSToken      = "EXRUNBOOK_PUBLIC_DNS_IONOS_API_TOKEN"
	EnvRoute53Token    = "EXRUNBOOK_PUBLIC_DNS_ROUTE53_API_TOKEN"
)

// Route53DNS configures public_dns.mode: route53. The API token is the IAM
// user's secret access key, from EXRUNBOOK_PUBLIC_DNS_ROUTE53_API_TOKEN or
// a 0600 file; the access key ID is not secret.
type Route53DNS struct {
	// AccessKeyID is the IAM user's access key ID (AKIA...).
	AccessKeyID string `yaml:"access_key_id" json:"access_key_id"`
	// HostedZoneID is the zone's ID; empty: found by public_dns.zone.
	HostedZoneID string `yaml:"hosted_zone_id" json:"hosted_zone_id"`
	// APITokenFile names a 0600 file holding the secret access key.
	APITokenFile string `yaml:"api_token_file" json:"api_token_file"`
}

// IONOSDNS configures public_dns.mode: ionos. The token is the API key as
// IONOS shows it ("prefix.secret"), from EXRUNBOOK_PUBLIC_DNS_IONOS_API_TOKEN
// or a 0600 file.
type IONOSDNS struct {
	// APITokenFile names a 0600 file holding the API key.
	APITokenFile string `yaml:"api_token_file" json:"api_token_file"`
}

// HetznerDNS configures public_dns.mode: hetzner (the Hetzner Cloud DNS
// API). The zone is found by its name; the token comes from
// EXRUNBOOK_PUBLIC_DNS_HETZNER_API_TOKEN or a 0600 file.
type HetznerDNS struct {
	// APITokenFile names a 0600 file holding the API token.
	APITokenFile string `yaml:"api_token_file" json:"api_token_file"`
}

// CloudflareDNS configures public_dns.mode: cloudflare. The zone is found
// by its name (public_dns.zone); the token comes from
// EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN or a 0600 file, never from
// this file.
type CloudflareDNS struct {
	// APITokenFile names a 0600 file holding the API token.
	APITokenFile string `yaml:"api_token_file" json:"api_token_file"`
}

var (
	specCloudflareToken = secretSpec{"Cloudflare API token", EnvCloudflareToken, "public_dns.cloudflare.api_token_file", func(c *Config) string { return c.PublicDNS.Cloudflare.APITokenFile }}
	specHetznerToken    = secretSpec{"Hetzner API token", EnvHetznerToken, "public_dns.hetzner.api_token_file", func(c *Config) string { return c.PublicDNS.Hetzner.APITokenFile }}
	specIONOSToken      = secretSpec{"IONOS API key", EnvIONOSToken, "public_dns.ionos.api_token_file", func(c *Config) string { return c.PublicDNS.IONOS.APITokenFile }}
	specRoute53Token    = secretSpec{"Route 53 secret access key", EnvRoute53Token, "public_dns.route53.api_token_file", func(c *Config) string { return c.PublicDNS.Route53.APITokenFile }}
)

// dnsProviderSecrets lists the secret public_dns.mode needs, if it is a
// provider's API.
func (c *Config) dnsProviderSecrets() []secretSpec {
	switch strings.ToLower(c.PublicDNS.Mode) {
	case "cloudflare":
		return []secretSpec{specCloudflareToken}
	case "hetzner":
		return []secretSpec{specHetznerToken}
	case "ionos":
		return []secretSpec{specIONOSToken}
	case "route53":
		return []secretSpec{specRoute53Token}
	}
	return nil
}

// DNSProviderToken returns the credential of the provider API that
// public_dns.mode names, and where it can be set (for error messages:
// "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN or public_dns.cloudflare.api_token_file").
func (c *Config) DNSProviderToken() (token, setting string, err error) {
	specs := c.dnsProviderSecrets()
	if len(specs) == 0 {
		return "", "", nil
	}
	s := specs[0]
	setting = s.env + " or " + s.fileKey
	v, err := reveal(c.secret(s))
	if err != nil {
		return "", setting, err
	}
	return strings.TrimSpace(v), setting, nil
}

// validateDNSProviders checks the settings of the provider API that mode
// names: the verification needs the nameservers, the token file must be
// private.
func (c *Config) validateDNSProviders(ps *problems, mode string) {
	d := c.PublicDNS
	if d.Cloudflare.APITokenFile != "" {
		secretFile(ps, "public_dns.cloudflare.api_token_file", d.Cloudflare.APITokenFile)
	}
	if d.Hetzner.APITokenFile != "" {
		secretFile(ps, "public_dns.hetzner.api_token_file", d.Hetzner.APITokenFile)
	}
	if d.IONOS.APITokenFile != "" {
		secretFile(ps, "public_dns.ionos.api_token_file", d.IONOS.APITokenFile)
	}
	if d.Route53.APITokenFile != "" {
		secretFile(ps, "public_dns.route53.api_token_file", d.Route53.APITokenFile)
	}
	if mode == "route53" && d.Route53.AccessKeyID == "" {
		ps.add("public_dns.route53.access_key_id", "missing; public_dns.mode: route53 needs the IAM user's access key ID, such as AKIAIOSFODNN7EXAMPLE (the secret key goes in EXRUNBOOK_PUBLIC_DNS_ROUTE53_API_TOKEN or public_dns.route53.api_token_file)")
	}
	for _, m := range PublicDNSAPIModes {
		if mode != m {
			continue
		}
		if d.Server == "" && len(d.Nameservers) == 0 {
			ps.add("public_dns.nameservers", "missing; public_dns.mode: %s changes the zone through the provider's API and then verifies every authoritative nameserver: list them as host:port, such as ns1.provider.net:53", mode)
		}
	}
}
