package pwsh

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// CommandCall is one command of a command-list pipeline: what a PowerShell
// remoting client sends in CREATE_PIPELINE (MS-PSRP §2.2.3.12) when the
// endpoint allows no script text. Args are already values: nothing is
// parsed or evaluated.
type CommandCall struct {
	Name string
	Args []CommandArg
}

// CommandArg is one argument, converted as PowerShell converts a
// System.Management.Automation.Runspaces.CommandParameter:
//
//   - Name "" is a positional argument (Value).
//   - A Name without a leading '-' ("Confirm") is that parameter with Value
//     as its argument, $null included (-Confirm:$false; a switch bound to
//     $null is false).
//   - A Name with a leading '-' is parameter text: "-Force" with a nil
//     Value is a switch without argument, "-Name:" or a non-nil Value
//     gives the argument.
type CommandArg struct {
	Name  string
	Value Value
}

// PipelineOptions configures Host.RunPipeline.
type PipelineOptions struct {
	// Resolve returns the cmdlet a command name runs, or false when the
	// name is not recognized in this runspace. The definition may be a
	// trimmed copy of a registered one (fewer Params): binding then sees
	// only those parameters. Nil: every registered cmdlet, with every
	// snap-in loaded.
	Resolve func(name string) (*CmdletDef, bool)
	// User is the account the runspace runs as (Call.User and the
	// throttling message). Empty: HostOptions.User.
	User string
	// Output receives each object the last command writes; a non-nil
	// error stops the pipeline with that error.
	Output func(Value) error
	// Error receives each non-terminating error record (ErrorAction
	// Continue); a non-nil error stops the pipeline.
	Error func(*ErrorRecord) error
	// Warning receives each warning's text; a non-nil error stops the
	// pipeline.
	Warning func(string) error
	// Runspace is the state of the remote runspace the pipeline runs in
	// (Call.Runspace): what Set-ADServerSettings sets lasts as long as
	// the runspace. Nil: the pipeline has a runspace of its own.
	Runspace *RunspaceState
}

// RunspaceState is state that lives as long as a runspace, across its
// pipelines: cmdlets read and write it by key through Call.Runspace.
// Safe for concurrent use.
type RunspaceState struct {
	mu sync.Mutex
	m  map[string]any
}

// Get returns the value stored under key, or nil.
func (r *RunspaceState) Get(key string) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[key]
}

// Set stores v under key.
func (r *RunspaceState) Set(key string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]any{}
	}
	r.m[key] = v
}

// RunPipeline runs a command list (cmd1 | cmd2 | ...) without script text,
// as a PowerShell remoting server runs a CREATE_PIPELINE in a NoLanguage
// runspace: arguments bind with the same binder as scripts (named,
// positional, switches, conversions and PowerShell's binding errors), and
// when input is not nil the first command is fed its objects one by one
// (by value, then by property name), as a pipeline created with NoInput
// false is; with input nil the first command runs once without input.
// input returns the next object and true, or false at the end of input.
//
// The runspace is remote and has no interactive host: a cmdlet that would
// prompt fails with PowerShell's HostException (see Call.PromptUnavailable).
// It returns nil when the pipeline completed (non-terminating errors do
// not fail it), else the terminating error record; when ctx is cancelled
// it returns PowerShell's PipelineStoppedException record.
func (h *Host) RunPipeline(ctx context.Context, cmds []CommandCall, input func() (Value, bool), o PipelineOptions) *ErrorRecord {
	s := newSession(h, ctx, nil, io.Discard, io.Discard)
	s.remote, s.progress = true, true
	if o.Runspace != nil {
		s.runspace = o.Runspace
	}
	if o.User != "" {
		s.user = o.User
	}
	if o.Error != nil {
		s.errSink = o.Error
	} else {
		s.errSink = func(*ErrorRecord) error { return nil }
	}
	if o.Warning != nil {
		s.warnSink = o.Warning
	} else {
		s.warnSink = func(string) error { return nil }
	}
	out := o.Output
	if out == nil {
		out = func(Value) error { return nil }
	}
	resolve := o.Resolve
	if resolve == nil {
		resolve = func(name string) (*CmdletDef, bool) {
			d := h.lookup(name)
			return d, d != nil
		}
	}
	err := s.runCommandList(cmds, input, resolve, out)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return stoppedRecord()
	}
	if t, ok := err.(*psThrow); ok {
		return t.rec
	}
	return &ErrorRecord{Err: &Error{Message: err.Error(), Category: CatNotSpecified}, FullyQualifiedErrorId: "RuntimeException"}
}

func stoppedRecord() *ErrorRecord {
	return &ErrorRecord{Err: &Error{Message: "The pipeline has been stopped.", Category: CatOperationStopped,
		ExceptionType: "System.Management.Automation.PipelineStoppedException"}, FullyQualifiedErrorId: "PipelineStopped", noActivity: true}
}

// NotRecognized is PowerShell's CommandNotFoundException record for name,
// as a runspace reports a command it does not have.
func NotRecognized(name string) *ErrorRecord {
	msg := fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.", name)
	e := &Error{Message: msg, Category: CatObjectNotFound, ExceptionType: "System.Management.Automation.CommandNotFoundException", TargetObject: name}
	return &ErrorRecord{Err: e, Command: name, FullyQualifiedErrorId: "CommandNotFoundException", noActivity: true}
}

