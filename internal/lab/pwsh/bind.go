package pwsh

import (
	"fmt"
	"math"
	"sort"
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

// resolveName finds the parameter for -name, with unique-prefix matching.
func (inv *invocation) resolveName(a cmdArg) (*ParamDef, error) {
	if p := inv.findParam(a.name); p != nil {
		return p, nil
	}
	var matches []*ParamDef
	seen := map[string]bool{}
	for i := range inv.params {
		p := &inv.params[i]
		cands := append([]string{p.Name}, p.Aliases...)
		for _, c := range cands {
			if len(c) >= len(a.name) && strings.EqualFold(c[:len(a.name)], a.name) && !seen[p.Name] {
				seen[p.Name] = true
				matches = append(matches, p)
			}
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return nil, inv.bindingError("NamedParameterNotFound",
			fmt.Sprintf("A parameter cannot be found that matches parameter name '%s'.", a.name), CatInvalidArgument, a.pos)
	}
	names := make([]string, len(matches))
	for i, m := range matches {
		names[i] = "-" + m.Name
	}
	return nil, inv.bindingError("AmbiguousParameter",
		fmt.Sprintf("Parameter cannot be processed because the parameter name '%s' is ambiguous. Possible matches include: %s.", a.name, strings.Join(names, " ")),
		CatInvalidArgument, a.pos)
}

func (inv *invocation) isBound(p *ParamDef) bool {
	for _, b := range inv.bound {
		if b.def.Name == p.Name {
			return true
		}
	}
	return false
}

// bindArgs binds the named and positional arguments.
func (inv *invocation) bindArgs(args []cmdArg) error {
	var positional []cmdArg
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !a.isName {
			positional = append(positional, a)
			continue
		}
		p, err := inv.resolveName(a)
		if err != nil {
			return err
		}
		if inv.isBound(p) {
			return inv.bindingError("ParameterAlreadyBound",
				fmt.Sprintf("Cannot bind parameter because parameter '%s' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\".", p.Name),
				CatInvalidArgument, a.pos)
		}
		var val Value
		switch {
		case a.colon || a.hasVal:
			val = a.value
		case p.Type == TSwitch:
			val = true
		default:
			if i+1 >= len(args) || args[i+1].isName {
				return inv.bindingError("MissingArgument",
					fmt.Sprintf("Missing an argument for parameter '%s'. Specify a parameter of type '%s' and try again.", p.Name, typeName(p)),
					CatInvalidArgument, a.pos)
			}
			i++
			val = args[i].value
		}
		cv, err := inv.convertArg(p, val, a.pos)
		if err != nil {
			return err
		}
		if err := inv.validateMandatory(p, cv, a.pos); err != nil {
			return err
		}
		inv.bound = append(inv.bound, boundParam{def: p, value: cv})
	}
	if len(positional) > 0 {
		var pos []*ParamDef
		for i := range inv.params {
			if inv.params[i].Position > 0 {
				pos = append(pos, &inv.params[i])
			}
		}
		sort.SliceStable(pos, func(i, j int) bool { return pos[i].Position < pos[j].Position })
		k := 0
		for _, a := range positional {
			for k < len(pos) && inv.isBound(pos[k]) {
				k++
			}
			if k >= len(pos) {
				if rp := inv.remainingParam(); rp != nil {
					var rest []Value
					for _, ra := range positional[len(inv.boundPositional):] {
						rest = append(rest, ra.value)
					}
					inv.bound = append(inv.bound, boundParam{def: rp, value: &Array{Items: rest}})
					break
				}
				return inv.bindingError("PositionalParameterNotFound",
					fmt.Sprintf("A positional parameter cannot be found that accepts argument '%s'.", argText(a.value)),
					CatInvalidArgument, a.pos)
			}
			if pos[k].ValueFromRemainingArguments {
				var rest []Value
				for _, ra := range positional[len(inv.boundPositional):] {
					rest = append(rest, ra.value)
				}
				inv.bound = append(inv.bound, boundParam{def: pos[k], value: &Array{Items: rest}})
				break
			}
			cv, err := inv.convertArg(pos[k], a.value, a.pos)
			if err != nil {
				return err
			}
			if err := inv.validateMandatory(pos[k], cv, a.pos); err != nil {
				return err
			}
			inv.bound = append(inv.bound, boundParam{def: pos[k], value: cv})
			inv.boundPositional = append(inv.boundPositional, a)
			k++
		}
	}
	// common parameters
	for _, b := range inv.bound {
		switch strings.ToLower(b.def.Name) {
		case "erroraction":
			ap, _ := parseActionPref(b.value)
			inv.errAction = ap
		case "warningaction":
			ap, _ := parseActionPref(b.value)
			inv.warnAction = ap
		case "errorvariable", "warningvariable":
			name := ToString(b.value)
			if !strings.HasPrefix(name, "+") {
				// without '+' the variable starts empty for this command
				inv.sess.setVar(name, &List{})
			}
			if strings.EqualFold(b.def.Name, "ErrorVariable") {
				inv.errVar = name
			} else {
				inv.warnVar = name
			}
		case "outvariable":
			inv.outVar = ToString(b.value)
		}
	}
	return nil
}

func argText(v Value) string {
	if a, ok := v.(*Array); ok {
		_ = a
		return "System.Object[]"
	}
	return ToString(v)
}

// validateMandatory applies the null/empty checks PowerShell makes for
// Mandatory parameters.
func (inv *invocation) validateMandatory(p *ParamDef, v Value, at extent) error {
	if !p.Mandatory {
		return nil
	}
	fail := func(id, what string) error {
		e := inv.bindingError(id, fmt.Sprintf("Cannot bind argument to parameter '%s' because it is %s.", p.Name, what), CatInvalidData, at)
		e.(*psThrow).rec.Err.ExceptionType = "System.Management.Automation.ParameterBindingValidationException"
		return e
	}
	switch x := v.(type) {
	case nil:
		if !p.AllowNull {
			return fail("ParameterArgumentValidationErrorNullNotAllowed", "null")
		}
	case string:
		if x == "" && !p.AllowEmpty {
			return fail("ParameterArgumentValidationErrorEmptyStringNotAllowed", "an empty string")
		}
	case *Array:
		if len(x.Items) == 0 && !p.AllowEmpty {
			return fail("ParameterArgumentValidationErrorEmptyArrayNotAllowed", "an empty array")
		}
	}
	return nil
}

// checkMandatory reports the missing mandatory parameters (non-interactive).
func (inv *invocation) checkMandatory(withPipeline bool) error {
	var missing []string
	for i := range inv.params {
		p := &inv.params[i]
		if !p.Mandatory || inv.isBound(p) {
			continue
		}
		if withPipeline && (p.ValueFromPipeline || p.ValueFromPipelineByPropertyName) {
			continue
		}
		bp := false
		for _, b := range inv.pipeBound {
			if b.def.Name == p.Name {
				bp = true
			}
		}
		if !bp {
			missing = append(missing, p.Name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return inv.bindingError("MissingMandatoryParameter",
		fmt.Sprintf("Cannot process command because of one or more missing mandatory parameters: %s.", strings.Join(missing, " ")),
		CatInvalidArgument, inv.pos)
}

// bindPipeline binds the current pipeline object as PowerShell does: by
// value without conversion, then by property name, then by value with
// conversion; ok=false when nothing accepted it.
func (inv *invocation) bindPipeline(v Value) (bool, error) {
	inv.pipeBound = inv.pipeBound[:0]
	for i := range inv.params {
		p := &inv.params[i]
		if p.ValueFromPipeline && !inv.isBound(p) && exactPipelineMatch(p, v) {
			cv, err := convertParam(p, v)
			if err == nil {
				inv.pipeBound = append(inv.pipeBound, boundParam{def: p, value: cv})
				return true, nil
			}
		}
	}
	any := false
	for i := range inv.params {
		p := &inv.params[i]
		if !p.ValueFromPipelineByPropertyName || inv.isBound(p) {
			continue
		}
		names := append([]string{p.Name}, p.Aliases...)
		for _, n := range names {
			pv, ok := propertyOf(v, n)
			if !ok {
				continue
			}
			cv, err := convertParam(p, pv)
			if err != nil {
				return false, inv.bindingError("ParameterArgumentTransformationError",
					fmt.Sprintf("Cannot bind parameter '%s'. %s", p.Name, err.Error()), CatInvalidArgument, inv.pos)
			}
			inv.pipeBound = append(inv.pipeBound, boundParam{def: p, value: cv})
			any = true
			break
		}
	}
	if any {
		return true, nil
	}
	for i := range inv.params {
		p := &inv.params[i]
		if !p.ValueFromPipeline || inv.isBound(p) {
			continue
		}
		cv, err := convertParam(p, v)
		if err == nil {
			inv.pipeBound = append(inv.pipeBound, boundParam{def: p, value: cv})
			return true, nil
		}
	}
	return false, nil
}

// exactPipelineMatch reports whether v binds to p by value without type
// conversion (PowerShell's first binding pass).
func exactPipelineMatch(p *ParamDef, v Value) bool {
	switch p.Type {
	case TObject, TObjectArray:
		return true
	case TString, TStringArray, TMultiValued:
		_, ok := v.(string)
		return ok
	case TIdentity:
		switch x := v.(type) {
		case string, Guid:
			return true
		case *Object:
			tn := x.TypeName()
			return tn != PSCustomObjectType && !strings.HasPrefix(tn, "Selected.")
		}
		return false
	case TInt:
		_, ok := v.(int64)
		return ok
	case TBool, TSwitch:
		_, ok := v.(bool)
		return ok
	case TGuid:
		_, ok := v.(Guid)
		return ok
	case TUri:
		_, ok := v.(*Uri)
		return ok
	case TSecureString:
		_, ok := v.(*SecureString)
		return ok
	case THashtable:
		_, ok := v.(*Hashtable)
		return ok
	case TScriptBlock:
		_, ok := v.(*ScriptBlock)
		return ok
	case TByteArray:
		_, ok := v.([]byte)
		return ok
	}
	return false
}

func propertyOf(v Value, name string) (Value, bool) {
	switch x := v.(type) {
	case *Object:
		return x.Get(name)
	case *Hashtable:
		return nil, false
	}
	return nil, false
}

func typeName(p *ParamDef) string {
	if p.TypeName != "" {
		return p.TypeName
	}
	switch p.Type {
	case TString:
		return "System.String"
	case TStringArray, TMultiValued:
		return "System.String[]"
	case TBool:
		return "System.Boolean"
	case TSwitch:
		return "System.Management.Automation.SwitchParameter"
	case TInt:
		return "System.Int32"
	case TUnlimited:
		return "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"
	case TObjectArray:
		return "System.Object[]"
	case TByteArray:
		return "System.Byte[]"
	case TSecureString:
		return "System.Security.SecureString"
	case TUri:
		return "System.Uri"
	case TGuid:
		return "System.Guid"
	case TEnum:
		return "System.Enum"
	case THashtable:
		return "System.Collections.Hashtable"
	case TScriptBlock:
		return "System.Management.Automation.ScriptBlock"
	case TIdentity:
		return "Microsoft.Exchange.Configuration.Tasks.IdParameter"
	}
	return "System.Object"
}

func (inv *invocation) convertArg(p *ParamDef, v Value, at extent) (Value, error) {
	cv, err := convertParam(p, v)
	if err != nil {
		if p.Type == TBool || p.Type == TSwitch {
			return nil, inv.bindingError("ParameterArgumentTransformationError",
				fmt.Sprintf("Cannot process argument transformation on parameter '%s'. %s", p.Name, err.Error()), CatInvalidData, at)
		}
		return nil, inv.bindingError("CannotConvertArgumentNoMessage",
			fmt.Sprintf("Cannot bind parameter '%s'. %s", p.Name, err.Error()), CatInvalidArgument, at)
	}
	return cv, nil
}

// convertParam converts v for parameter p; errors carry PowerShell's text
// after "Cannot bind parameter 'X'. ".
func convertParam(p *ParamDef, v Value) (Value, error) {
	v = Normalize(v)
	tn := typeName(p)
	cannot := func(detail string) error {
		return fmt.Errorf("Cannot convert value \"%s\" to type \"%s\". Error: \"%s\"", ToString(v), tn, detail)
	}
	single := func() (Value, error) {
		if a, ok := v.(*Array); ok {
			if len(a.Items) == 1 {
				return a.Items[0], nil
			}
			return nil, fmt.Errorf("Cannot convert 'System.Object[]' to the type '%s' required by parameter '%s'. Specified method is not supported.", tn, p.Name)
		}
		return v, nil
	}
	switch p.Type {
	case TObject:
		return v, nil
	case TString:
		s, err := single()
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, nil
		}
		return ToString(s), nil
	case TStringArray, TMultiValued:
		if h, ok := v.(*Hashtable); ok && p.Type == TMultiValued {
			return h, nil
		}
		if v == nil {
			return nil, nil
		}
		items := Unroll(v)
		out := make([]Value, len(items))
		for i, it := range items {
			out[i] = ToString(it)
		}
		return &Array{Items: out}, nil
	case TBool, TSwitch:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case float64:
			return x != 0, nil
		case nil:
			return false, nil
		}
		return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.", typeOfName(s))
	case TInt:
		s, err := single()
		if err != nil {
			return nil, err
		}
		n, err := toInt(s)
		if err != nil {
			return nil, cannot(err.Error())
		}
		if n > math.MaxInt32 || n < math.MinInt32 {
			return nil, cannot("Value was either too large or too small for an Int32.")
		}
		return n, nil
	case TUnlimited:
		s, err := single()
		if err != nil {
			return nil, err
		}
		if u, ok := s.(Unlimited); ok {
			return u, nil
		}
		if str, ok := s.(string); ok && strings.EqualFold(strings.TrimSpace(str), "unlimited") {
			return Unlimited{IsUnlimited: true}, nil
		}
		n, err := toInt(s)
		if err != nil || n < 0 {
			return nil, cannot("Input string was not in a correct format.")
		}
		return Unlimited{Value: n}, nil
	case TObjectArray:
		if v == nil {
			return nil, nil
		}
		if a, ok := v.(*Array); ok {
			return a, nil
		}
		return &Array{Items: Unroll(v)}, nil
	case TByteArray:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case nil:
			return nil, nil
		case *Array:
			out := make([]byte, len(x.Items))
			for i, it := range x.Items {
				n, err := toInt(it)
				if err != nil || n < 0 || n > 255 {
					return nil, cannot("Value was either too large or too small for an unsigned byte.")
				}
				out[i] = byte(n)
			}
			return out, nil
		case string:
			return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"System.Byte[]\". Error: \"Input string was not in a correct format.\"", x)
		}
		return nil, cannot("Invalid cast.")
	case TSecureString:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case *SecureString:
			return x, nil
		case nil:
			return nil, nil
		}
		return nil, fmt.Errorf("Cannot convert the \"%s\" value of type \"%s\" to type \"System.Security.SecureString\".", ToString(s), typeOfName(s))
	case TUri:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case nil:
			return nil, nil
		case *Uri:
			return x, nil
		}
		str := ToString(s)
		if str == "" {
			return nil, nil
		}
		u, err := NewUri(str)
		if err != nil {
			return nil, cannot(err.Error())
		}
		return u, nil
	case TGuid:
		s, err := single()
		if err != nil {
			return nil, err
		}
		if g, ok := s.(Guid); ok {
			return g, nil
		}
		g, err := ParseGuid(ToString(s))
		if err != nil {
			return nil, cannot(err.Error())
		}
		return g, nil
	case TEnum:
		return convertEnum(p, v)
	case THashtable:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case *Hashtable:
			return x, nil
		case nil:
			return nil, nil
		}
		return nil, fmt.Errorf("Cannot convert the \"%s\" value of type \"%s\" to type \"System.Collections.Hashtable\".", ToString(s), typeOfName(s))
	case TScriptBlock:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case *ScriptBlock:
			return x, nil
		case nil:
			return nil, nil
		}
		return nil, fmt.Errorf("Cannot convert the \"%s\" value of type \"%s\" to type \"System.Management.Automation.ScriptBlock\".", ToString(s), typeOfName(s))
	case TIdentity:
		s, err := single()
		if err != nil {
			return nil, err
		}
		switch x := s.(type) {
		case *Object, Guid, nil:
			return x, nil
		}
		return ToString(s), nil
	}
	return v, nil
}

