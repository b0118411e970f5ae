package pwsh

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

func makeString(parts []strPart, e extent) expr {
	if len(parts) == 0 {
		return &constExpr{pos: pos{e}, v: ""}
	}
	if len(parts) == 1 && parts[0].vari == "" && parts[0].sub == nil {
		return &constExpr{pos: pos{e}, v: parts[0].lit}
	}
	return &expandString{pos: pos{e}, parts: parts}
}

// parseNumber parses a PowerShell numeric literal (decimal, hex, double, L suffix).
func parseNumber(tok string) (Value, bool) {
	t := strings.ToLower(tok)
	if t == "" {
		return nil, false
	}
	neg := false
	if t[0] == '-' || t[0] == '+' {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" || !(t[0] >= '0' && t[0] <= '9' || t[0] == '.') {
		return nil, false
	}
	long := false
	if strings.HasSuffix(t, "l") && !strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0x") && strings.HasSuffix(t, "l") {
		long = true
		t = t[:len(t)-1]
	}
	_ = long
	if strings.HasPrefix(t, "0x") {
		n, err := strconv.ParseUint(t[2:], 16, 64)
		if err != nil || t[2:] == "" {
			return nil, false
		}
		v := int64(n)
		if n <= math.MaxUint32 && !long {
			v = int64(int32(uint32(n)))
		}
		if neg {
			v = -v
		}
		return v, true
	}
	for _, c := range t {
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == '+' || c == '-') {
			return nil, false
		}
	}
	if !strings.ContainsAny(t, ".e") {
		n, err := strconv.ParseInt(t, 10, 64)
		if err == nil {
			if neg {
				n = -n
			}
			return n, true
		}
	}
	if strings.Count(t, ".") > 1 || strings.HasSuffix(t, "e") {
		return nil, false
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return nil, false
		}
	}
	if long {
		return nil, false
	}
	if neg {
		f = -f
	}
	return f, true
}

// expandable scans an expandable string body until stop(r) is true at the
// cursor (not consumed). quoted: doubled double quotes escape one.
func (p *parser) expandable(stop func(rune) bool, quoted bool) ([]strPart, error) {
	var parts []strPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, strPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for {
		if p.eof() {
			if quoted {
				return nil, p.errAt(p.i, p.i, "TerminatorExpectedAtEndOfString", "The string is missing the terminator: \".")
			}
			break
		}
		r := p.src[p.i]
		if quoted && isDoubleQuote(r) {
			if isDoubleQuote(p.peekAt(1)) {
				lit.WriteRune(p.src[p.i+1])
				p.i += 2
				continue
			}
			break
		}
		if !quoted && stop(r) {
			break
		}
		if quoted && stop(r) {
			break
		}
		switch {
		case r == '`':
			if p.i+1 >= len(p.src) {
				p.i++
				if quoted {
					return nil, p.errAt(p.i, p.i, "TerminatorExpectedAtEndOfString", "The string is missing the terminator: \".")
				}
				continue
			}
			lit.WriteRune(backtickEscape(p.src[p.i+1]))
			p.i += 2
		case r == '$':
			n := p.peekAt(1)
			switch {
			case n == '(':
				flush()
				p.i += 2
				b, err := p.enclosed(p.i-2, ')')
				if err != nil {
					return nil, err
				}
				p.i++
				parts = append(parts, strPart{sub: b})
			case n == '{' || isVarChar(n) || n == '_' || n == '?' || n == '$' || n == '^':
				flush()
				ve, err := p.variable()
				if err != nil {
					return nil, err
				}
				parts = append(parts, strPart{vari: ve.(*varExpr).name})
			default:
				lit.WriteRune('$')
				p.i++
			}
		default:
			lit.WriteRune(r)
			p.i++
		}
	}
	flush()
	return parts, nil
}

func backtickEscape(r rune) rune {
	switch r {
	case '0':
		return 0
	case 'a':
		return 7
	case 'b':
		return 8
	case 'f':
		return 12
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'v':
		return 11
	}
	return r
}

