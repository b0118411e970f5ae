package rps

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// Options configures an Endpoint.
type Options struct {
	// Host runs the cmdlets: a pwsh.Host with the Exchange cmdlets
	// registered (exchange.Register) and with HostOptions.Stats and
	// HostOptions.Faults set, so every cmdlet call is counted by name and
	// the fault injector's Throttle/CmdletError apply, exactly as on the
	// WinRS path (the same Host may serve both). Required.
	Host *pwsh.Host
	// Server is the name of the Exchange server the endpoint answers for
	// ("EX01"): Exchange writes it into its errors' FullyQualifiedErrorId
	// ([Server=EX01,RequestId=…,TimeStamp=…]). Required.
	Server string
	// Assignments maps a user, as the authentication layer names it
	// (`CONTOSO\Administrator`; compared ignoring case), to the role groups
	// assigned to it (RoleGroups()). A user missing here has no role and
	// cannot open a session.
	Assignments map[string][]string
	// CmdletBudget and CmdletPeriod model the throttling policy's
	// PowerShellMaxCmdlets and PowerShellMaxCmdletsTimePeriod: at most
	// CmdletBudget commands per user in each period (counted per command of
	// each pipeline, across the user's sessions). Both zero: no budget.
	CmdletBudget int
	CmdletPeriod time.Duration
	// Now is the clock (default time.Now): budget periods and the
	// TimeStamp of Exchange's error ids.
	Now func() time.Time
}

// Endpoint is the runspace semantics of Exchange's /PowerShell/ endpoint
// (configuration Microsoft.Exchange). Safe for concurrent use.
type Endpoint struct {
	o        Options
	assign   map[string][]string // lower-case user → role groups
	exchange map[string]pwsh.CmdletDef
	builtins map[string]*pwsh.CmdletDef // lower-case name → the non-Exchange commands

	mu      sync.Mutex
	budgets map[string]*budget // lower-case user → this period's use
}

type budget struct {
	start time.Time
	used  int
}

