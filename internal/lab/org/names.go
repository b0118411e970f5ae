package org

import "strings"

// SplitDN splits an LDAP distinguished name into its RDN values, honouring
// backslash escapes: "CN=O\, Brien,OU=Users,DC=contoso,DC=test" gives
// [{CN O, Brien} {OU Users} {DC contoso} {DC test}].
func SplitDN(dn string) [][2]string {
	var out [][2]string
	var cur strings.Builder
	var parts []string
	esc := false
	for _, r := range dn {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\':
			esc = true
		case r == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		out = append(out, [2]string{strings.TrimSpace(k), v})
	}
	return out
}

// EscapeRDN escapes an RDN value for a distinguished name (RFC 4514).
func EscapeRDN(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;=`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(v)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
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