// variable parses $name, ${name}, $_, $?, $$, $^ and scope-qualified names.
func (p *parser) variable() (expr, error) {
	start := p.i
	p.i++ // $
	if p.peek() == '{' {
		p.i++
		ns := p.i
		for p.i < len(p.src) && p.src[p.i] != '}' {
			if p.src[p.i] == '`' {
				p.i++
			}
			p.i++
		}
		if p.i >= len(p.src) {
			return nil, p.errAt(start, p.i, "IncompleteDollarVariableReference", "Missing '}' in variable reference.")
		}
		name := strings.ReplaceAll(string(p.src[ns:p.i]), "`", "")
		p.i++
		return p.scoped(start, name)
	}
	switch r := p.peek(); {
	case r == '?' || r == '$' || r == '^':
		p.i++
		return &varExpr{pos: pos{p.extentAt(start, p.i)}, name: string(r)}, nil
	case isVarChar(r):
		ns := p.i
		for p.i < len(p.src) && isVarChar(p.src[p.i]) {
			p.i++
		}
		name := string(p.src[ns:p.i])
		if p.peek() == ':' && p.peekAt(1) != ':' {
			if !isVarChar(p.peekAt(1)) && p.peekAt(1) != '{' {
				return nil, p.errAt(start, p.i+1, "InvalidVariableReferenceWithDrive", "Variable reference is not valid. ':' was not followed by a valid variable name character. Consider using ${} to delimit the name.")
			}
			p.i++
			vs := p.i
			for p.i < len(p.src) && isVarChar(p.src[p.i]) {
				p.i++
			}
			name = name + ":" + string(p.src[vs:p.i])
		}
		return p.scoped(start, name)
	}
	return nil, p.errAt(start, start+1, "InvalidVariableReference", "Variable reference is not valid. '$' was not followed by a valid variable name character. Consider using ${} to delimit the name.")
}

func (p *parser) scoped(start int, name string) (expr, error) {
	if scope, rest, ok := strings.Cut(name, ":"); ok {
		switch strings.ToLower(scope) {
		case "script", "global", "local", "private":
			name = rest
		default:
			return nil, p.unsupported(start, p.i, fmt.Sprintf("The variable scope or drive '%s:'", scope))
		}
	}
	return &varExpr{pos: pos{p.extentAt(start, p.i)}, name: name}, nil
}

// typeName parses "[...]" and returns the canonical lower-case name.
func (p *parser) typeName() (string, error) {
	start := p.i
	p.i++ // [
	depth := 1
	ns := p.i
	for p.i < len(p.src) && depth > 0 {
		switch p.src[p.i] {
		case '[':
			depth++
		case ']':
			depth--
		case '\n', '\r':
			return "", p.errAt(start, p.i, "EndSquareBracketExpectedAtEndOfAttribute", "Missing ] at end of attribute or type literal.")
		}
		p.i++
	}
	if depth > 0 {
		return "", p.errAt(start, p.i, "EndSquareBracketExpectedAtEndOfAttribute", "Missing ] at end of attribute or type literal.")
	}
	raw := strings.TrimSpace(string(p.src[ns : p.i-1]))
	t := strings.ToLower(strings.ReplaceAll(raw, " ", ""))
	t = strings.TrimPrefix(t, "system.")
	switch t {
	case "int32":
		t = "int"
	case "int64":
		t = "long"
	case "boolean":
		t = "bool"
	case "management.automation.pscustomobject":
		t = "pscustomobject"
	case "collections.hashtable":
		t = "hashtable"
	case "collections.specialized.ordereddictionary":
		t = "ordered"
	case "management.automation.errorrecord":
		t = "errorrecord"
	case "text.regularexpressions.regex":
		t = "regex"
	}
	switch t {
	case "string", "int", "long", "bool", "guid", "array", "string[]", "object[]", "object", "ordered", "pscustomobject",
		"console", "convert", "double", "uri", "hashtable", "datetime", "errorrecord", "exception", "psobject",
		"management.automation.runtimeexception", "management.automation.actionpreferencestopexception", "char", "regex":
		return t, nil
	}
	return "", p.errAt(start, p.i, "TypeNotSupported", "The type '[%s]' is not supported in the exrunbook lab.", raw)
}

func (p *parser) numberLiteral() (expr, bool) {
	start := p.i
	j := p.i
	if isDash(p.src[j]) || p.src[j] == '+' {
		j++
	}
	for j < len(p.src) && (isVarChar(p.src[j]) || p.src[j] == '.' ||
		((p.src[j] == '+' || p.src[j] == '-') && j > 0 && (p.src[j-1] == 'e' || p.src[j-1] == 'E') && !strings.HasPrefix(strings.ToLower(string(p.src[start:j])), "0x"))) {
		if p.src[j] == '.' && !(j+1 < len(p.src) && unicode.IsDigit(p.src[j+1])) {
			break
		}
		j++
	}
	tok := string(p.src[start:j])
	if isDash(p.src[start]) {
		tok = "-" + string(p.src[start+1:j])
	}
	v, ok := parseNumber(tok)
	if !ok {
		return nil, false
	}
	p.i = j
	return &constExpr{pos: pos{p.extentAt(start, j)}, v: v}, true
}

