package dnsupdate

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestRemoveRecordsAgainstBIND: RemoveRecords deletes exactly the named
// record; another value at the same name stays; a record that is not
// there is no error; outside the zone is refused before sending.
func TestRemoveRecordsAgainstBIND(t *testing.T) {
	t.Parallel()
	_, c := startPublic(t)
	ctx := ctxT(t)
	name := "_acme-challenge.outlook.contoso.test."
	mine := RRset{Name: name, Type: dns.TypeTXT, TTL: 60, Data: []string{`"mine"`}}
	theirs := RRset{Name: name, Type: dns.TypeTXT, TTL: 60, Data: []string{`"theirs"`}}
	if err := c.Update(ctx, Update{Add: []RRset{mine, theirs}}); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveRecords(ctx, []RRset{mine}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Query(ctx, name, dns.TypeTXT)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 1 || got.Data[0] != `"theirs"` {
		t.Fatalf("after removing mine: %v", got.Data)
	}
	if err := c.RemoveRecords(ctx, []RRset{mine}); err != nil {
		t.Fatalf("removing an absent record: %v", err)
	}
	out := RRset{Name: "_acme-challenge.fabrikam.test.", Type: dns.TypeTXT, Data: []string{`"x"`}}
	if err := c.RemoveRecords(ctx, []RRset{out}); err == nil || !strings.Contains(err.Error(), "outside zone") {
		t.Fatalf("outside the zone: %v", err)
	}
	bad := *c
	bad.TSIG.Secret = readerSecret
	if err := bad.RemoveRecords(ctx, []RRset{theirs}); err == nil {
		t.Fatal("a wrong key removed a record")
	}
}
