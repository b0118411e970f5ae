package psrp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// EventKind says which stream an Event came on.
type EventKind int

// The streams of a pipeline.
const (
	EventOutput      EventKind = iota // PIPELINE_OUTPUT: Value
	EventError                        // ERROR_RECORD: Error
	EventWarning                      // WARNING_RECORD: Message
	EventVerbose                      // VERBOSE_RECORD: Message
	EventDebug                        // DEBUG_RECORD: Message
	EventInformation                  // INFORMATION_RECORD: Value
	EventProgress                     // PROGRESS_RECORD: Value
)

// Event is one thing a running pipeline reported.
type Event struct {
	Kind    EventKind
	Value   Value
	Error   *ErrorRecord
	Message string
}

// Invocation is a pipeline started in a pool. Read its Events until the
// channel closes, then Wait for the final state.
type Invocation struct {
	p      *Pool
	id     uuid.UUID
	name   string
	events chan Event
	done   chan struct{}
	state  PipelineStateValue
	err    error

	stopOnce sync.Once
	inputMu  sync.Mutex
	inputEnd bool
}

// ID returns the pipeline's id (its WS-Man CommandId).
func (inv *Invocation) ID() uuid.UUID { return inv.id }

// Events delivers the pipeline's output, errors and records in the order
// the server sent them; it closes when the pipeline ended. The pipeline
// waits while nobody reads.
func (inv *Invocation) Events() <-chan Event { return inv.events }

// Done is closed when the pipeline has ended.
func (inv *Invocation) Done() <-chan struct{} { return inv.done }

// Wait waits for the end of the pipeline (its Events must be drained) and
// returns its final state and error: nil when Completed, the server's
// *ErrorRecord when Failed, ErrStopped when Stopped, an ErrBroken when the
// pool or transport failed.
func (inv *Invocation) Wait(ctx context.Context) (PipelineStateValue, error) {
	select {
	case <-inv.done:
		return inv.state, inv.err
	case <-ctx.Done():
		return inv.state, ctx.Err()
	}
}

// Start creates the pipeline pl in the pool (CREATE_PIPELINE: its first
// fragments in the Command, the rest in Sends) and starts receiving its
// output. It waits for a free runspace when MaxRunspaces pipelines run. When
// pl.NoInput is false the caller must end the input with CloseInput.
func (p *Pool) Start(ctx context.Context, pl Pipeline) (*Invocation, error) {
	if err := p.Err(); err != nil {
		return nil, err
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.ctx.Done():
		return nil, context.Cause(p.ctx)
	}
	inv, err := p.start(ctx, pl)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return inv, nil
}

func (p *Pool) start(ctx context.Context, pl Pipeline) (*Invocation, error) {
	inv := &Invocation{p: p, id: uuid.New(), events: make(chan Event, 64), done: make(chan struct{})}
	if len(pl.Commands) > 0 {
		inv.name = pl.Commands[0].Name
	}
	raw, err := p.encode(ctx, inv.id, NewCreatePipeline(pl))
	if err != nil {
		return nil, fmt.Errorf("psrp: %s: %w", inv.name, err)
	}
	payloads, err := Fragment(&p.ids, p.t.MaxPayload(), raw)
	if err != nil {
		return nil, err
	}
	if err := p.t.Command(ctx, inv.id, payloads[0]); err != nil {
		return nil, fmt.Errorf("psrp: start %s: %w", inv.name, err)
	}
	for _, f := range payloads[1:] {
		if err := p.t.Send(ctx, inv.id, "stdin", f); err != nil {
			return nil, fmt.Errorf("psrp: start %s: %w", inv.name, err)
		}
	}
	go inv.receive()
	return inv, nil
}

func (inv *Invocation) receive() {
	p := inv.p
	defer func() {
		close(inv.events)
		<-p.sem
		close(inv.done)
	}()
	defrag := Defragmenter{MaxMessageSize: p.opts.MaxMessageSize, MaxBuffered: p.opts.MaxBuffered}
	var dec Decoder
	for {
		frags, done, err := p.t.Receive(p.ctx, inv.id)
		if p.ctx.Err() != nil {
			inv.err = context.Cause(p.ctx)
			return
		}
		if err != nil {
			inv.err = broken("receive the output of "+inv.name, err, nil)
			p.fail(inv.err)
			return
		}
		msgs, err := defrag.Feed(frags)
		if err != nil {
			inv.err = broken("receive the output of "+inv.name, err, nil)
			p.fail(inv.err)
			return
		}
		for _, raw := range msgs {
			body, err := p.decode(&dec, raw)
			if err != nil {
				inv.err = broken("receive the output of "+inv.name, err, nil)
				p.fail(inv.err)
				return
			}
			var ev Event
			switch b := body.(type) {
			case PipelineOutput:
				ev = Event{Kind: EventOutput, Value: b.Value}
			case *ErrorRecord:
				ev = Event{Kind: EventError, Error: b}
			case InformationalRecord:
				kind := EventWarning
				switch b.Kind {
				case MsgVerboseRecord:
					kind = EventVerbose
				case MsgDebugRecord:
					kind = EventDebug
				}
				ev = Event{Kind: kind, Message: b.Message}
			case Other:
				switch b.Type {
				case MsgInformationRecord:
					ev = Event{Kind: EventInformation, Value: b.Value}
				case MsgProgressRecord:
					ev = Event{Kind: EventProgress, Value: b.Value}
				default:
					continue
				}
			case PipelineState:
				if !b.State.Terminal() {
					continue
				}
				inv.finish(b)
				return
			default:
				continue
			}
			select {
			case inv.events <- ev:
			case <-p.ctx.Done():
				inv.err = context.Cause(p.ctx)
				return
			}
		}
		if done {
			inv.err = broken("the server ended "+inv.name+" without a final pipeline state", nil, nil)
			p.fail(inv.err)
			return
		}
	}
}

