package pwsh

import (
	"fmt"
	"strconv"
	"strings"
)

// commonParams are accepted by every cmdlet.
var commonParams = []ParamDef{
	{Name: "Verbose", Type: TSwitch, Aliases: []string{"vb"}},
	{Name: "Debug", Type: TSwitch, Aliases: []string{"db"}},
	{Name: "ErrorAction", Type: TString, TypeName: "System.Management.Automation.ActionPreference", Aliases: []string{"ea"}},
	{Name: "WarningAction", Type: TString, TypeName: "System.Management.Automation.ActionPreference", Aliases: []string{"wa"}},
	{Name: "InformationAction", Type: TString, TypeName: "System.Management.Automation.ActionPreference", Aliases: []string{"infa"}},
	{Name: "ErrorVariable", Type: TString, Aliases: []string{"ev"}},
	{Name: "WarningVariable", Type: TString, Aliases: []string{"wv"}},
	{Name: "InformationVariable", Type: TString, Aliases: []string{"iv"}},
	{Name: "OutVariable", Type: TString, Aliases: []string{"ov"}},
	{Name: "OutBuffer", Type: TInt, Aliases: []string{"ob"}},
	{Name: "PipelineVariable", Type: TString, Aliases: []string{"pv"}},
}

// actionPref is System.Management.Automation.ActionPreference.
type actionPref int

const (
	prefContinue actionPref = iota
	prefSilentlyContinue
	prefStop
	prefInquire
	prefIgnore
)

var actionPrefNames = []string{"Continue", "SilentlyContinue", "Stop", "Inquire", "Ignore"}

func parseActionPref(v Value) (actionPref, error) {
	s := strings.TrimSpace(ToString(v))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		v = n
	}
	if n, ok := v.(int64); ok && n >= 0 && n < 5 {
		switch n {
		case 0:
			return prefSilentlyContinue, nil
		case 1:
			return prefStop, nil
		case 2:
			return prefContinue, nil
		case 3:
			return prefInquire, nil
		case 4:
			return prefIgnore, nil
		}
	}
	for i, n := range actionPrefNames {
		if strings.EqualFold(n, s) {
			return actionPref(i), nil
		}
	}
	return 0, fmt.Errorf("Cannot convert value \"%s\" to type \"System.Management.Automation.ActionPreference\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\r\nSilentlyContinue, Stop, Continue, Inquire, Ignore, Suspend\"", s, s)
}

// cmdArg is one evaluated command argument.
type cmdArg struct {
	name   string // parameter name without '-' ("" for a value)
	isName bool
	colon  bool // -Name:value form: value is attached
	value  Value
	hasVal bool
	pos    extent
}

type boundParam struct {
	def   *ParamDef
	value Value
}

// invocation is one cmdlet in one pipeline.
type invocation struct {
	sess        *session
	def         *CmdletDef
	name        string // as invoked
	params      []ParamDef
	bound       []boundParam
	pipeBound   []boundParam // bound from the current pipeline object
	out         func(Value) error
	errAction   actionPref
	warnAction  actionPref
	errVar      string
	warnVar     string
	outVar      string
	outVarItems []Value
	pos         extent
	call        *Call
	hadError    bool
	stage       *cmdStage
	// boundPositional are the positional arguments bound so far.
	boundPositional []cmdArg
}

func (inv *invocation) remainingParam() *ParamDef {
	for i := range inv.params {
		if inv.params[i].ValueFromRemainingArguments && !inv.isBound(&inv.params[i]) {
			return &inv.params[i]
		}
	}
	return nil
}

func (inv *invocation) findParam(name string) *ParamDef {
	for i := range inv.params {
		p := &inv.params[i]
		if strings.EqualFold(p.Name, name) {
			return p
		}
		for _, a := range p.Aliases {
			if strings.EqualFold(a, name) {
				return p
			}
		}
	}
	return nil
}

