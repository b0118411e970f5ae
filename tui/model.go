package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/exrunbook/exrunbook/internal/engine"
)

// Options configure the model.
type Options struct {
	// Runbook is the runbook's name, shown in the header.
	Runbook string
	// StateDir is shown in the header so the operator knows where the
	// state lives.
	StateDir string
	// ResumeCommand is printed when the operator quits.
	ResumeCommand string
	// Renderer fixes the colour profile (tests, NO_COLOR). Nil: lipgloss's
	// default renderer.
	Renderer *lipgloss.Renderer
	// Now is the clock for countdowns and rates. Nil: time.Now.
	Now func() time.Time
	// TickEvery is how often countdowns refresh. Zero: every second.
	TickEvery time.Duration
	// LogLines is how many log lines are kept. Zero: 500.
	LogLines int
}

type mode int

const (
	modeNormal mode = iota
	modeConfirmApply
	modeConfirmRollback
	modeRefused
	modeSkipReason
	modeOverrideWait
)

// Model is the Bubble Tea model of a guided run. Use New, then run it with
// tea.NewProgram(m, tea.WithAltScreen()).
type Model struct {
	ctrl   Controller
	events *Events
	opts   Options
	st     styles

	width, height int
	steps         []StepInfo
	sel           int

	busyStep, busyOp string
	cancel           context.CancelFunc
	quitting         bool
	// advance moves the selection to the first unfinished step at the
	// next refresh (after an apply or a skip finished).
	advance bool
	// resumeNow holds the waiting steps whose wait the operator ended
	// early: they are applied again at the next tick.
	resumeNow map[string]bool
	// ops counts the engine operations running in tea.Cmds, so that
	// Shutdown can wait for them after the program has ended.
	ops opTracker

	mode        mode
	dialogStep  string
	dialogPlan  engine.Plan
	dialogText  string
	reply       chan bool
	input       textinput.Model
	approvals   chan approvalRequest
	notice      string
	noticeIsErr bool

	log      []string
	logView  viewport.Model
	detail   viewport.Model
	bar      progress.Model
	prog     map[string]*progressState
	rechecks map[string][]engine.CheckResult
}

type progressState struct {
	done, total   int
	unit          string
	startAt, last time.Time
	startDone     int
}

type approvalRequest struct {
	step  string
	plan  engine.Plan
	reply chan bool
}

// Messages.
type (
	eventMsg    engine.Event
	approvalMsg approvalRequest
	stepsMsg    []StepInfo
	tickMsg     time.Time
	opDoneMsg   struct {
		op, step string
		err      error
	}
	checksMsg struct {
		step    string
		results []engine.CheckResult
		err     error
	}
)

// New builds the model over a controller and the event channel the
// engine emits into.
func New(ctrl Controller, events *Events, opts Options) *Model {
	if opts.Renderer == nil {
		opts.Renderer = lipgloss.DefaultRenderer()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TickEvery == 0 {
		opts.TickEvery = time.Second
	}
	if opts.LogLines == 0 {
		opts.LogLines = 500
	}
	in := textinput.New()
	in.CharLimit = 200
	m := &Model{
		ctrl:      ctrl,
		events:    events,
		opts:      opts,
		st:        newStyles(opts.Renderer),
		width:     80,
		height:    24,
		input:     in,
		approvals: make(chan approvalRequest),
		logView:   viewport.New(78, 4),
		detail:    viewport.New(50, 12),
		bar:       progress.New(progress.WithDefaultGradient(), progress.WithoutPercentage(), progress.WithColorProfile(opts.Renderer.ColorProfile())),
		prog:      map[string]*progressState{},
		rechecks:  map[string][]engine.CheckResult{},
		resumeNow: map[string]bool{},
	}
	m.steps = ctrl.Steps()
	for _, ev := range ctrl.History() {
		m.appendLog(m.formatEvent(ev))
	}
	m.sel = firstUnfinished(m.steps)
	m.layout()
	return m
}

// firstUnfinished is where a resumed run opens: the first step that is not
// done or skipped (the last step when all are).
func firstUnfinished(steps []StepInfo) int {
	for i, s := range steps {
		if s.Status != engine.StatusDone && s.Status != engine.StatusSkipped {
			return i
		}
	}
	if len(steps) == 0 {
		return 0
	}
	return len(steps) - 1
}

// Init starts listening to the engine's events and approval requests, and
// the countdown clock.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.waitEvent(), m.waitApproval(), m.tick())
}

