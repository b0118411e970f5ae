package psrp

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Default decoder limits.
const (
	DefaultMaxDepth    = 64
	DefaultMaxElements = 4 << 20
)

// maxInterned bounds the decoder's cache of property and type names, so a
// stream of distinct names cannot grow it without end.
const maxInterned = 8192

// Decoder reads CLIXML: one wire value (the data of a PSRP message) or an
// Export-Clixml document (<Objs> root). It matches elements by local name
// (namespace prefixes and xmlns are ignored), skips the XML declaration,
// comments, a BOM and whitespace between elements, and resolves <Ref> and
// <TNRef>: a <Ref> returns the very *Object its RefId named. Decoded
// objects may share one TypeNames slice; do not modify it in place.
//
// A Decoder may be reused (it keeps a cache of names) but not shared
// between goroutines.
type Decoder struct {
	// MaxDepth bounds the nesting of elements (DefaultMaxDepth when 0);
	// MaxElements the elements of one Decode (DefaultMaxElements when 0).
	MaxDepth    int
	MaxElements int
	// Key decrypts <SS> values into *SecureString. Without it an <SS> is
	// ErrNoSessionKey.
	Key *SessionKey

	s        scanner
	depth    int
	elements int
	objs     map[int]*Object
	tns      map[int][]string
	names    map[string]string
	chains   map[string][]string
	scratch  []byte
	values   []Value
	props    []Property
	items    []Value
}

// UnmarshalCLIXML decodes one value with a fresh Decoder.
func UnmarshalCLIXML(data []byte, key *SessionKey) (Value, error) {
	d := Decoder{Key: key}
	return d.Decode(data)
}

// Decode decodes the one value in data. An <Objs> document must hold
// exactly one object.
func (d *Decoder) Decode(data []byte) (Value, error) {
	vs, err := d.decode(data)
	if err != nil {
		return nil, err
	}
	if len(vs) != 1 {
		return nil, fmt.Errorf("psrp: CLIXML holds %d values, want exactly 1", len(vs))
	}
	v := vs[0]
	vs[0] = nil
	return v, nil
}

// DecodeAll decodes every value in data: the children of an <Objs> root,
// or the top-level elements one after another.
func (d *Decoder) DecodeAll(data []byte) ([]Value, error) {
	vs, err := d.decode(data)
	if err != nil {
		return nil, err
	}
	out := make([]Value, len(vs))
	copy(out, vs)
	clear(vs)
	return out, nil
}

// decode decodes data into d.values, which the caller copies out.
func (d *Decoder) decode(data []byte) ([]Value, error) {
	d.s = scanner{data: data, buf: d.s.buf}
	d.depth, d.elements = 0, 0
	clear(d.objs)
	clear(d.tns)
	d.props, d.items = d.props[:0], d.items[:0]
	out := d.values[:0]
	defer func() { d.values = out[:0] }()
	inObjs := false
	for {
		t, err := d.next()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokEOF:
			if inObjs {
				return nil, d.errorf("the document ends inside <Objs>")
			}
			if len(out) == 0 {
				return nil, d.errorf("no CLIXML value in %d bytes", len(data))
			}
			return out, nil
		case tokEnd:
			if !inObjs || string(t.name) != "Objs" {
				return nil, d.errorf("unexpected </%s>", t.name)
			}
			inObjs = false
		case tokStart:
			if string(t.name) == "Objs" && !inObjs && len(out) == 0 {
				if t.selfClose {
					return []Value{}, nil
				}
				inObjs = true
				continue
			}
			v, err := d.value(t)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
	}
}

func (d *Decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("psrp: CLIXML at byte %d: %s", d.s.pos, fmt.Sprintf(format, args...))
}

// next returns the next start or end tag (or EOF), skipping whitespace; any
// other text is an error.
func (d *Decoder) next() (token, error) {
	for {
		t, err := d.s.next()
		if err != nil {
			return t, d.errorf("%v", err)
		}
		if t.kind == tokText {
			if !isSpace(t.text) {
				return t, d.errorf("unexpected text %q between elements", clip(t.text))
			}
			continue
		}
		if t.kind == tokStart {
			d.elements++
			if d.elements > d.maxElements() {
				return t, d.errorf("more than %d elements", d.maxElements())
			}
		}
		return t, nil
	}
}

