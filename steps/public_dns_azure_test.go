package steps

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/config"
	azfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/azure"
)

// Through the Azure fake, the swap writes the external name before it
// removes the internal one, each write conditioned on what was read (a
// record set created with If-None-Match, removed with If-Match).
func TestPublicDNSAzureAddsBeforeRemoving(t *testing.T) {
	f := pdnsAPIFakeOf(t, "azure")
	l := startAPILab(t, f, "good.token")
	step := l.step(t)
	env := &pdnsEnv{now: time.Now()}
	snap, err := step.Capture(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := step.Apply(context.Background(), env, snap); err != nil {
		t.Fatal(err)
	}
	const rs = "/subscriptions/00000000-0000-0000-0000-00000000005b/resourceGroups/rg-dns/providers/Microsoft.Network/dnsZones/contoso.test/"
	var writes []string
	for _, r := range f.requests(l.fake) {
		if strings.HasPrefix(r, "PUT ") || strings.HasPrefix(r, "DELETE ") {
			method, rest, _ := strings.Cut(r, " ")
			path, _, _ := strings.Cut(strings.TrimPrefix(rest, rs), "?")
			writes = append(writes, method+" "+path)
		}
	}
	if got := strings.Join(writes, ", "); got != "PUT A/outlook-ext, DELETE A/outlook" {
		t.Fatalf("writes: %s", got)
	}
	reqs := strings.Join(f.requests(l.fake), "\n")
	if !strings.Contains(reqs, "GET "+rs+"A/outlook-ext?") {
		t.Errorf("the record set was not read before it was written:\n%s", reqs)
	}
	if got := l.dig(t, "outlook-ext.contoso.test.", 1); got != "outlook-ext.contoso.test. A 203.0.113.20 (TTL 60)" {
		t.Fatalf("dig: %s", got)
	}
}

// A wrong client secret: the identity platform's words, the settings to
// check, never the secret; the zone untouched.
func TestPublicDNSAzureWrongSecret(t *testing.T) {
	l := startAPILab(t, pdnsAPIFakeOf(t, "azure"), "wrong-secret")
	_, err := l.step(t).Capture(context.Background(), &pdnsEnv{now: time.Now()})
	if err == nil {
		t.Fatal("Capture with a wrong secret succeeded")
	}
	for _, want := range []string{"the Microsoft identity platform refused the service principal (HTTP 401",
		"EXRUNBOOK_PUBLIC_DNS_AZURE_API_TOKEN or public_dns.azure.api_token_file, public_dns.azure.client_id and public_dns.azure.tenant_id",
		"invalid_client: AADSTS7000215: Invalid client secret provided"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "wrong-secret") || strings.Contains(err.Error(), "\n") {
		t.Errorf("the error shows the secret or spans lines: %q", err)
	}
	if got := l.text(t); got != l.initial {
		t.Fatalf("the zone changed:\n%s", got)
	}
	for _, r := range l.fake.(*azfake.Fake).Requests() {
		if strings.HasPrefix(r, "PUT ") || strings.HasPrefix(r, "DELETE ") || strings.Contains(r, "/subscriptions/") {
			t.Errorf("a request to ARM without a token: %s", r)
		}
	}
}

// A resource group that does not exist is named, with ARM's words.
func TestPublicDNSAzureWrongResourceGroup(t *testing.T) {
	l := startAPILab(t, pdnsAPIFakeOf(t, "azure"), "good.token")
	l.cfg.PublicDNS.Azure.ResourceGroup = "rg-other"
	_, err := l.step(t).Capture(context.Background(), &pdnsEnv{now: time.Now()})
	if err == nil || !strings.Contains(err.Error(), `public_dns.azure.resource_group "rg-other": ResourceGroupNotFound: Resource group 'rg-other' could not be found.`) {
		t.Fatalf("Capture: %v", err)
	}
}

// Issue 15's bonus: ACME DNS-01 through the Azure fake, Pebble validating
// against the lab's DNS; the zone ends as it began.
func TestACMEDNS01AzureLab(t *testing.T) {
	l, names := obtainThroughAPILab(t, pdnsAPIFakeOf(t, "azure"))
	reqs := strings.Join(l.fake.(*azfake.Fake).Requests(), "\n")
	if n := strings.Count(reqs, "PUT /subscriptions/00000000-0000-0000-0000-00000000005b/resourceGroups/rg-dns/providers/Microsoft.Network/dnsZones/contoso.test/TXT/_acme-challenge."); n != len(names) {
		t.Errorf("%d TXT record sets written through the API, want %d:\n%s", n, len(names), reqs)
	}
}

// certificate.acme.challenge_dns in mode azure opens its own provider,
// with its own settings and secret, and names them when refused.
func TestChallengeDNSAzureOwnSettings(t *testing.T) {
	l := startAPILab(t, pdnsAPIFakeOf(t, "azure"), "good.token")
	wrong := filepath.Join(t.TempDir(), "challenge-secret")
	if err := os.WriteFile(wrong, []byte("not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := l.cfg.PublicDNS.Azure
	a.APITokenFile = wrong
	l.cfg.Certificate.ACME.ChallengeDNS = config.DNSAccess{Mode: "azure", Zone: "contoso.test.", Nameservers: l.cfg.PublicDNS.Nameservers, Azure: a}
	p, err := l.deps.Clients.DNSRecordSet(config.ChallengeDNSKey, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.GetRRsets(context.Background(), "contoso.test.", "_acme-challenge.outlook-ext.contoso.test.", dns.TypeTXT)
	if err == nil || !strings.Contains(err.Error(), "check EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_AZURE_API_TOKEN or certificate.acme.challenge_dns.azure.api_token_file, certificate.acme.challenge_dns.azure.client_id") {
		t.Fatalf("challenge zone with a wrong secret: %v", err)
	}
	// public_dns's own access still works.
	pp, err := l.deps.Clients.PublicDNSRecordSet(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pp.GetRRsets(context.Background(), "contoso.test.", "outlook.contoso.test.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
}
