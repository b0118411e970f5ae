package pwsh

import (
	"fmt"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
)

// voidT marks the result of a void method ($list.Add(x)): nothing is written.
type voidT struct{}

var voidV = &voidT{}

func collapse(items []Value) Value {
	switch len(items) {
	case 0:
		return nil
	case 1:
		return items[0]
	}
	return &Array{Items: items}
}

// runBody runs statements; statement-terminating errors outside try are
// reported and execution continues with the next statement.
func (s *session) runBody(b *scriptBody, out func(Value) error) error {
	for _, st := range b.stmts {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		err := s.execStmt(st, out)
		s.dollarQ = s.lastOK
		if err == nil {
			continue
		}
		if t, ok := err.(*psThrow); ok && !t.script && s.tryDepth == 0 && s.eap() != prefStop {
			s.lastOK = false
			s.recordError(t.rec)
			s.writeErrorRecord(t.rec)
			continue
		}
		return err
	}
	return nil
}

func (s *session) execStmt(st stmt, out func(Value) error) error {
	switch x := st.(type) {
	case *pipelineStmt:
		s.lastOK = true
		return s.runPipeline(x, out)
	case *assignStmt:
		return s.execAssign(x)
	case *ifStmt:
		for i, c := range x.conds {
			v, _, err := s.evalStmtValue(c)
			if err != nil {
				return err
			}
			if ToBool(v) {
				return s.runBody(x.bodies[i], out)
			}
		}
		if x.els != nil {
			return s.runBody(x.els, out)
		}
		return nil
	case *foreachStmt:
		v, _, err := s.evalStmtValue(x.coll)
		if err != nil {
			return err
		}
		for _, it := range Unroll(v) {
			s.setVar(x.varName, it)
			err := s.runBody(x.body, out)
			switch err.(type) {
			case nil, continueSignal:
				continue
			case breakSignal:
				return nil
			}
			return err
		}
		return nil
	case *forStmt:
		if x.init != nil {
			if err := s.execStmt(x.init, func(Value) error { return nil }); err != nil {
				return err
			}
		}
		for {
			if err := s.ctx.Err(); err != nil {
				return err
			}
			if x.cond != nil {
				v, _, err := s.evalStmtValue(x.cond)
				if err != nil {
					return err
				}
				if !ToBool(v) {
					return nil
				}
			}
			err := s.runBody(x.body, out)
			switch err.(type) {
			case nil, continueSignal:
			case breakSignal:
				return nil
			default:
				return err
			}
			if x.iter != nil {
				if err := s.execStmt(x.iter, func(Value) error { return nil }); err != nil {
					return err
				}
			}
		}
	case *whileStmt:
		for {
			if err := s.ctx.Err(); err != nil {
				return err
			}
			v, _, err := s.evalStmtValue(x.cond)
			if err != nil {
				return err
			}
			if !ToBool(v) {
				return nil
			}
			err = s.runBody(x.body, out)
			switch err.(type) {
			case nil, continueSignal:
			case breakSignal:
				return nil
			default:
				return err
			}
		}
	case *tryStmt:
		return s.execTry(x, out)
	case *throwStmt:
		var v Value
		if x.value != nil {
			var err error
			v, _, err = s.evalStmtValue(x.value)
			if err != nil {
				return err
			}
		}
		if rec, ok := v.(*ErrorRecord); ok {
			return &psThrow{rec: rec, script: true}
		}
		if x.value == nil && s.hasDollarBar {
			if rec, ok := s.dollarBar.(*ErrorRecord); ok {
				return &psThrow{rec: rec, script: true}
			}
		}
		msg := "ScriptHalted"
		if v != nil {
			msg = ToString(v)
		}
		e := &Error{Message: msg, Category: CatOperationStopped, TargetObject: v}
		id := msg
		if v == nil {
			id = "ScriptHalted"
		}
		rec := &ErrorRecord{Err: e, FullyQualifiedErrorId: id, Line: x.e.line, Column: x.e.col, LineText: x.e.lineText, posExt: x.e}
		return &psThrow{rec: rec, script: true}
	case *returnStmt:
		if x.value != nil {
			if err := s.execStmt(x.value, out); err != nil {
				return err
			}
		}
		return returnSignal{}
	case *breakStmt:
		return breakSignal{}
	case *continueStmt:
		return continueSignal{}
	case *exitStmt:
		code := int64(0)
		if x.value != nil {
			v, _, err := s.evalStmtValue(x.value)
			if err != nil {
				return err
			}
			n, err := toInt(v)
			if err == nil {
				code = n
			}
		}
		return exitSignal{code: int(int32(code))}
	}
	return fmt.Errorf("pwsh: unknown statement %T", st)
}