func (d *Decoder) maxElements() int {
	if d.MaxElements > 0 {
		return d.MaxElements
	}
	return DefaultMaxElements
}

func (d *Decoder) maxDepth() int {
	if d.MaxDepth > 0 {
		return d.MaxDepth
	}
	return DefaultMaxDepth
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "…"
	}
	return string(b)
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// intern returns b as a string, shared with earlier equal names.
func (d *Decoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.names == nil {
		d.names = make(map[string]string)
	}
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s
}

// name decodes an N attribute.
func (d *Decoder) name(t token) (string, error) {
	if !t.hasN {
		return "", nil
	}
	raw := t.n
	if bytes.IndexByte(raw, '&') < 0 && bytes.Index(raw, []byte("_x")) < 0 {
		return d.intern(raw), nil
	}
	s, err := unentity(raw)
	if err != nil {
		return "", d.errorf("N attribute: %v", err)
	}
	return d.intern([]byte(unescapeCLIXML(s))), nil
}

// text reads the character content of the element t opened, up to its end
// tag, entities resolved (the _x escapes are left to the caller).
func (d *Decoder) text(t token) ([]byte, bool, error) {
	if t.selfClose {
		return nil, false, nil
	}
	raw, escaped, err := d.s.textUntilEnd(t.name)
	if err != nil {
		return nil, false, d.errorf("in <%s>: %v", t.name, err)
	}
	return raw, escaped, nil
}

// str reads an element's content as a string, CLIXML escapes resolved.
func (d *Decoder) str(t token) (string, error) {
	raw, escaped, err := d.text(t)
	if err != nil {
		return "", err
	}
	if escaped {
		s, err := unentity(raw)
		if err != nil {
			return "", d.errorf("in <%s>: %v", t.name, err)
		}
		return unescapeCLIXML(s), nil
	}
	if bytes.Index(raw, []byte("_x")) >= 0 {
		return unescapeCLIXML(string(raw)), nil
	}
	return string(raw), nil
}

// plain reads an element's content for a number or other scalar (no
// _x escapes); the returned slice is only valid until the next read.
func (d *Decoder) plain(t token) ([]byte, error) {
	raw, escaped, err := d.text(t)
	if err != nil {
		return nil, err
	}
	if escaped {
		s, err := unentity(raw)
		if err != nil {
			return nil, d.errorf("in <%s>: %v", t.name, err)
		}
		raw = []byte(s)
	}
	return bytes.TrimSpace(raw), nil
}

func (d *Decoder) refID(t token) (int, error) {
	if !t.hasRef {
		return 0, d.errorf("<%s> without a RefId", t.name)
	}
	n, err := strconv.Atoi(string(t.ref))
	if err != nil || n < 0 {
		return 0, d.errorf("<%s> RefId %q is not a number", t.name, t.ref)
	}
	return n, nil
}

