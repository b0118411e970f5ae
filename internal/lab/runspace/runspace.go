// Package runspace is the server side of PowerShell remoting runspace
// pools (MS-PSRP) for the lab's /PowerShell/ endpoint: it implements
// wsman.PSRPHost, so the WS-Management server hands it the fragments of
// each shell. A pool answers the opening handshake (SESSION_CAPABILITY,
// APPLICATION_PRIVATE_DATA, RUNSPACEPOOL_STATE Opened), does the
// session-key exchange (PUBLIC_KEY → ENCRYPTED_SESSION_KEY) so SecureString
// parameters decrypt, reassembles CREATE_PIPELINE and PIPELINE_INPUT across
// Command and Sends, runs each pipeline through an Endpoint (the Exchange
// semantics) at most MaxRunspaces at a time, and queues its output as
// PIPELINE_OUTPUT, ERROR_RECORD and WARNING_RECORD messages followed by the
// terminal PIPELINE_STATE (Completed; Failed with ExceptionAsErrorRecord;
// Stopped).
package runspace

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/wsman"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// Sink receives a pipeline's streams. An error (the pipeline was
// stopped) tells the runner to stop writing.
type Sink interface {
	Output(psrp.Value) error
	Error(*psrp.ErrorRecord) error
	Warning(string) error
}

// Session is one user's authorised session: it runs pipelines.
type Session interface {
	// Run runs pl, reading input (closed at the end of input) and writing
	// to out. It returns nil when the pipeline completed, the terminating
	// error when it failed; it returns when ctx ends (the pipeline was
	// stopped).
	Run(ctx context.Context, pl psrp.Pipeline, input <-chan psrp.Value, out Sink) *psrp.ErrorRecord
}

// Endpoint authorises users.
type Endpoint interface {
	// Open returns the session of user, or the endpoint's refusal.
	Open(user string) (Session, error)
}

// Options configure a Host.
type Options struct {
	// Endpoint runs the pipelines. Required.
	Endpoint Endpoint
	// Stats, if set, counts pipelines, rows and refused scripts.
	Stats *labstats.Counters
	// PSVersionTable is what APPLICATION_PRIVATE_DATA announces; nil means
	// Windows PowerShell 5.1's on Windows Server 2019.
	PSVersionTable []psrp.Entry
}

// Host is a wsman.PSRPHost.
type Host struct{ o Options }

// New returns a Host.
func New(o Options) (*Host, error) {
	if o.Endpoint == nil {
		return nil, errors.New("runspace: an Endpoint is required")
	}
	if o.PSVersionTable == nil {
		o.PSVersionTable = defaultPSVersionTable()
	}
	return &Host{o: o}, nil
}

// serverCapability is what Windows PowerShell 5.1 answers.
var serverCapability = psrp.SessionCapability{ProtocolVersion: "2.3", PSVersion: "2.0", SerializationVersion: "1.1.0.1"}

func defaultPSVersionTable() []psrp.Entry {
	return []psrp.Entry{
		{Key: "PSVersion", Value: psrp.Version("5.1.17763.1971")},
		{Key: "PSEdition", Value: "Desktop"},
		{Key: "PSCompatibleVersions", Value: psrp.NewList(psrp.Version("1.0"), psrp.Version("2.0"), psrp.Version("3.0"), psrp.Version("4.0"), psrp.Version("5.0"), psrp.Version("5.1.17763.1971"))},
		{Key: "BuildVersion", Value: psrp.Version("10.0.17763.1971")},
		{Key: "CLRVersion", Value: psrp.Version("4.0.30319.42000")},
		{Key: "WSManStackVersion", Value: psrp.Version("3.0")},
		{Key: "PSRemotingProtocolVersion", Value: psrp.Version("2.3")},
		{Key: "SerializationVersion", Value: psrp.Version("1.1.0.1")},
	}
}

