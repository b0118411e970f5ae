package config

import (
	"fmt"
	"strings"
)

// PublicDNSAPIModes are the public_dns.mode values that write through a
// DNS provider's HTTP API. Only providers whose fake-API acceptance tests
// pass are listed.
var PublicDNSAPIModes = []string{"azure", "cloudflare", "hetzner", "ionos", "route53"}

// The environment variables that carry the providers' API tokens.
const (
	EnvCloudflareToken = "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN"
	EnvHetznerToken    = "EXRUNBOOK_PUBLIC_DNS_HETZNER_API_TOKEN"
	EnvIONOSToken      = "EXRUNBOOK_PUBLIC_DNS_IONOS_API_TOKEN"
	EnvRoute53Token    = "EXRUNBOOK_PUBLIC_DNS_ROUTE53_API_TOKEN"
	EnvAzureToken      = "EXRUNBOOK_PUBLIC_DNS_AZURE_API_TOKEN"
)

// AzureDNS configures public_dns.mode: azure: a service principal of
// Microsoft Entra ID (tenant and client ID; the API token is the client
// secret's value, from EXRUNBOOK_PUBLIC_DNS_AZURE_API_TOKEN or a 0600
// file) and where the zone lies in Azure Resource Manager. Managed
// identities are not offered.
type AzureDNS struct {
	// TenantID is the directory (tenant) ID, a GUID or the tenant's
	// domain such as contoso.onmicrosoft.com.
	TenantID string `yaml:"tenant_id" json:"tenant_id"`
	// ClientID is the application (client) ID of the service principal.
	ClientID string `yaml:"client_id" json:"client_id"`
	// SubscriptionID is the subscription that holds the zone.
	SubscriptionID string `yaml:"subscription_id" json:"subscription_id"`
	// ResourceGroup is the resource group that holds the zone.
	ResourceGroup string `yaml:"resource_group" json:"resource_group"`
	// APITokenFile names a 0600 file holding the client secret's value.
	APITokenFile string `yaml:"api_token_file" json:"api_token_file"`
}

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

// DNSAccessKey names a block that gives write access to one DNS zone:
// public_dns, or certificate.acme.challenge_dns (the zone delegated
// _acme-challenge CNAMEs point into). Both blocks have the same keys and
// modes, and their secrets come from environment variables named after
// the block (EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET,
// EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET, ...).
type DNSAccessKey string

// The blocks that configure DNS write access.
const (
	PublicDNSKey    DNSAccessKey = "public_dns"
	ChallengeDNSKey DNSAccessKey = "certificate.acme.challenge_dns"
)

// envPrefix is the block's environment variable prefix, such as
// EXRUNBOOK_PUBLIC_DNS.
func (k DNSAccessKey) envPrefix() string { return EnvName(string(k)) }

// DNSAccess is one zone's write access, as public_dns and
// certificate.acme.challenge_dns configure it.
type DNSAccess struct {
	// Mode is rfc2136, manual, or a provider's API (PublicDNSAPIModes).
	Mode string `yaml:"mode" json:"mode"`
	// Zone is the zone, fully qualified with a trailing dot.
	Zone string `yaml:"zone" json:"zone"`
	// Server is the primary that accepts UPDATEs, as host:port.
	Server string `yaml:"server" json:"server"`
	// Nameservers are where changes are verified (host:port); empty
	// means the zone's NS records.
	Nameservers []string      `yaml:"nameservers" json:"nameservers"`
	TSIG        TSIG          `yaml:"tsig" json:"tsig"`
	Cloudflare  CloudflareDNS `yaml:"cloudflare" json:"cloudflare"`
	Hetzner     HetznerDNS    `yaml:"hetzner" json:"hetzner"`
	IONOS       IONOSDNS      `yaml:"ionos" json:"ionos"`
	Route53     Route53DNS    `yaml:"route53" json:"route53"`
	Azure       AzureDNS      `yaml:"azure" json:"azure"`
}

// Configured reports whether the block is used (a mode or a zone is set).
func (a DNSAccess) Configured() bool { return a.Mode != "" || a.Zone != "" }

// DNSAccess returns the block k names.
func (c *Config) DNSAccess(k DNSAccessKey) DNSAccess {
	if k == ChallengeDNSKey {
		return c.Certificate.ACME.ChallengeDNS
	}
	return c.PublicDNS.DNSAccess
}

// tsigSpec is where the TSIG secret of block k comes from.
func tsigSpec(k DNSAccessKey) secretSpec {
	name := "TSIG secret"
	if k != PublicDNSKey {
		name += " of " + string(k)
	}
	return secretSpec{name, k.envPrefix() + "_TSIG_SECRET", string(k) + ".tsig.secret_file", func(c *Config) string { return c.DNSAccess(k).TSIG.SecretFile }}
}