// value decodes the element t opened.
func (d *Decoder) value(t token) (Value, error) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > d.maxDepth() {
		return nil, d.errorf("elements nested deeper than %d", d.maxDepth())
	}
	tag := string(t.name) // no allocation in the switch below
	switch tag {
	case "Nil":
		if _, _, err := d.text(t); err != nil {
			return nil, err
		}
		return nil, nil
	case "S":
		return d.str(t)
	case "Obj":
		return d.object(t)
	case "Ref":
		id, err := d.refID(t)
		if err != nil {
			return nil, err
		}
		if _, _, err := d.text(t); err != nil {
			return nil, err
		}
		o, ok := d.objs[id]
		if !ok {
			return nil, d.errorf("<Ref RefId=%q> names no object seen before", t.ref)
		}
		return o, nil
	case "B":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "true", "True", "1":
			return true, nil
		case "false", "False", "0":
			return false, nil
		}
		return nil, d.errorf("<B> holds %q, want true or false", clip(b))
	case "G":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		u, err := uuid.ParseBytes(b)
		if err != nil {
			return nil, d.errorf("<G> holds %q: %v", clip(b), err)
		}
		return u, nil
	case "SB", "By", "I16", "U16", "I32", "U32", "I64", "U64", "C":
		return d.integer(t, tag)
	case "Sg", "Db":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		bits := 64
		if tag == "Sg" {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(b), bits)
		if err != nil {
			return nil, d.errorf("<%s> holds %q, want a number", tag, clip(b))
		}
		if bits == 32 {
			return float32(f), nil
		}
		return f, nil
	case "D":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		if _, err := strconv.ParseFloat(string(b), 64); err != nil {
			return nil, d.errorf("<D> holds %q, want a decimal number", clip(b))
		}
		return Decimal(b), nil
	case "DT":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		tm, err := parseDateTime(string(b))
		if err != nil {
			return nil, d.errorf("<DT> holds %q, want an xs:dateTime", clip(b))
		}
		return tm, nil
	case "TS":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		du, err := parseDuration(string(b))
		if err != nil {
			return nil, d.errorf("<TS>: %v", err)
		}
		return du, nil
	case "BA", "SS":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		raw := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
		n, err := base64.StdEncoding.Decode(raw, b)
		if err != nil {
			return nil, d.errorf("<%s> is not base64: %v", tag, err)
		}
		raw = raw[:n]
		if tag == "BA" {
			return raw, nil
		}
		plain, err := d.Key.Decrypt(raw)
		if err != nil {
			return nil, fmt.Errorf("psrp: <SS>: %w", err)
		}
		return NewSecureString(plain), nil
	case "Version":
		s, err := d.str(t)
		return Version(s), err
	case "URI":
		s, err := d.str(t)
		return URI(s), err
	case "XD":
		s, err := d.str(t)
		return XMLDocument(s), err
	case "SBK":
		s, err := d.str(t)
		return ScriptBlock(s), err
	}
	return nil, d.errorf("unknown CLIXML element <%s>", tag)
}

func (d *Decoder) integer(t token, tag string) (Value, error) {
	b, err := d.plain(t)
	if err != nil {
		return nil, err
	}
	bad := func() (Value, error) {
		return nil, d.errorf("<%s> holds %q, not a number of that size", tag, clip(b))
	}
	switch tag {
	case "SB", "I16", "I32", "I64":
		bits := 64
		switch tag {
		case "SB":
			bits = 8
		case "I16":
			bits = 16
		case "I32":
			bits = 32
		}
		n, err := atoi(b, bits)
		if err != nil {
			return bad()
		}
		switch bits {
		case 8:
			return int8(n), nil
		case 16:
			return int16(n), nil
		case 32:
			return int32(n), nil
		}
		return n, nil
	}
	bits := 64
	switch tag {
	case "By":
		bits = 8
	case "U16", "C":
		bits = 16
	case "U32":
		bits = 32
	}
	n, err := strconv.ParseUint(string(b), 10, bits)
	if err != nil {
		return bad()
	}
	switch tag {
	case "By":
		return uint8(n), nil
	case "U16":
		return uint16(n), nil
	case "C":
		return Char(n), nil
	case "U32":
		return uint32(n), nil
	}
	return n, nil
}

// atoi parses a decimal integer without allocating.
func atoi(b []byte, bits int) (int64, error) {
	if len(b) > 0 && len(b) < 19 {
		neg := false
		i := 0
		if b[0] == '-' || b[0] == '+' {
			neg, i = b[0] == '-', 1
		}
		if i < len(b) {
			var n int64
			ok := true
			for ; i < len(b); i++ {
				c := b[i]
				if c < '0' || c > '9' {
					ok = false
					break
				}
				n = n*10 + int64(c-'0')
			}
			if ok {
				if neg {
					n = -n
				}
				lim := int64(1) << (bits - 1)
				if bits < 64 && (n < -lim || n >= lim) {
					return 0, strconv.ErrRange
				}
				return n, nil
			}
		}
	}
	return strconv.ParseInt(string(b), 10, bits)
}

