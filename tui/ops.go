package tui

import (
	"context"
	"fmt"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/exrunbook/exrunbook/internal/engine"
)

// busy reports whether an engine operation of the view is running.
func (m *Model) busy() bool { return m.busyStep != "" }

// startApply applies the selected step, unless another operation runs,
// the step is done, skipped or still waiting, or an earlier step is
// unfinished: then the notice says why.
func (m *Model) startApply() tea.Cmd {
	if m.busy() {
		m.setNotice(m.busyOp+" of "+m.busyStep+" is still running", false)
		return nil
	}
	s, ok := m.selected()
	if !ok {
		return nil
	}
	switch s.Status {
	case engine.StatusDone:
		m.setNotice(s.ID+" is done: r rolls it back, c re-runs its checks", false)
		return nil
	case engine.StatusSkipped:
		m.setNotice(s.ID+" was skipped: r makes it pending again", false)
		return nil
	case engine.StatusWaiting:
		if m.opts.Now().Before(s.WaitUntil) && !m.resumeNow[s.ID] {
			m.setNotice(fmt.Sprintf("%s waits until %s; w ends the wait early (it continues by itself then)", s.ID, s.WaitUntil.Local().Format("15:04:05")), false)
			return nil
		}
	}
	for _, earlier := range m.steps[:m.sel] {
		if earlier.Status != engine.StatusDone && earlier.Status != engine.StatusSkipped {
			m.setNotice(fmt.Sprintf("%s comes first: it is %s", earlier.ID, earlier.Status), true)
			return nil
		}
	}
	return m.applyCmd(s.ID)
}

// applyCmd runs the engine's apply of one step in a tea.Cmd.
func (m *Model) applyCmd(id string) tea.Cmd {
	delete(m.resumeNow, id)
	ctx := m.opContext(id, "apply")
	m.notice = ""
	ctrl, approve := m.ctrl, m.approve
	return m.ops.run(m.cancel, func() tea.Msg {
		return opDoneMsg{op: "apply", step: id, err: ctrl.Apply(ctx, id, approve)}
	})
}

// opTracker counts running operations. Once closed, an operation that
// had not started yet does not start.
type opTracker struct {
	mu      sync.Mutex
	cond    *sync.Cond
	n, seq  int
	closed  bool
	cancels map[int]context.CancelFunc
}

// init makes the zero opTracker ready; t.mu is held.
func (t *opTracker) init() {
	if t.cond == nil {
		t.cond = sync.NewCond(&t.mu)
		t.cancels = map[int]context.CancelFunc{}
	}
}

// run wraps an operation's tea.Cmd so that it is counted while it runs.
func (t *opTracker) run(cancel context.CancelFunc, f func() tea.Msg) tea.Cmd {
	return func() tea.Msg {
		t.mu.Lock()
		t.init()
		if t.closed {
			t.mu.Unlock()
			return nil
		}
		t.n++
		t.seq++
		key := t.seq
		t.cancels[key] = cancel
		t.mu.Unlock()
		defer func() {
			t.mu.Lock()
			t.n--
			delete(t.cancels, key)
			t.cond.Broadcast()
			t.mu.Unlock()
		}()
		return f()
	}
}

// Shutdown is called after the program has ended (q, or the process
// being interrupted): it cancels the engine operation still running, if
// any, and waits until the engine has returned, so that the state is saved
// before the caller reads it or closes the engine.
func (m *Model) Shutdown() {
	t := &m.ops
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	t.closed = true
	for _, cancel := range t.cancels {
		if cancel != nil {
			cancel()
		}
	}
	for t.n > 0 {
		t.cond.Wait()
	}
}

// endOp marks the view idle again when an operation has returned, and
// releases the operation's context.
func (m *Model) endOp() {
	m.busyStep, m.busyOp = "", ""
	if m.cancel != nil {
		m.cancel()
		m.cancel = nil
	}
}

// opContext marks the view busy with op and returns the context the
// operation runs under; quitting cancels it.
func (m *Model) opContext(id, op string) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.busyStep, m.busyOp = id, op
	return ctx
}

// continueWaits applies a waiting step again once its wait is over (or
// the operator ended it early). The operator approved that step before it
// started waiting, and the engine applies a waiting step again without
// asking, so nothing is asked here either. It runs only while the view is
// idle with no dialog open, and only for the first unfinished step.
func (m *Model) continueWaits() tea.Cmd {
	if m.busy() || m.quitting || m.mode != modeNormal {
		return nil
	}
	i := firstUnfinished(m.steps)
	if i < 0 || i >= len(m.steps) {
		return nil
	}
	s := m.steps[i]
	if s.Status != engine.StatusWaiting {
		return nil
	}
	if !m.resumeNow[s.ID] && (s.WaitUntil.IsZero() || m.opts.Now().Before(s.WaitUntil)) {
		return nil
	}
	m.appendLog(m.opts.Now().Local().Format("15:04:05") + " " + s.ID + ": the wait is over: applying again (approved before the wait)")
	return m.applyCmd(s.ID)
}

func (m *Model) startRecheck() tea.Cmd {
	s, ok := m.selected()
	if !ok || m.busy() {
		return nil
	}
	ctx := m.opContext(s.ID, "checks")
	ctrl, id := m.ctrl, s.ID
	return m.ops.run(m.cancel, func() tea.Msg {
		res, err := ctrl.Recheck(ctx, id)
		return checksMsg{step: id, results: res, err: err}
	})
}

func (m *Model) startRollback() {
	s, ok := m.selected()
	if !ok || m.busy() {
		return
	}
	if s.Status == engine.StatusPending || s.Status == engine.StatusRolledBack {
		m.setNotice(s.ID+" has nothing to roll back", false)
		return
	}
	m.mode = modeConfirmRollback
	m.dialogStep = s.ID
	m.renderDetail()
}

func (m *Model) rollbackCmd(id string, force bool) tea.Cmd {
	ctx := m.opContext(id, "rollback")
	ctrl := m.ctrl
	return m.ops.run(m.cancel, func() tea.Msg {
		return opDoneMsg{op: "rollback", step: id, err: ctrl.Rollback(ctx, id, force)}
	})
}
