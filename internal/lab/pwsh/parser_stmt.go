package pwsh

import (
	"fmt"
	"strings"
	"unicode"
)

// unsupportedCommands are Windows PowerShell commands (and their aliases)
// outside the lab's subset: scripts using them are rejected up front
// rather than failing at run time as unknown commands.
var unsupportedCommands = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`format-table ft format-list fl format-wide fw format-custom fc out-string out-file
		out-host oh out-default out-gridview ogv out-printer tee-object tee export-csv epcsv import-csv ipcsv
		convertto-csv convertfrom-csv convertto-xml convertto-html export-clixml import-clixml get-content gc cat type
		set-content sc add-content ac clear-content get-childitem gci ls dir get-item gi new-item ni remove-item rm del
		erase rd rmdir copy-item cp copy move-item mv move rename-item ren test-path join-path split-path resolve-path
		set-location cd chdir sl get-location pwd gl push-location pushd pop-location popd invoke-item ii
		invoke-expression iex invoke-command icm start-process saps start start-job sajb receive-job rcjb get-job
		wait-job invoke-webrequest iwr curl wget invoke-restmethod irm new-pssession nsn enter-pssession etsn
		import-pssession import-module ipmo get-module gmo remove-module rmo get-command gcm get-help help man
		get-member gm add-member select-string sls get-process gps ps stop-process spps kill get-service gsv
		start-service sasv stop-service spsv restart-service set-service get-wmiobject gwmi get-ciminstance gcim
		invoke-wmimethod set-variable set get-variable gv new-variable nv remove-variable rv clear-variable clv
		set-alias sal new-alias nal get-alias gal read-host write-verbose write-debug write-information
		write-progress clear-host cls clear measure-command get-random get-unique gu get-psSnapin remove-psSnapin
		start-transcript stop-transcript set-executionpolicy get-executionpolicy invoke-history ihy r get-history
		h history set-strictmode update-typedata update-formatdata new-object-psobject get-credential
		register-objectevent unregister-event wait-event get-event new-timespan get-culture get-host get-pfxcertificate
		set-acl get-acl new-psdrive remove-psdrive get-psdrive gdr set-itemproperty sp get-itemproperty gp
		new-itemproperty remove-itemproperty rp`) {
		m[strings.ToLower(n)] = true
	}
	return m
}()

var unsupportedKeywords = map[string]bool{
	"function": true, "filter": true, "class": true, "enum": true, "switch": true, "do": true, "until": true, "param": true,
	"begin": true, "process": true, "end": true, "trap": true, "data": true, "dynamicparam": true, "workflow": true,
	"using": true, "configuration": true, "parallel": true, "sequence": true, "inlinescript": true, "define": true,
	"from": true, "var": true, "hidden": true, "static": true,
}

func (p *parser) unsupported(start, end int, what string) error {
	return p.errAt(start, end, "NotSupportedInLab", "%s is not supported in the exrunbook lab.", what)
}

// statements parses statements until the closing rune (0: end of input).
func (p *parser) statements(closing rune) (*scriptBody, error) {
	body := &scriptBody{}
	for {
		p.skip(true)
		for p.peek() == ';' {
			p.i++
			p.skip(true)
		}
		if p.eof() {
			if closing != 0 {
				at := p.i
				if len(p.opens) > 0 {
					at = p.opens[len(p.opens)-1]
				}
				if closing == ')' {
					return nil, p.errAt(at, at+1, "MissingEndParenthesisInSubexpression", "Missing closing ')' in subexpression.")
				}
				return nil, p.errAt(at, at+1, "MissingEndCurlyBrace", "Missing closing '%c' in statement block or type definition.", closing)
			}
			return body, nil
		}
		if closing != 0 && p.peek() == closing {
			return body, nil
		}
		if closing == 0 && (p.peek() == ')' || p.peek() == '}') {
			return nil, p.unexpected()
		}
		s, err := p.statement()
		if err != nil {
			return nil, err
		}
		body.stmts = append(body.stmts, s)
		p.skip(false)
		r := p.peek()
		if !(p.eof() || isNewline(r) || r == ';' || (closing != 0 && r == closing)) {
			return nil, p.unexpected()
		}
	}
}

func (p *parser) block() (*scriptBody, error) {
	p.skip(true)
	if p.peek() != '{' {
		return nil, p.errAt(p.i, p.i+1, "MissingOpenBraceInStatement", "Missing statement block.")
	}
	p.i++
	b, err := p.enclosed(p.i-1, '}')
	if err != nil {
		return nil, err
	}
	p.i++ // '}'
	return b, nil
}

