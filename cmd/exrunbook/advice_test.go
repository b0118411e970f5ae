package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"
)

func TestWithFlagAdvice(t *testing.T) {
	missing := &errkind.SafetyError{Limit: "allow-group", Override: errkind.OverrideAllowEmptyGroup, Detail: "the allow group \"G\" does not exist; create the group or fix the name"}
	tooMany := &errkind.SafetyError{Limit: "max-changes", Override: errkind.OverrideMaxChanges, Detail: "60 mailboxes would change, more than the limit of 50; check the group"}
	noFile := &config.Error{NoFile: "exrunbook.yaml", Problems: []config.Problem{{Message: "no config file exrunbook.yaml in the current directory"}, {Key: "exchange.endpoint", Message: "missing"}}}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"plain error", errors.New("boom"), "boom"},
		{"missing allow group in a step", fmt.Errorf("step block-mailboxes: %w", missing),
			"step block-mailboxes: refused by safety limit allow-group: the allow group \"G\" does not exist; create the group or fix the name, or pass --allow-empty-group"},
		{"more than max changes", tooMany,
			"refused by safety limit max-changes: 60 mailboxes would change, more than the limit of 50; check the group, then rerun with a higher --max-changes"},
		{"advice goes after the refusal, not at the end", errors.Join(tooMany, errors.New("writing the report: EPIPE")),
			"refused by safety limit max-changes: 60 mailboxes would change, more than the limit of 50; check the group, then rerun with a higher --max-changes\nwriting the report: EPIPE"},
		{"a limit no flag lifts", &errkind.SafetyError{Limit: "other", Detail: "d"}, "refused by safety limit other: d"},
		{"forcible refusal", &engine.RefusedError{Rule: "later-step-applied", Detail: "roll back b first", Forcible: true},
			"refused (later-step-applied): roll back b first, or pass --force"},
		{"refusal nothing forces", &engine.RefusedError{Rule: "nothing-to-roll-back", Detail: "step a is pending"},
			"refused (nothing-to-roll-back): step a is pending"},
		{"approval needed", &engine.ApprovalNeededError{Step: "dns"},
			"step dns needs approval: rerun with --yes to approve it, or run interactively"},
		{"approval declined", &engine.ApprovalNeededError{Step: "dns", Declined: true},
			"step dns was not approved; nothing was changed by it"},
		{"changed config", &state.ChangedError{What: "config", Dir: ".exrunbook"},
			"the config changed since the run in .exrunbook began; refusing to resume with different settings (rerun with --accept-changed-config to continue with the new config)"},
		{"no config file", noFile,
			"invalid configuration (2 problems):\n  no config file exrunbook.yaml in the current directory (give one with --config FILE)\n  exchange.endpoint: missing"},
		{"config named with --config", &config.Error{Problems: []config.Problem{{Key: "exchange.endpoint", Message: "missing"}}},
			"invalid configuration: exchange.endpoint: missing"},
		{"unreadable lock", &state.UnreadableLockError{Err: errors.New("lock file .exrunbook/lock: unexpected end of JSON input")},
			"lock file .exrunbook/lock: unexpected end of JSON input (use --force to remove it anyway)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := withFlagAdvice(c.err, c.err.Error()); got != c.want {
				t.Errorf("withFlagAdvice =\n%s\nwant\n%s", got, c.want)
			}
		})
	}
}
