// Package pause is the context-aware sleep of every retry and poll loop
// in the orchestrator and its clients: wait for a duration unless the
// context ends first. It sits at the bottom of the stack, importing
// nothing of the module, so that transport packages (wsman, the DNS
// clients) and the engine share one. The simulated lab keeps its own
// copy, since it imports none of the orchestrator's packages.
package pause

import (
	"context"
	"time"
)

// For waits d, or until ctx ends, and then returns ctx's error (nil when
// the whole wait passed). A d of zero or less does not wait: it returns
// ctx's error at once.
func For(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
