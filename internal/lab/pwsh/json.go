package pwsh

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// ToJSON renders v as Windows PowerShell 5.1's ConvertTo-Json does
// (JavaScriptSerializer escaping; beyond depth, objects become their
// ToString(); without compress, 5.1's peculiar indentation).
func ToJSON(v Value, depth int, compress bool) string {
	var b strings.Builder
	writeJSON(&b, v, 0, depth)
	if compress {
		return b.String()
	}
	return prettyJSON(b.String())
}

func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var esc string
		switch {
		case c == '"':
			esc = `\"`
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '\r':
			esc = `\r`
		case c == '\t':
			esc = `\t`
		case c == '\b':
			esc = `\b`
		case c == '\f':
			esc = `\f`
		case c < 0x20 || c == '<' || c == '>' || c == '\'' || c == '&':
			esc = fmt.Sprintf(`\u%04x`, c)
		case c == 0xC2 && i+1 < len(s) && s[i+1] == 0x85:
			b.WriteString(s[start:i])
			b.WriteString(`\u0085`)
			i++
			start = i + 1
			continue
		case c == 0xE2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xA8 || s[i+2] == 0xA9):
			b.WriteString(s[start:i])
			if s[i+2] == 0xA8 {
				b.WriteString(`\u2028`)
			} else {
				b.WriteString(`\u2029`)
			}
			i += 2
			start = i + 1
			continue
		default:
			continue
		}
		b.WriteString(s[start:i])
		b.WriteString(esc)
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

// jsonDouble renders a double as .NET's "R" format does.
func jsonDouble(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return `"` + formatDouble(f) + `"`
	}
	a := math.Abs(f)
	if a != 0 && (a >= 1e15 || a < 1e-5) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		if len(exp) < 2 {
			exp = strings.Repeat("0", 2-len(exp)) + exp
		}
		return mant + "E" + string(sign) + exp
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func writeJSON(b *strings.Builder, v Value, depth, max int) {
	v = Normalize(v)
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
		return
	case string:
		writeJSONString(b, x)
		return
	case Char:
		writeJSONString(b, x.String())
		return
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
		return
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
		return
	case float64:
		b.WriteString(jsonDouble(x))
		return
	case Guid:
		writeJSONString(b, x.String())
		return
	case *Uri:
		writeJSONString(b, x.AbsoluteUri())
		return
	case time.Time:
		fmt.Fprintf(b, `"\/Date(%d)\/"`, x.UnixMilli())
		return
	case *Flags:
		b.WriteString(strconv.FormatInt(x.Value, 10))
		return
	case *typeValue:
		writeJSONString(b, x.name)
		return
	}
	if depth > max {
		writeJSONString(b, ToString(v))
		return
	}
	switch x := v.(type) {
	case []byte:
		b.WriteByte('[')
		for i, c := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(c)))
		}
		b.WriteByte(']')
	case *Array:
		writeJSONList(b, x.Items, depth, max)
	case *List:
		writeJSONList(b, x.Items, depth, max)
	case *Hashtable:
		writeJSONProps(b, x.Entries(), depth, max)
	case *Object:
		writeJSONProps(b, x.Props(), depth, max)
	case Unlimited:
		var val Value
		if !x.IsUnlimited {
			val = x.Value
		}
		writeJSONProps(b, []Prop{{"IsUnlimited", x.IsUnlimited}, {"Value", val}}, depth, max)
	case *SecureString:
		writeJSONProps(b, []Prop{{"Length", int64(x.Length())}}, depth, max)
	case *ErrorRecord:
		writeJSONProps(b, []Prop{
			{"Exception", errorRecordMember(x, "exception")},
			{"TargetObject", x.Err.TargetObject},
			{"CategoryInfo", errorRecordMember(x, "categoryinfo")},
			{"FullyQualifiedErrorId", x.FullyQualifiedErrorId},
			{"ErrorDetails", nil},
			{"InvocationInfo", errorRecordMember(x, "invocationinfo")},
			{"ScriptStackTrace", nil},
			{"PipelineIterationInfo", &Array{}},
		}, depth, max)
	case *ScriptBlock:
		writeJSONString(b, x.String())
	default:
		writeJSONString(b, ToString(v))
	}
}

func writeJSONList(b *strings.Builder, items []Value, depth, max int) {
	b.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(b, it, depth+1, max)
	}
	b.WriteByte(']')
}

func writeJSONProps(b *strings.Builder, props []Prop, depth, max int) {
	b.WriteByte('{')
	for i, p := range props {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, p.Name)
		b.WriteByte(':')
		writeJSON(b, p.Value, depth+1, max)
	}
	b.WriteByte('}')
}

// prettyJSON re-indents compact JSON the way Windows PowerShell 5.1's
// ConvertTo-Json does: 4 spaces per level, "key":  value with two spaces,
// and nested containers indented past their key.
func prettyJSON(js string) string {
	if js == "" || (js[0] != '{' && js[0] != '[') {
		return js
	}
	var out strings.Builder
	out.Grow(len(js) * 2)
	out.WriteByte(js[0])
	if js[0] == '{' {
		prettyDict(js, 1, &out, "", 0)
	} else {
		prettyList(js, 1, &out, "", 0)
	}
	return out.String()
}

