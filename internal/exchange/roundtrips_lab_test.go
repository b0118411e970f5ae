package exchange

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// countingTransport counts the WS-Management round trips of a pool, and
// the Receives that came back TimedOut (no data, not done): a Receive
// only times out when nothing happened for the whole OperationTimeout.
type countingTransport struct {
	*wsman.Client
	commands, sends, receives, timedOut, signals atomic.Int64
}

func (c *countingTransport) Command(ctx context.Context, id uuid.UUID, args []byte) error {
	c.commands.Add(1)
	return c.Client.Command(ctx, id, args)
}

func (c *countingTransport) Send(ctx context.Context, id uuid.UUID, stream string, frags []byte) error {
	c.sends.Add(1)
	return c.Client.Send(ctx, id, stream, frags)
}

func (c *countingTransport) Receive(ctx context.Context, id uuid.UUID) ([]byte, bool, error) {
	c.receives.Add(1)
	data, done, err := c.Client.Receive(ctx, id)
	if err == nil && len(data) == 0 && !done {
		c.timedOut.Add(1)
	}
	return data, done, err
}

func (c *countingTransport) Signal(ctx context.Context, id uuid.UUID, code string) error {
	c.signals.Add(1)
	return c.Client.Signal(ctx, id, code)
}

func (c *countingTransport) total() int64 {
	return c.commands.Load() + c.sends.Load() + c.receives.Load() + c.signals.Load()
}

// TestLabFlagWriteAtConcurrencyOne writes 500 mailboxes in one
// Set-CASMailbox pipeline (GUIDs streamed as input) with
// exchange.concurrency 1 as cmd/exrunbook wires it (one runspace, two
// long-poll connections), and counts the round trips. It guards against
// the stall where the input Send waited for a connection held by the
// pool's and the pipeline's Receives until one timed out: that costs a
// TimedOut Receive per stall (the client asks for the lab's longest
// OperationTimeout, so a correct run sees none) besides the seconds.
func TestLabFlagWriteAtConcurrencyOne(t *testing.T) {
	env := startLab(t, 1000)
	var tr *countingTransport
	cfg := wsman.Config{Endpoint: env.ep.PowerShell.HTTP, Auth: wsman.AuthNTLM, User: env.ep.Admin.User, Password: env.pw,
		MaxConnections: 1 + 1, Timeouts: wsman.Timeouts{Operation: time.Minute}}
	s := NewSession(func(ctx context.Context) (Pool, error) {
		cl, err := wsman.New(cfg)
		if err != nil {
			return nil, err
		}
		tr = &countingTransport{Client: cl}
		return psrp.Open(ctx, tr, psrp.PoolOptions{MaxRunspaces: 1})
	})
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	c := New(s)
	c.Concurrency = 1
	rows := must[[]CASMailbox](t, "GetCASMailboxes")(c.GetCASMailboxes(env.ctx, []string{"UserMailbox"}))
	if len(rows) < 500 {
		t.Fatalf("%d mailboxes, need 500", len(rows))
	}
	// One combination of values: the batch is one pipeline of 500 inputs.
	batch := make([]FlagChange, 500)
	for i := range batch {
		batch[i] = FlagChange{Guid: rows[i].Guid, MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true}
	}

	before, labBefore, sendsBefore := tr.total(), env.l.Stats(), tr.sends.Load()
	timedOutBefore := tr.timedOut.Load()
	res, err := c.SetCASMailboxFlags(env.ctx, batch)
	allOK(t, "SetCASMailboxFlags", res, err)
	trips := tr.total() - before
	sends := tr.sends.Load() - sendsBefore
	labAfter := env.l.Stats()

	// What the pipeline needs: its Command, the Sends its input takes
	// (500 GUIDs fit in few envelopes), a Receive or two until its final
	// state (Set-CASMailbox returns nothing), and the Terminate signal.
	// The stall this guards against made it six for one Send: two
	// Receives timed out, once each.
	if sends < 1 || sends > 4 {
		t.Errorf("%d Sends for 500 GUIDs: expected 1 to 4 (input fragments packed into envelopes of %d bytes)", sends, psrp.RaisedEnvelopeSize)
	}
	if limit := sends + 4; trips > limit {
		t.Errorf("%d round trips for one pipeline of 500 inputs in %d Sends: expected at most %d", trips, sends, limit)
	}
	if n := tr.timedOut.Load() - timedOutBefore; n != 0 {
		t.Errorf("%d Receive(s) timed out during the write: a request waited behind the long polls", n)
	}
	if got := labAfter.Pipelines - labBefore.Pipelines; got != 1 {
		t.Errorf("%d pipelines for one batch of one combination, expected 1", got)
	}
	if got := labAfter.MailboxWrites - labBefore.MailboxWrites; got != 500 {
		t.Errorf("%d mailbox writes, expected 500", got)
	}
	// The lab counts HTTP requests: the round trips, and the two legs of
	// the NTLM handshake of each connection opened meanwhile (at most the
	// three of the client).
	if got, limit := labAfter.WinRMRequests-labBefore.WinRMRequests, trips+2*3; got > limit {
		t.Errorf("the lab counted %d WS-Management requests for %d round trips: expected at most %d", got, trips, limit)
	}
	t.Logf("500 inputs: %d round trips (%d Sends), lab requests %d", trips, sends, labAfter.WinRMRequests-labBefore.WinRMRequests)
}
