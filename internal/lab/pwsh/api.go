// Package pwsh is the lab's PowerShell interpreter: it runs
// `powershell[.exe] -EncodedCommand <base64>` for the subset of Windows
// PowerShell 5.1 that internal/exchange's scripts are written in, with real
// PowerShell semantics for what it accepts, and rejects every other
// construct with a PowerShell-style ParserError that names it.
//
// # Extension API (stable; changes are additive only)
//
// Other lab packages register cmdlets on a Host:
//
//	h := pwsh.NewHost(pwsh.HostOptions{Stats: stats, Faults: inj, User: `CONTOSO\Administrator`})
//	h.Register(pwsh.CmdletDef{
//	    Name:           "Get-CASMailbox",
//	    ImplementingType: "Microsoft.Exchange.Management.RecipientTasks.GetCASMailbox",
//	    RequiresSnapin: pwsh.ExchangeSnapin,
//	    Params: []pwsh.ParamDef{
//	        {Name: "Identity", Type: pwsh.TIdentity, Position: 1, ValueFromPipeline: true, ValueFromPipelineByPropertyName: true},
//	        {Name: "ResultSize", Type: pwsh.TUnlimited},
//	    },
//	    Process: func(c *pwsh.Call) error {
//	        id, ok := c.Param("Identity")  // bound value, converted to the parameter's type
//	        ...
//	        return c.WriteObject(pwsh.NewObject("Microsoft.Exchange.Data.Directory.Management.CASMailbox",
//	            "Name", "alice", "Guid", g, "OWAEnabled", true))
//	    },
//	})
//	code := h.RunCommandLine(ctx, "powershell.exe -EncodedCommand ...", nil, stdin, stdout, stderr)
//
// # Values
//
// A Value is one of: nil ($null), bool, int64 (int and int32 are accepted and
// normalised to int64), float64, string, []byte, *Array (System.Object[];
// also used for MultiValuedProperty), *Hashtable, *Object (a PSObject: type
// names, ordered properties, optional ToString override and methods),
// Guid, *Uri, time.Time (System.DateTime), *Flags (an enum or flags enum
// value), Unlimited, *SecureString, *ErrorRecord, *ScriptBlock and *List
// (System.Collections.Generic.List[object]).
//
// # Cmdlet life cycle
//
// For each pipeline the interpreter binds the named and positional
// arguments, then calls Begin once, Process once per pipeline input object
// (after binding that object by value / by property name) — or once with no
// input when the cmdlet is first in its pipeline — and End once. Any of the
// three may be nil. Returning a non-nil error from them is a terminating
// error (use *Error to give it PowerShell's category, exception type and
// FullyQualifiedErrorId). Non-terminating errors go through Call.WriteError,
// which returns non-nil when -ErrorAction / $ErrorActionPreference turned the
// error into a terminating one: the cmdlet must then return that error.
// WriteObject also returns non-nil when the downstream pipeline has stopped
// (Select-Object -First); the cmdlet must return it too.
//
// Every invocation of every cmdlet is counted in HostOptions.Stats through
// Counters.Cmdlet(name, bound parameters as text) before it runs, and the
// fault injector (HostOptions.Faults) is consulted: Throttle(name) raises
// Exchange's throttling error and CmdletError(name) a transient server error,
// both as terminating errors of that cmdlet.
//
// Call.State is per-invocation scratch space (a CmdletDef is shared by all
// runs). ParamDef.AllowNull/AllowEmpty relax the Mandatory checks and
// ValueFromRemainingArguments collects extra positional arguments.
//
// # Running scripts
//
// Host.RunCommandLine takes a WinRS command line (`powershell.exe
// -NoProfile -EncodedCommand <b64>`, -Command, cmd.exe's error for any other
// program) and counts one PowerShell launch; Host.RunScript runs script text.
// Each run is a fresh runspace: output objects stream to stdout as text (CRLF
// lines), errors and warnings go to stderr as CLIXML, and the exit code is
// `exit N`, else 1 when the script ended in a terminating error or its last
// statement failed, else 0. HostOptions.FirstUseProgress and CodePage make
// the output noisier/lossier the way real WinRM PowerShell is.
// EncodeCommand/DecodeCommand, SplitCommandLine, ToJSON/FromJSON, ToString,
// ToBool, Unroll and Normalize are exported for the lab's own use and tests.
//
// # Escaping output to ASCII: -f, [char] and [regex]::Replace
//
// Beyond that subset, the interpreter implements, with Windows
// PowerShell 5.1's semantics, what a script needs to make its JSON pure
// ASCII (internal/exchange's scripts end with it, so that an OEM code page
// cannot corrupt names):
//
//	ConvertTo-Json ... -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
//
// The pieces:
//
//   - The -f operator (String.Format): {index[,alignment][:spec]} items,
//     {{ and }}; an array on the right gives the arguments. It binds
//     tighter than * / % and + -. The format string must be a literal and
//     its specifiers x, X, d or D (with a precision) or none; others are
//     a ParserError. Numbers apply the specifier (x of an Int32 is its
//     32-bit two's complement), strings, chars, booleans and $null ignore
//     it; errors are PowerShell's "Error formatting a string: ...".
//   - [char] casts (System.Char, the Char Value type: one UTF-16 code
//     unit) from one-character strings, numbers 0..65535 and $null, and
//     [int]/[long] casts of a Char; -eq compares a Char as text.
//   - [regex]::Replace(input, pattern, { param($m) ... }), the
//     MatchEvaluator overload only (any other [regex] use is a
//     ParserError). It matches over UTF-16 code units as .NET does (a
//     character outside the BMP is two units, each matched by [^\x00-\x7E]
//     on its own, and an evaluator may see a lone surrogate) and is
//     case-sensitive; the pattern syntax is Go's RE2, as for -match. The
//     evaluator runs as a .NET delegate: in a child scope, its param()
//     variables bound to the Match (Value, Index, Length, Success; its
//     text is its Value), other arguments in $args, and any error inside
//     it ends the call as "Exception calling "Replace" with "3"
//     argument(s): ...". Its output is converted to a string ($null gives
//     an empty one, arrays are joined with $OFS). The evaluator is only called per match,
//     so the cost is linear in the input.
//   - param($a, $b) — plain variable names only — as the first statement
//     of a script block, accepted only for a [regex]::Replace evaluator.
//
// Strings are kept in WTF-8 (UTF-8 that may hold a lone surrogate as its
// three-byte form), so indexing, Substring and regex matches can split a
// surrogate pair as .NET does and join it again.
//
// # What is rejected
//
// Parsing rejects, with a ParserError naming the construct ("The 'class'
// keyword is not supported in the exrunbook lab."), every keyword, operator,
// type literal, static member, variable drive, redirection and real
// PowerShell command (Format-Table, Get-Content, Invoke-Expression, ...)
// outside the subset, before anything runs. Unknown commands fail at run
// time as PowerShell's CommandNotFoundException.
//
// # Known deviations from Windows PowerShell 5.1
//
//   - Plain @{} hashtables keep insertion order (5.1 uses hash order; the
//     Exchange scripts use [ordered] or [pscustomobject]).
//   - Error text is not word-wrapped at the host width.
//   - Integers are one 64-bit type: `5 -is [long]` is true.
//   - String ordering (-lt, Sort-Object) is ordinal after case folding, not
//     culture-aware.
//   - Regular expressions are RE2: no lookaround or backreferences, and an
//     empty match right after a match is skipped (.NET keeps it).
//   - With HostOptions.CodePage, stdin is still read as UTF-8 (powershell.exe
//     reads redirected stdin in the same OEM code page).
package pwsh

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
)