func (inv *Invocation) finish(st PipelineState) {
	inv.state = st.State
	switch st.State {
	case PipelineFailed:
		if st.Error != nil {
			inv.err = st.Error
		} else {
			inv.err = fmt.Errorf("psrp: %s failed without an error record", inv.name)
		}
	case PipelineStopped:
		if st.Error != nil {
			inv.err = fmt.Errorf("%w: %s", ErrStopped, st.Error.Error())
		} else {
			inv.err = ErrStopped
		}
	}
	// Release the command on the server (MS-WSMV Terminate), as pypsrp
	// does after the final state. The pipeline's result is already known;
	// a failure here shows on the next operation if the pool broke.
	ctx, cancel := context.WithTimeout(inv.p.ctx, 30*time.Second)
	defer cancel()
	_ = inv.p.t.Signal(ctx, inv.id, SignalTerminate)
}

// SendInput pipes values into the pipeline: one PIPELINE_INPUT each,
// fragmented together into as few Sends as MaxPayload allows.
func (inv *Invocation) SendInput(ctx context.Context, values ...Value) error {
	return inv.sendInput(ctx, values, false)
}

// CloseInput ends the input (END_OF_PIPELINE_INPUT); the server runs the
// pipeline to its end only after it.
func (inv *Invocation) CloseInput(ctx context.Context) error {
	return inv.sendInput(ctx, nil, true)
}

func (inv *Invocation) sendInput(ctx context.Context, values []Value, end bool) error {
	inv.inputMu.Lock()
	defer inv.inputMu.Unlock()
	if inv.inputEnd {
		return fmt.Errorf("psrp: input of %s already closed", inv.name)
	}
	msgs := make([][]byte, 0, len(values)+1)
	for i, v := range values {
		raw, err := inv.p.encode(ctx, inv.id, PipelineInput{Value: v})
		if err != nil {
			return fmt.Errorf("psrp: input %d of %s: %w", i+1, inv.name, err)
		}
		msgs = append(msgs, raw)
	}
	if end {
		raw, err := inv.p.encode(ctx, inv.id, EndOfPipelineInput{})
		if err != nil {
			return err
		}
		msgs = append(msgs, raw)
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := inv.p.sendPayloads(ctx, inv.id, msgs...); err != nil {
		return fmt.Errorf("psrp: send input to %s: %w", inv.name, err)
	}
	inv.inputEnd = end
	return nil
}

// Stop asks the server to stop the pipeline (the crtl_c signal) and waits
// until it ended. A pipeline that had already ended is left as it was.
func (inv *Invocation) Stop(ctx context.Context) error {
	var err error
	inv.stopOnce.Do(func() {
		select {
		case <-inv.done:
			return
		default:
		}
		if serr := inv.p.t.Signal(ctx, inv.id, SignalStop); serr != nil {
			err = fmt.Errorf("psrp: stop %s: %w", inv.name, serr)
		}
	})
	if err != nil {
		return err
	}
	select {
	case <-inv.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Result is everything a finished pipeline reported.
type Result struct {
	Output   []Value
	Errors   []*ErrorRecord
	Warnings []string
	Verbose  []string
	Debug    []string
	State    PipelineStateValue
}

// Run runs pl to its end and collects what it reported. With input nil the
// pipeline gets no input (NoInput); otherwise every value is piped in,
// fragmented into as few Sends as MaxPayload allows, and the input ended.
// The error is the pipeline's terminating error (see Invocation.Wait);
// non-terminating errors are in Result.Errors. If ctx ends, the pipeline is
// stopped.
func (p *Pool) Run(ctx context.Context, pl Pipeline, input []Value) (*Result, error) {
	pl.NoInput = input == nil
	inv, err := p.Start(ctx, pl)
	if err != nil {
		return nil, err
	}
	var inputErr error
	var wg sync.WaitGroup
	if input != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := inv.sendInput(ctx, input, true); err != nil {
				inputErr = err
				stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer cancel()
				_ = inv.Stop(stopCtx) // the input error is the one to report
			}
		}()
	}
	go func() {
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = inv.Stop(stopCtx)
		case <-inv.done:
		}
	}()
	res := &Result{}
	for ev := range inv.Events() {
		switch ev.Kind {
		case EventOutput:
			res.Output = append(res.Output, ev.Value)
		case EventError:
			res.Errors = append(res.Errors, ev.Error)
		case EventWarning:
			res.Warnings = append(res.Warnings, ev.Message)
		case EventVerbose:
			res.Verbose = append(res.Verbose, ev.Message)
		case EventDebug:
			res.Debug = append(res.Debug, ev.Message)
		}
	}
	wg.Wait()
	state, err := inv.Wait(context.WithoutCancel(ctx))
	res.State = state
	var rec *ErrorRecord
	if inputErr != nil && !errors.Is(err, ErrBroken) && !errors.As(err, &rec) {
		// (When the pipeline failed on its own, e.g. its cmdlet threw
		// before reading input and the server dropped the command, its
		// error record is why the input could not be sent: report that.)
		return res, inputErr
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ErrStopped) {
		return res, fmt.Errorf("psrp: %s: %w (%v)", inv.name, ctx.Err(), err)
	}
	return res, err
}
