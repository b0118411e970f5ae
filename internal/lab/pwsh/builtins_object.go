package pwsh

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

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
