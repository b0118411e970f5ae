package runspace

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab/wsman"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// maxInputObjects bounds the input objects a pipeline buffers ahead of
// its reader.
const maxInputObjects = 1 << 20

// pipeline is one pipeline of a pool. Its fields are guarded by the pool's
// mutex.
type pipeline struct {
	id     uuid.UUID
	ctx    context.Context
	cancel context.CancelFunc

	in       psrp.Defragmenter // stdin: CREATE_PIPELINE's rest, then input
	created  bool              // CREATE_PIPELINE is complete
	noInput  bool
	started  bool // Run was called (a runspace was free)
	finished bool // the terminal state is queued
	input    inputQueue
	out      outQueue
}

// sendPipeline feeds fragments to the pipeline commandID.
func (p *pool) sendPipeline(commandID, stream string, fragments []byte) error {
	if stream != "stdin" {
		// The lab's pipelines make no host calls, so no host response
		// can belong to one.
		return fmt.Errorf("runspace: unexpected data on the %s stream of pipeline %s: the lab's pipelines make no host calls", stream, commandID)
	}
	p.mu.Lock()
	pl := p.pipes[commandID]
	if pl == nil {
		closed := p.closed
		p.mu.Unlock()
		if closed {
			return wsman.ErrPoolBroken
		}
		return wsman.ErrCommandNotFound
	}
	msgs, err := pl.in.Feed(fragments)
	p.mu.Unlock()
	if err != nil {
		return err
	}
	for _, raw := range msgs {
		m, body, err := p.decode(raw)
		if err != nil {
			return err
		}
		if m.PID != pl.id {
			return fmt.Errorf("runspace: a %s message for pipeline %s arrived at pipeline %s", m.Type, m.PID, pl.id)
		}
		if err := p.pipelineMessage(pl, m, body); err != nil {
			return err
		}
	}
	return nil
}

func (p *pool) pipelineMessage(pl *pipeline, m psrp.Message, body psrp.Body) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch b := body.(type) {
	case psrp.CreatePipeline:
		if pl.created {
			return errors.New("runspace: a second CREATE_PIPELINE for one pipeline")
		}
		pl.created, pl.noInput = true, b.Pipeline.NoInput
		if pl.noInput {
			pl.input.ended = true
		}
		go p.run(pl, b.Pipeline)
		return nil
	case psrp.PipelineInput:
		if !pl.created || pl.noInput || pl.input.ended {
			return errors.New("runspace: PIPELINE_INPUT for a pipeline that takes no (more) input")
		}
		if len(pl.input.items) >= maxInputObjects {
			return fmt.Errorf("runspace: more than %d input objects wait for the pipeline", maxInputObjects)
		}
		pl.input.items = append(pl.input.items, b.Value)
		p.notifyLocked()
		return nil
	case psrp.EndOfPipelineInput:
		if !pl.created {
			return errors.New("runspace: END_OF_PIPELINE_INPUT before CREATE_PIPELINE")
		}
		pl.input.ended = true
		p.notifyLocked()
		return nil
	default:
		return fmt.Errorf("runspace: the lab's endpoint does not take %s messages for a pipeline", m.Type)
	}
}

// run waits for a free runspace, runs the pipeline and queues its end.
func (p *pool) run(pl *pipeline, spec psrp.Pipeline) {
	p.mu.Lock()
	for p.running >= p.maxRunspaces && pl.ctx.Err() == nil {
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-pl.ctx.Done():
		}
		p.mu.Lock()
	}
	if pl.ctx.Err() != nil || pl.finished {
		p.mu.Unlock()
		p.finish(pl, nil, true)
		return
	}
	p.running++
	pl.started = true
	running := p.running
	p.mu.Unlock()
	if st := p.h.o.Stats; st != nil {
		st.PipelineStarted(running)
	}
	in := make(chan psrp.Value)
	go p.pump(pl.ctx, pl, in)
	rec := p.safeRun(pl, spec, in)
	p.mu.Lock()
	p.running--
	p.notifyLocked()
	p.mu.Unlock()
	p.finish(pl, rec, pl.ctx.Err() != nil)
}

