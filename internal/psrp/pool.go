package psrp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/google/uuid"
)

// Envelope sizes (pypsrp powershell.py _process_session_capability): the
// client raises the max envelope to RaisedEnvelopeSize once the server's
// SESSION_CAPABILITY proves protocol 2.2 or later.
const RaisedEnvelopeSize = 512000

// ErrBroken says the runspace pool can no longer be used: the transport
// failed, or the server reported the pool Broken or Closed. Such errors are
// also marked errkind.Transient: the caller reopens a pool and retries.
var ErrBroken = errors.New("psrp: runspace pool broken")

// ErrStopped says a pipeline ended in the Stopped state.
var ErrStopped = errors.New("psrp: pipeline stopped")

// ErrPoolClosed is returned by a pool after Close.
var ErrPoolClosed = errors.New("psrp: runspace pool closed")

// BrokenError is an ErrBroken with what failed: the transport's error, or
// the server's error record.
type BrokenError struct {
	// Op says what the pool was doing ("receive pool messages").
	Op string
	// Err is the transport's or protocol's error, Record the server's
	// ExceptionAsErrorRecord; either may be nil.
	Err    error
	Record *ErrorRecord
}

func (e *BrokenError) Error() string {
	msg := "psrp: runspace pool broken: " + e.Op
	if e.Record != nil {
		msg += ": " + e.Record.Error()
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap gives ErrBroken, and the cause and record when present.
func (e *BrokenError) Unwrap() []error {
	errs := []error{ErrBroken}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Record != nil {
		errs = append(errs, e.Record)
	}
	return errs
}

func broken(op string, err error, rec *ErrorRecord) error {
	return errkind.Transient(&BrokenError{Op: op, Err: err, Record: rec})
}

// PoolOptions configures Open. The zero value is a pool of one runspace.
type PoolOptions struct {
	// MinRunspaces and MaxRunspaces size the pool (1 when 0). At most
	// MaxRunspaces pipelines run at once; Start waits for a free one.
	MinRunspaces, MaxRunspaces int
	// ApplicationArguments become $PSSenderInfo.ApplicationArguments on
	// the server (nil sends none).
	ApplicationArguments []Entry
	// KeyExchangeTimeout bounds the wait for ENCRYPTED_SESSION_KEY (60s
	// when 0, as pypsrp).
	KeyExchangeTimeout time.Duration
	// MaxMessageSize and MaxBuffered bound reassembly of the server's
	// messages (DefaultMaxMessageSize, DefaultMaxBuffered when 0).
	MaxMessageSize, MaxBuffered int
	// ID is the pool's RPID (random when uuid.Nil).
	ID uuid.UUID
}

// Pool is a client runspace pool over a Transport (MS-PSRP §3.1). It keeps
// one pool-level Receive outstanding, as PowerShell does, to learn of the
// session key, a key request and the pool's state.
type Pool struct {
	t    Transport
	id   uuid.UUID
	opts PoolOptions
	ids  ObjectIDs
	sem  chan struct{}

	// ServerCapability is the server's SESSION_CAPABILITY, PrivateData
	// its APPLICATION_PRIVATE_DATA.
	ServerCapability SessionCapability
	PrivateData      []Entry

	ctx      context.Context // canceled with the cause when the pool breaks or closes
	cancel   context.CancelCauseFunc
	loopDone chan struct{}

	mu      sync.Mutex
	key     *SessionKey
	keyErr  error
	kx      *KeyExchange
	keyWait chan struct{}
}

// Open creates the pool on t: the shell's creationXml carries
// SESSION_CAPABILITY and INIT_RUNSPACEPOOL, then pool-level Receives run
// until the server reports the pool Opened.
func Open(ctx context.Context, t Transport, opts PoolOptions) (*Pool, error) {
	if opts.MaxRunspaces <= 0 {
		opts.MaxRunspaces = 1
	}
	if opts.MinRunspaces <= 0 {
		opts.MinRunspaces = 1
	}
	if opts.MinRunspaces > opts.MaxRunspaces {
		return nil, fmt.Errorf("psrp: MinRunspaces %d is more than MaxRunspaces %d", opts.MinRunspaces, opts.MaxRunspaces)
	}
	if opts.KeyExchangeTimeout <= 0 {
		opts.KeyExchangeTimeout = 60 * time.Second
	}
	if opts.ID == uuid.Nil {
		opts.ID = uuid.New()
	}
	p := &Pool{t: t, id: opts.ID, opts: opts, sem: make(chan struct{}, opts.MaxRunspaces), loopDone: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancelCause(context.Background())

	var raw [][]byte
	for _, b := range []Body{ClientCapability, InitRunspacePool{
		MinRunspaces: int32(opts.MinRunspaces), MaxRunspaces: int32(opts.MaxRunspaces),
		ApartmentState: ApartmentUnknown, HostInfo: NoHost, ApplicationArguments: opts.ApplicationArguments,
	}} {
		m, err := NewMessage(ToServer, p.id, uuid.Nil, b, nil)
		if err != nil {
			return nil, err
		}
		raw = append(raw, m.Marshal())
	}
	payloads, err := Fragment(&p.ids, t.MaxPayload(), raw...)
	if err != nil {
		return nil, err
	}
	var creation []byte
	for _, pl := range payloads {
		creation = append(creation, pl...)
	}
	if err := t.Open(ctx, p.id, creation); err != nil {
		return nil, fmt.Errorf("psrp: open runspace pool: %w", err)
	}
	defrag := &Defragmenter{MaxMessageSize: opts.MaxMessageSize, MaxBuffered: opts.MaxBuffered}
	var dec Decoder
	for opened := false; !opened; {
		frags, done, err := t.Receive(ctx, uuid.Nil)
		if err != nil {
			p.closeTransport()
			return nil, fmt.Errorf("psrp: open runspace pool: %w", err)
		}
		msgs, err := defrag.Feed(frags)
		if err != nil {
			p.closeTransport()
			return nil, broken("open", err, nil)
		}
		for _, raw := range msgs {
			body, err := p.decode(&dec, raw)
			if err != nil {
				p.closeTransport()
				return nil, broken("open", err, nil)
			}
			switch b := body.(type) {
			case SessionCapability:
				p.ServerCapability = b
				if b.ProtocolVersion.AtLeast(2, 2) {
					t.SetMaxEnvelopeSize(RaisedEnvelopeSize)
				}
			case ApplicationPrivateData:
				p.PrivateData = b.Data
			case RunspacePoolState:
				switch b.State {
				case RunspacePoolOpened:
					opened = true
				case RunspacePoolBroken, RunspacePoolClosed:
					p.closeTransport()
					return nil, broken("open: the server reported the pool "+b.State.String(), nil, b.Error)
				}
			}
		}
		if done && !opened {
			p.closeTransport()
			return nil, broken("open: the server ended the pool's output before it was Opened", nil, nil)
		}
	}
	go p.receiveLoop(defrag)
	return p, nil
}

// ID returns the pool's RPID.
func (p *Pool) ID() uuid.UUID { return p.id }

func (p *Pool) closeTransport() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = p.t.Close(ctx) // the open already failed; that error is the one to report
}

// decode parses one reassembled message and checks it is for this client
// and pool.
func (p *Pool) decode(d *Decoder, raw []byte) (Body, error) {
	m, err := ParseMessage(raw)
	if err != nil {
		return nil, err
	}
	if m.Destination != ToClient {
		return nil, fmt.Errorf("psrp: %s for destination %d reached the client", m.Type, m.Destination)
	}
	if m.RPID != p.id && m.RPID != uuid.Nil {
		return nil, fmt.Errorf("psrp: %s for pool %s reached pool %s", m.Type, m.RPID, p.id)
	}
	d.Key = p.sessionKey()
	return DecodeBody(d, m)
}

// fail breaks the pool with err (the first cause wins).
func (p *Pool) fail(err error) { p.cancel(err) }

// Err returns why the pool can no longer be used, or nil.
func (p *Pool) Err() error {
	if p.ctx.Err() == nil {
		return nil
	}
	return context.Cause(p.ctx)
}

func (p *Pool) receiveLoop(defrag *Defragmenter) {
	defer close(p.loopDone)
	var dec Decoder
	for {
		frags, done, err := p.t.Receive(p.ctx, uuid.Nil)
		if p.ctx.Err() != nil {
			return
		}
		if err != nil {
			p.fail(broken("receive pool messages", err, nil))
			return
		}
		msgs, err := defrag.Feed(frags)
		if err != nil {
			p.fail(broken("receive pool messages", err, nil))
			return
		}
		for _, raw := range msgs {
			body, err := p.decode(&dec, raw)
			if err != nil {
				p.fail(broken("receive pool messages", err, nil))
				return
			}
			switch b := body.(type) {
			case EncryptedSessionKey:
				p.takeSessionKey(b.Blob)
			case PublicKeyRequest:
				go func() { _, _ = p.sessionKeyFor(p.ctx) }()
			case RunspacePoolState:
				if b.State == RunspacePoolBroken || b.State == RunspacePoolClosed {
					p.fail(broken("the server reported the pool "+b.State.String(), nil, b.Error))
					return
				}
			}
		}
		if done {
			p.fail(broken("the server ended the pool's output", nil, nil))
			return
		}
	}
}

func (p *Pool) sessionKey() *SessionKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.key
}

func (p *Pool) takeSessionKey(blob []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kx == nil || p.key != nil || p.keyErr != nil {
		return // not asked for, or already settled
	}
	p.key, p.keyErr = p.kx.SessionKey(blob)
	p.kx = nil
	close(p.keyWait)
}

// sessionKeyFor runs the key exchange once per pool (PUBLIC_KEY on the
// pool's stdin, ENCRYPTED_SESSION_KEY on its Receive) and returns the key.
func (p *Pool) sessionKeyFor(ctx context.Context) (*SessionKey, error) {
	p.mu.Lock()
	if p.key != nil || p.keyErr != nil {
		defer p.mu.Unlock()
		return p.key, p.keyErr
	}
	start := p.keyWait == nil
	if start {
		kx, err := NewKeyExchange()
		if err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.kx, p.keyWait = kx, make(chan struct{})
	}
	wait, kx := p.keyWait, p.kx
	p.mu.Unlock()
	if start {
		m, err := NewMessage(ToServer, p.id, uuid.Nil, PublicKey{Blob: kx.PublicKeyBlob()}, nil)
		if err == nil {
			err = p.sendPayloads(ctx, uuid.Nil, m.Marshal())
		}
		if err != nil {
			// Whether the server got the key is unknown, so the pool's
			// key state is too: the pool is broken (the caller reopens).
			err = broken("send PUBLIC_KEY", err, nil)
			p.settleKey(err)
			p.fail(err)
		}
	}
	timer := time.NewTimer(p.opts.KeyExchangeTimeout)
	defer timer.Stop()
	select {
	case <-wait:
	case <-timer.C:
		// MS-PSRP §3.1.5.4.5: the pool is closed when the session key
		// does not come in time.
		err := broken(fmt.Sprintf("no ENCRYPTED_SESSION_KEY within %s", p.opts.KeyExchangeTimeout), nil, nil)
		p.settleKey(err)
		p.fail(err)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.ctx.Done():
		return nil, context.Cause(p.ctx)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.key, p.keyErr
}

func (p *Pool) settleKey(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key != nil || p.keyErr != nil {
		return
	}
	p.keyErr, p.kx = err, nil
	close(p.keyWait)
}

// encode builds a message, running the key exchange first when the body
// holds a SecureString and the pool has no session key yet.
func (p *Pool) encode(ctx context.Context, pid uuid.UUID, body Body) ([]byte, error) {
	m, err := NewMessage(ToServer, p.id, pid, body, p.sessionKey())
	if errors.Is(err, ErrNoSessionKey) {
		key, kerr := p.sessionKeyFor(ctx)
		if kerr != nil {
			return nil, fmt.Errorf("psrp: session key for a SecureString: %w", kerr)
		}
		m, err = NewMessage(ToServer, p.id, pid, body, key)
	}
	if err != nil {
		return nil, err
	}
	return m.Marshal(), nil
}

// sendPayloads fragments messages together and sends them with as few
// Sends as MaxPayload allows.
func (p *Pool) sendPayloads(ctx context.Context, pid uuid.UUID, messages ...[]byte) error {
	payloads, err := Fragment(&p.ids, p.t.MaxPayload(), messages...)
	if err != nil {
		return err
	}
	for _, pl := range payloads {
		if err := p.t.Send(ctx, pid, "stdin", pl); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the pool: the pool-level Receive stops and the shell is
// deleted. Running pipelines end with ErrPoolClosed.
func (p *Pool) Close(ctx context.Context) error {
	p.fail(ErrPoolClosed)
	select {
	case <-p.loopDone:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := p.t.Close(ctx); err != nil {
		return fmt.Errorf("psrp: close runspace pool: %w", err)
	}
	return nil
}
