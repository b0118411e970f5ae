package pwsh

import (
	"fmt"
	"strings"
	"unicode"
)

// expression parses a full expression (expression mode).
func (p *parser) expression() (expr, error) { return p.logical(true) }

func (p *parser) logical(comma bool) (expr, error) {
	return p.leftAssoc(comma, p.comparison, func(expr, int) (string, int, error) {
		op, n := p.operatorAt()
		if op != "-and" && op != "-or" && op != "-xor" {
			return "", 0, nil
		}
		return op, n, nil
	})
}

var comparisonOps = map[string]bool{}

func init() {
	for _, base := range []string{"eq", "ne", "gt", "ge", "lt", "le", "like", "notlike", "match", "notmatch", "in", "notin", "contains", "notcontains"} {
		comparisonOps["-"+base] = true
		comparisonOps["-i"+base] = true
		comparisonOps["-c"+base] = true
	}
	for _, o := range []string{"-is", "-isnot", "-join", "-split", "-isplit", "-csplit"} {
		comparisonOps[o] = true
	}
}

var unsupportedOps = map[string]bool{
	"-replace": true, "-ireplace": true, "-creplace": true, "-as": true, "-band": true, "-bor": true,
	"-bxor": true, "-bnot": true, "-shl": true, "-shr": true,
}

// operatorAt returns the dash operator at the cursor (lower-case) and its length in runes.
func (p *parser) operatorAt() (string, int) {
	if !isDash(p.peek()) {
		return "", 0
	}
	j := p.i + 1
	for j < len(p.src) && unicode.IsLetter(p.src[j]) {
		j++
	}
	if j == p.i+1 {
		return "", 0
	}
	return "-" + strings.ToLower(string(p.src[p.i+1:j])), j - p.i
}

func (p *parser) comparison(comma bool) (expr, error) {
	return p.leftAssoc(comma, p.additive, func(expr, int) (string, int, error) {
		op, n := p.operatorAt()
		if unsupportedOps[op] {
			return "", 0, p.unsupported(p.i, p.i+n, fmt.Sprintf("The '%s' operator", op))
		}
		if !comparisonOps[op] {
			if op != "" && op != "-and" && op != "-or" && op != "-xor" && op != "-not" {
				return "", 0, p.errAt(p.i, p.i+n, "UnexpectedToken", "Unexpected token '%s' in expression or statement.", string(p.src[p.i:p.i+n]))
			}
			return "", 0, nil
		}
		if op == "-isplit" {
			return "-split", n, nil
		}
		return op, n, nil
	})
}

// leftAssoc parses operand { op operand }, left to right, for the
// operators opAt finds at p.i: it returns the operator and its length in
// runes, "" where there is none, or the error that rejects the operator
// after l, the expression parsed so far from start.
func (p *parser) leftAssoc(comma bool, operand func(bool) (expr, error), opAt func(l expr, start int) (string, int, error)) (expr, error) {
	start := p.i
	l, err := operand(comma)
	if err != nil {
		return nil, err
	}
	for {
		save := p.i
		p.skip(false)
		op, n, err := opAt(l, start)
		if err != nil {
			return nil, err
		}
		if op == "" {
			p.i = save
			return l, nil
		}
		p.i += n
		p.skip(true)
		rhs, err := operand(comma)
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos{p.extentAt(start, p.i)}, op: op, l: l, r: rhs}
	}
}

func (p *parser) additive(comma bool) (expr, error) {
	return p.leftAssoc(comma, p.multiplicative, func(expr, int) (string, int, error) {
		r := p.peek()
		if !(r == '+' || isDash(r)) || p.peekAt(1) == '=' || (isDash(r) && unicode.IsLetter(p.peekAt(1))) || (r == '+' && p.peekAt(1) == '+') || (isDash(r) && isDash(p.peekAt(1))) {
			return "", 0, nil
		}
		if isDash(r) {
			return "-", 1, nil
		}
		return "+", 1, nil
	})
}

