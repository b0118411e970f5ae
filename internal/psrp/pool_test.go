package psrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/google/uuid"
)

// fakeServer is an in-memory Transport that plays a PSRP server with this
// package's own codec. A scenario function runs each pipeline.
type fakeServer struct {
	t            *testing.T
	maxPayload   atomic.Int64
	envelope     atomic.Int64
	poolID       uuid.UUID
	ids          ObjectIDs
	pool         *queue
	poolDefrag   Defragmenter
	key          *SessionKey
	keyExchanges atomic.Int32
	timeouts     atomic.Int32

	// openState is the pool state Open reports (Opened unless a test says).
	openState RunspacePoolStateValue
	openError *ErrorRecord
	// scenario runs a pipeline; it returns when it has sent the final state.
	scenario func(s *fakeServer, p *fakePipe)
	// failReceive makes a pipeline Receive fail with this error.
	failReceive error
	// dropPublicKey leaves PUBLIC_KEY unanswered.
	dropPublicKey atomic.Bool

	mu                  sync.Mutex
	pipes               map[uuid.UUID]*fakePipe
	sends               int
	signals             []string
	closed              bool
	running, maxRunning int
}

type fakePipe struct {
	id      uuid.UUID
	out     *queue
	defrag  Defragmenter
	create  CreatePipeline
	inputs  chan Value
	stop    chan struct{}
	stopped sync.Once
	ended   sync.Once
}

// end counts the pipeline as no longer running, before its final state
// reaches the client.
func (s *fakeServer) end(p *fakePipe) {
	p.ended.Do(func() {
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
	})
}

func (s *fakeServer) sessionKey() *SessionKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.key
}

// queue is an unbounded queue of payloads that a Receive long-polls.
type queue struct {
	timeouts *atomic.Int32 // counts TimedOut results
	mu       sync.Mutex
	items    [][]byte
	ready    chan struct{}
	done     bool
}

func (s *fakeServer) newQueue() *queue {
	return &queue{ready: make(chan struct{}, 1), timeouts: &s.timeouts}
}

