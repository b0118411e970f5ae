package pwsh

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

func pipeParam(name string, t ParamType, position int) ParamDef {
	return ParamDef{Name: name, Type: t, Position: position, ValueFromPipeline: true}
}

func sw(name string) ParamDef { return ParamDef{Name: name, Type: TSwitch} }

// invokeBlock runs a script block with $_ set (in the caller's scope, as
// ForEach-Object and Where-Object do).
func (s *session) invokeBlock(sb *ScriptBlock, bar Value, out func(Value) error) error {
	oldBar, oldHas := s.dollarBar, s.hasDollarBar
	s.dollarBar, s.hasDollarBar = bar, true
	err := s.runBody(sb.body, out)
	s.dollarBar, s.hasDollarBar = oldBar, oldHas
	if _, ok := err.(returnSignal); ok {
		return nil
	}
	return err
}

func (s *session) blockValue(sb *ScriptBlock, bar Value) (Value, error) {
	var items []Value
	err := s.invokeBlock(sb, bar, func(v Value) error { items = append(items, v); return nil })
	return collapse(items), err
}

func writeEnumerated(c *Call, v Value) error {
	switch x := v.(type) {
	case *Array:
		for _, it := range x.Items {
			if err := c.WriteObject(it); err != nil {
				return err
			}
		}
		return nil
	case *List:
		for _, it := range x.Items {
			if err := c.WriteObject(it); err != nil {
				return err
			}
		}
		return nil
	}
	return c.WriteObject(v)
}

// input returns the object to process: the pipeline object, or the bound
// InputObject when the cmdlet runs without pipeline input.
func input(c *Call) (Value, bool) {
	if c.HasInput {
		return c.Input, true
	}
	return c.Param("InputObject")
}

func registerBuiltins(h *Host) {
	for _, d := range []CmdletDef{
		selectObject(), whereObject(), forEachObject(), sortObject(), measureObject(), groupObject(), compareObject(),
		writeOutput(), writeError(), writeWarning(), writeHost(), outNull(), convertToJSON(), convertFromJSON(),
		addPSSnapin(h), startSleep(), convertToSecureString(), newObject(), getDate(),
	} {
		d.ImplementingType = "Microsoft.PowerShell.Commands." + strings.ReplaceAll(d.Name, "-", "") + "Command"
		if err := h.Register(d); err != nil {
			panic(err)
		}
	}
}

// propSpec is a Select-Object / Sort-Object property: a name (maybe with
// wildcards) or a calculated property.
type propSpec struct {
	name string
	prop string // the property an Expression names, when it is not a script block
	expr *ScriptBlock
	desc *bool
}

func propSpecs(c *Call, v Value, forSelect bool) ([]propSpec, error) {
	var out []propSpec
	for _, it := range Unroll(v) {
		switch x := it.(type) {
		case *Hashtable:
			var ps propSpec
			for _, e := range x.Entries() {
				k := strings.ToLower(e.Name)
				switch {
				case k == "n" || k == "name" || k == "l" || k == "label":
					ps.name = ToString(e.Value)
				case k == "e" || k == "expression":
					switch ev := e.Value.(type) {
					case *ScriptBlock:
						ps.expr = ev
					default:
						ps.prop = ToString(ev)
					}
				case strings.HasPrefix("descending", k) && !forSelect:
					b := ToBool(e.Value)
					ps.desc = &b
				case strings.HasPrefix("ascending", k) && !forSelect:
					b := !ToBool(e.Value)
					ps.desc = &b
				default:
					return nil, &Error{Message: fmt.Sprintf("The %s key is not valid.", e.Name), Category: CatInvalidArgument,
						ExceptionType: "System.NotSupportedException", ErrorID: "DictionaryKeyUnknownType"}
				}
			}
			if ps.name == "" && ps.expr != nil {
				ps.name = strings.TrimSpace(ps.expr.text)
			}
			if ps.name == "" {
				ps.name = ps.prop
			}
			out = append(out, ps)
		case *ScriptBlock:
			out = append(out, propSpec{name: strings.TrimSpace(x.text), expr: x})
		default:
			out = append(out, propSpec{name: ToString(x)})
		}
	}
	return out, nil
}

func (s *session) specValue(ps propSpec, obj Value) (Value, error) {
	if ps.expr != nil {
		return s.blockValue(ps.expr, obj)
	}
	if ps.prop != "" {
		v, _ := s.cmdletProp(obj, ps.prop)
		return v, nil
	}
	v, _ := s.cmdletProp(obj, ps.name)
	return v, nil
}

