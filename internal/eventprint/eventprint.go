// Package eventprint renders the engine's event stream for people and
// programs: NewPlain writes one human-readable line per event (the
// non-TUI view of `exrunbook run`), NewJSONLines one JSON object per
// event (`--output json`). Both are engine.Sinks and safe for concurrent
// use; write errors are ignored (the journal keeps the record).
package eventprint

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// ANSI styles used by the plain printer when color is on.
const (
	ansiReset  = "\x1b[0m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiBold   = "\x1b[1m"
)

// stepWidth is the step column's width: the longest split-namespace id.
const stepWidth = len("autodiscover-wait")

type plain struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
}

// NewPlain returns a Sink writing one line per event, like
//
//	12:00:01 certificate        ✓ pre-check san-coverage: every server's certificate covers the names
//
// A plan is followed by one line per change, "  Target Field: from → to"
// or "  Target Field: value (no change)". Colors are used only if color.
func NewPlain(w io.Writer, color bool) engine.Sink {
	return &plain{w: w, color: color}
}

func (p *plain) paint(style, s string) string {
	if !p.color || s == "" {
		return s
	}
	return style + s + ansiReset
}

// Emit writes the event's line(s).
func (p *plain) Emit(e engine.Event) {
	var b strings.Builder
	head := p.paint(ansiDim, e.Time.Format("15:04:05")) + " " + fmt.Sprintf("%-*s", stepWidth, e.Step) + " "
	line := func(s string) { b.WriteString(head + s + "\n") }
	sub := func(s string) { b.WriteString("  " + s + "\n") }
	withMsg := func(s, msg string) string {
		if msg != "" {
			return s + ": " + msg
		}
		return s
	}
	switch e.Kind {
	case engine.EventStepStarted:
		line(p.paint(ansiBold, "▶ ") + withMsg("started", e.Message))
	case engine.EventPlan:
		if e.Plan == nil {
			line(p.paint(ansiCyan, "• ") + withMsg("plan", e.Message))
			break
		}
		summary := e.Plan.Summary
		if summary == "" {
			summary = e.Message
		}
		omitted := max(e.Plan.Omitted, 0)
		line(p.paint(ansiCyan, "• ") + withMsg(fmt.Sprintf("plan: %d of %d changes pending", e.Plan.Pending(), len(e.Plan.Changes)+omitted), summary))
		if len(e.Plan.Changes) == 0 && omitted == 0 {
			sub("(no change)")
		}
		for _, c := range e.Plan.Changes {
			target := strings.TrimSpace(c.Target + " " + c.Field)
			if c.NoChange() {
				sub(fmt.Sprintf("%s: %s %s", target, c.To, p.paint(ansiDim, "(no change)")))
			} else {
				sub(fmt.Sprintf("%s: %s → %s", target, c.From, p.paint(ansiBold, c.To)))
			}
		}
		if omitted > 0 {
			sub(p.paint(ansiDim, fmt.Sprintf("(and %d more not listed)", omitted)))
		}
	case engine.EventCheck:
		phase := "check"
		switch e.Phase {
		case "pre":
			phase = "pre-check"
		case "post":
			phase = "post-check"
		}
		if e.Check == nil {
			line(withMsg(phase, e.Message))
			break
		}
		sym := p.paint(ansiGreen, "✓")
		switch e.Check.Status {
		case engine.CheckWarn:
			sym = p.paint(ansiYellow, "!")
		case engine.CheckFail:
			sym = p.paint(ansiRed, "✗")
		}
		line(sym + " " + withMsg(phase+" "+e.Check.Name, e.Check.Message))
		for _, ev := range e.Check.Evidence {
			sub("  " + p.paint(ansiDim, ev))
		}
	case engine.EventApproval:
		sym := p.paint(ansiGreen, "✓")
		if e.Level == "warn" {
			sym = p.paint(ansiYellow, "?")
		}
		line(sym + " " + withMsg("approval", e.Message))
	case engine.EventProgress:
		if e.Progress != nil {
			line(strings.TrimSpace(fmt.Sprintf("… %d/%d %s", e.Progress.Done, e.Progress.Total, e.Progress.Unit)))
		} else {
			line(withMsg("…", e.Message))
		}
	case engine.EventLog:
		switch e.Level {
		case "warn":
			line(p.paint(ansiYellow, "! ") + e.Message)
		case "error":
			line(p.paint(ansiRed, "✗ ") + e.Message)
		default:
			line("  " + e.Message)
		}
	case engine.EventAttempt:
		s := fmt.Sprintf("attempt %d failed", e.Attempt)
		if e.Error != "" {
			s += ": " + e.Error
		}
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
		line(p.paint(ansiYellow, "↻ ") + s)
	case engine.EventWaiting:
		s := "waiting"
		if e.WaitUntil != nil {
			s += " until " + e.WaitUntil.UTC().Format(time.RFC3339)
		}
		line(p.paint(ansiYellow, "⏸ ") + withMsg(s, e.Message))
	case engine.EventDone:
		line(p.paint(ansiGreen, "✓ ") + withMsg("done", e.Message))
	case engine.EventFailed:
		msg := e.Error
		if msg == "" {
			msg = e.Message
		}
		line(p.paint(ansiRed, "✗ ") + withMsg("failed", msg))
	case engine.EventSkipped:
		line(p.paint(ansiDim, "⤼ ") + withMsg("skipped", e.Message))
	case engine.EventRolledBack:
		line(p.paint(ansiCyan, "↺ ") + withMsg("rolled back", e.Message))
	default:
		line(withMsg(string(e.Kind), e.Message))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, b.String())
}

type jsonLines struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONLines returns a Sink writing each event as one JSON object on a
// line of its own (the engine.Event encoding).
func NewJSONLines(w io.Writer) engine.Sink {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonLines{enc: enc}
}

// Emit writes the event as a JSON line.
func (j *jsonLines) Emit(e engine.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.enc.Encode(e)
}