func convertEnum(p *ParamDef, v Value) (Value, error) {
	var names []string
	if f, ok := v.(*Flags); ok {
		names = f.Names
	} else {
		for _, it := range Unroll(v) {
			for _, part := range strings.Split(ToString(it), ",") {
				if part = strings.TrimSpace(part); part != "" {
					names = append(names, part)
				}
			}
		}
	}
	if len(names) > 1 && !p.Flags {
		return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"%s\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n%s\"",
			ToString(v), typeName(p), ToString(v), strings.Join(p.EnumValues, ", "))
	}
	out := &Flags{Type: typeName(p)}
	for _, n := range names {
		found := false
		for i, ev := range p.EnumValues {
			if strings.EqualFold(ev, n) {
				found = true
				out.Names = append(out.Names, ev)
				switch {
				case i < len(p.EnumNumbers):
					out.Value |= p.EnumNumbers[i]
				case p.Flags:
					out.Value |= 1 << i
				default:
					out.Value = int64(i)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("Cannot convert value \"%s\" to type \"%s\". Error: \"Unable to match the identifier name %s to a valid enumerator name. Specify one of the following enumerator names and try again:\r\n%s\"",
				n, typeName(p), n, strings.Join(p.EnumValues, ", "))
		}
	}
	return out, nil
}

// toInt converts numbers and numeric strings to int64 (doubles round to even as .NET does).
func toInt(v Value) (int64, error) {
	switch x := Normalize(v).(type) {
	case int64:
		return x, nil
	case float64:
		return int64(math.RoundToEven(x)), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case nil:
		return 0, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return 0, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		if strings.HasPrefix(strings.ToLower(s), "0x") {
			if n, err := strconv.ParseInt(s[2:], 16, 64); err == nil {
				return n, nil
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return int64(math.RoundToEven(f)), nil
		}
		return 0, fmt.Errorf("Input string was not in a correct format.")
	case *Flags:
		return x.Value, nil
	case Char:
		return int64(x), nil
	}
	return 0, fmt.Errorf("Invalid cast from '%s' to 'Int32'.", typeOfName(v))
}

// typeOfName is the .NET full type name of a value.
func typeOfName(v Value) string {
	switch x := Normalize(v).(type) {
	case nil:
		return "null"
	case string:
		return "System.String"
	case bool:
		return "System.Boolean"
	case int64:
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			return "System.Int32"
		}
		return "System.Int64"
	case float64:
		return "System.Double"
	case []byte:
		return "System.Byte[]"
	case *Array:
		return "System.Object[]"
	case *List:
		return "System.Collections.Generic.List`1[[System.Object, mscorlib, Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089]]"
	case *Hashtable:
		if x.Ordered {
			return "System.Collections.Specialized.OrderedDictionary"
		}
		return "System.Collections.Hashtable"
	case *Object:
		return x.TypeName()
	case Guid:
		return "System.Guid"
	case *Uri:
		return "System.Uri"
	case *Flags:
		return x.Type
	case Unlimited:
		return "Microsoft.Exchange.Data.Unlimited`1[System.UInt32]"
	case *SecureString:
		return "System.Security.SecureString"
	case *ErrorRecord:
		return "System.Management.Automation.ErrorRecord"
	case *ScriptBlock:
		return "System.Management.Automation.ScriptBlock"
	case Char:
		return "System.Char"
	}
	return "System.Object"
}
