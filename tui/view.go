package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/exrunbook/exrunbook/internal/engine"
)

// The fixed parts of the screen, in rows and columns.
const (
	listWidth  = 33 // the step list, borders included
	logRows    = 4  // visible log lines
	minWidth   = 80
	minHeight  = 24
	helpRows   = 1
	headerRows = 1
	barRows    = 1
)

// layout sizes the panes for the current terminal. Below 80×24 the panes
// keep their minimum size and the terminal clips.
func (m *Model) layout() {
	w, h := max(m.width, minWidth), max(m.height, minHeight)
	m.logView.Width = w - 2
	m.logView.Height = logRows
	m.logView.SetContent(m.renderLogLines())
	m.logView.GotoBottom()
	m.detail.Width = w - listWidth - 2
	m.detail.Height = m.bodyRows() - 2
	m.bar.Width = max(w-40, 10)
	_ = h
	m.renderDetail()
}

func (m *Model) bodyRows() int {
	h := max(m.height, minHeight)
	return h - headerRows - barRows - (logRows + 2) - helpRows
}

// View draws the whole screen.
func (m *Model) View() string {
	w := max(m.width, minWidth)
	header := m.headerLine(w)
	list := m.st.pane.Width(listWidth - 2).Height(m.bodyRows() - 2).Render(m.listView())
	detailStyle := m.st.paneFocus
	if m.mode != modeNormal {
		detailStyle = m.st.dialog
	}
	detail := detailStyle.Width(w - listWidth - 2).Height(m.bodyRows() - 2).Render(m.detail.View())
	body := lipgloss.JoinHorizontal(lipgloss.Top, list, detail)
	logBox := m.st.pane.Width(w - 2).Height(logRows).Render(m.logView.View())
	return lipgloss.JoinVertical(lipgloss.Left, header, body, m.progressLine(w), logBox, m.helpLine(w))
}

func (m *Model) headerLine(w int) string {
	done := 0
	for _, s := range m.steps {
		if s.Status == engine.StatusDone || s.Status == engine.StatusSkipped {
			done++
		}
	}
	left := m.st.header.Render("exrunbook · " + m.opts.Runbook)
	right := fmt.Sprintf("%d/%d steps done", done, len(m.steps))
	if m.opts.StateDir != "" {
		right += " · state " + m.opts.StateDir
	}
	gap := w - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return truncate(left+" "+right, w)
	}
	return left + strings.Repeat(" ", gap) + m.st.dim.Render(right)
}

func (m *Model) listView() string {
	inner := listWidth - 2
	var b strings.Builder
	for i, s := range m.steps {
		st := m.st.status[s.Status]
		word := string(s.Status)
		if s.Status == engine.StatusWaiting && !s.WaitUntil.IsZero() {
			word = countdown(s.WaitUntil.Sub(m.opts.Now()))
		}
		if s.ID == m.busyStep && m.busyOp == "apply" {
			word = "running"
		}
		name := truncate(s.ID, inner-2-len(word)-1)
		pad := inner - 2 - lipgloss.Width(name) - len(word)
		line := glyph(s.Status) + " " + name + strings.Repeat(" ", max(pad, 1)) + word
		if i == m.sel {
			line = m.st.selected.Render(line)
		} else {
			line = st.Render(line)
		}
		b.WriteString(line)
		if i < len(m.steps)-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// countdown renders a remaining wait as "1h02m", "4m05s" or "12s".
func countdown(d time.Duration) string {
	if d <= 0 {
		return "ready"
	}
	d = d.Round(time.Second)
	h, mnt, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, mnt)
	case mnt > 0:
		return fmt.Sprintf("%dm%02ds", mnt, s)
	default:
		return fmt.Sprintf("%ds", s)
	}
}

