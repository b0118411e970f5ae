package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
)

// RollbackOptions are `exrunbook rollback`'s options.
type RollbackOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	ID    string
	All   bool
	Yes   bool
	Force bool
}

func newRollbackCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &RollbackOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "rollback ID | --all [--yes] [--force]",
		Short: "Restore a step's snapshot (or every done step's, in reverse order)",
		Long: `Restore exactly what a step captured before its first change; the step
becomes rolled_back and can be run again. Rolling back a step while a later
step is done is refused, because it would leave the organisation
inconsistent; --force overrides that. --all rolls back every applied step in
reverse order.

A rollback changes the organisation, so it needs approval: --yes, or an
answer on a terminal. Without either it exits 4.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case o.All && len(args) > 0:
				return errkind.Usagef("give a step ID or --all, not both")
			case !o.All && len(args) != 1:
				return errkind.Usagef("rollback needs exactly one step ID, or --all")
			case len(args) == 1:
				o.ID = args[0]
			}
			return runE(func(ctx context.Context) error { return runRollback(ctx, o) })(cmd, args)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.All, "all", false, "roll back every applied step, in reverse order")
	f.BoolVar(&o.Yes, "yes", false, "do not ask for confirmation")
	f.BoolVar(&o.Force, "force", false, "roll back although a later step is done")
	return cmd
}

// rollbackJSON is `rollback --output json`.
type rollbackJSON struct {
	RolledBack []string      `json:"rolled_back"`
	Status     engine.Report `json:"status"`
}

func runRollback(ctx context.Context, o *RollbackOptions) (err error) {
	in, err := o.G.loadInputs(inputOptions{})
	if err != nil {
		return err
	}
	defer in.close(ctx)
	if err := checkStepIDs(in.rb, o.ID); err != nil {
		return err
	}
	e, err := o.G.open(ctx, in, o.G.textSink(o.IO), "rollback", false)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	before := e.Status()
	target := o.ID
	if o.All {
		var ids []string
		for i := len(before.Steps) - 1; i >= 0; i-- {
			if s := before.Steps[i]; s.Status != engine.StatusPending && s.Status != engine.StatusRolledBack && s.Status != engine.StatusSkipped {
				ids = append(ids, s.ID)
			}
		}
		if len(ids) == 0 {
			target = ""
		} else {
			target = "every applied step (" + strings.Join(ids, ", ") + ")"
		}
	}
	if target != "" && !o.Yes {
		if !o.IO.CanPrompt() {
			return &exitError{Code: exitApprovalNeeded, Err: fmt.Errorf("rolling back %s needs approval: rerun with --yes, or on a terminal to answer the question", target)}
		}
		ok, err := confirm(ctx, o.IO, newLineReader(o.IO.In), "Roll back "+target)
		if err != nil {
			return err
		}
		if !ok {
			return &exitError{Code: exitApprovalNeeded, Err: fmt.Errorf("rolling back %s was not approved; nothing was changed", target)}
		}
	}
	if o.All {
		err = e.RollbackAll(ctx)
	} else {
		err = e.Rollback(ctx, o.ID, o.Force)
	}
	after := e.Status()
	out := rollbackJSON{RolledBack: []string{}, Status: after}
	for i, s := range after.Steps {
		if i < len(before.Steps) && s.Status != before.Steps[i].Status &&
			(s.Status == engine.StatusRolledBack || s.Status == engine.StatusPending) {
			out.RolledBack = append(out.RolledBack, s.ID)
		}
	}
	if o.G.JSON() {
		if werr := writeJSON(o.IO, out); werr != nil && err == nil {
			err = werr
		}
	} else if len(out.RolledBack) > 0 {
		fmt.Fprintf(o.IO.Out, "rolled back: %s\n", strings.Join(out.RolledBack, ", "))
	} else if err == nil {
		fmt.Fprintln(o.IO.Out, "nothing to roll back")
	}
	return err
}