// safeRun runs the pipeline, turning a panic in the runner into the
// pipeline's failure.
func (p *pool) safeRun(pl *pipeline, spec psrp.Pipeline, in <-chan psrp.Value) (rec *psrp.ErrorRecord) {
	defer func() {
		if r := recover(); r != nil {
			rec = &psrp.ErrorRecord{Message: fmt.Sprintf("internal error in the lab's endpoint: %v", r),
				ExceptionType: "System.Management.Automation.RuntimeException", FullyQualifiedErrorID: "LabInternalError", Category: "NotSpecified"}
		}
	}()
	return p.sess.Run(pl.ctx, spec, in, &sink{p: p, pl: pl})
}

// stoppedRecord is PowerShell's PipelineStoppedException as a stopped
// pipeline's state carries it.
func stoppedRecord() *psrp.ErrorRecord {
	return &psrp.ErrorRecord{Message: "The pipeline has been stopped.", ExceptionType: "System.Management.Automation.PipelineStoppedException",
		FullyQualifiedErrorID: "PipelineStopped", Category: "OperationStopped", Reason: "PipelineStoppedException"}
}

// finish queues the pipeline's terminal state once.
func (p *pool) finish(pl *pipeline, rec *psrp.ErrorRecord, stopped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl.finished {
		return
	}
	pl.finished = true
	st := psrp.PipelineState{State: psrp.PipelineCompleted}
	switch {
	case stopped:
		// The runner's own PipelineStoppedException when it gave one.
		if rec == nil {
			rec = stoppedRecord()
		}
		st = psrp.PipelineState{State: psrp.PipelineStopped, Error: rec}
	case rec != nil:
		st = psrp.PipelineState{State: psrp.PipelineFailed, Error: rec}
		if rec.FullyQualifiedErrorID == "ScriptsNotAllowed" && p.h.o.Stats != nil {
			p.h.o.Stats.ScriptsRefused.Add(1)
		}
	}
	if err := p.queueLocked(&pl.out, pl.id, st); err != nil {
		// The state itself did not encode (a target object that cannot be
		// serialized): say that instead, so the client still sees an end.
		_ = p.queueLocked(&pl.out, pl.id, psrp.PipelineState{State: psrp.PipelineFailed, Error: &psrp.ErrorRecord{
			Message: "The pipeline's error could not be serialized: " + err.Error(), FullyQualifiedErrorID: "LabSerializationError", Category: "NotSpecified"}})
	}
	pl.out.final = true
	p.notifyLocked()
}

// sink queues a running pipeline's streams, holding writers while too
// much output waits for a Receive.
type sink struct {
	p  *pool
	pl *pipeline
}

func (s *sink) put(body psrp.Body) error {
	p, pl := s.p, s.pl
	p.mu.Lock()
	defer p.mu.Unlock()
	for pl.out.bytes > maxQueued && pl.ctx.Err() == nil && !pl.out.closed {
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-pl.ctx.Done():
		}
		p.mu.Lock()
	}
	if pl.ctx.Err() != nil || pl.out.closed {
		return errStopped
	}
	return p.queueLocked(&pl.out, pl.id, body)
}

// Output implements Sink.
func (s *sink) Output(v psrp.Value) error {
	if err := s.put(psrp.PipelineOutput{Value: v}); err != nil {
		return err
	}
	if st := s.p.h.o.Stats; st != nil {
		st.Rows.Add(1)
	}
	return nil
}

// Error implements Sink.
func (s *sink) Error(rec *psrp.ErrorRecord) error { return s.put(rec) }

// Warning implements Sink.
func (s *sink) Warning(text string) error {
	return s.put(psrp.InformationalRecord{Kind: psrp.MsgWarningRecord, Message: text})
}
