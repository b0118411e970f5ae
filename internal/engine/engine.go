package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"
)

// Engine runs one runbook against one state directory. Open it, call its
// operations, and Close it. Run, RunStep, Rollback, RollbackAll and
// Checks are serialised (one at a time); Status, StepState, Steps,
// OverrideWait and Skip may be called concurrently from another goroutine
// (e.g. the TUI) while a Run is in progress.
type Engine struct {
	opts  Options
	clock Clock
	retry RetryPolicy
	steps []StepDef
	index map[string]int

	mu      sync.Mutex // guards st, recs, waiters
	st      *state.File
	recs    map[string]*state.Step
	waiters map[string]context.CancelFunc

	journal *state.Journal
	lock    *state.Lock

	busy   sync.Mutex // one operation at a time
	closed bool

	rndMu sync.Mutex
	rnd   *rand.Rand
}

// Open loads (or creates) the state for opts.Runbook in opts.StateDir. A
// writable engine takes the lock (*state.LockedError when held), refuses a
// changed runbook or config (*state.ChangedError) unless AcceptChanged,
// and reports a corrupt state file (*state.CorruptError) without touching
// it. A ReadOnly engine only reads: with no state, every step is pending.
func Open(ctx context.Context, opts Options) (*Engine, error) {
	if err := ctx.Err(); err != nil {
		return nil, &InterruptedError{}
	}
	if opts.StateDir == "" {
		return nil, errkind.Usagef("no state directory given")
	}
	e := &Engine{opts: opts, clock: opts.Clock, retry: opts.Retry, steps: opts.Runbook.Steps,
		index: map[string]int{}, waiters: map[string]context.CancelFunc{},
		rnd: newRand()}
	if e.clock == nil {
		e.clock = SystemClock()
	}
	if e.retry.Attempts <= 0 {
		e.retry.Attempts = DefaultRetry.Attempts
	}
	if e.retry.Base <= 0 {
		e.retry.Base = DefaultRetry.Base
	}
	if e.retry.Max <= 0 {
		e.retry.Max = DefaultRetry.Max
	}
	for i, d := range e.steps {
		if d.ID == "" {
			return nil, errkind.Usagef("runbook %s: step #%d has no id", opts.Runbook.Name, i+1)
		}
		if _, dup := e.index[d.ID]; dup {
			return nil, errkind.Usagef("runbook %s: step id %s appears twice", opts.Runbook.Name, d.ID)
		}
		if d.Step == nil {
			return nil, errkind.Usagef("runbook %s: step %s has no implementation", opts.Runbook.Name, d.ID)
		}
		e.index[d.ID] = i
	}
	if opts.ReadOnly {
		f, err := state.Load(opts.StateDir)
		if err != nil {
			return nil, err
		}
		if f == nil {
			f = e.newFile()
		}
		e.adopt(f)
		return e, nil
	}
	if err := state.EnsureDir(opts.StateDir); err != nil {
		return nil, err
	}
	op := opts.Operation
	if op == "" {
		op = "run"
	}
	lk, err := state.Acquire(opts.StateDir, op)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Engine, error) {
		if e.journal != nil {
			e.journal.Close()
		}
		lk.Release()
		return nil, err
	}
	e.lock = lk
	j, err := state.OpenJournal(opts.StateDir)
	if err != nil {
		return fail(err)
	}
	e.journal = j
	f, err := state.Load(opts.StateDir)
	if err != nil {
		return fail(err)
	}
	created := false
	if f == nil {
		f = e.newFile()
		created = true
	} else if ce := state.CheckHashes(opts.StateDir, f, opts.RunbookHash, opts.ConfigHash); ce != nil {
		if !opts.AcceptChanged {
			e.journalf("changed_refused", "", map[string]any{"what": ce.What, "operation": op})
			return fail(ce)
		}
		e.journalf("changed_accepted", "", map[string]any{"what": ce.What,
			"old_runbook_hash": ce.OldRunbookHash, "new_runbook_hash": ce.NewRunbookHash,
			"old_config_hash": ce.OldConfigHash, "new_config_hash": ce.NewConfigHash})
		f.RunbookHash, f.ConfigHash = opts.RunbookHash, opts.ConfigHash
	}
	e.adopt(f)
	if created {
		e.journalf("state_created", "", map[string]any{"runbook": opts.Runbook.Name})
	}
	e.journalf("open", "", map[string]any{"operation": op})
	if err := e.saveLocked(); err != nil {
		return fail(err)
	}
	return e, nil
}

