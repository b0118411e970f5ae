// Command exrunbook is the migration runbook orchestrator for on-premises
// Microsoft Exchange. This file only wires the process to the command
// tree: signals, standard streams and the exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal the run winds down and saves its state;
		// a second one gets the default behaviour and ends the process.
		<-ctx.Done()
		stop()
	}()
	code := Execute(ctx, os.Args[1:], SystemIO())
	stop()
	os.Exit(code)
}
