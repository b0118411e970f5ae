package exchange

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// An OPATH filter, the subset the lab evaluates: comparisons
// `Property -op 'value'` with -eq -ne -like -notlike, combined with -and,
// -or, -not and parentheses, optionally wrapped in braces. Values are
// single- or double-quoted strings, barewords, $true, $false or $null.

type filterNode interface {
	eval(get func(prop string) (any, bool)) bool
}

type cmpNode struct {
	prop, op string
	val      any // string, bool or nil
}

type boolNode struct {
	op   string // "and", "or"
	l, r filterNode
}

type notNode struct{ x filterNode }

// filterError is Exchange's error for a bad -Filter.
func filterError(format string, a ...any) *pwsh.Error {
	return &pwsh.Error{
		Message:       "Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": \"" + fmt.Sprintf(format, a...) + "\"",
		ExceptionType: "System.Management.Automation.ParameterBindingException",
		Category:      pwsh.CatInvalidArgument, ErrorID: "ParameterBindingFailed",
	}
}

// parseFilter parses text, accepting only the given filterable properties
// (lower-case name → canonical name).
func parseFilter(text string, filterable map[string]string, validList string) (filterNode, error) {
	p := &filterParser{src: text, filterable: filterable, valid: validList}
	if err := p.lex(); err != nil {
		return nil, err
	}
	if len(p.toks) >= 2 && p.toks[0].kind == "{" && p.toks[len(p.toks)-1].kind == "}" {
		p.toks = p.toks[1 : len(p.toks)-1]
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, p.syntax(p.toks[p.pos].at)
	}
	return n, nil
}

type ftok struct {
	kind string // "word", "str", "op", "(", ")", "{", "}", "var"
	text string
	at   int
}

type filterParser struct {
	src        string
	toks       []ftok
	pos        int
	filterable map[string]string
	valid      string
}

func (p *filterParser) syntax(at int) error {
	return filterError("Invalid filter syntax. For a description of the filter parameter syntax see the command help.\n\"%s\" at position %d.", p.src, at+1)
}

func isQuote(r rune, double bool) bool {
	if double {
		return r == '"' || r == '“' || r == '”' || r == '„'
	}
	return r == '\'' || r == '‘' || r == '’' || r == '‚' || r == '‛'
}

func (p *filterParser) lex() error {
	rs := []rune(p.src)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(' || r == ')' || r == '{' || r == '}':
			p.toks = append(p.toks, ftok{kind: string(r), at: i})
			i++
		case isQuote(r, false) || isQuote(r, true):
			double := isQuote(r, true)
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(rs) {
				if isQuote(rs[i], double) {
					if i+1 < len(rs) && isQuote(rs[i+1], double) {
						b.WriteRune(rs[i])
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return p.syntax(start)
			}
			p.toks = append(p.toks, ftok{kind: "str", text: b.String(), at: start})
		case r == '-' || r == '!':
			start := i
			if r == '!' {
				p.toks = append(p.toks, ftok{kind: "op", text: "not", at: i})
				i++
				continue
			}
			i++
			for i < len(rs) && unicode.IsLetter(rs[i]) {
				i++
			}
			p.toks = append(p.toks, ftok{kind: "op", text: strings.ToLower(string(rs[start+1 : i])), at: start})
		case r == '$':
			start := i
			i++
			for i < len(rs) && (unicode.IsLetter(rs[i]) || unicode.IsDigit(rs[i])) {
				i++
			}
			p.toks = append(p.toks, ftok{kind: "var", text: strings.ToLower(string(rs[start+1 : i])), at: start})
		default:
			start := i
			for i < len(rs) && !unicode.IsSpace(rs[i]) && !strings.ContainsRune("(){}", rs[i]) {
				i++
			}
			p.toks = append(p.toks, ftok{kind: "word", text: string(rs[start:i]), at: start})
		}
	}
	return nil
}

func (p *filterParser) peek() *ftok {
	if p.pos < len(p.toks) {
		return &p.toks[p.pos]
	}
	return nil
}

func (p *filterParser) end() int { return len([]rune(p.src)) }

func (p *filterParser) parseOr() (filterNode, error) { return p.parseBinary("or", p.parseAnd) }

func (p *filterParser) parseAnd() (filterNode, error) { return p.parseBinary("and", p.parseNot) }