func (q *queue) push(b []byte, done bool) {
	q.mu.Lock()
	if b != nil {
		q.items = append(q.items, b)
	}
	q.done = q.done || done
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop returns the next payload; after 20ms with nothing it returns the
// WS-Man TimedOut result (nil, false, nil), which the client repeats.
func (q *queue) pop(ctx context.Context) ([]byte, bool, error) {
	timer := time.NewTimer(20 * time.Millisecond)
	defer timer.Stop()
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			b := q.items[0]
			q.items = q.items[1:]
			done := q.done && len(q.items) == 0
			q.mu.Unlock()
			return b, done, nil
		}
		if q.done {
			q.mu.Unlock()
			return nil, true, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-timer.C:
			q.timeouts.Add(1)
			return nil, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

func newFakeServer(t *testing.T, maxPayload int, scenario func(*fakeServer, *fakePipe)) *fakeServer {
	s := &fakeServer{t: t, pipes: map[uuid.UUID]*fakePipe{}, scenario: scenario, openState: RunspacePoolOpened}
	s.maxPayload.Store(int64(maxPayload))
	s.pool = s.newQueue()
	return s
}

// send queues a server message for the pool (pipe nil) or a pipeline.
func (s *fakeServer) send(p *fakePipe, body Body) {
	pid, q := uuid.Nil, s.pool
	if p != nil {
		pid, q = p.id, p.out
	}
	m, err := NewMessage(ToClient, s.poolID, pid, body, s.sessionKey())
	if err != nil {
		s.t.Errorf("server: %v", err)
		return
	}
	payloads, err := Fragment(&s.ids, 2000, m.Marshal())
	if err != nil {
		s.t.Errorf("server: %v", err)
		return
	}
	for _, pl := range payloads {
		q.push(pl, false)
	}
}

func (s *fakeServer) Open(ctx context.Context, poolID uuid.UUID, creationXML []byte) error {
	s.poolID = poolID
	msgs, err := s.poolDefrag.Feed(creationXML)
	if err != nil || len(msgs) != 2 {
		return fmt.Errorf("creationXml: %d messages, %v", len(msgs), err)
	}
	var d Decoder
	for i, want := range []MessageType{MsgSessionCapability, MsgInitRunspacePool} {
		m, err := ParseMessage(msgs[i])
		if err != nil || m.Type != want || m.RPID != poolID || m.Destination != ToServer {
			return fmt.Errorf("creationXml message %d: %v %v", i, m.Type, err)
		}
		if _, err := DecodeBody(&d, m); err != nil {
			return err
		}
	}
	s.send(nil, SessionCapability{ProtocolVersion: "2.3", PSVersion: "2.0", SerializationVersion: "1.1.0.1"})
	s.send(nil, ApplicationPrivateData{Data: []Entry{{Key: "PSVersionTable", Value: "5.1"}}})
	s.send(nil, RunspacePoolState{State: s.openState, Error: s.openError})
	return nil
}

func (s *fakeServer) Command(ctx context.Context, pid uuid.UUID, args []byte) error {
	if len(args) > s.MaxPayload() {
		s.t.Errorf("Command of %d bytes, max payload %d", len(args), s.MaxPayload())
	}
	p := &fakePipe{id: pid, out: s.newQueue(), inputs: make(chan Value, 100000), stop: make(chan struct{})}
	s.mu.Lock()
	s.pipes[pid] = p
	s.mu.Unlock()
	return s.Send(ctx, pid, "stdin", args)
}

func (s *fakeServer) Send(ctx context.Context, pid uuid.UUID, stream string, frags []byte) error {
	if stream != "stdin" {
		return fmt.Errorf("stream %q", stream)
	}
	if len(frags) > s.MaxPayload() {
		s.t.Errorf("Send of %d bytes, max payload %d", len(frags), s.MaxPayload())
	}
	s.mu.Lock()
	s.sends++
	p := s.pipes[pid]
	s.mu.Unlock()
	var msgs [][]byte
	var err error
	if pid == uuid.Nil {
		s.mu.Lock()
		msgs, err = s.poolDefrag.Feed(frags)
		s.mu.Unlock()
	} else {
		if p == nil {
			return fmt.Errorf("no pipeline %s", pid)
		}
		msgs, err = p.defrag.Feed(frags)
	}
	if err != nil {
		return err
	}
	dec := Decoder{Key: s.sessionKey()}
	for _, raw := range msgs {
		m, err := ParseMessage(raw)
		if err != nil {
			return err
		}
		if m.PID != pid {
			return fmt.Errorf("%s for pipeline %s sent to %s", m.Type, m.PID, pid)
		}
		body, err := DecodeBody(&dec, m)
		if err != nil {
			return err
		}
		switch b := body.(type) {
		case PublicKey:
			s.keyExchanges.Add(1)
			if s.dropPublicKey.Load() {
				continue
			}
			pub, err := ParsePublicKeyBlob(b.Blob)
			if err != nil {
				return err
			}
			s.mu.Lock()
			if s.key == nil {
				s.key, err = NewSessionKey()
			}
			key := s.key
			s.mu.Unlock()
			if err != nil {
				return err
			}
			blob, err := EncryptedSessionKeyBlob(pub, key)
			if err != nil {
				return err
			}
			s.send(nil, EncryptedSessionKey{Blob: blob})
		case CreatePipeline:
			p.create = b
			s.mu.Lock()
			s.running++
			s.maxRunning = max(s.maxRunning, s.running)
			s.mu.Unlock()
			go func() {
				s.scenario(s, p)
				s.end(p)
			}()
		case PipelineInput:
			p.inputs <- b.Value
		case EndOfPipelineInput:
			close(p.inputs)
		default:
			return fmt.Errorf("server got %s", m.Type)
		}
	}
	return nil
}

func (s *fakeServer) Receive(ctx context.Context, pid uuid.UUID) ([]byte, bool, error) {
	if pid == uuid.Nil {
		return s.pool.pop(ctx)
	}
	s.mu.Lock()
	p := s.pipes[pid]
	fail := s.failReceive
	s.mu.Unlock()
	if fail != nil {
		return nil, false, fail
	}
	if p == nil {
		return nil, false, fmt.Errorf("no pipeline %s", pid)
	}
	return p.out.pop(ctx)
}

func (s *fakeServer) Signal(ctx context.Context, pid uuid.UUID, code string) error {
	s.mu.Lock()
	s.signals = append(s.signals, code)
	p := s.pipes[pid]
	s.mu.Unlock()
	if p == nil {
		return fmt.Errorf("signal for no pipeline %s", pid)
	}
	if code == SignalStop {
		p.stopped.Do(func() { close(p.stop) })
	}
	return nil
}

func (s *fakeServer) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

func (s *fakeServer) MaxPayload() int              { return int(s.maxPayload.Load()) }
func (s *fakeServer) SetMaxEnvelopeSize(bytes int) { s.envelope.Store(int64(bytes)) }

// finish sends the final state and ends the pipeline's output.
func (s *fakeServer) finish(p *fakePipe, st PipelineState) {
	s.end(p)
	s.send(p, st)
	p.out.push(nil, true)
}

var casTN = []string{"Selected.Microsoft.Exchange.Data.Directory.Management.CASMailbox", "System.Management.Automation.PSCustomObject", "System.Object"}

// exchangeScenario answers the few pipelines the tests run.
func exchangeScenario(s *fakeServer, p *fakePipe) {
	cmd := p.create.Pipeline.Commands[0]
	switch cmd.Name {
	case "Get-CASMailbox":
		for i := range 3 {
			s.send(p, PipelineOutput{Value: &Object{TypeNames: casTN, Extended: []Property{{"Name", fmt.Sprintf("user%d", i)}, {"Guid", uuid.New()}}}})
		}
		s.send(p, InformationalRecord{Kind: MsgWarningRecord, Message: "The command completed successfully but no settings have been modified."})
		s.finish(p, PipelineState{State: PipelineCompleted})
	case "Set-CASMailbox":
		n := 0
		for v := range p.inputs {
			n++
			if n%1000 == 0 {
				id := v.(string)
				s.send(p, &ErrorRecord{Message: fmt.Sprintf("The operation couldn't be performed because object '%s' couldn't be found.", id),
					FullyQualifiedErrorID: "5B9E2F1A,Microsoft.Exchange.Management.RecipientTasks.SetCASMailbox", Category: "NotSpecified", Target: id, TargetName: id})
			}
		}
		s.send(p, PipelineOutput{Value: int32(n)})
		s.finish(p, PipelineState{State: PipelineCompleted})
	case "Import-ExchangeCertificate":
		var size int
		var pass string
		for _, prm := range cmd.Params {
			switch x := prm.Value.(type) {
			case []byte:
				size = len(x)
			case *SecureString:
				pass = x.Plain()
			}
		}
		s.send(p, PipelineOutput{Value: fmt.Sprintf("%d bytes, password %q", size, pass)})
		s.finish(p, PipelineState{State: PipelineCompleted})
	case "Invoke-Fail":
		s.finish(p, PipelineState{State: PipelineFailed, Error: &ErrorRecord{Message: "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
			ExceptionType: "System.Management.Automation.ParseException", FullyQualifiedErrorID: "ScriptsNotAllowed", Category: "ParserError"}})
	case "Wait-Forever":
		<-p.stop
		s.finish(p, PipelineState{State: PipelineStopped, Error: &ErrorRecord{Message: "The pipeline has been stopped.", ExceptionType: "System.Management.Automation.PipelineStoppedException", FullyQualifiedErrorID: "PipelineStopped", Category: "OperationStopped"}})
	case "Break-Pool":
		s.send(p, PipelineOutput{Value: "before"})
		s.send(nil, RunspacePoolState{State: RunspacePoolBroken, Error: &ErrorRecord{Message: "The session was broken by the server.", Category: "NotSpecified"}})
	case "Send-Garbage":
		// The test put the raw payload in the command's first argument.
		p.out.push(p.create.Pipeline.Commands[0].Params[0].Value.([]byte), false)
	case "Slow":
		time.Sleep(50 * time.Millisecond)
		s.finish(p, PipelineState{State: PipelineCompleted})
	case "Request-Key":
		s.send(nil, PublicKeyRequest{})
		for s.keyExchanges.Load() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		s.finish(p, PipelineState{State: PipelineCompleted})
	default:
		s.finish(p, PipelineState{State: PipelineFailed, Error: &ErrorRecord{Message: fmt.Sprintf("The term '%s' is not recognized as the name of a cmdlet.", cmd.Name), FullyQualifiedErrorID: "CommandNotFoundException"}})
	}
}

func openFake(t *testing.T, maxPayload int, opts PoolOptions) (*fakeServer, *Pool) {
	t.Helper()
	s := newFakeServer(t, maxPayload, exchangeScenario)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Open(ctx, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return s, p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestPoolOpenAndRead(t *testing.T) {
	s, p := openFake(t, 4096, PoolOptions{})
	if s.envelope.Load() != RaisedEnvelopeSize {
		t.Fatalf("max envelope %d after a 2.3 server, want %d", s.envelope.Load(), RaisedEnvelopeSize)
	}
	if p.ServerCapability.ProtocolVersion != "2.3" || len(p.PrivateData) != 1 {
		t.Fatalf("server capability %+v, private data %v", p.ServerCapability, p.PrivateData)
	}
	res, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Get-CASMailbox", Params: []Parameter{{Name: "ResultSize", Value: "Unlimited"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 3 || res.State != PipelineCompleted || len(res.Warnings) != 1 {
		t.Fatalf("result %+v", res)
	}
	if n, _ := res.Output[2].(*Object).Get("Name"); n != "user2" {
		t.Fatalf("third output Name = %v", n)
	}
	// The final state was followed by a Terminate signal.
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.signals) != 1 || s.signals[0] != SignalTerminate {
		t.Fatalf("signals %v", s.signals)
	}
}

func TestPoolStreamsInput(t *testing.T) {
	s, p := openFake(t, 2048, PoolOptions{})
	p.t.(*fakeServer).maxPayload.Store(2048) // the fake ignores the raised envelope: keep Sends small
	ids := make([]Value, 10000)
	for i := range ids {
		ids[i] = uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprint(i))).String()
	}
	res, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Set-CASMailbox", Params: []Parameter{{Name: "MAPIBlockOutlookRpcHttp", Value: true}, {Name: "Confirm", Value: false}}}}}, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 1 || res.Output[0] != int32(10000) {
		t.Fatalf("server saw %v inputs", res.Output)
	}
	if len(res.Errors) != 10 {
		t.Fatalf("%d per-item errors, want 10", len(res.Errors))
	}
	for i, e := range res.Errors {
		want := ids[(i+1)*1000-1].(string)
		if e.Target != want || !strings.Contains(e.Message, want) {
			t.Fatalf("error %d names %v / %q, want %s", i, e.Target, e.Message, want)
		}
	}
	s.mu.Lock()
	sends := s.sends
	s.mu.Unlock()
	// ~10,000 messages of ~120 bytes in 2 KiB payloads: many fragments per
	// Send, far fewer Sends than inputs.
	if sends < 100 || sends > 2000 {
		t.Fatalf("%d Sends for 10,000 inputs in 2 KiB payloads", sends)
	}
}

