package psrp

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// unentity resolves XML character and entity references.
func unentity(b []byte) (string, error) {
	var out []byte
	for i := 0; i < len(b); {
		if b[i] != '&' {
			out = append(out, b[i])
			i++
			continue
		}
		end := bytes.IndexByte(b[i:], ';')
		if end < 0 || end > 12 {
			return "", fmt.Errorf("unterminated entity reference at %q", clip(b[i:]))
		}
		ent := b[i+1 : i+end]
		i += end + 1
		switch string(ent) {
		case "lt":
			out = append(out, '<')
		case "gt":
			out = append(out, '>')
		case "amp":
			out = append(out, '&')
		case "quot":
			out = append(out, '"')
		case "apos":
			out = append(out, '\'')
		default:
			if len(ent) < 2 || ent[0] != '#' {
				return "", fmt.Errorf("unknown entity &%s;", ent)
			}
			var n uint64
			var err error
			if ent[1] == 'x' || ent[1] == 'X' {
				n, err = strconv.ParseUint(string(ent[2:]), 16, 32)
			} else {
				n, err = strconv.ParseUint(string(ent[1:]), 10, 32)
			}
			if err != nil || n > utf8.MaxRune {
				return "", fmt.Errorf("bad character reference &%s;", ent)
			}
			out = utf8.AppendRune(out, rune(n))
		}
	}
	return string(out), nil
}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokText
)

type token struct {
	kind      tokKind
	name      []byte // local name
	selfClose bool
	hasN      bool
	n         []byte // raw N attribute
	hasRef    bool
	ref       []byte // raw RefId attribute
	text      []byte
}

// scanner is a small XML tokenizer for CLIXML: elements, attributes,
// text, entity references, comments, CDATA and processing instructions. It
// does not validate namespaces and has no DTD support.
type scanner struct {
	data []byte
	pos  int
	buf  []byte
}

// next reads the next token into t.
func (s *scanner) next(t *token) error {
	if s.pos == 0 && bytes.HasPrefix(s.data, utf8BOM) {
		s.pos = 3
	}
	for {
		if s.pos >= len(s.data) {
			*t = token{kind: tokEOF}
			return nil
		}
		if s.data[s.pos] != '<' {
			end := bytes.IndexByte(s.data[s.pos:], '<')
			if end < 0 {
				end = len(s.data) - s.pos
			}
			*t = token{kind: tokText, text: s.data[s.pos : s.pos+end]}
			s.pos += end
			return nil
		}
		rest := s.data[s.pos:]
		if len(rest) > 1 {
			switch rest[1] {
			case '/':
				i := bytes.IndexByte(rest, '>')
				if i < 0 {
					return fmt.Errorf("unterminated end tag")
				}
				name := rest[2:i]
				if len(name) > 0 && isSpaceByte(name[len(name)-1]) {
					name = bytes.TrimRight(name, " \t\r\n")
				}
				name = localName(name)
				if len(name) == 0 {
					return fmt.Errorf("end tag without a name")
				}
				s.pos += i + 1
				t.kind, t.name, t.selfClose, t.hasN, t.hasRef = tokEnd, name, false, false, false
				return nil
			case '?':
				end := bytes.Index(rest, []byte("?>"))
				if end < 0 {
					return fmt.Errorf("unterminated processing instruction")
				}
				s.pos += end + 2
				continue
			case '!':
				if bytes.HasPrefix(rest, []byte("<!--")) {
					end := bytes.Index(rest[4:], []byte("-->"))
					if end < 0 {
						return fmt.Errorf("unterminated comment")
					}
					s.pos += 4 + end + 3
					continue
				}
				return fmt.Errorf("unexpected %q", clip(rest))
			}
		}
		return s.startTag(t)
	}
}

