package pwsh

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

func typeName(p *ParamDef) string {
	if p.TypeName != "" {
		return p.TypeName
	}
	switch p.Type {
	case TString:
		return "System.String"
	case TStringArray, TMultiValued:
		return "System.String[]"
	case TBool:
		return "System.Boolean"
	case TSwitch:
		return "System.Management.Automation.SwitchParameter"
	case TInt:
		return "System.Int32"
	case TUnlimited:
		return "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"
	case TObjectArray:
		return "System.Object[]"
	case TByteArray:
		return "System.Byte[]"
	case TSecureString:
		return "System.Security.SecureString"
	case TUri:
		return "System.Uri"
	case TGuid:
		return "System.Guid"
	case TEnum:
		return "System.Enum"
	case THashtable:
		return "System.Collections.Hashtable"
	case TScriptBlock:
		return "System.Management.Automation.ScriptBlock"
	case TIdentity:
		return "Microsoft.Exchange.Configuration.Tasks.IdParameter"
	}
	return "System.Object"
}

func (inv *invocation) convertArg(p *ParamDef, v Value, at extent) (Value, error) {
	cv, err := convertParam(p, v)
	if err != nil {
		if p.Type == TBool || p.Type == TSwitch {
			return nil, inv.bindingError("ParameterArgumentTransformationError",
				fmt.Sprintf("Cannot process argument transformation on parameter '%s'. %s", p.Name, err.Error()), CatInvalidData, at)
		}
		return nil, inv.bindingError("CannotConvertArgumentNoMessage",
			fmt.Sprintf("Cannot bind parameter '%s'. %s", p.Name, err.Error()), CatInvalidArgument, at)
	}
	return cv, nil
}

// convertParam converts v for parameter p; errors carry PowerShell's text
// after "Cannot bind parameter 'X'. ".
func convertParam(p *ParamDef, v Value) (Value, error) {
	v = Normalize(v)
	tn := typeName(p)
	cannot := func(detail string) error {
		return fmt.Errorf("Cannot convert value \"%s\" to type \"%s\". Error: \"%s\"", ToString(v), tn, detail)
	}
	single := func() (Value, error) {
		if a, ok := v.(*Array); ok {
			if len(a.Items) == 1 {
				return a.Items[0], nil
			}
			return nil, fmt.Errorf("Cannot convert 'System.Object[]' to the type '%s' required by parameter '%s'. Specified method is not supported.", tn, p.Name)
		}
		return v, nil
	}
	switch p.Type {
	case TObject:
		return v, nil
	case TString:
		s, err := single()
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, nil
		}
		return ToString(s), nil
	case TStringArray, TMultiValued:
		if h, ok := v.(*Hashtable); ok && p.Type == TMultiValued {
			return h, nil
		}
		return stringArray(v), nil
	case TBool, TSwitch:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		case nil:
			return false, nil
		}
		return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.", typeOfName(s))
	case TInt:
		s, err := single()
		if err != nil {
			return nil, err
		}
		n, err := toInt(s)
		if err != nil {
			return nil, cannot(err.Error())
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			return nil, cannot("Value was either too large or too small for an Int32.")
		}
		return n, nil
	case TUnlimited:
		s, err := single()
		if err != nil {
			return nil, err
		}
		if u, ok := s.(Unlimited); ok {
			return u, nil
		}
		if str, ok := s.(string); ok && strings.EqualFold(strings.TrimSpace(str), "unlimited") {
			return Unlimited{IsUnlimited: true}, nil
		}
		n, err := toInt(s)
		if err != nil || n < 0 {
			return nil, cannot("Input string was not in a correct format.")
		}
		return Unlimited{Value: n}, nil
	case TObjectArray:
		if v == nil {
			return nil, nil
		}
		if a, ok := v.(*Array); ok {
			return a, nil
		}
		return &Array{Items: Unroll(v)}, nil
	case TByteArray:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case nil:
			return nil, nil
		case *Array:
			out := make([]byte, len(x.Items))
			for i, it := range x.Items {
				n, err := toInt(it)
				if err != nil || n < 0 || n > 255 {
					return nil, cannot("Value was either too large or too small for an unsigned byte.")
				}
				out[i] = byte(n)
			}
			return out, nil
		case string:
			return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"System.Byte[]\". Error: \"Input string was not in a correct format.\"", x)
		}
		return nil, cannot("Invalid cast.")
	case TSecureString:
		return exactly(single, func(v Value) bool { _, ok := v.(*SecureString); return ok }, "System.Security.SecureString")
	case TUri:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case nil:
			return nil, nil
		case *Uri:
			return x, nil
		}
		str := ToString(s)
		if str == "" {
			return nil, nil
		}
		u, err := NewUri(str)
		if err != nil {
			return nil, cannot(err.Error())
		}
		return u, nil
	case TGuid:
		s, err := single()
		if err != nil {
			return nil, err
		}
		if g, ok := s.(Guid); ok {
			return g, nil
		}
		g, err := ParseGuid(ToString(s))
		if err != nil {
			return nil, cannot(err.Error())
		}
		return g, nil
	case TEnum:
		return convertEnum(p, v)
	case THashtable:
		return exactly(single, func(v Value) bool { _, ok := v.(*Hashtable); return ok }, "System.Collections.Hashtable")
	case TScriptBlock:
		return exactly(single, func(v Value) bool { _, ok := v.(*ScriptBlock); return ok }, "System.Management.Automation.ScriptBlock")
	case TIdentity:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case *Object, Guid, nil:
			return x, nil
		}
		return ToString(s), nil
	}
	return v, nil
}

