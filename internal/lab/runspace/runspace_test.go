package runspace

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/wsman"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// fakeEndpoint refuses the user "nobody" and runs these commands:
//
//	Echo          outputs each input object, then a warning and an error
//	Secret -V ss  outputs the SecureString's plain text
//	Fail          fails with ScriptsNotAllowed
//	Block         blocks until stopped
//	Slow          sleeps 50 ms, tracking how many run at once
type fakeEndpoint struct {
	running, peak atomic.Int32
}

func (e *fakeEndpoint) Open(user string) (Session, error) {
	if user == "nobody" {
		return nil, errors.New("the user nobody has no role assignments")
	}
	return e, nil
}

func (e *fakeEndpoint) Run(ctx context.Context, pl psrp.Pipeline, input <-chan psrp.Value, out Sink) *psrp.ErrorRecord {
	switch pl.Commands[0].Name {
	case "Echo":
		for v := range input {
			if out.Output(v) != nil {
				return nil
			}
		}
		out.Warning("careful")
		out.Error(&psrp.ErrorRecord{Message: "one bad", FullyQualifiedErrorID: "Bad", Category: "InvalidArgument"})
	case "Secret":
		ss, _ := pl.Commands[0].Params[0].Value.(*psrp.SecureString)
		out.Output(ss.Plain())
	case "Fail":
		return &psrp.ErrorRecord{Message: "The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
			ExceptionType: "System.Management.Automation.ParseException", FullyQualifiedErrorID: "ScriptsNotAllowed", Category: "ParserError"}
	case "Block":
		<-ctx.Done()
	case "Slow":
		n := e.running.Add(1)
		for {
			p := e.peak.Load()
			if n <= p || e.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		e.running.Add(-1)
		out.Output(int32(n))
	}
	return nil
}

// client drives a pool as a PSRP client would, with the psrp codec.
type client struct {
	t      testing.TB
	rpid   uuid.UUID
	ids    psrp.ObjectIDs
	pool   wsman.Pool
	key    *psrp.SessionKey
	defrag map[string]*psrp.Defragmenter
}

func (c *client) fragments(pid uuid.UUID, bodies ...psrp.Body) []byte {
	c.t.Helper()
	var msgs [][]byte
	for _, b := range bodies {
		m, err := psrp.NewMessage(psrp.ToServer, c.rpid, pid, b, c.key)
		if err != nil {
			c.t.Fatal(err)
		}
		msgs = append(msgs, m.Marshal())
	}
	// Small payloads: every message crosses several Sends.
	payloads, err := psrp.Fragment(&c.ids, 300, msgs...)
	if err != nil {
		c.t.Fatal(err)
	}
	var all []byte
	for _, p := range payloads {
		all = append(all, p...)
	}
	return all
}

// receive reads messages of the pool (id "") or a pipeline until done or
// until want messages came.
func (c *client) receive(id string, want int, budget int) []psrp.Body {
	c.t.Helper()
	if c.defrag == nil {
		c.defrag = map[string]*psrp.Defragmenter{}
	}
	df := c.defrag[id]
	if df == nil {
		df = &psrp.Defragmenter{}
		c.defrag[id] = df
	}
	var out []psrp.Body
	for len(out) < want || want < 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		data, done, err := c.pool.Receive(ctx, id, budget)
		cancel()
		if err != nil {
			c.t.Fatalf("Receive %q: %v", id, err)
		}
		if len(data) > budget {
			c.t.Fatalf("Receive returned %d bytes over a budget of %d", len(data), budget)
		}
		msgs, err := df.Feed(data)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, raw := range msgs {
			m, err := psrp.ParseMessage(raw)
			if err != nil {
				c.t.Fatal(err)
			}
			if m.Destination != psrp.ToClient || m.RPID != c.rpid {
				c.t.Fatalf("message %s to %d for pool %s", m.Type, m.Destination, m.RPID)
			}
			d := psrp.Decoder{Key: c.key}
			b, err := psrp.DecodeBody(&d, m)
			if err != nil {
				c.t.Fatal(err)
			}
			out = append(out, b)
		}
		if done {
			break
		}
	}
	return out
}

