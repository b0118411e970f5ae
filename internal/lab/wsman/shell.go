package wsman

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// maxPending bounds the output a command may buffer before its writes
// block until a Receive drains them.
const maxPending = 4 << 20

// shell is one WinRS shell. Its fields are guarded by Server.mu.
type shell struct {
	id       string
	user     string
	codePage int // WINRS_CODEPAGE, 0 if absent
	lastUsed time.Time
	busy     int  // requests in flight
	gone     bool // deleted, reaped or closed: no new commands
	commands map[string]*command

	// A PSRP shell has a runspace pool instead of commands.
	ep          endpoint
	resourceURI string
	pool        Pool
	opening     bool // the host is still opening the pool
}

// forgetLocked marks the shell gone and returns what the caller must do,
// after releasing Server.mu, to stop it: terminate its commands, close its
// pool. Call with Server.mu held.
func (sh *shell) forgetLocked() (cleanup func()) {
	sh.gone = true
	cmds := make([]*command, 0, len(sh.commands))
	for _, c := range sh.commands {
		cmds = append(cmds, c)
	}
	sh.commands = map[string]*command{}
	pool := sh.pool
	sh.pool = nil
	return func() {
		for _, c := range cmds {
			c.terminate()
		}
		if pool != nil {
			pool.Close()
		}
	}
}

// command is one running or finished command of a shell.
type command struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	stdin  *stdinPipe

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever state changes
	out      [2][]byte     // pending stdout, stderr
	ended    [2]bool       // End="true" sent for the stream
	done     bool
	exitCode int
	doneSent bool
}

var streamNames = [2]string{"stdout", "stderr"}

func newCommand(parent context.Context, id string) *command {
	ctx, cancel := context.WithCancel(parent)
	return &command{id: id, ctx: ctx, cancel: cancel, stdin: newStdinPipe(ctx), changed: make(chan struct{})}
}

// notifyLocked wakes everything waiting on c.changed. Call with c.mu held.
func (c *command) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// run executes the command and records its exit code.
func (c *command) run(e Executor, req Command) {
	code := 1
	defer func() {
		if p := recover(); p != nil {
			w := &outputWriter{c: c, stream: 1}
			fmt.Fprintf(w, "internal error in the command: %v\r\n", p)
			code = 1
		}
		c.stdin.closeRead()
		c.mu.Lock()
		c.done = true
		c.exitCode = code
		c.notifyLocked()
		c.mu.Unlock()
	}()
	code = e.Execute(c.ctx, req, c.stdin, &outputWriter{c: c, stream: 0}, &outputWriter{c: c, stream: 1})
}

// terminate cancels the command and ends its input.
func (c *command) terminate() {
	c.cancel()
	c.stdin.closeRead()
	c.mu.Lock()
	c.notifyLocked()
	c.mu.Unlock()
}

// outputWriter appends to one of a command's streams, blocking while too
// much output is pending.
type outputWriter struct {
	c      *command
	stream int
}

func (w *outputWriter) Write(p []byte) (int, error) {
	c := w.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out[0])+len(c.out[1]) > maxPending {
		if c.ctx.Err() != nil {
			return 0, io.ErrClosedPipe
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.ctx.Done():
		}
		c.mu.Lock()
	}
	if c.done {
		return 0, io.ErrClosedPipe
	}
	c.out[w.stream] = append(c.out[w.stream], p...)
	c.notifyLocked()
	return len(p), nil
}

// chunk is what one Receive returns.
type chunk struct {
	data     [2][]byte
	present  [2]bool
	end      [2]bool
	done     bool
	exitCode int
}

// coalesce is how long a Receive that has some output waits for more
// before answering, so that small writes share an envelope.
const coalesce = 10 * time.Millisecond

