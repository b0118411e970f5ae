package pwsh

import (
	"fmt"
	"math"
	"strings"
	"time"
)

func isType(v Value, t string) bool {
	v = Normalize(v)
	switch t {
	case "object":
		return v != nil
	case "string":
		_, ok := v.(string)
		return ok
	case "int":
		n, ok := v.(int64)
		return ok && n >= math.MinInt32 && n <= math.MaxInt32
	case "long":
		_, ok := v.(int64)
		return ok
	case "double":
		_, ok := v.(float64)
		return ok
	case "bool":
		_, ok := v.(bool)
		return ok
	case "guid":
		_, ok := v.(Guid)
		return ok
	case "array", "object[]":
		_, ok := v.(*Array)
		return ok
	case "hashtable":
		h, ok := v.(*Hashtable)
		return ok && !h.Ordered
	case "ordered":
		h, ok := v.(*Hashtable)
		return ok && h.Ordered
	case "pscustomobject", "psobject":
		_, ok := v.(*Object)
		return ok
	case "datetime":
		_, ok := v.(time.Time)
		return ok
	case "uri":
		_, ok := v.(*Uri)
		return ok
	case "errorrecord":
		_, ok := v.(*ErrorRecord)
		return ok
	case "char":
		_, ok := v.(Char)
		return ok
	}
	return false
}

func (s *session) castError(at extent, v Value, typ string, detail string) error {
	msg := fmt.Sprintf("Cannot convert value \"%s\" to type \"%s\". Error: \"%s\"", ToString(v), typ, detail)
	if _, ok := v.(*Array); ok || detail == "" {
		msg = fmt.Sprintf("Cannot convert the \"%s\" value of type \"%s\" to type \"%s\".", ToString(v), typeOfName(v), typ)
	}
	e := &Error{Message: msg, Category: CatInvalidArgument, ErrorID: "InvalidCastFromStringToInteger", ExceptionType: "System.Management.Automation.RuntimeException"}
	id := "InvalidCastParseTargetInvocation"
	if detail == "" {
		id = "ConvertToFinalInvalidCastException"
	}
	e.ErrorID = id
	return &psThrow{rec: &ErrorRecord{Err: e, FullyQualifiedErrorId: id, Line: at.line, Column: at.col, LineText: at.lineText, posExt: at}}
}

func (s *session) cast(typ string, v Value, at extent) (Value, error) {
	v = Normalize(v)
	switch typ {
	case "string":
		switch x := v.(type) {
		case nil:
			return "", nil
		case *Array:
			return s.joinOFS(x.Items), nil
		case *List:
			return s.joinOFS(x.Items), nil
		case float64:
			return formatDouble(x), nil
		}
		return ToString(v), nil
	case "int", "long":
		tn := "System.Int32"
		if typ == "long" {
			tn = "System.Int64"
		}
		switch v.(type) {
		case *Array, *Hashtable, *Object, *List:
			return nil, s.castError(at, v, tn, "")
		}
		n, err := toInt(v)
		if err != nil {
			return nil, s.castError(at, v, tn, err.Error())
		}
		if typ == "int" && (n > math.MaxInt32 || n < math.MinInt32) {
			return nil, s.castError(at, v, tn, "Value was either too large or too small for an Int32.")
		}
		return n, nil
	case "double":
		n, err := s.toNumber(v, at)
		if err != nil {
			return nil, s.castError(at, v, "System.Double", "Input string was not in a correct format.")
		}
		return numToFloat(n), nil
	case "bool":
		return ToBool(v), nil
	case "guid":
		switch x := v.(type) {
		case Guid:
			return x, nil
		case string:
			g, err := ParseGuid(x)
			if err != nil {
				return nil, s.castError(at, v, "System.Guid", err.Error())
			}
			return g, nil
		}
		return nil, s.castError(at, v, "System.Guid", "")
	case "array", "object[]":
		switch x := v.(type) {
		case nil:
			return nil, nil
		case *Array:
			return x, nil
		case *List:
			return &Array{Items: append([]Value(nil), x.Items...)}, nil
		}
		return &Array{Items: []Value{v}}, nil
	case "string[]":
		return stringArray(v), nil
	case "pscustomobject", "psobject":
		if h, ok := v.(*Hashtable); ok && typ == "pscustomobject" {
			o := &Object{TypeNames: []string{PSCustomObjectType}, props: make([]Prop, 0, h.Len())}
			for _, e := range h.Entries() {
				o.props = append(o.props, Prop{Name: e.Name, Value: e.Value})
			}
			return o, nil
		}
		return v, nil
	case "hashtable":
		if h, ok := v.(*Hashtable); ok {
			out := &Hashtable{}
			for _, e := range h.Entries() {
				out.Set(e.Name, e.Value)
			}
			return out, nil
		}
		if v == nil {
			return nil, nil
		}
		return nil, s.castError(at, v, "System.Collections.Hashtable", "")
	case "uri":
		switch x := v.(type) {
		case nil:
			return nil, nil
		case *Uri:
			return x, nil
		}
		u, err := NewUri(ToString(v))
		if err != nil {
			return nil, s.castError(at, v, "System.Uri", err.Error())
		}
		return u, nil
	case "datetime":
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02", "1/2/2006 3:04:05 PM", "1/2/2006"} {
				if t, err := time.Parse(layout, strings.TrimSpace(x)); err == nil {
					return t, nil
				}
			}
			return nil, s.castError(at, v, "System.DateTime", "String was not recognized as a valid DateTime.")
		}
		return nil, s.castError(at, v, "System.DateTime", "")
	case "object":
		return v, nil
	case "char":
		return s.castChar(v, at)
	}
	return nil, s.castError(at, v, typ, "")
}

// stringArray is v as a string[]: $null stays $null, and every item of v
// becomes its string.
func stringArray(v Value) Value {
	if v == nil {
		return nil
	}
	items := Unroll(v)
	out := make([]Value, len(items))
	for i, it := range items {
		out[i] = ToString(it)
	}
	return &Array{Items: out}
}
