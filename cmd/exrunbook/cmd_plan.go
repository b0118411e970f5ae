package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// PlanOptions are `exrunbook plan`'s options.
type PlanOptions struct {
	IO *IOStreams
	G  *GlobalOptions
}

func newPlanCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &PlanOptions{IO: io, G: g}
	return &cobra.Command{
		Use:   "plan",
		Short: "Show the plan and pre-checks of every pending step (read-only)",
		Long: `Show, for every step that is not done or skipped, what it would change
(current → desired, "no change" when already there) and the result of its
pre-checks. plan only reads: it takes no lock and writes no state.
It exits 1 when a plan could not be made, or when a pre-check of the next
step fails (that step would stop there). Failing pre-checks of later steps
are shown: they often pass once the steps before them have run.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: runE(func(ctx context.Context) error { return runPlan(ctx, o) }),
	}
}

// planJSON is `plan --output json`.
type planJSON struct {
	Runbook string `json:"runbook"`
	// Ready: every plan could be made and the next step's pre-checks pass.
	Ready bool           `json:"ready"`
	Steps []planStepJSON `json:"steps"`
}

type planStepJSON struct {
	ID        string               `json:"id"`
	Title     string               `json:"title"`
	Status    engine.Status        `json:"status"`
	Plan      engine.Plan          `json:"plan"`
	PreChecks []engine.CheckResult `json:"pre_checks"`
	Error     string               `json:"error"`
}

func runPlan(ctx context.Context, o *PlanOptions) (err error) {
	in, err := o.G.loadInputs(inputOptions{})
	if err != nil {
		return err
	}
	defer in.close(ctx)
	e, err := o.G.open(ctx, in, o.G.textSink(o.IO), "plan", true)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	plans, err := e.PlanSteps(ctx)
	if err != nil {
		return err
	}
	out := planJSON{Runbook: in.rb.Name, Steps: []planStepJSON{}, Ready: true}
	changes := 0
	var planErrs, blocking, later []string
	// toFix is the first plan error that is a configuration to fix.
	var toFix error
	for i, p := range plans {
		s := planStepJSON{ID: p.ID, Title: p.Title, Status: p.Status, Plan: p.Plan, PreChecks: p.PreChecks}
		if s.PreChecks == nil {
			s.PreChecks = []engine.CheckResult{}
		}
		if s.Plan.Changes == nil {
			s.Plan.Changes = []engine.Change{}
		}
		if p.Err != nil {
			s.Error = p.Err.Error()
			planErrs = append(planErrs, p.ID)
			if toFix == nil && exitCodeOf(p.Err) == exitUsage {
				toFix = p.Err
			}
		}
		for _, c := range p.PreChecks {
			if c.Status != engine.CheckFail {
				continue
			}
			if i == 0 {
				blocking = append(blocking, c.Name)
			} else if !slices.Contains(later, p.ID) {
				later = append(later, p.ID)
			}
		}
		changes += p.Plan.Pending()
		out.Steps = append(out.Steps, s)
	}
	out.Ready = len(planErrs) == 0 && len(blocking) == 0
	if o.G.JSON() {
		if err := writeJSON(o.IO, out); err != nil {
			return err
		}
	} else {
		for _, s := range out.Steps {
			if s.Error != "" {
				fmt.Fprintf(o.IO.Out, "%s: %s\n", s.ID, s.Error)
			}
		}
		fmt.Fprintf(o.IO.Out, "plan: %d pending step(s), %d change(s)\n", len(out.Steps), changes)
		if len(later) > 0 {
			fmt.Fprintf(o.IO.Out, "pre-checks failing in later steps (they may pass once the steps before them have run): %s\n", strings.Join(later, ", "))
		}
	}
	switch {
	case toFix != nil:
		// A configuration to fix (e.g. a Kerberos sign-in: run kinit)
		// exits as one, with its words.
		return fmt.Errorf("no plan could be made for %s: %w", strings.Join(planErrs, ", "), toFix)
	case len(planErrs) > 0:
		return &exitError{Code: exitFailed, Err: fmt.Errorf("no plan could be made for %s", strings.Join(planErrs, ", "))}
	case len(blocking) > 0:
		return &exitError{Code: exitFailed, Err: fmt.Errorf("the next step, %s, would stop at its failing pre-check(s): %s", out.Steps[0].ID, strings.Join(blocking, ", "))}
	}
	return nil
}