func (p *parser) hashLiteral() (expr, error) {
	start := p.i
	p.i += 2
	h := &hashExpr{}
	for {
		p.skip(true)
		for p.peek() == ';' {
			p.i++
			p.skip(true)
		}
		if p.peek() == '}' {
			p.i++
			break
		}
		if p.eof() {
			return nil, p.errAt(p.i, p.i, "MissingEndCurlyBrace", "Missing closing '}' in statement block or type definition.")
		}
		var key expr
		ks := p.i
		r := p.peek()
		switch {
		case isVarChar(r) || r == '-':
			for p.i < len(p.src) && (isVarChar(p.src[p.i]) || p.src[p.i] == '-' || p.src[p.i] == '.') {
				p.i++
			}
			tok := string(p.src[ks:p.i])
			if v, ok := parseNumber(tok); ok {
				key = &constExpr{pos: pos{p.extentAt(ks, p.i)}, v: v}
			} else {
				key = &constExpr{pos: pos{p.extentAt(ks, p.i)}, v: tok}
			}
		default:
			k, err := p.unaryPrefix()
			if err != nil {
				return nil, err
			}
			key = k
		}
		p.skip(false)
		if p.peek() != '=' {
			return nil, p.errAt(p.i, p.i+1, "MissingEqualsInHashLiteral", "Missing '=' operator after key in hash literal.")
		}
		p.i++
		p.skip(true)
		if p.peek() == '}' || p.eof() {
			return nil, p.errAt(p.i, p.i+1, "MissingHashEntry", "Missing statement after '=' in hash literal.")
		}
		v, err := p.statement()
		if err != nil {
			return nil, err
		}
		h.entries = append(h.entries, hashEntry{key: key, value: v})
		p.skip(false)
		if r := p.peek(); !(r == ';' || r == '}' || isNewline(r)) {
			return nil, p.errAt(p.i, p.i+1, "MissingEndCurlyBrace", "The hash literal was incomplete.")
		}
	}
	h.e = p.extentAt(start, p.i)
	return h, nil
}

func (p *parser) hereString() (expr, error) {
	start := p.i
	q := p.src[p.i+1]
	double := isDoubleQuote(q)
	p.i += 2
	for p.i < len(p.src) && isSpace(p.src[p.i]) {
		p.i++
	}
	if p.peek() == '\r' {
		p.i++
	}
	if p.peek() != '\n' {
		return nil, p.errAt(start, p.i, "UnexpectedCharactersAfterHereStringHeader", "No characters are allowed after a here-string header but before the end of the line.")
	}
	p.i++
	bodyStart := p.i
	// find the terminator: newline, quote, @
	end := -1
	for j := bodyStart; j < len(p.src); j++ {
		if (j == bodyStart || p.src[j-1] == '\n') && j+1 < len(p.src) {
			isQ := isSingleQuote(p.src[j])
			if double {
				isQ = isDoubleQuote(p.src[j])
			}
			if isQ && p.src[j+1] == '@' {
				end = j
				break
			}
		}
	}
	if end < 0 {
		return nil, p.errAt(start, len(p.src), "TerminatorExpectedAtEndOfString", "The string is missing the terminator: %c@.", q)
	}
	contentEnd := end
	if contentEnd > bodyStart {
		contentEnd-- // the newline before the terminator
		if contentEnd > bodyStart && p.src[contentEnd-1] == '\r' {
			contentEnd--
		}
	}
	if !double {
		text := string(p.src[bodyStart:contentEnd])
		p.i = end + 2
		return &constExpr{pos: pos{p.extentAt(start, p.i)}, v: text}, nil
	}
	p.i = bodyStart
	limit := contentEnd
	parts, err := p.expandable(func(rune) bool { return p.i >= limit }, false)
	if err != nil {
		return nil, err
	}
	if p.i > limit {
		return nil, p.errAt(start, p.i, "TerminatorExpectedAtEndOfString", "The string is missing the terminator: \"@.")
	}
	p.i = end + 2
	return makeString(parts, p.extentAt(start, p.i)), nil
}
