package wsman

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/pause"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// cleanupTimeout bounds a Signal or Delete sent after the caller's
// context ended: they must still reach the server, or the pipeline and
// the shell linger there and count against Exchange's MaxConcurrency.
const cleanupTimeout = 15 * time.Second

// Client is the WS-Management shell of one runspace pool on one Exchange
// endpoint. It implements psrp.Transport; its methods are safe for
// concurrent use.
type Client struct {
	cfg         Config
	ep          endpoint
	resourceURI string
	timeouts    Timeouts
	retry       RetryPolicy
	tls         *tls.Config
	provider    ContextProvider // nil for Basic
	spn         string
	pool        *pool
	sessionID   string

	envelopeSize atomic.Int64
	payload      atomic.Int64

	mu      sync.Mutex
	shellID string
	cmdIDs  map[uuid.UUID]string

	// sleep waits between retries (a fake in tests).
	sleep func(context.Context, time.Duration) error
}

var _ psrp.Transport = (*Client)(nil)

// New validates cfg and prepares a client; it does not connect. Basic
// authentication over plain http is refused, and TLS is always verified.
func New(cfg Config) (*Client, error) {
	ep, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(ep); err != nil {
		return nil, err
	}
	cl := &Client{
		cfg:         cfg,
		ep:          ep,
		resourceURI: cfg.ResourceURI,
		timeouts:    cfg.Timeouts.withDefaults(),
		retry:       cfg.Retry.withDefaults(),
		sessionID:   "uuid:" + strings.ToUpper(uuid.NewString()),
		cmdIDs:      map[uuid.UUID]string{},
		sleep:       pause.For,
	}
	if cl.resourceURI == "" {
		cl.resourceURI = ResourceURIExchange
	}
	cl.tls, err = tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.Auth {
	case AuthNTLM:
		cl.provider = newNTLMProvider(cfg.User, cfg.Password)
	case AuthKerberos:
		cl.spn = cfg.Kerberos.SPN
		if cfg.Kerberos.Provider != nil {
			cl.provider = cfg.Kerberos.Provider
			if cl.spn == "" {
				cl.spn = "HTTP/" + ep.host
			}
		} else {
			if cl.spn == "" {
				// HTTP/<host>; an address names no principal, so it needs
				// exchange.kerberos.spn.
				if cl.spn, err = kerberos.SPNForURL(ep.url); err != nil {
					return nil, err
				}
			}
			cl.provider = NewKerberosProvider(cfg.User, cfg.Password, cfg.Kerberos)
		}
	}
	n := cfg.MaxConnections
	if n == 0 {
		n = 8
	}
	cl.pool = newPool(n, cl.newConn)
	cl.SetMaxEnvelopeSize(DefaultMaxEnvelopeSize)
	return cl, nil
}

// tlsConfig trusts the system roots plus cfg.CAFile; verification is
// never off.
func tlsConfig(cfg Config) (*tls.Config, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("exchange.ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("exchange.ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
	}
	return &tls.Config{RootCAs: roots, ServerName: cfg.TLSServerName, MinVersion: tls.VersionTLS12}, nil
}

// Config returns the client's configuration (its String redacts secrets).
func (cl *Client) Config() Config { return cl.cfg }

// ShellID is the server's id of the shell, empty before Open.
func (cl *Client) ShellID() string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.shellID
}

// MaxPayload is how many raw fragment bytes fit in one Send or Command.
func (cl *Client) MaxPayload() int { return int(cl.payload.Load()) }

// SetMaxEnvelopeSize changes the MaxEnvelopeSize sent with every request
// and the MaxPayload derived from it; below WinRM's minimum of 8192 it
// takes the minimum.
func (cl *Client) SetMaxEnvelopeSize(bytes int) {
	bytes = max(bytes, minEnvelopeSize)
	cl.envelopeSize.Store(int64(bytes))
	cl.payload.Store(int64(maxPayload(bytes, cl.ep.url, cl.resourceURI)))
}

