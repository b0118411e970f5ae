package runspace

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// maxQueued bounds the marshaled messages a queue holds before writers
// wait for a Receive to drain it.
const maxQueued = 8 << 20

// outMsg is a queued outgoing message: its ObjectId, the next FragmentId
// and the bytes not yet sent.
type outMsg struct {
	oid  uint64
	fid  uint64
	rest []byte
}

// outQueue is the outgoing message queue of a pool or a pipeline
// (MS-PSRP §3.2.5.3.5): each Receive takes as
// many fragments as fit its budget, and a message cut short stays first in
// line with its next fragment. Guarded by the pool's mutex.
type outQueue struct {
	msgs   []outMsg
	bytes  int
	final  bool // the terminal message is queued: nothing follows
	closed bool // the pool is gone
}

// push queues a marshaled message under a fresh ObjectId.
func (q *outQueue) push(ids *psrp.ObjectIDs, msg []byte) {
	q.msgs = append(q.msgs, outMsg{oid: ids.Next(), rest: msg})
	q.bytes += len(msg)
}

// take returns whole fragments of at most budget bytes, in order.
func (q *outQueue) take(budget int) []byte {
	var out []byte
	for len(q.msgs) > 0 {
		room := budget - len(out) - psrp.FragmentHeaderLen
		m := &q.msgs[0]
		if room <= 0 || (room < len(m.rest) && room < 256 && len(out) > 0) {
			break // too little room left: start this message in the next Receive
		}
		n := min(room, len(m.rest))
		var flags byte
		if m.fid == 0 {
			flags |= psrp.FlagStart
		}
		if n == len(m.rest) {
			flags |= psrp.FlagEnd
		}
		var h [psrp.FragmentHeaderLen]byte
		binary.BigEndian.PutUint64(h[0:], m.oid)
		binary.BigEndian.PutUint64(h[8:], m.fid)
		h[16] = flags
		binary.BigEndian.PutUint32(h[17:], uint32(n))
		out = append(out, h[:]...)
		out = append(out, m.rest[:n]...)
		m.rest = m.rest[n:]
		m.fid++
		q.bytes -= n
		if len(m.rest) == 0 {
			q.msgs = q.msgs[1:]
		}
	}
	return out
}

func (q *outQueue) empty() bool { return len(q.msgs) == 0 }

// errStopped is what a sink answers once its pipeline is stopped.
var errStopped = errors.New("runspace: the pipeline is stopped")

// inputQueue holds a pipeline's input objects until the pipeline reads
// them from its channel.
type inputQueue struct {
	items []psrp.Value
	ended bool
}

// pump feeds the pipeline's input channel from its queue, closing the
// channel at the end of input or when ctx ends.
func (p *pool) pump(ctx context.Context, pl *pipeline, ch chan<- psrp.Value) {
	defer close(ch)
	for {
		p.mu.Lock()
		for len(pl.input.items) == 0 && !pl.input.ended && ctx.Err() == nil {
			changed := p.changed
			p.mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
			}
			p.mu.Lock()
		}
		if ctx.Err() != nil || len(pl.input.items) == 0 {
			p.mu.Unlock()
			return
		}
		v := pl.input.items[0]
		pl.input.items = pl.input.items[1:]
		p.mu.Unlock()
		select {
		case ch <- v:
		case <-ctx.Done():
			return
		}
	}
}
