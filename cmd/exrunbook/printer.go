package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// jsonLines writes each event as one JSON object per line.
type jsonLines struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONLines(w io.Writer) engine.Sink { return &jsonLines{enc: json.NewEncoder(w)} }

func (j *jsonLines) Emit(ev engine.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(ev)
}

// plainPrinter writes each event as one readable line (coloured when
// color is true): the line-oriented view used when there is no TUI.
type plainPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	color bool
}

func newPlain(w io.Writer, color bool) engine.Sink { return &plainPrinter{w: w, color: color} }

const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

func (p *plainPrinter) paint(code, s string) string {
	if !p.color {
		return s
	}
	return code + s + ansiReset
}

func (p *plainPrinter) Emit(ev engine.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	b.WriteString(p.paint(ansiDim, ev.Time.Local().Format("15:04:05")))
	b.WriteByte(' ')
	if ev.Step != "" {
		fmt.Fprintf(&b, "%-18s ", ev.Step)
	}
	switch ev.Kind {
	case engine.EventStepStarted:
		fmt.Fprintf(&b, "started: %s", ev.Message)
	case engine.EventPlan:
		if ev.Plan == nil {
			b.WriteString("plan")
			break
		}
		fmt.Fprintf(&b, "plan: %d change(s)", ev.Plan.Pending())
		if ev.Plan.Summary != "" {
			fmt.Fprintf(&b, " — %s", ev.Plan.Summary)
		}
		for _, c := range ev.Plan.Changes {
			if c.NoChange() {
				fmt.Fprintf(&b, "\n    %s %s: %s (no change)", c.Target, c.Field, c.To)
			} else {
				fmt.Fprintf(&b, "\n    %s %s: %s → %s", c.Target, c.Field, c.From, p.paint(ansiYellow, c.To))
			}
		}
	case engine.EventCheck:
		if ev.Check == nil {
			b.WriteString("check")
			break
		}
		st := string(ev.Check.Status)
		switch ev.Check.Status {
		case engine.CheckPass:
			st = p.paint(ansiGreen, st)
		case engine.CheckWarn:
			st = p.paint(ansiYellow, st)
		case engine.CheckFail:
			st = p.paint(ansiRed, st)
		}
		fmt.Fprintf(&b, "%s-check %s: %s %s", ev.Phase, ev.Check.Name, st, ev.Check.Message)
		for _, e := range ev.Check.Evidence {
			fmt.Fprintf(&b, "\n    %s", e)
		}
	case engine.EventProgress:
		if ev.Progress != nil {
			fmt.Fprintf(&b, "progress: %d/%d %s", ev.Progress.Done, ev.Progress.Total, ev.Progress.Unit)
		}
	case engine.EventWaiting:
		b.WriteString(p.paint(ansiYellow, "waiting"))
		if ev.WaitUntil != nil {
			fmt.Fprintf(&b, " until %s", ev.WaitUntil.UTC().Format(time.RFC3339))
		}
		if ev.Message != "" {
			fmt.Fprintf(&b, ": %s", ev.Message)
		}
	case engine.EventDone:
		b.WriteString(p.paint(ansiGreen, "done"))
		if ev.Message != "" {
			fmt.Fprintf(&b, ": %s", ev.Message)
		}
	case engine.EventFailed:
		b.WriteString(p.paint(ansiRed, "failed"))
		if ev.Error != "" {
			fmt.Fprintf(&b, ": %s", ev.Error)
		} else if ev.Message != "" {
			fmt.Fprintf(&b, ": %s", ev.Message)
		}
	case engine.EventAttempt:
		fmt.Fprintf(&b, "attempt %d", ev.Attempt)
		if ev.Error != "" {
			fmt.Fprintf(&b, " after: %s", ev.Error)
		}
		if ev.Message != "" {
			fmt.Fprintf(&b, " (%s)", ev.Message)
		}
	default:
		b.WriteString(string(ev.Kind))
		if ev.Level == "warn" || ev.Level == "error" {
			b.WriteString(" " + p.paint(ansiYellow, ev.Level))
		}
		if ev.Message != "" {
			fmt.Fprintf(&b, ": %s", ev.Message)
		}
		if ev.Error != "" {
			fmt.Fprintf(&b, ": %s", ev.Error)
		}
	}
	b.WriteByte('\n')
	_, _ = io.WriteString(p.w, b.String())
}