// renderDetail refreshes the right-hand pane: a dialog when one is open,
// otherwise the selected step.
func (m *Model) renderDetail() {
	w := m.detail.Width
	var lines []string
	switch m.mode {
	case modeConfirmApply:
		lines = m.confirmApplyLines(w)
	case modeConfirmRollback:
		lines = []string{
			m.st.title.Render("Roll back " + m.dialogStep + "?"),
			"",
			"This restores every value the step captured before its first",
			"change, exactly as it was (a $null stays $null).",
			"",
			m.st.key.Render("y") + " roll back   " + m.st.key.Render("n") + " cancel",
		}
	case modeRefused:
		lines = []string{m.st.fail.Render("Rollback of " + m.dialogStep + " refused"), ""}
		lines = append(lines, wrap(m.dialogText, w)...)
		lines = append(lines, "", m.st.key.Render("f")+" force it anyway   "+m.st.key.Render("esc")+" keep things as they are")
	case modeSkipReason:
		lines = []string{m.st.title.Render("Skip " + m.dialogStep), "", "Why? The reason goes to the journal.", "", m.input.View(), "", m.st.key.Render("enter") + " skip   " + m.st.key.Render("esc") + " cancel"}
	case modeOverrideWait:
		lines = []string{m.st.title.Render("End the wait of " + m.dialogStep + " early"), ""}
		lines = append(lines, wrap("Autodiscover answers and DNS records are cached: ending a wait early can send clients to names that do not work yet. The override goes to the journal.", w)...)
		lines = append(lines, "", "Type the step id to confirm:", m.input.View(), "", m.st.key.Render("esc")+" cancel")
	default:
		lines = m.stepLines(w)
	}
	if m.notice != "" && m.mode != modeNormal {
		lines = append(lines, "")
	}
	if m.notice != "" {
		style := m.st.notice
		if m.noticeIsErr {
			style = m.st.errText
		}
		lines = append([]string{style.Render(truncate(m.notice, w)), ""}, lines...)
	}
	var out []string
	for _, l := range lines {
		if lipgloss.Width(l) <= w {
			out = append(out, l)
			continue
		}
		out = append(out, wrap(l, w)...)
	}
	m.detail.SetContent(strings.Join(out, "\n"))
}

func (m *Model) confirmApplyLines(w int) []string {
	p := m.dialogPlan
	lines := []string{m.st.title.Render("Apply " + m.dialogStep + "?"), ""}
	if p.Summary != "" {
		lines = append(lines, wrap(p.Summary, w)...)
		lines = append(lines, "")
	}
	pending := p.Pending()
	var changes []engine.Change
	for _, c := range p.Changes {
		if !c.NoChange() {
			changes = append(changes, c)
		}
	}
	if pending == 0 {
		lines = append(lines, "Nothing to change: every value is already in place.")
	} else {
		lines = append(lines, fmt.Sprintf("This will change %d value(s):", pending))
		lines = append(lines, m.planLines(changes, w)...)
		lines = append(lines, m.omittedLines(p, w)...)
	}
	if same := len(p.Changes) - len(changes); same > 0 {
		lines = append(lines, m.st.dim.Render(fmt.Sprintf("(%d value(s) already in place)", same)))
	}
	return append(lines, "", m.st.key.Render("y")+" apply   "+m.st.key.Render("n")+" cancel")
}

// omittedLines says how many changes the plan does not list (Omitted).
func (m *Model) omittedLines(p engine.Plan, w int) []string {
	if p.Omitted <= 0 {
		return nil
	}
	return []string{m.st.dim.Render(truncate(fmt.Sprintf("  (and %d more not listed)", p.Omitted), w))}
}

// planLines renders a plan's changes. A run of changes to the same field
// whose lines fit only without the field's name (block-mailboxes: one long
// field over many mailboxes) is shown under one heading naming the field,
// one change a line; every other change is shown by changeLines.
func (m *Model) planLines(changes []engine.Change, w int) []string {
	var lines []string
	for i := 0; i < len(changes); {
		j := i + 1
		for j < len(changes) && changes[j].Field == changes[i].Field {
			j++
		}
		run := changes[i:j]
		if len(run) >= 2 && m.groupFits(run, w) {
			lines = append(lines, m.st.dim.Render(truncate("  "+run[0].Field+":", w)))
			for _, c := range run {
				lines = append(lines, m.groupedLines(c, w)...)
			}
		} else {
			for _, c := range run {
				lines = append(lines, m.changeLines(c, w)...)
			}
		}
		i = j
	}
	return lines
}

