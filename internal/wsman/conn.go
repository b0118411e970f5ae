package wsman

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// maxResponse bounds one WS-Management answer (envelopes are at most
// 500 KiB; sealing adds little).
const maxResponse = 8 << 20

// maxHandshakeLegs bounds an authentication handshake's round trips.
const maxHandshakeLegs = 6

// conn is one TCP connection to the server with its own security
// context: requests on it go one at a time (the pool hands it to one
// caller at a time), so its sealing sequence numbers stay in step.
type conn struct {
	tr     *http.Transport
	hc     *http.Client
	sc     SecurityContext // nil for Basic
	sealer Sealer          // nil over https
	authed bool
	// used is set once the connection carried a message: a 401 on it
	// then means the server dropped the authentication (or the TCP
	// connection under it), and the message was refused unread.
	used bool
	// poll is set while the connection carries a long poll (see pool).
	poll bool
}

func (c *conn) close() { c.tr.CloseIdleConnections() }

// pool keeps at most n+1 connections; a caller waits for a free one.
// Long-polling requests (Receive, which the server holds until it has
// output or OperationTimeout passes) may hold at most n of them, so one
// is always left for the requests the server answers at once (Create,
// Command, Send, Signal, Delete). Without that reserve, a pool-level
// Receive and a pipeline's Receive held every connection of a client of
// two while the pipeline's input waited to be sent: the pipeline, which
// needs its input before it has anything to say, stalled until a Receive
// timed out (OperationTimeout, 20 s), once per Send.
type pool struct {
	newConn func() (*conn, error)
	slots   chan struct{} // every connection in use: cap n+1
	polls   chan struct{} // those held by long polls: cap n
	mu      sync.Mutex
	idle    []*conn
}

func newPool(n int, newConn func() (*conn, error)) *pool {
	return &pool{newConn: newConn, slots: make(chan struct{}, n+1), polls: make(chan struct{}, n)}
}

// size is the most connections the pool keeps.
func (p *pool) size() int { return cap(p.slots) }

// get takes an idle connection, or makes a new one when fewer than the
// pool's size exist, or waits for one. poll says the request is a long
// poll (it then also waits while n long polls are out).
func (p *pool) get(ctx context.Context, poll bool) (*conn, error) {
	if poll {
		select {
		case p.polls <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		if poll {
			<-p.polls
		}
		return nil, ctx.Err()
	}
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		c.poll = poll
		return c, nil
	}
	p.mu.Unlock()
	c, err := p.newConn()
	if err != nil {
		p.release(poll)
		return nil, err
	}
	c.poll = poll
	return c, nil
}

// release frees the slots of a connection taken for a poll or not.
func (p *pool) release(poll bool) {
	<-p.slots
	if poll {
		<-p.polls
	}
}

// put returns a healthy connection.
func (p *pool) put(c *conn) {
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	p.release(c.poll)
}

// discard drops a connection whose state is in doubt (a failed request
// may have put the seal out of step).
func (p *pool) discard(c *conn) {
	c.close()
	p.release(c.poll)
}

// closeIdle closes every idle connection.
func (p *pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}

// newConn makes an unauthenticated connection. MaxConnsPerHost 1 pins
// its requests to one TCP connection; should the server close it, the
// next request opens another, which the server answers 401 (a new
// connection has no context) and the client re-authenticates.
func (cl *Client) newConn() (*conn, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: cl.timeouts.Connect, KeepAlive: cl.timeouts.Connect}).DialContext,
		TLSClientConfig:       cl.tls.Clone(),
		TLSHandshakeTimeout:   cl.timeouts.Connect,
		MaxConnsPerHost:       1,
		MaxIdleConnsPerHost:   1,
		ResponseHeaderTimeout: cl.timeouts.Operation + cl.timeouts.Grace,
		ForceAttemptHTTP2:     false,
		// NTLM and Kerberos over HTTP/2 do not work (no connection
		// identity); WinRM speaks HTTP/1.1.
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	c := &conn{tr: tr, hc: &http.Client{Transport: tr, CheckRedirect: noRedirect}}
	if cl.provider != nil {
		sc, err := cl.provider.NewContext(cl.spn)
		if err != nil {
			tr.CloseIdleConnections()
			return nil, err
		}
		c.sc = sc
	}
	return c, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// authenticate runs the connection's handshake on empty POSTs (the
