package psrp

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// appendEscaped appends s as CLIXML text: characters that are not allowed
// in XML 1.0, control characters and UTF-16 surrogates (each half) as
// _xHHHH_, a literal "_x" as "_x005F_x" (MS-PSRP §2.2.5.3.2), then the XML
// markup characters as entities. attr also escapes the double quote.
func appendEscaped(dst []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20:
				dst = appendUnit(dst, uint16(c))
			case c == '_' && i+1 < len(s) && s[i+1] == 'x':
				dst = append(dst, "_x005F_"...)
			case c == '&':
				dst = append(dst, "&amp;"...)
			case c == '<':
				dst = append(dst, "&lt;"...)
			case c == '>':
				dst = append(dst, "&gt;"...)
			case c == '"' && attr:
				dst = append(dst, "&quot;"...)
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, "\uFFFD"...)
		case r > 0xFFFF:
			hi, lo := utf16.EncodeRune(r)
			dst = appendUnit(dst, uint16(hi))
			dst = appendUnit(dst, uint16(lo))
		case r == 0xFFFE || r == 0xFFFF:
			dst = appendUnit(dst, uint16(r))
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

const hexDigits = "0123456789ABCDEF"

func appendUnit(dst []byte, u uint16) []byte {
	return append(dst, '_', 'x', hexDigits[u>>12], hexDigits[u>>8&0xF], hexDigits[u>>4&0xF], hexDigits[u&0xF], '_')
}

// unescapeCLIXML turns the _xHHHH_ escapes of s back into characters,
// joining surrogate pairs; a lone surrogate becomes U+FFFD.
func unescapeCLIXML(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	var pendingHi rune = -1
	flushHi := func() {
		if pendingHi >= 0 {
			b.WriteRune(utf8.RuneError)
			pendingHi = -1
		}
	}
	for i := 0; i < len(s); {
		if u, ok := escapeAt(s, i); ok {
			r := rune(u)
			switch {
			case utf16.IsSurrogate(r) && r < 0xDC00:
				flushHi()
				pendingHi = r
			case utf16.IsSurrogate(r):
				if pendingHi >= 0 {
					b.WriteRune(utf16.DecodeRune(pendingHi, r))
					pendingHi = -1
				} else {
					b.WriteRune(utf8.RuneError)
				}
			default:
				flushHi()
				b.WriteRune(r)
			}
			i += 7
			continue
		}
		flushHi()
		b.WriteByte(s[i])
		i++
	}
	flushHi()
	return b.String()
}

// escapeAt reports the code unit of an _xHHHH_ escape at s[i:].
func escapeAt(s string, i int) (uint16, bool) {
	if i+7 > len(s) || s[i] != '_' || s[i+1] != 'x' || s[i+6] != '_' {
		return 0, false
	}
	var u uint16
	for _, c := range []byte(s[i+2 : i+6]) {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		u = u<<4 | uint16(v)
	}
	return u, true
}

// UnspecifiedZone is the location of a DateTime that came without a zone
// suffix (DateTimeKind.Unspecified, "0001-01-01T00:00:00"); such a time is
// written back without a suffix. time.UTC is written as "Z", any other
// location as its offset ("+02:00").
var UnspecifiedZone = time.FixedZone("Unspecified", 0)

func appendDateTime(dst []byte, t time.Time) []byte {
	switch t.Location() {
	case time.UTC:
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.9999999")
		return append(dst, 'Z')
	case UnspecifiedZone:
		return t.AppendFormat(dst, "2006-01-02T15:04:05.9999999")
	}
	return t.AppendFormat(dst, "2006-01-02T15:04:05.9999999-07:00")
}

