package exchange

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonScanner is a minimal JSON reader over a string, for the one output
// large enough to need it (GetCASMailboxes). Strings without escapes are
// returned as substrings of the input, without copying.
type jsonScanner struct {
	s string
	i int
}

var errTruncated = errors.New("truncated JSON")

func (sc *jsonScanner) errf(format string, args ...any) error {
	if sc.i >= len(sc.s) {
		return errTruncated
	}
	return fmt.Errorf("at offset %d: %s, got %q", sc.i, fmt.Sprintf(format, args...), sc.s[sc.i])
}

func (sc *jsonScanner) ws() {
	for sc.i < len(sc.s) {
		switch sc.s[sc.i] {
		case ' ', '\t', '\r', '\n':
			sc.i++
		default:
			return
		}
	}
}

func (sc *jsonScanner) peek() byte {
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

func (sc *jsonScanner) expect(c byte) error {
	sc.ws()
	if sc.peek() != c {
		return sc.errf("expected %q", c)
	}
	sc.i++
	return nil
}

// more reports whether another member/element follows in an object or
// array whose opening bracket was read; it consumes the separating comma
// or the closing bracket.
func (sc *jsonScanner) more(closer byte, first bool) (bool, error) {
	sc.ws()
	switch c := sc.peek(); {
	case c == closer:
		sc.i++
		return false, nil
	case first:
		return true, nil
	case c == ',':
		sc.i++
		return true, nil
	}
	return false, sc.errf("expected ',' or %q", closer)
}

// key reads a member name and its colon.
func (sc *jsonScanner) key() (string, error) {
	k, err := sc.str("name")
	if err != nil {
		return "", err
	}
	return k, sc.expect(':')
}

// str reads a string value.
func (sc *jsonScanner) str(what string) (string, error) {
	sc.ws()
	if sc.peek() != '"' {
		if sc.i >= len(sc.s) {
			return "", errTruncated
		}
		return "", sc.errf("property %s: expected a string", what)
	}
	sc.i++
	start := sc.i
	for sc.i < len(sc.s) {
		switch c := sc.s[sc.i]; {
		case c == '"':
			v := sc.s[start:sc.i]
			sc.i++
			return v, nil
		case c == '\\':
			return sc.strEscaped(start)
		case c < 0x20:
			return "", sc.errf("property %s: control character in string", what)
		default:
			sc.i++
		}
	}
	return "", errTruncated
}

// strEscaped finishes a string that has escapes, from its start.
func (sc *jsonScanner) strEscaped(start int) (string, error) {
	var b strings.Builder
	b.WriteString(sc.s[start:sc.i])
	for sc.i < len(sc.s) {
		c := sc.s[sc.i]
		switch {
		case c == '"':
			sc.i++
			return b.String(), nil
		case c < 0x20:
			return "", sc.errf("control character in string")
		case c != '\\':
			b.WriteByte(c)
			sc.i++
			continue
		}
		if sc.i+1 >= len(sc.s) {
			return "", errTruncated
		}
		e := sc.s[sc.i+1]
		sc.i += 2
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, err := sc.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if strings.HasPrefix(sc.s[sc.i:], `\u`) {
					save := sc.i
					sc.i += 2
					if r2, err = sc.hex4(); err != nil {
						return "", err
					}
					if utf16.DecodeRune(r, r2) == utf8.RuneError {
						sc.i = save
						r2 = -1
					}
				}
				if r2 >= 0 {
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
		default:
			sc.i--
			return "", sc.errf("bad escape")
		}
	}
	return "", errTruncated
}

func (sc *jsonScanner) hex4() (rune, error) {
	if sc.i+4 > len(sc.s) {
		return 0, errTruncated
	}
	v, err := strconv.ParseUint(sc.s[sc.i:sc.i+4], 16, 16)
	if err != nil {
		return 0, sc.errf("bad \\u escape")
	}
	sc.i += 4
	return rune(v), nil
}

func (sc *jsonScanner) word(w string) error {
	if strings.HasPrefix(sc.s[sc.i:], w) {
		sc.i += len(w)
		return nil
	}
	if strings.HasPrefix(w, sc.s[sc.i:]) {
		return errTruncated
	}
	return sc.errf("expected %s", w)
}

func (sc *jsonScanner) null() error {
	sc.ws()
	return sc.word("null")
}

// boolean reads true, false or null.
func (sc *jsonScanner) boolean() (v, isNull bool, err error) {
	sc.ws()
	switch sc.peek() {
	case 't':
		return true, false, sc.word("true")
	case 'f':
		return false, false, sc.word("false")
	case 'n':
		return false, true, sc.word("null")
	}
	return false, false, sc.errf("expected true, false or null")
}

// skipValue discards one value of any kind.
func (sc *jsonScanner) skipValue() error {
	sc.ws()
	switch c := sc.peek(); {
	case c == '"':
		_, err := sc.str("value")
		return err
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		sc.i++
		for first := true; ; first = false {
			more, err := sc.more(closer, first)
			if err != nil || !more {
				return err
			}
			if c == '{' {
				if _, err := sc.key(); err != nil {
					return err
				}
			}
			if err := sc.skipValue(); err != nil {
				return err
			}
		}
	case c == 't':
		return sc.word("true")
	case c == 'f':
		return sc.word("false")
	case c == 'n':
		return sc.word("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := sc.i
		for sc.i < len(sc.s) && strings.IndexByte("+-.eE0123456789", sc.s[sc.i]) >= 0 {
			sc.i++
		}
		if _, err := strconv.ParseFloat(sc.s[start:sc.i], 64); err != nil {
			return fmt.Errorf("at offset %d: bad number %q", start, sc.s[start:sc.i])
		}
		return nil
	}
	return sc.errf("expected a value")
}