func (m *Model) waitEvent() tea.Cmd {
	if m.events == nil {
		return nil
	}
	ch := m.events.ch
	return func() tea.Msg { return eventMsg(<-ch) }
}

func (m *Model) waitApproval() tea.Cmd {
	ch := m.approvals
	return func() tea.Msg { return approvalMsg(<-ch) }
}

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.opts.TickEvery, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// approve is handed to the engine: it asks the view and waits for the
// operator's answer, or for the run to be cancelled.
func (m *Model) approve(ctx context.Context, step string, plan engine.Plan) (bool, error) {
	req := approvalRequest{step: step, plan: plan, reply: make(chan bool, 1)}
	select {
	case m.approvals <- req:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case ok := <-req.reply:
		return ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (m *Model) refresh() tea.Cmd {
	ctrl := m.ctrl
	return func() tea.Msg { return stepsMsg(ctrl.Steps()) }
}

// Update handles one message. It never blocks: every engine call runs in a
// tea.Cmd.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tickMsg:
		m.renderDetail()
		return m, tea.Batch(m.tick(), m.continueWaits())
	case eventMsg:
		m.onEvent(engine.Event(msg))
		return m, m.waitEvent()
	case approvalMsg:
		m.mode = modeConfirmApply
		m.dialogStep, m.dialogPlan, m.reply = msg.step, msg.plan, msg.reply
		m.renderDetail()
		m.detail.GotoTop()
		return m, m.waitApproval()
	case stepsMsg:
		m.steps = msg
		if m.advance {
			m.advance = false
			m.sel = firstUnfinished(m.steps)
		}
		if m.sel >= len(m.steps) {
			m.sel = len(m.steps) - 1
		}
		m.renderDetail()
		return m, nil
	case checksMsg:
		m.endOp()
		if m.quitting {
			return m, tea.Quit
		}
		if msg.err != nil {
			m.setNotice(fmt.Sprintf("checks of %s could not run: %v", msg.step, msg.err), true)
		} else {
			m.rechecks[msg.step] = msg.results
			m.setNotice(fmt.Sprintf("checks of %s re-run: %s", msg.step, checkSummary(msg.results)), hasFail(msg.results))
		}
		m.renderDetail()
		return m, nil
	case opDoneMsg:
		return m.onOpDone(msg)
	case tea.KeyMsg:
		return m.onKey(msg)
	}
	return m, nil
}

func (m *Model) onOpDone(msg opDoneMsg) (tea.Model, tea.Cmd) {
	m.endOp()
	if m.mode == modeConfirmApply && m.reply == nil {
		m.mode = modeNormal
	}
	var refused *engine.RefusedError
	var waiting *engine.WaitingError
	var approval *engine.ApprovalNeededError
	switch {
	case msg.err == nil:
		m.setNotice(fmt.Sprintf("%s of %s finished", msg.op, msg.step), false)
		switch msg.op {
		case "apply", "skip":
			m.advance = true
		case "wait override":
			m.resumeNow[msg.step] = true
		}
	case errors.As(msg.err, &refused):
		m.mode = modeRefused
		m.dialogStep = msg.step
		m.dialogText = refused.Error()
	case errors.As(msg.err, &waiting):
		m.setNotice(fmt.Sprintf("%s waits until %s; w ends the wait early (it continues by itself then): %s", msg.step, waiting.Until.Local().Format("15:04:05"), waiting.Reason), false)
	case errors.As(msg.err, &approval):
		m.setNotice(fmt.Sprintf("apply of %s cancelled: nothing was changed", msg.step), false)
	default:
		m.setNotice(fmt.Sprintf("%s of %s failed: %v", msg.op, msg.step, msg.err), true)
	}
	m.detail.GotoTop()
	if m.quitting {
		return m, tea.Quit
	}
	return m, m.refresh()
}