// ExchangeSnapin is the snap-in name the Exchange scripts load with
// Add-PSSnapin; cmdlets registered with RequiresSnapin set to it are "not
// recognized" until then.
const ExchangeSnapin = "Microsoft.Exchange.Management.PowerShell.SnapIn"

// Value is any value the interpreter handles (see the package doc for the
// list of Go types used).
type Value = any

// ParamType says how an argument is converted when bound to a parameter.
type ParamType int

// The parameter types. Conversion failures produce PowerShell's
// ParameterBindingException texts with the parameter's .NET type name
// (ParamDef.TypeName, or the default name of the ParamType).
const (
	// TObject binds the value unchanged (System.Object).
	TObject ParamType = iota
	// TString converts to string (System.String); arrays are rejected.
	TString
	// TStringArray converts a scalar or an array to *Array of strings (System.String[]).
	TStringArray
	// TBool takes $true/$false or numbers (System.Boolean); strings are rejected as PowerShell does.
	TBool
	// TSwitch is a SwitchParameter: present means true, -Name:$false means false. Bound as bool.
	TSwitch
	// TInt converts to int64 (System.Int32 range).
	TInt
	// TUnlimited takes a number or the word Unlimited; bound as Unlimited.
	TUnlimited
	// TObjectArray binds a scalar or an array as *Array (System.Object[]).
	TObjectArray
	// TByteArray takes []byte (or an array of numbers); bound as []byte.
	TByteArray
	// TSecureString takes a *SecureString.
	TSecureString
	// TUri converts a string to *Uri (System.Uri); $null stays nil.
	TUri
	// TGuid converts a string to Guid.
	TGuid
	// TEnum converts a string (or a comma-separated list when ParamDef.Flags)
	// to *Flags using ParamDef.EnumValues (case-insensitive names, values by
	// position unless EnumNumbers is given).
	TEnum
	// TMultiValued binds a scalar or an array as *Array of strings, or a
	// hashtable @{Add=...; Remove=...} as *Hashtable (MultiValuedProperty).
	TMultiValued
	// THashtable takes a *Hashtable.
	THashtable
	// TScriptBlock takes a *ScriptBlock.
	TScriptBlock
	// TIdentity is an Exchange *IdParameter: an *Object or Guid is kept as
	// is (the object came from a Get- cmdlet), anything else scalar becomes
	// a string. Arrays are rejected.
	TIdentity
)

