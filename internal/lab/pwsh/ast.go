package pwsh

// extent is a node's position in the script (1-based line and column).
type extent struct {
	line, col  int
	start, end int // rune offsets
	lineText   string
}

// scriptBody is a parsed statement list.
type scriptBody struct {
	stmts []stmt
}

type stmt interface{ ext() extent }

type expr interface{ ext() extent }

type pos struct{ e extent }

func (p pos) ext() extent { return p.e }

// Statements.

type pipelineStmt struct {
	pos
	elems []pipeElem
}

type pipeElem struct {
	expr expr     // first element only, when it is an expression
	cmd  *command // otherwise
}

type command struct {
	pos
	name    string
	nameExt extent
	args    []argNode
}

type argNode struct {
	pos
	paramName string // for -Name tokens
	isParam   bool
	colonVal  expr // -Name:value
	value     expr // a value argument
	splat     string
}

type assignStmt struct {
	pos
	target expr
	op     string // "=" or "+="
	value  stmt
}

type ifStmt struct {
	pos
	conds  []stmt
	bodies []*scriptBody
	els    *scriptBody
}

type foreachStmt struct {
	pos
	varName string
	coll    stmt
	body    *scriptBody
}

type forStmt struct {
	pos
	init, cond, iter stmt // may be nil
	body             *scriptBody
}

type whileStmt struct {
	pos
	cond stmt
	body *scriptBody
}

type catchClause struct {
	types []string
	body  *scriptBody
}

type tryStmt struct {
	pos
	body    *scriptBody
	catches []catchClause
	finally *scriptBody
}

type throwStmt struct {
	pos
	value stmt // may be nil
}

type returnStmt struct {
	pos
	value stmt
}

type breakStmt struct{ pos }

type continueStmt struct{ pos }

type exitStmt struct {
	pos
	value stmt
}

// Expressions.

type constExpr struct {
	pos
	v Value
}

type expandString struct {
	pos
	parts []strPart
}

type strPart struct {
	lit  string
	vari string      // variable name to expand
	sub  *scriptBody // $( ... )
}

type varExpr struct {
	pos
	name string
}

type arrayExpr struct { // @( ... )
	pos
	body *scriptBody
}

type subExpr struct { // $( ... )
	pos
	body *scriptBody
}

type parenExpr struct { // ( pipeline )
	pos
	inner stmt
}

type hashEntry struct {
	key   expr
	value stmt
}

type hashExpr struct {
	pos
	entries []hashEntry
	ordered bool
}

type scriptBlockExpr struct {
	pos
	body *scriptBody
	text string
	// params are the names of its param() block; paramAt is where the
	// block starts (-1: none). evaluator: it is a [regex]::Replace
	// MatchEvaluator, the one place a param block is accepted.
	params    []string
	paramAt   int
	evaluator bool
}

type memberExpr struct {
	pos
	obj    expr
	name   string
	static bool
}

type invokeExpr struct {
	pos
	obj    expr
	name   string
	args   []expr
	static bool
}

type indexExpr struct {
	pos
	obj   expr
	index expr
}

type unaryExpr struct {
	pos
	op      string // "-not", "!", "-", "+", ",", "-join", "-split"
	operand expr
}

type binaryExpr struct {
	pos
	op   string // lower-case operator ("-eq", "+", "-and", ...)
	l, r expr
}

type arrayLiteral struct { // 1,2,3
	pos
	items []expr
}

type castExpr struct {
	pos
	typ     string // lower-case canonical type name
	operand expr
}

type typeExpr struct {
	pos
	typ string
}