func (d *Decoder) object(t token) (Value, error) {
	o := &Object{}
	if t.hasRef {
		id, err := d.refID(t)
		if err != nil {
			return nil, err
		}
		if _, dup := d.objs[id]; dup {
			return nil, d.errorf("two objects with RefId %d", id)
		}
		if d.objs == nil {
			d.objs = make(map[int]*Object)
		}
		d.objs[id] = o // before the children: an object may refer to itself
	}
	if t.selfClose {
		return o, nil
	}
	for {
		c, err := d.next()
		if err != nil {
			return nil, err
		}
		if c.kind == tokEOF {
			return nil, d.errorf("the document ends inside <Obj>")
		}
		if c.kind == tokEnd {
			if string(c.name) != "Obj" {
				return nil, d.errorf("</%s> closes <Obj>", c.name)
			}
			return o, nil
		}
		switch string(c.name) {
		case "TN":
			names, err := d.typeNames(c)
			if err != nil {
				return nil, err
			}
			o.TypeNames = names
		case "TNRef":
			id, err := d.refID(c)
			if err != nil {
				return nil, err
			}
			if _, _, err := d.text(c); err != nil {
				return nil, err
			}
			names, ok := d.tns[id]
			if !ok {
				return nil, d.errorf("<TNRef RefId=%q> names no type list seen before", c.ref)
			}
			o.TypeNames = names
		case "ToString":
			s, err := d.str(c)
			if err != nil {
				return nil, err
			}
			o.ToString = s
		case "Props", "MS":
			props, err := d.properties(c)
			if err != nil {
				return nil, err
			}
			if string(c.name) == "Props" {
				o.Adapted = appendProps(o.Adapted, props)
			} else {
				o.Extended = appendProps(o.Extended, props)
			}
		case "LST", "IE", "STK", "QUE":
			kind := ListContainer
			switch string(c.name) {
			case "IE":
				kind = EnumContainer
			case "STK":
				kind = StackContainer
			case "QUE":
				kind = QueueContainer
			}
			items, err := d.list(c)
			if err != nil {
				return nil, err
			}
			o.Kind, o.Items = kind, items
		case "DCT":
			entries, err := d.dict(c)
			if err != nil {
				return nil, err
			}
			o.Kind, o.Entries = DictContainer, entries
		default:
			v, err := d.value(c)
			if err != nil {
				return nil, err
			}
			o.Primitive = v
		}
	}
}

func appendProps(have, more []Property) []Property {
	if have == nil {
		return more
	}
	return append(have, more...)
}

func (d *Decoder) typeNames(t token) ([]string, error) {
	id := -1 // a <TN> without a RefId cannot be referred to, but is valid
	if t.hasRef {
		var err error
		if id, err = d.refID(t); err != nil {
			return nil, err
		}
	}
	// The names go into scratch, each ended by a NUL, and a chain seen
	// before is shared instead of allocated again.
	d.scratch = d.scratch[:0]
	count := 0
	if !t.selfClose {
		for {
			c, err := d.next()
			if err != nil {
				return nil, err
			}
			if c.kind == tokEnd {
				if string(c.name) != "TN" {
					return nil, d.errorf("</%s> closes <TN>", c.name)
				}
				break
			}
			if c.kind != tokStart || string(c.name) != "T" {
				return nil, d.errorf("<TN> holds <%s>, want <T>", c.name)
			}
			raw, escaped, err := d.text(c)
			if err != nil {
				return nil, err
			}
			if escaped || bytes.Contains(raw, []byte("_x")) || bytes.IndexByte(raw, 0) >= 0 {
				u, err := unentity(raw)
				if err != nil {
					return nil, d.errorf("in <T>: %v", err)
				}
				raw = []byte(strings.ReplaceAll(unescapeCLIXML(u), "\x00", ""))
			}
			d.scratch = append(d.scratch, raw...)
			d.scratch = append(d.scratch, 0)
			count++
		}
	}
	names, ok := d.chains[string(d.scratch)]
	if !ok {
		names = make([]string, 0, count)
		for rest := d.scratch; len(rest) > 0; {
			i := bytes.IndexByte(rest, 0)
			names = append(names, d.intern(rest[:i]))
			rest = rest[i+1:]
		}
		if d.chains == nil {
			d.chains = make(map[string][]string)
		}
		if len(d.chains) < maxInterned {
			d.chains[string(d.scratch)] = names
		}
	}
	if id < 0 {
		return names, nil
	}
	if d.tns == nil {
		d.tns = make(map[int][]string)
	}
	if _, dup := d.tns[id]; dup {
		return nil, d.errorf("two type lists with RefId %d", id)
	}
	d.tns[id] = names
	return names, nil
}

