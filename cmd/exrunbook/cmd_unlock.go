package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/state"
)

// UnlockOptions are `exrunbook unlock`'s options.
type UnlockOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	Force bool
}

func newUnlockCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &UnlockOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "unlock [--force]",
		Short: "Remove a stale lock (--force: any lock, saying what it removed)",
		Long: `Remove the state directory's lock when it is stale: its process is dead on
this host, or it has not been refreshed for 10 minutes. A live lock is left
alone (exit 3) unless --force, which removes any lock and says whose it was.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: runE(func(ctx context.Context) error { return runUnlock(ctx, o) }),
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "remove the lock even if its holder is alive")
	return cmd
}

// unlockJSON is `unlock --output json`.
type unlockJSON struct {
	Removed *state.LockInfo `json:"removed"`
}

func runUnlock(_ context.Context, o *UnlockOptions) error {
	info, err := state.Unlock(o.G.StateDir, o.Force)
	if err != nil {
		return err
	}
	if o.G.JSON() {
		return writeJSON(o.IO, unlockJSON{Removed: info})
	}
	switch {
	case info == nil:
		fmt.Fprintf(o.IO.Out, "no lock in %s\n", o.G.StateDir)
	case info.PID == 0:
		fmt.Fprintf(o.IO.Out, "removed an unreadable lock from %s\n", o.G.StateDir)
	default:
		fmt.Fprintf(o.IO.Out, "removed the lock of %s (operation %q, started %s, last refreshed %s)\n",
			info.Holder(), info.Operation, info.StartedAt.UTC().Format(time.RFC3339), info.RefreshedAt.UTC().Format(time.RFC3339))
	}
	return nil
}
