package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/eventprint"
	"github.com/exrunbook/exrunbook/runbooks"
	"github.com/exrunbook/exrunbook/steps"
)

// loadConfig reads and validates the configuration. It touches neither
// the network nor the state directory.
func (g *GlobalOptions) loadConfig() (*config.Config, error) {
	return g.loadConfigWith(nil)
}

// loadConfigWith is loadConfig with config keys set by a command's flags
// (dotted key → value, e.g. "mailboxes.max_changes": "10"); they take
// precedence over the environment and the file.
func (g *GlobalOptions) loadConfigWith(set map[string]string) (*config.Config, error) {
	return config.Load(config.LoadOptions{File: g.ConfigFile, Set: set})
}

// loadRunbook parses --runbook FILE, or the built-in split-namespace.
func (g *GlobalOptions) loadRunbook() (*runbooks.Def, error) {
	if g.RunbookFile != "" {
		return runbooks.LoadFile(g.RunbookFile)
	}
	return runbooks.Builtin(runbooks.DefaultName)
}

// clients builds the command's one clients factory over cfg; p answers
// for the secrets that neither the environment nor a file gives (nil: none
// is asked for); onReopen, when set, is told of every reopen of the
// Exchange session after a broken one. The caller closes the factory,
// which ends the Exchange session.
func (g *GlobalOptions) clients(cfg *config.Config, p config.Prompter, onReopen func(cause error)) *clients.Factory {
	return clients.New(cfg, clients.Options{Prompter: p, OnSessionReopen: onReopen})
}

// inputs are a validated config, the clients built from it and a runbook
// bound to its steps.
type inputs struct {
	cfg     *config.Config
	clients *clients.Factory
	def     *runbooks.Def
	rb      engine.Runbook
	// writable is set when a writable engine opens over the state
	// directory; only then are reopens of the Exchange session journaled.
	writable atomic.Bool
}

// close ends the Exchange session of the inputs' clients, if one was
// opened; Exchange counts an open one against the user's
// PowerShellMaxConcurrency until its idle timeout.
func (in *inputs) close(ctx context.Context) {
	_ = in.clients.Close(context.WithoutCancel(ctx))
}

// inputOptions are what binding the steps takes besides the config and
// the runbook.
type inputOptions struct {
	// AllowEmptyGroup is `run --allow-empty-group`.
	AllowEmptyGroup bool
	// Prompter answers for the secrets neither the environment nor a file
	// gives (the guided view's masked input); nil: none is asked for.
	Prompter config.Prompter
}

// loadInputs loads the config and the runbook, builds the clients and the
// steps' Deps over them, and binds the runbook's steps. Problems in config
// and runbook are reported together; nothing has touched the state
// directory or the network yet. The caller closes the inputs.
func (g *GlobalOptions) loadInputs(o inputOptions) (*inputs, error) {
	cfg, def, err := g.loadSources()
	if err != nil {
		return nil, err
	}
	return g.bind(cfg, def, o)
}

// loadSources loads the config and the runbook, reporting the problems in
// both together.
func (g *GlobalOptions) loadSources() (*config.Config, *runbooks.Def, error) {
	cfg, cerr := g.loadConfig()
	def, rerr := g.loadRunbook()
	if cerr != nil || rerr != nil {
		return nil, nil, errors.Join(cerr, rerr)
	}
	return cfg, def, nil
}

// bind builds the clients over cfg and the steps' Deps, whole, and binds
// def's steps to them.
func (g *GlobalOptions) bind(cfg *config.Config, def *runbooks.Def, o inputOptions) (*inputs, error) {
	in := &inputs{cfg: cfg, def: def}
	in.clients = g.clients(cfg, o.Prompter, journalSessionReopens(g.StateDir, &in.writable))
	deps := steps.NewDeps(in.clients, steps.DepsOptions{StateDir: g.StateDir, AllowEmptyGroup: o.AllowEmptyGroup})
	rb, err := runbooks.Bind(def, steps.Default(), deps)
	if err != nil {
		return nil, err
	}
	in.rb = rb
	return in, nil
}

// open opens the engine over the state directory. Writable engines take
// the lock and create the directory, and journal the reopens of the
// Exchange session; read-only ones do neither.
func (g *GlobalOptions) open(ctx context.Context, in *inputs, sink engine.Sink, op string, readOnly bool) (*engine.Engine, error) {
	if !readOnly {
		in.writable.Store(true)
	}
	return engine.Open(ctx, engine.Options{
		StateDir:      g.StateDir,
		Runbook:       in.rb,
		RunbookHash:   in.def.Hash,
		ConfigHash:    in.cfg.Hash(),
		AcceptChanged: g.AcceptChanged,
		Sink:          sink,
		Operation:     op,
		ReadOnly:      readOnly,
	})
}

// sink returns the event view for the chosen output: JSON lines, or
// plain lines (coloured on a terminal), filtered by --log-level.
func (g *GlobalOptions) sink(io *IOStreams) engine.Sink {
	var s engine.Sink
	if g.JSON() {
		s = eventprint.NewJSONLines(io.Out)
	} else {
		s = eventprint.NewPlain(io.Out, io.ColorEnabled)
	}
	return levelFilter{next: s, min: levelRank(g.LogLevel)}
}

// textSink is sink in text mode; with --output json, nil: the command
// prints its own JSON document at the end instead of events.
func (g *GlobalOptions) textSink(io *IOStreams) engine.Sink {
	if g.JSON() {
		return nil
	}
	return g.sink(io)
}

// levelFilter drops log events below the --log-level.
type levelFilter struct {
	next engine.Sink
	min  int
}

func (f levelFilter) Emit(ev engine.Event) {
	if ev.Kind == engine.EventLog && levelRank(ev.Level) < f.min {
		return
	}
	f.next.Emit(ev)
}

func levelRank(l string) int {
	switch l {
	case "debug":
		return 0
	case "warn":
		return 2
	case "error":
		return 3
	default: // "info" and unlabelled lines
		return 1
	}
}

// writeJSON prints v as indented JSON on Out.
func writeJSON(io *IOStreams, v any) error {
	enc := json.NewEncoder(io.Out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// closeEngine closes e, keeping the first error.
func closeEngine(e *engine.Engine, err *error) {
	if cerr := e.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// checkStepIDs refuses unknown step ids before anything touches the state
// directory (a usage error, exit 2).
func checkStepIDs(rb engine.Runbook, ids ...string) error {
	known := make([]string, len(rb.Steps))
	for i, s := range rb.Steps {
		known[i] = s.ID
	}
	for _, id := range ids {
		if id == "" {
			continue
		}
		if !slices.Contains(known, id) {
			return errkind.Usagef("unknown step %q; the runbook %s has: %s", id, rb.Name, strings.Join(known, ", "))
		}
	}
	return nil
}
