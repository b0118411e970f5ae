package psrp

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Encoder writes CLIXML. RefIds of <Obj> and of <TN> are two separate
// counters that start at 0 for each Encode, as PowerShell numbers them per
// message; a repeated type chain is written as <TNRef>, and an *Object met
// a second time (shared or cyclic) as <Ref>.
type Encoder struct {
	// Key encrypts SecureString values. Without it a SecureString is
	// ErrNoSessionKey.
	Key *SessionKey

	buf     []byte
	nextObj int
	tnRefs  map[string]int
	objRefs map[*Object]int
	depth   int
}

// MaxEncodeDepth bounds how deeply nested a value may be encoded.
const MaxEncodeDepth = 256

// MarshalCLIXML encodes one value as CLIXML, with key for any
// SecureString (nil when there is none).
func MarshalCLIXML(v Value, key *SessionKey) ([]byte, error) {
	e := Encoder{Key: key}
	return e.Encode(v)
}

// Encode returns the CLIXML of v.
func (e *Encoder) Encode(v Value) ([]byte, error) {
	e.buf = e.buf[:0]
	e.nextObj = 0
	clear(e.tnRefs)
	clear(e.objRefs)
	e.depth = 0
	if err := e.value("", v); err != nil {
		return nil, err
	}
	return append([]byte(nil), e.buf...), nil
}

func (e *Encoder) open(tag, name string) {
	e.buf = append(e.buf, '<')
	e.buf = append(e.buf, tag...)
	if name != "" {
		e.buf = append(e.buf, ` N="`...)
		e.buf = appendEscaped(e.buf, name, true)
		e.buf = append(e.buf, '"')
	}
}

func (e *Encoder) close(tag string) {
	e.buf = append(e.buf, "</"...)
	e.buf = append(e.buf, tag...)
	e.buf = append(e.buf, '>')
}

// raw writes <tag N="name">text</tag> with text that needs no escaping.
func (e *Encoder) raw(tag, name string, text []byte) {
	e.open(tag, name)
	e.buf = append(e.buf, '>')
	e.buf = append(e.buf, text...)
	e.close(tag)
}

func (e *Encoder) text(tag, name, s string) {
	e.open(tag, name)
	e.buf = append(e.buf, '>')
	e.buf = appendEscaped(e.buf, s, false)
	e.close(tag)
}

func (e *Encoder) value(name string, v Value) error {
	var scratch [64]byte
	num := scratch[:0]
	switch x := v.(type) {
	case nil:
		e.open("Nil", name)
		e.buf = append(e.buf, "/>"...)
	case bool:
		e.raw("B", name, strconv.AppendBool(num, x))
	case string:
		e.text("S", name, x)
	case int8:
		e.raw("SB", name, strconv.AppendInt(num, int64(x), 10))
	case uint8:
		e.raw("By", name, strconv.AppendUint(num, uint64(x), 10))
	case int16:
		e.raw("I16", name, strconv.AppendInt(num, int64(x), 10))
	case uint16:
		e.raw("U16", name, strconv.AppendUint(num, uint64(x), 10))
	case int32:
		e.raw("I32", name, strconv.AppendInt(num, int64(x), 10))
	case uint32:
		e.raw("U32", name, strconv.AppendUint(num, uint64(x), 10))
	case int64:
		e.raw("I64", name, strconv.AppendInt(num, x, 10))
	case uint64:
		e.raw("U64", name, strconv.AppendUint(num, x, 10))
	case int:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			e.raw("I32", name, strconv.AppendInt(num, int64(x), 10))
		} else {
			e.raw("I64", name, strconv.AppendInt(num, int64(x), 10))
		}
	case float32:
		e.raw("Sg", name, appendFloat(num, float64(x), 32))
	case float64:
		e.raw("Db", name, appendFloat(num, x, 64))
	case Decimal:
		e.text("D", name, string(x))
	case Char:
		e.raw("C", name, strconv.AppendUint(num, uint64(x), 10))
	case time.Time:
		e.raw("DT", name, appendDateTime(num, x))
	case time.Duration:
		e.raw("TS", name, appendDuration(num, x))
	case uuid.UUID:
		e.raw("G", name, []byte(x.String()))
	case []byte:
		e.open("BA", name)
		e.buf = append(e.buf, '>')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, x)
		e.close("BA")
	case Version:
		e.text("Version", name, string(x))
	case URI:
		e.text("URI", name, string(x))
	case XMLDocument:
		e.text("XD", name, string(x))
	case ScriptBlock:
		e.text("SBK", name, string(x))
	case *SecureString:
		if x == nil {
			e.open("Nil", name)
			e.buf = append(e.buf, "/>"...)
			return nil
		}
		ct, err := e.Key.Encrypt(x.Plain())
		if err != nil {
			return err
		}
		e.open("SS", name)
		e.buf = append(e.buf, '>')
		e.buf = base64.StdEncoding.AppendEncode(e.buf, ct)
		e.close("SS")
	case *Object:
		if x == nil {
			e.open("Nil", name)
			e.buf = append(e.buf, "/>"...)
			return nil
		}
		return e.object(name, x)
	default:
		return fmt.Errorf("psrp: cannot encode a Go %T as CLIXML (property %q)", v, name)
	}
	return nil
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "INF"...)
	case math.IsInf(f, -1):
		return append(dst, "-INF"...)
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	}
	return strconv.AppendFloat(dst, f, 'G', -1, bits)
}