func openPool(t testing.TB, ep Endpoint, stats *labstats.Counters, maxRunspaces int32) *client {
	t.Helper()
	h, err := New(Options{Endpoint: ep, Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, rpid: uuid.New()}
	creation := c.fragments(uuid.Nil, psrp.ClientCapability, psrp.InitRunspacePool{MinRunspaces: 1, MaxRunspaces: maxRunspaces, HostInfo: psrp.NoHost})
	p, err := h.Open(context.Background(), wsman.PoolInfo{User: `CONTOSO\Administrator`, ShellID: strings.ToUpper(c.rpid.String())}, creation)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c.pool = p
	got := c.receive("", 3, 1000)
	if _, ok := got[0].(psrp.SessionCapability); !ok {
		t.Fatalf("first message %T, want SESSION_CAPABILITY", got[0])
	}
	if apd, ok := got[1].(psrp.ApplicationPrivateData); !ok || apd.Data[0].Key != "PSVersionTable" {
		t.Fatalf("second message %#v, want APPLICATION_PRIVATE_DATA with the PSVersionTable", got[1])
	}
	if st, ok := got[2].(psrp.RunspacePoolState); !ok || st.State != psrp.RunspacePoolOpened {
		t.Fatalf("third message %#v, want RUNSPACEPOOL_STATE Opened", got[2])
	}
	return c
}

// start sends CREATE_PIPELINE for cmd in a Command (first 300-byte
// payload) and the rest with Send, as pypsrp does.
func (c *client) start(cmd psrp.Command, noInput bool) string {
	c.t.Helper()
	pid := uuid.New()
	id := strings.ToUpper(pid.String())
	all := c.fragments(pid, psrp.NewCreatePipeline(psrp.Pipeline{Commands: []psrp.Command{cmd}, NoInput: noInput}))
	first := min(len(all), 300)
	if err := c.pool.Command(id, all[:first]); err != nil {
		c.t.Fatal(err)
	}
	if first < len(all) {
		if err := c.pool.Send(id, "stdin", all[first:]); err != nil {
			c.t.Fatal(err)
		}
	}
	return id
}

func lastState(t *testing.T, bodies []psrp.Body) psrp.PipelineState {
	t.Helper()
	if len(bodies) == 0 {
		t.Fatal("no messages")
	}
	st, ok := bodies[len(bodies)-1].(psrp.PipelineState)
	if !ok {
		t.Fatalf("last message %T, want PIPELINE_STATE", bodies[len(bodies)-1])
	}
	return st
}

func TestPipelineWithInputAndStreams(t *testing.T) {
	stats := &labstats.Counters{}
	c := openPool(t, &fakeEndpoint{}, stats, 1)
	id := c.start(psrp.Command{Name: "Echo"}, false)
	long := strings.Repeat("é", 2000) // several fragments at a 500-byte budget
	in := c.fragments(uuid.MustParse(id), psrp.PipelineInput{Value: "one"}, psrp.PipelineInput{Value: long}, psrp.PipelineInput{Value: int32(3)}, psrp.EndOfPipelineInput{})
	if err := c.pool.Send(id, "stdin", in); err != nil {
		t.Fatal(err)
	}
	got := c.receive(id, -1, 500)
	if len(got) != 6 {
		t.Fatalf("%d messages: %#v", len(got), got)
	}
	for i, want := range []psrp.Value{"one", long, int32(3)} {
		if o, ok := got[i].(psrp.PipelineOutput); !ok || o.Value != want {
			t.Fatalf("message %d = %#v, want output %v", i, got[i], want)
		}
	}
	if w, ok := got[3].(psrp.InformationalRecord); !ok || w.Kind != psrp.MsgWarningRecord || w.Message != "careful" {
		t.Fatalf("warning = %#v", got[3])
	}
	if e, ok := got[4].(*psrp.ErrorRecord); !ok || e.Message != "one bad" {
		t.Fatalf("error = %#v", got[4])
	}
	if st := lastState(t, got); st.State != psrp.PipelineCompleted || st.Error != nil {
		t.Fatalf("state = %#v", st)
	}
	if s := stats.Snapshot(); s.Pipelines != 1 || s.Rows != 3 {
		t.Fatalf("stats: %d pipelines, %d rows", s.Pipelines, s.Rows)
	}
	if err := c.pool.Terminate(id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.pool.Receive(context.Background(), id, 500); !errors.Is(err, wsman.ErrCommandNotFound) {
		t.Fatalf("Receive after Terminate: %v", err)
	}
}

func TestSessionKeyExchangeDecryptsSecureStrings(t *testing.T) {
	c := openPool(t, &fakeEndpoint{}, nil, 1)
	kx, err := psrp.NewKeyExchange()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pool.Send("", "stdin", c.fragments(uuid.Nil, psrp.PublicKey{Blob: kx.PublicKeyBlob()})); err != nil {
		t.Fatal(err)
	}
	got := c.receive("", 1, 1000)
	esk, ok := got[0].(psrp.EncryptedSessionKey)
	if !ok {
		t.Fatalf("answer %T, want ENCRYPTED_SESSION_KEY", got[0])
	}
	if c.key, err = kx.SessionKey(esk.Blob); err != nil {
		t.Fatal(err)
	}
	id := c.start(psrp.Command{Name: "Secret", Params: []psrp.Parameter{{Name: "V", Value: psrp.NewSecureString("pfx pässword")}}}, true)
	got = c.receive(id, -1, 1000)
	if o, ok := got[0].(psrp.PipelineOutput); !ok || o.Value != "pfx pässword" {
		t.Fatalf("output = %#v", got[0])
	}
}

func TestFailedStoppedAndRefused(t *testing.T) {
	stats := &labstats.Counters{}
	c := openPool(t, &fakeEndpoint{}, stats, 2)
	st := lastState(t, c.receive(c.start(psrp.Command{Name: "Fail"}, true), -1, 1000))
	if st.State != psrp.PipelineFailed || st.Error == nil || st.Error.FullyQualifiedErrorID != "ScriptsNotAllowed" || stats.ScriptsRefused.Load() != 1 {
		t.Fatalf("failed state = %#v", st)
	}
	id := c.start(psrp.Command{Name: "Block"}, true)
	if err := c.pool.Stop(id); err != nil {
		t.Fatal(err)
	}
	st = lastState(t, c.receive(id, -1, 1000))
	if st.State != psrp.PipelineStopped || st.Error == nil || st.Error.Message != "The pipeline has been stopped." {
		t.Fatalf("stopped state = %#v", st)
	}
	if err := c.pool.Stop("00000000-0000-0000-0000-000000000001"); !errors.Is(err, wsman.ErrCommandNotFound) {
		t.Fatalf("Stop of an unknown pipeline: %v", err)
	}
	// Host responses have no pipeline to go to, and unknown pool messages
	// are refused.
	if err := c.pool.Send(id, "pr", []byte("x")); err == nil {
		t.Fatal("a host response was accepted")
	}
	h, _ := New(Options{Endpoint: &fakeEndpoint{}})
	if _, err := h.Open(context.Background(), wsman.PoolInfo{User: "nobody"}, nil); err == nil || !strings.Contains(err.Error(), "no role assignments") {
		t.Fatalf("Open for a user without roles: %v", err)
	}
	// Close breaks whatever waits.
	c.pool.Close()
	if _, _, err := c.pool.Receive(context.Background(), "", 1000); !errors.Is(err, wsman.ErrPoolBroken) {
		t.Fatalf("Receive after Close: %v", err)
	}
}

// No more pipelines run at once than the pool's MaxRunspaces; the rest
// wait their turn.
func TestMaxRunspaces(t *testing.T) {
	for _, max := range []int32{1, 3} {
		ep := &fakeEndpoint{}
		stats := &labstats.Counters{}
		c := openPool(t, ep, stats, max)
		var ids []string
		for range 6 {
			ids = append(ids, c.start(psrp.Command{Name: "Slow"}, true))
		}
		for _, id := range ids {
			got := c.receive(id, -1, 1000)
			if st := lastState(t, got); st.State != psrp.PipelineCompleted {
				t.Fatalf("state %#v", st)
			}
		}
		if p := ep.peak.Load(); p > max || (max > 1 && p < 2) {
			t.Fatalf("MaxRunspaces %d: %d pipelines ran at once", max, p)
		}
		if s := stats.Snapshot(); s.Pipelines != 6 || (max > 1 && s.MeanOverlap <= 1) || (max == 1 && s.MeanOverlap != 1) {
			t.Fatalf("MaxRunspaces %d: stats %+v", max, s)
		}
	}
}

// FuzzPoolSend feeds arbitrary bytes to an open pool's and a pipeline's
// input: errors, never panics.
func FuzzPoolSend(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 'x'})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := openPool(t, &fakeEndpoint{}, nil, 1)
		_ = c.pool.Send("", "stdin", data)
		id := strings.ToUpper(uuid.NewString())
		_ = c.pool.Command(id, data)
		_ = c.pool.Send(id, "stdin", data)
	})
}

// BenchmarkPipelineOutput measures the server side's cost per output
// object: queueing PIPELINE_OUTPUT messages and fragmenting them into
// 150 KB Receives, as pypsrp asks for them.
func BenchmarkPipelineOutput(b *testing.B) {
	c := openPool(b, &fakeEndpoint{}, nil, 1)
	input := make([]psrp.Body, 0, 1001)
	for i := 0; i < 1000; i++ {
		input = append(input, psrp.PipelineInput{Value: "mailbox-" + strings.Repeat("x", 100)})
	}
	input = append(input, psrp.EndOfPipelineInput{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := c.start(psrp.Command{Name: "Echo"}, false)
		if err := c.pool.Send(id, "stdin", c.fragments(uuid.MustParse(id), input...)); err != nil {
			b.Fatal(err)
		}
		got := c.receive(id, -1, 150000)
		if len(got) != 1003 {
			b.Fatalf("%d messages", len(got))
		}
		c.pool.Terminate(id)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/object")
}