func catchMatches(types []string, rec *ErrorRecord) bool {
	if len(types) == 0 {
		return true
	}
	et := strings.ToLower(strings.TrimPrefix(rec.Err.exceptionType(), "System."))
	for _, t := range types {
		t = strings.TrimPrefix(t, "system.")
		switch {
		case t == "exception":
			return true
		case t == "management.automation.runtimeexception" && strings.HasPrefix(et, "management.automation."):
			return true
		case t == et || strings.HasSuffix(et, "."+t):
			return true
		}
	}
	return false
}

func (s *session) execTry(x *tryStmt, out func(Value) error) error {
	s.tryDepth++
	err := s.runBody(x.body, out)
	s.tryDepth--
	if t, ok := err.(*psThrow); ok {
		for _, c := range x.catches {
			if !catchMatches(c.types, t.rec) {
				continue
			}
			oldBar, oldHas := s.dollarBar, s.hasDollarBar
			s.dollarBar, s.hasDollarBar = t.rec, true
			s.lastOK = true
			err = s.runBody(c.body, out)
			s.dollarBar, s.hasDollarBar = oldBar, oldHas
			break
		}
	}
	if x.finally != nil {
		if ferr := s.runBody(x.finally, out); ferr != nil {
			return ferr
		}
	}
	return err
}

