package checks

import (
	"fmt"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// nameOr is a check's name: the one the caller set, else the check's own.
func nameOr(set, own string) string {
	if set != "" {
		return set
	}
	return own
}

// clock is the run's clock when there is an environment, else the wall clock.
func clock(env engine.Env) time.Time {
	if env != nil {
		return env.Now()
	}
	return time.Now()
}

// failed returns res failed with the message.
func failed(res engine.CheckResult, format string, args ...any) engine.CheckResult {
	res.Status = engine.CheckFail
	res.Message = fmt.Sprintf(format, args...)
	return res
}
