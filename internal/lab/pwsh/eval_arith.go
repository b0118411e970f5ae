package pwsh

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
)

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
	// comparison: an array or list on the left filters
	var items []Value
	switch c := l.(type) {
	case *Array:
		items = c.Items
	case *List:
		items = c.Items
	default:
		return s.compare(op, l, r, cs, x.e, true)
	}
	out := []Value{}
	for _, it := range items {
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