// providerSpec is where the API credential of provider mode in block k
// comes from (ok false for a mode that is not a provider's API).
func providerSpec(k DNSAccessKey, mode string) (secretSpec, bool) {
	m := strings.ToLower(mode)
	what := map[string]string{"cloudflare": "Cloudflare API token", "hetzner": "Hetzner API token",
		"ionos": "IONOS API key", "route53": "Route 53 secret access key", "azure": "Azure client secret"}[m]
	if what == "" {
		return secretSpec{}, false
	}
	if k != PublicDNSKey {
		what += " of " + string(k)
	}
	return secretSpec{what, k.envPrefix() + "_" + strings.ToUpper(m) + "_API_TOKEN", string(k) + "." + m + ".api_token_file",
		func(c *Config) string { return providerTokenFile(m, c.DNSAccess(k)) }}, true
}

// providerTokenFile is the api_token_file of provider mode m in a.
func providerTokenFile(m string, a DNSAccess) string {
	switch m {
	case "cloudflare":
		return a.Cloudflare.APITokenFile
	case "hetzner":
		return a.Hetzner.APITokenFile
	case "ionos":
		return a.IONOS.APITokenFile
	case "route53":
		return a.Route53.APITokenFile
	case "azure":
		return a.Azure.APITokenFile
	}
	return ""
}

func mustProviderSpec(k DNSAccessKey, mode string) secretSpec {
	s, _ := providerSpec(k, mode)
	return s
}

var (
	specCloudflareToken = mustProviderSpec(PublicDNSKey, "cloudflare")
	specHetznerToken    = mustProviderSpec(PublicDNSKey, "hetzner")
	specIONOSToken      = mustProviderSpec(PublicDNSKey, "ionos")
	specRoute53Token    = mustProviderSpec(PublicDNSKey, "route53")
	specAzureToken      = mustProviderSpec(PublicDNSKey, "azure")
)

// dnsAccessSecrets lists the secrets block k needs in its mode: the TSIG
// secret in rfc2136 mode, the API credential in a provider's mode.
func (c *Config) dnsAccessSecrets(k DNSAccessKey) []secretSpec {
	a := c.DNSAccess(k)
	if strings.EqualFold(a.Mode, "rfc2136") {
		return []secretSpec{tsigSpec(k)}
	}
	if s, ok := providerSpec(k, a.Mode); ok {
		return []secretSpec{s}
	}
	return nil
}

// dnsProviderSecrets lists the secret public_dns.mode needs, if it is a
// provider's API.
func (c *Config) dnsProviderSecrets() []secretSpec {
	if s, ok := providerSpec(PublicDNSKey, c.PublicDNS.Mode); ok {
		return []secretSpec{s}
	}
	return nil
}

// DNSProviderToken returns the credential of the provider API that
// public_dns.mode names, and where it can be set (for error messages:
// "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN or public_dns.cloudflare.api_token_file").
func (x Secrets) DNSProviderToken() (token, setting string, err error) {
	return x.DNSAccessToken(PublicDNSKey)
}

// DNSAccessToken returns the credential of the provider API that block
// k's mode names, and where it can be set; empty for a mode that is not
// a provider's API.
func (x Secrets) DNSAccessToken(k DNSAccessKey) (token, setting string, err error) {
	s, ok := providerSpec(k, x.c.DNSAccess(k).Mode)
	if !ok {
		return "", "", nil
	}
	setting = s.env + " or " + s.fileKey
	v, err := reveal(x.secret(s))
	if err != nil {
		return "", setting, err
	}
	return strings.TrimSpace(v), setting, nil
}