// properties reads the named values of <Props> or <MS>.
func (d *Decoder) properties(t token) ([]Property, error) {
	if t.selfClose {
		return nil, nil
	}
	start := len(d.props)
	defer func() { d.props = d.props[:start] }()
	for {
		c, err := d.next()
		if err != nil {
			return nil, err
		}
		if c.kind == tokEOF {
			return nil, d.errorf("the document ends inside <%s>", t.name)
		}
		if c.kind == tokEnd {
			if !bytes.Equal(c.name, t.name) {
				return nil, d.errorf("</%s> closes <%s>", c.name, t.name)
			}
			break
		}
		name, err := d.name(c)
		if err != nil {
			return nil, err
		}
		v, err := d.value(c)
		if err != nil {
			return nil, err
		}
		d.props = append(d.props, Property{Name: name, Value: v})
	}
	out := make([]Property, len(d.props)-start)
	copy(out, d.props[start:])
	return out, nil
}

func (d *Decoder) list(t token) ([]Value, error) {
	if t.selfClose {
		return []Value{}, nil
	}
	start := len(d.items)
	defer func() { d.items = d.items[:start] }()
	for {
		c, err := d.next()
		if err != nil {
			return nil, err
		}
		if c.kind == tokEOF {
			return nil, d.errorf("the document ends inside <%s>", t.name)
		}
		if c.kind == tokEnd {
			if !bytes.Equal(c.name, t.name) {
				return nil, d.errorf("</%s> closes <%s>", c.name, t.name)
			}
			break
		}
		v, err := d.value(c)
		if err != nil {
			return nil, err
		}
		d.items = append(d.items, v)
	}
	out := make([]Value, len(d.items)-start)
	copy(out, d.items[start:])
	return out, nil
}

func (d *Decoder) dict(t token) ([]Entry, error) {
	out := []Entry{}
	if t.selfClose {
		return out, nil
	}
	for {
		c, err := d.next()
		if err != nil {
			return nil, err
		}
		if c.kind == tokEOF {
			return nil, d.errorf("the document ends inside <DCT>")
		}
		if c.kind == tokEnd {
			if string(c.name) != "DCT" {
				return nil, d.errorf("</%s> closes <DCT>", c.name)
			}
			return out, nil
		}
		if string(c.name) != "En" || c.selfClose {
			return nil, d.errorf("<DCT> holds <%s>, want <En> with a Key and a Value", c.name)
		}
		var en Entry
		var haveKey, haveValue bool
		for {
			k, err := d.next()
			if err != nil {
				return nil, err
			}
			if k.kind == tokEOF {
				return nil, d.errorf("the document ends inside <En>")
			}
			if k.kind == tokEnd {
				break
			}
			name, err := d.name(k)
			if err != nil {
				return nil, err
			}
			v, err := d.value(k)
			if err != nil {
				return nil, err
			}
			switch name {
			case "Key":
				en.Key, haveKey = v, true
			case "Value":
				en.Value, haveValue = v, true
			default:
				return nil, d.errorf("<En> member N=%q, want Key or Value", name)
			}
		}
		if !haveKey || !haveValue {
			return nil, d.errorf("<En> without a Key and a Value")
		}
		out = append(out, en)
	}
}

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