func (e *Encoder) object(name string, o *Object) error {
	if e.objRefs == nil {
		e.objRefs = make(map[*Object]int)
	}
	if ref, ok := e.objRefs[o]; ok {
		e.open("Ref", name)
		e.buf = append(e.buf, ` RefId="`...)
		e.buf = strconv.AppendInt(e.buf, int64(ref), 10)
		e.buf = append(e.buf, `"/>`...)
		return nil
	}
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > MaxEncodeDepth {
		return fmt.Errorf("psrp: value nested more than %d objects deep (property %q)", MaxEncodeDepth, name)
	}
	ref := e.nextObj
	e.nextObj++
	e.objRefs[o] = ref
	e.open("Obj", name)
	e.buf = append(e.buf, ` RefId="`...)
	e.buf = strconv.AppendInt(e.buf, int64(ref), 10)
	e.buf = append(e.buf, `">`...)
	if len(o.TypeNames) > 0 {
		key := strings.Join(o.TypeNames, "\x00")
		if tn, ok := e.tnRefs[key]; ok {
			e.buf = append(e.buf, `<TNRef RefId="`...)
			e.buf = strconv.AppendInt(e.buf, int64(tn), 10)
			e.buf = append(e.buf, `"/>`...)
		} else {
			if e.tnRefs == nil {
				e.tnRefs = make(map[string]int)
			}
			tn := len(e.tnRefs)
			e.tnRefs[key] = tn
			e.buf = append(e.buf, `<TN RefId="`...)
			e.buf = strconv.AppendInt(e.buf, int64(tn), 10)
			e.buf = append(e.buf, `">`...)
			for _, t := range o.TypeNames {
				e.text("T", "", t)
			}
			e.buf = append(e.buf, "</TN>"...)
		}
	}
	if o.ToString != "" {
		e.text("ToString", "", o.ToString)
	}
	if o.Primitive != nil {
		if _, isObj := o.Primitive.(*Object); isObj {
			return fmt.Errorf("psrp: object %q wraps another object as its primitive value", name)
		}
		if err := e.value("", o.Primitive); err != nil {
			return err
		}
	}
	switch o.Kind {
	case NoContainer:
	case ListContainer, EnumContainer, StackContainer, QueueContainer:
		tag := containerTags[o.Kind]
		if len(o.Items) == 0 {
			e.buf = append(e.buf, '<')
			e.buf = append(e.buf, tag...)
			e.buf = append(e.buf, "/>"...)
			break
		}
		e.buf = append(e.buf, '<')
		e.buf = append(e.buf, tag...)
		e.buf = append(e.buf, '>')
		for _, it := range o.Items {
			if err := e.value("", it); err != nil {
				return err
			}
		}
		e.close(tag)
	case DictContainer:
		if len(o.Entries) == 0 {
			e.buf = append(e.buf, "<DCT/>"...)
			break
		}
		e.buf = append(e.buf, "<DCT>"...)
		for _, en := range o.Entries {
			e.buf = append(e.buf, "<En>"...)
			if err := e.value("Key", en.Key); err != nil {
				return err
			}
			if err := e.value("Value", en.Value); err != nil {
				return err
			}
			e.buf = append(e.buf, "</En>"...)
		}
		e.buf = append(e.buf, "</DCT>"...)
	default:
		return fmt.Errorf("psrp: object %q has unknown container kind %d", name, o.Kind)
	}
	for _, sec := range []struct {
		tag   string
		props []Property
	}{{"Props", o.Adapted}, {"MS", o.Extended}} {
		if len(sec.props) == 0 {
			continue
		}
		e.buf = append(e.buf, '<')
		e.buf = append(e.buf, sec.tag...)
		e.buf = append(e.buf, '>')
		for _, p := range sec.props {
			if p.Name == "" {
				return fmt.Errorf("psrp: object %q has a property with no name", name)
			}
			if err := e.value(p.Name, p.Value); err != nil {
				return err
			}
		}
		e.close(sec.tag)
	}
	e.close("Obj")
	return nil
}

var containerTags = map[Container]string{
	ListContainer:  "LST",
	EnumContainer:  "IE",
	StackContainer: "STK",
	QueueContainer: "QUE",
	DictContainer:  "DCT",
}