// groupFits: some change of the run does not fit on one line with its
// field named, and most fit on one line without it.
func (m *Model) groupFits(run []engine.Change, w int) bool {
	needed, fit := false, 0
	for _, c := range run {
		if lipgloss.Width(groupedText(c)) <= w {
			fit++
		}
		if lipgloss.Width("  "+c.Target+" "+c.Field+": "+c.From+" → "+c.To) > w {
			needed = true
		}
	}
	return needed && 2*fit >= len(run)
}

func groupedText(c engine.Change) string {
	if c.NoChange() {
		return "    " + c.Target + ": " + c.From + " (no change)"
	}
	return "    " + c.Target + ": " + c.From + " → " + c.To
}

// groupedLines renders one change under its field's heading: on one line
// when it fits, otherwise the target, old and new value on lines of their own.
func (m *Model) groupedLines(c engine.Change, w int) []string {
	if c.NoChange() {
		return []string{m.st.dim.Render(groupedText(c))}
	}
	if lipgloss.Width(groupedText(c)) <= w {
		return []string{"    " + c.Target + ": " + m.st.from.Render(c.From) + " → " + m.st.to.Render(c.To)}
	}
	return []string{"    " + c.Target + ":", "      " + m.st.from.Render(c.From), "    → " + m.st.to.Render(c.To)}
}

// changeLines renders one change as a before → after diff: on one line
// when it fits, otherwise the old value and the new value on lines of their
// own, so that no URL is ever cut.
func (m *Model) changeLines(c engine.Change, w int) []string {
	head := "  " + c.Target + " " + c.Field
	if c.NoChange() {
		line := head + ": " + c.From + " (no change)"
		if lipgloss.Width(line) <= w {
			return []string{m.st.dim.Render(line)}
		}
		return []string{m.st.dim.Render(head), m.st.dim.Render("      " + c.From + " (no change)")}
	}
	one := head + ": " + c.From + " → " + c.To
	if lipgloss.Width(one) <= w {
		return []string{head + ": " + m.st.from.Render(c.From) + " → " + m.st.to.Render(c.To)}
	}
	return []string{head, "      " + m.st.from.Render(c.From), "    → " + m.st.to.Render(c.To)}
}

func (m *Model) stepLines(w int) []string {
	s, ok := m.selected()
	if !ok {
		return []string{"This runbook has no steps."}
	}
	lines := []string{m.st.title.Render(s.ID + ": " + s.Title), m.statusLine(s)}
	if s.Error != "" {
		lines = append(lines, "")
		for _, l := range wrap("Error: "+s.Error, w) {
			lines = append(lines, m.st.errText.Render(l))
		}
	}
	lines = append(lines, "", m.st.section.Render("Plan"))
	switch {
	case s.Plan == nil:
		lines = append(lines, m.st.dim.Render("  not computed yet: enter computes it and asks before changing anything"))
	case len(s.Plan.Changes) == 0 && s.Plan.Omitted <= 0:
		lines = append(lines, "  nothing to change")
	default:
		if s.Plan.Summary != "" {
			lines = append(lines, wrap("  "+s.Plan.Summary, w)...)
		}
		lines = append(lines, m.planLines(s.Plan.Changes, w)...)
		lines = append(lines, m.omittedLines(*s.Plan, w)...)
	}
	lines = append(lines, m.checkLines("Pre-checks", s.PreChecks, w)...)
	post := s.PostChecks
	title := "Post-checks"
	if rc, ok := m.rechecks[s.ID]; ok {
		post, title = rc, "Checks (re-run)"
	}
	lines = append(lines, m.checkLines(title, post, w)...)
	return lines
}

