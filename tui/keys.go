package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/exrunbook/exrunbook/internal/engine"
)

// onKey handles a key: in a dialog it answers or scrolls the dialog;
// otherwise it moves the selection or starts an operation on the selected
// step.
func (m *Model) onKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if k.Type == tea.KeyCtrlC {
		return m.quit()
	}
	switch m.mode {
	case modeConfirmApply:
		switch k.String() {
		case "y", "Y":
			m.answer(true)
		case "n", "N", "esc":
			m.answer(false)
		default:
			m.scrollDetail(k.String())
		}
		return m, nil
	case modeConfirmRollback:
		switch k.String() {
		case "y", "Y":
			m.mode = modeNormal
			return m, m.rollbackCmd(m.dialogStep, false)
		case "n", "N", "esc":
			m.mode = modeNormal
			m.renderDetail()
		}
		return m, nil
	case modeRefused:
		switch k.String() {
		case "f", "F":
			m.mode = modeNormal
			return m, m.rollbackCmd(m.dialogStep, true)
		case "esc", "enter", "n", "q":
			m.mode = modeNormal
			m.renderDetail()
		default:
			m.scrollDetail(k.String())
		}
		return m, nil
	case modeSkipReason, modeOverrideWait:
		return m.onInputKey(k)
	}

	switch k.String() {
	case "q":
		return m.quit()
	case "up", "k":
		if m.sel > 0 {
			m.sel--
		}
		m.notice = ""
		m.renderDetail()
	case "down", "j":
		if m.sel < len(m.steps)-1 {
			m.sel++
		}
		m.notice = ""
		m.renderDetail()
	case "pgup", "pgdown":
		m.scrollDetail(k.String())
	case "ctrl+u":
		m.logView.HalfPageUp()
	case "ctrl+d":
		m.logView.HalfPageDown()
	case "enter":
		return m, m.startApply()
	case "c":
		return m, m.startRecheck()
	case "r":
		m.startRollback()
	case "s":
		m.startInput(modeSkipReason, "reason for skipping")
	case "w":
		if s, ok := m.selected(); ok && s.Status == engine.StatusWaiting {
			m.startInput(modeOverrideWait, "type "+s.ID+" to end the wait")
		} else {
			m.setNotice("w ends a wait early; the selected step is not waiting", false)
		}
	}
	return m, nil
}

// scrollDetail scrolls the right-hand pane (a long plan or dialog).
func (m *Model) scrollDetail(key string) {
	switch key {
	case "pgup":
		m.detail.HalfPageUp()
	case "pgdown", " ":
		m.detail.HalfPageDown()
	case "up", "k":
		m.detail.ScrollUp(1)
	case "down", "j":
		m.detail.ScrollDown(1)
	}
}

func (m *Model) answer(ok bool) {
	if m.reply != nil {
		m.reply <- ok
		m.reply = nil
	}
	m.mode = modeNormal
	if !ok {
		m.setNotice("apply of "+m.dialogStep+" cancelled: nothing was changed", false)
	}
	m.renderDetail()
	m.detail.GotoTop()
}

func (m *Model) startInput(md mode, placeholder string) {
	s, ok := m.selected()
	if !ok || m.busy() {
		return
	}
	if md == modeSkipReason && s.Status != engine.StatusPending && s.Status != engine.StatusFailed && s.Status != engine.StatusRolledBack {
		m.setNotice(s.ID+" is "+string(s.Status)+": only a pending or failed step can be skipped", false)
		return
	}
	m.mode = md
	m.dialogStep = s.ID
	m.input.Reset()
	m.input.Placeholder = placeholder
	m.input.Focus()
	m.renderDetail()
}

func (m *Model) onInputKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	switch k.Type {
	case tea.KeyEsc:
		m.mode = modeNormal
		m.input.Blur()
		m.renderDetail()
		return m, nil
	case tea.KeyEnter:
		text := strings.TrimSpace(m.input.Value())
		id := m.dialogStep
		ctrl := m.ctrl
		switch m.mode {
		case modeSkipReason:
			if text == "" {
				m.setNotice("a reason is required: it goes to the journal", true)
				return m, nil
			}
			m.mode = modeNormal
			m.busyStep, m.busyOp = id, "skip"
			return m, m.ops.run(nil, func() tea.Msg { return opDoneMsg{op: "skip", step: id, err: ctrl.Skip(id, text)} })
		case modeOverrideWait:
			if text != id {
				m.setNotice(fmt.Sprintf("the wait goes on: type %q exactly to end it", id), true)
				m.input.Reset()
				return m, nil
			}
			m.mode = modeNormal
			m.busyStep, m.busyOp = id, "wait override"
			return m, m.ops.run(nil, func() tea.Msg {
				return opDoneMsg{op: "wait override", step: id, err: ctrl.OverrideWait(id, "ended early by the operator in the TUI")}
			})
		}
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	m.renderDetail()
	return m, cmd
}

// quit ends the program. While an operation runs it is cancelled first
// and the program ends when the engine has returned (the state is saved by
// then); a second q or ctrl+c while stopping ends it at once.
func (m *Model) quit() (tea.Model, tea.Cmd) {
	if !m.busy() {
		m.quitting = true
		return m, tea.Quit
	}
	if m.quitting {
		return m, tea.Quit
	}
	m.quitting = true
	if m.reply != nil {
		m.reply <- false
		m.reply = nil
		m.mode = modeNormal
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.setNotice("stopping "+m.busyOp+" of "+m.busyStep+": the current write finishes or is abandoned safely, then the state is saved", false)
	return m, nil
}