func TestPoolSecureStringAndLargeParameter(t *testing.T) {
	s, p := openFake(t, 8192, PoolOptions{})
	pfx := bytes.Repeat([]byte{0x30, 0x82}, 1<<20) // 2 MiB
	for range 2 {
		res, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Import-ExchangeCertificate", Params: []Parameter{
			{Name: "FileData", Value: pfx}, {Name: "Password", Value: NewSecureString("pfx pässword")}, {Name: "PrivateKeyExportable", Value: true, Bool: true},
		}}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Output) != 1 || res.Output[0] != `2097152 bytes, password "pfx pässword"` {
			t.Fatalf("server saw %v", res.Output)
		}
	}
	if n := s.keyExchanges.Load(); n != 1 {
		t.Fatalf("%d key exchanges for two pipelines, want 1", n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sends < 2*(2<<20)/8192 {
		t.Fatalf("%d Sends for two 2 MiB pipelines in 8 KiB payloads", s.sends)
	}
}

func TestPoolAnswersPublicKeyRequest(t *testing.T) {
	s, p := openFake(t, 4096, PoolOptions{})
	if _, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Request-Key"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if s.keyExchanges.Load() != 1 {
		t.Fatal("no PUBLIC_KEY after PUBLIC_KEY_REQUEST")
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.sessionKey() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.sessionKey() == nil {
		t.Fatal("the client did not take the session key")
	}
}

func TestPoolPipelineFailed(t *testing.T) {
	_, p := openFake(t, 4096, PoolOptions{})
	_, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Invoke-Fail"}}}, nil)
	var rec *ErrorRecord
	if !errors.As(err, &rec) || rec.FullyQualifiedErrorID != "ScriptsNotAllowed" || !strings.Contains(err.Error(), "no-language mode") {
		t.Fatalf("error %v", err)
	}
	if errkind.IsTransient(err) {
		t.Fatal("a failed pipeline is marked transient")
	}
	// The pool is still usable.
	if _, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Get-CASMailbox"}}}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestPoolStop(t *testing.T) {
	s, p := openFake(t, 4096, PoolOptions{})
	ctx := testCtx(t)
	inv, err := p.Start(ctx, Pipeline{Commands: []Command{{Name: "Wait-Forever"}}, NoInput: true})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range inv.Events() {
		}
	}()
	time.Sleep(30 * time.Millisecond) // a TimedOut Receive or two
	if err := inv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	state, err := inv.Wait(ctx)
	if state != PipelineStopped || !errors.Is(err, ErrStopped) {
		t.Fatalf("state %v, error %v", state, err)
	}
	if s.timeouts.Load() == 0 {
		t.Fatal("no Receive timed out: the TimedOut result was not exercised")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signals[0] != SignalStop {
		t.Fatalf("signals %v", s.signals)
	}
}

func TestPoolRunContextCancelStops(t *testing.T) {
	_, p := openFake(t, 4096, PoolOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Run(ctx, Pipeline{Commands: []Command{{Name: "Wait-Forever"}}}, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrStopped) && !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("error %v", err)
	}
}

func TestPoolBrokenMidRun(t *testing.T) {
	_, p := openFake(t, 4096, PoolOptions{})
	_, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Break-Pool"}}}, nil)
	if !errors.Is(err, ErrBroken) || !errkind.IsTransient(err) || !strings.Contains(err.Error(), "The session was broken by the server.") {
		t.Fatalf("error %v", err)
	}
	if _, err := p.Start(testCtx(t), Pipeline{Commands: []Command{{Name: "Get-CASMailbox"}}}); !errors.Is(err, ErrBroken) {
		t.Fatalf("Start on a broken pool: %v", err)
	}
}

func TestPoolTransportFailure(t *testing.T) {
	s, p := openFake(t, 4096, PoolOptions{})
	s.mu.Lock()
	s.failReceive = errors.New("read tcp 127.0.0.1:5985: connection reset by peer")
	s.mu.Unlock()
	_, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Get-CASMailbox"}}}, nil)
	if !errors.Is(err, ErrBroken) || !errkind.IsTransient(err) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("error %v", err)
	}
}