func (p *parser) multiplicative(comma bool) (expr, error) {
	return p.leftAssoc(comma, p.formatExpr, func(expr, int) (string, int, error) {
		r := p.peek()
		if !(r == '*' || r == '/' || r == '%') || p.peekAt(1) == '=' || (r == '*' && p.peekAt(1) == '>') {
			return "", 0, nil
		}
		return string(r), 1, nil
	})
}

// formatExpr parses the -f operator, which binds tighter than * / % and
// looser than casts and the comma. Its format string must be a literal
// whose format items use only the specifiers the lab implements.
func (p *parser) formatExpr(comma bool) (expr, error) {
	return p.leftAssoc(comma, p.unaryMinus, func(l expr, start int) (string, int, error) {
		op, n := p.operatorAt()
		if op != "-f" {
			return "", 0, nil
		}
		c, ok := l.(*constExpr)
		fs, isStr := Value(nil), false
		if ok {
			fs = c.v
			_, isStr = fs.(string)
		}
		if !isStr {
			return "", 0, p.unsupported(start, p.i+n, "The '-f' operator with a format string that is not a string literal")
		}
		if spec, bad := unsupportedFormatSpec(fs.(string)); bad {
			return "", 0, p.unsupported(start, p.i, fmt.Sprintf("The format specifier ':%s' of the -f operator", spec))
		}
		return op, n, nil
	})
}

func (p *parser) unaryMinus(comma bool) (expr, error) {
	start := p.i
	r := p.peek()
	if (isDash(r) && isDash(p.peekAt(1))) || (r == '+' && p.peekAt(1) == '+') {
		return nil, p.unsupported(p.i, p.i+2, fmt.Sprintf("The prefix '%c%c' operator", r, r))
	}
	if (isDash(r) || r == '+') && !unicode.IsLetter(p.peekAt(1)) {
		// a numeric literal with its sign
		if unicode.IsDigit(p.peekAt(1)) || (p.peekAt(1) == '.' && unicode.IsDigit(p.peekAt(2))) {
			if e, ok := p.numberLiteral(); ok {
				return p.postfixAndComma(e, start, comma)
			}
		}
		p.i++
		p.skip(false)
		operand, err := p.unaryMinus(comma)
		if err != nil {
			return nil, err
		}
		op := "-"
		if r == '+' {
			op = "+"
		}
		return &unaryExpr{pos: pos{p.extentAt(start, p.i)}, op: op, operand: operand}, nil
	}
	return p.notExpr(comma)
}

func (p *parser) notExpr(comma bool) (expr, error) {
	start := p.i
	if p.peek() == '!' {
		p.i++
		p.skip(false)
		operand, err := p.unaryMinus(comma)
		if err != nil {
			return nil, err
		}
		return &unaryExpr{pos: pos{p.extentAt(start, p.i)}, op: "-not", operand: operand}, nil
	}
	op, n := p.operatorAt()
	switch op {
	case "-not", "-join", "-split", "-bnot":
		if op == "-bnot" {
			return nil, p.unsupported(p.i, p.i+n, "The '-bnot' operator")
		}
		p.i += n
		p.skip(false)
		var operand expr
		var err error
		if op == "-not" {
			operand, err = p.unaryMinus(comma)
		} else {
			operand, err = p.commaExpr(comma)
		}
		if err != nil {
			return nil, err
		}
		return &unaryExpr{pos: pos{p.extentAt(start, p.i)}, op: op, operand: operand}, nil
	case "":
	default:
		return nil, p.errAt(p.i, p.i+n, "UnexpectedToken", "Unexpected token '%s' in expression or statement.", string(p.src[p.i:p.i+n]))
	}
	return p.commaExpr(comma)
}

