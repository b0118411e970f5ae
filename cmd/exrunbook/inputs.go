package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// inputs are a validated config and a runbook bound to its steps.
type inputs struct {
	cfg  *config.Config
	def  *runbooks.Def
	rb   engine.Runbook
	deps *steps.Deps
}

// loadInputs loads the config and the runbook and binds the runbook's
// steps. Problems in both are reported together; nothing has touched the
// state directory yet.
func (g *GlobalOptions) loadInputs(deps *steps.Deps) (*inputs, error) {
	cfg, cerr := g.loadConfig()
	def, rerr := g.loadRunbook()
	if cerr != nil || rerr != nil {
		return nil, errors.Join(cerr, rerr)
	}
	deps.Config = cfg
	deps.StateDir = g.StateDir
	rb, err := runbooks.Bind(def, steps.Default(), deps)
	if err != nil {
		return nil, err
	}
	return &inputs{cfg: cfg, def: def, rb: rb, deps: deps}, nil
}

// open opens the engine over the state directory. Writable engines take
// the lock and create the directory, and journal the reopens of the
// Exchange session; read-only ones do neither.
func (g *GlobalOptions) open(ctx context.Context, in *inputs, sink engine.Sink, op string, readOnly bool) (*engine.Engine, error) {
	if !readOnly && in.deps != nil {
		journalSessionReopens(in.deps, g.StateDir)
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
