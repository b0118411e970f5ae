package tui

import (
	"github.com/charmbracelet/lipgloss"
	"github.com/exrunbook/exrunbook/internal/engine"
)

// styles are built from one renderer so that a test can fix the colour
// profile and NO_COLOR can turn colour off in one place.
type styles struct {
	header, dim, selected, title, section, key, notice, errText lipgloss.Style
	pass, warn, fail, from, to                                  lipgloss.Style
	pane, paneFocus, dialog                                     lipgloss.Style
	status                                                      map[engine.Status]lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	c := func(s string) lipgloss.Color { return lipgloss.Color(s) }
	border := lipgloss.RoundedBorder()
	s := styles{
		header:    r.NewStyle().Bold(true).Foreground(c("12")),
		dim:       r.NewStyle().Foreground(c("8")),
		selected:  r.NewStyle().Bold(true).Reverse(true),
		title:     r.NewStyle().Bold(true),
		section:   r.NewStyle().Bold(true).Underline(true),
		key:       r.NewStyle().Bold(true).Foreground(c("14")),
		notice:    r.NewStyle().Foreground(c("11")),
		errText:   r.NewStyle().Foreground(c("9")),
		pass:      r.NewStyle().Foreground(c("10")),
		warn:      r.NewStyle().Foreground(c("11")),
		fail:      r.NewStyle().Foreground(c("9")).Bold(true),
		from:      r.NewStyle().Foreground(c("9")),
		to:        r.NewStyle().Foreground(c("10")),
		pane:      r.NewStyle().Border(border).BorderForeground(c("8")),
		paneFocus: r.NewStyle().Border(border).BorderForeground(c("12")),
		dialog:    r.NewStyle().Border(lipgloss.DoubleBorder()).BorderForeground(c("11")),
	}
	s.status = map[engine.Status]lipgloss.Style{
		engine.StatusPending:    r.NewStyle(),
		engine.StatusRunning:    r.NewStyle().Foreground(c("12")).Bold(true),
		engine.StatusDone:       r.NewStyle().Foreground(c("10")),
		engine.StatusFailed:     r.NewStyle().Foreground(c("9")).Bold(true),
		engine.StatusWaiting:    r.NewStyle().Foreground(c("11")),
		engine.StatusSkipped:    r.NewStyle().Foreground(c("8")),
		engine.StatusRolledBack: r.NewStyle().Foreground(c("13")),
	}
	return s
}

// glyph is the one-cell mark shown before a step in the list. Each status
// also has a word, so that the list reads the same without colour.
func glyph(s engine.Status) string {
	switch s {
	case engine.StatusRunning:
		return "▶"
	case engine.StatusDone:
		return "✓"
	case engine.StatusFailed:
		return "✗"
	case engine.StatusWaiting:
		return "…"
	case engine.StatusSkipped:
		return "-"
	case engine.StatusRolledBack:
		return "↺"
	default:
		return "○"
	}
}
