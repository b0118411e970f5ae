package dnsapitest

import (
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func TestZone(t *testing.T) {
	z := Zone(SOA(900), []org.Record{{Name: "www.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"}})
	got, err := z.Zone()
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "contoso.test." || got.View != "public" || got.SOA.TTL != 900 || got.SOA.Serial != 1 || got.SOA.Refresh != 3600 ||
		len(got.NS) != 1 || got.NS[0] != "ns1.contoso.test." || len(got.Records) != 1 || !strings.HasPrefix(got.Records[0].Name, "www.") {
		t.Errorf("Zone() = %+v", got)
	}
}
