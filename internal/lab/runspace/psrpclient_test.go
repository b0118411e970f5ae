package runspace

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab/wsman"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// memTransport is psrp.Transport straight onto a Host, without WS-Man:
// it lets exrunbook's own client pool (package psrp) talk to the lab's
// server side in memory.
type memTransport struct {
	h       *Host
	pool    wsman.Pool
	payload int
}

func cmdID(pid uuid.UUID) string {
	if pid == uuid.Nil {
		return ""
	}
	return strings.ToUpper(pid.String())
}

func (m *memTransport) Open(ctx context.Context, poolID uuid.UUID, creation []byte) error {
	p, err := m.h.Open(ctx, wsman.PoolInfo{User: `CONTOSO\Administrator`, ShellID: cmdID(poolID), ProtocolVersion: "2.3"}, creation)
	m.pool = p
	return err
}

func (m *memTransport) Command(_ context.Context, pid uuid.UUID, args []byte) error {
	return m.pool.Command(cmdID(pid), args)
}

func (m *memTransport) Send(_ context.Context, pid uuid.UUID, stream string, fragments []byte) error {
	return m.pool.Send(cmdID(pid), stream, fragments)
}

func (m *memTransport) Receive(ctx context.Context, pid uuid.UUID) ([]byte, bool, error) {
	rctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	data, done, err := m.pool.Receive(rctx, cmdID(pid), 100000)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, false, nil // WS-Man's TimedOut: ask again
	}
	return data, done, err
}

func (m *memTransport) Signal(_ context.Context, pid uuid.UUID, code string) error {
	if code == psrp.SignalStop {
		return m.pool.Stop(cmdID(pid))
	}
	return m.pool.Terminate(cmdID(pid))
}

func (m *memTransport) Close(context.Context) error {
	m.pool.Close()
	return nil
}

func (m *memTransport) MaxPayload() int          { return m.payload }
func (m *memTransport) SetMaxEnvelopeSize(n int) { m.payload = max(512, n/2) }

// exrunbook's client pool and the lab's server side agree: open, input,
// streams, a SecureString (the client runs the key exchange), failure and
// stop.
func TestPSRPClientPool(t *testing.T) {
	h, err := New(Options{Endpoint: &fakeEndpoint{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := psrp.Open(ctx, &memTransport{h: h, payload: 600}, psrp.PoolOptions{MaxRunspaces: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	res, err := p.Run(ctx, psrp.Pipeline{Commands: []psrp.Command{{Name: "Echo"}}}, []psrp.Value{"a", int32(2), strings.Repeat("z", 5000)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Output) != 3 || res.Output[0] != "a" || res.Output[1] != int32(2) || res.Output[2] != strings.Repeat("z", 5000) ||
		len(res.Warnings) != 1 || len(res.Errors) != 1 || res.State != psrp.PipelineCompleted {
		t.Fatalf("Echo: %+v", res)
	}
	res, err = p.Run(ctx, psrp.Pipeline{Commands: []psrp.Command{{Name: "Secret", Params: []psrp.Parameter{{Name: "V", Value: psrp.NewSecureString("s3cret")}}}}}, nil)
	if err != nil || len(res.Output) != 1 || res.Output[0] != "s3cret" {
		t.Fatalf("Secret: %+v %v", res, err)
	}
	res, err = p.Run(ctx, psrp.Pipeline{Commands: []psrp.Command{{Name: "Fail"}}}, nil)
	var rec *psrp.ErrorRecord
	if !errors.As(err, &rec) || rec.FullyQualifiedErrorID != "ScriptsNotAllowed" {
		t.Fatalf("Fail: %+v %v", res, err)
	}
	inv, err := p.Start(ctx, psrp.Pipeline{Commands: []psrp.Command{{Name: "Block"}}, NoInput: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := inv.Wait(ctx); st != psrp.PipelineStopped {
		t.Fatalf("after Stop: %s", st)
	}
}
