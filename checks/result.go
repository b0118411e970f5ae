package checks

import "time"

// nameOr is a check's name: the one the caller set, else the check's own.
func nameOr(set, own string) string {
	if set != "" {
		return set
	}
	return own
}

// clock is the run's time: the environment's clock when the check runs in
// one, else the wall clock.
func clock(env interface{ Now() time.Time }) time.Time {
	if env != nil {
		return env.Now()
	}
	return time.Now()
}
