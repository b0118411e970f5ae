package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// StatusOptions are `exrunbook status`'s options.
type StatusOptions struct {
	IO *IOStreams
	G  *GlobalOptions
}

func newStatusCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &StatusOptions{IO: io, G: g}
	return &cobra.Command{
		Use:   "status [--output json]",
		Short: "Show every step's status from the state directory",
		Long: `Show every step of the runbook with its status, times, attempts and last
error, read from the state directory. status needs no config and no
connection; it takes no lock and creates nothing.

--output json prints:
  {"runbook": NAME, "complete": BOOL, "waiting_until": RFC3339 | null,
   "steps": [{"id", "status", "started_at", "finished_at", "attempts", "error"}]}`,
		Args: usageArgs(cobra.NoArgs),
		RunE: runE(func(ctx context.Context) error { return runStatus(ctx, o) }),
	}
}

// errStateOnly is what an unbound step answers: status binds no step
// implementations, and the engine's Status never calls them.
var errStateOnly = errors.New("status reads the state only; this step is not bound to an implementation")

// stateOnlyStep stands in for a step's implementation in the read-only
// engine that status opens. Every method refuses.
type stateOnlyStep struct{}

func (stateOnlyStep) Capture(context.Context, engine.Env) (engine.Snapshot, error) {
	return nil, errStateOnly
}
func (stateOnlyStep) Plan(context.Context, engine.Env, engine.Snapshot) (engine.Plan, error) {
	return engine.Plan{}, errStateOnly
}
func (stateOnlyStep) PreChecks(engine.Env, engine.Snapshot) []engine.Check { return nil }
func (stateOnlyStep) Apply(context.Context, engine.Env, engine.Snapshot) (engine.Outcome, error) {
	return engine.Outcome{}, errStateOnly
}
func (stateOnlyStep) PostChecks(engine.Env, engine.Snapshot) []engine.Check { return nil }
func (stateOnlyStep) Rollback(context.Context, engine.Env, engine.Snapshot) error {
	return errStateOnly
}

func runStatus(ctx context.Context, o *StatusOptions) (err error) {
	def, err := o.G.loadRunbook()
	if err != nil {
		return err
	}
	rb := engine.Runbook{Name: def.Name, Description: def.Description}
	for _, s := range def.Steps {
		rb.Steps = append(rb.Steps, engine.StepDef{ID: s.ID, Kind: s.Kind, Title: s.Title, Approval: s.Approval, Step: stateOnlyStep{}})
	}
	e, err := engine.Open(ctx, engine.Options{StateDir: o.G.StateDir, Runbook: rb, RunbookHash: def.Hash, ReadOnly: true, Operation: "status"})
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	r := e.Status()
	if o.G.JSON() {
		return writeJSON(o.IO, r)
	}
	printStatus(o.IO, r)
	return nil
}

func printStatus(io *IOStreams, r engine.Report) {
	state := "in progress"
	switch {
	case r.Complete:
		state = "complete"
	case r.WaitingUntil != nil:
		state = fmt.Sprintf("waiting until %s (in %s)", r.WaitingUntil.Format(time.RFC3339), time.Until(*r.WaitingUntil).Round(time.Second))
	}
	fmt.Fprintf(io.Out, "runbook %s: %s\n", r.Runbook, state)
	tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tSTARTED\tFINISHED\tATTEMPTS\tERROR")
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	for _, s := range r.Steps {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Status, ts(s.StartedAt), ts(s.FinishedAt), s.Attempts, s.Error)
	}
	tw.Flush()
}
