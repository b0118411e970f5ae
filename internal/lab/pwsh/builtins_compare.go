package pwsh

import (
	"fmt"
	"strings"
)

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
