package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/exrunbook/exrunbook/internal/state"
)

// stepEnv is the Env a step sees. A read-only env (plan) refuses
// SetOutput and sends events to the sink only.
type stepEnv struct {
	e        *Engine
	step     string
	readOnly bool
}

func (e *Engine) env(id string, readOnly bool) Env {
	return &stepEnv{e: e, step: id, readOnly: readOnly || e.opts.ReadOnly}
}

func (v *stepEnv) Now() time.Time { return v.e.clock.Now() }

func (v *stepEnv) Logf(format string, args ...any) {
	v.e.emit(Event{Kind: EventLog, Step: v.step, Level: "info", Message: fmt.Sprintf(format, args...)}, v.readOnly)
}

func (v *stepEnv) Progress(done, total int, unit string) {
	v.e.emit(Event{Kind: EventProgress, Step: v.step, Progress: &Progress{Done: done, Total: total, Unit: unit}}, v.readOnly)
}

func (v *stepEnv) SetOutput(key string, val any) error {
	if v.readOnly {
		return fmt.Errorf("step %s: SetOutput(%q) during a read-only operation (plan)", v.step, key)
	}
	b, err := json.Marshal(val)
	if err != nil {
		return fmt.Errorf("step %s: output %s: %w", v.step, key, err)
	}
	if err := v.e.update(v.step, func(s *state.Step) {
		if s.Outputs == nil {
			s.Outputs = map[string]json.RawMessage{}
		}
		s.Outputs[key] = b
	}); err != nil {
		return err
	}
	// The value itself lives in the state file; the journal records that
	// it was set.
	v.e.journalf("output_set", v.step, map[string]any{"key": key})
	return nil
}

func (v *stepEnv) Output(stepID, key string, out any) (bool, error) {
	v.e.mu.Lock()
	s, ok := v.e.recs[stepID]
	var raw json.RawMessage
	if ok {
		raw, ok = s.Outputs[key]
	}
	v.e.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return true, fmt.Errorf("output %s of step %s: %w", key, stepID, err)
	}
	return true, nil
}