// trailingBlock parses the optional "kw { ... }" that ends a statement
// (else, finally): nil, with nothing consumed, when the next word is not
// kw.
func (p *parser) trailingBlock(kw string) (*scriptBody, error) {
	save := p.i
	p.skip(true)
	if p.keywordAt(p.i) != kw {
		p.i = save
		return nil, nil
	}
	p.i += len(kw)
	return p.block()
}

// parenPipeline parses "( pipeline )".
func (p *parser) parenCond(kw string) (stmt, error) {
	p.skip(false)
	if p.peek() != '(' {
		return nil, p.errAt(p.i, p.i+1, "MissingOpenParenthesisInIfStatement", "Missing '(' after '%s' in %s statement.", kw, kw)
	}
	p.i++
	p.skip(true)
	s, err := p.statement()
	if err != nil {
		return nil, err
	}
	p.skip(true)
	if p.peek() != ')' {
		return nil, p.errAt(p.i, p.i+1, "MissingEndParenthesisAfterStatement", "Missing closing ')' after expression in '%s' statement.", kw)
	}
	p.i++
	return s, nil
}

func (p *parser) statement() (stmt, error) {
	start := p.i
	kw := p.keywordAt(p.i)
	if kw != "" {
		kwEnd := p.i + len([]rune(kw))
		if unsupportedKeywords[kw] {
			return nil, p.errAt(start, kwEnd, "ReservedKeywordNotAllowed", "The '%s' keyword is not supported in the exrunbook lab.", kw)
		}
		switch kw {
		case "if":
			p.i = kwEnd
			st := &ifStmt{}
			for {
				c, err := p.parenCond("if")
				if err != nil {
					return nil, err
				}
				b, err := p.block()
				if err != nil {
					return nil, err
				}
				st.conds = append(st.conds, c)
				st.bodies = append(st.bodies, b)
				save := p.i
				p.skip(true)
				if p.keywordAt(p.i) == "elseif" {
					p.i += 6
					continue
				}
				p.i = save
				els, err := p.trailingBlock("else")
				if err != nil {
					return nil, err
				}
				st.els = els
				break
			}
			st.e = p.extentAt(start, p.i)
			return st, nil
		case "foreach":
			p.i = kwEnd
			p.skip(false)
			if p.peek() != '(' {
				return nil, p.errAt(p.i, p.i+1, "MissingOpenParenthesisAfterKeyword", "Missing opening '(' after keyword 'foreach'.")
			}
			p.i++
			p.skip(true)
			if p.peek() != '$' {
				return nil, p.errAt(p.i, p.i+1, "MissingVariableNameAfterForeach", "Missing variable name after foreach.")
			}
			ve, err := p.variable()
			if err != nil {
				return nil, err
			}
			p.skip(true)
			if p.keywordAt(p.i) != "in" {
				return nil, p.errAt(p.i, p.i+1, "MissingInInForeach", "Missing 'in' after variable in foreach loop.")
			}
			p.i += 2
			p.skip(true)
			coll, err := p.statement()
			if err != nil {
				return nil, err
			}
			p.skip(true)
			if p.peek() != ')' {
				return nil, p.errAt(p.i, p.i+1, "MissingEndParenthesisAfterForeach", "Missing closing ')' after expression in 'foreach' statement.")
			}
			p.i++
			b, err := p.block()
			if err != nil {
				return nil, err
			}
			return &foreachStmt{pos: pos{p.extentAt(start, p.i)}, varName: ve.(*varExpr).name, coll: coll, body: b}, nil
		case "for":
			p.i = kwEnd
			p.skip(false)
			if p.peek() != '(' {
				return nil, p.errAt(p.i, p.i+1, "MissingOpenParenthesisAfterKeyword", "Missing opening '(' after keyword 'for'.")
			}
			p.i++
			st := &forStmt{}
			parts := []*stmt{&st.init, &st.cond, &st.iter}
			for k, part := range parts {
				p.skip(true)
				closer := ';'
				if k == 2 {
					closer = ')'
				}
				if p.peek() != closer {
					s, err := p.statement()
					if err != nil {
						return nil, err
					}
					*part = s
					p.skip(true)
				}
				if p.peek() != closer {
					return nil, p.errAt(p.i, p.i+1, "MissingEndParenthesisAfterStatement", "Missing closing ')' after expression in 'for' statement.")
				}
				p.i++
			}
			b, err := p.block()
			if err != nil {
				return nil, err
			}
			st.body = b
			st.e = p.extentAt(start, p.i)
			return st, nil
		case "while":
			p.i = kwEnd
			c, err := p.parenCond("while")
			if err != nil {
				return nil, err
			}
			b, err := p.block()
			if err != nil {
				return nil, err
			}
			return &whileStmt{pos: pos{p.extentAt(start, p.i)}, cond: c, body: b}, nil
		case "try":
			p.i = kwEnd
			b, err := p.block()
			if err != nil {
				return nil, err
			}
			st := &tryStmt{body: b}
			for {
				save := p.i
				p.skip(true)
				if p.keywordAt(p.i) == "catch" {
					p.i += 5
					var cc catchClause
					for {
						p.skip(false)
						if p.peek() != '[' {
							break
						}
						ts := p.i
						t, err := p.typeName()
						if err != nil {
							return nil, err
						}
						_ = ts
						cc.types = append(cc.types, t)
						p.skip(false)
						if p.peek() == ',' {
							p.i++
							p.skip(true)
							continue
						}
						break
					}
					b, err := p.block()
					if err != nil {
						return nil, err
					}
					cc.body = b
					st.catches = append(st.catches, cc)
					continue
				}
				p.i = save
				fin, err := p.trailingBlock("finally")
				if err != nil {
					return nil, err
				}
				st.finally = fin
				break
			}
			if len(st.catches) == 0 && st.finally == nil {
				return nil, p.errAt(p.i, p.i, "MissingCatchOrFinally", "The Try statement is missing its Catch or Finally block.")
			}
			st.e = p.extentAt(start, p.i)
			return st, nil
		case "throw", "return", "exit":
			p.i = kwEnd
			p.skip(false)
			var val stmt
			if r := p.peek(); !(p.eof() || isNewline(r) || r == ';' || r == '}' || r == ')') {
				s, err := p.pipeline()
				if err != nil {
					return nil, err
				}
				val = s
			}
			e := p.extentAt(start, p.i)
			switch kw {
			case "throw":
				return &throwStmt{pos: pos{e}, value: val}, nil
			case "return":
				return &returnStmt{pos: pos{e}, value: val}, nil
			}
			return &exitStmt{pos: pos{e}, value: val}, nil
		case "break", "continue":
			p.i = kwEnd
			p.skip(false)
			if r := p.peek(); !(p.eof() || isNewline(r) || r == ';' || r == '}') {
				return nil, p.unsupported(p.i, p.i+1, "A loop label")
			}
			if kw == "break" {
				return &breakStmt{pos{p.extentAt(start, p.i)}}, nil
			}
			return &continueStmt{pos{p.extentAt(start, p.i)}}, nil
		default:
			return nil, p.errAt(start, kwEnd, "UnexpectedToken", "Unexpected token '%s' in expression or statement.", string(p.src[start:kwEnd]))
		}
	}
	pl, err := p.pipeline()
	if err != nil {
		return nil, err
	}
	// assignment?
	if len(pl.elems) == 1 && pl.elems[0].expr != nil {
		save := p.i
		p.skip(false)
		op := ""
		switch {
		case p.peek() == '=' && p.peekAt(1) != '=':
			op = "="
		case p.peek() == '+' && p.peekAt(1) == '=':
			op = "+="
		case (p.peek() == '+' && p.peekAt(1) == '+') || (isDash(p.peek()) && isDash(p.peekAt(1))):
			op = string([]rune{'+', '+'})
			if isDash(p.peek()) {
				op = "--"
			}
		case (isDash(p.peek()) || p.peek() == '*' || p.peek() == '/' || p.peek() == '%') && p.peekAt(1) == '=':
			return nil, p.unsupported(p.i, p.i+2, fmt.Sprintf("The '%c=' operator", p.peek()))
		}
		if op == "" {
			p.i = save
			return pl, nil
		}
		target := pl.elems[0].expr
		if !assignable(target) {
			return nil, p.errAt(start, p.i, "InvalidLeftHandSide", "The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.")
		}
		if op == "++" || op == "--" {
			p.i += 2
			return &assignStmt{pos: pos{p.extentAt(start, p.i)}, target: target, op: op}, nil
		}
		p.i += len(op)
		p.skip(true)
		if p.eof() {
			return nil, p.errAt(p.i, p.i, "ExpectedValueExpression", "You must provide a value expression following the '%s' operator.", op)
		}
		v, err := p.statement()
		if err != nil {
			return nil, err
		}
		return &assignStmt{pos: pos{p.extentAt(start, p.i)}, target: target, op: op, value: v}, nil
	}
	return pl, nil
}