// ParamDef declares one parameter of a cmdlet. Common parameters
// (-ErrorAction, -WarningAction, -Verbose, -Debug, -ErrorVariable,
// -WarningVariable, -OutVariable, -OutBuffer, -PipelineVariable,
// -InformationAction, -InformationVariable) are accepted by every cmdlet
// and must not be declared. WhatIf and Confirm are ordinary TSwitch
// parameters, declared only by the cmdlets that support them.
type ParamDef struct {
	Name string
	Type ParamType
	// TypeName is the .NET type name used in binding errors; empty means the
	// default for Type (e.g. System.String).
	TypeName string
	// Position is the 1-based position for positional binding; 0 means named only.
	Position  int
	Mandatory bool
	// ValueFromPipeline binds the pipeline object itself.
	ValueFromPipeline bool
	// ValueFromPipelineByPropertyName binds the pipeline object's property of
	// the same name (or an alias).
	ValueFromPipelineByPropertyName bool
	Aliases                         []string
	// AllowNull and AllowEmpty lift PowerShell's rule that a Mandatory
	// parameter rejects $null, and '' or an empty array
	// ([AllowNull()], [AllowEmptyString()], [AllowEmptyCollection()]).
	AllowNull, AllowEmpty bool
	// ValueFromRemainingArguments collects the positional arguments left
	// over after positional binding (as an *Array).
	ValueFromRemainingArguments bool
	// EnumValues are the names of a TEnum; Flags allows several
	// ("IIS, SMTP"); EnumNumbers gives each name's number (default: the
	// index, or 1<<index for Flags).
	EnumValues  []string
	EnumNumbers []int64
	Flags       bool
}

// CmdletDef declares a cmdlet. See the package doc for the life cycle.
type CmdletDef struct {
	Name string
	// ImplementingType is the cmdlet class's full name; it ends the
	// FullyQualifiedErrorId of the errors the cmdlet writes. Empty: Name.
	ImplementingType string
	Params           []ParamDef
	// RequiresSnapin makes the cmdlet unknown until `Add-PSSnapin <name>`.
	RequiresSnapin string
	Begin          func(c *Call) error
	Process        func(c *Call) error
	End            func(c *Call) error
}

// ErrorCategory is a System.Management.Automation.ErrorCategory name.
type ErrorCategory string

// The error categories used by the lab.
const (
	CatNotSpecified        ErrorCategory = "NotSpecified"
	CatInvalidArgument     ErrorCategory = "InvalidArgument"
	CatInvalidData         ErrorCategory = "InvalidData"
	CatInvalidOperation    ErrorCategory = "InvalidOperation"
	CatInvalidType         ErrorCategory = "InvalidType"
	CatObjectNotFound      ErrorCategory = "ObjectNotFound"
	CatResourceExists      ErrorCategory = "ResourceExists"
	CatPermissionDenied    ErrorCategory = "PermissionDenied"
	CatWriteError          ErrorCategory = "WriteError"
	CatReadError           ErrorCategory = "ReadError"
	CatOperationStopped    ErrorCategory = "OperationStopped"
	CatParserError         ErrorCategory = "ParserError"
	CatLimitsExceeded      ErrorCategory = "LimitsExceeded"
	CatResourceUnavailable ErrorCategory = "ResourceUnavailable"
	CatConnectionError     ErrorCategory = "ConnectionError"
	CatSyntaxError         ErrorCategory = "SyntaxError"
	CatMetadataError       ErrorCategory = "MetadataError"
	CatDeviceError         ErrorCategory = "DeviceError"
	CatNotImplemented      ErrorCategory = "NotImplemented"
)

// Error is an error with PowerShell's error-record details. Cmdlets return
// it (terminating) or pass it to Call.WriteError (non-terminating).
type Error struct {
	Message string
	// ExceptionType is the full .NET exception type name, e.g.
	// "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException".
	// Empty: System.Management.Automation.RuntimeException.
	ExceptionType string
	Category      ErrorCategory
	// ErrorID is the first part of the FullyQualifiedErrorId; the
	// interpreter appends ",<ImplementingType>" for cmdlet errors. Empty:
	// the exception's short type name.
	ErrorID      string
	TargetObject Value
}

