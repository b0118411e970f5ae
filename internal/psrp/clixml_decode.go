package psrp

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

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
// between goroutines. It copies short strings into shared blocks of text
// of at most 2 KiB, so a string kept keeps its block's bytes (and nothing
// else) alive; objects and property lists are allocated one by one, so
// that keeping a few objects of a large output never keeps their
// neighbours.
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
	objs     refTable[*Object]
	tns      refTable[[]string]
	names    map[string]string
	recent   [32]string // the names interned last, by a hash of their bytes
	chains   map[string][]string
	scratch  []byte
	values   []Value
	props    []Property
	items    []Value

	// The content and end tag of the last <TN> read, its element count and
	// its names.
	lastTN         []byte
	lastTNElements int
	lastTNNames    []string

	// The block short strings are copied into, and the size of the next.
	textBlock *strings.Builder
	textNext  int
}

// Strings of up to maxBlockString bytes are copied into blocks of up to
// maxTextBlock: one allocation serves the strings of several messages.
const (
	maxTextBlock   = 2048
	maxBlockString = 256
)

// newString returns b as a string. Short strings are appended to a
// strings.Builder and sliced out of its String: the Builder only ever
// appends, so the bytes behind an earlier string never change.
func (d *Decoder) newString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > maxBlockString {
		return string(b)
	}
	if d.textBlock == nil || d.textBlock.Cap()-d.textBlock.Len() < len(b) {
		d.textNext = min(max(2*d.textNext, 512), maxTextBlock)
		d.textBlock = new(strings.Builder)
		d.textBlock.Grow(d.textNext)
	}
	at := d.textBlock.Len()
	d.textBlock.Write(b)
	return d.textBlock.String()[at:]
}

// maxSmallRef bounds the RefIds a refTable keeps in its slice; larger ones
// (no serializer sends them, they count from 0) go to its map.
const maxSmallRef = 1024

// refTable maps the RefIds of one Decode to what they named: the small ids
// serializers use index a slice, so a message costs no hashing and no map
// clearing; any other id goes to a map.
type refTable[T any] struct {
	small []refSlot[T]
	used  int // small[used:] are all empty
	big   map[int]T
}

type refSlot[T any] struct {
	v  T
	ok bool
}

func (r *refTable[T]) reset() {
	clear(r.small[:r.used])
	r.used = 0
	clear(r.big)
}

func (r *refTable[T]) get(id int) (T, bool) {
	if id < maxSmallRef {
		if id < r.used {
			return r.small[id].v, r.small[id].ok
		}
		var zero T
		return zero, false
	}
	v, ok := r.big[id]
	return v, ok
}

func (r *refTable[T]) put(id int, v T) {
	if id < maxSmallRef {
		if id >= len(r.small) {
			r.small = append(r.small, make([]refSlot[T], id+1-len(r.small))...)
		}
		r.small[id] = refSlot[T]{v, true}
		r.used = max(r.used, id+1)
		return
	}
	if r.big == nil {
		r.big = make(map[int]T)
	}
	r.big[id] = v
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
	d.objs.reset()
	d.tns.reset()
	d.props, d.items = d.props[:0], d.items[:0]
	out := d.values[:0]
	defer func() { d.values = out[:0] }()
	inObjs := false
	var t token
	for {
		if err := d.next(&t); err != nil {
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
			v, err := d.value(&t)
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
func (d *Decoder) next(t *token) error {
	for {
		if err := d.s.next(t); err != nil {
			return d.errorf("%v", err)
		}
		if t.kind == tokText {
			if !isSpace(t.text) {
				return d.errorf("unexpected text %q between elements", clip(t.text))
			}
			continue
		}
		if t.kind == tokStart {
			d.elements++
			if d.elements > d.maxElements() {
				return d.errorf("more than %d elements", d.maxElements())
			}
		}
		return nil
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
	if len(b) == 0 {
		return ""
	}
	slot := (uint(len(b))*31 + uint(b[0])*7 + uint(b[len(b)-1])) % uint(len(d.recent))
	if s := d.recent[slot]; s == string(b) {
		return s
	}
	s, ok := d.names[string(b)]
	if ok {
		d.recent[slot] = s
		return s
	}
	s = string(b)
	d.recent[slot] = s
	if d.names == nil {
		d.names = make(map[string]string)
	}
	if len(d.names) < maxInterned {
		d.names[s] = s
	}
	return s
}

// name decodes an N attribute.
func (d *Decoder) name(t *token) (string, error) {
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
func (d *Decoder) text(t *token) ([]byte, bool, error) {
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
func (d *Decoder) str(t *token) (string, error) {
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
	return d.newString(raw), nil
}

// plain reads an element's content for a number or other scalar (no
// _x escapes); the returned slice is only valid until the next read.
func (d *Decoder) plain(t *token) ([]byte, error) {
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

func (d *Decoder) refID(t *token) (int, error) {
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
func (d *Decoder) value(t *token) (Value, error) {
	d.depth++
	if d.depth > d.maxDepth() {
		return nil, d.errorf("elements nested deeper than %d", d.maxDepth())
	}
	v, err := d.element(t)
	d.depth--
	return v, err
}

// element decodes the element t opened, one level deeper.
func (d *Decoder) element(t *token) (Value, error) {
	switch string(t.name) {
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
		o, ok := d.objs.get(id)
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
		return d.integer(t)
	case "Sg", "Db":
		b, err := d.plain(t)
		if err != nil {
			return nil, err
		}
		bits := 64
		if string(t.name) == "Sg" {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(b), bits)
		if err != nil {
			return nil, d.errorf("<%s> holds %q, want a number", t.name, clip(b))
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
			return nil, d.errorf("<%s> is not base64: %v", t.name, err)
		}
		raw = raw[:n]
		if string(t.name) == "BA" {
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
	return nil, d.errorf("unknown CLIXML element <%s>", t.name)
}

func (d *Decoder) integer(t *token) (Value, error) {
	b, err := d.plain(t)
	if err != nil {
		return nil, err
	}
	bad := func() (Value, error) {
		return nil, d.errorf("<%s> holds %q, not a number of that size", t.name, clip(b))
	}
	switch string(t.name) {
	case "SB", "I16", "I32", "I64":
		bits := 64
		switch string(t.name) {
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
	switch string(t.name) {
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
	switch string(t.name) {
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
