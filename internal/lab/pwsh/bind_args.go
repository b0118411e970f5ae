package pwsh

import (
	"fmt"
	"sort"
	"strings"
)

// resolveName finds the parameter for -name, with unique-prefix matching.
func (inv *invocation) resolveName(a cmdArg) (*ParamDef, error) {
	if p := inv.findParam(a.name); p != nil {
		return p, nil
	}
	var matches []*ParamDef
	seen := map[string]bool{}
	for i := range inv.params {
		p := &inv.params[i]
		cands := append([]string{p.Name}, p.Aliases...)
		for _, c := range cands {
			if len(c) >= len(a.name) && strings.EqualFold(c[:len(a.name)], a.name) && !seen[p.Name] {
				seen[p.Name] = true
				matches = append(matches, p)
			}
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return nil, inv.bindingError("NamedParameterNotFound",
			fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", a.name), CatInvalidArgument, a.pos)
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = "-" + m.Name
	}
	return nil, inv.bindingError("AmbiguousParameter",
		fmt.Sprintf("Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include: %s.", a.name, strings.Join(names, " ")),
		CatInvalidArgument, a.pos)
}

func (inv *invocation) isBound(p *ParamDef) bool {
	for _, b := range inv.bound {
		if b.def.Name == p.Name {
			return true
		}
	}
	return false
}

// bindArgs binds the named and positional arguments.
func (inv *invocation) bindArgs(args []cmdArg) error {
	var positional []cmdArg
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !a.isName {
			positional = append(positional, a)
			continue
		}
		p, err := inv.resolveName(a)
		if err != nil {
			return err
		}
		if inv.isBound(p) {
			return inv.bindingError("ParameterAlreadyBound",
				fmt.Sprintf("Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\".", p.Name),
				CatInvalidArgument, a.pos)
		}
		var val Value
		switch {
		case a.colon || a.hasVal:
			val = a.value
		case p.Type == TSwitch:
			val = true
		default:
			if i+1 >= len(args) || args[i+1].isName {
				return inv.bindingError("MissingArgument",
					fmt.Sprintf("Missing an argument for parameter '%s'. Specify a parameter of type '%s' and try again.", p.Name, typeName(p)),
					CatInvalidArgument, a.pos)
			}
			i++
			val = args[i].value
		}
		cv, err := inv.convertArg(p, val, a.pos)
		if err != nil {
			return err
		}
		if err := inv.validateMandatory(p, cv, a.pos); err != nil {
			return err
		}
		inv.bound = append(inv.bound, boundParam{def: p, value: cv})
	}
	if len(positional) > 0 {
		var pos []*ParamDef
		for i := range inv.params {
			if inv.params[i].Position > 0 {
				pos = append(pos, &inv.params[i])
			}
		}
		sort.SliceStable(pos, func(i, j int) bool { return pos[i].Position < pos[j].Position })
		k := 0
		for _, a := range positional {
			for k < len(pos) && inv.isBound(pos[k]) {
				k++
			}
			if k >= len(pos) {
				if rp := inv.remainingParam(); rp != nil {
					var rest []Value
					for _, ra := range positional[len(inv.boundPositional):] {
						rest = append(rest, ra.value)
					}
					inv.bound = append(inv.bound, boundParam{def: rp, value: &Array{Items: rest}})
					break
				}
				return inv.bindingError("PositionalParameterNotFound",
					fmt.Sprintf("A positional parameter cannot be found that accepts argument '%s'.", argText(a.value)),
					CatInvalidArgument, a.pos)
			}
			if pos[k].ValueFromRemainingArguments {
				var rest []Value
				for _, ra := range positional[len(inv.boundPositional):] {
					rest = append(rest, ra.value)
				}
				inv.bound = append(inv.bound, boundParam{def: pos[k], value: &Array{Items: rest}})
				break
			}
			cv, err := inv.convertArg(pos[k], a.value, a.pos)
			if err != nil {
				return err
			}
			if err := inv.validateMandatory(pos[k], cv, a.pos); err != nil {
				return err
			}
			inv.bound = append(inv.bound, boundParam{def: pos[k], value: cv})
			inv.boundPositional = append(inv.boundPositional, a)
			k++
		}
	}
	// common parameters
	for _, b := range inv.bound {
		switch strings.ToLower(b.def.Name) {
		case "erroraction":
			ap, _ := parseActionPref(b.value)
			inv.errAction = ap
		case "warningaction":
			ap, _ := parseActionPref(b.value)
			inv.warnAction = ap
		case "errorvariable", "warningvariable":
			name := ToString(b.value)
			if !strings.HasPrefix(name, "+") {
				// without '+' the variable starts empty for this command
				inv.sess.setVar(name, &List{})
			}
			if strings.EqualFold(b.def.Name, "ErrorVariable") {
				inv.errVar = name
			} else {
				inv.warnVar = name
			}
		case "outvariable":
			inv.outVar = ToString(b.value)
		}
	}
	return nil
}

func argText(v Value) string {
	if a, ok := v.(*Array); ok {
		_ = a
		return "System.Object[]"
	}
	return ToString(v)
}

// validateMandatory applies the null/empty checks PowerShell makes for
// Mandatory parameters.
func (inv *invocation) validateMandatory(p *ParamDef, v Value, at extent) error {
	if !p.Mandatory {
		return nil
	}
	fail := func(id, what string) error {
		e := inv.bindingError(id, fmt.Sprintf("Cannot bind argument to parameter '%s' because it is %s.", p.Name, what), CatInvalidData, at)
		e.(*psThrow).rec.Err.ExceptionType = "System.Management.Automation.ParameterBindingValidationException"
		return e
	}
	switch x := v.(type) {
	case nil:
		if !p.AllowNull {
			return fail("ParameterArgumentValidationErrorNullNotAllowed", "null")
		}
	case string:
		if x == "" && !p.AllowEmpty {
			return fail("ParameterArgumentValidationErrorEmptyStringNotAllowed", "an empty string")
		}
	case *Array:
		if len(x.Items) == 0 && !p.AllowEmpty {
			return fail("ParameterArgumentValidationErrorEmptyArrayNotAllowed", "an empty array")
		}
	}
	return nil
}

// checkMandatory reports the missing mandatory parameters (non-interactive).
func (inv *invocation) checkMandatory(withPipeline bool) error {
	var missing []string
	for i := range inv.params {
		p := &inv.params[i]
		if !p.Mandatory || inv.isBound(p) {
			continue
		}
		if withPipeline && (p.ValueFromPipeline || p.ValueFromPipelineByPropertyName) {
			continue
		}
		bp := false
		for _, b := range inv.pipeBound {
			if b.def.Name == p.Name {
				bp = true
			}
		}
		if !bp {
			missing = append(missing, p.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return inv.bindingError("MissingMandatoryParameter",
		fmt.Sprintf("Cannot process command because of one or more missing mandatory parameters: %s.", strings.Join(missing, " ")),
		CatInvalidArgument, inv.pos)
}

// bindPipeline binds the current pipeline object as PowerShell does: by
// value without conversion, then by property name, then by value with
// conversion; ok=false when nothing accepted it.
func (inv *invocation) bindPipeline(v Value) (bool, error) {
	inv.pipeBound = inv.pipeBound[:0]
	for i := range inv.params {
		p := &inv.params[i]
		if p.ValueFromPipeline && !inv.isBound(p) && exactPipelineMatch(p, v) {
			cv, err := convertParam(p, v)
			if err == nil {
				inv.pipeBound = append(inv.pipeBound, boundParam{def: p, value: cv})
				return true, nil
			}
		}
	}
	any := false
	for i := range inv.params {
		p := &inv.params[i]
		if !p.ValueFromPipelineByPropertyName || inv.isBound(p) {
			continue
		}
		names := append([]string{p.Name}, p.Aliases...)
		for _, n := range names {
			pv, ok := propertyOf(v, n)
			if !ok {
				continue
			}
			cv, err := convertParam(p, pv)
			if err != nil {
				return false, inv.bindingError("ParameterArgumentTransformationError",
					fmt.Sprintf("Cannot bind parameter '%s'. %s", p.Name, err.Error()), CatInvalidArgument, inv.pos)
			}
			inv.pipeBound = append(inv.pipeBound, boundParam{def: p, value: cv})
			any = true
			break
		}
	}
	if any {
		return true, nil
	}
	for i := range inv.params {
		p := &inv.params[i]
		if !p.ValueFromPipeline || inv.isBound(p) {
			continue
		}
		cv, err := convertParam(p, v)
		if err == nil {
			inv.pipeBound = append(inv.pipeBound, boundParam{def: p, value: cv})
			return true, nil
		}
	}
	return false, nil
}

// exactPipelineMatch reports whether v binds to p by value without type
// conversion (PowerShell's first binding pass).
func exactPipelineMatch(p *ParamDef, v Value) bool {
	switch p.Type {
	case TObject, TObjectArray:
		return true
	case TString, TStringArray, TMultiValued:
		_, ok := v.(string)
		return ok
	case TIdentity:
		switch x := v.(type) {
		case string, Guid:
			return true
		case *Object:
			tn := x.TypeName()
			return tn != PSCustomObjectType && !strings.HasPrefix(tn, "Selected.")
		}
		return false
	case TInt:
		_, ok := v.(int64)
		return ok
	case TBool, TSwitch:
		_, ok := v.(bool)
		return ok
	case TGuid:
		_, ok := v.(Guid)
		return ok
	case TUri:
		_, ok := v.(*Uri)
		return ok
	case TSecureString:
		_, ok := v.(*SecureString)
		return ok
	case THashtable:
		_, ok := v.(*Hashtable)
		return ok
	case TScriptBlock:
		_, ok := v.(*ScriptBlock)
		return ok
	case TByteArray:
		_, ok := v.([]byte)
		return ok
	}
	return false
}

func propertyOf(v Value, name string) (Value, bool) {
	switch x := v.(type) {
	case *Object:
		return x.Get(name)
	case *Hashtable:
		return nil, false
	}
	return nil, false
}