// evalStmtValue evaluates a statement for its value: a lone expression keeps
// its value; anything else collects its output (0 items: $null, marked empty).
func (s *session) evalStmtValue(st stmt) (Value, bool, error) {
	if pl, ok := st.(*pipelineStmt); ok && len(pl.elems) == 1 && pl.elems[0].expr != nil {
		s.lastOK = true
		v, err := s.evalRaw(pl.elems[0].expr)
		if err != nil {
			return nil, false, err
		}
		if v == voidV {
			return nil, true, nil
		}
		if ve, ok := pl.elems[0].expr.(*varExpr); ok {
			if vv, ok := s.vars[strings.ToLower(ve.name)]; ok && vv.empty {
				return nil, true, nil
			}
		}
		return v, false, nil
	}
	if as, ok := st.(*assignStmt); ok {
		if err := s.execAssign(as); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	var items []Value
	err := s.execStmt(st, func(v Value) error { items = append(items, v); return nil })
	if err != nil {
		return nil, false, err
	}
	return collapse(items), len(items) == 0, nil
}

func (s *session) setVar(name string, v Value) {
	s.vars[strings.ToLower(name)] = &variable{v: v}
}

var readOnlyVars = map[string]bool{"true": true, "false": true, "null": true, "?": true, "$": true, "^": true, "error": true}

func (s *session) execAssign(x *assignStmt) error {
	var v Value
	empty := false
	if x.op == "++" || x.op == "--" {
		cur, err := s.eval(x.target)
		if err != nil {
			return err
		}
		one := Value(int64(1))
		if x.op == "--" {
			one = int64(-1)
		}
		v, err = s.arith("+", cur, one, x.e)
		if err != nil {
			return err
		}
	} else {
		var err error
		v, empty, err = s.evalStmtValue(x.value)
		if err != nil {
			return err
		}
		if x.op == "+=" {
			cur, err := s.eval(x.target)
			if err != nil {
				return err
			}
			v, err = s.arith("+", cur, v, x.e)
			if err != nil {
				return err
			}
			empty = false
		}
	}
	return s.assignTo(x.target, v, empty, x.e)
}

func (s *session) assignTo(target expr, v Value, empty bool, at extent) error {
	switch t := target.(type) {
	case *varExpr:
		name := strings.ToLower(t.name)
		if name == "null" {
			return nil // $null = ... discards the value
		}
		if readOnlyVars[name] {
			return s.runtimeError(at, "VariableNotWritable", CatWriteError, fmt.Sprintf("Cannot overwrite variable %s because it is read-only or constant.", t.name), t.name)
		}
		if name == "_" || name == "psitem" {
			s.dollarBar, s.hasDollarBar = v, true
			return nil
		}
		s.vars[name] = &variable{v: v, empty: empty}
		return nil
	case *castExpr:
		cv, err := s.cast(t.typ, v, at)
		if err != nil {
			return err
		}
		return s.assignTo(t.operand, cv, false, at)
	case *memberExpr:
		obj, err := s.eval(t.obj)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *Object:
			if _, ok := o.Get(t.name); !ok && o.TypeName() != PSCustomObjectType {
				return s.runtimeError(at, "PropertyAssignmentException", CatInvalidOperation, fmt.Sprintf("The property '%s' cannot be found on this object. Verify that the property exists and can be set.", t.name), nil)
			}
			if _, ok := o.Get(t.name); !ok {
				return s.runtimeError(at, "PropertyAssignmentException", CatInvalidOperation, fmt.Sprintf("The property '%s' cannot be found on this object. Verify that the property exists and can be set.", t.name), nil)
			}
			o.Set(t.name, v)
			return nil
		case *Hashtable:
			o.Set(t.name, v)
			return nil
		case nil:
			return s.runtimeError(at, "PropertyNotFound", CatInvalidOperation, fmt.Sprintf("The property '%s' cannot be found on this object. Verify that the property exists and can be set.", t.name), nil)
		}
		return s.runtimeError(at, "PropertyAssignmentException", CatInvalidOperation, fmt.Sprintf("'%s' is a ReadOnly property.", t.name), nil)
	case *indexExpr:
		obj, err := s.eval(t.obj)
		if err != nil {
			return err
		}
		idx, err := s.eval(t.index)
		if err != nil {
			return err
		}
		switch o := obj.(type) {
		case *Hashtable:
			o.Set(ToString(idx), v)
			return nil
		case *Array, *List:
			items := Unroll(o)
			n, err := toInt(idx)
			if err != nil {
				return s.runtimeError(at, "InvalidCastFromStringToInteger", CatInvalidArgument, err.Error(), nil)
			}
			if n < 0 {
				n += int64(len(items))
			}
			if n < 0 || n >= int64(len(items)) {
				return s.runtimeError(at, "System.IndexOutOfRangeException", CatOperationStopped, "Index was outside the bounds of the array.", nil)
			}
			items[n] = v
			return nil
		case nil:
			return s.runtimeError(at, "NullArray", CatInvalidOperation, "Cannot index into a null array.", nil)
		}
		return s.runtimeError(at, "CannotIndex", CatInvalidOperation, fmt.Sprintf("Unable to index into an object of type %s.", typeOfName(obj)), nil)
	}
	return s.runtimeError(at, "InvalidLeftHandSide", CatInvalidOperation, "The assignment expression is not valid.", nil)
}

// runtimeError is a statement-terminating RuntimeException at a position.
func (s *session) runtimeError(at extent, id string, cat ErrorCategory, msg string, target Value) error {
	e := &Error{Message: msg, Category: cat, ErrorID: id, TargetObject: target}
	return &psThrow{rec: &ErrorRecord{Err: e, FullyQualifiedErrorId: id, Line: at.line, Column: at.col, LineText: at.lineText, posExt: at}}
}

