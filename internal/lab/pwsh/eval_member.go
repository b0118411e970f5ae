package pwsh

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func (s *session) staticMember(x *memberExpr) (Value, error) {
	t := x.obj.(*typeExpr).typ
	switch t + "::" + strings.ToLower(x.name) {
	case "console::in":
		return &consoleIn{}, nil
	case "guid::empty":
		return EmptyGuid, nil
	case "string::empty":
		return "", nil
	case "datetime::utcnow":
		return s.host.opts.Now().UTC(), nil
	case "datetime::now":
		return s.host.opts.Now(), nil
	}
	return nil, s.runtimeError(x.e, "PropertyNotFound", CatInvalidOperation, fmt.Sprintf("The property '%s' cannot be found on type [%s].", x.name, t), nil)
}

func (s *session) methodError(at extent, name string, nargs int, err error, exType string) error {
	msg := fmt.Sprintf("Exception calling \"%s\" with \"%d\" argument(s): \"%s\"", name, nargs, err.Error())
	e := &Error{Message: msg, Category: CatNotSpecified, ExceptionType: "System.Management.Automation.MethodInvocationException", ErrorID: exType}
	return &psThrow{rec: &ErrorRecord{Err: e, FullyQualifiedErrorId: exType, Line: at.line, Column: at.col, LineText: at.lineText, posExt: at}}
}

func (s *session) noMethod(at extent, v Value, name string) error {
	return s.runtimeError(at, "MethodNotFound", CatInvalidOperation,
		fmt.Sprintf("Method invocation failed because [%s] does not contain a method named '%s'.", typeOfName(v), name), nil)
}

func (s *session) invoke(x *invokeExpr) (Value, error) {
	args := make([]Value, len(x.args))
	for i, a := range x.args {
		v, err := s.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	name := strings.ToLower(x.name)
	if x.static {
		t := x.obj.(*typeExpr).typ
		switch t + "::" + name {
		case "convert::frombase64string":
			if len(args) != 1 {
				break
			}
			str := ToString(args[0])
			b, err := base64.StdEncoding.DecodeString(strings.Map(func(r rune) rune {
				if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
					return -1
				}
				return r
			}, str))
			if err != nil {
				msg := "The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters. "
				if len(strings.TrimSpace(str))%4 != 0 {
					msg = "Invalid length for a Base-64 char array or string."
				}
				return nil, s.methodError(x.e, x.name, 1, fmt.Errorf("%s", msg), "FormatException")
			}
			return b, nil
		case "convert::tobase64string":
			if len(args) != 1 {
				break
			}
			switch b := args[0].(type) {
			case []byte:
				return base64.StdEncoding.EncodeToString(b), nil
			case *Array:
				out := make([]byte, len(b.Items))
				for i, it := range b.Items {
					n, err := toInt(it)
					if err != nil || n < 0 || n > 255 {
						return nil, s.methodError(x.e, x.name, 1, fmt.Errorf("Value was either too large or too small for an unsigned byte."), "OverflowException")
					}
					out[i] = byte(n)
				}
				return base64.StdEncoding.EncodeToString(out), nil
			}
			return nil, s.methodError(x.e, x.name, 1, fmt.Errorf("Cannot convert argument \"inArray\", with value: \"%s\", for \"ToBase64String\" to type \"System.Byte[]\"", ToString(args[0])), "MethodArgumentConversionInvalidCastArgument")
		case "regex::replace":
			return s.regexReplace(x, args)
		case "guid::newguid":
			if len(args) != 0 {
				break
			}
			return newGuid(), nil
		case "guid::parse":
			if len(args) != 1 {
				break
			}
			g, err := ParseGuid(ToString(args[0]))
			if err != nil {
				return nil, s.methodError(x.e, x.name, 1, err, "FormatException")
			}
			return g, nil
		case "string::isnullorempty":
			if len(args) != 1 {
				break
			}
			return args[0] == nil || ToString(args[0]) == "", nil
		case "string::isnullorwhitespace":
			if len(args) != 1 {
				break
			}
			return strings.TrimSpace(ToString(args[0])) == "", nil
		case "string::join":
			if len(args) < 2 {
				break
			}
			var items []Value
			if len(args) == 2 {
				items = Unroll(args[1])
			} else {
				items = args[1:]
			}
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = ToString(it)
			}
			return strings.Join(parts, ToString(args[0])), nil
		}
		return nil, s.runtimeError(x.e, "MethodCountCouldNotFindBest", CatInvalidOperation,
			fmt.Sprintf("Cannot find an overload for \"%s\" and the argument count: \"%d\".", x.name, len(args)), nil)
	}
	obj, err := s.eval(x.obj)
	if err != nil {
		return nil, err
	}
	return s.callMethod(obj, x.name, args, x.e)
}

