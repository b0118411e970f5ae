// Package dnsapitest builds the public zone the tests of the dnsapi fakes
// run against: contoso.test., served by ns1.contoso.test., in a MemZone
// the fake's store writes through to.
package dnsapitest

import (
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// Zone is the public zone contoso.test. with soa, ns1.contoso.test. as its
// nameserver and records.
func Zone(soa org.SOA, records []org.Record) *dnsserver.MemZone {
	return dnsserver.NewMemZone(org.Zone{View: "public", Name: "contoso.test.",
		SOA: soa, NS: []string{"ns1.contoso.test."}, Records: records})
}

// SOA is contoso.test.'s SOA at serial 1, with the usual timers (refresh
// 3600, retry 600, expire 86400, minimum 60) and ttl.
func SOA(ttl uint32) org.SOA {
	return org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 1,
		Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: ttl}
}