func (s *scanner) next() (token, error) {
	if s.pos == 0 && bytes.HasPrefix(s.data, utf8BOM) {
		s.pos = 3
	}
	for {
		if s.pos >= len(s.data) {
			return token{kind: tokEOF}, nil
		}
		if s.data[s.pos] != '<' {
			end := bytes.IndexByte(s.data[s.pos:], '<')
			if end < 0 {
				end = len(s.data) - s.pos
			}
			t := token{kind: tokText, text: s.data[s.pos : s.pos+end]}
			s.pos += end
			return t, nil
		}
		rest := s.data[s.pos:]
		switch {
		case bytes.HasPrefix(rest, []byte("<?")):
			end := bytes.Index(rest, []byte("?>"))
			if end < 0 {
				return token{}, fmt.Errorf("unterminated processing instruction")
			}
			s.pos += end + 2
			continue
		case bytes.HasPrefix(rest, []byte("<!--")):
			end := bytes.Index(rest[4:], []byte("-->"))
			if end < 0 {
				return token{}, fmt.Errorf("unterminated comment")
			}
			s.pos += 4 + end + 3
			continue
		case bytes.HasPrefix(rest, []byte("<!")):
			return token{}, fmt.Errorf("unexpected %q", clip(rest))
		case len(rest) > 1 && rest[1] == '/':
			i := 2
			for i < len(rest) && rest[i] != '>' {
				i++
			}
			if i == len(rest) {
				return token{}, fmt.Errorf("unterminated end tag")
			}
			name := localName(bytes.TrimRight(rest[2:i], " \t\r\n"))
			if len(name) == 0 {
				return token{}, fmt.Errorf("end tag without a name")
			}
			s.pos += i + 1
			return token{kind: tokEnd, name: name}, nil
		}
		return s.startTag()
	}
}

func (s *scanner) startTag() (token, error) {
	rest := s.data[s.pos:]
	i := 1
	for i < len(rest) && !isNameEnd(rest[i]) {
		i++
	}
	if i == 1 {
		return token{}, fmt.Errorf("element without a name")
	}
	t := token{kind: tokStart, name: localName(rest[1:i])}
	for {
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t' || rest[i] == '\r' || rest[i] == '\n') {
			i++
		}
		if i >= len(rest) {
			return token{}, fmt.Errorf("unterminated <%s> tag", t.name)
		}
		if rest[i] == '>' {
			s.pos += i + 1
			return t, nil
		}
		if rest[i] == '/' {
			if i+1 >= len(rest) || rest[i+1] != '>' {
				return token{}, fmt.Errorf("bad '/' in <%s> tag", t.name)
			}
			t.selfClose = true
			s.pos += i + 2
			return t, nil
		}
		a := i
		for i < len(rest) && rest[i] != '=' && !isNameEnd(rest[i]) {
			i++
		}
		attr := localName(rest[a:i])
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t' || rest[i] == '\r' || rest[i] == '\n') {
			i++
		}
		if len(attr) == 0 || i >= len(rest) || rest[i] != '=' {
			return token{}, fmt.Errorf("bad attribute in <%s> tag", t.name)
		}
		i++
		for i < len(rest) && (rest[i] == ' ' || rest[i] == '\t' || rest[i] == '\r' || rest[i] == '\n') {
			i++
		}
		if i >= len(rest) || (rest[i] != '"' && rest[i] != '\'') {
			return token{}, fmt.Errorf("attribute %s of <%s> is not quoted", attr, t.name)
		}
		q := rest[i]
		end := bytes.IndexByte(rest[i+1:], q)
		if end < 0 {
			return token{}, fmt.Errorf("unterminated attribute %s of <%s>", attr, t.name)
		}
		val := rest[i+1 : i+1+end]
		if bytes.IndexByte(val, '<') >= 0 {
			return token{}, fmt.Errorf("'<' in attribute %s of <%s>", attr, t.name)
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

func isNameEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/'
}

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
