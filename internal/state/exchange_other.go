//go:build !linux

package state

import "errors"

// exchange is not available here; Refresh falls back to check-then-rename.
func exchange(a, b string) error { return errNoExchange }

var errNoExchange = errors.New("atomic exchange is not supported on this system")
