package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// CheckOptions are `exrunbook check`'s options.
type CheckOptions struct {
	IO  *IOStreams
	G   *GlobalOptions
	IDs []string
}

func newCheckCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &CheckOptions{IO: io, G: g}
	return &cobra.Command{
		Use:   "check [ID...]",
		Short: "Run post-checks now (drift detection); exit 1 on any failure",
		Long: `Run the post-checks of the named steps, or of every done step, against
the organisation as it is now: drift detection. check only reads; it takes
no lock. It exits 1 when any check fails.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.IDs = args
			return runE(func(ctx context.Context) error { return runCheck(ctx, o) })(cmd, args)
		},
	}
}

// checkJSON is `check --output json`.
type checkJSON struct {
	Runbook string          `json:"runbook"`
	Failed  bool            `json:"failed"`
	Steps   []checkStepJSON `json:"steps"`
}

type checkStepJSON struct {
	ID      string               `json:"id"`
	Failed  bool                 `json:"failed"`
	Results []engine.CheckResult `json:"results"`
}

func runCheck(ctx context.Context, o *CheckOptions) (err error) {
	in, err := o.G.loadInputs(inputOptions{})
	if err != nil {
		return err
	}
	defer in.close(ctx)
	if err := checkStepIDs(in.rb, o.IDs...); err != nil {
		return err
	}
	e, err := o.G.open(ctx, in, o.G.textSink(o.IO), "check", true)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	res, err := e.Checks(ctx, o.IDs)
	if err != nil {
		return err
	}
	out := checkJSON{Runbook: in.rb.Name, Steps: []checkStepJSON{}}
	nFail, nChecks := 0, 0
	for _, r := range res {
		s := checkStepJSON{ID: r.ID, Failed: r.Failed(), Results: r.Results}
		if s.Results == nil {
			s.Results = []engine.CheckResult{}
		}
		for _, c := range r.Results {
			nChecks++
			if c.Status == engine.CheckFail {
				nFail++
			}
		}
		out.Failed = out.Failed || s.Failed
		out.Steps = append(out.Steps, s)
	}
	if o.G.JSON() {
		if err := writeJSON(o.IO, out); err != nil {
			return err
		}
	} else if len(res) == 0 {
		fmt.Fprintln(o.IO.Out, "check: no done step to check (name steps to check them anyway)")
	} else {
		fmt.Fprintf(o.IO.Out, "check: %d check(s) in %d step(s), %d failed\n", nChecks, len(res), nFail)
	}
	if nFail > 0 {
		return &exitError{Code: exitFailed, Err: fmt.Errorf("%d check(s) failed", nFail)}
	}
	return nil
}
