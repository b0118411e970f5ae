package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
)

// RunOptions are `exrunbook run`'s options.
type RunOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	Unattended      bool
	Yes             bool
	Wait            bool
	Until           string
	Only            string
	AllowEmptyGroup bool
}

func newRunCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &RunOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "run [--unattended] [--yes] [--until ID] [--only ID] [--wait]",
		Short: "Run the runbook's steps in order, resuming where the last run stopped",
		Long: `Run the runbook's pending steps in order. Each step captures what it will
change, shows its plan, runs its pre-checks, asks for approval, applies and
verifies. A run that stopped (failure, checkpoint, Ctrl-C, crash) resumes
from the state directory.

Steps that change the organisation need approval: interactively on a
terminal (y/N), or --yes. With --unattended nothing is ever asked: without
--yes the run stops with exit code 4 at the first step needing approval.
At a checkpoint (autodiscover-wait) an unattended run exits 75 and prints
when to come back; --wait sleeps instead.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: runE(func(ctx context.Context) error { return runRun(ctx, o) }),
	}
	f := cmd.Flags()
	f.BoolVar(&o.Unattended, "unattended", false, "never ask; stop at steps needing approval unless --yes")
	f.BoolVar(&o.Yes, "yes", false, "approve every step")
	f.BoolVar(&o.Wait, "wait", false, "sleep through checkpoints instead of exiting 75")
	f.StringVar(&o.Until, "until", "", "stop after this step id")
	f.StringVar(&o.Only, "only", "", "run only this step id (earlier steps must be done or skipped)")
	f.BoolVar(&o.AllowEmptyGroup, "allow-empty-group", false, "let block-mailboxes run with an empty or missing allow group")
	return cmd
}

func runRun(ctx context.Context, o *RunOptions) (err error) {
	if o.Until != "" && o.Only != "" {
		return errkind.Usagef("--until and --only cannot be used together")
	}
	cfg, def, err := o.G.loadSources()
	if err != nil {
		return err
	}
	guided := o.useGuided() && o.Until == "" && o.Only == ""
	in, err := o.G.bindGuided(ctx, o.IO, cfg, def, inputOptions{AllowEmptyGroup: o.AllowEmptyGroup}, guided)
	if err != nil {
		return err
	}
	defer in.close(ctx)
	if err := checkStepIDs(in.rb, o.Until, o.Only); err != nil {
		return err
	}
	if guided {
		return runGuided(ctx, o, in, in.def.Name, o.G.resumeCommand("exrunbook run"))
	}
	e, err := o.G.open(ctx, in, o.G.sink(o.IO), "run", false)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	ro := engine.RunOptions{Yes: o.Yes, Unattended: o.Unattended, Wait: o.Wait, Until: o.Until, Only: o.Only}
	if !o.Unattended && !o.Yes && o.IO.CanPrompt() {
		ro.Approver = promptApprover(o.IO)
	}
	if err := e.Run(ctx, ro); err != nil {
		return err
	}
	if !o.G.JSON() {
		r := e.Status()
		if r.Complete {
			fmt.Fprintf(o.IO.Out, "runbook %s complete\n", r.Runbook)
		} else {
			fmt.Fprintf(o.IO.Out, "runbook %s: stopped as asked; `exrunbook status` shows what is left\n", r.Runbook)
		}
	}
	return nil
}

// promptApprover asks the operator on the terminal, one line per step:
// the plain-mode approver (the engine has already printed the plan).
func promptApprover(s *IOStreams) engine.Approver {
	lines := newLineReader(s.In)
	return func(ctx context.Context, d engine.StepDef, p engine.Plan) (bool, error) {
		q := fmt.Sprintf("Apply step %s (%s): %d change(s)", d.ID, d.Title, p.Pending())
		if p.Pending() == 0 {
			q = fmt.Sprintf("Step %s (%s) has nothing to change; mark it done after its checks", d.ID, d.Title)
		}
		return confirm(ctx, s, lines, q)
	}
}

// confirm asks a y/N question on ErrOut and reads the answer from In.
func confirm(ctx context.Context, s *IOStreams, lines *lineReader, question string) (bool, error) {
	fmt.Fprintf(s.ErrOut, "%s? [y/N] ", question)
	line, err := lines.next(ctx)
	if err != nil {
		fmt.Fprintln(s.ErrOut)
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// lineReader reads lines from a stream without blocking past a
// cancelled context (Ctrl-C while a question is open).
type lineReader struct {
	ch  chan lineResult
	req chan struct{}
	eof bool
}

type lineResult struct {
	line string
	err  error
}

func newLineReader(r io.Reader) *lineReader {
	lr := &lineReader{ch: make(chan lineResult, 1), req: make(chan struct{})}
	br := bufio.NewReader(r)
	go func() {
		for range lr.req {
			line, err := br.ReadString('\n')
			if err != nil && line != "" {
				err = nil
			}
			lr.ch <- lineResult{line, err}
			if err != nil {
				close(lr.ch)
				return
			}
		}
	}()
	return lr
}

func (lr *lineReader) next(ctx context.Context) (string, error) {
	if lr.eof {
		return "", io.EOF
	}
	select {
	case lr.req <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case res, ok := <-lr.ch:
		if !ok {
			lr.eof = true
			return "", io.EOF
		}
		if res.err != nil {
			lr.eof = true
		}
		return res.line, res.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