func newGuid() Guid {
	var g Guid
	src := cryptoRand(16)
	copy(g[:], src)
	g[6] = (g[6] & 0x0f) | 0x40
	g[8] = (g[8] & 0x3f) | 0x80
	return g
}

func (s *session) callMethod(obj Value, name string, args []Value, at extent) (Value, error) {
	lname := strings.ToLower(name)
	if obj == nil {
		return nil, s.runtimeError(at, "InvokeMethodOnNull", CatInvalidOperation, "You cannot call a method on a null-valued expression.", nil)
	}
	argc := len(args)
	switch o := obj.(type) {
	case *Object:
		if m, ok := o.Methods[lname]; ok {
			v, err := m(args)
			if err != nil {
				return nil, s.methodError(at, name, argc, err, "MethodInvocationException")
			}
			return v, nil
		}
	case *consoleIn:
		switch lname {
		case "readline":
			return s.readLine(), nil
		case "readtoend":
			var b strings.Builder
			r := s.stdinReader()
			buf := make([]byte, 4096)
			for {
				n, err := r.Read(buf)
				b.Write(buf[:n])
				if err != nil {
					break
				}
			}
			return b.String(), nil
		}
		return nil, s.noMethod(at, "System.IO.TextReader", name)
	case string:
		if v, ok, err := stringMethod(o, lname, args); ok {
			if err != nil {
				return nil, s.methodError(at, name, argc, err, "ArgumentOutOfRangeException")
			}
			return v, nil
		}
	case *List:
		switch lname {
		case "add":
			if argc == 1 {
				o.Items = append(o.Items, args[0])
				return voidV, nil
			}
		case "addrange":
			if argc == 1 {
				o.Items = append(o.Items, Unroll(args[0])...)
				return voidV, nil
			}
		case "contains":
			if argc == 1 {
				return containsValue(o.Items, args[0]), nil
			}
		case "toarray":
			return &Array{Items: append([]Value(nil), o.Items...)}, nil
		case "clear":
			o.Items = nil
			return voidV, nil
		}
	case *Array:
		switch lname {
		case "contains":
			if argc == 1 {
				return containsValue(o.Items, args[0]), nil
			}
		case "add":
			return nil, s.methodError(at, name, argc, fmt.Errorf("Collection was of a fixed size."), "NotSupportedException")
		}
	case *Hashtable:
		switch lname {
		case "containskey", "contains":
			if argc == 1 {
				_, ok := o.Get(ToString(args[0]))
				return ok, nil
			}
		case "add":
			if argc == 2 {
				k := ToString(args[0])
				if _, dup := o.Get(k); dup {
					return nil, s.methodError(at, name, argc, fmt.Errorf("Item has already been added. Key in dictionary: '%s'  Key being added: '%s'", k, k), "ArgumentException")
				}
				o.Set(k, args[1])
				return voidV, nil
			}
		case "remove":
			if argc == 1 {
				k := ToString(args[0])
				for i, e := range o.entries {
					if strings.EqualFold(e.Name, k) {
						o.entries = append(o.entries[:i:i], o.entries[i+1:]...)
						o.index = nil
						if len(o.entries) > 16 {
							o.reindex()
						}
						break
					}
				}
				return voidV, nil
			}
		}
	case time.Time:
		switch lname {
		case "touniversaltime":
			return o.UTC(), nil
		case "tolocaltime":
			return o.Local(), nil
		case "tostring":
			if argc == 1 {
				return formatDate(o, ToString(args[0])), nil
			}
		case "adddays", "addhours", "addminutes", "addseconds":
			if argc == 1 {
				n, err := s.toNumber(args[0], at)
				if err != nil {
					return nil, err
				}
				f := numToFloat(n)
				unit := map[string]time.Duration{"adddays": 24 * time.Hour, "addhours": time.Hour, "addminutes": time.Minute, "addseconds": time.Second}[lname]
				return o.Add(time.Duration(f * float64(unit))), nil
			}
		}
	case Guid:
		if lname == "tostring" && argc == 1 {
			switch strings.ToUpper(ToString(args[0])) {
			case "N":
				return strings.ReplaceAll(o.String(), "-", ""), nil
			case "B":
				return "{" + o.String() + "}", nil
			case "D", "":
				return o.String(), nil
			}
		}
	case *ErrorRecord:
		if lname == "tostring" && argc == 0 {
			return o.Err.Message, nil
		}
	case int64, float64:
		if lname == "tostring" && argc == 1 {
			return formatNumber(o, ToString(args[0])), nil
		}
	}
	switch lname {
	case "tostring":
		if argc == 0 {
			if f, ok := obj.(float64); ok {
				return formatDouble(f), nil
			}
			return ToString(obj), nil
		}
	case "gettype":
		if argc == 0 {
			full := typeOfName(obj)
			t := NewObject("System.RuntimeType", "Name", shortType(full), "FullName", full)
			t.Str = func() string { return full }
			return t, nil
		}
	case "equals":
		if argc == 1 {
			return equalValues(obj, args[0], false), nil
		}
	case "gethashcode":
		return int64(len(ToString(obj))), nil
	}
	return nil, s.noMethod(at, obj, name)
}

