package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/runbooks"
)

// DemoOptions are `exrunbook demo`'s options.
type DemoOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	Dir              string
	StateDirSet      bool // --state-dir was given: keep the state there
	AutodiscoverWait time.Duration
	Mailboxes        int
	Allow            int
}

func newDemoCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &DemoOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--autodiscover-wait 20s]",
		Short: "Start an embedded lab organisation and walk the runbook on it in the guided view",
		Long: `demo starts a simulated Exchange organisation (two servers in a DAG,
mailboxes with hostile names, an allow group with nested groups, internal
and public DNS) on 127.0.0.1, writes its configuration, and opens the
guided view on it. Every step can be applied, checked, rolled back and
applied again, exactly as against a real organisation.

The lab lives in --dir (default: a new temporary directory, printed at the
start and at the end); running demo again with the same --dir continues
where it stopped, state included. Without a terminal, demo runs the whole
runbook unattended and prints the events as lines.`,
		Args: usageArgs(cobra.NoArgs),
	}
	cmd.RunE = func(c *cobra.Command, args []string) error {
		o.StateDirSet = c.Flags().Changed("state-dir")
		return runE(func(ctx context.Context) error { return runDemo(ctx, o) })(c, args)
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "directory for the lab and the state (default: a new temporary directory)")
	f.DurationVar(&o.AutodiscoverWait, "autodiscover-wait", 20*time.Second, "autodiscover.min_wait for the demo (2h against real Exchange)")
	f.IntVar(&o.Mailboxes, "mailboxes", 200, "mailboxes in a new lab")
	f.IntVar(&o.Allow, "allow", 5, "direct members of the allow group in a new lab")
	return cmd
}

func runDemo(ctx context.Context, o *DemoOptions) (err error) {
	if o.AutodiscoverWait <= 0 {
		// autodiscover.min_wait 0 means "unset": the production 2h.
		return errkind.Usagef("--autodiscover-wait %s: expected a duration above 0, such as 20s", o.AutodiscoverWait)
	}
	if o.Mailboxes < 1 || o.Allow < 1 || o.Allow > o.Mailboxes {
		return errkind.Usagef("--mailboxes %d --allow %d: expected at least one mailbox and 1 ≤ allow ≤ mailboxes", o.Mailboxes, o.Allow)
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "exrunbook-demo-"); err != nil {
			return err
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	labDir := filepath.Join(dir, "lab")
	fmt.Fprintf(o.IO.ErrOut, "exrunbook demo: starting the lab in %s …\n", labDir)
	l, err := lab.Start(ctx, lab.Options{Dir: labDir, Mailboxes: o.Mailboxes, Allow: o.Allow})
	if err != nil {
		return fmt.Errorf("starting the lab: %w", err)
	}
	defer func() {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = cerr
		}
		fmt.Fprintf(o.IO.ErrOut, "exrunbook demo: the lab and the state are kept in %s; `exrunbook demo --dir %s` continues\n", dir, shellQuote(dir))
	}()

	g := *o.G
	g.ConfigFile = filepath.Join(labDir, lab.FileConfig)
	if !o.StateDirSet {
		g.StateDir = filepath.Join(dir, "state")
	}
	cfg, err := config.Load(config.LoadOptions{File: g.ConfigFile, Set: map[string]string{"autodiscover.min_wait": o.AutodiscoverWait.String()}})
	if err != nil {
		return err
	}
	def, err := runbooks.Builtin(runbooks.DefaultName)
	if err != nil {
		return err
	}
	ro := &RunOptions{IO: o.IO, G: &g}
	in, err := g.bindGuided(ctx, o.IO, cfg, def, inputOptions{}, ro.useGuided())
	if err != nil {
		return err
	}
	defer in.close(ctx)
	resume := "exrunbook demo --dir " + shellQuote(dir)
	if ro.useGuided() {
		return runGuided(ctx, ro, in, def.Name, resume)
	}
	fmt.Fprintf(o.IO.ErrOut, "exrunbook demo: no terminal: running the whole runbook unattended\n")
	e, err := g.open(ctx, in, g.sink(o.IO), "run", false)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	if err := e.Run(ctx, engine.RunOptions{Yes: true, Unattended: true, Wait: true}); err != nil {
		return err
	}
	st := l.Stats()
	fmt.Fprintf(o.IO.Out, "runbook %s complete: %d PowerShell session(s), %d pipelines, %d WS-Management requests, %d mailbox writes, %.0f simulated Exchange seconds\n",
		def.Name, st.PSRPPools, st.Pipelines, st.WinRMRequests, st.MailboxWrites, st.SimulatedSeconds)
	return nil
}