func newRand() *rand.Rand {
	return rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x5eed))
}

func (e *Engine) newFile() *state.File {
	now := e.clock.Now().UTC()
	return &state.File{Version: state.Version, Runbook: e.opts.Runbook.Name,
		RunbookHash: e.opts.RunbookHash, ConfigHash: e.opts.ConfigHash, CreatedAt: now, UpdatedAt: now}
}

// adopt orders f's step records by the runbook, adds missing ones as
// pending, and keeps records of steps no longer in the runbook at the end
// (their snapshots are history worth keeping).
func (e *Engine) adopt(f *state.File) {
	old := map[string]state.Step{}
	for _, s := range f.Steps {
		old[s.ID] = s
	}
	steps := make([]state.Step, 0, len(e.steps)+len(f.Steps))
	for _, d := range e.steps {
		if s, ok := old[d.ID]; ok {
			steps = append(steps, s)
			delete(old, d.ID)
		} else {
			steps = append(steps, state.Step{ID: d.ID, Status: string(StatusPending)})
		}
	}
	for _, s := range f.Steps {
		if _, ok := old[s.ID]; ok {
			steps = append(steps, s)
		}
	}
	f.Steps = steps
	e.st = f
	e.recs = map[string]*state.Step{}
	for i := range f.Steps {
		e.recs[f.Steps[i].ID] = &f.Steps[i]
	}
}

// Close releases the lock and closes the journal. It is safe to call twice.
// It waits for a Run, Rollback or Checks in progress to return: cancel
// its context first.
func (e *Engine) Close() error {
	if !e.opts.ReadOnly {
		e.busy.Lock()
		defer e.busy.Unlock()
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	if e.opts.ReadOnly {
		return nil
	}
	e.journalf("close", "", nil)
	jerr := e.journal.Close()
	lerr := e.lock.Release()
	return errors.Join(jerr, lerr)
}

// Steps returns the runbook's steps in order.
func (e *Engine) Steps() []StepDef {
	return append([]StepDef(nil), e.steps...)
}

// Status reports every runbook step (the `status --output json` shape).
func (e *Engine) Status() Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := Report{Runbook: e.opts.Runbook.Name, Complete: true, Steps: []StepReport{}}
	for _, d := range e.steps {
		s := e.recs[d.ID]
		st := Status(s.Status)
		if st != StatusDone && st != StatusSkipped {
			r.Complete = false
		}
		if st == StatusWaiting && s.WaitUntil != nil && r.WaitingUntil == nil {
			t := s.WaitUntil.UTC()
			r.WaitingUntil = &t
		}
		r.Steps = append(r.Steps, StepReport{ID: d.ID, Status: st, StartedAt: utcPtr(s.StartedAt),
			FinishedAt: utcPtr(s.FinishedAt), Attempts: s.Attempts, Error: s.LastError})
	}
	return r
}

