package pwsh

import (
	"fmt"
	"strings"
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
