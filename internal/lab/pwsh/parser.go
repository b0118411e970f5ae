package pwsh

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// ParseError is a PowerShell ParserError: the script is rejected before
// anything runs.
type ParseError struct {
	Ext     extent
	Message string
	ID      string // FullyQualifiedErrorId, e.g. "UnexpectedToken"
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("At line:%d char:%d: %s", e.Ext.line, e.Ext.col, e.Message)
}

func isSingleQuote(r rune) bool {
	return r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201A' || r == '\u201B'
}

func isDoubleQuote(r rune) bool {
	return r == '"' || r == '\u201C' || r == '\u201D' || r == '\u201E'
}

func isDash(r rune) bool {
	return r == '-' || r == '\u2013' || r == '\u2014' || r == '\u2015'
}

func isVarChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isNewline(r rune) bool { return r == '\n' || r == '\r' }

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\f' || r == '\v' || r == '\u00A0' || r == '\u0085' || (r > 127 && unicode.Is(unicode.Zs, r))
}

type parser struct {
	src        []rune
	i          int
	lineStarts []int
	opens      []int // positions of the open brackets being parsed
	// paramBlocks are the script blocks with a param() block; only a
	// [regex]::Replace MatchEvaluator may have one.
	paramBlocks []*scriptBlockExpr
}

// enclosed parses statements up to closing after the opening bracket at
// open, remembering where it opened for the "missing closing" error.
func (p *parser) enclosed(open int, closing rune) (*scriptBody, error) {
	p.opens = append(p.opens, open)
	b, err := p.statements(closing)
	p.opens = p.opens[:len(p.opens)-1]
	return b, err
}

// parseScript parses a whole script.
func parseScript(text string) (*scriptBody, error) {
	p := &parser{src: []rune(text)}
	p.lineStarts = []int{0}
	for i, r := range p.src {
		if r == '\n' {
			p.lineStarts = append(p.lineStarts, i+1)
		}
	}
	body, err := p.statements(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.src) {
		return nil, p.unexpected()
	}
	for _, sb := range p.paramBlocks {
		if !sb.evaluator {
			return nil, p.errAt(sb.paramAt, sb.paramAt+5, "ReservedKeywordNotAllowed",
				"A param block outside a [regex]::Replace MatchEvaluator script block is not supported in the exrunbook lab.")
		}
	}
	return body, nil
}