// StepState is the rich view of one step, or false for an unknown id.
func (e *Engine) StepState(id string) (StepView, bool) {
	i, ok := e.index[id]
	if !ok {
		return StepView{}, false
	}
	d := e.steps[i]
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.recs[id]
	v := StepView{ID: id, Kind: d.Kind, Title: d.Title, Approval: d.Approval, Status: Status(s.Status),
		Phase: s.Phase, WaitUntil: utcPtr(s.WaitUntil), WaitReason: s.WaitReason, LastError: s.LastError,
		Attempts: s.Attempts, StartedAt: utcPtr(s.StartedAt), FinishedAt: utcPtr(s.FinishedAt),
		HasSnapshot: s.Snapshot != nil, SkipReason: s.SkipReason}
	if v.Approval == "" {
		v.Approval = "required"
	}
	if s.Plan != nil {
		var p Plan
		if json.Unmarshal(s.Plan, &p) == nil {
			v.Plan = &p
		}
	}
	if s.PreChecks != nil {
		_ = json.Unmarshal(s.PreChecks, &v.PreChecks)
	}
	if s.PostChecks != nil {
		_ = json.Unmarshal(s.PostChecks, &v.PostChecks)
	}
	if len(s.Outputs) > 0 {
		v.Outputs = map[string]json.RawMessage{}
		for k, o := range s.Outputs {
			v.Outputs[k] = append(json.RawMessage(nil), o...)
		}
	}
	return v, true
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// --- persistence, journal and events ---

// saveLocked writes the state; e.mu must be held (or the engine not yet shared).
func (e *Engine) saveLocked() error {
	if e.opts.ReadOnly {
		return errReadOnly
	}
	e.st.UpdatedAt = e.clock.Now().UTC()
	if err := state.Save(e.opts.StateDir, e.st); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

var errReadOnly = errors.New("the engine was opened read-only")

// update applies fn to a step's record, journals a status change, and
// saves the state before returning.
func (e *Engine) update(id string, fn func(s *state.Step)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.recs[id]
	from := s.Status
	fn(s)
	if s.Status != from {
		e.journalf("status", id, map[string]any{"from": from, "to": s.Status})
	}
	return e.saveLocked()
}

// view returns a copy of a step's record.
func (e *Engine) view(id string) state.Step {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *e.recs[id]
}

func (e *Engine) status(id string) Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status(e.recs[id].Status)
}

func (e *Engine) journalf(kind, step string, details map[string]any) {
	if e.journal == nil {
		return
	}
	var d any
	if len(details) > 0 {
		d = details
	}
	// A journal write error must not hide the operation's own outcome;
	// the state file remains the source of truth.
	_ = e.journal.Append(state.Entry{Time: e.clock.Now(), Kind: kind, Step: step, Details: d})
}

// eventDetails is an Event without the fields the journal entry has.
type eventDetails struct {
	Phase     string       `json:"phase,omitempty"`
	Level     string       `json:"level,omitempty"`
	Message   string       `json:"message,omitempty"`
	Plan      *Plan        `json:"plan,omitempty"`
	Check     *CheckResult `json:"check,omitempty"`
	Progress  *Progress    `json:"progress,omitempty"`
	WaitUntil *time.Time   `json:"wait_until,omitempty"`
	Attempt   int          `json:"attempt,omitempty"`
	Error     string       `json:"error,omitempty"`
}

// emit sends ev to the sink and, unless sinkOnly, to the journal.
func (e *Engine) emit(ev Event, sinkOnly bool) {
	if ev.Time.IsZero() {
		ev.Time = e.clock.Now()
	}
	if e.opts.Sink != nil {
		e.opts.Sink.Emit(ev)
	}
	if sinkOnly || e.journal == nil {
		return
	}
	_ = e.journal.Append(state.Entry{Time: ev.Time, Kind: string(ev.Kind), Step: ev.Step,
		Details: eventDetails{Phase: ev.Phase, Level: ev.Level, Message: ev.Message, Plan: ev.Plan,
			Check: ev.Check, Progress: ev.Progress, WaitUntil: ev.WaitUntil, Attempt: ev.Attempt, Error: ev.Error}})
}

func (e *Engine) begin() error {
	if e.opts.ReadOnly {
		return errkind.Usagef("this operation needs a writable engine (it was opened read-only)")
	}
	e.busy.Lock()
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		e.busy.Unlock()
		return errors.New("engine is closed")
	}
	if err := e.lock.Lost(); err != nil {
		e.busy.Unlock()
		return err
	}
	return nil
}

func (e *Engine) end() { e.busy.Unlock() }

func (e *Engine) lookup(id string) (int, error) {
	i, ok := e.index[id]
	if !ok {
		ids := make([]string, len(e.steps))
		for k, d := range e.steps {
			ids[k] = d.ID
		}
		return 0, errkind.Usagef("unknown step %q (the runbook %s has: %v)", id, e.opts.Runbook.Name, ids)
	}
	return i, nil
}
