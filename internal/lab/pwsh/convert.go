package pwsh

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// ToString converts a value as PowerShell's [string] cast does (arrays are
// joined with spaces, $null is "").
func ToString(v Value) string {
	switch x := Normalize(v).(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatDouble(x)
	case []byte:
		parts := make([]string, len(x))
		for i, b := range x {
			parts[i] = strconv.Itoa(int(b))
		}
		return strings.Join(parts, " ")
	case *Array:
		parts := make([]string, len(x.Items))
		for i, it := range x.Items {
			parts[i] = ToString(it)
		}
		return strings.Join(parts, " ")
	case *List:
		parts := make([]string, len(x.Items))
		for i, it := range x.Items {
			parts[i] = ToString(it)
		}
		return strings.Join(parts, " ")
	case *Hashtable:
		if x.Ordered {
			return "System.Collections.Specialized.OrderedDictionary"
		}
		return "System.Collections.Hashtable"
	case *Object:
		return x.ToString()
	case Guid:
		return x.String()
	case *Uri:
		if x == nil {
			return ""
		}
		return x.String()
	case *Flags:
		return x.String()
	case Unlimited:
		return x.String()
	case *SecureString:
		return "System.Security.SecureString"
	case *ErrorRecord:
		return x.Err.Message
	case *ScriptBlock:
		return x.String()
	case Char:
		return x.String()
	case time.Time:
		return x.Format("1/2/2006 3:04:05 PM")
	}
	return ""
}

// formatDouble renders a double as .NET's Double.ToString() ("R"-like,
// up to 15 significant digits, E+ notation for large exponents).
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'g', 15, 64)
	if strings.ContainsAny(s, "e") {
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		if len(exp) < 2 {
			exp = strings.Repeat("0", 2-len(exp)) + exp
		}
		return mant + "E" + string(sign) + exp
	}
	return s
}

// ToBool converts a value as PowerShell's [bool] does: $null, 0, "", empty
// arrays are false; a one-element array is its element's truth; larger
// arrays are true; objects are true.
func ToBool(v Value) bool {
	switch x := Normalize(v).(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case int64:
		return x != 0
	case float64:
		return x != 0
	case *Array:
		switch len(x.Items) {
		case 0:
			return false
		case 1:
			return ToBool(x.Items[0])
		}
		return true
	case *List:
		switch len(x.Items) {
		case 0:
			return false
		case 1:
			return ToBool(x.Items[0])
		}
		return true
	case *Flags:
		return x.Value != 0
	case []byte:
		return len(x) > 0
	}
	return true
}

// Unroll returns the elements PowerShell enumerates for v in a pipeline:
// arrays and lists give their items, $null gives nothing... except that a
// bare $null written to the pipeline is one $null (see writeEnumerated).
func Unroll(v Value) []Value {
	switch x := v.(type) {
	case *Array:
		return x.Items
	case *List:
		return x.Items
	case nil:
		return nil
	}
	return []Value{v}
}