// Open creates the shell with creationXml (wxf:Create); the shell's id
// is the pool's. Create is retried: until it succeeds, no shell exists
// that a message could have reached.
func (cl *Client) Open(ctx context.Context, poolID uuid.UUID, creationXML []byte) error {
	cl.mu.Lock()
	open := cl.shellID != ""
	cl.mu.Unlock()
	if open {
		return errors.New("wsman: the shell is already open")
	}
	h := cl.header(wsmv.ActionCreate, "")
	h.Options = createOptions
	want := strings.ToUpper(poolID.String())
	r, attempts, err := cl.callN(ctx, "Create", h, createBody(want, creationXML), true)
	var fe *FaultError
	if err != nil && attempts > 1 && errors.As(err, &fe) && strings.Contains(fe.Text(), "already exists") && strings.Contains(strings.ToUpper(fe.Text()), want) {
		// An earlier attempt did create the shell (its answer was lost):
		// the id is ours, so the shell is.
		cl.mu.Lock()
		cl.shellID = want
		cl.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	id, err := r.shellID()
	if err != nil {
		return err
	}
	cl.mu.Lock()
	cl.shellID = id
	cl.mu.Unlock()
	return nil
}

// Command starts the pipeline (wxf:Command) with the first fragment(s)
// of CREATE_PIPELINE. Not retried once the request may have arrived.
func (cl *Client) Command(ctx context.Context, pipelineID uuid.UUID, arguments []byte) error {
	shell, err := cl.openShell()
	if err != nil {
		return err
	}
	want := strings.ToUpper(pipelineID.String())
	h := cl.header(wsmv.ActionCommand, shell)
	h.Options = commandOptions
	r, err := cl.call(ctx, "Command", h, commandBody(want, arguments), false)
	if err != nil {
		return err
	}
	got, err := r.commandID()
	if err != nil {
		return err
	}
	cl.mu.Lock()
	cl.cmdIDs[pipelineID] = got // the server's word, should it differ (pypsrp does the same)
	cl.mu.Unlock()
	return nil
}

// Send delivers fragments on stream "stdin" or "pr" to the pipeline, or
// to the pool when pipelineID is uuid.Nil (wxf:Send). Not retried once
// the request may have arrived.
func (cl *Client) Send(ctx context.Context, pipelineID uuid.UUID, stream string, fragments []byte) error {
	if stream != "stdin" && stream != "pr" {
		return fmt.Errorf("wsman: Send on stream %q: expected stdin or pr", stream)
	}
	shell, err := cl.openShell()
	if err != nil {
		return err
	}
	_, err = cl.call(ctx, "Send", cl.header(wsmv.ActionSend, shell), sendBody(stream, cl.commandID(pipelineID), fragments), false)
	return err
}

// Receive long-polls stdout of the pipeline, or of the pool when
// pipelineID is uuid.Nil (wxf:Receive). The w:TimedOut fault gives no
// data, done false and a nil error.
func (cl *Client) Receive(ctx context.Context, pipelineID uuid.UUID) ([]byte, bool, error) {
	shell, err := cl.openShell()
	if err != nil {
		return nil, false, err
	}
	h := cl.header(wsmv.ActionReceive, shell)
	cmd := cl.commandID(pipelineID)
	if cmd == "" {
		h.Options = poolReceiveOptions
	}
	r, err := cl.call(ctx, "Receive", h, receiveBody(cmd), true)
	if err != nil {
		var fe *FaultError
		if errors.As(err, &fe) && fe.TimedOut() {
			return nil, false, nil
		}
		return nil, false, err
	}
	return r.received(cmd)
}

// Signal sends code (psrp.SignalStop or psrp.SignalTerminate) for the
// pipeline (wxf:Signal). It still goes out, briefly, after ctx ended.
func (cl *Client) Signal(ctx context.Context, pipelineID uuid.UUID, code string) error {
	shell, err := cl.openShell()
	if err != nil {
		return err
	}
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	_, err = cl.call(ctx, "Signal", cl.header(wsmv.ActionSignal, shell), signalBody(cl.commandID(pipelineID), code), true)
	if err == nil && code == psrp.SignalTerminate {
		cl.mu.Lock()
		delete(cl.cmdIDs, pipelineID)
		cl.mu.Unlock()
	}
	return err
}

// Close deletes the shell (wxf:Delete), even briefly after ctx ended, and
// closes the idle connections.
func (cl *Client) Close(ctx context.Context) error {
	defer cl.pool.closeIdle()
	cl.mu.Lock()
	shell := cl.shellID
	cl.mu.Unlock()
	if shell == "" {
		return nil
	}
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	if _, err := cl.call(ctx, "Delete", cl.header(wsmv.ActionDelete, shell), "", true); err != nil {
		return err
	}
	cl.mu.Lock()
	cl.shellID = ""
	cl.mu.Unlock()
	return nil
}

// cleanupContext is ctx, or when ctx already ended a short one of its own.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

func (cl *Client) openShell() (string, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.shellID == "" {
		return "", errors.New("wsman: the shell is not open (Open first)")
	}
	return cl.shellID, nil
}

// commandID is the CommandId of a pipeline, "" for the pool.
func (cl *Client) commandID(pipelineID uuid.UUID) string {
	if pipelineID == uuid.Nil {
		return ""
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if id, ok := cl.cmdIDs[pipelineID]; ok {
		return id
	}
	return strings.ToUpper(pipelineID.String())
}

func (cl *Client) header(action, shellID string) header {
	return header{
		To:              cl.ep.url,
		Action:          action,
		ResourceURI:     cl.resourceURI,
		MaxEnvelopeSize: int(cl.envelopeSize.Load()),
		SessionID:       cl.sessionID,
		Timeout:         cl.timeouts.Operation,
		ShellID:         shellID,
	}
}

// call sends one operation, retrying it per the policy when it failed
// transiently and either safe (see the package comment) or provably not
// delivered.
func (cl *Client) call(ctx context.Context, op string, h header, body string, safe bool) (*response, error) {
	r, _, err := cl.callN(ctx, op, h, body, safe)
	return r, err
}

// callN is call, also returning how many attempts were made.
func (cl *Client) callN(ctx context.Context, op string, h header, body string, safe bool) (*response, int, error) {
	for attempt := 1; ; attempt++ {
		h.MessageID = "uuid:" + strings.ToUpper(uuid.NewString())
		var b strings.Builder
		writeEnvelope(&b, h, body)
		r, sent, err := cl.once(ctx, op, []byte(b.String()), h.MessageID, h.Action == wsmv.ActionReceive)
		if err == nil {
			return r, attempt, nil
		}
		if ctx.Err() != nil {
			return nil, attempt, fmt.Errorf("WS-Management %s to %s abandoned: %w (%v)", op, cl.ep.url, ctx.Err(), err)
		}
		var fe *FaultError
		if errors.As(err, &fe) && fe.TimedOut() {
			return nil, attempt, err
		}
		if !errkind.IsTransient(err) || (!safe && sent) || attempt >= cl.retry.Attempts {
			return nil, attempt, err
		}
		if err := cl.sleep(ctx, cl.backoff(attempt)); err != nil {
			return nil, attempt, fmt.Errorf("WS-Management %s to %s abandoned while waiting to retry: %w", op, cl.ep.url, err)
		}
	}
}

// backoff is the wait before retry number attempt: exponential, capped,
// with jitter in its upper half.
func (cl *Client) backoff(attempt int) time.Duration {
	d := cl.retry.Backoff
	for i := 1; i < attempt && d < cl.retry.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, cl.retry.MaxBackoff)
	return d/2 + rand.N(d/2+1)
}

// once sends one envelope on a pooled connection. sent is false when the
// request provably did not reach the server. A 401 on a connection that
// had carried messages means the server dropped its authentication and
// refused the message unread: the message goes again on another
// connection, at last a fresh one.
//
// poll marks a long poll (Receive): see pool for why those may not take
// the last connection.
func (cl *Client) once(ctx context.Context, op string, envelope []byte, messageID string, poll bool) (*response, bool, error) {
	for try := 0; ; try++ {
		c, err := cl.pool.get(ctx, poll)
		if err != nil {
			if ctx.Err() != nil {
				return nil, false, err
			}
			// The provider could not start a context (e.g. no ticket).
			return nil, false, cl.authErr(err)
		}
		if c.sc != nil && !c.authed {
			if err := cl.authenticate(ctx, c); err != nil {
				cl.pool.discard(c)
				return nil, false, err
			}
		}
		reused := c.used
		status, data, keep, err := cl.exchange(ctx, c, envelope)
		var ns notSent
		if errors.As(err, &ns) {
			cl.pool.discard(c)
			return nil, false, ns.err
		}
		if err != nil {
			cl.pool.discard(c)
			return nil, !notDelivered(err), classifyTransport(cl.ep.url, fmt.Errorf("WS-Management %s to %s: %w", op, cl.ep.url, err))
		}
		c.used = true
		if status == http.StatusUnauthorized {
			cl.pool.discard(c)
			// Every pooled connection may have been dropped at once
			// (the server's idle timeout, a restart): each is tried and
			// discarded, until a fresh one authenticates; a 401 there is
			// the answer.
			if reused && c.sc != nil && try <= cl.pool.size() {
				continue
			}
			return nil, false, cl.refused()
		}
		if keep {
			cl.pool.put(c)
		} else {
			cl.pool.discard(c)
		}
		if status != http.StatusOK {
			return nil, true, classifyAnswer(op, status, data)
		}
		if f := parseFault(data); f != nil {
			return nil, true, classifyAnswer(op, status, data)
		}
		r, err := parseResponse(data, messageID)
		if err != nil {
			return nil, true, fmt.Errorf("WS-Management %s: %w", op, err)
		}
		return r, true, nil
	}
}

// notDelivered reports whether a round-trip error proves the request
// never reached the server: the dial failed, or the server had closed the
// idle connection before the request was written to it.
func notDelivered(err error) bool {
	return isDialError(err) || strings.Contains(err.Error(), "server closed idle connection")
}