func (m *Model) statusLine(s StepInfo) string {
	st := m.st.status[s.Status]
	text := "Status: " + st.Render(string(s.Status))
	switch {
	case s.Status == engine.StatusWaiting && !s.WaitUntil.IsZero():
		text += fmt.Sprintf(" until %s (%s left)", s.WaitUntil.Local().Format("15:04:05"), countdown(s.WaitUntil.Sub(m.opts.Now())))
		if s.WaitReason != "" {
			text += " — " + s.WaitReason
		}
	case s.Attempts > 1:
		text += fmt.Sprintf(" after %d attempts", s.Attempts)
	}
	return text
}

func (m *Model) checkLines(title string, results []engine.CheckResult, w int) []string {
	if len(results) == 0 {
		return nil
	}
	lines := []string{"", m.st.section.Render(title)}
	for _, r := range results {
		var mark string
		switch r.Status {
		case engine.CheckPass:
			mark = m.st.pass.Render("✓ pass")
		case engine.CheckWarn:
			mark = m.st.warn.Render("! warn")
		default:
			mark = m.st.fail.Render("✗ FAIL")
		}
		for i, l := range wrap(fmt.Sprintf("%s %s: %s", mark, r.Name, r.Message), w-4) {
			if i == 0 {
				lines = append(lines, "  "+l)
			} else {
				lines = append(lines, "         "+l)
			}
		}
		for _, e := range r.Evidence {
			lines = append(lines, m.st.dim.Render(truncate("      "+e, w)))
		}
	}
	return lines
}

func (m *Model) progressLine(w int) string {
	s, ok := m.selected()
	var p *progressState
	if ok {
		p = m.prog[s.ID]
	}
	if p == nil || p.total == 0 {
		if m.busy() {
			return truncate(m.st.notice.Render(m.busyOp+" of "+m.busyStep+" in progress…"), w)
		}
		return ""
	}
	m.bar.Width = max(w-44, 10)
	frac := float64(p.done) / float64(p.total)
	rate := ""
	if el := p.last.Sub(p.startAt).Seconds(); el > 0 && p.done > p.startDone {
		rate = fmt.Sprintf(" · %.0f/s", float64(p.done-p.startDone)/el)
	}
	text := fmt.Sprintf(" %d/%d %s%s", p.done, p.total, p.unit, rate)
	return truncate(m.bar.ViewAs(frac)+text, w)
}

func (m *Model) helpLine(w int) string {
	k := m.st.key.Render
	var parts []string
	switch m.mode {
	case modeNormal:
		parts = []string{k("↑/↓") + " select", k("enter") + " apply", k("c") + " checks", k("r") + " rollback", k("s") + " skip", k("w") + " end wait", k("q") + " quit"}
	case modeConfirmApply:
		parts = []string{k("y") + " confirm", k("n") + " cancel"}
		if !m.detail.AtBottom() {
			parts = append(parts, k("↓/pgdn")+" more below")
		}
	case modeConfirmRollback:
		parts = []string{k("y") + " confirm", k("n") + " cancel"}
	case modeRefused:
		parts = []string{k("f") + " force", k("esc") + " back"}
	default:
		parts = []string{k("enter") + " confirm", k("esc") + " cancel"}
	}
	return truncate(strings.Join(parts, " · "), w)
}

// truncate cuts s to w cells, keeping ANSI styling intact.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(s, w, "…")
}

// wrap breaks text into lines of at most w cells, on spaces.
func wrap(text string, w int) []string {
	if w <= 0 {
		return nil
	}
	var out []string
	for _, para := range strings.Split(text, "\n") {
		out = append(out, strings.Split(ansi.Wrap(para, w, ""), "\n")...)
	}
	return out
}

func hasFail(rs []engine.CheckResult) bool {
	for _, r := range rs {
		if r.Status == engine.CheckFail {
			return true
		}
	}
	return false
}

func checkSummary(rs []engine.CheckResult) string {
	var pass, warn, fail int
	for _, r := range rs {
		switch r.Status {
		case engine.CheckPass:
			pass++
		case engine.CheckWarn:
			warn++
		default:
			fail++
		}
	}
	return fmt.Sprintf("%d passed, %d warned, %d failed", pass, warn, fail)
}