func prettyQuoted(js string, i int, out *strings.Builder) int {
	for ; i < len(js); i++ {
		out.WriteByte(js[i])
		if js[i] == '\\' && i+1 < len(js) {
			i++
			out.WriteByte(js[i])
			continue
		}
		if js[i] == '"' {
			return i
		}
	}
	return len(js) - 1
}

// prettyOpen starts the members of a list or dictionary on a new line and
// returns their indentation: the container's, four spaces further in.
func prettyOpen(out *strings.Builder, pad string, spaces int) string {
	out.WriteString("\r\n")
	return pad + strings.Repeat(" ", spaces) + "    "
}

// prettyClose ends a list or dictionary with its bracket c on a line of its
// own, at the container's indentation.
func prettyClose(out *strings.Builder, pad string, spaces int, c byte) {
	out.WriteString("\r\n")
	out.WriteString(pad)
	out.WriteString(strings.Repeat(" ", spaces))
	out.WriteByte(c)
}

func prettyList(js string, i int, out *strings.Builder, pad string, spaces int) int {
	newPad := prettyOpen(out, pad, spaces)
	head := true
	for ; i < len(js); i++ {
		switch c := js[i]; c {
		case '{':
			out.WriteString(newPad)
			out.WriteByte(c)
			i = prettyDict(js, i+1, out, newPad, 0)
			head = false
		case '[':
			out.WriteString(newPad)
			out.WriteByte(c)
			i = prettyList(js, i+1, out, newPad, 0)
			head = false
		case ']':
			prettyClose(out, pad, spaces, c)
			return i
		case '"':
			if head {
				out.WriteString(newPad)
			}
			out.WriteByte(c)
			i = prettyQuoted(js, i+1, out)
			head = false
		case ',':
			out.WriteString(",\r\n")
			head = true
		default:
			if head {
				out.WriteString(newPad)
			}
			out.WriteByte(c)
			head = false
		}
	}
	return len(js) - 1
}

func prettyDict(js string, i int, out *strings.Builder, pad string, spaces int) int {
	newPad := prettyOpen(out, pad, spaces)
	head, beforeQuote := true, true
	newSpaces := 0
	for ; i < len(js); i++ {
		switch c := js[i]; c {
		case '{':
			out.WriteByte(c)
			i = prettyDict(js, i+1, out, newPad, newSpaces)
			head = false
		case '[':
			out.WriteByte(c)
			i = prettyList(js, i+1, out, newPad, newSpaces)
			head = false
		case '}':
			prettyClose(out, pad, spaces, c)
			return i
		case '"':
			if head {
				out.WriteString(newPad)
			}
			out.WriteByte(c)
			end := prettyQuoted(js, i+1, out)
			if beforeQuote {
				newSpaces += utf16Len(js[i : end+1])
			}
			i = end
			head = false
		case ':':
			out.WriteString(":  ")
			newSpaces += 3
			head, beforeQuote = false, false
		case ',':
			out.WriteString(",\r\n")
			head, beforeQuote = true, true
			newSpaces = 0
		default:
			if head {
				out.WriteString(newPad)
			}
			out.WriteByte(c)
			if beforeQuote {
				newSpaces++
			}
			head = false
		}
	}
	return len(js) - 1
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += len(utf16.Encode([]rune{r}))
	}
	return n
}

// FromJSON parses JSON as ConvertFrom-Json does: objects become
// PSCustomObjects (property order kept), arrays *Array, integers int64,
// other numbers float64.
func FromJSON(text string) (Value, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	v, err := decodeJSON(dec)
	if err != nil {
		return nil, invalidJSON(text, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalidJSON(text, fmt.Errorf("trailing data"))
	}
	return v, nil
}

func invalidJSON(text string, err error) error {
	t := strings.TrimSpace(text)
	if len(t) > 30 {
		t = t[:30]
	}
	return fmt.Errorf("Invalid JSON primitive: %s.", strings.Trim(t, "{}[]"))
}

func decodeJSON(dec *json.Decoder) (Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &Object{TypeNames: []string{PSCustomObjectType}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("bad key")
				}
				v, err := decodeJSON(dec)
				if err != nil {
					return nil, err
				}
				o.Set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			items := []Value{}
			for dec.More() {
				v, err := decodeJSON(dec)
				if err != nil {
					return nil, err
				}
				items = append(items, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return &Array{Items: items}, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case json.Number:
		if n, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return n, nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return nil, err
		}
		return f, nil
	case string:
		if strings.HasPrefix(t, "/Date(") && strings.HasSuffix(t, ")/") {
			if ms, err := strconv.ParseInt(t[6:len(t)-2], 10, 64); err == nil {
				return time.UnixMilli(ms).UTC(), nil
			}
		}
		return t, nil
	case bool:
		return t, nil
	case nil:
		return nil, nil
	}
	return nil, fmt.Errorf("unexpected token")
}