// message-encryption rule: pypsrp's wsman.py send() and masterzen/winrm's
// PrepareRequest authenticate with an empty body; harmless over https), and
// takes the context's Sealer when the endpoint is plain http.
func (cl *Client) authenticate(ctx context.Context, c *conn) error {
	tok, err := c.sc.Step(nil)
	if err != nil {
		return cl.authErr(err)
	}
	for leg := 0; ; leg++ {
		if leg >= maxHandshakeLegs {
			return &AuthError{User: cl.cfg.User, Endpoint: cl.ep.url, Reason: "the authentication handshake did not finish"}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.ep.url, http.NoBody)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", soapContentType)
		if tok != nil {
			req.Header.Set("Authorization", c.sc.Scheme()+" "+base64.StdEncoding.EncodeToString(tok))
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			return classifyTransport(cl.ep.url, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
		if b, ok := c.sc.(channelBinder); ok && resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			b.bindCertificate(resp.TLS.PeerCertificates[0])
		}
		in, err := serverToken(resp.Header, c.sc.Scheme())
		if err != nil {
			return &AuthError{User: cl.cfg.User, Endpoint: cl.ep.url, Reason: err.Error()}
		}
		if resp.StatusCode == http.StatusUnauthorized {
			if in == nil && !c.sc.Complete() {
				// Our scheme was not among the offers (a server with
				// Negotiate disabled offers only Kerberos): start again
				// in the one it offers, if the context can.
				if sw, ok := c.sc.(schemeSwitcher); ok {
					switched, err := sw.offered(resp.Header.Values("WWW-Authenticate"))
					if err != nil {
						return cl.authErr(err)
					}
					if switched {
						if tok, err = c.sc.Step(nil); err != nil {
							return cl.authErr(err)
						}
						continue
					}
				}
			}
			if in == nil || c.sc.Complete() {
				return cl.refused()
			}
			tok, err = c.sc.Step(in)
			if err != nil {
				return cl.authErr(err)
			}
			if tok == nil {
				return cl.refused()
			}
			continue
		}
		if in != nil {
			if _, err := c.sc.Step(in); err != nil {
				return cl.authErr(err)
			}
		}
		if !c.sc.Complete() && (resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests) {
			return classifyAnswer("authentication", resp.StatusCode, body)
		}
		// Complete and not 401: authenticated, whatever the server made of
		// the empty body itself.
		if !c.sc.Complete() {
			return &AuthError{User: cl.cfg.User, Endpoint: cl.ep.url, Reason: fmt.Sprintf("the server answered HTTP %d before the %s handshake completed", resp.StatusCode, c.sc.Scheme())}
		}
		break
	}
	if !cl.ep.https {
		c.sealer = c.sc.Sealer()
		if c.sealer == nil {
			return fmt.Errorf("the %s context offers no message encryption, and %s is plain http: refusing to send unencrypted (make exchange.endpoint https://)", c.sc.Scheme(), cl.ep.url)
		}
	}
	c.authed = true
	return nil
}

// refused is the error of a 401 that ends the handshake.
func (cl *Client) refused() error {
	ae := &AuthError{User: cl.cfg.User, Endpoint: cl.ep.url}
	if cl.cfg.Auth == AuthKerberos {
		ae.Reason = fmt.Sprintf("the server refused the Kerberos ticket for %s (HTTP 401): check exchange.kerberos.spn, that the server's account holds that SPN, and the clocks", cl.spn)
		if kp, ok := cl.provider.(*KerberosProvider); ok && kp.Principal() != "" {
			ae.Reason += fmt.Sprintf("; and that %s may use remote PowerShell on the server (exchange.user)", kp.Principal())
		}
	}
	return ae
}

func (cl *Client) authErr(err error) error {
	var ae *AuthError
	if errors.As(err, &ae) {
		if ae.User == "" {
			ae.User = cl.cfg.User
		}
		if ae.Endpoint == "" {
			ae.Endpoint = cl.ep.url
		}
		return err
	}
	if errkind.IsTransient(err) {
		// e.g. a KDC that did not answer: worth another try.
		return fmt.Errorf("authentication to %s: %w", cl.ep.url, err)
	}
	return &AuthError{User: cl.cfg.User, Endpoint: cl.ep.url, Err: err}
}

// notSent marks an error that happened before the request left.
type notSent struct{ err error }

func (n notSent) Error() string { return n.err.Error() }
func (n notSent) Unwrap() error { return n.err }

// serverToken finds the token of scheme in WWW-Authenticate headers (nil
// when the header names the scheme bare or not at all).
func serverToken(h http.Header, scheme string) ([]byte, error) {
	for _, v := range h.Values("WWW-Authenticate") {
		for _, part := range strings.Split(v, ",") {
			s, tok, _ := strings.Cut(strings.TrimSpace(part), " ")
			if !strings.EqualFold(s, scheme) {
				continue
			}
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(tok)
			if err != nil {
				return nil, fmt.Errorf("the server's %s token is not base64", scheme)
			}
			return b, nil
		}
	}
	return nil, nil
}

// exchange is one request on c: the envelope sealed when the
// connection seals, the answer unsealed. It returns the status and the
// plain answer, and whether the connection may carry the next request;
// err is an error of the round trip itself, after which it may not.
func (cl *Client) exchange(ctx context.Context, c *conn, envelope []byte) (status int, answer []byte, keep bool, err error) {
	body, ct := envelope, soapContentType
	if c.sealer != nil {
		var err error
		body, ct, err = c.sealer.Wrap(envelope)
		if err != nil {
			return 0, nil, false, fmt.Errorf("sealing the request: %w", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cl.ep.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, false, err
	}
	req.Header.Set("Content-Type", ct)
	if cl.cfg.Auth == AuthBasic {
		req.SetBasicAuth(cl.cfg.User, cl.cfg.Password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, false, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return 0, nil, false, fmt.Errorf("reading the answer: %w", err)
	}
	if len(data) > maxResponse {
		return 0, nil, false, fmt.Errorf("the answer is larger than %d bytes", maxResponse)
	}
	rct := resp.Header.Get("Content-Type")
	switch {
	case c.sealer == nil:
	case IsEncrypted(rct):
		data, err = c.sealer.Unwrap(rct, data)
		if err != nil {
			return 0, nil, false, fmt.Errorf("unsealing the answer: %w", err)
		}
	case resp.StatusCode == http.StatusOK:
		return 0, nil, false, fmt.Errorf("the answer to a sealed request came unsealed (Content-Type %q)", rct)
	default:
		// An unsealed error answer (a 401, or a 400 for a message the
		// server could not unseal): read it, but the seal is out of step.
		return resp.StatusCode, data, false, nil
	}
	return resp.StatusCode, data, true, nil
}
