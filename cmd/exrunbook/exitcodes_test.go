package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/state"
	"github.com/exrunbook/exrunbook/internal/wsman"
	"github.com/exrunbook/exrunbook/runbooks"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		name string
		err  error
		code int
	}{
		{"nil", nil, 0},
		{"step failed", &engine.StepFailedError{Step: "x", Err: errors.New("boom")}, 1},
		{"plain error", errors.New("boom"), 1},
		{"usage", errkind.Usagef("unknown flag --x"), 2},
		{"config", &config.Error{Problems: []config.Problem{{Key: "k", Message: "m"}}}, 2},
		{"runbook", &runbooks.Error{Problems: []runbooks.Problem{{File: "f", Line: 1, Message: "m"}}}, 2},
		{"usage wrapped", fmt.Errorf("run: %w", errkind.Usagef("unknown step %q", "x")), 2},
		{"changed", &state.ChangedError{What: "config"}, 2},
		{"corrupt", &state.CorruptError{Path: "p", Err: errors.New("x")}, 2},
		{"version", &state.VersionError{Path: "p", Version: 99}, 2},
		{"locked", &state.LockedError{Path: "p"}, 3},
		{"approval", &engine.ApprovalNeededError{Step: "x"}, 4},
		{"declined", &engine.ApprovalNeededError{Step: "x", Declined: true}, 4},
		{"safety", &errkind.SafetyError{Limit: "max-changes"}, 5},
		{"refused", &engine.RefusedError{Rule: "order"}, 5},
		{"waiting", &engine.WaitingError{Step: "x", Until: time.Now()}, 75},
		{"interrupted", &engine.InterruptedError{Step: "x"}, 130},
		{"context canceled", fmt.Errorf("doing: %w", context.Canceled), 130},
		{"explicit", &exitError{Code: 1, Err: errors.New("check failed")}, 1},
		// Wrapped errors map through errors.As.
		{"wrapped locked", fmt.Errorf("open: %w", &state.LockedError{}), 3},
		{"safety in step failure", &engine.StepFailedError{Step: "b", Err: &errkind.SafetyError{Limit: "empty-group"}}, 5},
		{"joined waiting", errors.Join(errors.New("a"), &engine.WaitingError{}), 75},
		// Kerberos: configuration to fix, except a KDC that did not answer.
		{"kerberos wrong password in a step", &engine.StepFailedError{Step: "b", Err: &wsman.AuthError{Endpoint: "e", Err: &kerberos.Error{Kind: kerberos.KindWrongPassword}}}, 2},
		{"kerberos no ticket", fmt.Errorf("session: %w", &kerberos.Error{Kind: kerberos.KindNoTicket}), 2},
		{"kerberos unknown spn", &wsman.AuthError{Err: &kerberos.Error{Kind: kerberos.KindUnknownSPN}}, 2},
		{"kerberos clock skew", &kerberos.Error{Kind: kerberos.KindClockSkew}, 2},
		{"kerberos KDC unreachable", &engine.StepFailedError{Step: "b", Err: errkind.Transient(&kerberos.Error{Kind: kerberos.KindKDCUnreachable})}, 1},
		{"plain 401", &wsman.AuthError{Endpoint: "e"}, 1},
	}
	for _, c := range cases {
		if got := exitCodeOf(c.err); got != c.code {
			t.Errorf("%s: exitCodeOf = %d, want %d", c.name, got, c.code)
		}
	}
}
