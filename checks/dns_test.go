package checks

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/dnsupdate/bindtest"
	"github.com/miekg/dns"
)

func dnsTestZone(serial, body string) string {
	return `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. ` + serial + ` 3600 600 86400 60
@ IN NS ns1.contoso.test.
ns1 IN A 203.0.113.53
` + body
}

func dnsTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPublicRecordsCheck(t *testing.T) {
	t.Parallel()
	bindtest.Require(t, "rndc")
	swapped := "outlook-ext 120 IN A 203.0.113.10\n"
	primary := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: dnsTestZone("2", swapped)})
	second := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: dnsTestZone("1", "outlook 600 IN A 203.0.113.10\n")})
	client := &dnsupdate.Client{Server: primary.Addr, Zone: "contoso.test.", Timeout: 2 * time.Second}
	expect := []dnsupdate.RRset{
		{Name: "outlook-ext.contoso.test.", Type: dns.TypeA, TTL: 120, Data: []string{"203.0.113.10"}},
		{Name: "outlook.contoso.test.", Type: dns.TypeA},
		{Name: "outlook.contoso.test.", Type: dns.TypeAAAA},
		{Name: "outlook.contoso.test.", Type: dns.TypeCNAME},
	}
	chk := PublicRecordsCheck{Client: client, Request: dnsupdate.VerifyRequest{Nameservers: []string{primary.Addr, second.Addr}, Expect: expect}}
	if chk.Name() != "public DNS records" {
		t.Fatalf("name %q", chk.Name())
	}
	ctx := dnsTestCtx(t)

	res := chk.Run(ctx, nil)
	if res.Status != check.Fail {
		t.Fatalf("status %s with a lagging server: %s", res.Status, res.Message)
	}
	for _, want := range []string{"lagging behind serial 2: " + second.Addr, second.Addr + ": lagging: serial 1, newest 2",
		"outlook-ext.contoso.test. A: want 203.0.113.10, got (none)", "outlook.contoso.test. A: want (none), got 203.0.113.10"} {
		if !strings.Contains(res.Message, want) {
			t.Errorf("message %q lacks %q", res.Message, want)
		}
	}
	if strings.Contains(res.Message, primary.Addr) {
		t.Errorf("message names the primary, which answers as expected: %s", res.Message)
	}
	ev := strings.Join(res.Evidence, "\n")
	for _, want := range []string{"; @" + primary.Addr + " contoso.test. SOA: status NOERROR, flags qr aa",
		"outlook-ext.contoso.test.\t120\tIN\tA\t203.0.113.10", "; @" + second.Addr + " is LAGGING: serial 1, newest 2"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}

	second.Reload(t, dnsTestZone("2", swapped))
	res = chk.Run(ctx, nil)
	if res.Status != check.Pass {
		t.Fatalf("status %s after the second server caught up: %s\n%s", res.Status, res.Message, strings.Join(res.Evidence, "\n"))
	}
	if !strings.Contains(res.Message, "all 2 authoritative nameservers of contoso.test. answer as expected with serial 2") {
		t.Errorf("message %q", res.Message)
	}

	// The nameservers of a zone the primary does not serve cannot be found.
	res = PublicRecordsCheck{CheckName: "other zone", Client: client, Request: dnsupdate.VerifyRequest{Zone: "example.test.", Expect: expect}}.Run(ctx, nil)
	if res.Status != check.Fail || res.Name != "other zone" || !strings.Contains(res.Message, "finding the nameservers of example.test.") {
		t.Fatalf("other zone: %s %s", res.Status, res.Message)
	}
	if res := (PublicRecordsCheck{}).Run(ctx, nil); res.Status != check.Fail {
		t.Fatal("a check without a client passed")
	}
}

func TestInternalResolutionCheck(t *testing.T) {
	t.Parallel()
	s := bindtest.Start(t, bindtest.Options{Zone: "contoso.test.", ZoneText: dnsTestZone("1",
		"outlook IN A 192.0.2.25\nautodiscover IN CNAME outlook.contoso.test.\nlegacy IN A 192.0.2.99\n")})
	ctx := dnsTestCtx(t)
	chk := InternalResolutionCheck{Server: s.Addr, Names: []string{"outlook.contoso.test", "autodiscover.contoso.test"}, Addresses: []string{"192.0.2.25"}, Timeout: 2 * time.Second}
	res := chk.Run(ctx, nil)
	if res.Status != check.Pass {
		t.Fatalf("%s: %s", res.Status, res.Message)
	}
	if res.Message != "outlook.contoso.test., autodiscover.contoso.test. resolve to 192.0.2.25 at "+s.Addr {
		t.Errorf("message %q", res.Message)
	}
	if ev := strings.Join(res.Evidence, "\n"); !strings.Contains(ev, "autodiscover.contoso.test.\t300\tIN\tCNAME\toutlook.contoso.test.") {
		t.Errorf("evidence:\n%s", ev)
	}

	chk.Names = []string{"legacy.contoso.test", "outlook.contoso.test"}
	res = chk.Run(ctx, nil)
	if res.Status != check.Fail || !strings.Contains(res.Message, "legacy.contoso.test.: resolves to 192.0.2.99; want 192.0.2.25") ||
		strings.Contains(res.Message, "outlook.contoso.test.:") {
		t.Fatalf("%s: %s", res.Status, res.Message)
	}
	if res := (InternalResolutionCheck{Server: s.Addr, Addresses: []string{"192.0.2.25"}}).Run(ctx, nil); res.Status != check.Fail {
		t.Fatal("a check without names passed")
	}
}