func assignable(e expr) bool {
	switch x := e.(type) {
	case *varExpr:
		return true
	case *memberExpr:
		return !x.static
	case *indexExpr:
		return true
	case *castExpr:
		return assignable(x.operand)
	}
	return false
}

func (p *parser) atExprStart() bool {
	r := p.peek()
	switch {
	case r == '$', r == '(', r == '@', r == '[', r == '!', r == ',', r == '+', r == '.' && unicode.IsDigit(p.peekAt(1)):
		return true
	case isSingleQuote(r), isDoubleQuote(r), unicode.IsDigit(r), isDash(r):
		return true
	case r == '{':
		return true
	}
	return false
}

func (p *parser) pipeline() (*pipelineStmt, error) {
	start := p.i
	st := &pipelineStmt{}
	first := true
	for {
		p.skip(false)
		if r := p.peek(); r == '&' || (r == '.' && (isSpace(p.peekAt(1)) || isSingleQuote(p.peekAt(1)) || isDoubleQuote(p.peekAt(1)) || p.peekAt(1) == '$')) {
			return nil, p.unsupported(p.i, p.i+1, fmt.Sprintf("The '%c' call operator", r))
		}
		if p.eof() || isNewline(p.peek()) || p.peek() == ';' || p.peek() == ')' || p.peek() == '}' || p.peek() == '|' {
			if first {
				return nil, p.errAt(p.i, p.i, "MissingExpression", "An expression was expected after '('.")
			}
			return nil, p.errAt(p.i, p.i, "EmptyPipeElement", "An empty pipe element is not allowed.")
		}
		if p.atExprStart() {
			if !first {
				return nil, p.errAt(p.i, p.i+1, "ExpressionsMustBeFirstInPipeline", "Expressions are only allowed as the first element of a pipeline.")
			}
			e, err := p.expression()
			if err != nil {
				return nil, err
			}
			st.elems = append(st.elems, pipeElem{expr: e})
		} else {
			c, err := p.command()
			if err != nil {
				return nil, err
			}
			st.elems = append(st.elems, pipeElem{cmd: c})
		}
		first = false
		p.skip(false)
		r := p.peek()
		if r == '|' && p.peekAt(1) == '|' {
			return nil, p.errAt(p.i, p.i+2, "InvalidEndOfLine", "The token '||' is not a valid statement separator in this version.")
		}
		if r == '&' && p.peekAt(1) == '&' {
			return nil, p.errAt(p.i, p.i+2, "InvalidEndOfLine", "The token '&&' is not a valid statement separator in this version.")
		}
		if r == '>' || (r == '2' && p.peekAt(1) == '>') || (r == '*' && p.peekAt(1) == '>') {
			return nil, p.unsupported(p.i, p.i+1, "Output redirection")
		}
		if r != '|' {
			break
		}
		p.i++
		p.skip(true)
	}
	st.e = p.extentAt(start, p.i)
	return st, nil
}