func (p *parser) commaExpr(comma bool) (expr, error) {
	start := p.i
	if p.peek() == ',' {
		if !comma {
			return nil, p.errAt(p.i, p.i+1, "MissingExpression", "Missing expression after ','.")
		}
		p.i++
		p.skip(true)
		operand, err := p.unaryPrefix()
		if err != nil {
			return nil, err
		}
		first := &unaryExpr{pos: pos{p.extentAt(start, p.i)}, op: ",", operand: operand}
		return p.commaTail(first, start, comma)
	}
	first, err := p.unaryPrefix()
	if err != nil {
		return nil, err
	}
	return p.commaTail(first, start, comma)
}

func (p *parser) postfixAndComma(e expr, start int, comma bool) (expr, error) {
	e, err := p.postfix(e, start)
	if err != nil {
		return nil, err
	}
	return p.commaTail(e, start, comma)
}

func (p *parser) commaTail(first expr, start int, comma bool) (expr, error) {
	if !comma {
		return first, nil
	}
	save := p.i
	p.skip(false)
	if p.peek() != ',' {
		p.i = save
		return first, nil
	}
	items := []expr{first}
	for p.peek() == ',' {
		p.i++
		p.skip(true)
		it, err := p.unaryPrefix()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		save = p.i
		p.skip(false)
	}
	p.i = save
	return &arrayLiteral{pos: pos{p.extentAt(start, p.i)}, items: items}, nil
}

// unaryPrefix handles casts and numeric signs, then a primary with postfix operators.
func (p *parser) unaryPrefix() (expr, error) {
	start := p.i
	r := p.peek()
	if r == '[' {
		t, err := p.typeName()
		if err != nil {
			return nil, err
		}
		// static member?
		if p.peek() == ':' && p.peekAt(1) == ':' {
			return p.staticMember(t, start)
		}
		if t == "regex" {
			return nil, p.unsupported(start, p.i, "The type '[regex]' other than in [regex]::Replace")
		}
		save := p.i
		p.skip(false)
		nr := p.peek()
		castable := nr == '$' || nr == '(' || nr == '@' || nr == '[' || isSingleQuote(nr) || isDoubleQuote(nr) || unicode.IsDigit(nr) ||
			((isDash(nr) || nr == '+') && (unicode.IsDigit(p.peekAt(1)) || p.peekAt(1) == '$'))
		if t == "ordered" {
			if !(nr == '@' && p.peekAt(1) == '{') {
				return nil, p.errAt(start, p.i, "OrderedAttributeOnlyOnHashLiteralNode", "The ordered attribute can be specified only on a hash literal node.")
			}
			h, err := p.primary()
			if err != nil {
				return nil, err
			}
			h.(*hashExpr).ordered = true
			return p.postfix(h, start)
		}
		if !castable {
			p.i = save
			return &typeExpr{pos: pos{p.extentAt(start, p.i)}, typ: t}, nil
		}
		operand, err := p.unaryPrefix()
		if err != nil {
			return nil, err
		}
		return &castExpr{pos: pos{p.extentAt(start, p.i)}, typ: t, operand: operand}, nil
	}
	if (isDash(r) || r == '+') && (unicode.IsDigit(p.peekAt(1)) || (p.peekAt(1) == '.' && unicode.IsDigit(p.peekAt(2)))) {
		if e, ok := p.numberLiteral(); ok {
			return p.postfix(e, start)
		}
	}
	if isDash(r) || r == '!' {
		// a unary operator inside a comma list or cast: -not, -join, -1 handled above
		operand, err := p.unaryMinus(false)
		if err != nil {
			return nil, err
		}
		return operand, nil
	}
	e, err := p.primary()
	if err != nil {
		return nil, err
	}
	return p.postfix(e, start)
}

var staticMembers = map[string]bool{
	"console::in": true, "convert::frombase64string": true, "convert::tobase64string": true, "guid::empty": true,
	"guid::newguid": true, "string::isnullorempty": true, "string::isnullorwhitespace": true, "string::empty": true,
	"string::join": true, "guid::parse": true, "datetime::utcnow": true, "datetime::now": true, "regex::replace": true,
}