// receive waits up to timeout for output or completion and takes at most
// budget raw bytes of the wanted streams. timedOut is true when nothing
// arrived in time; ctx ends the wait early (the client went away).
func (c *command) receive(ctx context.Context, timeout time.Duration, budget int, want [2]bool) (ch chunk, timedOut bool, err error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	var settle <-chan time.Time
	c.mu.Lock()
	for {
		for i := range c.out {
			if !want[i] {
				c.out[i] = nil // nobody asked for it: discard
			}
		}
		pending := len(c.out[0]) + len(c.out[1])
		if c.done || pending >= budget || (pending > 0 && settle == nil && c.ctx.Err() != nil) {
			break
		}
		if pending > 0 && settle == nil {
			t := time.NewTimer(coalesce)
			defer t.Stop()
			settle = t.C
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
			c.mu.Lock()
			continue
		case <-settle:
		case <-deadline.C:
		case <-ctx.Done():
			return chunk{}, false, ctx.Err()
		}
		c.mu.Lock()
		if len(c.out[0])+len(c.out[1]) == 0 && !c.done {
			c.mu.Unlock()
			return chunk{}, true, nil
		}
		break
	}
	defer c.mu.Unlock()
	left := budget
	for i := range c.out {
		if !want[i] || c.ended[i] {
			continue
		}
		n := min(left, len(c.out[i]))
		if n > 0 {
			ch.data[i] = append([]byte(nil), c.out[i][:n]...)
			c.out[i] = c.out[i][n:]
			left -= n
			ch.present[i] = true
		}
		if c.done && len(c.out[i]) == 0 {
			ch.end[i] = true
			ch.present[i] = true
			c.ended[i] = true
		}
	}
	if c.done && len(c.out[0])+len(c.out[1]) == 0 {
		ch.done = true
		ch.exitCode = c.exitCode
		c.doneSent = true
	}
	c.notifyLocked() // wake writers blocked on a full buffer
	return ch, false, nil
}

// renderReceive renders the rsp:ReceiveResponse body for a chunk.
func renderReceive(commandID string, ch chunk) string {
	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	id := xmlText(commandID)
	for i, name := range streamNames {
		if !ch.present[i] {
			continue
		}
		b.WriteString(`<rsp:Stream Name="` + name + `" CommandId="` + id + `"`)
		if ch.end[i] {
			b.WriteString(` End="true"`)
		}
		b.WriteString(`>` + base64.StdEncoding.EncodeToString(ch.data[i]) + `</rsp:Stream>`)
	}
	if ch.done {
		b.WriteString(`<rsp:CommandState CommandId="` + id + `" State="` + wsmv.CommandStateDone + `"><rsp:ExitCode>` +
			strconv.Itoa(ch.exitCode) + `</rsp:ExitCode></rsp:CommandState>`)
	} else {
		b.WriteString(`<rsp:CommandState CommandId="` + id + `" State="` + stateRunning + `"/>`)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return b.String()
}

// stdinPipe buffers what the client Sends until the command reads it.
type stdinPipe struct {
	ctx     context.Context
	mu      sync.Mutex
	changed chan struct{}
	buf     []byte
	eof     bool
}

func newStdinPipe(ctx context.Context) *stdinPipe {
	return &stdinPipe{ctx: ctx, changed: make(chan struct{})}
}

func (p *stdinPipe) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// write appends client input; end closes the stream.
func (p *stdinPipe) write(b []byte, end bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.eof {
		if len(b) == 0 {
			return nil
		}
		return io.ErrClosedPipe
	}
	if len(p.buf)+len(b) > maxPending {
		return io.ErrShortBuffer
	}
	p.buf = append(p.buf, b...)
	p.eof = end
	p.notifyLocked()
	return nil
}

// closeRead ends the input (the command was terminated or finished).
func (p *stdinPipe) closeRead() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.eof {
		p.eof = true
		p.notifyLocked()
	}
}

// Read blocks until input, end of input or termination.
func (p *stdinPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 {
		if p.eof {
			return 0, io.EOF
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.ctx.Done():
		}
		p.mu.Lock()
		if p.ctx.Err() != nil && len(p.buf) == 0 {
			return 0, io.EOF
		}
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}
