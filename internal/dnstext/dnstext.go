// Package dnstext is the zone-file presentation of a DNS character-string
// (RFC 1035 §5.1: a string in double quotes, with \" and \\ escaped and
// any other byte outside printable ASCII written as \DDD). It is the codec
// that both sides of a DNS provider's JSON API speak when a TXT or CAA
// value crosses between the API's raw strings and exrunbook's presentation
// form: the Azure DNS provider (internal/recordset/azure) and the lab's
// fake of that API (internal/lab/dnsapi/azure), which may share a codec
// with the client but no orchestrator package.
package dnstext

import (
	"fmt"
	"strconv"
	"strings"
)

// Quote writes s as a quoted character-string in zone-file form.
func Quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Unescape turns an escaped character-string (\" \\ \DDD, as miekg/dns
// keeps a TXT string, without the surrounding quotes) into its bytes. A
// backslash before any other byte stands for that byte; a trailing
// backslash is kept.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n, _ := strconv.Atoi(s[i+1 : i+4]); n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