func parseDateTime(s string) (time.Time, error) {
	if strings.HasSuffix(s, "Z") {
		t, err := time.ParseInLocation("2006-01-02T15:04:05.9999999Z", s, time.UTC)
		return t.UTC(), err
	}
	if len(s) > 6 && (s[len(s)-6] == '+' || s[len(s)-6] == '-') && s[len(s)-3] == ':' {
		t, err := time.Parse("2006-01-02T15:04:05.9999999-07:00", s)
		if err != nil {
			return t, err
		}
		_, off := t.Zone()
		return t.In(time.FixedZone("", off)), nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.9999999", s, UnspecifiedZone)
}

// appendDuration writes d as an xs:duration the way .NET's XmlConvert
// writes a TimeSpan: "PT1H2M3.5S", "-P1DT2H", "PT0S".
func appendDuration(dst []byte, d time.Duration) []byte {
	if d < 0 {
		dst = append(dst, '-')
	}
	u := uint64(d)
	if d < 0 {
		u = uint64(-(d + 1)) + 1
	}
	const (
		sec  = uint64(time.Second)
		min_ = 60 * sec
		hour = 60 * min_
		day  = 24 * hour
	)
	days, u := u/day, u%day
	h, u := u/hour, u%hour
	m, u := u/min_, u%min_
	s, frac := u/sec, u%sec
	dst = append(dst, 'P')
	if days > 0 {
		dst = strconv.AppendUint(dst, days, 10)
		dst = append(dst, 'D')
	}
	if h == 0 && m == 0 && s == 0 && frac == 0 {
		if days == 0 {
			dst = append(dst, "T0S"...)
		}
		return dst
	}
	dst = append(dst, 'T')
	if h > 0 {
		dst = strconv.AppendUint(dst, h, 10)
		dst = append(dst, 'H')
	}
	if m > 0 {
		dst = strconv.AppendUint(dst, m, 10)
		dst = append(dst, 'M')
	}
	if s > 0 || frac > 0 {
		dst = strconv.AppendUint(dst, s, 10)
		if frac > 0 {
			f := strconv.AppendUint(nil, frac+sec, 10)[1:] // 9 digits, leading zeros kept
			dst = append(dst, '.')
			dst = append(dst, strings.TrimRight(string(f), "0")...)
		}
		dst = append(dst, 'S')
	}
	return dst
}

// parseDuration reads an xs:duration with days, hours, minutes and
// seconds (a TimeSpan has no years or months).
func parseDuration(s string) (time.Duration, error) {
	orig := s
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("TimeSpan %q: %s", orig, why)
	}
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if !strings.HasPrefix(s, "P") {
		return bad("want an xs:duration starting with P")
	}
	s = s[1:]
	var total float64
	var exact int64
	inTime, any := false, false
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return bad("two T separators")
			}
			inTime, s = true, s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return bad("want a number followed by D, H, M or S")
		}
		num, unit := s[:i], s[i]
		s = s[i+1:]
		var mul time.Duration
		switch {
		case !inTime && unit == 'D':
			mul = 24 * time.Hour
		case inTime && unit == 'H':
			mul = time.Hour
		case inTime && unit == 'M':
			mul = time.Minute
		case inTime && unit == 'S':
			mul = time.Second
		case !inTime && (unit == 'Y' || unit == 'M'):
			return bad("years and months are not a fixed length of time")
		default:
			return bad(fmt.Sprintf("unexpected unit %q", unit))
		}
		if strings.Contains(num, ".") && unit != 'S' {
			return bad("only seconds may have a fraction")
		}
		if unit == 'S' {
			whole, frac, _ := strings.Cut(num, ".")
			w, err := strconv.ParseInt(whole, 10, 64)
			if err != nil {
				return bad("seconds out of range")
			}
			total += float64(w) * float64(time.Second)
			exact += w * int64(time.Second)
			if frac != "" {
				if len(frac) > 9 {
					frac = frac[:9]
				}
				f, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
				if err != nil {
					return bad("bad fraction of a second")
				}
				exact += f
				total += float64(f)
			}
		} else {
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil {
				return bad("number out of range")
			}
			total += float64(n) * float64(mul)
			exact += n * int64(mul)
		}
		if total > float64(1<<63-1) {
			return bad("longer than a time.Duration can hold")
		}
		any = true
	}
	if !any {
		return bad("no components")
	}
	if neg {
		exact = -exact
	}
	return time.Duration(exact), nil
}
