package main

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are the command's standard streams and what they are
// connected to. Commands never touch os.Stdin/Stdout/Stderr directly, so
// tests run them in-process with buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal: stdout is a terminal (the TUI and colours are possible;
	// otherwise output is plain lines).
	IsTerminal bool
	// InIsTerminal: stdin is a terminal, so the operator can be asked.
	InIsTerminal bool
	// ColorEnabled: colour escapes may be written to Out (a terminal,
	// NO_COLOR unset, TERM not dumb).
	ColorEnabled bool
	// TUI: both ends are a real terminal that can take the full-screen
	// view (TERM is not dumb). Otherwise an operator on a terminal is asked
	// line by line.
	TUI bool
}

// CanPrompt reports whether an operator can answer a question.
func (s *IOStreams) CanPrompt() bool { return s.IsTerminal && s.InIsTerminal }

// SystemIO returns the process's streams.
func SystemIO() *IOStreams {
	out := isTTY(os.Stdout)
	_, noColor := os.LookupEnv("NO_COLOR")
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		IsTerminal:   out,
		InIsTerminal: isTTY(os.Stdin),
		ColorEnabled: out && !noColor && os.Getenv("TERM") != "dumb",
		TUI:          out && isTTY(os.Stdin) && os.Getenv("TERM") != "dumb",
	}
}

func isTTY(f *os.File) bool {
	return isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
}
