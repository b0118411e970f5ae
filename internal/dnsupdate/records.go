package dnsupdate

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// MaxTTL is the largest TTL RFC 2181 allows (2^31 - 1).
const MaxTTL = 1<<31 - 1

// CheckZone validates a zone name and returns it fully qualified and lower
// case. Zone names follow the same rules as host names (see CheckHostname).
func CheckZone(zone string) (string, error) {
	z, err := CheckHostname(zone)
	if err != nil {
		return "", fmt.Errorf("zone %w", err)
	}
	return z, nil
}

// CheckHostname validates a host name and returns it fully qualified and
// lower case. It accepts only what cannot change the record it ends up in:
// labels of ASCII letters, digits and '-' (not at either end of a label),
// 1 to 63 characters each, 253 at most in all, an optional final dot. It
// refuses spaces, quotes, semicolons, parentheses, backslashes, line
// breaks, "..", a leading dot and non-ASCII text (use the xn-- form).
func CheckHostname(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("name is empty")
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
		default:
			return "", fmt.Errorf("name %q: character %q at offset %d is not allowed (letters, digits, '-' and '.' only; write internationalised names in their xn-- form)", name, r, i)
		}
	}
	bare := strings.TrimSuffix(name, ".")
	switch {
	case bare == "":
		return "", fmt.Errorf("name %q is the root, not a host name", name)
	case strings.HasPrefix(bare, "."):
		return "", fmt.Errorf("name %q starts with a dot", name)
	case strings.Contains(bare, ".."):
		return "", fmt.Errorf("name %q has an empty label (\"..\")", name)
	case len(bare) > 253:
		return "", fmt.Errorf("name %q is %d characters long; at most 253 are allowed", name, len(bare))
	}
	for _, label := range strings.Split(bare, ".") {
		switch {
		case label == "":
			return "", fmt.Errorf("name %q has an empty label", name)
		case len(label) > 63:
			return "", fmt.Errorf("name %q: label %q is %d characters long; at most 63 are allowed", name, label, len(label))
		case strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-"):
			return "", fmt.Errorf("name %q: label %q starts or ends with '-'", name, label)
		}
	}
	return dns.CanonicalName(bare + "."), nil
}

// CheckName validates a host name that must lie strictly inside zone (not
// at its apex) and returns it fully qualified and lower case.
func CheckName(name, zone string) (string, error) {
	z, err := CheckZone(zone)
	if err != nil {
		return "", err
	}
	n, err := CheckHostname(name)
	if err != nil {
		return "", err
	}
	if n == z {
		return "", fmt.Errorf("name %q is the apex of zone %s; exrunbook only changes names below the apex", name, z)
	}
	if !dns.IsSubDomain(z, n) {
		return "", fmt.Errorf("name %q is outside zone %s", name, z)
	}
	return n, nil
}

// CheckIPv4 validates a dotted-quad IPv4 address (no IPv6, no IPv4-mapped
// IPv6, no leading zeros, no zone) and returns it in canonical form.
func CheckIPv4(s string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("address %q is not an IPv4 address: %v", s, err)
	}
	if !a.Is4() {
		return "", fmt.Errorf("address %q is not an IPv4 address (an A record needs one like 203.0.113.10)", s)
	}
	if a.String() != s {
		return "", fmt.Errorf("address %q is not in canonical dotted-quad form (%s)", s, a)
	}
	return a.String(), nil
}

// CheckTTL validates a TTL in seconds: 1 to 2147483647 (RFC 2181).
func CheckTTL(ttl int64) (uint32, error) {
	if ttl < 1 || ttl > MaxTTL {
		return 0, fmt.Errorf("TTL %d is out of range: use 1 to %d seconds", ttl, MaxTTL)
	}
	return uint32(ttl), nil
}

// ARecord builds the A RRset "name ttl IN A ip" inside zone from validated
// configuration values, or says which value is wrong. The result is
// checked by parsing its zone-file form back: it is exactly one A record
// with that name, TTL and address.
func ARecord(zone, name, ip string, ttl int64) (RRset, error) {
	n, err := CheckName(name, zone)
	if err != nil {
		return RRset{}, err
	}
	addr, err := CheckIPv4(ip)
	if err != nil {
		return RRset{}, err
	}
	t, err := CheckTTL(ttl)
	if err != nil {
		return RRset{}, err
	}
	s := RRset{Name: n, Type: dns.TypeA, TTL: t, Data: []string{addr}}
	rrs, err := s.toRRs()
	if err != nil {
		return RRset{}, err
	}
	a, ok := rrs[0].(*dns.A)
	if len(rrs) != 1 || !ok || a.Hdr.Name != n || a.Hdr.Ttl != t || a.A.String() != addr {
		return RRset{}, fmt.Errorf("record %s A %s does not round-trip", n, addr)
	}
	return s, nil
}
