package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/runbooks"
	"github.com/exrunbook/exrunbook/tui"
)

// useGuided reports whether `run` opens the full-screen guided view: on a
// real terminal, not unattended, not --output json.
func (o *RunOptions) useGuided() bool {
	return o.IO.TUI && o.IO.CanPrompt() && !o.Unattended && !o.Yes && !o.G.JSON()
}

// renderer is the TUI's colour profile: none when NO_COLOR is set or the
// output cannot take colour.
func (s *IOStreams) renderer() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(os.Stdout)
	if !s.ColorEnabled {
		r.SetColorProfile(termenv.Ascii)
	}
	return r
}

// askSecrets asks, with masked input, for every secret the config needs
// that is neither in the environment nor in a file, before the view opens,
// and returns the Prompter that answers with them (nil when none is
// missing). The values stay in memory.
func askSecrets(ctx context.Context, s *IOStreams, cfg *config.Config) (config.Prompter, error) {
	missing := cfg.MissingSecrets()
	if len(missing) == 0 {
		return nil, nil
	}
	reqs := make([]tui.SecretRequest, len(missing))
	for i, m := range missing {
		reqs[i] = tui.SecretRequest{Name: m.Name, Hint: m.Env + " or " + m.FileKey}
	}
	m := tui.NewSecrets(reqs, s.renderer())
	if _, err := tea.NewProgram(m, tea.WithContext(ctx), tea.WithInput(s.In), tea.WithOutput(s.Out)).Run(); err != nil {
		return nil, secretPromptErr(err)
	}
	values, err := m.Values()
	if err != nil {
		return nil, &errkind.UsageError{Err: err}
	}
	return func(name string) (string, error) {
		if v, ok := values[name]; ok {
			return v, nil
		}
		return "", fmt.Errorf("no value was entered for %s", name)
	}, nil
}

// bindGuided is bind for a run that opens the guided view when guided:
// the view takes the whole screen, so the secrets that no variable or
// file gives are asked first, and the clients answer with them.
func (g *GlobalOptions) bindGuided(ctx context.Context, s *IOStreams, cfg *config.Config, def *runbooks.Def, o inputOptions, guided bool) (*inputs, error) {
	if guided {
		p, err := askSecrets(ctx, s, cfg)
		if err != nil {
			return nil, err
		}
		o.Prompter = p
	}
	return g.bind(cfg, def, o)
}

func secretPromptErr(err error) error {
	if errors.Is(err, tea.ErrProgramKilled) || errors.Is(err, context.Canceled) {
		return &engine.InterruptedError{}
	}
	return err
}

// runGuided opens the engine under the Bubble Tea view and lets the
// operator drive it (the inputs' clients answer for the secrets askSecrets
// collected). Quitting keeps the state and prints how to resume.
func runGuided(ctx context.Context, o *RunOptions, in *inputs, runbookName, resume string) (err error) {
	events := tui.NewEvents()
	e, err := o.G.open(ctx, in, events, "run", false)
	if err != nil {
		return err
	}
	defer closeEngine(e, &err)
	m := tui.New(tui.EngineController(e, o.G.StateDir), events, tui.Options{
		Runbook: runbookName, StateDir: o.G.StateDir, ResumeCommand: resume, Renderer: o.IO.renderer(),
	})
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx), tea.WithInput(o.IO.In), tea.WithOutput(o.IO.Out))
	_, perr := p.Run()
	// An interrupt ends the program without the view's q: cancel what still
	// runs and let the engine save the state before it is read or closed.
	m.Shutdown()
	if perr != nil && !errors.Is(perr, tea.ErrProgramKilled) {
		return perr
	}
	r := e.Status()
	if r.Complete {
		fmt.Fprintf(o.IO.Out, "runbook %s complete\n", r.Runbook)
		return nil
	}
	var next []string
	for _, s := range r.Steps {
		if s.Status != engine.StatusDone && s.Status != engine.StatusSkipped {
			next = append(next, s.ID+" ("+string(s.Status)+")")
		}
	}
	fmt.Fprintf(o.IO.Out, "The state is saved in %s. Still to do: %s\nResume with: %s\n", o.G.StateDir, strings.Join(next, ", "), resume)
	if ctx.Err() != nil {
		return &engine.InterruptedError{}
	}
	return nil
}

// resumeCommand is the command line that reopens this run.
func (g *GlobalOptions) resumeCommand(base string) string {
	parts := []string{base}
	if g.ConfigFile != "" {
		parts = append(parts, "--config", shellQuote(g.ConfigFile))
	}
	if g.StateDir != ".exrunbook" {
		parts = append(parts, "--state-dir", shellQuote(g.StateDir))
	}
	if g.RunbookFile != "" {
		parts = append(parts, "--runbook", shellQuote(g.RunbookFile))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