// startTag reads the start tag at s.pos into t.
func (s *scanner) startTag(t *token) error {
	rest := s.data[s.pos:]
	i := 1
	for i < len(rest) && !isNameEnd(rest[i]) {
		i++
	}
	if i == 1 {
		return fmt.Errorf("element without a name")
	}
	t.kind, t.name, t.selfClose, t.hasN, t.hasRef = tokStart, localName(rest[1:i]), false, false, false
	t.n, t.ref = nil, nil
	for {
		for i < len(rest) && isSpaceByte(rest[i]) {
			i++
		}
		if i >= len(rest) {
			return fmt.Errorf("unterminated <%s> tag", t.name)
		}
		if rest[i] == '>' {
			s.pos += i + 1
			return nil
		}
		if rest[i] == '/' {
			if i+1 >= len(rest) || rest[i+1] != '>' {
				return fmt.Errorf("bad '/' in <%s> tag", t.name)
			}
			t.selfClose = true
			s.pos += i + 2
			return nil
		}
		a := i
		for i < len(rest) && nameEnd[rest[i]]&2 == 0 {
			i++
		}
		attr := localName(rest[a:i])
		for i < len(rest) && isSpaceByte(rest[i]) {
			i++
		}
		if len(attr) == 0 || i >= len(rest) || rest[i] != '=' {
			return fmt.Errorf("bad attribute in <%s> tag", t.name)
		}
		i++
		for i < len(rest) && isSpaceByte(rest[i]) {
			i++
		}
		if i >= len(rest) || (rest[i] != '"' && rest[i] != '\'') {
			return fmt.Errorf("attribute %s of <%s> is not quoted", attr, t.name)
		}
		q := rest[i]
		end := bytes.IndexByte(rest[i+1:], q)
		if end < 0 {
			return fmt.Errorf("unterminated attribute %s of <%s>", attr, t.name)
		}
		val := rest[i+1 : i+1+end]
		if bytes.IndexByte(val, '<') >= 0 {
			return fmt.Errorf("'<' in attribute %s of <%s>", attr, t.name)
		}
		i += end + 2
		switch string(attr) {
		case "N":
			t.hasN, t.n = true, val
		case "RefId":
			t.hasRef, t.ref = true, val
		}
	}
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n'
}

func isNameEnd(c byte) bool { return nameEnd[c]&1 != 0 }

// nameEnd marks the bytes that end an element name (bit 0) and an
// attribute name, which '=' also ends (bit 1).
var nameEnd = func() (t [256]uint8) {
	for _, c := range []byte(" \t\r\n>/") {
		t[c] = 3
	}
	t['='] = 2
	return t
}()

func localName(b []byte) []byte {
	if i := bytes.LastIndexByte(b, ':'); i >= 0 {
		return b[i+1:]
	}
	return b
}

// textUntilEnd returns the content of an element up to its end tag
// </name>, which it consumes. escaped says whether it holds entity
// references. CDATA sections and comments are allowed; child elements
// are not.
func (s *scanner) textUntilEnd(name []byte) ([]byte, bool, error) {
	start := s.pos
	end := bytes.IndexByte(s.data[s.pos:], '<')
	if end < 0 {
		return nil, false, fmt.Errorf("no end tag")
	}
	// Fast path: plain text then the end tag.
	seg := s.data[start : start+end]
	if t := s.data[start+end:]; len(t) > 1 && t[1] == '/' {
		if err := s.endTag(start+end, name); err != nil {
			return nil, false, err
		}
		return seg, bytes.IndexByte(seg, '&') >= 0, nil
	}
	// Slow path: comments and CDATA sections mixed in.
	s.buf = s.buf[:0]
	pos := start
	escaped := false
	for {
		end := bytes.IndexByte(s.data[pos:], '<')
		if end < 0 {
			return nil, false, fmt.Errorf("no end tag")
		}
		text := s.data[pos : pos+end]
		if bytes.IndexByte(text, '&') >= 0 {
			escaped = true
		}
		s.buf = append(s.buf, text...)
		pos += end
		rest := s.data[pos:]
		switch {
		case bytes.HasPrefix(rest, []byte("</")):
			if err := s.endTag(pos, name); err != nil {
				return nil, false, err
			}
			return s.buf, escaped, nil
		case bytes.HasPrefix(rest, []byte("<!--")):
			e := bytes.Index(rest[4:], []byte("-->"))
			if e < 0 {
				return nil, false, fmt.Errorf("unterminated comment")
			}
			pos += 4 + e + 3
		case bytes.HasPrefix(rest, []byte("<![CDATA[")):
			e := bytes.Index(rest[9:], []byte("]]>"))
			if e < 0 {
				return nil, false, fmt.Errorf("unterminated CDATA section")
			}
			cdata := rest[9 : 9+e]
			if escaped || bytes.IndexByte(cdata, '&') >= 0 {
				// Keep the CDATA's '&' literal by escaping it for unentity.
				escaped = true
				cdata = bytes.ReplaceAll(cdata, []byte("&"), []byte("&amp;"))
			}
			s.buf = append(s.buf, cdata...)
			pos += 9 + e + 3
		default:
			return nil, false, fmt.Errorf("unexpected child element in a value that holds text")
		}
	}
}

func (s *scanner) endTag(at int, name []byte) error {
	rest := s.data[at:]
	if n := len(name); len(rest) > n+2 && rest[n+2] == '>' && string(rest[2:n+2]) == string(name) {
		s.pos = at + n + 3
		return nil
	}
	i := bytes.IndexByte(rest, '>')
	if i < 0 {
		return fmt.Errorf("unterminated end tag")
	}
	got := localName(bytes.TrimRight(rest[2:i], " \t\r\n"))
	if !bytes.Equal(got, name) {
		return fmt.Errorf("</%s> closes <%s>", got, name)
	}
	s.pos = at + i + 1
	return nil
}
