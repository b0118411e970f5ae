package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// SkipOptions are `exrunbook skip`'s options.
type SkipOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	ID     string
	Reason string
}

func newSkipCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &SkipOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "skip ID --reason TEXT",
		Short: "Mark a pending step skipped (journaled with the reason)",
		Long: `Mark a pending, failed or rolled-back step skipped, with a reason that is
written to the journal. run passes over skipped steps; rollback ID makes the
step pending again.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			return runE(func(ctx context.Context) error { return runSkip(ctx, o) })(cmd, args)
		},
	}
	cmd.Flags().StringVar(&o.Reason, "reason", "", "why the step is skipped (required; journaled)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func runSkip(ctx context.Context, o *SkipOptions) (err error) {
	in, err := o.G.loadInputs(inputOptions{})
	if err != nil {
		return err
	}
	defer in.close(ctx)
	if err := checkStepIDs(in.rb, o.ID); err != nil {
		return err
	}
	if strings.TrimSpace(o.Reason) == "" {
		return errkind.Usagef("skip needs a reason: --reason TEXT")
	}
	e, err := o.G.open(ctx, in, nil, "skip", false)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	if err := e.Skip(o.ID, o.Reason); err != nil {
		return err
	}
	if o.G.JSON() {
		return writeJSON(o.IO, e.Status())
	}
	fmt.Fprintf(o.IO.Out, "step %s skipped: %s\n", o.ID, o.Reason)
	return nil
}
