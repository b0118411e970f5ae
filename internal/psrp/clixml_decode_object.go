package psrp

import (
	"bytes"
	"strings"
)

func (d *Decoder) object(t *token) (Value, error) {
	o := &Object{}
	if t.hasRef {
		id, err := d.refID(t)
		if err != nil {
			return nil, err
		}
		if _, dup := d.objs.get(id); dup {
			return nil, d.errorf("two objects with RefId %d", id)
		}
		d.objs.put(id, o) // before the children: an object may refer to itself
	}
	if t.selfClose {
		return o, nil
	}
	var c token
	for {
		end, err := d.child(t, &c)
		if err != nil {
			return nil, err
		}
		if end {
			return o, nil
		}
		switch string(c.name) {
		case "TN":
			names, err := d.typeNames(&c)
			if err != nil {
				return nil, err
			}
			o.TypeNames = names
		case "TNRef":
			id, err := d.refID(&c)
			if err != nil {
				return nil, err
			}
			if _, _, err := d.text(&c); err != nil {
				return nil, err
			}
			names, ok := d.tns.get(id)
			if !ok {
				return nil, d.errorf("<TNRef RefId=%q> names no type list seen before", c.ref)
			}
			o.TypeNames = names
		case "ToString":
			s, err := d.str(&c)
			if err != nil {
				return nil, err
			}
			o.ToString = s
		case "Props", "MS":
			props, err := d.properties(&c)
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
			items, err := d.list(&c)
			if err != nil {
				return nil, err
			}
			o.Kind, o.Items = kind, items
		case "DCT":
			entries, err := d.dict(&c)
			if err != nil {
				return nil, err
			}
			o.Kind, o.Entries = DictContainer, entries
		default:
			v, err := d.value(&c)
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

func (d *Decoder) typeNames(t *token) ([]string, error) {
	id := -1 // a <TN> without a RefId cannot be referred to, but is valid
	if t.hasRef {
		var err error
		if id, err = d.refID(t); err != nil {
			return nil, err
		}
	}
	var names []string
	if !t.selfClose && len(d.lastTN) > 0 && bytes.HasPrefix(d.s.data[d.s.pos:], d.lastTN) {
		// The very bytes of the last <TN>'s content and end tag (each
		// message of a pipeline's output repeats its type chain): they
		// parse to the same names.
		d.s.pos += len(d.lastTN)
		d.elements += d.lastTNElements
		if d.elements > d.maxElements() {
			return nil, d.errorf("more than %d elements", d.maxElements())
		}
		names = d.lastTNNames
	} else {
		start, elements := d.s.pos, d.elements
		var err error
		if names, err = d.typeNameList(t); err != nil {
			return nil, err
		}
		if !t.selfClose && d.s.pos-start <= maxRepeatTN {
			d.lastTN = append(d.lastTN[:0], d.s.data[start:d.s.pos]...)
			d.lastTNElements = d.elements - elements
			d.lastTNNames = names
		}
	}
	if id < 0 {
		return names, nil
	}
	if _, dup := d.tns.get(id); dup {
		return nil, d.errorf("two type lists with RefId %d", id)
	}
	d.tns.put(id, names)
	return names, nil
}

// maxRepeatTN bounds the <TN> content a Decoder keeps to recognise the
// next one.
const maxRepeatTN = 4096

// typeNameList reads the <T> names of the <TN> t opened.
func (d *Decoder) typeNameList(t *token) ([]string, error) {
	// The names go into scratch, each ended by a NUL, and a chain seen
	// before is shared instead of allocated again.
	d.scratch = d.scratch[:0]
	count := 0
	if !t.selfClose {
		var c token
		for {
			if err := d.next(&c); err != nil {
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
			raw, escaped, err := d.text(&c)
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
	return names, nil
}

// properties reads the named values of <Props> or <MS>.
func (d *Decoder) properties(t *token) ([]Property, error) {
	if t.selfClose {
		return nil, nil
	}
	start := len(d.props)
	defer func() { d.props = d.props[:start] }()
	var c token
	for {
		end, err := d.child(t, &c)
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		name, err := d.name(&c)
		if err != nil {
			return nil, err
		}
		v, err := d.value(&c)
		if err != nil {
			return nil, err
		}
		d.props = append(d.props, Property{Name: name, Value: v})
	}
	out := make([]Property, len(d.props)-start)
	copy(out, d.props[start:])
	return out, nil
}

// child reads the next child of the element t opened into c, and reports
// end when it is t's own end tag instead.
func (d *Decoder) child(t, c *token) (end bool, err error) {
	if err := d.next(c); err != nil {
		return false, err
	}
	switch {
	case c.kind == tokEOF:
		return false, d.errorf("the document ends inside <%s>", t.name)
	case c.kind != tokEnd:
		return false, nil
	case !bytes.Equal(c.name, t.name):
		return false, d.errorf("</%s> closes <%s>", c.name, t.name)
	}
	return true, nil
}

func (d *Decoder) list(t *token) ([]Value, error) {
	if t.selfClose {
		return []Value{}, nil
	}
	start := len(d.items)
	defer func() { d.items = d.items[:start] }()
	var c token
	for {
		end, err := d.child(t, &c)
		if err != nil {
			return nil, err
		}
		if end {
			break
		}
		v, err := d.value(&c)
		if err != nil {
			return nil, err
		}
		d.items = append(d.items, v)
	}
	out := make([]Value, len(d.items)-start)
	copy(out, d.items[start:])
	return out, nil
}

func (d *Decoder) dict(t *token) ([]Entry, error) {
	out := []Entry{}
	if t.selfClose {
		return out, nil
	}
	var c token
	for {
		end, err := d.child(t, &c)
		if err != nil {
			return nil, err
		}
		if end {
			return out, nil
		}
		if string(c.name) != "En" || c.selfClose {
			return nil, d.errorf("<DCT> holds <%s>, want <En> with a Key and a Value", c.name)
		}
		var en Entry
		var haveKey, haveValue bool
		var k token
		for {
			if err := d.next(&k); err != nil {
				return nil, err
			}
			if k.kind == tokEOF {
				return nil, d.errorf("the document ends inside <En>")
			}
			if k.kind == tokEnd {
				break
			}
			name, err := d.name(&k)
			if err != nil {
				return nil, err
			}
			v, err := d.value(&k)
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
