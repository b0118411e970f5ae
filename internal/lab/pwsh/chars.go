package pwsh

import (
	"unicode/utf16"
	"unicode/utf8"
)

// Char is a System.Char: one UTF-16 code unit (a lone surrogate included),
// the result of a [char] cast.
type Char uint16

// A .NET string is a sequence of UTF-16 code units, which may hold a lone
// surrogate (string indexing, Substring and regex matches can split a
// pair). The interpreter keeps strings as Go strings in WTF-8: UTF-8, with
// a lone surrogate encoded as the three bytes ED A0..BF 80..BF that UTF-8
// forbids. Valid pairs are always stored as the one 4-byte sequence.

// utf16Units returns the UTF-16 code units of s (WTF-8 aware; any other
// invalid byte is U+FFFD).
func utf16Units(s string) []uint16 {
	u := make([]uint16, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			u = append(u, uint16(c))
			i++
			continue
		}
		if sur, ok := wtf8Surrogate(s, i); ok {
			u = append(u, sur)
			i += 3
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			u = append(u, uint16(r1), uint16(r2))
		} else {
			u = append(u, uint16(r))
		}
	}
	return u
}

// wtf8Surrogate decodes a lone surrogate's three WTF-8 bytes at s[i:].
func wtf8Surrogate(s string, i int) (uint16, bool) {
	if i+2 < len(s) && s[i] == 0xED && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2] >= 0x80 && s[i+2] <= 0xBF {
		return 0xD000 | uint16(s[i+1]&0x3F)<<6 | uint16(s[i+2]&0x3F), true
	}
	return 0, false
}

// appendUnit appends one code unit in WTF-8 (a surrogate as its three
// bytes; callers join pairs before).
func appendUnit(b []byte, c uint16) []byte {
	if c >= 0xD800 && c < 0xE000 {
		return append(b, 0xED, 0xA0|byte(c>>6)&0x1F, 0x80|byte(c)&0x3F)
	}
	return utf8.AppendRune(b, rune(c))
}

// utf16ToString turns UTF-16 code units into a string: pairs become one
// character, a lone surrogate stays a lone surrogate (WTF-8).
func utf16ToString(u []uint16) string {
	b := make([]byte, 0, len(u))
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c >= 0xD800 && c < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] < 0xE000 {
			b = utf8.AppendRune(b, utf16.DecodeRune(rune(c), rune(u[i+1])))
			i++
			continue
		}
		b = appendUnit(b, c)
	}
	return string(b)
}

// String is the character as a one-unit string.
func (c Char) String() string { return string(appendUnit(nil, uint16(c))) }

// castChar is PowerShell's [char] conversion.
func (s *session) castChar(v Value, at extent) (Value, error) {
	switch x := Normalize(v).(type) {
	case Char:
		return x, nil
	case nil:
		return Char(0), nil
	case string:
		u := utf16Units(x)
		if len(u) != 1 {
			return nil, s.castError(at, v, "System.Char", "String must be exactly one character long.")
		}
		return Char(u[0]), nil
	case int64, float64:
		n, _ := toInt(x)
		if n < 0 || n > 0xFFFF {
			return nil, s.castError(at, v, "System.Char", "Value was either too large or too small for a character.")
		}
		return Char(n), nil
	}
	return nil, s.castError(at, v, "System.Char", "")
}
