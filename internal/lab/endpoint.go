package lab

import (
	"context"

	"github.com/exrunbook/exrunbook/internal/lab/rps"
	"github.com/exrunbook/exrunbook/internal/lab/runspace"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// exchangeEndpoint serves the runspace pools of /PowerShell/ with
// Exchange's semantics: a session is its user's RBAC principal, loaded
// when the session opens (a user without roles is refused then).
type exchangeEndpoint struct{ e *rps.Endpoint }

func (x exchangeEndpoint) Open(user string) (runspace.Session, error) {
	p, err := x.e.Principal(user)
	if err != nil {
		return nil, err
	}
	return exchangeSession{e: x.e, p: p}, nil
}

type exchangeSession struct {
	e *rps.Endpoint
	p *rps.Principal
}

func (s exchangeSession) Run(ctx context.Context, pl psrp.Pipeline, input <-chan psrp.Value, out runspace.Sink) *psrp.ErrorRecord {
	return s.e.Run(ctx, s.p, pl, input, out)
}
