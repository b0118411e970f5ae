package pwsh

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"unicode/utf8"
)

// [regex]::Replace(input, pattern, { param($m) ... }): the MatchEvaluator
// overload of System.Text.RegularExpressions.Regex.Replace, the only
// [regex] member the lab has. As in .NET the match runs over UTF-16 code
// units: a character outside the BMP is two units, so a one-character
// class such as [^\x00-\x7E] matches each of its surrogates on its own.
// The pattern language is Go's RE2 syntax (as for -match and -split):
// .NET-only constructs (lookaround, backreferences) fail to compile.
//
// To run RE2 over code units, the input is rewritten so that each unit is
// one rune: surrogate units become the runes U+10F800..U+10FFFF (which a
// UTF-16 string cannot otherwise contain once its pairs are split).

const shadowBase = 0x10F800

// shadow returns s with every UTF-16 unit as one rune, and whether it
// differs from s (only when s has characters outside the BMP or lone
// surrogates).
func shadow(s string) (string, bool) {
	simple := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == 0xED || c >= 0xF0 {
			simple = false
			break
		}
	}
	if simple && utf8.ValidString(s) {
		return s, false
	}
	b := make([]byte, 0, len(s)+len(s)/2)
	for _, u := range utf16Units(s) {
		if u >= 0xD800 && u < 0xE000 {
			b = utf8.AppendRune(b, shadowBase+rune(u-0xD800))
		} else {
			b = utf8.AppendRune(b, rune(u))
		}
	}
	return string(b), true
}

// unshadow appends the shadow text t to b as WTF-8 and reports whether it
// wrote a surrogate.
func unshadow(b []byte, t string) ([]byte, bool) {
	sur := false
	for _, r := range t {
		if r >= shadowBase {
			b = appendUnit(b, uint16(0xD800+r-shadowBase))
			sur = true
		} else {
			b = utf8.AppendRune(b, r)
		}
	}
	return b, sur
}

// joinSurrogates merges adjacent WTF-8 high and low surrogates into the
// character they encode, so the result is canonical WTF-8.
func joinSurrogates(b []byte) string {
	s := string(b)
	if !strings.Contains(s, "\xED") {
		return s
	}
	return utf16ToString(utf16Units(s))
}

func (s *session) regexReplace(x *invokeExpr, args []Value) (Value, error) {
	const name = "Replace"
	n := len(args)
	sb, ok := args[2].(*ScriptBlock)
	if !ok {
		return nil, s.methodError(x.e, name, n, errors.New("the evaluator is not a script block"), "ArgumentException")
	}
	// PowerShell passes $null to a .NET string parameter as "".
	inV, err := s.cast("string", args[0], x.e)
	if err != nil {
		return nil, err
	}
	in := inV.(string)
	pattern := ToString(args[1])
	re, err := compileRegex(pattern, false)
	if err != nil {
		return nil, s.methodError(x.e, name, n, fmt.Errorf("parsing \"%s\" - %v", pattern, err), "ArgumentException")
	}
	sh, shadowed := shadow(in)
	matches := re.FindAllStringIndex(sh, -1)
	if len(matches) == 0 {
		return in, nil
	}
	out := make([]byte, 0, len(in)+len(matches)*6)
	surr := false
	pos, unit := 0, 0 // byte offset in sh, and its UTF-16 index
	for _, m := range matches {
		seg := sh[pos:m[0]]
		if shadowed {
			var w bool
			out, w = unshadow(out, seg)
			surr = surr || w
		} else {
			out = append(out, seg...)
		}
		unit += utf8.RuneCountInString(seg)
		val, _ := unshadow(nil, sh[m[0]:m[1]])
		length := utf8.RuneCountInString(sh[m[0]:m[1]])
		value := string(val)
		match := NewObject("System.Text.RegularExpressions.Match",
			"Success", true, "Name", "0", "Index", int64(unit), "Length", int64(length), "Value", value)
		match.Str = func() string { return value }
		res, err := s.callDelegate(sb, []Value{match})
		if err != nil {
			if t, ok := err.(*psThrow); ok {
				return nil, s.methodError(x.e, name, n, errors.New(t.rec.Err.Message), "RuntimeException")
			}
			return nil, err
		}
		str, err := s.cast("string", res, x.e)
		if err != nil {
			return nil, err
		}
		rs := str.(string)
		out = append(out, rs...)
		surr = surr || strings.Contains(rs, "\xED")
		unit += length
		pos = m[1]
	}
	if shadowed {
		var w bool
		out, w = unshadow(out, sh[pos:])
		surr = surr || w
	} else {
		out = append(out, sh[pos:]...)
	}
	if surr {
		return joinSurrogates(out), nil
	}
	return string(out), nil
}

// callDelegate runs a script block the way PowerShell runs one converted
// to a .NET delegate: in a new child scope, with its param() variables
// bound to the arguments (the rest in $args), $_ unset, and every error
// inside it propagated to the caller as an exception.
func (s *session) callDelegate(sb *ScriptBlock, args []Value) (Value, error) {
	parent, oldInherited := s.vars, s.inherited
	oldBar, oldHas := s.dollarBar, s.hasDollarBar
	s.vars = maps.Clone(parent)
	s.inherited = parent
	for i, p := range sb.params {
		var v Value
		if i < len(args) {
			v = args[i]
		}
		s.vars[strings.ToLower(p)] = &variable{v: v}
	}
	rest := []Value{}
	if len(args) > len(sb.params) {
		rest = append(rest, args[len(sb.params):]...)
	}
	s.vars["args"] = &variable{v: &Array{Items: rest}}
	s.dollarBar, s.hasDollarBar = nil, true
	s.tryDepth++
	var items []Value
	err := s.runBody(sb.body, func(v Value) error { items = append(items, v); return nil })
	s.tryDepth--
	s.vars, s.inherited = parent, oldInherited
	s.dollarBar, s.hasDollarBar = oldBar, oldHas
	if _, ok := err.(returnSignal); ok {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return collapse(items), nil
}
