package pwsh

import (
	"fmt"
	"strings"
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