// Open implements wsman.PSRPHost.
func (h *Host) Open(ctx context.Context, info wsman.PoolInfo, creation []byte) (wsman.Pool, error) {
	sess, err := h.o.Endpoint.Open(info.User)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	p := &pool{h: h, info: info, sess: sess, ctx: pctx, cancel: cancel, changed: make(chan struct{}),
		pipes: map[string]*pipeline{}, maxRunspaces: 1}
	if len(creation) > 0 {
		if err := p.Send("", "stdin", creation); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// pool is one runspace pool. Its fields are guarded by mu.
type pool struct {
	h      *Host
	info   wsman.PoolInfo
	sess   Session
	ctx    context.Context
	cancel context.CancelFunc
	ids    psrp.ObjectIDs

	mu           sync.Mutex
	changed      chan struct{} // closed and replaced on every change
	rpid         uuid.UUID
	opened       bool
	capability   bool
	key          *psrp.SessionKey
	in           map[string]*psrp.Defragmenter // the pool's input streams
	out          outQueue
	pipes        map[string]*pipeline
	maxRunspaces int
	running      int
	closed       bool
}

func (p *pool) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// queueLocked encodes body for the client on pipeline pid (uuid.Nil: the
// pool) into q.
func (p *pool) queueLocked(q *outQueue, pid uuid.UUID, body psrp.Body) error {
	m, err := psrp.NewMessage(psrp.ToClient, p.rpid, pid, body, p.key)
	if err != nil {
		return err
	}
	q.push(&p.ids, m.Marshal())
	p.notifyLocked()
	return nil
}

// decode parses one reassembled message and its body.
func (p *pool) decode(raw []byte) (psrp.Message, psrp.Body, error) {
	m, err := psrp.ParseMessage(raw)
	if err != nil {
		return m, nil, err
	}
	if m.Destination != psrp.ToServer {
		return m, nil, fmt.Errorf("runspace: a %s message addressed to the client", m.Type)
	}
	p.mu.Lock()
	d := psrp.Decoder{Key: p.key}
	p.mu.Unlock()
	body, err := psrp.DecodeBody(&d, m)
	return m, body, err
}

// Send implements wsman.Pool.
func (p *pool) Send(commandID, stream string, fragments []byte) error {
	if commandID != "" {
		return p.sendPipeline(commandID, stream, fragments)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return wsman.ErrPoolBroken
	}
	if p.in == nil {
		p.in = map[string]*psrp.Defragmenter{}
	}
	df := p.in[stream]
	if df == nil {
		df = &psrp.Defragmenter{}
		p.in[stream] = df
	}
	msgs, err := df.Feed(fragments)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	for _, raw := range msgs {
		m, body, err := p.decode(raw)
		if err != nil {
			return err
		}
		if err := p.poolMessage(m, body); err != nil {
			return err
		}
	}
	return nil
}

// poolMessage handles one message to the pool.
func (p *pool) poolMessage(m psrp.Message, body psrp.Body) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rpid == uuid.Nil {
		p.rpid = m.RPID
	} else if m.RPID != p.rpid {
		return fmt.Errorf("runspace: a %s message for pool %s arrived at pool %s", m.Type, m.RPID, p.rpid)
	}
	switch b := body.(type) {
	case psrp.SessionCapability:
		if !b.ProtocolVersion.AtLeast(2, 0) {
			return fmt.Errorf("runspace: the client's protocol version %s is older than 2.0", b.ProtocolVersion)
		}
		p.capability = true
		return p.queueLocked(&p.out, uuid.Nil, serverCapability)
	case psrp.InitRunspacePool:
		if !p.capability {
			return errors.New("runspace: INIT_RUNSPACEPOOL before SESSION_CAPABILITY")
		}
		if p.opened {
			return errors.New("runspace: the pool is already open")
		}
		if b.MaxRunspaces < 1 || b.MinRunspaces < 1 || b.MinRunspaces > b.MaxRunspaces {
			return fmt.Errorf("runspace: MinRunspaces %d and MaxRunspaces %d: want 1 ≤ min ≤ max", b.MinRunspaces, b.MaxRunspaces)
		}
		p.maxRunspaces = int(b.MaxRunspaces)
		p.opened = true
		if err := p.queueLocked(&p.out, uuid.Nil, psrp.ApplicationPrivateData{Data: []psrp.Entry{{Key: "PSVersionTable",
			Value: &psrp.Object{TypeNames: []string{"System.Management.Automation.PSPrimitiveDictionary", "System.Collections.Hashtable", "System.Object"},
				Kind: psrp.DictContainer, Entries: p.h.o.PSVersionTable}}}}); err != nil {
			return err
		}
		return p.queueLocked(&p.out, uuid.Nil, psrp.RunspacePoolState{State: psrp.RunspacePoolOpened})
	case psrp.PublicKey:
		if !p.opened {
			return errors.New("runspace: PUBLIC_KEY before the pool is open")
		}
		pub, err := psrp.ParsePublicKeyBlob(b.Blob)
		if err != nil {
			return err
		}
		if p.key == nil {
			if p.key, err = psrp.NewSessionKey(); err != nil {
				return err
			}
		}
		blob, err := psrp.EncryptedSessionKeyBlob(pub, p.key)
		if err != nil {
			return err
		}
		return p.queueLocked(&p.out, uuid.Nil, psrp.EncryptedSessionKey{Blob: blob})
	default:
		return fmt.Errorf("runspace: the lab's endpoint does not take %s messages on the pool", m.Type)
	}
}

// Command implements wsman.Pool.
func (p *pool) Command(commandID string, arguments []byte) error {
	id, err := uuid.Parse(commandID)
	if err != nil {
		return fmt.Errorf("runspace: CommandId %q is not a GUID", commandID)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return wsman.ErrPoolBroken
	}
	if !p.opened {
		p.mu.Unlock()
		return errors.New("runspace: a pipeline before the pool is open")
	}
	if p.pipes[commandID] != nil {
		p.mu.Unlock()
		return fmt.Errorf("runspace: a pipeline with id %s exists in this pool", commandID)
	}
	ctx, cancel := context.WithCancel(p.ctx)
	pl := &pipeline{id: id, ctx: ctx, cancel: cancel}
	p.pipes[commandID] = pl
	p.mu.Unlock()
	return p.sendPipeline(commandID, "stdin", arguments)
}

// Stop implements wsman.Pool.
func (p *pool) Stop(commandID string) error {
	p.mu.Lock()
	pl := p.pipes[commandID]
	if pl == nil {
		p.mu.Unlock()
		return wsman.ErrCommandNotFound
	}
	started := pl.started
	p.mu.Unlock()
	pl.cancel()
	if !started {
		// Never ran: it ends Stopped here.
		p.finish(pl, nil, true)
	}
	return nil
}

// Terminate implements wsman.Pool.
func (p *pool) Terminate(commandID string) error {
	p.mu.Lock()
	pl := p.pipes[commandID]
	if pl == nil {
		p.mu.Unlock()
		return wsman.ErrCommandNotFound
	}
	delete(p.pipes, commandID)
	pl.out.closed = true
	p.notifyLocked()
	p.mu.Unlock()
	pl.cancel()
	return nil
}

// Close implements wsman.Pool.
func (p *pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.out.closed = true
	for _, pl := range p.pipes {
		pl.out.closed = true
	}
	p.notifyLocked()
	p.mu.Unlock()
	p.cancel()
}

// Receive implements wsman.Pool.
func (p *pool) Receive(ctx context.Context, commandID string, budget int) ([]byte, bool, error) {
	if budget <= psrp.FragmentHeaderLen {
		return nil, false, fmt.Errorf("runspace: a Receive budget of %d bytes holds no fragment", budget)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		var q *outQueue
		if commandID == "" {
			q = &p.out
		} else if pl := p.pipes[commandID]; pl != nil {
			q = &pl.out
		} else if p.closed {
			return nil, false, wsman.ErrPoolBroken
		} else {
			return nil, false, wsman.ErrCommandNotFound
		}
		if q.closed {
			return nil, false, wsman.ErrPoolBroken
		}
		if !q.empty() || q.final {
			data := q.take(budget)
			p.notifyLocked() // wake writers waiting for room
			return data, q.final && q.empty(), nil
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			return nil, false, ctx.Err()
		}
		p.mu.Lock()
	}
}
