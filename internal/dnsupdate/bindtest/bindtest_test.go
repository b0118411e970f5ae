package bindtest

import (
	"strings"
	"testing"
)

const zoneV1 = `$TTL 300
@ IN SOA ns1.contoso.test. hostmaster.contoso.test. 1 3600 600 86400 60
@ IN NS ns1.contoso.test.
ns1 IN A 203.0.113.53
outlook IN A 203.0.113.10
`

func TestStartDigUpdateReload(t *testing.T) {
	s := Start(t, Options{Zone: "contoso.test.", ZoneText: zoneV1})
	if got := s.DigAnswers(t, "outlook.contoso.test A"); !strings.Contains(got, "outlook.contoso.test.\t300\tIN\tA\t203.0.113.10") {
		t.Fatalf("dig answer:\n%s", got)
	}
	s.NSUpdate(t, "update add new.contoso.test. 60 A 203.0.113.20")
	if got := s.DigAnswers(t, "new.contoso.test A"); !strings.Contains(got, "new.contoso.test.\t60\tIN\tA\t203.0.113.20") {
		t.Fatalf("after nsupdate:\n%s", got)
	}
	s.Reload(t, strings.Replace(zoneV1, " 1 3600", " 7 3600", 1))
	if serial, err := s.SOASerial(); err != nil || serial != 7 {
		t.Fatalf("serial after reload = %d, %v", serial, err)
	}
}