// cmdletProp reads a property as cmdlets (Select-Object, Sort-Object,
// Where-Object's simple form, ForEach-Object -MemberName) do, through the
// object's properties: unlike $h.key in the language, a hashtable's keys are
// not properties there.
func (s *session) cmdletProp(obj Value, name string) (Value, bool) {
	switch o := obj.(type) {
	case *Object:
		return o.Get(name)
	case *Hashtable:
		switch strings.ToLower(name) {
		case "count":
			return int64(o.Len()), true
		case "keys", "values":
			out := make([]Value, o.Len())
			for i, e := range o.Entries() {
				if strings.EqualFold(name, "keys") {
					out[i] = e.Name
				} else {
					out[i] = e.Value
				}
			}
			return &Array{Items: out}, true
		case "isreadonly", "isfixedsize", "issynchronized":
			return false, true
		}
		return nil, false
	case nil:
		return nil, false
	}
	v := s.member(obj, name)
	return v, v != nil
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

func propNames(v Value) []string {
	switch x := v.(type) {
	case *Object:
		out := make([]string, len(x.Props()))
		for i, p := range x.Props() {
			out[i] = p.Name
		}
		return out
	case *Hashtable:
		// a hashtable's own properties, as Select-Object sees them
		return []string{"IsReadOnly", "IsFixedSize", "IsSynchronized", "Keys", "Values", "SyncRoot", "Count"}
	case string:
		return []string{"Length"}
	}
	return nil
}

func selectObject() CmdletDef {
	type state struct {
		specs []propSpec
		count int64
		seen  map[string]bool
		last  []Value
		skip  int64
	}
	return CmdletDef{
		Name: "Select-Object",
		Params: []ParamDef{
			{Name: "Property", Type: TObjectArray, Position: 1},
			{Name: "ExpandProperty", Type: TString},
			{Name: "ExcludeProperty", Type: TStringArray},
			{Name: "First", Type: TInt},
			{Name: "Last", Type: TInt},
			{Name: "Skip", Type: TInt},
			sw("Unique"),
			pipeParam("InputObject", TObject, 0),
		},
		Begin: func(c *Call) error {
			st := &state{seen: map[string]bool{}}
			c.State = st
			if v, ok := c.Param("Property"); ok {
				specs, err := propSpecs(c, v, true)
				if err != nil {
					return err
				}
				st.specs = specs
			}
			if v, ok := c.Param("Skip"); ok {
				st.skip = v.(int64)
			}
			return nil
		},
		Process: func(c *Call) error {
			in, ok := input(c)
			if !ok {
				return nil
			}
			st := c.State.(*state)
			s := c.inv.sess
			if st.skip > 0 {
				st.skip--
				return nil
			}
			var outs []Value
			if name := c.String("ExpandProperty"); c.IsBound("ExpandProperty") {
				v, found := s.cmdletProp(in, name)
				if !found {
					return c.WriteError(&Error{Message: fmt.Sprintf("Property \"%s\" cannot be found.", name), Category: CatInvalidArgument,
						ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "ExpandPropertyNotFound", TargetObject: in}, CatInvalidArgument, in)
				}
				outs = append(outs, Unroll(v)...)
				if v == nil {
					outs = append(outs, nil)
				}
			} else if len(st.specs) > 0 {
				o := &Object{TypeNames: []string{"Selected." + typeOfName(in), PSCustomObjectType}}
				for _, ps := range st.specs {
					if ps.expr == nil && hasWildcard(ps.name) {
						for _, n := range propNames(in) {
							if wildcardMatch(ps.name, n, true) {
								pv, _ := s.cmdletProp(in, n)
								o.Set(n, pv)
							}
						}
						continue
					}
					v, err := s.specValue(ps, in)
					if err != nil {
						return err
					}
					pname := ps.name
					if ps.expr == nil && ps.prop == "" {
						if src, ok := in.(*Object); ok {
							for _, p := range src.Props() {
								if strings.EqualFold(p.Name, pname) {
									pname = p.Name
								}
							}
						}
					}
					ps.name = pname
					if _, dup := o.Get(ps.name); dup {
						return c.WriteError(&Error{Message: fmt.Sprintf("The property cannot be processed because the property \"%s\" already exists.", ps.name),
							Category: CatInvalidOperation, ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "AlreadyExistingUserSpecifiedPropertyNoExpand"}, CatInvalidOperation, in)
					}
					o.props = append(o.props, Prop{Name: ps.name, Value: v})
				}
				if ex, ok := c.Param("ExcludeProperty"); ok {
					for _, n := range Unroll(ex) {
						kept := o.props[:0]
						for _, p := range o.props {
							if !wildcardMatch(ToString(n), p.Name, true) {
								kept = append(kept, p)
							}
						}
						o.props = kept
					}
				}
				outs = append(outs, o)
			} else {
				outs = append(outs, in)
			}
			for _, v := range outs {
				if c.Bool("Unique") {
					k := uniqueKey(v)
					if st.seen[k] {
						continue
					}
					st.seen[k] = true
				}
				if c.IsBound("Last") {
					st.last = append(st.last, v)
					n, _ := c.Param("Last")
					if int64(len(st.last)) > n.(int64) {
						st.last = st.last[1:]
					}
					continue
				}
				if f, ok := c.Param("First"); ok {
					if st.count >= f.(int64) {
						return &stopUpstream{stage: findStage(c)}
					}
				}
				st.count++
				if err := c.WriteObject(v); err != nil {
					return err
				}
				if f, ok := c.Param("First"); ok && st.count >= f.(int64) {
					return &stopUpstream{stage: findStage(c)}
				}
			}
			return nil
		},
		End: func(c *Call) error {
			st := c.State.(*state)
			for _, v := range st.last {
				if err := c.WriteObject(v); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// findStage returns the pipeline stage of a call (for stopping upstream).
func findStage(c *Call) *cmdStage { return c.inv.stage }

func uniqueKey(v Value) string {
	switch x := v.(type) {
	case *Object:
		var b strings.Builder
		for _, p := range x.Props() {
			b.WriteString(p.Name)
			b.WriteByte('=')
			b.WriteString(ToString(p.Value))
			b.WriteByte(0)
		}
		return b.String()
	}
	return typeOfName(v) + "\x00" + ToString(v)
}

var whereOps = []string{"EQ", "NE", "GT", "GE", "LT", "LE", "Like", "NotLike", "Match", "NotMatch", "Contains", "NotContains", "In", "NotIn",
	"CEQ", "CNE", "CGT", "CGE", "CLT", "CLE", "CLike", "CNotLike", "CMatch", "CNotMatch", "CContains", "CNotContains", "CIn", "CNotIn", "Is", "IsNot"}

func whereObject() CmdletDef {
	params := []ParamDef{
		{Name: "FilterScript", Type: TObject, Position: 1},
		{Name: "Property", Type: TString},
		{Name: "Value", Type: TObject, Position: 2},
		pipeParam("InputObject", TObject, 0),
	}
	for _, op := range whereOps {
		params = append(params, sw(op))
	}
	return CmdletDef{
		Name:   "Where-Object",
		Params: params,
		Process: func(c *Call) error {
			in, ok := input(c)
			if !ok {
				return nil
			}
			s := c.inv.sess
			fs, _ := c.Param("FilterScript")
			if sb, ok := fs.(*ScriptBlock); ok {
				v, err := s.blockValue(sb, in)
				if err != nil {
					return err
				}
				if ToBool(v) {
					return c.WriteObject(in)
				}
				return nil
			}
			prop := c.String("Property")
			if !c.IsBound("Property") {
				prop = ToString(fs)
			}
			if prop == "" {
				return &Error{Message: "Parameter set cannot be resolved using the specified named parameters.", Category: CatInvalidArgument,
					ExceptionType: "System.Management.Automation.ParameterBindingException", ErrorID: "AmbiguousParameterSet"}
			}
			pv, _ := s.cmdletProp(in, prop)
			op := ""
			for _, o := range whereOps {
				if c.Bool(o) {
					op = o
				}
			}
			if op == "" {
				if ToBool(pv) {
					return c.WriteObject(in)
				}
				return nil
			}
			val, _ := c.Param("Value")
			if !c.IsBound("Value") && c.IsBound("Property") && c.IsBound("FilterScript") {
				val = fs
			}
			bin := &binaryExpr{op: "-" + strings.ToLower(op), l: &constExpr{v: pv}, r: &constExpr{v: val}, pos: pos{c.inv.pos}}
			if op == "Is" || op == "IsNot" {
				bin.r = &typeExpr{typ: strings.ToLower(ToString(val))}
			}
			res, err := s.binary(bin)
			if err != nil {
				return err
			}
			if ToBool(res) {
				return c.WriteObject(in)
			}
			return nil
		},
	}
}

func forEachObject() CmdletDef {
	return CmdletDef{
		Name: "ForEach-Object",
		Params: []ParamDef{
			{Name: "Process", Type: TObject, Position: 1},
			{Name: "Begin", Type: TScriptBlock},
			{Name: "End", Type: TScriptBlock},
			{Name: "MemberName", Type: TString},
			{Name: "ArgumentList", Type: TObjectArray, Aliases: []string{"Args"}},
			pipeParam("InputObject", TObject, 0),
		},
		Begin: func(c *Call) error {
			if v, ok := c.Param("Begin"); ok && v != nil {
				return c.inv.sess.invokeBlock(v.(*ScriptBlock), nil, func(o Value) error { return c.WriteObject(o) })
			}
			return nil
		},
		Process: func(c *Call) error {
			in, _ := input(c)
			s := c.inv.sess
			p, _ := c.Param("Process")
			if sb, ok := p.(*ScriptBlock); ok {
				return s.invokeBlock(sb, in, func(o Value) error { return c.WriteObject(o) })
			}
			if arr, ok := p.(*Array); ok {
				for _, it := range arr.Items {
					if sb, ok := it.(*ScriptBlock); ok {
						if err := s.invokeBlock(sb, in, func(o Value) error { return c.WriteObject(o) }); err != nil {
							return err
						}
					}
				}
				return nil
			}
			name := c.String("MemberName")
			if !c.IsBound("MemberName") {
				name = ToString(p)
			}
			if name == "" {
				return nil
			}
			if in == nil {
				return nil
			}
			if v, has := s.cmdletProp(in, name); has {
				return writeEnumerated(c, v)
			}
			var args []Value
			if a, ok := c.Param("ArgumentList"); ok {
				args = Unroll(a)
			}
			v, err := s.callMethod(in, name, args, c.inv.pos)
			if err != nil {
				return c.WriteError(&Error{Message: fmt.Sprintf("Input name \"%s\" cannot be resolved to a method.", name), Category: CatInvalidArgument,
					ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "MethodNotFound", TargetObject: in}, CatInvalidArgument, in)
			}
			if v == voidV {
				return nil
			}
			return writeEnumerated(c, v)
		},
		End: func(c *Call) error {
			if v, ok := c.Param("End"); ok && v != nil {
				return c.inv.sess.invokeBlock(v.(*ScriptBlock), nil, func(o Value) error { return c.WriteObject(o) })
			}
			return nil
		},
	}
}

func (s *session) sortCompare(a, b Value, cs bool) int {
	if a == nil && b == nil {
		return 0
	}
	if a == nil {
		return -1
	}
	if b == nil {
		return 1
	}
	switch a.(type) {
	case string, int64, float64, bool, time.Time:
		if c, err := s.order(a, b, cs, extent{}); err == nil {
			return c
		}
	}
	x, y := ToString(a), ToString(b)
	if !cs {
		x, y = strings.ToLower(x), strings.ToLower(y)
	}
	return strings.Compare(x, y)
}

func sortObject() CmdletDef {
	type state struct{ items []Value }
	return CmdletDef{
		Name: "Sort-Object",
		Params: []ParamDef{
			{Name: "Property", Type: TObjectArray, Position: 1},
			sw("Descending"), sw("Unique"), sw("CaseSensitive"),
			pipeParam("InputObject", TObject, 0),
		},
		Begin: func(c *Call) error { c.State = &state{}; return nil },
		Process: func(c *Call) error {
			if in, ok := input(c); ok {
				st := c.State.(*state)
				st.items = append(st.items, in)
			}
			return nil
		},
		End: func(c *Call) error {
			items := c.State.(*state).items
			s := c.inv.sess
			var specs []propSpec
			if v, ok := c.Param("Property"); ok {
				sp, err := propSpecs(c, v, false)
				if err != nil {
					return err
				}
				specs = sp
			}
			desc := c.Bool("Descending")
			cs := c.Bool("CaseSensitive")
			type row struct {
				v    Value
				keys []Value
			}
			rows := make([]row, len(items))
			for i, it := range items {
				rows[i].v = it
				if len(specs) == 0 {
					rows[i].keys = []Value{it}
					continue
				}
				for _, ps := range specs {
					k, err := s.specValue(ps, it)
					if err != nil {
						return err
					}
					rows[i].keys = append(rows[i].keys, k)
				}
			}
			cmpRows := func(a, b row) int {
				for k := range a.keys {
					c := s.sortCompare(a.keys[k], b.keys[k], cs)
					d := desc
					if len(specs) > k && specs[k].desc != nil {
						d = *specs[k].desc
					}
					if d {
						c = -c
					}
					if c != 0 {
						return c
					}
				}
				return 0
			}
			sort.SliceStable(rows, func(i, j int) bool { return cmpRows(rows[i], rows[j]) < 0 })
			for i, r := range rows {
				if c.Bool("Unique") && i > 0 && cmpRows(rows[i-1], r) == 0 {
					continue
				}
				if err := c.WriteObject(r.v); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func measureObject() CmdletDef {
	type state struct {
		count         int64
		sum, min, max float64
		seenNum       bool
	}
	return CmdletDef{
		Name: "Measure-Object",
		Params: []ParamDef{
			{Name: "Property", Type: TStringArray, Position: 1},
			sw("Sum"), sw("Average"), sw("Maximum"), sw("Minimum"),
			pipeParam("InputObject", TObject, 0),
		},
		Begin: func(c *Call) error { c.State = &state{}; return nil },
		Process: func(c *Call) error {
			in, ok := input(c)
			if !ok {
				return nil
			}
			st := c.State.(*state)
			v := in
			if p, ok := c.Param("Property"); ok {
				name := ToString(Unroll(p)[0])
				o, isObj := in.(*Object)
				if !isObj {
					return c.WriteError(&Error{Message: fmt.Sprintf("The property \"%s\" cannot be found in the input for any objects.", name), Category: CatInvalidArgument,
						ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "GenericMeasurePropertyNotFound"}, CatInvalidArgument, nil)
				}
				pv, found := o.Get(name)
				if !found {
					return nil
				}
				v = pv
			}
			st.count++
			if c.Bool("Sum") || c.Bool("Average") || c.Bool("Maximum") || c.Bool("Minimum") {
				n, err := c.inv.sess.toNumber(v, c.inv.pos)
				if err != nil {
					return c.WriteError(&Error{Message: fmt.Sprintf("Input object \"%s\" is not numeric.", ToString(v)), Category: CatInvalidType,
						ExceptionType: "System.Management.Automation.PSInvalidOperationException", ErrorID: "NonNumericInputObject", TargetObject: v}, CatInvalidType, v)
				}
				f := numToFloat(n)
				st.sum += f
				if !st.seenNum || f < st.min {
					st.min = f
				}
				if !st.seenNum || f > st.max {
					st.max = f
				}
				st.seenNum = true
			}
			return nil
		},
		End: func(c *Call) error {
			st := c.State.(*state)
			count, sum, min, max, seenNum := st.count, st.sum, st.min, st.max, st.seenNum
			opt := func(on bool, v float64) Value {
				if !on {
					return nil
				}
				return v
			}
			avg := 0.0
			if count > 0 {
				avg = sum / float64(count)
			}
			var prop Value
			if p, ok := c.Param("Property"); ok {
				prop = ToString(Unroll(p)[0])
			}
			o := NewObject("Microsoft.PowerShell.Commands.GenericMeasureInfo", "Count", count, "Average", opt(c.Bool("Average"), avg),
				"Sum", opt(c.Bool("Sum"), sum), "Maximum", opt(c.Bool("Maximum") && seenNum, max), "Minimum", opt(c.Bool("Minimum") && seenNum, min), "Property", prop)
			o.Str = func() string { return "Microsoft.PowerShell.Commands.GenericMeasureInfo" }
			return c.WriteObject(o)
		},
	}
}

func groupObject() CmdletDef {
	type group struct {
		name  string
		vals  []Value
		items []Value
	}
	type state struct {
		groups []*group
		index  map[string]*group
	}
	return CmdletDef{
		Name: "Group-Object",
		Params: []ParamDef{
			{Name: "Property", Type: TObjectArray, Position: 1},
			sw("NoElement"), sw("CaseSensitive"),
			pipeParam("InputObject", TObject, 0),
		},
		Begin: func(c *Call) error { c.State = &state{index: map[string]*group{}}; return nil },
		Process: func(c *Call) error {
			in, ok := input(c)
			if !ok {
				return nil
			}
			st := c.State.(*state)
			s := c.inv.sess
			var keys []Value
			if p, ok := c.Param("Property"); ok {
				specs, err := propSpecs(c, p, false)
				if err != nil {
					return err
				}
				for _, ps := range specs {
					k, err := s.specValue(ps, in)
					if err != nil {
						return err
					}
					keys = append(keys, k)
				}
			} else {
				keys = []Value{in}
			}
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = ToString(k)
			}
			name := strings.Join(parts, ", ")
			key := name
			if !c.Bool("CaseSensitive") {
				key = strings.ToLower(key)
			}
			g := st.index[key]
			if g == nil {
				g = &group{name: name, vals: keys}
				st.index[key] = g
				st.groups = append(st.groups, g)
			}
			g.items = append(g.items, in)
			return nil
		},
		End: func(c *Call) error {
			for _, g := range c.State.(*state).groups {
				o := NewObject("Microsoft.PowerShell.Commands.GroupInfo", "Count", int64(len(g.items)), "Name", g.name)
				if !c.Bool("NoElement") {
					o.Set("Group", &Array{Items: g.items})
				}
				o.Set("Values", &Array{Items: g.vals})
				o.Str = func() string { return "Microsoft.PowerShell.Commands.GroupInfo" }
				if err := c.WriteObject(o); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func compareObject() CmdletDef {
	type entry struct {
		v    Value
		keys []Value
	}
	type state struct {
		ref        []entry
		refIdx     int
		refBack    []entry
		diffBack   []entry
		specs      []propSpec
		window     int
		cs         bool
		includeEq  bool
		excludeDif bool
		passThru   bool
	}
	keysOf := func(s *session, v Value, specs []propSpec) []Value {
		if len(specs) == 0 {
			return []Value{v}
		}
		out := make([]Value, len(specs))
		for i, ps := range specs {
			k, _ := s.specValue(ps, v)
			out[i] = k
		}
		return out
	}
	same := func(a, b entry, cs bool) bool {
		for i := range a.keys {
			x, y := a.keys[i], b.keys[i]
			switch x.(type) {
			case string, int64, float64, bool, nil, Guid:
				if !equalValues(x, y, cs) {
					return false
				}
				continue
			}
			xs, ys := ToString(x), ToString(y)
			if cs {
				if xs != ys {
					return false
				}
			} else if !strings.EqualFold(xs, ys) {
				return false
			}
		}
		return true
	}
	emit := func(st *state, c *Call, e entry, side string) error {
		if side == "==" && !st.includeEq {
			return nil
		}
		if side != "==" && st.excludeDif {
			return nil
		}
		if st.passThru {
			if o, ok := e.v.(*Object); ok {
				cp := &Object{TypeNames: o.TypeNames, Str: o.Str, Methods: o.Methods, props: append([]Prop(nil), o.props...)}
				cp.Set("SideIndicator", side)
				return c.WriteObject(cp)
			}
			return c.WriteObject(e.v)
		}
		o := &Object{TypeNames: []string{PSCustomObjectType}}
		if len(st.specs) == 0 {
			o.Set("InputObject", e.v)
		} else {
			for i, ps := range st.specs {
				o.props = append(o.props, Prop{Name: ps.name, Value: e.keys[i]})
			}
		}
		o.Set("SideIndicator", side)
		return c.WriteObject(o)
	}
	matchAndRemove := func(st *state, e *entry, back *[]entry) *entry {
		if e == nil {
			return nil
		}
		for i, b := range *back {
			if same(*e, b, st.cs) {
				m := b
				*back = append((*back)[:i:i], (*back)[i+1:]...)
				return &m
			}
		}
		return nil
	}
	process := func(st *state, c *Call, diff *entry) error {
		var ref *entry
		if st.refIdx < len(st.ref) {
			r := st.ref[st.refIdx]
			ref = &r
			st.refIdx++
		}
		if ref != nil && diff != nil && same(*ref, *diff, st.cs) {
			return emit(st, c, *ref, "==")
		}
		if m := matchAndRemove(st, diff, &st.refBack); m != nil {
			if err := emit(st, c, *m, "=="); err != nil {
				return err
			}
			diff = nil
		}
		if m := matchAndRemove(st, ref, &st.diffBack); m != nil {
			if err := emit(st, c, *ref, "=="); err != nil {
				return err
			}
			ref = nil
		}
		if diff != nil {
			if len(st.diffBack) >= st.window {
				if err := emit(st, c, st.diffBack[0], "=>"); err != nil {
					return err
				}
				st.diffBack = st.diffBack[1:]
			}
			st.diffBack = append(st.diffBack, *diff)
		}
		if ref != nil {
			if len(st.refBack) >= st.window {
				if err := emit(st, c, st.refBack[0], "<="); err != nil {
					return err
				}
				st.refBack = st.refBack[1:]
			}
			st.refBack = append(st.refBack, *ref)
		}
		return nil
	}
	nullArg := func(name string) error {
		return &Error{Message: fmt.Sprintf("Cannot bind argument to parameter '%s' because it is null.", name), Category: CatInvalidData,
			ExceptionType: "System.Management.Automation.ParameterBindingValidationException", ErrorID: "ParameterArgumentValidationErrorNullNotAllowed"}
	}
	return CmdletDef{
		Name: "Compare-Object",
		Params: []ParamDef{
			{Name: "ReferenceObject", Type: TObjectArray, Position: 1, Mandatory: true, AllowEmpty: true},
			{Name: "DifferenceObject", Type: TObjectArray, Position: 2, Mandatory: true, ValueFromPipeline: true, AllowEmpty: true},
			{Name: "Property", Type: TObjectArray},
			{Name: "SyncWindow", Type: TInt},
			sw("IncludeEqual"), sw("ExcludeDifferent"), sw("PassThru"), sw("CaseSensitive"),
		},
		Begin: func(c *Call) error {
			s := c.inv.sess
			st := &state{window: 1<<31 - 1, cs: c.Bool("CaseSensitive"), includeEq: c.Bool("IncludeEqual"),
				excludeDif: c.Bool("ExcludeDifferent"), passThru: c.Bool("PassThru")}
			if c.Bool("ExcludeDifferent") {
				st.includeEq = true
			}
			if w, ok := c.Param("SyncWindow"); ok {
				st.window = int(w.(int64))
			}
			if p, ok := c.Param("Property"); ok {
				specs, err := propSpecs(c, p, true)
				if err != nil {
					return err
				}
				st.specs = specs
			}
			ref, _ := c.Param("ReferenceObject")
			if ref == nil {
				return nullArg("ReferenceObject")
			}
			for _, it := range Unroll(ref) {
				st.ref = append(st.ref, entry{v: it, keys: keysOf(s, it, st.specs)})
			}
			c.State = st
			return nil
		},
		Process: func(c *Call) error {
			s := c.inv.sess
			st := c.State.(*state)
			diff, _ := c.Param("DifferenceObject")
			if diff == nil {
				return nullArg("DifferenceObject")
			}
			for _, it := range Unroll(diff) {
				e := entry{v: it, keys: keysOf(s, it, st.specs)}
				if err := process(st, c, &e); err != nil {
					return err
				}
			}
			return nil
		},
		End: func(c *Call) error {
			st := c.State.(*state)
			for st.refIdx < len(st.ref) {
				if err := process(st, c, nil); err != nil {
					return err
				}
			}
			for _, e := range st.diffBack {
				if err := emit(st, c, e, "=>"); err != nil {
					return err
				}
			}
			for _, e := range st.refBack {
				if err := emit(st, c, e, "<="); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func writeOutput() CmdletDef {
	return CmdletDef{
		Name:   "Write-Output",
		Params: []ParamDef{{Name: "InputObject", Type: TObject, Position: 1, ValueFromPipeline: true, ValueFromRemainingArguments: true}, sw("NoEnumerate")},
		Process: func(c *Call) error {
			if c.HasInput {
				return c.WriteObject(c.Input)
			}
			v, ok := c.Param("InputObject")
			if !ok {
				return nil
			}
			if a, ok := v.(*Array); ok && len(a.Items) == 1 {
				v = a.Items[0]
			}
			if c.Bool("NoEnumerate") {
				return c.WriteObject(v)
			}
			if v == nil {
				return c.WriteObject(nil)
			}
			return writeEnumerated(c, v)
		},
	}
}

func writeError() CmdletDef {
	return CmdletDef{
		Name: "Write-Error",
		Params: []ParamDef{
			{Name: "Message", Type: TString, Position: 1, ValueFromPipeline: true, Aliases: []string{"Msg"}},
			{Name: "Category", Type: TString},
			{Name: "ErrorId", Type: TString},
			{Name: "TargetObject", Type: TObject},
			{Name: "ErrorRecord", Type: TObject},
			{Name: "Exception", Type: TObject},
		},
		Process: func(c *Call) error {
			inv := c.inv
			if er, ok := c.Param("ErrorRecord"); ok {
				if rec, ok := er.(*ErrorRecord); ok {
					return inv.sess.nonTerminating(rec, inv.errAction, inv)
				}
			}
			msg := c.String("Message")
			cat := CatNotSpecified
			if v := c.String("Category"); v != "" {
				cat = ErrorCategory(v)
			}
			id := "Microsoft.PowerShell.Commands.WriteErrorException"
			if v := c.String("ErrorId"); v != "" {
				id = v
			}
			target, _ := c.Param("TargetObject")
			e := &Error{Message: msg, Category: cat, ExceptionType: "Microsoft.PowerShell.Commands.WriteErrorException", TargetObject: target}
			// Write-Error in a script attributes the record to the script
			// itself: PowerShell 5.1 prints the script text, " : ", the
			// message, and no position lines.
			rec := &ErrorRecord{Err: e, Command: inv.sess.script, activity: "Write-Error", FullyQualifiedErrorId: id}
			return inv.sess.nonTerminating(rec, inv.errAction, inv)
		},
	}
}

func writeWarning() CmdletDef {
	return CmdletDef{
		Name:   "Write-Warning",
		Params: []ParamDef{{Name: "Message", Type: TString, Position: 1, ValueFromPipeline: true, Mandatory: true, AllowEmpty: true, Aliases: []string{"Msg"}}},
		Process: func(c *Call) error {
			return c.WriteWarning(c.String("Message"))
		},
	}
}

func writeHost() CmdletDef {
	return CmdletDef{
		Name: "Write-Host",
		Params: []ParamDef{
			{Name: "Object", Type: TObject, Position: 1, ValueFromPipeline: true, ValueFromRemainingArguments: true, Aliases: []string{"Msg", "Message"}},
			sw("NoNewline"),
			{Name: "Separator", Type: TObject},
			{Name: "ForegroundColor", Type: TString},
			{Name: "BackgroundColor", Type: TString},
		},
		Process: func(c *Call) error {
			s := c.inv.sess
			var v Value
			if c.HasInput {
				v = c.Input
			} else {
				v, _ = c.Param("Object")
			}
			sep := " "
			if sv, ok := c.Param("Separator"); ok {
				sep = ToString(sv)
			}
			var parts []string
			var flatten func(Value)
			flatten = func(x Value) {
				switch y := x.(type) {
				case *Array:
					for _, it := range y.Items {
						flatten(it)
					}
				case *List:
					for _, it := range y.Items {
						flatten(it)
					}
				default:
					parts = append(parts, ToString(y))
				}
			}
			flatten(v)
			s.out.WriteString(strings.Join(parts, sep))
			if !c.Bool("NoNewline") {
				s.out.WriteString("\r\n")
			}
			return nil
		},
	}
}

func outNull() CmdletDef {
	return CmdletDef{
		Name:    "Out-Null",
		Params:  []ParamDef{pipeParam("InputObject", TObject, 0)},
		Process: func(c *Call) error { return nil },
	}
}

func convertToJSON() CmdletDef {
	type state struct {
		items []Value
		any   bool
	}
	return CmdletDef{
		Name: "ConvertTo-Json",
		Params: []ParamDef{
			{Name: "InputObject", Type: TObject, Position: 1, ValueFromPipeline: true, Mandatory: true, AllowNull: true, AllowEmpty: true},
			{Name: "Depth", Type: TInt},
			sw("Compress"),
		},
		Begin: func(c *Call) error { c.State = &state{}; return nil },
		Process: func(c *Call) error {
			st := c.State.(*state)
			if c.HasInput {
				st.items = append(st.items, c.Input)
				st.any = true
				return nil
			}
			if v, ok := c.Param("InputObject"); ok {
				st.items = append(st.items, v)
				st.any = true
			}
			return nil
		},
		End: func(c *Call) error {
			st := c.State.(*state)
			items := st.items
			st.items = nil
			if !st.any {
				return nil
			}
			depth := int64(2)
			if d, ok := c.Param("Depth"); ok {
				depth = d.(int64)
				if depth > 100 || depth < 1 {
					return &Error{Message: fmt.Sprintf("Cannot validate argument on parameter 'Depth'. The %d argument is %s than the %s allowed range of 100. Supply an argument that is %s than or equal to %s and then try the command again.",
						depth, map[bool]string{true: "greater", false: "less"}[depth > 100], map[bool]string{true: "maximum", false: "minimum"}[depth > 100],
						map[bool]string{true: "less", false: "greater"}[depth > 100], map[bool]string{true: "100", false: "1"}[depth > 100]),
						Category: CatInvalidData, ExceptionType: "System.Management.Automation.ParameterBindingValidationException", ErrorID: "ParameterArgumentValidationError"}
				}
			}
			var v Value
			if len(items) == 1 {
				v = items[0]
			} else {
				v = &Array{Items: items}
			}
			items = nil
			out := ToJSON(v, int(depth), c.Bool("Compress"))
			return c.WriteObject(out)
		},
	}
}

func convertFromJSON() CmdletDef {
	type state struct{ parts []string }
	return CmdletDef{
		Name:   "ConvertFrom-Json",
		Params: []ParamDef{{Name: "InputObject", Type: TString, Position: 1, ValueFromPipeline: true, Mandatory: true, AllowEmpty: true}},
		Begin:  func(c *Call) error { c.State = &state{}; return nil },
		Process: func(c *Call) error {
			st := c.State.(*state)
			if c.HasInput {
				st.parts = append(st.parts, ToString(c.Input))
				return nil
			}
			st.parts = append(st.parts, c.String("InputObject"))
			return nil
		},
		End: func(c *Call) error {
			text := strings.Join(c.State.(*state).parts, "\n")
			if strings.TrimSpace(text) == "" {
				return nil
			}
			v, err := FromJSON(text)
			if err != nil {
				return &Error{Message: err.Error(), Category: CatNotSpecified, ExceptionType: "System.ArgumentException", ErrorID: "System.ArgumentException"}
			}
			return c.WriteObject(v)
		},
	}
}

func addPSSnapin(h *Host) CmdletDef {
	return CmdletDef{
		Name:   "Add-PSSnapin",
		Params: []ParamDef{{Name: "Name", Type: TStringArray, Position: 1, Mandatory: true}, sw("PassThru")},
		Process: func(c *Call) error {
			s := c.inv.sess
			names, _ := c.Param("Name")
			for _, n := range Unroll(names) {
				name := ToString(n)
				if !h.knownSnapin(name) {
					if err := c.WriteError(&Error{Message: fmt.Sprintf("The Windows PowerShell snap-in '%s' is not installed on this computer.", name),
						Category: CatInvalidArgument, ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "AddPSSnapInRead", TargetObject: name}, CatInvalidArgument, name); err != nil {
						return err
					}
					continue
				}
				key := strings.ToLower(name)
				if s.snapins[key] {
					if err := c.WriteError(&Error{Message: fmt.Sprintf("Cannot add Windows PowerShell snap-in %s because it is already added. Verify the name of the snap-in, and then try again.", name),
						Category: CatInvalidArgument, ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "AddPSSnapInRead", TargetObject: name}, CatInvalidArgument, name); err != nil {
						return err
					}
					continue
				}
				s.snapins[key] = true
			}
			return nil
		},
	}
}

func (h *Host) knownSnapin(name string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, d := range h.cmdlets {
		if d.RequiresSnapin != "" && strings.EqualFold(d.RequiresSnapin, name) {
			return true
		}
	}
	return false
}

func startSleep() CmdletDef {
	return CmdletDef{
		Name:   "Start-Sleep",
		Params: []ParamDef{{Name: "Seconds", Type: TInt, Position: 1}, {Name: "Milliseconds", Type: TInt}},
		Process: func(c *Call) error {
			var d time.Duration
			if v, ok := c.Param("Seconds"); ok {
				d += time.Duration(v.(int64)) * time.Second
			}
			if v, ok := c.Param("Milliseconds"); ok {
				d += time.Duration(v.(int64)) * time.Millisecond
			}
			if d <= 0 {
				return nil
			}
			return c.inv.sess.host.opts.Sleep(c.Ctx, d)
		},
	}
}

func convertToSecureString() CmdletDef {
	return CmdletDef{
		Name:   "ConvertTo-SecureString",
		Params: []ParamDef{{Name: "String", Type: TString, Position: 1, ValueFromPipeline: true, Mandatory: true}, sw("AsPlainText"), sw("Force"), {Name: "Key", Type: TByteArray}},
		Process: func(c *Call) error {
			str := c.String("String")
			if !c.Bool("AsPlainText") {
				return c.WriteError(&Error{Message: "Input string was not in a correct format.", Category: CatInvalidArgument,
					ExceptionType: "System.FormatException", ErrorID: "ImportSecureString"}, CatInvalidArgument, nil)
			}
			if !c.Bool("Force") {
				return &Error{Message: "The system cannot protect plain text input. To suppress this warning and convert the plain text to a SecureString, reissue the command specifying the Force parameter. For more information ,type: get-help ConvertTo-SecureString.",
					Category: CatInvalidArgument, ExceptionType: "System.ArgumentException", ErrorID: "PlainTextNotSupported"}
			}
			return c.WriteObject(NewSecureString(str))
		},
	}
}

func newObject() CmdletDef {
	return CmdletDef{
		Name:   "New-Object",
		Params: []ParamDef{{Name: "TypeName", Type: TString, Position: 1, Mandatory: true}, {Name: "ArgumentList", Type: TObjectArray, Position: 2}, {Name: "Property", Type: THashtable}},
		Process: func(c *Call) error {
			t := strings.ToLower(strings.ReplaceAll(c.String("TypeName"), " ", ""))
			t = strings.TrimPrefix(t, "system.")
			switch t {
			case "collections.generic.list[object]", "collections.generic.list[system.object]", "collections.generic.list[psobject]":
				return c.WriteObject(&List{})
			}
			return &Error{Message: fmt.Sprintf("Cannot find type [%s]: verify that the assembly containing this type is loaded.", c.String("TypeName")),
				Category: CatInvalidType, ExceptionType: "System.Management.Automation.PSArgumentException", ErrorID: "TypeNotFound"}
		},
	}
}

func getDate() CmdletDef {
	return CmdletDef{
		Name:   "Get-Date",
		Params: []ParamDef{{Name: "Date", Type: TObject, Position: 1, ValueFromPipeline: true}, {Name: "Format", Type: TString}},
		Process: func(c *Call) error {
			s := c.inv.sess
			t := s.host.opts.Now()
			if v, ok := c.Param("Date"); ok {
				cv, err := s.cast("datetime", v, c.inv.pos)
				if err != nil {
					return err
				}
				t = cv.(time.Time)
			}
			if f, ok := c.Param("Format"); ok {
				return c.WriteObject(formatDate(t, ToString(f)))
			}
			return c.WriteObject(t)
		},
	}
}
