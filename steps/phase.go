package steps

import (
	"context"
	"crypto/sha256"
	"sort"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

// Issue 4's launch budget: every phase of a step (capture, each apply
// batch, verify) is one PowerShell launch. The helpers here let a step
// keep to it: capturedRead hands the capture's read to the pre-checks
// that follow it, sharedRead makes all checks of one phase share one
// read, and the Deps server cache can be filled by a capture script that
// resolved the servers itself.

// capturedRead holds what Capture read in this process, for the
// pre-checks the engine runs right after it on the same snapshot. It is
// taken once: a later call (a rerun with the stored snapshot, or a resume
// in another process) finds nothing and the pre-check reads again, so it
// never judges data older than the run.
type capturedRead[T any] struct {
	mu  sync.Mutex
	key [sha256.Size]byte
	val T
	ok  bool
}

// put remembers v as the read behind snap.
func (c *capturedRead[T]) put(snap []byte, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key, c.val, c.ok = sha256.Sum256(snap), v, true
}

// take returns the read behind snap, if it is the one remembered, and
// forgets it either way.
func (c *capturedRead[T]) take(snap []byte) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.val, c.ok && c.key == sha256.Sum256(snap)
	var zero T
	c.val, c.ok = zero, false
	return v, ok
}

// sharedRead runs read at most once, for every check of one phase that
// needs it; a failed read is shared too (each check reports it).
// A read that failed with a transient error is made again by the next
// get (the engine retries such a check), so that one dropped connection
// does not stick to every check of the phase.
type sharedRead[T any] struct {
	read func(ctx context.Context) (T, error)
	mu   sync.Mutex
	done bool
	val  T
	err  error
}

func (r *sharedRead[T]) get(ctx context.Context) (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done || errkind.IsTransient(r.err) {
		r.val, r.err = r.read(ctx)
		r.done = true
	}
	return r.val, r.err
}

// knownServers returns the servers in scope when this run has resolved
// them already.
func (d *Deps) knownServers() ([]exchange.Server, bool) {
	d.run.mu.Lock()
	defer d.run.mu.Unlock()
	return d.run.servers, d.run.servers != nil
}

// rememberServers records servers that a step's own script resolved (as
// Deps.Servers would have, sorted the same way), so that no later step of
// the run launches Get-ExchangeServer again. It returns the sorted list.
func (d *Deps) rememberServers(servers []exchange.Server) []exchange.Server {
	servers = append([]exchange.Server(nil), servers...)
	sort.Slice(servers, func(i, j int) bool { return strings.ToLower(servers[i].Name) < strings.ToLower(servers[j].Name) })
	d.run.mu.Lock()
	defer d.run.mu.Unlock()
	if d.run.servers == nil {
		d.run.servers = servers
	}
	return d.run.servers
}
