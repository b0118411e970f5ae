package psrp

import (
	"context"

	"github.com/google/uuid"
)

// Signal codes for Transport.Signal.
const (
	// SignalStop stops a running pipeline. PowerShell's plug-in compares
	// it verbatim, misspelling included (MS-PSRP §3.1.5.3.6).
	SignalStop = "powershell/signal/crtl_c"
	// SignalTerminate releases a pipeline that has ended (MS-WSMV).
	SignalTerminate = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"
)

// Transport is the WS-Management shell a client runspace pool runs over
// (MS-PSRP §3.1.5.3). internal/wsman implements it. Every byte slice here
// is raw PSRP fragments (header and blob, concatenated), not base64: the
// transport does the base64 and the SOAP.
//
// Methods may be called from several goroutines at once, for different
// pipelines of the same pool.
type Transport interface {
	// Open creates the shell (wxf:Create) for the pool poolID, with
	// creationXml carrying the fragments of SESSION_CAPABILITY and
	// INIT_RUNSPACEPOOL.
	Open(ctx context.Context, poolID uuid.UUID, creationXML []byte) error
	// Command starts the pipeline pipelineID (wxf:Command, CommandId set to
	// the pipeline's id) with arguments, the first fragment(s) of its
	// CREATE_PIPELINE message.
	Command(ctx context.Context, pipelineID uuid.UUID, arguments []byte) error
	// Send delivers fragments on stream ("stdin", or "pr" for host
	// responses) to the pipeline, or to the pool when pipelineID is
	// uuid.Nil (wxf:Send).
	Send(ctx context.Context, pipelineID uuid.UUID, stream string, fragments []byte) error
	// Receive long-polls (wxf:Receive) for the stdout stream of the
	// pipeline, or of the pool when pipelineID is uuid.Nil. It returns the
	// fragments that came, and done when the server reported the command
	// state Done. When the server's OperationTimeout passed with nothing
	// to say (the w:TimedOut fault) it returns no data, done false and a
	// nil error: the caller simply asks again.
	Receive(ctx context.Context, pipelineID uuid.UUID) (fragments []byte, done bool, err error)
	// Signal sends code (SignalStop or SignalTerminate) for the pipeline.
	Signal(ctx context.Context, pipelineID uuid.UUID, code string) error
	// Close deletes the shell (wxf:Delete).
	Close(ctx context.Context) error
	// MaxPayload is how many raw fragment bytes fit in one Send or Command
	// request under the current max envelope size.
	MaxPayload() int
	// SetMaxEnvelopeSize changes the max envelope size in bytes (the
	// client raises it once the server's SESSION_CAPABILITY proves
	// protocol 2.2 or later).
	SetMaxEnvelopeSize(bytes int)
}