func (p *parser) staticMember(t string, start int) (expr, error) {
	p.i += 2
	ns := p.i
	for p.i < len(p.src) && isVarChar(p.src[p.i]) {
		p.i++
	}
	name := string(p.src[ns:p.i])
	if !staticMembers[t+"::"+strings.ToLower(name)] {
		return nil, p.unsupported(start, p.i, fmt.Sprintf("The static member '[%s]::%s'", t, name))
	}
	var e expr
	if p.peek() == '(' {
		args, err := p.callArgs()
		if err != nil {
			return nil, err
		}
		if t == "regex" {
			sb, ok := (*scriptBlockExpr)(nil), len(args) == 3
			if ok {
				sb, ok = args[2].(*scriptBlockExpr)
			}
			if !ok {
				return nil, p.unsupported(start, p.i, "[regex]::Replace other than with three arguments (input, pattern, a script block MatchEvaluator)")
			}
			sb.evaluator = true
		}
		e = &invokeExpr{pos: pos{p.extentAt(start, p.i)}, obj: &typeExpr{typ: t}, name: name, args: args, static: true}
	} else {
		if t == "regex" {
			return nil, p.unsupported(start, p.i, "[regex]::Replace other than with three arguments (input, pattern, a script block MatchEvaluator)")
		}
		e = &memberExpr{pos: pos{p.extentAt(start, p.i)}, obj: &typeExpr{typ: t}, name: name, static: true}
	}
	return p.postfix(e, start)
}

// callArgs parses "( a, b )" for method calls.
func (p *parser) callArgs() ([]expr, error) {
	p.i++ // (
	var args []expr
	p.skip(true)
	if p.peek() == ')' {
		p.i++
		return args, nil
	}
	for {
		p.skip(true)
		a, err := p.logical(false)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
		p.skip(true)
		if p.peek() == ',' {
			p.i++
			continue
		}
		if p.peek() == ')' {
			p.i++
			return args, nil
		}
		return nil, p.errAt(p.i, p.i+1, "MissingEndParenthesisInMethodCall", "Missing ')' in method call.")
	}
}

// postfix parses member access, method calls and indexing (no whitespace before them).
func (p *parser) postfix(e expr, start int) (expr, error) {
	for {
		r := p.peek()
		switch {
		case r == '.' && !(p.peekAt(1) == '.'):
			p.i++
			ns := p.i
			var name string
			switch nr := p.peek(); {
			case isVarChar(nr):
				for p.i < len(p.src) && isVarChar(p.src[p.i]) {
					p.i++
				}
				name = string(p.src[ns:p.i])
			case isSingleQuote(nr) || isDoubleQuote(nr):
				s, err := p.primary()
				if err != nil {
					return nil, err
				}
				c, ok := s.(*constExpr)
				if !ok {
					return nil, p.unsupported(ns, p.i, "A member name with variables")
				}
				name = ToString(c.v)
			default:
				return nil, p.errAt(p.i, p.i+1, "MissingPropertyName", "Missing property name after reference operator.")
			}
			if p.peek() == '(' {
				args, err := p.callArgs()
				if err != nil {
					return nil, err
				}
				e = &invokeExpr{pos: pos{p.extentAt(start, p.i)}, obj: e, name: name, args: args}
			} else {
				e = &memberExpr{pos: pos{p.extentAt(start, p.i)}, obj: e, name: name}
			}
		case r == '[':
			p.i++
			p.skip(true)
			idx, err := p.expression()
			if err != nil {
				return nil, err
			}
			p.skip(true)
			if p.peek() != ']' {
				return nil, p.errAt(p.i, p.i+1, "MissingEndSquareBracket", "Array index expression is missing or not valid.")
			}
			p.i++
			e = &indexExpr{pos: pos{p.extentAt(start, p.i)}, obj: e, index: idx}
		case r == ':' && p.peekAt(1) == ':':
			return nil, p.unsupported(p.i, p.i+2, "The static member operator '::' on an expression")
		default:
			return e, nil
		}
	}
}

func (p *parser) primary() (expr, error) {
	start := p.i
	r := p.peek()
	switch {
	case p.eof():
		return nil, p.errAt(p.i, p.i, "ExpectedValueExpression", "You must provide a value expression following the operator.")
	case r == '$':
		if p.peekAt(1) == '(' {
			p.i += 2
			b, err := p.enclosed(p.i-2, ')')
			if err != nil {
				return nil, err
			}
			p.i++
			return &subExpr{pos: pos{p.extentAt(start, p.i)}, body: b}, nil
		}
		return p.variable()
	case r == '@':
		switch p.peekAt(1) {
		case '(':
			p.i += 2
			b, err := p.enclosed(p.i-2, ')')
			if err != nil {
				return nil, err
			}
			p.i++
			return &arrayExpr{pos: pos{p.extentAt(start, p.i)}, body: b}, nil
		case '{':
			return p.hashLiteral()
		}
		if isSingleQuote(p.peekAt(1)) || isDoubleQuote(p.peekAt(1)) {
			return p.hereString()
		}
		if isVarChar(p.peekAt(1)) {
			return nil, p.errAt(p.i, p.i+1, "SplattingNotPermitted", "The splatting operator '@' cannot be used to reference variables in an expression. '@%s' can be used only as an argument to a command. To reference variables in an expression use '$%s'.", p.wordAt(p.i+1), p.wordAt(p.i+1))
		}
		return nil, p.unexpected()
	case r == '(':
		p.i++
		p.skip(true)
		if p.peek() == ')' {
			return nil, p.errAt(p.i, p.i+1, "ExpectedExpression", "An expression was expected after '('.")
		}
		s, err := p.statement()
		if err != nil {
			return nil, err
		}
		p.skip(true)
		if p.peek() != ')' {
			if p.eof() {
				return nil, p.errAt(p.i, p.i, "MissingEndParenthesisInExpression", "Missing closing ')' in expression.")
			}
			return nil, p.unexpected()
		}
		p.i++
		return &parenExpr{pos: pos{p.extentAt(start, p.i)}, inner: s}, nil
	case r == '{':
		p.i++
		bs := p.i
		params, paramAt, err := p.paramBlock()
		if err != nil {
			return nil, err
		}
		b, err := p.enclosed(bs-1, '}')
		if err != nil {
			return nil, err
		}
		text := string(p.src[bs:p.i])
		p.i++
		sb := &scriptBlockExpr{pos: pos{p.extentAt(start, p.i)}, body: b, text: text, params: params, paramAt: paramAt}
		if paramAt >= 0 {
			p.paramBlocks = append(p.paramBlocks, sb)
		}
		return sb, nil
	case isSingleQuote(r):
		p.i++
		var b strings.Builder
		for {
			if p.eof() {
				return nil, p.errAt(start, p.i, "TerminatorExpectedAtEndOfString", "The string is missing the terminator: '.")
			}
			c := p.src[p.i]
			if isSingleQuote(c) {
				if isSingleQuote(p.peekAt(1)) {
					b.WriteRune(p.src[p.i+1])
					p.i += 2
					continue
				}
				p.i++
				break
			}
			b.WriteRune(c)
			p.i++
		}
		return &constExpr{pos: pos{p.extentAt(start, p.i)}, v: b.String()}, nil
	case isDoubleQuote(r):
		p.i++
		parts, err := p.expandable(func(rune) bool { return false }, true)
		if err != nil {
			return nil, err
		}
		p.i++ // closing quote
		return makeString(parts, p.extentAt(start, p.i)), nil
	case unicode.IsDigit(r) || r == '.':
		if e, ok := p.numberLiteral(); ok {
			j := p.i
			if j < len(p.src) && (unicode.IsLetter(p.src[j])) {
				return nil, p.unexpected()
			}
			return e, nil
		}
		return nil, p.unexpected()
	}
	return nil, p.unexpected()
}