func (s *session) runCommandList(cmds []CommandCall, input func() (Value, bool), resolve func(string) (*CmdletDef, bool), out func(Value) error) error {
	if len(cmds) == 0 {
		return nil
	}
	stages := make([]*cmdStage, len(cmds))
	for i, c := range cmds {
		def, ok := resolve(c.Name)
		if !ok || def == nil {
			return &psThrow{rec: NotRecognized(c.Name)}
		}
		inv := s.newBareInvocation(c.Name, def, extent{}, nil)
		args, err := commandArgs(c.Args)
		if err != nil {
			return &psThrow{rec: &ErrorRecord{Err: &Error{Message: err.Error(), Category: CatInvalidArgument,
				ExceptionType: "System.Management.Automation.ParameterBindingException"}, Command: c.Name, FullyQualifiedErrorId: "ParameterArgumentValidationError," + inv.bindingImpl()}}
		}
		if _, err := s.bindInvocation(inv, args); err != nil {
			return err
		}
		if err := inv.checkMandatory(i > 0 || input != nil); err != nil {
			return err
		}
		stages[i] = &cmdStage{inv: inv}
		inv.stage = stages[i]
	}
	next := out
	for i := len(stages) - 1; i >= 0; i-- {
		stages[i].inv.out = next
		next = stages[i].process
	}
	for _, st := range stages {
		if err := s.countAndFault(st.inv); err != nil {
			return err
		}
	}
	for i, st := range stages {
		if err := st.begin(); err != nil {
			return s.stopped(err, stages, i)
		}
	}
	first := stages[0]
	var err error
	if input == nil {
		if first.inv.def.Process != nil {
			err = first.wrap(first.inv.def.Process(first.call(nil, false)))
		}
	} else {
		for {
			if err = s.ctx.Err(); err != nil {
				break
			}
			v, ok := input()
			if !ok {
				err = s.ctx.Err()
				break
			}
			if err = first.process(Normalize(v)); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = first.end()
	} else {
		first.finish()
	}
	if err != nil {
		return s.stopped(err, stages, 0)
	}
	for i := 1; i < len(stages); i++ {
		if err := stages[i].end(); err != nil {
			return s.stopped(err, stages, i)
		}
	}
	return nil
}

// commandArgs turns CommandArgs into the binder's arguments.
func commandArgs(in []CommandArg) ([]cmdArg, error) {
	out := make([]cmdArg, 0, len(in))
	for _, a := range in {
		switch {
		case a.Name == "":
			out = append(out, cmdArg{value: a.Value})
		case !strings.HasPrefix(a.Name, "-"):
			out = append(out, cmdArg{isName: true, name: a.Name, value: a.Value, hasVal: true, colon: true})
		default:
			text := strings.TrimRight(a.Name, " \t")
			colon := strings.HasSuffix(text, ":")
			name := strings.TrimSuffix(strings.TrimPrefix(text, "-"), ":")
			if name == "" {
				return nil, fmt.Errorf("A parameter name is empty: %q.", a.Name)
			}
			if !colon && a.Value == nil {
				out = append(out, cmdArg{isName: true, name: name})
				continue
			}
			out = append(out, cmdArg{isName: true, name: name, value: a.Value, hasVal: true, colon: true})
		}
	}
	return out, nil
}

// Lookup returns a copy of the registered cmdlet name (case-insensitive),
// whatever snap-in it requires.
func (h *Host) Lookup(name string) (CmdletDef, bool) {
	d := h.lookup(name)
	if d == nil {
		return CmdletDef{}, false
	}
	return *d, true
}

// Cmdlets returns copies of every registered cmdlet, in no particular order.
func (h *Host) Cmdlets() []CmdletDef {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]CmdletDef, 0, len(h.cmdlets))
	for _, d := range h.cmdlets {
		out = append(out, *d)
	}
	return out
}

// PromptUnavailable is the error a cmdlet raises where it would prompt
// (ShouldContinue, or ShouldProcess's confirmation) in a runspace that
// cannot: message is the text of the prompt it would have shown. In a
// powershell.exe run over WinRS (RunScript) that is the NonInteractive
// console host's HostException; in a remote command-list pipeline
// (RunPipeline, whose client supplied no host) it is the HostException
// PowerShell's internal host raises when the host has no user interface
// (ErrorId HostFunctionNotImplemented, category NotImplemented), quoting
// the prompt.
func (c *Call) PromptUnavailable(message string, target Value) *Error {
	if c.inv.sess.remote {
		return &Error{
			Message:       "A command that prompts the user failed because the host program or the command type does not support user interaction. The host was attempting to request confirmation with the following message: " + message,
			ExceptionType: "System.Management.Automation.Host.HostException",
			Category:      CatNotImplemented, ErrorID: "HostFunctionNotImplemented", TargetObject: target,
		}
	}
	return &Error{
		Message:       "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
		ExceptionType: "System.Management.Automation.Host.HostException",
		Category:      CatResourceUnavailable, ErrorID: "HostException", TargetObject: target,
	}
}

// Activity is the CategoryInfo activity of the record: the command that
// raised it, empty for a command that was not found.
func (e *ErrorRecord) Activity() string {
	if e.noActivity {
		return ""
	}
	if e.activity != "" {
		return e.activity
	}
	return e.Command
}

// CommonParameters returns the common parameters every cmdlet accepts
// (-ErrorAction, -WarningAction, -Verbose, ...).
func CommonParameters() []ParamDef { return append([]ParamDef(nil), commonParams...) }

// ParamTypeName is the .NET type name of a parameter, as binding errors
// and Get-Command name it.
func ParamTypeName(p ParamDef) string { return typeName(&p) }

// WildcardMatch matches s against a PowerShell wildcard pattern (* ? [...]),
// ignoring case.
func WildcardMatch(pattern, s string) bool { return wildcardMatch(pattern, s, true) }