// New checks o and returns an Endpoint.
func New(o Options) (*Endpoint, error) {
	if o.Host == nil {
		return nil, fmt.Errorf("rps: Options.Host is required (a pwsh.Host with the Exchange cmdlets registered)")
	}
	if strings.TrimSpace(o.Server) == "" {
		return nil, fmt.Errorf("rps: Options.Server is required (the Exchange server's name, e.g. EX01)")
	}
	if o.CmdletBudget < 0 || o.CmdletPeriod < 0 {
		return nil, fmt.Errorf("rps: CmdletBudget %d and CmdletPeriod %s must not be negative", o.CmdletBudget, o.CmdletPeriod)
	}
	if (o.CmdletBudget == 0) != (o.CmdletPeriod == 0) {
		return nil, fmt.Errorf("rps: CmdletBudget (%d) and CmdletPeriod (%s) must be set together, as PowerShellMaxCmdlets and PowerShellMaxCmdletsTimePeriod are", o.CmdletBudget, o.CmdletPeriod)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Endpoint{o: o, assign: map[string][]string{}, exchange: map[string]pwsh.CmdletDef{}, budgets: map[string]*budget{}}
	for user, groups := range o.Assignments {
		key := strings.ToLower(strings.TrimSpace(user))
		if key == "" {
			return nil, fmt.Errorf("rps: Assignments has an empty user name")
		}
		for _, g := range groups {
			if _, ok := roleGroups[strings.ToLower(g)]; !ok {
				return nil, fmt.Errorf("rps: user %q is assigned the unknown role group %q; expected one of: %s", user, g, strings.Join(RoleGroups(), ", "))
			}
		}
		e.assign[key] = append(e.assign[key], groups...)
	}
	for _, d := range o.Host.Cmdlets() {
		if d.RequiresSnapin == pwsh.ExchangeSnapin {
			e.exchange[strings.ToLower(d.Name)] = d
		}
	}
	if len(e.exchange) == 0 {
		return nil, fmt.Errorf("rps: Options.Host has no Exchange cmdlets (register them with exchange.Register first)")
	}
	e.builtins = map[string]*pwsh.CmdletDef{}
	for _, name := range nonExchange {
		var def pwsh.CmdletDef
		switch name {
		case "Get-Command":
			continue // per principal: see Principal
		case "Get-FormatData", "Out-Default", "Exit-PSSession":
			def = e.sessionCommand(name)
		default:
			d, ok := o.Host.Lookup(name)
			if !ok {
				return nil, fmt.Errorf("rps: Options.Host lacks %s", name)
			}
			def = d
		}
		e.builtins[strings.ToLower(name)] = &def
	}
	return e, nil
}

// Principal is an authenticated user with the commands its role groups
// allow, fixed when its session opens (as Exchange loads RBAC then).
type Principal struct {
	// User is the user as Assignments names it.
	User string
	// Groups are its role groups.
	Groups []string
	// commands maps lower-case name → definition trimmed to the allowed
	// parameters (Exchange cmdlets and the non-Exchange commands).
	commands map[string]*pwsh.CmdletDef
	// runspace is the session's runspace state (Set-ADServerSettings'
	// scope lasts as long as the session).
	runspace *pwsh.RunspaceState
}

// Commands lists the names of the commands the principal may run, sorted.
func (p *Principal) Commands() []string { return sortedNames(p.commands) }

func (p *Principal) resolve(name string) (*pwsh.CmdletDef, bool) {
	d, ok := p.commands[strings.ToLower(name)]
	return d, ok
}

// NoRoleError is Exchange's refusal of a session to a user with no
// management role. The server returns it when the session is created.
type NoRoleError struct {
	User string
}

func (e *NoRoleError) Error() string {
	return "The user \"" + e.User + "\" isn't assigned to any management roles."
}

// FailureCategory is the category Exchange puts in the error's header.
func (e *NoRoleError) FailureCategory() string { return "AuthZ-CmdletAccessDeniedException" }

// Principal loads the RBAC of user (case-insensitive) when its session
// opens. A user without a role assignment gets a *NoRoleError.
func (e *Endpoint) Principal(user string) (*Principal, error) {
	canon := strings.TrimSpace(user)
	groups := e.assign[strings.ToLower(canon)]
	if len(groups) == 0 {
		return nil, &NoRoleError{User: canon}
	}
	cmds := grant(e.exchange, groups)
	for k, d := range e.builtins {
		cmds[k] = d
	}
	for name := range e.o.Assignments {
		if strings.EqualFold(name, canon) {
			canon = name
			break
		}
	}
	g := append([]string(nil), groups...)
	sort.Strings(g)
	p := &Principal{User: canon, Groups: g, commands: cmds, runspace: &pwsh.RunspaceState{}}
	gc := getCommand(p)
	cmds["get-command"] = &gc
	return p, nil
}

// Sink receives a pipeline's streams. Each method's error stops the
// pipeline (the client went away).
type Sink interface {
	// Output receives each output object.
	Output(v psrp.Value) error
	// Error receives each non-terminating error record.
	Error(rec *psrp.ErrorRecord) error
	// Warning receives each warning's text.
	Warning(text string) error
}

// Run runs pl for p and streams its output, errors and warnings to out
// (from Run's goroutine, in the order the pipeline writes them). input
// carries the pipeline's input objects when pl.NoInput is false (nil
// otherwise; NoInput false with a nil input is an empty input); Run reads
// it until it is closed, or stops reading when the pipeline ends early
// (Select-Object -First, a terminating error, ctx), so the caller must
// not block forever sending to it. Run returns nil when
// the pipeline completed (non-terminating errors do not fail it), else
// the terminating error record (the pipeline Failed). When ctx is
// cancelled the pipeline stops and Run returns PowerShell's
// PipelineStoppedException record: the caller reports the state Stopped
// (ctx.Err() != nil) rather than Failed.
func (e *Endpoint) Run(ctx context.Context, p *Principal, pl psrp.Pipeline, input <-chan psrp.Value, out Sink) *psrp.ErrorRecord {
	if p == nil {
		return &psrp.ErrorRecord{Message: "rps: Run needs the session's Principal (from Endpoint.Principal)",
			ExceptionType: "System.Management.Automation.PSInvalidOperationException", FullyQualifiedErrorID: "NoPrincipal",
			Category: "InvalidOperation", CategoryCode: categoryCodes["InvalidOperation"], Reason: "PSInvalidOperationException"}
	}
	cmds := make([]pwsh.CommandCall, 0, len(pl.Commands))
	for _, c := range pl.Commands {
		if c.IsScript {
			return scriptsNotAllowed()
		}
		call := pwsh.CommandCall{Name: c.Name}
		for _, a := range c.Params {
			v, err := fromWire(a.Value)
			if err != nil {
				return badValue(c.Name, "parameter '"+a.Name+"'", err)
			}
			call.Args = append(call.Args, pwsh.CommandArg{Name: a.Name, Value: v})
		}
		cmds = append(cmds, call)
	}
	if rec := e.spend(p.User, len(cmds)); rec != nil {
		return rec
	}
	var in func() (pwsh.Value, bool)
	var inErr error
	if !pl.NoInput && input != nil {
		in = func() (pwsh.Value, bool) {
			select {
			case <-ctx.Done():
				return nil, false
			case v, ok := <-input:
				if !ok {
					return nil, false
				}
				pv, err := fromWire(v)
				if err != nil {
					inErr = err
					return nil, false
				}
				return pv, true
			}
		}
	} else if !pl.NoInput {
		in = func() (pwsh.Value, bool) { return nil, false }
	}
	rec := e.o.Host.RunPipeline(ctx, cmds, in, pwsh.PipelineOptions{
		Resolve:  p.resolve,
		User:     p.User,
		Output:   func(v pwsh.Value) error { return out.Output(toWire(v)) },
		Error:    func(r *pwsh.ErrorRecord) error { return out.Error(e.wireError(r)) },
		Warning:  out.Warning,
		Runspace: p.runspace,
	})
	if rec != nil {
		return e.wireError(rec)
	}
	if inErr != nil {
		return badValue(pl.Commands[0].Name, "input object", inErr)
	}
	return nil
}

// spend takes n commands from user's budget, or returns Exchange's
// throttling error when the period's budget would be exceeded.
func (e *Endpoint) spend(user string, n int) *psrp.ErrorRecord {
	if e.o.CmdletBudget == 0 {
		return nil
	}
	now := e.o.Now()
	key := strings.ToLower(user)
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.budgets[key]
	if b == nil || !now.Before(b.start.Add(e.o.CmdletPeriod)) {
		b = &budget{start: now}
		e.budgets[key] = b
	}
	if b.used+n > e.o.CmdletBudget {
		return budgetExceeded(user, e.o.CmdletBudget)
	}
	b.used += n
	return nil
}
