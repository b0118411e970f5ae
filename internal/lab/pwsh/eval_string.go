package pwsh

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

func numToFloat(n Value) float64 {
	switch x := n.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func formatNumber(v Value, f string) string {
	switch strings.ToUpper(f) {
	case "D", "":
		return ToString(v)
	case "N0":
		n, _ := toInt(v)
		return strconv.FormatInt(n, 10)
	}
	return ToString(v)
}

// formatDate implements DateTime.ToString(format) for the round-trip
// format "o" and common custom patterns.
func formatDate(t time.Time, f string) string {
	switch f {
	case "o", "O":
		frac := fmt.Sprintf("%07d", t.Nanosecond()/100)
		base := t.Format("2006-01-02T15:04:05") + "." + frac
		if t.Location() == time.UTC {
			return base + "Z"
		}
		return base + t.Format("-07:00")
	case "s":
		return t.Format("2006-01-02T15:04:05")
	case "u":
		return t.Format("2006-01-02 15:04:05Z")
	case "":
		return ToString(t)
	}
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15", "mm", "04", "ss", "05", "fff", "000")
	return t.Format(r.Replace(f))
}

func stringMethod(str, name string, args []Value) (Value, bool, error) {
	argc := len(args)
	arg := func(i int) string { return ToString(args[i]) }
	switch name {
	case "trim", "trimstart", "trimend":
		cut := " \t\r\n\v\f\u00a0\u0085"
		if argc >= 1 {
			var b strings.Builder
			for _, a := range args {
				b.WriteString(ToString(a))
			}
			cut = b.String()
		}
		switch name {
		case "trim":
			if argc == 0 {
				return strings.TrimFunc(str, unicode.IsSpace), true, nil
			}
			return strings.Trim(str, cut), true, nil
		case "trimstart":
			if argc == 0 {
				return strings.TrimLeftFunc(str, unicode.IsSpace), true, nil
			}
			return strings.TrimLeft(str, cut), true, nil
		}
		if argc == 0 {
			return strings.TrimRightFunc(str, unicode.IsSpace), true, nil
		}
		return strings.TrimRight(str, cut), true, nil
	case "tolower", "tolowerinvariant":
		if argc == 0 {
			return strings.ToLower(str), true, nil
		}
	case "toupper", "toupperinvariant":
		if argc == 0 {
			return strings.ToUpper(str), true, nil
		}
	case "contains":
		if argc == 1 {
			return strings.Contains(str, arg(0)), true, nil
		}
	case "startswith":
		if argc == 1 {
			return strings.HasPrefix(str, arg(0)), true, nil
		}
	case "endswith":
		if argc == 1 {
			return strings.HasSuffix(str, arg(0)), true, nil
		}
	case "replace":
		if argc == 2 {
			if arg(0) == "" {
				return nil, true, fmt.Errorf("String cannot be of zero length.\r\nParameter name: oldValue")
			}
			return strings.ReplaceAll(str, arg(0), arg(1)), true, nil
		}
	case "split":
		if argc >= 1 {
			// .NET Framework: Split(params char[] separator): every character separates
			var seps []rune
			for _, a := range args {
				if arr, ok := a.(*Array); ok {
					for _, it := range arr.Items {
						seps = append(seps, []rune(ToString(it))...)
					}
				} else {
					seps = append(seps, []rune(ToString(a))...)
				}
			}
			parts := splitRunes(str, seps)
			out := make([]Value, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return &Array{Items: out}, true, nil
		}
		if argc == 0 {
			parts := splitRunes(str, nil)
			out := make([]Value, len(parts))
			for i, p := range parts {
				out[i] = p
			}
			return &Array{Items: out}, true, nil
		}
	case "substring":
		rs := utf16Units(str)
		if argc == 1 || argc == 2 {
			a, err := toInt(args[0])
			if err != nil {
				return nil, true, err
			}
			n := int64(len(rs)) - a
			if argc == 2 {
				n, err = toInt(args[1])
				if err != nil {
					return nil, true, err
				}
			}
			if a < 0 || n < 0 || a+n > int64(len(rs)) {
				return nil, true, fmt.Errorf("startIndex cannot be larger than length of string.\r\nParameter name: startIndex")
			}
			return utf16ToString(rs[a : a+n]), true, nil
		}
	case "indexof":
		if argc == 1 {
			i := strings.Index(str, arg(0))
			if i < 0 {
				return int64(-1), true, nil
			}
			return int64(len(utf16Units(str[:i]))), true, nil
		}
	case "padleft", "padright":
		if argc >= 1 {
			n, err := toInt(args[0])
			if err != nil {
				return nil, true, err
			}
			pad := " "
			if argc == 2 {
				pad = arg(1)
			}
			cur := int64(len(utf16Units(str)))
			if cur >= n || pad == "" {
				return str, true, nil
			}
			fill := strings.Repeat(string([]rune(pad)[0]), int(n-cur))
			if name == "padleft" {
				return fill + str, true, nil
			}
			return str + fill, true, nil
		}
	case "equals":
		if argc == 1 {
			return str == arg(0), true, nil
		}
	case "tochararray":
		var out []Value
		for _, r := range str {
			out = append(out, string(r))
		}
		return &Array{Items: out}, true, nil
	}
	return nil, false, nil
}

func splitRunes(s string, seps []rune) []string {
	var out []string
	start := 0
	rs := []rune(s)
	isSep := func(r rune) bool {
		if seps == nil {
			return unicode.IsSpace(r)
		}
		for _, c := range seps {
			if c == r {
				return true
			}
		}
		return false
	}
	for i, r := range rs {
		if isSep(r) {
			out = append(out, string(rs[start:i]))
			start = i + 1
		}
	}
	out = append(out, string(rs[start:]))
	return out
}
