package pwsh

import (
	"fmt"
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