func (e *Error) Error() string { return e.Message }

// Call is one cmdlet invocation, as seen by the cmdlet's Begin/Process/End.
type Call struct {
	// Ctx is cancelled when the script is stopped.
	Ctx context.Context
	// Name is the cmdlet's name as registered.
	Name string
	// Input is the current pipeline object in Process (nil in Begin/End,
	// or when the cmdlet is first in its pipeline: see HasInput).
	Input    Value
	HasInput bool
	// User is the account the session runs as (HostOptions.User).
	User string
	// State is free for the cmdlet: it lives from Begin to End of this
	// invocation (CmdletDefs are shared, so keep per-call state here).
	State any
	// Runspace is the state of the runspace the call runs in (never nil).
	Runspace *RunspaceState

	inv *invocation
}

// Param returns the bound value of a parameter (case-insensitive name,
// aliases accepted) and whether it is bound.
func (c *Call) Param(name string) (Value, bool) { return c.inv.param(name) }

// IsBound reports whether the parameter is bound (PSBoundParameters.ContainsKey).
func (c *Call) IsBound(name string) bool { _, ok := c.inv.param(name); return ok }

// String returns the bound parameter as a string ("" if unbound or $null).
func (c *Call) String(name string) string {
	v, ok := c.inv.param(name)
	if !ok || v == nil {
		return ""
	}
	return ToString(v)
}

// Bool returns a bound TBool or TSwitch parameter (false if unbound).
func (c *Call) Bool(name string) bool {
	v, ok := c.inv.param(name)
	return ok && ToBool(v)
}

// Bound returns the bound parameters' names (as declared) in binding order.
func (c *Call) Bound() []string { return c.inv.boundNames() }

// WriteObject sends v down the pipeline (not enumerated). A non-nil result
// means the pipeline stopped downstream; return it.
func (c *Call) WriteObject(v Value) error { return c.inv.writeObject(v) }

// WriteError writes a non-terminating error (err may be an *Error; category
// and target apply when it is not). A non-nil result means -ErrorAction or
// $ErrorActionPreference made it terminating; return it.
func (c *Call) WriteError(err error, category ErrorCategory, target Value) error {
	return c.inv.writeError(err, category, target)
}

// WriteWarning writes a warning (honours -WarningAction and
// $WarningPreference). A non-nil result means WarningAction Stop; return it.
func (c *Call) WriteWarning(text string) error { return c.inv.writeWarning(text) }

// Stdin is the command's standard input (shared with [Console]::In).
func (c *Call) Stdin() io.Reader { return c.inv.sess.stdinReader() }

// HostOptions configures a Host.
type HostOptions struct {
	// Stats counts PowerShell launches and cmdlet calls (may be nil).
	Stats *labstats.Counters
	// Faults injects throttling and cmdlet errors (may be nil).
	Faults *faults.Injector
	// User is the session's account, used in the throttling message.
	User string
	// Now gives the clock for Get-Date (default time.Now).
	Now func() time.Time
	// Sleep implements Start-Sleep (default: a context-aware real sleep).
	Sleep func(ctx context.Context, d time.Duration) error
	// FirstUseProgress makes each run write, before its first cmdlet runs
	// and unless $ProgressPreference is SilentlyContinue by then, the
	// "Preparing modules for first use." progress record that
	// powershell.exe started over WinRM typically puts on stderr as CLIXML.
	FirstUseProgress bool
	// CodePage, when 437 or 850, encodes stdout and stderr in that OEM code
	// page with '?' for characters it lacks, as powershell.exe does when
	// started without a console (over WinRM). 0 writes UTF-8.
	CodePage int
}

// Host holds the registered cmdlets and options; each RunCommandLine or
// RunScript is a fresh runspace (variables and snap-ins do not carry over).
// Safe for concurrent use once registration is done.
type Host struct {
	opts    HostOptions
	mu      sync.RWMutex
	cmdlets map[string]*CmdletDef
}

// NewHost returns a Host with the generic cmdlets registered.
func NewHost(opts HostOptions) *Host {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = realSleep
	}
	h := &Host{opts: opts, cmdlets: map[string]*CmdletDef{}}
	registerBuiltins(h)
	return h
}

// Register adds a cmdlet. Registering the same name twice is an error.
func (h *Host) Register(def CmdletDef) error {
	if def.Name == "" {
		return fmt.Errorf("pwsh: cmdlet without a name")
	}
	key := strings.ToLower(def.Name)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.cmdlets[key]; dup {
		return fmt.Errorf("pwsh: cmdlet %s registered twice", def.Name)
	}
	d := def
	h.cmdlets[key] = &d
	return nil
}

func (h *Host) lookup(name string) *CmdletDef {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cmdlets[strings.ToLower(name)]
}

func realSleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
