package config

import (
	"strings"
	"testing"
)

// A complete Azure block loads; the client secret comes from the block's
// own variable, and the settings read back as written.
func TestAzureDNSConfig(t *testing.T) {
	path, err := acmeConfig(t, "challenge_dns: {mode: azure, zone: acme.fabrikam.test., nameservers: [\"127.0.0.1:5300\"], azure: {tenant_id: contoso.onmicrosoft.com, "+
		"client_id: 00000000-0000-0000-0000-0000000000c1, subscription_id: 00000000-0000-0000-0000-00000000005B, resource_group: rg-dns_(prod).1}}", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvAzureToken, "public-secret")
	t.Setenv("EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_AZURE_API_TOKEN", "challenge-secret")
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.DNSAccess(ChallengeDNSKey).Azure
	if a.TenantID != "contoso.onmicrosoft.com" || a.ClientID != "00000000-0000-0000-0000-0000000000c1" || a.ResourceGroup != "rg-dns_(prod).1" {
		t.Fatalf("azure block: %+v", a)
	}
	tok, setting, err := cfg.Secrets(nil).DNSAccessToken(ChallengeDNSKey)
	if err != nil || tok != "challenge-secret" || setting != "EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_AZURE_API_TOKEN or certificate.acme.challenge_dns.azure.api_token_file" {
		t.Fatalf("DNSAccessToken = %q %q %v", tok, setting, err)
	}
}

func TestAzureNames(t *testing.T) {
	for _, c := range []struct {
		s           string
		guid, group bool
	}{
		{"72f988bf-86f1-41af-91ab-2d7cd011db47", true, true},
		{"72F988BF-86F1-41AF-91AB-2D7CD011DB47", true, true},
		{"72f988bf86f141af91ab2d7cd011db47", false, true},
		{"72f988bf-86f1-41af-91ab-2d7cd011db4g", false, true},
		{"72f988bf-86f1-41af-91ab_2d7cd011db47", false, true},
		{"rg-dns", false, true},
		{"rg.dns.", false, false},
		{"rg dns", false, false},
		{"", false, false},
		{string(make([]byte, 91)), false, false},
	} {
		if g, r := isGUID(c.s), isResourceGroup(c.s); g != c.guid || r != c.group {
			t.Errorf("%q: isGUID %v, isResourceGroup %v; want %v, %v", c.s, g, r, c.guid, c.group)
		}
	}
}

// public_dns embeds the zone-access block inline: every key of
// certificate.acme.challenge_dns is public_dns's own too, at the same
// depth, and public_dns adds only the step's keys.
func TestPublicDNSSharesTheAccessKeys(t *testing.T) {
	const challenge = "certificate.acme.challenge_dns."
	public := map[string]bool{}
	for _, k := range Keys() {
		if rest, ok := strings.CutPrefix(k, "public_dns."); ok {
			public[rest] = true
		}
	}
	n := 0
	for _, k := range Keys() {
		if rest, ok := strings.CutPrefix(k, challenge); ok {
			n++
			if !public[rest] {
				t.Errorf("%s has no public_dns.%s twin", k, rest)
			}
			delete(public, rest)
		}
	}
	if n < 10 {
		t.Fatalf("only %d keys under %s", n, challenge)
	}
	if len(public) != 2 || !public["public_ip"] || !public["ttl"] {
		t.Errorf("public_dns's own keys: %v; want public_ip and ttl", public)
	}
}