// stage is one element of a running pipeline.
type cmdStage struct {
	inv *invocation
}

var aliases = map[string]string{
	"select": "Select-Object", "where": "Where-Object", "?": "Where-Object", "foreach": "ForEach-Object",
	"%": "ForEach-Object", "sort": "Sort-Object", "measure": "Measure-Object", "group": "Group-Object",
	"echo": "Write-Output", "write": "Write-Output", "compare": "Compare-Object", "diff": "Compare-Object",
}

func (s *session) notFound(c *command) error {
	msg := fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", c.name)
	e := &Error{Message: msg, Category: CatObjectNotFound, ExceptionType: "System.Management.Automation.CommandNotFoundException", TargetObject: c.name}
	return &psThrow{rec: &ErrorRecord{Err: e, Command: c.name, FullyQualifiedErrorId: "CommandNotFoundException", noActivity: true,
		Line: c.nameExt.line, Column: c.nameExt.col, LineText: c.nameExt.lineText, posExt: c.nameExt}}
}

func (s *session) resolve(c *command) (*CmdletDef, error) {
	name := c.name
	if a, ok := aliases[strings.ToLower(name)]; ok {
		name = a
	}
	def := s.host.lookup(name)
	if def == nil || (def.RequiresSnapin != "" && !s.snapins[strings.ToLower(def.RequiresSnapin)]) {
		return nil, s.notFound(c)
	}
	return def, nil
}

func (s *session) newInvocation(c *command, def *CmdletDef, out func(Value) error) (*invocation, error) {
	inv := s.newBareInvocation(c.name, def, c.e, out)
	var args []cmdArg
	for _, a := range c.args {
		switch {
		case a.isParam:
			ca := cmdArg{isName: true, name: a.paramName, pos: a.e}
			if a.colonVal != nil {
				v, err := s.eval(a.colonVal)
				if err != nil {
					return nil, err
				}
				ca.colon, ca.value, ca.hasVal = true, v, true
			}
			args = append(args, ca)
		case a.splat != "":
			sv := s.getVar(a.splat)
			switch h := sv.(type) {
			case *Hashtable:
				for _, e := range h.Entries() {
					args = append(args, cmdArg{isName: true, name: e.Name, value: e.Value, hasVal: true, colon: true, pos: a.e})
				}
			case *Array:
				for _, it := range h.Items {
					args = append(args, cmdArg{value: it, pos: a.e})
				}
			case nil:
			default:
				args = append(args, cmdArg{value: h, pos: a.e})
			}
		default:
			v, err := s.eval(a.value)
			if err != nil {
				return nil, err
			}
			args = append(args, cmdArg{value: v, pos: a.e})
		}
	}
	return s.bindInvocation(inv, args)
}

// bindInvocation binds evaluated arguments to a new invocation.
func (s *session) bindInvocation(inv *invocation, args []cmdArg) (*invocation, error) {
	if err := inv.bindArgs(args); err != nil {
		return nil, err
	}
	return inv, nil
}

// newBareInvocation is an invocation of def as name, before binding.
func (s *session) newBareInvocation(name string, def *CmdletDef, pos extent, out func(Value) error) *invocation {
	inv := &invocation{sess: s, def: def, name: name, out: out, pos: pos, errAction: s.eap(), warnAction: s.wap()}
	if a, ok := aliases[strings.ToLower(name)]; ok {
		inv.name = a
	}
	inv.params = make([]ParamDef, 0, len(def.Params)+len(commonParams))
	inv.params = append(inv.params, def.Params...)
	inv.params = append(inv.params, commonParams...)
	return inv
}