func (p *parser) extentAt(start, end int) extent {
	line := 0
	lo, hi := 0, len(p.lineStarts)-1
	for lo <= hi {
		mid := (lo + hi) / 2
		if p.lineStarts[mid] <= start {
			line = mid
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	ls := p.lineStarts[line]
	le := ls
	for le < len(p.src) && p.src[le] != '\n' && p.src[le] != '\r' {
		le++
	}
	if end < start {
		end = start
	}
	return extent{line: line + 1, col: start - ls + 1, start: start, end: end, lineText: string(p.src[ls:le])}
}

func (p *parser) errAt(start, end int, id, format string, args ...any) error {
	return &ParseError{Ext: p.extentAt(start, end), Message: fmt.Sprintf(format, args...), ID: id}
}

func (p *parser) peek() rune {
	if p.i < len(p.src) {
		return p.src[p.i]
	}
	return 0
}

func (p *parser) peekAt(k int) rune {
	if p.i+k < len(p.src) && p.i+k >= 0 {
		return p.src[p.i+k]
	}
	return 0
}

func (p *parser) eof() bool { return p.i >= len(p.src) }

// skip skips spaces, comments and line continuations; with nl also newlines.
func (p *parser) skip(nl bool) {
	for p.i < len(p.src) {
		r := p.src[p.i]
		switch {
		case isSpace(r):
			p.i++
		case nl && isNewline(r):
			p.i++
		case r == '`' && (isNewline(p.peekAt(1))):
			p.i += 2
			if p.src[p.i-1] == '\r' && p.peek() == '\n' {
				p.i++
			}
		case r == '#':
			for p.i < len(p.src) && !isNewline(p.src[p.i]) {
				p.i++
			}
		case r == '<' && p.peekAt(1) == '#':
			end := -1
			for j := p.i + 2; j+1 < len(p.src); j++ {
				if p.src[j] == '#' && p.src[j+1] == '>' {
					end = j + 2
					break
				}
			}
			if end < 0 {
				p.i = len(p.src)
				return
			}
			p.i = end
		default:
			return
		}
	}
}

func (p *parser) unexpected() error {
	start := p.i
	if start >= len(p.src) {
		return p.errAt(start, start, "MissingExpression", "Unexpected end of input.")
	}
	end := start + 1
	for end < len(p.src) && !isSpace(p.src[end]) && !isNewline(p.src[end]) && end-start < 40 {
		end++
	}
	return p.errAt(start, end, "UnexpectedToken", "Unexpected token '%s' in expression or statement.", string(p.src[start:end]))
}

// word reads letters/digits/_/- at the cursor without consuming.
func (p *parser) wordAt(i int) string {
	j := i
	for j < len(p.src) && (isVarChar(p.src[j]) || p.src[j] == '-') {
		j++
	}
	return string(p.src[i:j])
}

// keywordAt reports the keyword starting at i (lower-case) if the word there is one.
func (p *parser) keywordAt(i int) string {
	j := i
	for j < len(p.src) && (unicode.IsLetter(p.src[j])) {
		j++
	}
	if j == i {
		return ""
	}
	if j < len(p.src) && (isVarChar(p.src[j]) || isDash(p.src[j]) || p.src[j] == '.' || p.src[j] == ':' || p.src[j] == '\\') {
		return ""
	}
	w := strings.ToLower(string(p.src[i:j]))
	switch w {
	case "if", "elseif", "else", "foreach", "for", "while", "try", "catch", "finally", "throw", "return", "break", "continue", "exit",
		"function", "filter", "class", "enum", "switch", "do", "until", "param", "begin", "process", "end", "trap", "data",
		"dynamicparam", "workflow", "using", "configuration", "parallel", "sequence", "inlinescript", "in", "define", "from",
		"var", "hidden", "static":
		return w
	}
	return ""
}

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
				k := p.keywordAt(p.i)
				if k == "elseif" {
					p.i += 6
					continue
				}
				if k == "else" {
					p.i += 4
					b, err := p.block()
					if err != nil {
						return nil, err
					}
					st.els = b
					break
				}
				p.i = save
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
				k := p.keywordAt(p.i)
				if k == "catch" {
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
				if k == "finally" {
					p.i += 7
					b, err := p.block()
					if err != nil {
						return nil, err
					}
					st.finally = b
					break
				}
				p.i = save
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

// expression parses a full expression (expression mode).
func (p *parser) expression() (expr, error) { return p.logical(true) }

func (p *parser) logical(comma bool) (expr, error) {
	start := p.i
	l, err := p.comparison(comma)
	if err != nil {
		return nil, err
	}
	for {
		save := p.i
		p.skip(false)
		op, n := p.operatorAt()
		if op != "-and" && op != "-or" && op != "-xor" {
			p.i = save
			return l, nil
		}
		p.i += n
		p.skip(true)
		r, err := p.comparison(comma)
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos{p.extentAt(start, p.i)}, op: op, l: l, r: r}
	}
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
	start := p.i
	l, err := p.additive(comma)
	if err != nil {
		return nil, err
	}
	for {
		save := p.i
		p.skip(false)
		op, n := p.operatorAt()
		if unsupportedOps[op] {
			return nil, p.unsupported(p.i, p.i+n, fmt.Sprintf("The '%s' operator", op))
		}
		if !comparisonOps[op] {
			if op != "" && op != "-and" && op != "-or" && op != "-xor" && op != "-not" {
				return nil, p.errAt(p.i, p.i+n, "UnexpectedToken", "Unexpected token '%s' in expression or statement.", string(p.src[p.i:p.i+n]))
			}
			p.i = save
			return l, nil
		}
		p.i += n
		p.skip(true)
		r, err := p.additive(comma)
		if err != nil {
			return nil, err
		}
		switch op {
		case "-isplit":
			op = "-split"
		}
		l = &binaryExpr{pos: pos{p.extentAt(start, p.i)}, op: op, l: l, r: r}
	}
}

func (p *parser) additive(comma bool) (expr, error) {
	start := p.i
	l, err := p.multiplicative(comma)
	if err != nil {
		return nil, err
	}
	for {
		save := p.i
		p.skip(false)
		r := p.peek()
		if !(r == '+' || isDash(r)) || p.peekAt(1) == '=' || (isDash(r) && unicode.IsLetter(p.peekAt(1))) || (r == '+' && p.peekAt(1) == '+') || (isDash(r) && isDash(p.peekAt(1))) {
			p.i = save
			return l, nil
		}
		op := "+"
		if isDash(r) {
			op = "-"
		}
		p.i++
		p.skip(true)
		rhs, err := p.multiplicative(comma)
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos{p.extentAt(start, p.i)}, op: op, l: l, r: rhs}
	}
}

func (p *parser) multiplicative(comma bool) (expr, error) {
	start := p.i
	l, err := p.formatExpr(comma)
	if err != nil {
		return nil, err
	}
	for {
		save := p.i
		p.skip(false)
		r := p.peek()
		if !(r == '*' || r == '/' || r == '%') || p.peekAt(1) == '=' || (r == '*' && p.peekAt(1) == '>') {
			p.i = save
			return l, nil
		}
		p.i++
		p.skip(true)
		rhs, err := p.formatExpr(comma)
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos{p.extentAt(start, p.i)}, op: string(r), l: l, r: rhs}
	}
}

// formatExpr parses the -f operator, which binds tighter than * / % and
// looser than casts and the comma. Its format string must be a literal
// whose format items use only the specifiers the lab implements.
func (p *parser) formatExpr(comma bool) (expr, error) {
	start := p.i
	l, err := p.unaryMinus(comma)
	if err != nil {
		return nil, err
	}
	for {
		save := p.i
		p.skip(false)
		op, n := p.operatorAt()
		if op != "-f" {
			p.i = save
			return l, nil
		}
		c, ok := l.(*constExpr)
		fs, isStr := Value(nil), false
		if ok {
			fs = c.v
			_, isStr = fs.(string)
		}
		if !isStr {
			return nil, p.unsupported(start, p.i+n, "The '-f' operator with a format string that is not a string literal")
		}
		if spec, bad := unsupportedFormatSpec(fs.(string)); bad {
			return nil, p.unsupported(start, p.i, fmt.Sprintf("The format specifier ':%s' of the -f operator", spec))
		}
		p.i += n
		p.skip(true)
		rhs, err := p.unaryMinus(comma)
		if err != nil {
			return nil, err
		}
		l = &binaryExpr{pos: pos{p.extentAt(start, p.i)}, op: "-f", l: l, r: rhs}
	}
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