func TestPoolOpenBroken(t *testing.T) {
	s := newFakeServer(t, 4096, exchangeScenario)
	s.openState = RunspacePoolBroken
	s.openError = &ErrorRecord{Message: "Fail to create a runspace because you have exceeded the maximum number of connections allowed : 3 for the policy party : MaxConcurrency."}
	_, err := Open(testCtx(t), s, PoolOptions{})
	var rec *ErrorRecord
	if !errors.Is(err, ErrBroken) || !errkind.IsTransient(err) || !errors.As(err, &rec) || !strings.Contains(err.Error(), "MaxConcurrency") {
		t.Fatalf("error %v", err)
	}
	if !s.closed {
		t.Fatal("the shell of a failed open was not deleted")
	}
	if _, err := Open(testCtx(t), s, PoolOptions{MinRunspaces: 3, MaxRunspaces: 2}); err == nil {
		t.Fatal("MinRunspaces > MaxRunspaces accepted")
	}
}

func TestPoolConcurrency(t *testing.T) {
	s, p := openFake(t, 4096, PoolOptions{MaxRunspaces: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Slow"}}}, nil)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxRunning != 2 {
		t.Fatalf("%d pipelines ran at once, want 2 (MaxRunspaces)", s.maxRunning)
	}
}

func TestPoolClose(t *testing.T) {
	s, p := openFake(t, 4096, PoolOptions{})
	if err := p.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if !s.closed {
		t.Fatal("shell not deleted")
	}
	if _, err := p.Start(testCtx(t), Pipeline{Commands: []Command{{Name: "Get-CASMailbox"}}}); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestPoolBadServerOutput(t *testing.T) {
	rpid := uuid.New()
	msg := func(typ MessageType, data string) []byte {
		return Message{Destination: ToClient, Type: typ, RPID: rpid, Data: []byte(data)}.Marshal()
	}
	tests := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"truncated fragment", frag(1, 0, 3, "abcdef")[:25], "truncated fragment"},
		{"unknown flags", frag(1, 0, 0x10, "x"), "unknown flag bits"},
		{"unknown message type", appendFragment(nil, 1, 0, 3, msg(0x00077777, "<S>x</S>")), "unknown message type 0x00077777"},
		{"malformed clixml", appendFragment(nil, 1, 0, 3, msg(MsgPipelineOutput, "<Obj RefId=\"0\"><Props><S N=\"a\">x</Props>")), "</Props> closes <S>"},
		{"oversized blob", appendFragment(nil, 1, 0, FlagStart, bytes.Repeat([]byte("x"), 5000)), "larger than the 4096-byte message limit"},
		{"message for the server", appendFragment(nil, 1, 0, 3, Message{Destination: ToServer, Type: MsgPipelineOutput, RPID: rpid, Data: []byte("<S/>")}.Marshal()), "for destination 2 reached the client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, p := openFake(t, 8192, PoolOptions{ID: rpid, MaxMessageSize: 4096})
			_, err := p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Send-Garbage", Params: []Parameter{{Name: "Payload", Value: tt.payload}}}}}, nil)
			if !errors.Is(err, ErrBroken) || !errkind.IsTransient(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrBroken with %q", err, tt.want)
			}
		})
	}
}

func TestPoolKeyExchangeTimeout(t *testing.T) {
	s := newFakeServer(t, 4096, exchangeScenario)
	p, err := Open(testCtx(t), s, PoolOptions{KeyExchangeTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	s.dropPublicKey.Store(true)
	_, err = p.Run(testCtx(t), Pipeline{Commands: []Command{{Name: "Set-X", Params: []Parameter{{Name: "Password", Value: NewSecureString("x")}}}}}, nil)
	if !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "no ENCRYPTED_SESSION_KEY within 50ms") {
		t.Fatalf("error %v", err)
	}
	if !errors.Is(p.Err(), ErrBroken) {
		t.Fatalf("pool after the key timeout: %v", p.Err())
	}
}