func (s *session) countAndFault(inv *invocation) error {
	s.firstUseProgress()
	h := s.host
	if h.opts.Stats != nil {
		params := map[string]string{}
		for _, b := range inv.bound {
			params[b.def.Name] = paramText(b.value)
		}
		h.opts.Stats.Cmdlet(inv.def.Name, params)
	}
	if h.opts.Faults != nil {
		if h.opts.Faults.Throttle(inv.def.Name) {
			return &psThrow{rec: inv.recordFor(&Error{Message: fmt.Sprintf(faults.ThrottleMessage, s.user),
				ExceptionType: "Microsoft.Exchange.Data.Directory.OverBudgetException", Category: CatNotSpecified, ErrorID: "OverBudgetException"}, CatNotSpecified, nil)}
		}
		if h.opts.Faults.CmdletError(inv.def.Name) {
			return &psThrow{rec: inv.recordFor(&Error{Message: transientMessage,
				ExceptionType: "Microsoft.Exchange.Data.Directory.ADTransientException", Category: CatNotSpecified, ErrorID: "ADTransientException"}, CatNotSpecified, nil)}
		}
	}
	return nil
}

const transientMessage = "The operation couldn't be performed because of a transient server error. Please try again later."

func paramText(v Value) string {
	switch x := v.(type) {
	case *Array:
		parts := make([]string, len(x.Items))
		for i, it := range x.Items {
			parts[i] = paramText(it)
		}
		return strings.Join(parts, ",")
	case *Hashtable:
		parts := make([]string, 0, x.Len())
		for _, e := range x.Entries() {
			parts = append(parts, e.Name+"="+paramText(e.Value))
		}
		return "@{" + strings.Join(parts, ";") + "}"
	case *SecureString:
		return "System.Security.SecureString"
	case []byte:
		return fmt.Sprintf("System.Byte[] (%d bytes)", len(x))
	}
	return ToString(v)
}

func (st *cmdStage) call(input Value, has bool) *Call {
	if st.inv.call == nil {
		st.inv.call = &Call{Ctx: st.inv.sess.ctx, Name: st.inv.def.Name, User: st.inv.sess.user, Runspace: st.inv.sess.runspace, inv: st.inv}
	}
	st.inv.call.Input, st.inv.call.HasInput = input, has
	return st.inv.call
}

func (st *cmdStage) wrap(err error) error {
	if err == nil {
		return nil
	}
	switch err.(type) {
	case *psThrow, breakSignal, continueSignal, returnSignal, exitSignal, *stopUpstream:
		return err
	}
	if err == st.inv.sess.ctx.Err() {
		return err
	}
	// a plain error returned by a cmdlet: a terminating error of that cmdlet
	return &psThrow{rec: st.inv.recordFor(err, CatNotSpecified, nil)}
}

func (st *cmdStage) begin() error {
	if st.inv.def.Begin != nil {
		return st.wrap(st.inv.def.Begin(st.call(nil, false)))
	}
	return nil
}

func (st *cmdStage) process(v Value) error {
	inv := st.inv
	ok, err := inv.bindPipeline(v)
	if err != nil {
		return err
	}
	if !ok {
		e := &Error{Message: "The input object cannot be bound to any parameters for the command either because the command does not take pipeline input or the input and its properties do not match any of the parameters that take pipeline input.",
			ExceptionType: "System.Management.Automation.ParameterBindingException", Category: CatInvalidArgument, ErrorID: "InputObjectNotBound", TargetObject: v}
		rec := inv.recordFor(e, CatInvalidArgument, v)
		return inv.sess.nonTerminating(rec, inv.errAction, inv)
	}
	if err := inv.checkMandatory(false); err != nil {
		return err
	}
	if stats := inv.sess.host.opts.Stats; stats != nil && inv.def.RequiresSnapin == ExchangeSnapin {
		// Exchange cmdlets fed by input (GUIDs streamed into Set-CASMailbox)
		params := map[string]string{}
		for _, b := range inv.bound {
			params[b.def.Name] = paramText(b.value)
		}
		for _, b := range inv.pipeBound {
			params[b.def.Name] = paramText(b.value)
		}
		stats.PipedInput(inv.def.Name, params)
	}
	if inv.def.Process != nil {
		return st.wrap(inv.def.Process(st.call(v, true)))
	}
	return nil
}