func (inv *invocation) param(name string) (Value, bool) {
	p := inv.findParam(name)
	if p == nil {
		return nil, false
	}
	for _, b := range inv.pipeBound {
		if b.def.Name == p.Name {
			return b.value, true
		}
	}
	for _, b := range inv.bound {
		if b.def.Name == p.Name {
			return b.value, true
		}
	}
	return nil, false
}

func (inv *invocation) boundNames() []string {
	var out []string
	for _, b := range inv.bound {
		out = append(out, b.def.Name)
	}
	for _, b := range inv.pipeBound {
		out = append(out, b.def.Name)
	}
	return out
}

func (inv *invocation) implType() string {
	if inv.def.ImplementingType != "" {
		return inv.def.ImplementingType
	}
	return inv.def.Name
}

func (inv *invocation) writeObject(v Value) error {
	if err := inv.sess.ctx.Err(); err != nil {
		return err
	}
	v = Normalize(v)
	if inv.outVar != "" {
		inv.outVarItems = append(inv.outVarItems, v)
	}
	return inv.out(v)
}

// recordFor turns a cmdlet error into an ErrorRecord attributed to the invocation.
func (inv *invocation) recordFor(err error, category ErrorCategory, target Value) *ErrorRecord {
	var e *Error
	if pe, ok := err.(*Error); ok {
		cp := *pe
		e = &cp
	} else if rec, ok := err.(*psThrow); ok {
		return rec.rec
	} else {
		e = &Error{Message: err.Error(), Category: category, TargetObject: target}
	}
	if e.Category == "" {
		e.Category = category
	}
	if e.Category == "" {
		e.Category = CatNotSpecified
	}
	if e.TargetObject == nil {
		e.TargetObject = target
	}
	id := e.ErrorID
	if id == "" {
		id = shortType(e.exceptionType())
	}
	return &ErrorRecord{Err: e, Command: inv.name, FullyQualifiedErrorId: id + "," + inv.implType(),
		Line: inv.pos.line, Column: inv.pos.col, LineText: inv.pos.lineText, posExt: inv.pos}
}

func (inv *invocation) writeError(err error, category ErrorCategory, target Value) error {
	rec := inv.recordFor(err, category, target)
	return inv.sess.nonTerminating(rec, inv.errAction, inv)
}

func (inv *invocation) writeWarning(text string) error {
	if inv.warnVar != "" {
		inv.sess.appendVar(inv.warnVar, text)
	}
	switch inv.warnAction {
	case prefSilentlyContinue, prefIgnore:
		return nil
	case prefStop:
		e := &Error{Message: "The running command stopped because the preference variable \"WarningPreference\" or common parameter is set to Stop: " + text,
			ExceptionType: "System.Management.Automation.ActionPreferenceStopException", Category: CatOperationStopped, ErrorID: "ActionPreferenceStop"}
		return &psThrow{rec: inv.recordFor(e, CatOperationStopped, nil)}
	}
	if inv.sess.warnSink != nil {
		return inv.sess.warnSink(text)
	}
	inv.sess.warning(text)
	return nil
}

func (e *Error) exceptionType() string {
	if e.ExceptionType == "" {
		return "System.Management.Automation.RuntimeException"
	}
	return e.ExceptionType
}

func shortType(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[i+1:]
	}
	return full
}

// bindingError builds a terminating ParameterBindingException for the invocation.
func (inv *invocation) bindingError(id, msg string, category ErrorCategory, at extent) error {
	e := &Error{Message: msg, ExceptionType: "System.Management.Automation.ParameterBindingException", Category: category, ErrorID: id}
	rec := &ErrorRecord{Err: e, Command: inv.name, FullyQualifiedErrorId: id + "," + inv.bindingImpl(),
		Line: at.line, Column: at.col, LineText: at.lineText, posExt: at}
	return &psThrow{rec: rec}
}

func (inv *invocation) bindingImpl() string {
	if inv.def.ImplementingType != "" {
		return inv.def.ImplementingType
	}
	return inv.def.Name
}