// parseBinary parses operands joined by the operator op, grouping them
// from the left.
func (p *filterParser) parseBinary(op string, operand func() (filterNode, error)) (filterNode, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t != nil && t.kind == "op" && t.text == op; t = p.peek() {
		p.pos++
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = &boolNode{op: op, l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) parseNot() (filterNode, error) {
	t := p.peek()
	if t == nil {
		return nil, p.syntax(p.end())
	}
	if t.kind == "op" && t.text == "not" {
		p.pos++
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &notNode{x}, nil
	}
	if t.kind == "(" {
		p.pos++
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.peek(); c == nil || c.kind != ")" {
			if c == nil {
				return nil, p.syntax(p.end())
			}
			return nil, p.syntax(c.at)
		}
		p.pos++
		return x, nil
	}
	return p.parseCmp()
}

func (p *filterParser) parseCmp() (filterNode, error) {
	t := p.peek()
	if t.kind != "word" {
		return nil, p.syntax(t.at)
	}
	prop, ok := p.filterable[strings.ToLower(t.text)]
	if !ok {
		return nil, filterError("\"%s\" is not a recognized filterable property. Valid property names are: %s.", t.text, p.valid)
	}
	p.pos++
	op := p.peek()
	if op == nil || op.kind != "op" {
		if op == nil {
			return nil, p.syntax(p.end())
		}
		return nil, p.syntax(op.at)
	}
	switch op.text {
	case "eq", "ne", "like", "notlike", "ceq", "cne":
	default:
		return nil, p.syntax(op.at)
	}
	p.pos++
	v := p.peek()
	if v == nil {
		return nil, p.syntax(p.end())
	}
	p.pos++
	n := &cmpNode{prop: prop, op: strings.TrimPrefix(op.text, "c")}
	switch v.kind {
	case "str", "word":
		n.val = v.text
	case "var":
		switch v.text {
		case "true":
			n.val = true
		case "false":
			n.val = false
		case "null":
			n.val = nil
		default:
			return nil, p.syntax(v.at)
		}
	default:
		return nil, p.syntax(v.at)
	}
	return n, nil
}

func (n *boolNode) eval(get func(string) (any, bool)) bool {
	if n.op == "and" {
		return n.l.eval(get) && n.r.eval(get)
	}
	return n.l.eval(get) || n.r.eval(get)
}

func (n *notNode) eval(get func(string) (any, bool)) bool { return !n.x.eval(get) }

func (n *cmpNode) eval(get func(string) (any, bool)) bool {
	v, _ := get(n.prop)
	var match bool
	switch vals := v.(type) {
	case []string: // multi-valued: any element matches
		for _, s := range vals {
			if n.match(s) {
				match = true
				break
			}
		}
		if len(vals) == 0 {
			match = n.match(nil)
		}
	default:
		match = n.match(v)
	}
	if n.op == "ne" || n.op == "notlike" {
		return !match
	}
	return match
}

// match is the positive comparison (-eq / -like) of one value.
func (n *cmpNode) match(v any) bool {
	if n.val == nil {
		return v == nil || v == ""
	}
	switch want := n.val.(type) {
	case bool:
		b, ok := v.(bool)
		return ok && b == want
	case string:
		var have string
		switch t := v.(type) {
		case nil:
			return false
		case bool:
			if strings.EqualFold(want, "true") || strings.EqualFold(want, "false") {
				return t == strings.EqualFold(want, "true")
			}
			return false
		case string:
			have = t
		default:
			have = fmt.Sprint(t)
		}
		if n.op == "like" || n.op == "notlike" {
			return wildcardMatch(want, have)
		}
		return strings.EqualFold(want, have)
	}
	return false
}

// wildcardMatch is OPATH -like: '*' matches any run, case-insensitively.
func wildcardMatch(pattern, s string) bool {
	p, t := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	var rec func(i, j int) bool
	memo := map[[2]int]bool{}
	rec = func(i, j int) bool {
		if v, ok := memo[[2]int{i, j}]; ok {
			return v
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(t)
		case p[i] == '*':
			r = rec(i+1, j) || (j < len(t) && rec(i, j+1))
		default:
			r = j < len(t) && p[i] == t[j] && rec(i+1, j+1)
		}
		memo[[2]int{i, j}] = r
		return r
	}
	return rec(0, 0)
}

// ldapAttributes maps filterable properties to their AD attributes, for
// LdapRecipientFilter; the others are the property name with a lower-case
// first letter.
var ldapAttributes = map[string]string{
	"Alias": "mailNickname", "CustomAttribute1": "extensionAttribute1", "PrimarySmtpAddress": "mail",
	"WindowsEmailAddress": "mail", "EmailAddresses": "proxyAddresses", "Guid": "objectGUID", "Database": "homeMDB",
	"MemberOfGroup": "memberOf", "ServerName": "msExchHomeServerName", "RecipientTypeDetails": "msExchRecipientTypeDetails",
}

// ldapFilter renders an OPATH filter as the LDAP filter Exchange stores
// beside it (LdapRecipientFilter): comparisons as (attribute=value), -ne
// and -notlike negated, -and/-or/-not as &, |, !. A filter the lab cannot
// parse renders as "".
func ldapFilter(text string) string {
	n, err := parseFilter(text, recipientFilterable, recipientFilterableList)
	if err != nil {
		return ""
	}
	return ldapOf(n)
}

func ldapOf(n filterNode) string {
	switch t := n.(type) {
	case *boolNode:
		op := "&"
		if t.op == "or" {
			op = "|"
		}
		return "(" + op + ldapOf(t.l) + ldapOf(t.r) + ")"
	case *notNode:
		return "(!" + ldapOf(t.x) + ")"
	case *cmpNode:
		attr, ok := ldapAttributes[t.prop]
		if !ok {
			attr = strings.ToLower(t.prop[:1]) + t.prop[1:]
		}
		var val string
		switch v := t.val.(type) {
		case nil:
			val = "*"
		case bool:
			val = strings.ToUpper(fmt.Sprint(v))
		default:
			val = ldapEscape(fmt.Sprint(v), t.op == "like" || t.op == "notlike")
		}
		s := "(" + attr + "=" + val + ")"
		if (t.op == "ne" || t.op == "notlike") != (t.val == nil) {
			s = "(!" + s + ")"
		}
		return s
	}
	return ""
}

// ldapEscape escapes an LDAP assertion value (RFC 4515), keeping the *
// wildcards of a -like pattern.
func ldapEscape(s string, wild bool) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '*' && wild:
			b.WriteRune(r)
		case r == '*' || r == '(' || r == ')' || r == '\\' || r == 0:
			fmt.Fprintf(&b, "\\%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
