package pwsh

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The -f operator: .NET composite formatting (String.Format with the
// invariant-like culture of the lab) of `'fmt' -f args`. Format items are
// {index[,alignment][:spec]}; {{ and }} are literal braces. The lab
// implements the specifiers x, X, d and D (with an optional precision) on
// integers and an empty specifier on everything; the parser rejects any
// other specifier in the (literal) format string.

// formatError is PowerShell's error for a .NET FormatException in -f.
func (s *session) formatError(at extent, msg string) error {
	e := &Error{Message: "Error formatting a string: " + msg + ".", Category: CatInvalidOperation, ErrorID: "FormatError",
		ExceptionType: "System.Management.Automation.RuntimeException"}
	return &psThrow{rec: &ErrorRecord{Err: e, FullyQualifiedErrorId: "FormatError", Line: at.line, Column: at.col, LineText: at.lineText, posExt: at}}
}

const (
	errFormatInput = "Input string was not in a correct format."
	errFormatIndex = "Index (zero based) must be greater than or equal to zero and less than the size of the argument list."
	errFormatSpec  = "Format specifier was invalid."
)

// formatItem is one parsed {index,alignment:spec}.
type formatItem struct {
	index, align int
	spec         string
}

// parseComposite splits a composite format string into literal text and
// items, calling lit and item in order. It returns errFormatInput for a
// malformed string, as .NET does.
func parseComposite(f string, lit func(string), item func(formatItem) error) error {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch c {
		case '}':
			if i+1 < len(f) && f[i+1] == '}' {
				b.WriteByte('}')
				i++
				continue
			}
			return fmt.Errorf("%s", errFormatInput)
		case '{':
			if i+1 < len(f) && f[i+1] == '{' {
				b.WriteByte('{')
				i++
				continue
			}
		default:
			b.WriteByte(c)
			continue
		}
		// a format item
		lit(b.String())
		b.Reset()
		j := i + 1
		start := j
		for j < len(f) && f[j] >= '0' && f[j] <= '9' {
			j++
		}
		if j == start || j-start > 6 {
			return fmt.Errorf("%s", errFormatInput)
		}
		it := formatItem{}
		it.index, _ = strconv.Atoi(f[start:j])
		for j < len(f) && f[j] == ' ' {
			j++
		}
		if j < len(f) && f[j] == ',' {
			j++
			for j < len(f) && f[j] == ' ' {
				j++
			}
			neg := false
			if j < len(f) && f[j] == '-' {
				neg = true
				j++
			}
			as := j
			for j < len(f) && f[j] >= '0' && f[j] <= '9' {
				j++
			}
			if j == as || j-as > 6 {
				return fmt.Errorf("%s", errFormatInput)
			}
			it.align, _ = strconv.Atoi(f[as:j])
			if neg {
				it.align = -it.align
			}
			for j < len(f) && f[j] == ' ' {
				j++
			}
		}
		if j < len(f) && f[j] == ':' {
			j++
			ss := j
			for j < len(f) && f[j] != '}' && f[j] != '{' {
				j++
			}
			it.spec = f[ss:j]
		}
		if j >= len(f) || f[j] != '}' {
			return fmt.Errorf("%s", errFormatInput)
		}
		if err := item(it); err != nil {
			return err
		}
		i = j
	}
	lit(b.String())
	return nil
}

// unsupportedFormatSpec reports the first format specifier of a literal
// format string that the lab does not implement. A malformed string is
// not reported here: it fails at run time, as in PowerShell.
func unsupportedFormatSpec(f string) (string, bool) {
	var bad string
	_ = parseComposite(f, func(string) {}, func(it formatItem) error {
		if bad == "" && !supportedSpec(it.spec) {
			bad = it.spec
		}
		return nil
	})
	return bad, bad != ""
}

func supportedSpec(spec string) bool {
	if spec == "" {
		return true
	}
	switch spec[0] {
	case 'x', 'X', 'd', 'D':
	default:
		return false
	}
	if len(spec) > 3 {
		return false
	}
	for _, c := range spec[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// format evaluates `f -f args`.
func (s *session) format(f string, r Value, at extent) (Value, error) {
	var args []Value
	switch x := Normalize(r).(type) {
	case *Array:
		args = x.Items
	case *List:
		args = x.Items
	default:
		args = []Value{x}
	}
	var b strings.Builder
	err := parseComposite(f, func(t string) { b.WriteString(t) }, func(it formatItem) error {
		if it.index >= len(args) {
			return fmt.Errorf("%s", errFormatIndex)
		}
		text, err := formatValue(args[it.index], it.spec)
		if err != nil {
			return err
		}
		if pad := abs(it.align) - len(utf16Units(text)); pad > 0 {
			if it.align > 0 {
				text = strings.Repeat(" ", pad) + text
			} else {
				text += strings.Repeat(" ", pad)
			}
		}
		b.WriteString(text)
		return nil
	})
	if err != nil {
		if _, ok := err.(*psThrow); ok {
			return nil, err
		}
		return nil, s.formatError(at, err.Error())
	}
	return b.String(), nil
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// formatValue formats one argument with a specifier: IFormattable values
// (numbers) apply it; strings, chars, booleans and $null ignore it.
func formatValue(v Value, spec string) (string, error) {
	v = Normalize(v)
	if spec == "" {
		if f, ok := v.(float64); ok {
			return formatDouble(f), nil
		}
		return ToString(v), nil
	}
	switch x := v.(type) {
	case nil:
		return "", nil
	case string, Char, bool:
		return ToString(x), nil
	case int64:
		prec, _ := strconv.Atoi(spec[1:])
		var digits string
		switch spec[0] {
		case 'x', 'X':
			// two's complement in the value's own width (Int32 unless it does not fit)
			u := uint64(x)
			if x >= math.MinInt32 && x <= math.MaxInt32 {
				u = uint64(uint32(int32(x)))
			}
			digits = strconv.FormatUint(u, 16)
			if spec[0] == 'X' {
				digits = strings.ToUpper(digits)
			}
			if len(digits) < prec {
				digits = strings.Repeat("0", prec-len(digits)) + digits
			}
			return digits, nil
		default: // d, D
			neg := x < 0
			digits = strconv.FormatUint(uint64(x), 10)
			if neg {
				digits = strconv.FormatUint(uint64(-x), 10)
			}
			if len(digits) < prec {
				digits = strings.Repeat("0", prec-len(digits)) + digits
			}
			if neg {
				digits = "-" + digits
			}
			return digits, nil
		}
	case float64:
		// Double supports neither X nor D.
		return "", fmt.Errorf("%s", errFormatSpec)
	}
	return "", fmt.Errorf("formatting a value of type [%s] with the specifier ':%s' is not supported in the exrunbook lab", typeOfName(v), spec)
}
