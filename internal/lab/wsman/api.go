// Package wsman is the lab's WS-Management (WinRM) server: the WinRS cmd
// shell (Create, Command, Send, Receive, Signal, Delete) at /wsman, and
// PowerShell remoting shells (MS-PSRP over WS-Management, configuration
// Microsoft.Exchange) at /PowerShell/ whose runspace pools a PSRPHost runs,
// over SOAP 1.2 as Windows answers it, with Basic and NTLMv2 (HTTP Negotiate/NTLM, raw or
// SPNEGO-wrapped) authentication and NTLM message encryption over plain
// HTTP. It runs each command through an Executor that the lab plugs in (the
// PowerShell interpreter) and streams the output to Receive in chunks that
// keep every envelope under the client's MaxEnvelopeSize.
package wsman

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
)

// Executor runs one command of a shell. It writes output as it goes (the
// server streams it to Receive in chunks) and returns the exit code. stdin
// has what the client Sent (EOF after End="true", or when the command is
// terminated). ctx is cancelled when the client signals terminate or
// ctrl_c, deletes the shell, or the server closes; a write after that
// fails.
type Executor interface {
	Execute(ctx context.Context, req Command, stdin io.Reader, stdout, stderr io.Writer) (exitCode int)
}

// ExecutorFunc adapts a function to Executor.
type ExecutorFunc func(ctx context.Context, req Command, stdin io.Reader, stdout, stderr io.Writer) int

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, req Command, stdin io.Reader, stdout, stderr io.Writer) int {
	return f(ctx, req, stdin, stdout, stderr)
}

// Command is one rsp:CommandLine as the client sent it.
type Command struct {
	// User is the authenticated account as DOMAIN\name, spelt as in
	// Options.Users (for example "CONTOSO\Administrator").
	User string
	// Command is rsp:Command. masterzen/winrm puts the whole line here
	// ("powershell.exe -EncodedCommand …"); pywinrm puts the program
	// name here and the rest in Arguments.
	Command string
	// Arguments are the rsp:Arguments elements (pywinrm sends one,
	// holding its arguments joined by spaces).
	Arguments []string
	// ShellID and CommandID identify the command (upper-case GUIDs).
	ShellID, CommandID string
	// CodePage is the shell's WINRS_CODEPAGE option (masterzen sends
	// 65001, pywinrm 437); 0 when the client sent none.
	CodePage int
}

// Line is the command line as cmd.exe would see it: Command followed by
// the Arguments, separated by spaces.
func (c Command) Line() string {
	parts := append([]string{c.Command}, c.Arguments...)
	return strings.Join(parts, " ")
}

// Options configure a Server.
type Options struct {
	// Executor runs the commands. Required.
	Executor Executor
	// Users maps an account to its password. Keys may be "DOMAIN\name",
	// "name@dnsdomain" or a bare "name"; a client may log on with any of
	// these forms for any key. Names compare case-insensitively.
	Users map[string]string
	// Domain is the NetBIOS domain, e.g. "CONTOSO".
	Domain string
	// DNSDomain is the domain's DNS name, e.g. "contoso.test"; empty
	// means lower-case Domain.
	DNSDomain string
	// Computer is the server's NetBIOS name, announced in NTLM target
	// info and fault details; empty means "EX01".
	Computer string
	// AllowBasic and AllowNTLM enable the authentication schemes.
	AllowBasic, AllowNTLM bool
	// Stats, if set, counts WinRMRequests (every HTTP request), Shells
	// (every WinRS shell created), PSRPPools (every PSRP shell created)
	// and EncryptedBodies/PlainBodies (request bodies sealed or not).
	Stats *labstats.Counters
	// Faults, if set, injects latency, HTTP 500s and dropped connections
	// into every request before it is handled, and breaks PSRP sessions
	// mid-run (Spec.Break: the plug-in host dies, the Receive in flight
	// gets the aborted-operation fault and the shell is gone).
	Faults *faults.Injector
	// MaxEnvelopeSize is the envelope size limit when a request does not
	// carry w:MaxEnvelopeSize; 0 means 153600.
	MaxEnvelopeSize int
	// MaxShellsPerUser limits concurrent shells per user as Windows'
	// MaxShellsPerUser does; 0 means 30.
	MaxShellsPerUser int
	// IdleTimeout reaps shells unused for this long (their commands are
	// terminated); 0 means 15 minutes.
	IdleTimeout time.Duration
	// PSRP configures /PowerShell/ (Server.PowerShell): PowerShell
	// remoting shells of one session configuration.
	PSRP PSRPOptions
	// MaxOperationTimeout caps a request's w:OperationTimeout; 0 means
	// 60 seconds. A Receive without output answers the TimedOut fault
	// when 90% of the (capped) OperationTimeout has passed, at most 5 s
	// early, so that the fault beats a client HTTP timeout set to the
	// same value.
	MaxOperationTimeout time.Duration
}