func (m *Model) onEvent(ev engine.Event) {
	m.appendLog(m.formatEvent(ev))
	i := m.index(ev.Step)
	if i < 0 {
		return
	}
	s := &m.steps[i]
	switch ev.Kind {
	case engine.EventStepStarted:
		s.Status = engine.StatusRunning
		s.Error = ""
		s.PreChecks, s.PostChecks = nil, nil
		delete(m.prog, ev.Step)
		delete(m.rechecks, ev.Step)
	case engine.EventPlan:
		if ev.Plan != nil {
			p := *ev.Plan
			s.Plan = &p
		}
	case engine.EventCheck:
		if ev.Check != nil {
			if ev.Phase == "post" {
				s.PostChecks = append(s.PostChecks, *ev.Check)
			} else {
				s.PreChecks = append(s.PreChecks, *ev.Check)
			}
		}
	case engine.EventProgress:
		if ev.Progress != nil {
			p := m.prog[ev.Step]
			if p == nil {
				p = &progressState{startAt: ev.Time, startDone: ev.Progress.Done}
				m.prog[ev.Step] = p
			}
			p.done, p.total, p.unit, p.last = ev.Progress.Done, ev.Progress.Total, ev.Progress.Unit, ev.Time
		}
	case engine.EventWaiting:
		s.Status = engine.StatusWaiting
		if ev.WaitUntil != nil {
			s.WaitUntil = *ev.WaitUntil
		}
		s.WaitReason = ev.Message
	case engine.EventDone:
		s.Status = engine.StatusDone
	case engine.EventFailed:
		s.Status = engine.StatusFailed
		s.Error = ev.Error
	case engine.EventSkipped:
		s.Status = engine.StatusSkipped
	case engine.EventRolledBack:
		s.Status = engine.StatusRolledBack
	}
	m.renderDetail()
}

func (m *Model) index(id string) int {
	for i, s := range m.steps {
		if s.ID == id {
			return i
		}
	}
	return -1
}

func (m *Model) selected() (StepInfo, bool) {
	if m.sel < 0 || m.sel >= len(m.steps) {
		return StepInfo{}, false
	}
	return m.steps[m.sel], true
}

// ResumeCommand is what the caller prints after the program ends.
func (m *Model) ResumeCommand() string { return m.opts.ResumeCommand }

func (m *Model) setNotice(s string, isErr bool) {
	m.notice, m.noticeIsErr = s, isErr
	m.renderDetail()
}

func (m *Model) appendLog(line string) {
	if line == "" {
		return
	}
	m.log = append(m.log, strings.Split(line, "\n")...)
	if over := len(m.log) - m.opts.LogLines; over > 0 {
		m.log = m.log[over:]
	}
	atBottom := m.logView.AtBottom() || m.logView.TotalLineCount() <= m.logView.Height
	m.logView.SetContent(m.renderLogLines())
	if atBottom {
		m.logView.GotoBottom()
	}
}

func (m *Model) renderLogLines() string {
	w := m.logView.Width
	out := make([]string, len(m.log))
	for i, l := range m.log {
		out[i] = truncate(l, w)
	}
	return strings.Join(out, "\n")
}

func (m *Model) formatEvent(ev engine.Event) string {
	ts := ev.Time.Local().Format("15:04:05")
	prefix := ts + " " + ev.Step
	switch ev.Kind {
	case engine.EventStepStarted:
		return prefix + ": started"
	case engine.EventPlan:
		if ev.Plan == nil {
			return ""
		}
		return fmt.Sprintf("%s: plan: %d to change, %d already in place", prefix, ev.Plan.Pending(), len(ev.Plan.Changes)+max(ev.Plan.Omitted, 0)-ev.Plan.Pending())
	case engine.EventCheck:
		if ev.Check == nil {
			return ""
		}
		return fmt.Sprintf("%s: %s-check %s: %s %s", prefix, ev.Phase, ev.Check.Name, ev.Check.Status, ev.Check.Message)
	case engine.EventProgress:
		return ""
	case engine.EventAttempt:
		return fmt.Sprintf("%s: attempt %d failed, retrying: %s", prefix, ev.Attempt, ev.Error)
	case engine.EventWaiting:
		if ev.WaitUntil != nil {
			return fmt.Sprintf("%s: waiting until %s: %s", prefix, ev.WaitUntil.Local().Format("15:04:05"), ev.Message)
		}
		return prefix + ": waiting: " + ev.Message
	case engine.EventFailed:
		return prefix + ": FAILED: " + ev.Error
	case engine.EventDone, engine.EventSkipped, engine.EventRolledBack, engine.EventApproval:
		msg := strings.ReplaceAll(string(ev.Kind), "_", " ")
		if ev.Message != "" {
			msg += ": " + ev.Message
		}
		return prefix + ": " + msg
	default:
		if ev.Message == "" {
			return ""
		}
		return prefix + ": " + ev.Message
	}
}
