package main

import (
	"errors"
	"strings"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/state"
)

// The packages below the command line report what happened and which
// decision would change it (errkind.SafetyError.Override,
// engine.RefusedError.Forcible, ...); they name no flag, since a flag is
// this layer's word for a decision. Here each decision becomes the flag
// that gives it, in the message the operator reads.

// withFlagAdvice returns msg, err's text, with the flag that acts on each
// kind of error found in err written right after that error's own text.
func withFlagAdvice(err error, msg string) string {
	after := func(text, advice string) {
		if advice == "" {
			return
		}
		if i := strings.Index(msg, text); i >= 0 {
			msg = msg[:i+len(text)] + advice + msg[i+len(text):]
		} else {
			msg += advice
		}
	}
	var (
		safety   *errkind.SafetyError
		refused  *engine.RefusedError
		approval *engine.ApprovalNeededError
		changed  *state.ChangedError
		cfg      *config.Error
		lock     *state.UnreadableLockError
	)
	if errors.As(err, &safety) {
		after(safety.Error(), safetyAdvice(safety))
	}
	if errors.As(err, &refused) && refused.Forcible {
		after(refused.Error(), ", or pass --force")
	}
	if errors.As(err, &approval) && !approval.Declined {
		after(approval.Error(), ": rerun with --yes to approve it, or run interactively")
	}
	if errors.As(err, &changed) {
		after(changed.Error(), " (rerun with --accept-changed-config to continue with the new "+changed.What+")")
	}
	if errors.As(err, &cfg) && cfg.NoFile != "" && len(cfg.Problems) > 0 {
		after(cfg.Problems[0].String(), " (give one with --config FILE)")
	}
	if errors.As(err, &lock) {
		after(lock.Error(), " (use --force to remove it anyway)")
	}
	return msg
}

// safetyAdvice is the flag that lifts a safety limit, as the end of the
// refusal's sentence; "" for a limit no flag lifts.
func safetyAdvice(se *errkind.SafetyError) string {
	switch se.Override {
	case errkind.OverrideAllowEmptyGroup:
		return ", or pass --allow-empty-group"
	case errkind.OverrideMaxChanges:
		return ", then rerun with a higher --max-changes"
	}
	return ""
}
