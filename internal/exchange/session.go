package exchange

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// PipelineRunner runs one pipeline of commands with typed parameters on
// the Exchange endpoint, with the values of input (nil: none) streamed
// into it. *Session is one; tests use a fake.
type PipelineRunner interface {
	Run(ctx context.Context, pl psrp.Pipeline, input []psrp.Value) (*psrp.Result, error)
}

// Pool is an open runspace pool: *psrp.Pool is one.
type Pool interface {
	Run(ctx context.Context, pl psrp.Pipeline, input []psrp.Value) (*psrp.Result, error)
	Close(ctx context.Context) error
}

// Dialer opens a runspace pool on the Exchange endpoint.
type Dialer func(ctx context.Context) (Pool, error)

// WSManDialer opens pools over internal/wsman with cfg (Endpoint is the
// /PowerShell/ URL); maxRunspaces pipelines may run at once.
func WSManDialer(cfg wsman.Config, maxRunspaces int) Dialer {
	return func(ctx context.Context) (Pool, error) {
		t, err := wsman.New(cfg)
		if err != nil {
			return nil, err
		}
		p, err := psrp.Open(ctx, t, psrp.PoolOptions{MaxRunspaces: maxRunspaces})
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// viewEntireForest is run once in every new session, so recipient
// cmdlets see every domain of the forest (it lasts for the session).
var viewEntireForest = psrp.Pipeline{Commands: []psrp.Command{
	{Name: "Set-ADServerSettings", Params: []psrp.Parameter{{Name: "ViewEntireForest", Value: true, Bool: true}}},
}}

// Session is the one PSRP session of a run: the pool is opened on first
// use, Set-ADServerSettings -ViewEntireForest $true runs in it once, and
// every operation's pipelines run in it. A pipeline that finds the pool
// broken fails with a transient error (so the engine retries the phase,
// every operation being idempotent) and the next pipeline reopens the
// pool, at most MaxReopens times per Session.
type Session struct {
	dial Dialer
	// MaxReopens bounds the reopens after broken sessions (default 10).
	MaxReopens int
	// OnOpen, when set, is told of every open (reopen true after a break,
	// with the error that broke the previous pool).
	OnOpen func(reopen bool, cause error)

	mu      sync.Mutex
	pool    Pool
	opens   int
	broken  error
	closed  bool
	opening chan struct{} // closed when an open in progress ends
}

// NewSession returns a Session that opens its pool with dial.
func NewSession(dial Dialer) *Session { return &Session{dial: dial, MaxReopens: 10} }

// Opens reports how many pools the session has opened.
func (s *Session) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// get returns the open pool, opening it (once, for concurrent callers)
// when there is none.
func (s *Session) get(ctx context.Context) (Pool, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errors.New("exchange: the session is closed")
		}
		if s.pool != nil {
			p := s.pool
			s.mu.Unlock()
			return p, nil
		}
		if w := s.opening; w != nil {
			s.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if s.opens > s.MaxReopens && s.broken != nil {
			cause := s.broken
			s.mu.Unlock()
			return nil, fmt.Errorf("exchange: the PowerShell session broke %d times, giving up (last: %v)", s.opens, cause)
		}
		reopen, cause := s.opens > 0, s.broken
		w := make(chan struct{})
		s.opening = w
		s.mu.Unlock()

		p, err := s.open(ctx)

		s.mu.Lock()
		s.opening = nil
		close(w)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.opens++
		s.pool = p
		s.mu.Unlock()
		if s.OnOpen != nil {
			s.OnOpen(reopen, cause)
		}
		return p, nil
	}
}

func (s *Session) open(ctx context.Context) (Pool, error) {
	p, err := s.dial(ctx)
	if err != nil {
		return nil, &dialError{fmt.Errorf("exchange: open the PowerShell session: %w", err)}
	}
	res, err := p.Run(ctx, viewEntireForest, nil)
	if err == nil && len(res.Errors) > 0 {
		err = res.Errors[0]
	}
	if err != nil {
		_ = p.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("exchange: %s: %w", viewEntireForest, err)
	}
	return p, nil
}

// Run runs pl in the session's pool.
func (s *Session) Run(ctx context.Context, pl psrp.Pipeline, input []psrp.Value) (*psrp.Result, error) {
	p, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	res, err := p.Run(ctx, pl, input)
	if err != nil && errors.Is(err, psrp.ErrBroken) {
		s.mu.Lock()
		if s.pool == p {
			s.pool = nil
			s.broken = err
		}
		s.mu.Unlock()
		_ = p.Close(context.WithoutCancel(ctx))
		return res, errkind.Transient(err)
	}
	return res, err
}

// Close closes the pool (the server's session ends with it).
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	p := s.pool
	s.pool = nil
	s.closed = true
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Close(ctx)
}

// dialError is a failure to open the PowerShell session (WS-Management
// Create and the runspace pool's opening, sign-in included). The transport
// has already retried what is safe to retry there, so a read does not
// retry it again on top (retryRead): nested retries would multiply into
// minutes before an unreachable KDC or endpoint is reported. It keeps the
// error's kind: a transient one is still retried by the engine.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }
