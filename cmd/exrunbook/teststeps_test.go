package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/steps"
)

// Test-only step kinds, registered in the default registry so that the
// real CLI code path binds them from a --runbook file. They change a value
// in testOrg, an in-memory stand-in for the organisation.
func init() {
	for _, k := range []string{"test-set", "test-hold", "test-wait", "test-fail", "test-gated"} {
		kind := k
		steps.Register(kind, func(id string, with map[string]any, deps *steps.Deps) (engine.Step, error) {
			if deps == nil || deps.Config == nil {
				return nil, errors.New("no config in deps")
			}
			if v, ok := with["bad"]; ok {
				return nil, fmt.Errorf("parameter bad: %v is not accepted", v)
			}
			return &testStep{id: id, kind: kind}, nil
		})
	}
}

var testOrg = struct {
	sync.Mutex
	values map[string]string
	// hold: test-hold's Apply signals started and waits for release.
	started chan struct{}
	release chan struct{}
}{values: map[string]string{}}

func resetTestOrg() {
	testOrg.Lock()
	defer testOrg.Unlock()
	testOrg.values = map[string]string{}
	testOrg.started = make(chan struct{}, 1)
	testOrg.release = make(chan struct{})
}

func orgValue(id string) string {
	testOrg.Lock()
	defer testOrg.Unlock()
	return testOrg.values[id]
}

func setOrgValue(id, v string) {
	testOrg.Lock()
	defer testOrg.Unlock()
	testOrg.values[id] = v
}

type testStep struct{ id, kind string }

type testSnap struct {
	Value string `json:"value"`
}

func (s *testStep) Capture(ctx context.Context, env engine.Env) (engine.Snapshot, error) {
	return json.Marshal(testSnap{orgValue(s.id)})
}

func (s *testStep) Plan(ctx context.Context, env engine.Env, snap engine.Snapshot) (engine.Plan, error) {
	return engine.Plan{Summary: "set " + s.id, Changes: []engine.Change{{Target: s.id, Field: "Value", From: orgValue(s.id), To: "on"}}}, nil
}

func (s *testStep) PreChecks(env engine.Env, snap engine.Snapshot) []engine.Check {
	if s.kind == "test-gated" {
		return []engine.Check{gateCheck{}}
	}
	return nil
}

// gateCheck (test-gated's pre-check) passes when testOrg's "gate" is "open".
type gateCheck struct{}

func (gateCheck) Name() string { return "gate" }

func (gateCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	if orgValue("gate") == "open" {
		return engine.CheckResult{Name: "gate", Status: engine.CheckPass, Message: "open"}
	}
	return engine.CheckResult{Name: "gate", Status: engine.CheckFail, Message: "the gate is closed"}
}

func (s *testStep) Apply(ctx context.Context, env engine.Env, snap engine.Snapshot) (engine.Outcome, error) {
	switch s.kind {
	case "test-fail":
		return engine.Outcome{}, errors.New("the server said no")
	case "test-wait":
		if orgValue(s.id) == "" {
			setOrgValue(s.id, "on")
		}
		return engine.Outcome{WaitUntil: env.Now().Add(time.Hour), Reason: "caches expire"}, nil
	case "test-hold":
		testOrg.Lock()
		started, release := testOrg.started, testOrg.release
		testOrg.Unlock()
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
			return engine.Outcome{}, ctx.Err()
		}
	}
	setOrgValue(s.id, "on")
	return engine.Outcome{}, nil
}

func (s *testStep) PostChecks(env engine.Env, snap engine.Snapshot) []engine.Check {
	return []engine.Check{valueCheck{s.id}}
}

func (s *testStep) Rollback(ctx context.Context, env engine.Env, snap engine.Snapshot) error {
	var v testSnap
	if err := json.Unmarshal(snap, &v); err != nil {
		return err
	}
	setOrgValue(s.id, v.Value)
	return nil
}

// valueCheck passes when the step's value is "on".
type valueCheck struct{ id string }

func (c valueCheck) Name() string { return "value of " + c.id }

func (c valueCheck) Run(ctx context.Context, env engine.Env) engine.CheckResult {
	v := orgValue(c.id)
	if v == "on" {
		return engine.CheckResult{Name: c.Name(), Status: engine.CheckPass, Message: "on"}
	}
	return engine.CheckResult{Name: c.Name(), Status: engine.CheckFail, Message: fmt.Sprintf("value is %q, want on", v), Evidence: []string{"value=" + v}}
}