// commandNameChar reports whether r continues a bare command name or argument.
func genericStop(r rune) bool {
	return isSpace(r) || isNewline(r) || r == ';' || r == '|' || r == ')' || r == '}' || r == '(' || r == '{' ||
		r == '&' || r == '<' || r == '>' || r == ',' || isSingleQuote(r) || isDoubleQuote(r)
}

func (p *parser) command() (*command, error) {
	start := p.i
	for p.i < len(p.src) && !genericStop(p.src[p.i]) && p.src[p.i] != '$' && p.src[p.i] != '@' {
		p.i++
	}
	if p.i == start {
		return nil, p.unexpected()
	}
	c := &command{name: string(p.src[start:p.i]), nameExt: p.extentAt(start, p.i)}
	if unsupportedCommands[strings.ToLower(c.name)] {
		return nil, p.unsupported(start, p.i, fmt.Sprintf("The command '%s'", c.name))
	}
	for {
		p.skip(false)
		r := p.peek()
		if p.eof() || isNewline(r) || r == ';' || r == '|' || r == ')' || r == '}' {
			break
		}
		if r == '>' || r == '<' || ((r == '2' || r == '*') && p.peekAt(1) == '>') {
			return nil, p.unsupported(p.i, p.i+1, "Output redirection")
		}
		if r == '&' {
			if p.peekAt(1) == '&' {
				return nil, p.errAt(p.i, p.i+2, "InvalidEndOfLine", "The token '&&' is not a valid statement separator in this version.")
			}
			return nil, p.unsupported(p.i, p.i+1, "The '&' operator")
		}
		as := p.i
		if isDash(r) && (unicode.IsLetter(p.peekAt(1)) || p.peekAt(1) == '_' || p.peekAt(1) == '?') {
			p.i++
			ns := p.i
			for p.i < len(p.src) && !genericStop(p.src[p.i]) && p.src[p.i] != ':' {
				p.i++
			}
			a := argNode{isParam: true, paramName: string(p.src[ns:p.i])}
			if p.peek() == ':' {
				p.i++
				p.skip(false)
				v, err := p.argValue()
				if err != nil {
					return nil, err
				}
				a.colonVal = v
			}
			a.e = p.extentAt(as, p.i)
			c.args = append(c.args, a)
			continue
		}
		if isDash(r) && isDash(p.peekAt(1)) && p.peekAt(2) == '%' {
			return nil, p.unsupported(p.i, p.i+3, "The stop-parsing symbol '--%'")
		}
		if r == '@' && (isVarChar(p.peekAt(1))) {
			p.i++
			ns := p.i
			for p.i < len(p.src) && isVarChar(p.src[p.i]) {
				p.i++
			}
			c.args = append(c.args, argNode{pos: pos{p.extentAt(as, p.i)}, splat: string(p.src[ns:p.i])})
			continue
		}
		v, err := p.argValue()
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, argNode{pos: pos{p.extentAt(as, p.i)}, value: v})
	}
	c.e = p.extentAt(start, p.i)
	return c, nil
}

