package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"
)

// GlobalOptions are the flags every command takes.
type GlobalOptions struct {
	ConfigFile    string
	StateDir      string
	Output        string
	LogLevel      string
	RunbookFile   string
	AcceptChanged bool
}

// JSON reports whether --output json was given.
func (g *GlobalOptions) JSON() bool { return g.Output == "json" }

var logLevels = []string{"debug", "info", "warn", "error"}

func (g *GlobalOptions) validate() error {
	if g.Output != "text" && g.Output != "json" {
		return errkind.Usagef("--output %q: expected text or json", g.Output)
	}
	ok := false
	for _, l := range logLevels {
		ok = ok || g.LogLevel == l
	}
	if !ok {
		return errkind.Usagef("--log-level %q: expected one of %s", g.LogLevel, strings.Join(logLevels, ", "))
	}
	if g.StateDir == "" {
		return errkind.Usagef("--state-dir must not be empty")
	}
	return nil
}

// commandError marks an error returned by a command's run function, as
// opposed to one cobra returned while parsing the command line (which is
// a usage error, exit 2).
type commandError struct{ err error }

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// runE adapts a command's run function to cobra.
func runE(f func(ctx context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := f(cmd.Context()); err != nil {
			return &commandError{err}
		}
		return nil
	}
}

// usageArgs wraps a cobra argument validator so its error is a usage error.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &errkind.UsageError{Err: err}
		}
		return nil
	}
}

// NewRootCmd builds the command tree over the given streams.
func NewRootCmd(io *IOStreams) *cobra.Command {
	g := &GlobalOptions{}
	root := &cobra.Command{
		Use:   "exrunbook",
		Short: "Migration runbook orchestrator for on-premises Microsoft Exchange",
		Long: `exrunbook walks an Exchange organisation through a runbook of reversible
steps. Its first runbook, split-namespace, splits the internal and external
Outlook namespaces and blocks external MAPI/HTTP and RPC/HTTP for every
mailbox outside an allow group.

Exit codes: 0 done, 1 a step or check failed, 2 usage or config error,
3 locked by another run, 4 approval needed, 5 refused by a safety limit,
75 waiting at a checkpoint (run again after the time printed), 130 interrupted.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return g.validate() },
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &errkind.UsageError{Err: err}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.ConfigFile, "config", "", "config file (default ./exrunbook.yaml)")
	pf.StringVar(&g.StateDir, "state-dir", ".exrunbook", "state directory: state.json, journal.jsonl, lock")
	pf.StringVar(&g.Output, "output", "text", "output format: text or json")
	pf.StringVar(&g.LogLevel, "log-level", "info", "least level of log lines shown: debug, info, warn or error")
	pf.StringVar(&g.RunbookFile, "runbook", "", "runbook file (default: the built-in split-namespace)")
	pf.BoolVar(&g.AcceptChanged, "accept-changed-config", false, "resume although the config or runbook changed since the run began")

	root.AddCommand(
		newRunCmd(io, g),
		newPlanCmd(io, g),
		newCheckCmd(io, g),
		newStatusCmd(io, g),
		newRollbackCmd(io, g),
		newSkipCmd(io, g),
		newCertificateCmd(io, g),
		newUnlockCmd(io, g),
		newEnforceCmd(io, g),
		newVersionCmd(io, g),
		newDemoCmd(io, g),
		newInitCmd(io, g),
		newPermissionsCmd(io, g),
	)
	return root
}

// Execute runs the command line args and returns the process exit code.
// Every error is mapped to its code in one place (exitCodeOf, in
// exitcodes.go) and printed once, to ErrOut.
func Execute(ctx context.Context, args []string, io *IOStreams) int {
	root := NewRootCmd(io)
	root.SetArgs(args)
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.ErrOut)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var ce *commandError
	if errors.As(err, &ce) {
		err = ce.err
	} else if !errkind.IsUsage(err) {
		// cobra's own errors are about the command line.
		err = errkind.Usage(err)
	}
	code := exitCodeOf(err)
	printError(io, cmd, err, code)
	return code
}

func printError(io *IOStreams, cmd *cobra.Command, err error, code int) {
	msg := withFlagAdvice(err, err.Error())
	switch code {
	case exitUsage:
		if errkind.IsUsage(err) && cmd != nil {
			msg += fmt.Sprintf("\nRun '%s --help' for usage.", cmd.CommandPath())
		}
	case exitWaiting:
		var we *engine.WaitingError
		if errors.As(err, &we) {
			left := time.Until(we.Until).Round(time.Second)
			msg = fmt.Sprintf("waiting: step %s waits until %s (%s local, in %s)", we.Step,
				we.Until.UTC().Format(time.RFC3339), we.Until.Local().Format("15:04:05"), left)
			if we.Reason != "" {
				msg += ": " + we.Reason
			}
			msg += "\nrun `exrunbook run` again after that time, or with --wait to sleep until then"
		}
	case exitLocked:
		var le *state.LockedError
		if errors.As(err, &le) && !le.Stale {
			msg += "\n(if that process is gone for good, `exrunbook unlock --force` removes the lock)"
		}
	}
	fmt.Fprintf(io.ErrOut, "exrunbook: %s\n", msg)
}