// validateDNSAccess checks block k's zone access: the mode, the zone,
// the servers, the TSIG key in rfc2136 mode, the provider's settings.
// It returns the mode in lower case ("" when it is not a known mode).
func validateDNSAccess(ps *problems, k DNSAccessKey, d DNSAccess) string {
	key := string(k)
	mode := strings.ToLower(d.Mode)
	if d.Mode == "" && k != PublicDNSKey {
		ps.add(key+".mode", "missing; expected one of %s", strings.Join(PublicDNSModes, ", "))
		mode = ""
	} else if !oneOf(ps, key+".mode", d.Mode, PublicDNSModes) {
		mode = ""
	}
	if d.Zone == "" {
		ps.add(key+".zone", "missing; expected the zone, fully qualified with a trailing dot, such as contoso.com.")
	} else if !strings.HasSuffix(d.Zone, ".") {
		ps.add(key+".zone", "%q has no trailing dot; expected a fully qualified zone name such as contoso.com.", d.Zone)
	} else if !isHostname(strings.TrimSuffix(d.Zone, ".")) {
		ps.add(key+".zone", "%q is not a zone name; expected such as contoso.com.", d.Zone)
	}
	if mode == "rfc2136" {
		if d.Server == "" {
			ps.add(key+".server", "missing; %s.mode: rfc2136 needs the primary server that accepts updates, as host:port such as ns1.provider.net:53", key)
		}
		if d.TSIG.Name == "" {
			ps.add(key+".tsig.name", "missing; %s.mode: rfc2136 needs the TSIG key name, such as exrunbook-update.", key)
		}
	}
	if d.Server != "" {
		hostPort(ps, key+".server", d.Server, "ns1.provider.net:53")
	}
	for i, ns := range d.Nameservers {
		hostPort(ps, fmt.Sprintf("%s.nameservers[%d]", key, i), ns, "ns1.provider.net:53")
	}
	if d.TSIG.Name != "" {
		if !strings.HasSuffix(d.TSIG.Name, ".") || !isHostname(strings.TrimSuffix(d.TSIG.Name, ".")) {
			ps.add(key+".tsig.name", "%q is not a fully qualified key name; expected a name ending in a dot, such as exrunbook-update.", d.TSIG.Name)
		}
	}
	oneOf(ps, key+".tsig.algorithm", d.TSIG.Algorithm, TSIGAlgorithms)
	if d.TSIG.SecretFile != "" {
		secretFile(ps, key+".tsig.secret_file", d.TSIG.SecretFile)
	}
	validateDNSProviders(ps, k, d, mode)
	return mode
}

// validateDNSProviders checks the settings of the provider API that mode
// names: the verification needs the nameservers, the token file must be
// private.
func validateDNSProviders(ps *problems, k DNSAccessKey, d DNSAccess, mode string) {
	key := string(k)
	for _, m := range PublicDNSAPIModes {
		if f := providerTokenFile(m, d); f != "" {
			s, _ := providerSpec(k, m)
			secretFile(ps, s.fileKey, f)
		}
	}
	if mode == "route53" && d.Route53.AccessKeyID == "" {
		s, _ := providerSpec(k, mode)
		ps.add(key+".route53.access_key_id", "missing; %s.mode: route53 needs the IAM user's access key ID, such as AKIAIOSFODNN7EXAMPLE (the secret key goes in %s or %s)", key, s.env, s.fileKey)
	}
	if mode == "azure" {
		validateAzure(ps, k, d.Azure)
	}
	for _, m := range PublicDNSAPIModes {
		if mode != m {
			continue
		}
		if d.Server == "" && len(d.Nameservers) == 0 {
			ps.add(key+".nameservers", "missing; %s.mode: %s changes the zone through the provider's API and then verifies every authoritative nameserver: list them as host:port, such as ns1.provider.net:53", key, mode)
		}
	}
}

// validateAzure checks the service principal and the zone's place in
// Azure Resource Manager: every key is needed (managed identities are not
// offered), the IDs are GUIDs (the tenant may be its domain instead), the
// resource group a name Azure accepts.
func validateAzure(ps *problems, k DNSAccessKey, a AzureDNS) {
	key := string(k) + ".azure."
	s, _ := providerSpec(k, "azure")
	const guid = "a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47"
	check := func(leaf, v, what string, domainOK bool) {
		switch {
		case v == "":
			ps.add(key+leaf, "missing; %s.mode: azure needs %s, %s", k, what, guid)
		case isGUID(v):
		case domainOK && isHostname(v) && strings.Contains(v, "."):
		case domainOK:
			ps.add(key+leaf, "%q is neither a GUID nor a domain; expected %s, or the tenant's domain such as contoso.onmicrosoft.com", v, guid)
		default:
			ps.add(key+leaf, "%q is not a GUID; expected %s", v, guid)
		}
	}
	check("tenant_id", a.TenantID, "the directory (tenant) ID of the service principal", true)
	check("client_id", a.ClientID, "the application (client) ID of the service principal (its secret goes in "+s.env+" or "+s.fileKey+")", false)
	check("subscription_id", a.SubscriptionID, "the ID of the subscription that holds the zone", false)
	switch rg := a.ResourceGroup; {
	case rg == "":
		ps.add(key+"resource_group", "missing; %s.mode: azure needs the resource group that holds the zone, such as rg-dns", k)
	case !isResourceGroup(rg):
		ps.add(key+"resource_group", "%q is not a resource group name; expected 1 to 90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'", rg)
	}
}

// isGUID reports whether s is 8-4-4-4-12 hex digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

// isResourceGroup reports whether s is a name Azure accepts for a
// resource group.
func isResourceGroup(s string) bool {
	if len(s) == 0 || len(s) > 90 || strings.HasSuffix(s, ".") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.()", c)) {
			return false
		}
	}
	return true
}
