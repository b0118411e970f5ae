package org

import "strings"

// SplitDN splits an LDAP distinguished name into its RDN values, honouring
// backslash escapes: "CN=O\, Brien,OU=Users,DC=contoso,DC=test" gives
// [{CN O, Brien} {OU Users} {DC contoso} {DC test}].
func SplitDN(dn string) [][2]string {
	var out [][2]string
	var cur []byte
	var parts []string
	esc := false
	for i := 0; i < len(dn); i++ { // bytes: the specials are ASCII, other bytes pass through
		b := dn[i]
		switch {
		case esc:
			cur = append(cur, b)
			esc = false
		case b == '\\':
			esc = true
		case b == ',':
			parts = append(parts, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, b)
		}
	}
	parts = append(parts, string(cur))
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		out = append(out, [2]string{strings.TrimSpace(k), v})
	}
	return out
}

// EscapeRDN escapes an RDN value for a distinguished name (RFC 4514).
func EscapeRDN(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case strings.IndexByte(`,+"\<>;=`, c) >= 0,
			i == 0 && (c == ' ' || c == '#'),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// CanonicalName turns a DN into the canonical name Exchange shows as a
// recipient's Identity: "CN=Alice,OU=Users,DC=contoso,DC=test" gives
// "contoso.test/Users/Alice".
func CanonicalName(dn string) string {
	rdns := SplitDN(dn)
	var dcs, rest []string
	for _, r := range rdns {
		if strings.EqualFold(r[0], "DC") {
			dcs = append(dcs, r[1])
		} else {
			rest = append(rest, r[1])
		}
	}
	parts := []string{strings.Join(dcs, ".")}
	for i := len(rest) - 1; i >= 0; i-- {
		parts = append(parts, rest[i])
	}
	return strings.Join(parts, "/")
}