// member returns a property (PowerShell member access; $null when absent).
func (s *session) member(obj Value, name string) Value {
	lname := strings.ToLower(name)
	switch o := obj.(type) {
	case nil:
		if lname == "count" || lname == "length" {
			return int64(0)
		}
		return nil
	case *Object:
		if v, ok := o.Get(name); ok {
			return v
		}
	case *Hashtable:
		if v, ok := o.Get(name); ok {
			return v
		}
		switch lname {
		case "count":
			return int64(o.Len())
		case "keys":
			out := make([]Value, o.Len())
			for i, e := range o.Entries() {
				out[i] = e.Name
			}
			return &Array{Items: out}
		case "values":
			out := make([]Value, o.Len())
			for i, e := range o.Entries() {
				out[i] = e.Value
			}
			return &Array{Items: out}
		}
		return nil
	case *Array, *List:
		items := Unroll(o)
		switch lname {
		case "count", "length":
			return int64(len(items))
		case "rank":
			return int64(1)
		}
		// member enumeration
		var out []Value
		for _, it := range items {
			v := s.member(it, name)
			if v == nil {
				if _, ok := it.(*Object); !ok {
					continue
				}
				if ob := it.(*Object); true {
					if _, has := ob.Get(name); !has {
						continue
					}
				}
			}
			if a, ok := v.(*Array); ok {
				out = append(out, a.Items...)
			} else {
				out = append(out, v)
			}
		}
		return collapse(out)
	case string:
		if lname == "length" {
			return int64(len(utf16Units(o)))
		}
	case []byte:
		if lname == "length" || lname == "count" {
			return int64(len(o))
		}
	case *Uri:
		switch lname {
		case "absoluteuri", "originalstring":
			return o.AbsoluteUri()
		case "host", "dnssafehost", "idnhost":
			return o.Host()
		case "scheme":
			return o.u.Scheme
		case "port":
			if p := o.u.Port(); p != "" {
				n, _ := strconv.ParseInt(p, 10, 64)
				return n
			}
			if o.u.Scheme == "https" {
				return int64(443)
			}
			return int64(80)
		case "absolutepath":
			return o.u.EscapedPath()
		case "pathandquery":
			pq := o.u.EscapedPath()
			if o.u.RawQuery != "" {
				pq += "?" + o.u.RawQuery
			}
			return pq
		case "authority":
			return o.u.Host
		case "query":
			if o.u.RawQuery != "" {
				return "?" + o.u.RawQuery
			}
			return ""
		}
	case time.Time:
		switch lname {
		case "year":
			return int64(o.Year())
		case "month":
			return int64(o.Month())
		case "day":
			return int64(o.Day())
		case "hour":
			return int64(o.Hour())
		case "minute":
			return int64(o.Minute())
		case "second":
			return int64(o.Second())
		case "kind":
			if o.Location() == time.UTC {
				return "Utc"
			}
			return "Local"
		case "date":
			y, m, d := o.Date()
			return time.Date(y, m, d, 0, 0, 0, 0, o.Location())
		}
	case *Flags:
		if lname == "value__" {
			return o.Value
		}
	case Unlimited:
		switch lname {
		case "isunlimited":
			return o.IsUnlimited
		case "value":
			if o.IsUnlimited {
				return nil
			}
			return o.Value
		}
	case *SecureString:
		if lname == "length" {
			return int64(o.Length())
		}
	case *ErrorRecord:
		return errorRecordMember(o, lname)
	case Guid:
		if lname == "guid" {
			return o.String()
		}
	}
	switch lname {
	case "count", "length":
		return int64(1)
	}
	return nil
}

func errorRecordMember(o *ErrorRecord, lname string) Value {
	switch lname {
	case "exception":
		et := o.Err.exceptionType()
		ex := NewObject(et, "Message", o.Err.Message)
		msg := o.Err.Message
		ex.Str = func() string { return et + ": " + msg }
		return ex
	case "fullyqualifiederrorid":
		return o.FullyQualifiedErrorId
	case "targetobject":
		return o.Err.TargetObject
	case "categoryinfo":
		ci := NewObject("System.Management.Automation.ErrorCategoryInfo", "Category", string(o.Err.Category),
			"Activity", o.Command, "Reason", shortType(o.Err.exceptionType()), "TargetName", ToString(o.Err.TargetObject),
			"TargetType", func() string {
				if o.Err.TargetObject == nil {
					return ""
				}
				return shortType(typeOfName(o.Err.TargetObject))
			}())
		rec := o
		ci.Str = func() string { return strings.TrimPrefix(categoryInfo(rec), "") }
		return ci
	case "errordetails", "scriptstacktrace":
		return nil
	case "invocationinfo":
		return NewObject("System.Management.Automation.InvocationInfo", "ScriptLineNumber", int64(o.Line), "OffsetInLine", int64(o.Column), "Line", o.LineText,
			"MyCommand", o.Command)
	}
	return nil
}

func (s *session) index(obj, idx Value, at extent) (Value, error) {
	switch o := obj.(type) {
	case nil:
		return nil, s.runtimeError(at, "NullArray", CatInvalidOperation, "Cannot index into a null array.", nil)
	case *Hashtable:
		if a, ok := idx.(*Array); ok {
			var out []Value
			for _, k := range a.Items {
				v, _ := o.Get(ToString(k))
				out = append(out, v)
			}
			return &Array{Items: out}, nil
		}
		v, _ := o.Get(ToString(idx))
		return v, nil
	case *Object:
		v, _ := o.Get(ToString(idx))
		return v, nil
	}
	var items []Value
	switch o := obj.(type) {
	case *Array:
		items = o.Items
	case *List:
		items = o.Items
	case string:
		u := utf16Units(o)
		items = make([]Value, len(u))
		for i := range u {
			items[i] = utf16ToString(u[i : i+1])
		}
	case []byte:
		items = make([]Value, len(o))
		for i, b := range o {
			items[i] = int64(b)
		}
	default:
		items = []Value{obj}
	}
	pick := func(iv Value) (Value, bool, error) {
		n, err := toInt(iv)
		if err != nil {
			return nil, false, s.runtimeError(at, "InvalidCastFromStringToInteger", CatInvalidArgument, fmt.Sprintf("Cannot convert value \"%s\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", ToString(iv)), nil)
		}
		if n < 0 {
			n += int64(len(items))
		}
		if n < 0 || n >= int64(len(items)) {
			return nil, false, nil
		}
		return items[n], true, nil
	}
	if a, ok := idx.(*Array); ok {
		var out []Value
		for _, iv := range a.Items {
			v, ok, err := pick(iv)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, v)
			}
		}
		return &Array{Items: out}, nil
	}
	v, _, err := pick(idx)
	return v, err
}

// containsValue is the Contains method of a list or an array: whether
// one of items equals v, case-insensitively.
func containsValue(items []Value, v Value) bool {
	for _, it := range items {
		if equalValues(it, v, false) {
			return true
		}
	}
	return false
}
