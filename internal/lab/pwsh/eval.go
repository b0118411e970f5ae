package pwsh

import (
	"encoding/base64"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// consoleIn is [Console]::In.
type consoleIn struct{}

// eval evaluates an expression to a value (void results become $null).
func (s *session) eval(e expr) (Value, error) {
	v, err := s.evalRaw(e)
	if v == voidV {
		v = nil
	}
	return v, err
}

func (s *session) evalRaw(e expr) (Value, error) {
	switch x := e.(type) {
	case *constExpr:
		return x.v, nil
	case *expandString:
		var b strings.Builder
		for _, p := range x.parts {
			switch {
			case p.sub != nil:
				var items []Value
				if err := s.runBody(p.sub, func(v Value) error { items = append(items, v); return nil }); err != nil {
					return nil, err
				}
				b.WriteString(s.joinOFS(items))
			case p.vari != "":
				v := s.lookupVar(p.vari)
				if a, ok := v.(*Array); ok {
					b.WriteString(s.joinOFS(a.Items))
				} else if l, ok := v.(*List); ok {
					b.WriteString(s.joinOFS(l.Items))
				} else {
					b.WriteString(ToString(v))
				}
			default:
				b.WriteString(p.lit)
			}
		}
		return b.String(), nil
	case *varExpr:
		return s.lookupVar(x.name), nil
	case *arrayExpr:
		items := []Value{}
		if err := s.runBody(x.body, func(v Value) error { items = append(items, v); return nil }); err != nil {
			return nil, err
		}
		return &Array{Items: items}, nil
	case *subExpr:
		var items []Value
		if err := s.runBody(x.body, func(v Value) error { items = append(items, v); return nil }); err != nil {
			return nil, err
		}
		return collapse(items), nil
	case *parenExpr:
		if as, ok := x.inner.(*assignStmt); ok {
			if err := s.execAssign(as); err != nil {
				return nil, err
			}
			return s.eval(as.target)
		}
		v, _, err := s.evalStmtValue(x.inner)
		return v, err
	case *hashExpr:
		h := &Hashtable{Ordered: x.ordered, entries: make([]Prop, 0, len(x.entries))}
		for _, en := range x.entries {
			k, err := s.eval(en.key)
			if err != nil {
				return nil, err
			}
			if k == nil {
				return nil, s.runtimeError(x.e, "InvalidNullKey", CatInvalidOperation, "A null key is not allowed in a hash literal.", nil)
			}
			v, _, err := s.evalStmtValue(en.value)
			if err != nil {
				return nil, err
			}
			ks := ToString(k)
			if _, dup := h.Get(ks); dup {
				return nil, s.runtimeError(x.e, "DuplicateKeyInHashLiteral", CatInvalidOperation, fmt.Sprintf("Duplicate keys '%s' are not allowed in hash literals.", ks), nil)
			}
			h.Set(ks, v)
		}
		return h, nil
	case *scriptBlockExpr:
		return &ScriptBlock{body: x.body, text: x.text, params: x.params}, nil
	case *memberExpr:
		if x.static {
			return s.staticMember(x)
		}
		obj, err := s.eval(x.obj)
		if err != nil {
			return nil, err
		}
		return s.member(obj, x.name), nil
	case *invokeExpr:
		return s.invoke(x)
	case *indexExpr:
		obj, err := s.eval(x.obj)
		if err != nil {
			return nil, err
		}
		idx, err := s.eval(x.index)
		if err != nil {
			return nil, err
		}
		return s.index(obj, idx, x.e)
	case *unaryExpr:
		v, err := s.eval(x.operand)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "-not":
			return !ToBool(v), nil
		case ",":
			return &Array{Items: []Value{v}}, nil
		case "-":
			n, err := s.toNumber(v, x.e)
			if err != nil {
				return nil, err
			}
			if i, ok := n.(int64); ok {
				return -i, nil
			}
			return -n.(float64), nil
		case "+":
			return s.toNumber(v, x.e)
		case "-join":
			items := Unroll(v)
			parts := make([]string, len(items))
			for i, it := range items {
				parts[i] = ToString(it)
			}
			return strings.Join(parts, ""), nil
		case "-split":
			var out []Value
			for _, it := range Unroll(v) {
				for _, f := range strings.FieldsFunc(ToString(it), unicode.IsSpace) {
					out = append(out, f)
				}
			}
			return &Array{Items: out}, nil
		}
		return nil, fmt.Errorf("pwsh: unknown unary operator %s", x.op)
	case *binaryExpr:
		return s.binary(x)
	case *arrayLiteral:
		items := make([]Value, len(x.items))
		for i, it := range x.items {
			v, err := s.eval(it)
			if err != nil {
				return nil, err
			}
			items[i] = v
		}
		return &Array{Items: items}, nil
	case *castExpr:
		v, err := s.eval(x.operand)
		if err != nil {
			return nil, err
		}
		return s.cast(x.typ, v, x.e)
	case *typeExpr:
		return &typeValue{name: x.typ}, nil
	}
	return nil, fmt.Errorf("pwsh: unknown expression %T", e)
}