func (st *cmdStage) end() error {
	var err error
	if st.inv.def.End != nil {
		err = st.wrap(st.inv.def.End(st.call(nil, false)))
	}
	st.finish()
	return err
}

func (st *cmdStage) finish() {
	if st.inv.outVar != "" {
		st.inv.sess.setVar(st.inv.outVar, collapse(st.inv.outVarItems))
	}
	if st.inv.hadError {
		st.inv.sess.lastOK = false
	}
}

func (s *session) runPipeline(pl *pipelineStmt, out func(Value) error) error {
	n := len(pl.elems)
	stages := make([]*cmdStage, n)
	for i := 0; i < n; i++ {
		el := pl.elems[i]
		if el.cmd == nil {
			continue
		}
		def, err := s.resolve(el.cmd)
		if err != nil {
			return err
		}
		inv, err := s.newInvocation(el.cmd, def, nil)
		if err != nil {
			return err
		}
		if err := inv.checkMandatory(i > 0); err != nil {
			return err
		}
		stages[i] = &cmdStage{inv: inv}
		inv.stage = stages[i]
	}
	next := out
	for i := n - 1; i >= 0; i-- {
		if stages[i] != nil {
			stages[i].inv.out = next
			next = stages[i].process
		}
	}
	for i := 0; i < n; i++ {
		if stages[i] != nil {
			if err := s.countAndFault(stages[i].inv); err != nil {
				return err
			}
		}
	}
	for i := 0; i < n; i++ {
		if stages[i] != nil {
			if err := stages[i].begin(); err != nil {
				return s.stopped(err, stages, i)
			}
		}
	}
	var err error
	if stages[0] == nil {
		var items []Value
		items, err = s.evalEnum(pl.elems[0].expr)
		if err == nil {
			for _, it := range items {
				if err = next(it); err != nil {
					break
				}
			}
		}
	} else {
		first := stages[0]
		if first.inv.def.Process != nil {
			err = first.wrap(first.inv.def.Process(first.call(nil, false)))
		}
		if err == nil {
			err = first.end()
		} else {
			first.finish()
		}
	}
	if err != nil {
		return s.stopped(err, stages, 0)
	}
	for i := 1; i < n; i++ {
		if err := stages[i].end(); err != nil {
			return s.stopped(err, stages, i)
		}
	}
	return nil
}

// stopped handles an error raised while the pipeline ran: a stopUpstream
// from stage k ends the stages k.. normally.
func (s *session) stopped(err error, stages []*cmdStage, from int) error {
	su, ok := err.(*stopUpstream)
	if !ok {
		return err
	}
	k := -1
	for i, st := range stages {
		if st == su.stage {
			k = i
		}
	}
	if k < 0 {
		return err
	}
	for i := k; i < len(stages); i++ {
		if err := stages[i].end(); err != nil {
			return s.stopped(err, stages, i)
		}
	}
	return nil
}

// evalEnum evaluates a pipeline's first expression into the items it writes.
func (s *session) evalEnum(e expr) ([]Value, error) {
	switch x := e.(type) {
	case *varExpr:
		if vv, ok := s.vars[strings.ToLower(x.name)]; ok && vv.empty {
			return nil, nil
		}
	case *parenExpr:
		if pl, ok := x.inner.(*pipelineStmt); ok && !(len(pl.elems) == 1 && pl.elems[0].expr != nil) {
			var items []Value
			err := s.execStmt(pl, func(v Value) error { items = append(items, v); return nil })
			return items, err
		}
	case *subExpr:
		var items []Value
		err := s.runBody(x.body, func(v Value) error { items = append(items, v); return nil })
		return items, err
	}
	v, err := s.evalRaw(e)
	if err != nil {
		return nil, err
	}
	if v == voidV {
		return nil, nil
	}
	if v == nil {
		return []Value{nil}, nil
	}
	return Unroll(v), nil
}