// exactly is the conversion to a parameter type that takes only values of
// that type (is tells which) and $null: anything else is PowerShell's
// error naming netType.
func exactly(single func() (Value, error), is func(Value) bool, netType string) (Value, error) {
	s, err := single()
	if err != nil || s == nil {
		return nil, err
	}
	if is(s) {
		return s, nil
	}
	return nil, fmt.Errorf("Cannot convert the \"%s\" value of type \"%s\" to type \"%s\".", ToString(s), typeOfName(s), netType)
}

func convertEnum(p *ParamDef, v Value) (Value, error) {
	var names []string
	if f, ok := v.(*Flags); ok {
		names = f.Names
	} else {
		for _, it := range Unroll(v) {
			for _, part := range strings.Split(ToString(it), ",") {
				if part = strings.TrimSpace(part); part != "" {
					names = append(names, part)
				}
			}
		}
	}
	if len(names) > 1 && !p.Flags {
		return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"%s\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n%s\"",
			ToString(v), typeName(p), ToString(v), strings.Join(p.EnumValues, ", "))
	}
	out := &Flags{Type: typeName(p)}
	for _, n := range names {
		found := false
		for i, ev := range p.EnumValues {
			if strings.EqualFold(ev, n) {
				found = true
				out.Names = append(out.Names, ev)
				switch {
				case i < len(p.EnumNumbers):
					out.Value |= p.EnumNumbers[i]
				case p.Flags:
					out.Value |= 1 << i
				default:
					out.Value = int64(i)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"%s\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n%s\"",
				n, typeName(p), n, strings.Join(p.EnumValues, ", "))
		}
	}
	return out, nil
}

// toInt converts numbers and numeric strings to int64 (doubles round to even as .NET does).
func toInt(v Value) (int64, error) {
	switch x := Normalize(v).(type) {
	case int64:
		return x, nil
	case float64:
		return int64(math.RoundToEven(x)), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case nil:
		return 0, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if strings.HasPrefix(strings.ToLower(s), "0x") {
			if n, err := strconv.ParseInt(s[2:], 16, 64); err == nil {
				return n, nil
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return int64(math.RoundToEven(f)), nil
		}
		return 0, fmt.Errorf("Input string was not in a correct format.")
	case *Flags:
		return x.Value, nil
	case Char:
		return int64(x), nil
	}
	return 0, fmt.Errorf("Invalid cast from '%s' to 'Int32'.", typeOfName(v))
}

// typeOfName is the .NET full type name of a value.
func typeOfName(v Value) string {
	switch x := Normalize(v).(type) {
	case nil:
		return "null"
	case string:
		return "System.String"
	case bool:
		return "System.Boolean"
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return "System.Int32"
		}
		return "System.Int64"
	case float64:
		return "System.Double"
	case []byte:
		return "System.Byte[]"
	case *Array:
		return "System.Object[]"
	case *List:
		return "System.Collections.Generic.List`1[[System.Object, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]"
	case *Hashtable:
		if x.Ordered {
			return "System.Collections.Specialized.OrderedDictionary"
		}
		return "System.Collections.Hashtable"
	case *Object:
		return x.TypeName()
	case Guid:
		return "System.Guid"
	case *Uri:
		return "System.Uri"
	case *Flags:
		return x.Type
	case Unlimited:
		return "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"
	case *SecureString:
		return "System.Security.SecureString"
	case *ErrorRecord:
		return "System.Management.Automation.ErrorRecord"
	case *ScriptBlock:
		return "System.Management.Automation.ScriptBlock"
	case Char:
		return "System.Char"
	}
	return "System.Object"
}
