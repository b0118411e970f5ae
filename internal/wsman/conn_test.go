package wsman

import (
	"context"
	"net/http"
	"testing"
)

// TestPoolKeepsAConnectionBesideLongPolls: the long polls (Receive) of a
// pool of n may hold n connections, and a request answered at once (a
// pipeline's input Send) still finds one. This is the regression test of
// the stall at exchange.concurrency 1 (a client of two connections): the
// pool-level Receive and the pipeline's Receive held both, the input Send
// waited until one of them timed out, and the pipeline waited for its
// input. A get that must wait is asked with a cancelled context, which
// then is the only ready case: it fails at once instead of blocking.
func TestPoolKeepsAConnectionBesideLongPolls(t *testing.T) {
	for _, n := range []int{1, 2, 5} {
		made := 0
		p := newPool(n, func() (*conn, error) {
			made++
			return &conn{tr: &http.Transport{}}, nil
		})
		ctx := context.Background()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		var polls []*conn
		for i := 0; i < n; i++ {
			c, err := p.get(ctx, true)
			if err != nil {
				t.Fatalf("n=%d: long poll %d: %v", n, i+1, err)
			}
			polls = append(polls, c)
		}
		if _, err := p.get(cancelled, true); err == nil {
			t.Fatalf("n=%d: long poll %d got a connection: the last one must stay free for requests answered at once", n, n+1)
		}
		send, err := p.get(cancelled, false)
		if err != nil {
			// Only the ready slot may be taken: a cancelled context
			// loses to it when it is there (select picks among ready
			// cases), so retry with a live one to tell the two apart.
			send, err = p.get(ctx, false)
		}
		if err != nil {
			t.Fatalf("n=%d: a Send found no connection beside %d long polls: %v", n, n, err)
		}
		if _, err := p.get(cancelled, false); err == nil {
			t.Fatalf("n=%d: a second request got connection %d of %d", n, n+2, n+1)
		}
		p.put(send)
		p.discard(polls[0])
		c, err := p.get(ctx, true)
		if err != nil {
			t.Fatalf("n=%d: a long poll after one ended: %v", n, err)
		}
		if c == polls[0] {
			t.Fatalf("n=%d: a discarded connection came back", n)
		}
		if c != send {
			t.Fatalf("n=%d: the idle connection was not reused", n)
		}
		if made != n+1 {
			t.Fatalf("n=%d: %d connections made, expected %d", n, made, n+1)
		}
		if got := p.size(); got != n+1 {
			t.Fatalf("n=%d: size %d, expected %d", n, got, n+1)
		}
	}
}