// argValue parses a command argument (argument mode), including "a,b,c" lists.
func (p *parser) argValue() (expr, error) {
	start := p.i
	first, err := p.argPrimary()
	if err != nil {
		return nil, err
	}
	if p.peek() != ',' {
		return first, nil
	}
	items := []expr{first}
	for p.peek() == ',' {
		p.i++
		p.skip(true)
		it, err := p.argPrimary()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		p.skip(false)
	}
	return &arrayLiteral{pos: pos{p.extentAt(start, p.i)}, items: items}, nil
}

func (p *parser) argPrimary() (expr, error) {
	r := p.peek()
	start := p.i
	switch {
	case p.eof():
		return nil, p.errAt(p.i, p.i, "MissingArgument", "Missing argument in parameter list.")
	case r == '$' || r == '(' || r == '@' || isSingleQuote(r) || isDoubleQuote(r) || r == '{':
		e, err := p.primary()
		if err != nil {
			return nil, err
		}
		return p.postfix(e, start)
	case r == ',':
		return nil, p.errAt(p.i, p.i+1, "MissingArgument", "Missing argument in parameter list.")
	}
	// bare word: a number if the whole token is numeric, else an expandable string
	j := p.i
	for j < len(p.src) && !genericStop(p.src[j]) {
		if p.src[j] == '`' && j+1 < len(p.src) {
			j++
		}
		j++
	}
	tok := string(p.src[p.i:j])
	if v, ok := parseNumber(tok); ok {
		p.i = j
		return &constExpr{pos: pos{p.extentAt(start, j)}, v: v}, nil
	}
	parts, err := p.expandable(func(r rune) bool { return genericStop(r) }, false)
	if err != nil {
		return nil, err
	}
	return makeString(parts, p.extentAt(start, p.i)), nil
}

// paramBlock parses `param($a, $b)` at the start of a script block (after
// its '{'): plain variable names only. It returns the names and where the
// keyword starts (-1 when there is no param block).
func (p *parser) paramBlock() ([]string, int, error) {
	save := p.i
	p.skip(true)
	if p.keywordAt(p.i) != "param" {
		p.i = save
		return nil, -1, nil
	}
	at := p.i
	p.i += len("param")
	p.skip(true)
	if p.peek() != '(' {
		return nil, 0, p.errAt(at, p.i, "ParamBlockWithoutParenthesis", "Missing '(' after 'param' in the param block.")
	}
	p.i++
	var names []string
	for {
		p.skip(true)
		if p.peek() == ')' && len(names) == 0 {
			p.i++
			return names, at, nil
		}
		if p.peek() != '$' || !isVarChar(p.peekAt(1)) {
			end := p.i + 1
			for end < len(p.src) && p.src[end] != ',' && p.src[end] != ')' && !isNewline(p.src[end]) {
				end++
			}
			return nil, 0, p.unsupported(p.i, end, "A param block entry other than a plain $variable (types, attributes, default values)")
		}
		p.i++
		ns := p.i
		for p.i < len(p.src) && isVarChar(p.src[p.i]) {
			p.i++
		}
		names = append(names, string(p.src[ns:p.i]))
		p.skip(true)
		switch p.peek() {
		case ',':
			p.i++
			continue
		case ')':
			p.i++
			return names, at, nil
		}
		end := p.i + 1
		for end < len(p.src) && p.src[end] != ',' && p.src[end] != ')' && !isNewline(p.src[end]) {
			end++
		}
		return nil, 0, p.unsupported(p.i, end, "A param block entry other than a plain $variable (types, attributes, default values)")
	}
}
