package exchange

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// fakePool counts what ran in it; breakAt breaks it on that pipeline.
type fakePool struct {
	mu      sync.Mutex
	ran     []string
	breakAt int
	closed  bool
	forest  error
}

func (p *fakePool) Run(_ context.Context, pl psrp.Pipeline, _ []psrp.Value) (*psrp.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ran = append(p.ran, pl.String())
	if pl.Commands[0].Name == "Set-ADServerSettings" && p.forest != nil {
		return nil, p.forest
	}
	if p.breakAt > 0 && len(p.ran) == p.breakAt {
		return nil, errkind.Transient(&psrp.BrokenError{Op: "receive", Err: errors.New("connection reset")})
	}
	return &psrp.Result{}, nil
}

func (p *fakePool) Close(context.Context) error { p.closed = true; return nil }

func TestSessionOpensOnceAndSetsForestView(t *testing.T) {
	var pools []*fakePool
	s := NewSession(func(context.Context) (Pool, error) {
		p := &fakePool{}
		pools = append(pools, p)
		return p, nil
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Run(ctx, pipeline(command("Get-OrganizationConfig")), nil); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(pools) != 1 || s.Opens() != 1 {
		t.Fatalf("%d pools opened, want 1", len(pools))
	}
	if got := pools[0].ran[0]; got != "Set-ADServerSettings -ViewEntireForest:$true" {
		t.Fatalf("first pipeline %q, want Set-ADServerSettings -ViewEntireForest:$true", got)
	}
	n := 0
	for _, r := range pools[0].ran {
		if r == "Set-ADServerSettings -ViewEntireForest:$true" {
			n++
		}
	}
	if n != 1 || len(pools[0].ran) != 9 {
		t.Fatalf("ran %q", pools[0].ran)
	}
	if err := s.Close(ctx); err != nil || !pools[0].closed {
		t.Fatalf("close: %v, closed %v", err, pools[0].closed)
	}
	if _, err := s.Run(ctx, pipeline(command("Get-OrganizationConfig")), nil); err == nil {
		t.Fatal("a closed session ran a pipeline")
	}
}

func TestSessionReopensAfterBroken(t *testing.T) {
	var pools []*fakePool
	var reopens []error
	s := NewSession(func(context.Context) (Pool, error) {
		p := &fakePool{}
		if len(pools) == 0 {
			p.breakAt = 3 // forest view, one pipeline, then broken
		}
		pools = append(pools, p)
		return p, nil
	})
	s.OnOpen = func(reopen bool, cause error) {
		if reopen {
			reopens = append(reopens, cause)
		}
	}
	ctx := context.Background()
	pl := pipeline(command("Get-ExchangeServer"))
	if _, err := s.Run(ctx, pl, nil); err != nil {
		t.Fatal(err)
	}
	_, err := s.Run(ctx, pl, nil)
	if !errkind.IsTransient(err) || !errors.Is(err, psrp.ErrBroken) {
		t.Fatalf("broken pool: %v, want a transient ErrBroken", err)
	}
	if !pools[0].closed {
		t.Fatal("the broken pool was not closed")
	}
	if _, err := s.Run(ctx, pl, nil); err != nil {
		t.Fatal(err)
	}
	if len(pools) != 2 || s.Opens() != 2 || len(reopens) != 1 || !errors.Is(reopens[0], psrp.ErrBroken) {
		t.Fatalf("pools %d, opens %d, reopens %v", len(pools), s.Opens(), reopens)
	}
	if pools[1].ran[0] != "Set-ADServerSettings -ViewEntireForest:$true" {
		t.Fatalf("the reopened session did not set the forest view first: %q", pools[1].ran)
	}
}

func TestSessionGivesUpAfterMaxReopens(t *testing.T) {
	opens := 0
	s := NewSession(func(context.Context) (Pool, error) {
		opens++
		return &fakePool{breakAt: 2}, nil
	})
	s.MaxReopens = 1
	ctx := context.Background()
	pl := pipeline(command("Get-ExchangeServer"))
	for i := 0; i < 2; i++ {
		if _, err := s.Run(ctx, pl, nil); !errors.Is(err, psrp.ErrBroken) {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	_, err := s.Run(ctx, pl, nil)
	if err == nil || errkind.IsTransient(err) || opens != 2 {
		t.Fatalf("after %d opens: %v, want a permanent error", opens, err)
	}
}

func TestSessionForestViewFailureFailsOpen(t *testing.T) {
	p := &fakePool{forest: &psrp.ErrorRecord{Message: "The term 'Set-ADServerSettings' is not recognized"}}
	s := NewSession(func(context.Context) (Pool, error) { return p, nil })
	_, err := s.Run(context.Background(), pipeline(command("Get-Mailbox")), nil)
	if err == nil || !p.closed {
		t.Fatalf("err %v, closed %v", err, p.closed)
	}
	if want := "Set-ADServerSettings -ViewEntireForest:$true"; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "not recognized") {
		t.Fatalf("error %q does not name the command and the server's words", err)
	}
}

// A session that cannot be opened is reported after the transport's own
// retries, not retried again by every read on top (which multiplied an
// unreachable KDC into minutes); it stays transient for the engine.
func TestReadDoesNotRetryASessionThatCannotOpen(t *testing.T) {
	dials := 0
	s := NewSession(func(context.Context) (Pool, error) {
		dials++
		return nil, errkind.Transient(errors.New("kerberos: KDC unreachable"))
	})
	c := New(s)
	_, err := c.GetCASMailboxes(context.Background(), []string{"UserMailbox"})
	if err == nil || !strings.Contains(err.Error(), "KDC unreachable") {
		t.Fatalf("read: %v; want the open failure", err)
	}
	if !errkind.IsTransient(err) {
		t.Errorf("the open failure lost its transient kind: %v", err)
	}
	if dials != 1 {
		t.Errorf("%d dials for one read; want 1 (the transport retries its own opening)", dials)
	}
}
