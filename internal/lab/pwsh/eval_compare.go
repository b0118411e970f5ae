package pwsh

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// compare evaluates a scalar comparison; setMatches controls $Matches for -match.
func (s *session) compare(op string, l, r Value, cs bool, at extent, setMatches bool) (bool, error) {
	switch op {
	case "-eq":
		return equalValues(l, r, cs), nil
	case "-ne":
		return !equalValues(l, r, cs), nil
	case "-like", "-notlike":
		m := wildcardMatch(ToString(r), ToString(l), !cs)
		return m == (op == "-like"), nil
	case "-match", "-notmatch":
		re, err := compileRegex(ToString(r), !cs)
		if err != nil {
			return false, s.regexError(at, ToString(r), err)
		}
		str := ToString(l)
		m := re.FindStringSubmatch(str)
		if m != nil && setMatches && op == "-match" {
			h := &Hashtable{}
			names := re.SubexpNames()
			for i := len(m) - 1; i >= 0; i-- {
				if i > 0 && m[i] == "" {
					idx := re.FindStringSubmatchIndex(str)
					if idx[2*i] < 0 {
						continue
					}
				}
				key := strconv.Itoa(i)
				if names[i] != "" {
					key = names[i]
				}
				h.Set(key, m[i])
			}
			s.setVar("Matches", h)
		}
		return (m != nil) == (op == "-match"), nil
	case "-gt", "-ge", "-lt", "-le":
		c, err := s.order(l, r, cs, at)
		if err != nil {
			return false, err
		}
		switch op {
		case "-gt":
			return c > 0, nil
		case "-ge":
			return c >= 0, nil
		case "-lt":
			return c < 0, nil
		}
		return c <= 0, nil
	}
	return false, fmt.Errorf("pwsh: unknown operator %s", op)
}

// equalValues is -eq with the right operand converted to the left's type.
func equalValues(l, r Value, cs bool) bool {
	l, r = Normalize(l), Normalize(r)
	switch x := l.(type) {
	case nil:
		return r == nil
	case Char:
		if r == nil {
			return false
		}
		if cs {
			return x.String() == ToString(r)
		}
		return strings.EqualFold(x.String(), ToString(r))
	case string:
		if r == nil {
			return false
		}
		if cs {
			return x == ToString(r)
		}
		return strings.EqualFold(x, ToString(r))
	case int64, float64:
		if r == nil {
			return false
		}
		var rn Value
		switch y := r.(type) {
		case int64, float64:
			rn = y
		case bool:
			rn = int64(0)
			if y {
				rn = int64(1)
			}
		case string:
			t := strings.TrimSpace(y)
			n, ok := parseNumber(t)
			if !ok {
				return false
			}
			rn = n
		case *Flags:
			rn = y.Value
		default:
			return false
		}
		li, lok := x.(int64)
		ri, rok := rn.(int64)
		if lok && rok {
			return li == ri
		}
		return numToFloat(x) == numToFloat(rn)
	case bool:
		return x == ToBool(r)
	case Guid:
		switch y := r.(type) {
		case Guid:
			return x == y
		case string:
			g, err := ParseGuid(y)
			return err == nil && g == x
		}
		return false
	case *Flags:
		switch y := r.(type) {
		case *Flags:
			return x.Value == y.Value
		case int64:
			return x.Value == y
		case string:
			return strings.EqualFold(strings.ReplaceAll(x.String(), " ", ""), strings.ReplaceAll(y, " ", ""))
		}
		return false
	case time.Time:
		if y, ok := r.(time.Time); ok {
			return x.Equal(y)
		}
		return false
	case Unlimited:
		return strings.EqualFold(x.String(), ToString(r))
	case *Uri:
		if r == nil {
			return false
		}
		return x.AbsoluteUri() == ToString(r) || strings.EqualFold(x.AbsoluteUri(), ToString(r))
	case *Object:
		if y, ok := r.(*Object); ok {
			return x == y
		}
		if x.Str != nil {
			if ys, ok := r.(string); ok {
				return strings.EqualFold(x.Str(), ys)
			}
		}
		return false
	}
	return l == r
}

func (s *session) order(l, r Value, cs bool, at extent) (int, error) {
	l, r = Normalize(l), Normalize(r)
	if l == nil && r == nil {
		return 0, nil
	}
	if l == nil {
		return -1, nil
	}
	if r == nil {
		return 1, nil
	}
	switch x := l.(type) {
	case string:
		a, b := x, ToString(r)
		if !cs {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		return strings.Compare(a, b), nil
	case int64, float64, bool:
		ln, _ := s.toNumber(x, at)
		rn, err := s.toNumber(r, at)
		if err != nil {
			return 0, s.runtimeError(at, "ComparisonFailure", CatNotSpecified,
				fmt.Sprintf("Could not compare \"%s\" to \"%s\". Error: \"Cannot convert value \"%s\" to type \"%s\". Error: \"Input string was not in a correct format.\"\"", ToString(l), ToString(r), ToString(r), typeOfName(l)), nil)
		}
		li, lok := ln.(int64)
		ri, rok := rn.(int64)
		if lok && rok {
			switch {
			case li < ri:
				return -1, nil
			case li > ri:
				return 1, nil
			}
			return 0, nil
		}
		lf, rf := numToFloat(ln), numToFloat(rn)
		switch {
		case lf < rf:
			return -1, nil
		case lf > rf:
			return 1, nil
		}
		return 0, nil
	case time.Time:
		if y, ok := r.(time.Time); ok {
			return x.Compare(y), nil
		}
	case *Flags:
		rn, err := toInt(r)
		if err == nil {
			switch {
			case x.Value < rn:
				return -1, nil
			case x.Value > rn:
				return 1, nil
			}
			return 0, nil
		}
	case Unlimited:
		a, b := x.String(), ToString(r)
		return strings.Compare(strings.ToLower(a), strings.ToLower(b)), nil
	}
	return 0, s.runtimeError(at, "NotIcomparable", CatInvalidOperation,
		fmt.Sprintf("Cannot compare \"%s\" because it is not IComparable.", ToString(l)), nil)
}

// wildcardMatch implements -like patterns: * ? [set] [a-z] and ` escapes.
func wildcardMatch(pattern, s string, ci bool) bool {
	if ci {
		pattern = strings.ToLower(pattern)
		s = strings.ToLower(s)
	}
	p := []rune(pattern)
	t := []rune(s)
	// iterative matcher with backtracking on the last star
	pi, ti := 0, 0
	starP, starT := -1, 0
	for ti < len(t) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starT = pi, ti
				pi++
				continue
			case '?':
				pi++
				ti++
				continue
			case '[':
				if end, ok := matchSet(p, pi, t[ti]); end > 0 {
					if ok {
						pi = end
						ti++
						continue
					}
				} else if t[ti] == '[' {
					pi++
					ti++
					continue
				}
			case '`':
				if pi+1 < len(p) && p[pi+1] == t[ti] {
					pi += 2
					ti++
					continue
				}
				if pi+1 >= len(p) && t[ti] == '`' {
					pi++
					ti++
					continue
				}
			default:
				if p[pi] == t[ti] {
					pi++
					ti++
					continue
				}
			}
		}
		if starP >= 0 {
			starT++
			pi, ti = starP+1, starT
			continue
		}
		return false
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchSet matches c against the [..] set at p[i]; it returns the index after
// the set (0 if the set is not closed) and whether c matched.
func matchSet(p []rune, i int, c rune) (int, bool) {
	j := i + 1
	matched := false
	for j < len(p) && p[j] != ']' {
		lo := p[j]
		if j+2 < len(p) && p[j+1] == '-' && p[j+2] != ']' {
			if c >= lo && c <= p[j+2] {
				matched = true
			}
			j += 3
			continue
		}
		if lo == c {
			matched = true
		}
		j++
	}
	if j >= len(p) {
		return 0, false
	}
	return j + 1, matched
}
