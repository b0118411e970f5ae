package allowlist

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

// parallelWriter is a Writer whose batches block until released, so that
// a test decides the order in which they complete. Batches are named by
// their first GUID's index.
type parallelWriter struct {
	mu       sync.Mutex
	inFlight int
	peak     int
	calls    map[string]int // attempts per batch
	started  chan string
	release  map[string]chan error
	throttle map[string]int // transient failures to give a batch first
}

func newParallelWriter(n int) *parallelWriter {
	w := &parallelWriter{calls: map[string]int{}, started: make(chan string, 64), release: map[string]chan error{}, throttle: map[string]int{}}
	for i := 0; i < n; i++ {
		w.release[guid(i*2+1)] = make(chan error, 8)
	}
	return w
}

func (w *parallelWriter) SetCASMailboxFlags(ctx context.Context, batch []exchange.FlagChange) ([]exchange.ItemResult, error) {
	id := batch[0].Guid
	w.mu.Lock()
	w.inFlight++
	w.peak = max(w.peak, w.inFlight)
	w.calls[id]++
	throttled := w.throttle[id] > 0
	if throttled {
		w.throttle[id]--
	}
	w.mu.Unlock()
	defer func() { w.mu.Lock(); w.inFlight--; w.mu.Unlock() }()
	if throttled {
		return nil, errkind.Transient(errors.New("Fail to create a runspace because you have exceeded the maximum number of connections allowed"))
	}
	w.started <- id
	var err error
	select {
	case err = <-w.release[id]:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	out := make([]exchange.ItemResult, len(batch))
	for i, b := range batch {
		out[i] = exchange.ItemResult{ID: b.Guid, OK: true}
	}
	return out, nil
}

func sixOpenMailboxes() []Change {
	var mbs []exchange.CASMailbox
	for i := 1; i <= 8; i++ {
		mbs = append(mbs, mbx(i, false, false))
	}
	return Compute(mbs, group()).Changes // 8 changes, batches of 2: 4 batches
}

// Batches complete out of order: the concurrency bound holds, every
// mailbox is audited when its batch completes, and the checkpoint moves
// only over the prefix of completed batches.
func TestApplyParallelOutOfOrderCheckpoints(t *testing.T) {
	changes := sixOpenMailboxes()
	w := newParallelWriter(4)
	var mu sync.Mutex
	var checkpoints, progress []int
	var audited []string
	type ret struct {
		res Result
		err error
	}
	done := make(chan ret)
	go func() {
		res, err := Apply(context.Background(), w, changes, Options{BatchSize: 2, Concurrency: 2}, Hooks{
			Checkpoint: func(n int) { mu.Lock(); checkpoints = append(checkpoints, n); mu.Unlock() },
			Progress:   func(d, _ int) { mu.Lock(); progress = append(progress, d); mu.Unlock() },
			Audit:      func(c Change, _ error) { mu.Lock(); audited = append(audited, c.Guid[len(c.Guid)-1:]); mu.Unlock() },
		})
		done <- ret{res, err}
	}()
	a, b := <-w.started, <-w.started
	if fmt.Sprint(map[string]bool{a: true, b: true}) != fmt.Sprint(map[string]bool{guid(1): true, guid(3): true}) {
		t.Fatalf("first two batches started = %s, %s", a, b)
	}
	// The second batch completes first: no checkpoint yet.
	w.release[guid(3)] <- nil
	third := <-w.started // the freed slot takes batch 3
	if third != guid(5) {
		t.Fatalf("third batch = %s", third)
	}
	mu.Lock()
	if len(checkpoints) != 0 || fmt.Sprint(progress) != "[2]" {
		t.Errorf("after batch 2 only: checkpoints=%v progress=%v", checkpoints, progress)
	}
	mu.Unlock()
	w.release[guid(1)] <- nil // now batches 1 and 2 are done: checkpoint 4
	<-w.started               // batch 4 starts
	w.release[guid(7)] <- nil // batch 4 before batch 3: checkpoint stays 4
	for {
		mu.Lock()
		n := len(progress)
		mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	w.release[guid(5)] <- nil // then 8
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if w.peak > 2 {
		t.Errorf("%d batches ran at once, concurrency 2", w.peak)
	}
	if fmt.Sprint(checkpoints) != "[4 8]" || fmt.Sprint(progress) != "[2 4 6 8]" {
		t.Errorf("checkpoints=%v progress=%v", checkpoints, progress)
	}
	if strings.Join(audited, "") != "341278"+"56" {
		t.Errorf("audited in completion order = %v", audited)
	}
	// Result lists the batches in list order, whatever their completion order.
	var got []string
	for _, c := range r.res.Applied {
		got = append(got, c.Guid[len(c.Guid)-1:])
	}
	if strings.Join(got, "") != "12345678" {
		t.Errorf("applied = %v", got)
	}
}

// A throttled batch is retried after a backoff, during which no new batch
// starts; the others complete.
func TestApplyRetriesThrottledBatch(t *testing.T) {
	changes := sixOpenMailboxes()
	w := newParallelWriter(4)
	w.throttle[guid(3)] = 2
	for _, id := range []int{1, 3, 5, 7} {
		w.release[guid(id)] <- nil
	}
	res, err := Apply(context.Background(), w, changes, Options{BatchSize: 2, Concurrency: 4, Retries: 2, Backoff: time.Millisecond}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 8 || w.calls[guid(3)] != 3 || w.calls[guid(1)] != 1 {
		t.Errorf("applied=%d attempts=%v", len(res.Applied), w.calls)
	}
	if w.peak > 4 {
		t.Errorf("peak %d", w.peak)
	}
}

// Past its retries a throttled batch stops Apply with the transient error;
// what completed is returned and the checkpoint marks the resume point.
func TestApplyThrottledPastRetriesStopsAtBatchBoundary(t *testing.T) {
	changes := sixOpenMailboxes()
	w := newParallelWriter(4)
	w.throttle[guid(5)] = 5
	for _, id := range []int{1, 3, 5, 7} {
		w.release[guid(id)] <- nil
	}
	var last int
	res, err := Apply(context.Background(), w, changes, Options{BatchSize: 2, Concurrency: 1, Retries: 1, Backoff: time.Millisecond},
		Hooks{Checkpoint: func(n int) { last = n }})
	if !errkind.IsTransient(err) || !strings.Contains(err.Error(), "exceeded the maximum number of connections") {
		t.Fatalf("err = %v", err)
	}
	if len(res.Applied) != 4 || last != 4 || w.calls[guid(5)] != 2 || w.calls[guid(7)] != 0 {
		t.Fatalf("applied=%d checkpoint=%d attempts=%v", len(res.Applied), last, w.calls)
	}
	// A resumed run (the crash case: the state holds checkpoint 4) writes
	// from the batch boundary on, and Pending agrees with a fresh read.
	now := make([]exchange.CASMailbox, 8)
	for i := range now {
		now[i] = mbx(i+1, i < last, i < last)
	}
	rest := Pending(changes, now)
	if len(rest) != 4 || rest[0].Guid != changes[last].Guid {
		t.Fatalf("pending after the checkpoint = %+v", rest)
	}
}

// A non-transient batch error is not retried: no new batch starts, and
// the error names the cause.
func TestApplyStopsOnPermanentBatchError(t *testing.T) {
	changes := sixOpenMailboxes()
	w := newParallelWriter(4)
	w.release[guid(1)] <- errors.New("access denied")
	res, err := Apply(context.Background(), w, changes, Options{BatchSize: 2, Concurrency: 1, Retries: 3, Backoff: time.Millisecond}, Hooks{})
	if err == nil || err.Error() != "access denied" || len(res.Applied) != 0 || w.calls[guid(1)] != 1 || w.calls[guid(3)] != 0 {
		t.Fatalf("err=%v applied=%d calls=%v", err, len(res.Applied), w.calls)
	}
}

func TestBatchSizeSpreadsOverPipelines(t *testing.T) {
	for _, tc := range []struct {
		n    int
		o    Options
		want int
	}{
		{990, Options{BatchSize: 500, Concurrency: 4}, 62},
		{990, Options{BatchSize: 500, Concurrency: 1}, 500},
		{100000, Options{BatchSize: 500, Concurrency: 4}, 500},
		{40, Options{BatchSize: 500, Concurrency: 4}, 25},
		{8, Options{BatchSize: 2, Concurrency: 4}, 2},
		{5000, Options{BatchSize: 0, Concurrency: 1}, exchange.MaxFlagBatch},
		{5000, Options{BatchSize: 5000, Concurrency: 0}, exchange.MaxFlagBatch},
	} {
		if got := batchSize(tc.n, tc.o); got != tc.want {
			t.Errorf("batchSize(%d, %+v) = %d, want %d", tc.n, tc.o, got, tc.want)
		}
	}
}