// typeValue is a type literal used as a value ([string] alone).
type typeValue struct{ name string }

func (s *session) joinOFS(items []Value) string {
	sep := ToString(s.getVar("OFS"))
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = ToString(it)
	}
	return strings.Join(parts, sep)
}

func (s *session) lookupVar(name string) Value {
	switch strings.ToLower(name) {
	case "true":
		return true
	case "false":
		return false
	case "null":
		return nil
	case "_", "psitem":
		if s.hasDollarBar {
			return s.dollarBar
		}
		return nil
	case "?":
		return s.dollarQ
	case "error":
		return &Array{Items: append([]Value(nil), s.errors...)}
	case "input":
		var items []Value
		for {
			l := s.readLine()
			if l == nil {
				break
			}
			items = append(items, l)
		}
		return &Array{Items: items}
	}
	return s.getVar(name)
}

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
				for _, it := range o.Items {
					if equalValues(it, args[0], false) {
						return true, nil
					}
				}
				return false, nil
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
				for _, it := range o.Items {
					if equalValues(it, args[0], false) {
						return true, nil
					}
				}
				return false, nil
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

func numToFloat(n Value) float64 {
	switch x := n.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func formatNumber(v Value, f string) string {
	switch strings.ToUpper(f) {
	case "D", "":
		return ToString(v)
	case "N0":
		n, _ := toInt(v)
		return strconv.FormatInt(n, 10)
	}
	return ToString(v)
}

// formatDate implements DateTime.ToString(format) for the round-trip
// format "o" and common custom patterns.
func formatDate(t time.Time, f string) string {
	switch f {
	case "o", "O":
		frac := fmt.Sprintf("%07d", t.Nanosecond()/100)
		base := t.Format("2006-01-02T15:04:05") + "." + frac
		if t.Location() == time.UTC {
			return base + "Z"
		}
		return base + t.Format("-07:00")
	case "s":
		return t.Format("2006-01-02T15:04:05")
	case "u":
		return t.Format("2006-01-02 15:04:05Z")
	case "":
		return ToString(t)
	}
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05", "fff", "000")
	return t.Format(r.Replace(f))
}

func stringMethod(str, name string, args []Value) (Value, bool, error) {
	argc := len(args)
	arg := func(i int) string { return ToString(args[i]) }
	switch name {
	case "trim", "trimstart", "trimend":
		cut := " \t\r\n\v\f\u00a0\u0085"
		if argc >= 1 {
			var b strings.Builder
			for _, a := range args {
				b.WriteString(ToString(a))
			}
			cut = b.String()
		}
		switch name {
		case "trim":
			if argc == 0 {
				return strings.TrimFunc(str, unicode.IsSpace), true, nil
			}
			return strings.Trim(str, cut), true, nil
		case "trimstart":
			if argc == 0 {
				return strings.TrimLeftFunc(str, unicode.IsSpace), true, nil
			}
			return strings.TrimLeft(str, cut), true, nil
		}
		if argc == 0 {
			return strings.TrimRightFunc(str, unicode.IsSpace), true, nil
		}
		return strings.TrimRight(str, cut), true, nil
	case "tolower", "tolowerinvariant":
		if argc == 0 {
			return strings.ToLower(str), true, nil
		}
	case "toupper", "toupperinvariant":
		if argc == 0 {
			return strings.ToUpper(str), true, nil
		}
	case "contains":
		if argc == 1 {
			return strings.Contains(str, arg(0)), true, nil
		}
	case "startswith":
		if argc == 1 {
			return strings.HasPrefix(str, arg(0)), true, nil
		}
	case "endswith":
		if argc == 1 {
			return strings.HasSuffix(str, arg(0)), true, nil
		}
	case "replace":
		if argc == 2 {
			if arg(0) == "" {
				return nil, true, fmt.Errorf("String cannot be of zero length.\r\nParameter name: oldValue")
			}
			return strings.ReplaceAll(str, arg(0), arg(1)), true, nil
		}
	case "split":
		if argc >= 1 {
			// .NET Framework: Split(params char[] separator): every character separates
			var seps []rune
			for _, a := range args {
				if arr, ok := a.(*Array); ok {
					for _, it := range arr.Items {
						seps = append(seps, []rune(ToString(it))...)
					}
				} else {
					seps = append(seps, []rune(ToString(a))...)
				}
			}
			parts := splitRunes(str, seps)
			out := make([]Value, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return &Array{Items: out}, true, nil
		}
		if argc == 0 {
			parts := splitRunes(str, nil)
			out := make([]Value, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return &Array{Items: out}, true, nil
		}
	case "substring":
		rs := utf16Units(str)
		if argc == 1 || argc == 2 {
			a, err := toInt(args[0])
			if err != nil {
				return nil, true, err
			}
			n := int64(len(rs)) - a
			if argc == 2 {
				n, err = toInt(args[1])
				if err != nil {
					return nil, true, err
				}
			}
			if a < 0 || n < 0 || a+n > int64(len(rs)) {
				return nil, true, fmt.Errorf("startIndex cannot be larger than length of string.\r\nParameter name: startIndex")
			}
			return utf16ToString(rs[a : a+n]), true, nil
		}
	case "indexof":
		if argc == 1 {
			i := strings.Index(str, arg(0))
			if i < 0 {
				return int64(-1), true, nil
			}
			return int64(len(utf16Units(str[:i]))), true, nil
		}
	case "padleft", "padright":
		if argc >= 1 {
			n, err := toInt(args[0])
			if err != nil {
				return nil, true, err
			}
			pad := " "
			if argc == 2 {
				pad = arg(1)
			}
			cur := int64(len(utf16Units(str)))
			if cur >= n || pad == "" {
				return str, true, nil
			}
			fill := strings.Repeat(string([]rune(pad)[0]), int(n-cur))
			if name == "padleft" {
				return fill + str, true, nil
			}
			return str + fill, true, nil
		}
	case "equals":
		if argc == 1 {
			return str == arg(0), true, nil
		}
	case "tochararray":
		var out []Value
		for _, r := range str {
			out = append(out, string(r))
		}
		return &Array{Items: out}, true, nil
	}
	return nil, false, nil
}

func splitRunes(s string, seps []rune) []string {
	var out []string
	start := 0
	rs := []rune(s)
	isSep := func(r rune) bool {
		if seps == nil {
			return unicode.IsSpace(r)
		}
		for _, c := range seps {
			if c == r {
				return true
			}
		}
		return false
	}
	for i, r := range rs {
		if isSep(r) {
			out = append(out, string(rs[start:i]))
			start = i + 1
		}
	}
	out = append(out, string(rs[start:]))
	return out
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

// toNumber converts for arithmetic: int64 or float64.
func (s *session) toNumber(v Value, at extent) (Value, error) {
	switch x := Normalize(v).(type) {
	case int64, float64:
		return x, nil
	case nil:
		return int64(0), nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case *Flags:
		return x.Value, nil
	case Char:
		return int64(x), nil
	case string:
		t := strings.TrimSpace(x)
		if t == "" {
			return int64(0), nil
		}
		if n, ok := parseNumber(t); ok {
			return n, nil
		}
		return nil, s.runtimeError(at, "InvalidCastFromStringToDoubleOrSingle", CatInvalidArgument,
			fmt.Sprintf("Cannot convert value \"%s\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", x), nil)
	}
	return nil, s.runtimeError(at, "ConvertToFinalInvalidCastException", CatInvalidArgument,
		fmt.Sprintf("Cannot convert the \"%s\" value of type \"%s\" to type \"System.Int32\".", ToString(v), typeOfName(v)), nil)
}

func (s *session) arith(op string, l, r Value, at extent) (Value, error) {
	l, r = Normalize(l), Normalize(r)
	if op == "+" {
		switch x := l.(type) {
		case nil:
			if a, ok := r.(*Array); ok {
				return &Array{Items: append([]Value(nil), a.Items...)}, nil
			}
			return r, nil
		case *Array:
			if len(x.Items)+len(Unroll(r)) > maxArray {
				return nil, s.outOfMemory(at)
			}
			items := append(make([]Value, 0, len(x.Items)+1), x.Items...)
			if ra, ok := r.(*Array); ok {
				items = append(items, ra.Items...)
			} else if rl, ok := r.(*List); ok {
				items = append(items, rl.Items...)
			} else {
				items = append(items, r)
			}
			return &Array{Items: items}, nil
		case *List:
			items := append([]Value(nil), x.Items...)
			items = append(items, Unroll(r)...)
			if r == nil {
				items = append(items, nil)
			}
			return &Array{Items: items}, nil
		case string:
			if ra, ok := r.(*Array); ok {
				return x + s.joinOFS(ra.Items), nil
			}
			return x + ToString(r), nil
		case *Hashtable:
			rh, ok := r.(*Hashtable)
			if !ok {
				return nil, s.runtimeError(at, "AddHashTableToNonHashTable", CatInvalidOperation, "A hash table can only be added to another hash table.", nil)
			}
			out := &Hashtable{Ordered: x.Ordered}
			for _, e := range x.Entries() {
				out.Set(e.Name, e.Value)
			}
			for _, e := range rh.Entries() {
				if _, dup := out.Get(e.Name); dup {
					return nil, s.runtimeError(at, "System.ArgumentException", CatNotSpecified,
						fmt.Sprintf("Item has already been added. Key in dictionary: '%s'  Key being added: '%s'", e.Name, e.Name), nil)
				}
				out.Set(e.Name, e.Value)
			}
			return out, nil
		}
	}
	if op == "*" {
		switch x := l.(type) {
		case string:
			n, err := toInt(r)
			if err != nil || n < 0 {
				return nil, s.runtimeError(at, "InvalidCastFromStringToInteger", CatInvalidArgument, fmt.Sprintf("Cannot convert value \"%s\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", ToString(r)), nil)
			}
			if len(x) > 0 && n > maxRepeat/int64(len(x)) {
				return nil, s.outOfMemory(at)
			}
			return strings.Repeat(x, int(n)), nil
		case *Array:
			n, err := toInt(r)
			if err != nil || n < 0 {
				return nil, s.runtimeError(at, "InvalidCastFromStringToInteger", CatInvalidArgument, fmt.Sprintf("Cannot convert value \"%s\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"", ToString(r)), nil)
			}
			if len(x.Items) > 0 && n > maxArray/int64(len(x.Items)) {
				return nil, s.outOfMemory(at)
			}
			var items []Value
			for i := int64(0); i < n; i++ {
				items = append(items, x.Items...)
			}
			return &Array{Items: items}, nil
		}
	}
	switch l.(type) {
	case int64, float64, nil, bool, string, *Flags:
	default:
		opName := map[string]string{"+": "op_Addition", "-": "op_Subtraction", "*": "op_Multiply", "/": "op_Division", "%": "op_Modulus"}[op]
		return nil, s.runtimeError(at, "MethodNotFound", CatInvalidOperation,
			fmt.Sprintf("Method invocation failed because [%s] does not contain a method named '%s'.", typeOfName(l), opName), nil)
	}
	ln, err := s.toNumber(l, at)
	if err != nil {
		return nil, err
	}
	rn, err := s.toNumber(r, at)
	if err != nil {
		return nil, err
	}
	li, lInt := ln.(int64)
	ri, rInt := rn.(int64)
	if lInt && rInt {
		switch op {
		case "+":
			if sum := li + ri; (sum > li) == (ri > 0) {
				return sum, nil
			}
		case "-":
			if d := li - ri; (d < li) == (ri > 0) {
				return d, nil
			}
		case "*":
			if li == 0 || ri == 0 {
				return int64(0), nil
			}
			if p := li * ri; p/ri == li && !(li == -1 && ri == math.MinInt64) && !(ri == -1 && li == math.MinInt64) {
				return p, nil
			}
		case "/":
			if ri == 0 {
				return nil, s.divZero(at)
			}
			if li%ri == 0 {
				return li / ri, nil
			}
			return float64(li) / float64(ri), nil
		case "%":
			if ri == 0 {
				return nil, s.divZero(at)
			}
			return li % ri, nil
		}
	}
	lf, rf := numToFloat(ln), numToFloat(rn)
	switch op {
	case "+":
		return lf + rf, nil
	case "-":
		return lf - rf, nil
	case "*":
		return lf * rf, nil
	case "/":
		if rf == 0 && lInt && rInt {
			return nil, s.divZero(at)
		}
		return lf / rf, nil
	case "%":
		return math.Mod(lf, rf), nil
	}
	return nil, fmt.Errorf("pwsh: unknown operator %s", op)
}

// maxRepeat bounds string and array repetition (where .NET would run out of memory).
const maxRepeat = 1 << 26

// maxArray bounds the arrays + and * build (16M elements).
const maxArray = 1 << 24

func (s *session) outOfMemory(at extent) error {
	return s.runtimeError(at, "System.OutOfMemoryException", CatNotSpecified, "Exception of type 'System.OutOfMemoryException' was thrown.", nil)
}

func (s *session) divZero(at extent) error {
	e := &Error{Message: "Attempted to divide by zero.", Category: CatNotSpecified, ErrorID: "RuntimeException"}
	return &psThrow{rec: &ErrorRecord{Err: e, FullyQualifiedErrorId: "RuntimeException", Line: at.line, Column: at.col, LineText: at.lineText, posExt: at}}
}

func (s *session) binary(x *binaryExpr) (Value, error) {
	switch x.op {
	case "-and", "-or":
		l, err := s.eval(x.l)
		if err != nil {
			return nil, err
		}
		lb := ToBool(l)
		if x.op == "-and" && !lb {
			return false, nil
		}
		if x.op == "-or" && lb {
			return true, nil
		}
		r, err := s.eval(x.r)
		if err != nil {
			return nil, err
		}
		return ToBool(r), nil
	}
	l, err := s.eval(x.l)
	if err != nil {
		return nil, err
	}
	r, err := s.eval(x.r)
	if err != nil {
		return nil, err
	}
	switch x.op {
	case "-f":
		return s.format(ToString(l), r, x.e)
	case "-xor":
		return ToBool(l) != ToBool(r), nil
	case "+", "-", "*", "/", "%":
		return s.arith(x.op, l, r, x.e)
	case "-join":
		items := Unroll(l)
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = ToString(it)
		}
		return strings.Join(parts, ToString(r)), nil
	case "-split", "-csplit":
		return s.split(l, r, x.op == "-csplit", x.e)
	case "-is", "-isnot":
		t, ok := r.(*typeValue)
		if !ok {
			return nil, s.runtimeError(x.e, "IsOperatorRequiresType", CatInvalidOperation, "The right operand of '-is' must be a type.", nil)
		}
		res := isType(l, t.name)
		if x.op == "-isnot" {
			res = !res
		}
		return res, nil
	}
	op := x.op
	cs := false
	switch {
	case strings.HasPrefix(op, "-c") && op != "-contains":
		cs = true
		op = "-" + op[2:]
	case strings.HasPrefix(op, "-i") && op != "-in" && op != "-is" && op != "-isnot":
		op = "-" + op[2:]
	}
	switch op {
	case "-contains", "-notcontains":
		found := false
		for _, it := range Unroll(l) {
			if equalValues(it, r, cs) {
				found = true
				break
			}
		}
		if l == nil {
			found = r == nil
		}
		return found == (op == "-contains"), nil
	case "-in", "-notin":
		found := false
		for _, it := range Unroll(r) {
			if equalValues(it, l, cs) {
				found = true
				break
			}
		}
		return found == (op == "-in"), nil
	}
	// comparison: an array on the left filters
	if arr, ok := l.(*Array); ok {
		out := []Value{}
		for _, it := range arr.Items {
			ok, err := s.compare(op, it, r, cs, x.e, false)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, it)
			}
		}
		return &Array{Items: out}, nil
	}
	if lst, ok := l.(*List); ok {
		out := []Value{}
		for _, it := range lst.Items {
			ok, err := s.compare(op, it, r, cs, x.e, false)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, it)
			}
		}
		return &Array{Items: out}, nil
	}
	return s.compare(op, l, r, cs, x.e, true)
}

func (s *session) split(l, r Value, cs bool, at extent) (Value, error) {
	pattern := r
	limit := int64(0)
	if a, ok := r.(*Array); ok && len(a.Items) >= 1 {
		pattern = a.Items[0]
		if len(a.Items) >= 2 {
			n, err := toInt(a.Items[1])
			if err == nil {
				limit = n
			}
		}
	}
	re, err := compileRegex(ToString(pattern), !cs)
	if err != nil {
		return nil, s.regexError(at, ToString(pattern), err)
	}
	var out []Value
	for _, it := range Unroll(l) {
		n := -1
		if limit > 0 {
			n = int(limit)
		}
		for _, p := range re.Split(ToString(it), n) {
			out = append(out, p)
		}
	}
	return &Array{Items: out}, nil
}

func (s *session) regexError(at extent, pattern string, err error) error {
	return s.runtimeError(at, "InvalidRegularExpression", CatInvalidOperation,
		fmt.Sprintf("The regular expression pattern %s is not valid.", pattern), pattern)
}

var regexCache sync.Map

func compileRegex(p string, ci bool) (*regexp.Regexp, error) {
	key := p
	if ci {
		key = "(?i)" + p
	}
	if v, ok := regexCache.Load(key); ok {
		return v.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(key)
	if err != nil {
		return nil, err
	}
	regexCache.Store(key, re)
	return re, nil
}

// compare evaluates a scalar comparison; setMatches controls $Matches for -match.
func (s *session) compare(op string, l, r Value, cs bool, at extent, setMatches bool) (bool, error) {
	switch op {
	case "-eq":
		return equalValues(l, r, cs), nil
	case "-ne":
		return !equalValues(l, r, cs), nil
	case "-like", "-notlike":
		m := wildcardMatch(ToString(r), ToString(l), !cs)
		return m == (op == "-like"), nil
	case "-match", "-notmatch":
		re, err := compileRegex(ToString(r), !cs)
		if err != nil {
			return false, s.regexError(at, ToString(r), err)
		}
		str := ToString(l)
		m := re.FindStringSubmatch(str)
		if m != nil && setMatches && op == "-match" {
			h := &Hashtable{}
			names := re.SubexpNames()
			for i := len(m) - 1; i >= 0; i-- {
				if i > 0 && m[i] == "" {
					idx := re.FindStringSubmatchIndex(str)
					if idx[2*i] < 0 {
						continue
					}
				}
				key := strconv.Itoa(i)
				if names[i] != "" {
					key = names[i]
				}
				h.Set(key, m[i])
			}
			s.setVar("Matches", h)
		}
		return (m != nil) == (op == "-match"), nil
	case "-gt", "-ge", "-lt", "-le":
		c, err := s.order(l, r, cs, at)
		if err != nil {
			return false, err
		}
		switch op {
		case "-gt":
			return c > 0, nil
		case "-ge":
			return c >= 0, nil
		case "-lt":
			return c < 0, nil
		}
		return c <= 0, nil
	}
	return false, fmt.Errorf("pwsh: unknown operator %s", op)
}

// equalValues is -eq with the right operand converted to the left's type.
func equalValues(l, r Value, cs bool) bool {
	l, r = Normalize(l), Normalize(r)
	switch x := l.(type) {
	case nil:
		return r == nil
	case Char:
		if r == nil {
			return false
		}
		if cs {
			return x.String() == ToString(r)
		}
		return strings.EqualFold(x.String(), ToString(r))
	case string:
		if r == nil {
			return false
		}
		if cs {
			return x == ToString(r)
		}
		return strings.EqualFold(x, ToString(r))
	case int64, float64:
		if r == nil {
			return false
		}
		var rn Value
		switch y := r.(type) {
		case int64, float64:
			rn = y
		case bool:
			rn = int64(0)
			if y {
				rn = int64(1)
			}
		case string:
			t := strings.TrimSpace(y)
			n, ok := parseNumber(t)
			if !ok {
				return false
			}
			rn = n
		case *Flags:
			rn = y.Value
		default:
			return false
		}
		li, lok := x.(int64)
		ri, rok := rn.(int64)
		if lok && rok {
			return li == ri
		}
		return numToFloat(x) == numToFloat(rn)
	case bool:
		return x == ToBool(r)
	case Guid:
		switch y := r.(type) {
		case Guid:
			return x == y
		case string:
			g, err := ParseGuid(y)
			return err == nil && g == x
		}
		return false
	case *Flags:
		switch y := r.(type) {
		case *Flags:
			return x.Value == y.Value
		case int64:
			return x.Value == y
		case string:
			return strings.EqualFold(strings.ReplaceAll(x.String(), " ", ""), strings.ReplaceAll(y, " ", ""))
		}
		return false
	case time.Time:
		if y, ok := r.(time.Time); ok {
			return x.Equal(y)
		}
		return false
	case Unlimited:
		return strings.EqualFold(x.String(), ToString(r))
	case *Uri:
		if r == nil {
			return false
		}
		return x.AbsoluteUri() == ToString(r) || strings.EqualFold(x.AbsoluteUri(), ToString(r))
	case *Object:
		if y, ok := r.(*Object); ok {
			return x == y
		}
		if x.Str != nil {
			if ys, ok := r.(string); ok {
				return strings.EqualFold(x.Str(), ys)
			}
		}
		return false
	}
	return l == r
}

func (s *session) order(l, r Value, cs bool, at extent) (int, error) {
	l, r = Normalize(l), Normalize(r)
	if l == nil && r == nil {
		return 0, nil
	}
	if l == nil {
		return -1, nil
	}
	if r == nil {
		return 1, nil
	}
	switch x := l.(type) {
	case string:
		a, b := x, ToString(r)
		if !cs {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		return strings.Compare(a, b), nil
	case int64, float64, bool:
		ln, _ := s.toNumber(x, at)
		rn, err := s.toNumber(r, at)
		if err != nil {
			return 0, s.runtimeError(at, "ComparisonFailure", CatNotSpecified,
				fmt.Sprintf("Could not compare \"%s\" to \"%s\". Error: \"Cannot convert value \"%s\" to type \"%s\". Error: \"Input string was not in a correct format.\"\"", ToString(l), ToString(r), ToString(r), typeOfName(l)), nil)
		}
		li, lok := ln.(int64)
		ri, rok := rn.(int64)
		if lok && rok {
			switch {
			case li < ri:
				return -1, nil
			case li > ri:
				return 1, nil
			}
			return 0, nil
		}
		lf, rf := numToFloat(ln), numToFloat(rn)
		switch {
		case lf < rf:
			return -1, nil
		case lf > rf:
			return 1, nil
		}
		return 0, nil
	case time.Time:
		if y, ok := r.(time.Time); ok {
			return x.Compare(y), nil
		}
	case *Flags:
		rn, err := toInt(r)
		if err == nil {
			switch {
			case x.Value < rn:
				return -1, nil
			case x.Value > rn:
				return 1, nil
			}
			return 0, nil
		}
	case Unlimited:
		a, b := x.String(), ToString(r)
		return strings.Compare(strings.ToLower(a), strings.ToLower(b)), nil
	}
	return 0, s.runtimeError(at, "NotIcomparable", CatInvalidOperation,
		fmt.Sprintf("Cannot compare \"%s\" because it is not IComparable.", ToString(l)), nil)
}

// wildcardMatch implements -like patterns: * ? [set] [a-z] and ` escapes.
func wildcardMatch(pattern, s string, ci bool) bool {
	if ci {
		pattern = strings.ToLower(pattern)
		s = strings.ToLower(s)
	}
	p := []rune(pattern)
	t := []rune(s)
	// iterative matcher with backtracking on the last star
	pi, ti := 0, 0
	starP, starT := -1, 0
	for ti < len(t) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starT = pi, ti
				pi++
				continue
			case '?':
				pi++
				ti++
				continue
			case '[':
				if end, ok := matchSet(p, pi, t[ti]); end > 0 {
					if ok {
						pi = end
						ti++
						continue
					}
				} else if t[ti] == '[' {
					pi++
					ti++
					continue
				}
			case '`':
				if pi+1 < len(p) && p[pi+1] == t[ti] {
					pi += 2
					ti++
					continue
				}
				if pi+1 >= len(p) && t[ti] == '`' {
					pi++
					ti++
					continue
				}
			default:
				if p[pi] == t[ti] {
					pi++
					ti++
					continue
				}
			}
		}
		if starP >= 0 {
			starT++
			pi, ti = starP+1, starT
			continue
		}
		return false
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchSet matches c against the [..] set at p[i]; it returns the index after
// the set (0 if the set is not closed) and whether c matched.
func matchSet(p []rune, i int, c rune) (int, bool) {
	j := i + 1
	matched := false
	for j < len(p) && p[j] != ']' {
		lo := p[j]
		if j+2 < len(p) && p[j+1] == '-' && p[j+2] != ']' {
			if c >= lo && c <= p[j+2] {
				matched = true
			}
			j += 3
			continue
		}
		if lo == c {
			matched = true
		}
		j++
	}
	if j >= len(p) {
		return 0, false
	}
	return j + 1, matched
}

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
		if v == nil {
			return nil, nil
		}
		items := Unroll(v)
		out := make([]Value, len(items))
		for i, it := range items {
			out[i] = ToString(it)
		}
		return &Array{Items: out}, nil
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
