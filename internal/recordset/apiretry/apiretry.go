// Package apiretry is the HTTP transport under every DNS provider API
// client: it retries rate limits (HTTP 429) and server errors (5xx) with a
// doubling backoff that honours Retry-After, and turns a refused credential
// (401, 403) into an *AuthError so that the caller can name the setting
// that holds it. Responses are otherwise passed through unchanged, so the
// provider's own error bodies reach the operator in its words.
package apiretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/pause"
)

// maxBody bounds how much of an error body is kept.
const maxBody = 4 << 10

// Transport is an http.RoundTripper with retries.
type Transport struct {
	// Base sends the requests (default http.DefaultTransport, TLS verified).
	Base http.RoundTripper
	// Attempts is how often a request is sent at most (default 5).
	Attempts int
	// Backoff is the first wait (default 1 s); it doubles up to MaxBackoff
	// (default 30 s). A Retry-After of the server's is used instead when
	// it is longer, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Sleep waits d or until ctx ends (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
	// ErrorBodies turns every other 4xx answer into a *StatusError that
	// carries the provider's body, for client modules that would report
	// only the status code.
	ErrorBodies bool
}

// StatusError is a 429 or 5xx answer that did not go away.
type StatusError struct {
	Method, Host string
	Status       int
	Attempts     int
	// Body is the start of the provider's answer.
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d %s after %d attempt(s): %s", e.Method, e.Host, e.Status, http.StatusText(e.Status), e.Attempts, e.Body)
}

// AuthError is a refused credential: HTTP 401 or 403.
type AuthError struct {
	Method, Host string
	Status       int
	// Body is the start of the provider's answer.
	Body string
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Host, e.Status, http.StatusText(e.Status), e.Body)
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return original
}

// original is http.DefaultTransport as it was before RouteDefault.
var original = http.DefaultTransport

type transportKey struct{}

// WithTransport returns a context whose HTTP requests, when they go
// through http.DefaultTransport after RouteDefault, are sent by rt.
func WithTransport(ctx context.Context, rt http.RoundTripper) context.Context {
	return context.WithValue(ctx, transportKey{}, rt)
}

// router is the layer RouteDefault puts on http.DefaultTransport.
type router struct{ fallback http.RoundTripper }

func (r router) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt, ok := req.Context().Value(transportKey{}).(http.RoundTripper); ok && rt != nil {
		// Once only: a transport under rt that is http.DefaultTransport
		// itself must not come back here.
		return rt.RoundTrip(req.WithContext(context.WithValue(req.Context(), transportKey{}, nil)))
	}
	return r.fallback.RoundTrip(req)
}

var routeOnce sync.Once

// RouteDefault puts, once, a layer on http.DefaultTransport that sends a
// request whose context carries a transport (WithTransport) through it and
// every other request exactly as before. It exists for provider modules
// that build their own http.Client{} and so cannot be given one: the
// provider passes its retrying transport in the context of each call.
func RouteDefault() {
	routeOnce.Do(func() { http.DefaultTransport = router{fallback: original} })
}

// Routed is the libdnszone.Zone Context hook for a module that builds its
// own http.Client on http.DefaultTransport: it installs RouteDefault once
// and carries rt in the context of each call, so that the module's
// requests go through rt.
func Routed(rt http.RoundTripper) func(context.Context) context.Context {
	RouteDefault()
	return func(ctx context.Context) context.Context { return WithTransport(ctx, rt) }
}

func (t *Transport) sleep(ctx context.Context, d time.Duration) error {
	if t.Sleep != nil {
		return t.Sleep(ctx, d)
	}
	return pause.For(ctx, d)
}

// RoundTrip sends req, again after a 429 or 5xx while attempts are left.
// A connection that fails is retried only for methods that are safe to
// repeat (GET, HEAD, PUT, DELETE): a POST may have been applied.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	attempts := t.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	wait := t.Backoff
	if wait <= 0 {
		wait = time.Second
	}
	maxWait := t.MaxBackoff
	if maxWait <= 0 {
		maxWait = 30 * time.Second
	}
	ctx := req.Context()
	for n := 1; ; n++ {
		r := req
		if n > 1 {
			r = req.Clone(ctx)
			if req.Body != nil && req.Body != http.NoBody {
				if req.GetBody == nil {
					return nil, fmt.Errorf("%s %s: cannot resend the request body", req.Method, req.URL.Host)
				}
				b, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				r.Body = b
			}
		}
		resp, err := t.base().RoundTrip(r)
		if err != nil {
			if ctx.Err() != nil || !idempotent(req.Method) || n >= attempts {
				return nil, errkind.Transient(err)
			}
			if serr := t.sleep(ctx, wait); serr != nil {
				return nil, serr
			}
			wait = min(2*wait, maxWait)
			continue
		}
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			return nil, &AuthError{Method: req.Method, Host: req.URL.Host, Status: resp.StatusCode, Body: drain(resp)}
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			body := drain(resp)
			if n >= attempts {
				return nil, errkind.Transient(&StatusError{Method: req.Method, Host: req.URL.Host, Status: resp.StatusCode, Attempts: n, Body: body})
			}
			d := wait
			if ra := retryAfter(resp.Header.Get("Retry-After")); ra > d {
				d = min(ra, maxWait)
			}
			if serr := t.sleep(ctx, d); serr != nil {
				return nil, serr
			}
			wait = min(2*wait, maxWait)
			continue
		}
		if t.ErrorBodies && resp.StatusCode >= 400 {
			return nil, &StatusError{Method: req.Method, Host: req.URL.Host, Status: resp.StatusCode, Attempts: n, Body: drain(resp)}
		}
		return resp, nil
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// drain reads the start of the body as text and closes it.
func drain(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(no body)"
	}
	return s
}

// retryAfter reads a Retry-After header, seconds or an HTTP date, as a
// wait between 0 and a day.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	const limit = 24 * time.Hour
	if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && s >= 0 {
		if s > int64(limit/time.Second) {
			return limit
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), limit)
	}
	return 0
}

// IsAuth reports whether err is, or wraps, a refused credential.
func IsAuth(err error) (*AuthError, bool) {
	var a *AuthError
	ok := errors.As(err, &a)
	return a, ok
}

// Client returns an HTTP client over a retrying transport on base (nil:
// http.DefaultTransport), with an overall timeout per request.
func Client(base http.RoundTripper) *http.Client {
	return &http.Client{Transport: &Transport{Base: base}, Timeout: 5 * time.Minute}
}

// Access is what a provider package's New takes: the secret that signs in
// to the API (a token or key, sent only in the request's authentication
// header), the setting it came from (named in errors), and the transport
// under the retries (nil: the default transport, TLS verified; tests and
// the lab route the provider's host to a fake).
type Access struct {
	Secret    string
	Setting   string
	Transport http.RoundTripper
}

// Missing is the error of a provider (prefix "cloudflare") whose secret
// (kind "API token") is not set, naming where to set it; nil when it is.
func (a Access) Missing(prefix, kind string) error {
	if a.Secret != "" {
		return nil
	}
	return fmt.Errorf("%s: no %s: set %s", prefix, kind, a.Setting)
}

// Credential describes a provider's API credential for the errors of a
// module behind this transport. Its Explain suits libdnszone.Zone.Explain.
type Credential struct {
	// API is the provider as the operator knows it ("Cloudflare"); Prefix
	// labels the module's other errors ("cloudflare").
	API, Prefix string
	// Kind is what the credential is called ("API token").
	Kind string
	// Setting names where the credential comes from.
	Setting string
	// Need says what the credential must be or allow, for the operator
	// who checks it.
	Need string
	// LabelStatus reports a *StatusError by itself under Prefix, without
	// the text the module wrapped around it; otherwise the module's error
	// is returned as it is, since the StatusError in it already names the
	// host, status and the provider's words.
	LabelStatus bool
}

// Explain names the setting behind a refused credential, keeps a
// provider's lasting 429 or 5xx answer in its words, and labels any other
// error with the provider.
func (c Credential) Explain(err error) error {
	if a, ok := IsAuth(err); ok {
		return fmt.Errorf("the %s API refused the %s (HTTP %d; check %s: %s): %s", c.API, c.Kind, a.Status, c.Setting, c.Need, a.Body)
	}
	var se *StatusError
	if errors.As(err, &se) {
		if c.LabelStatus {
			return fmt.Errorf("%s: %w", c.Prefix, se)
		}
		return err
	}
	return fmt.Errorf("%s: %w", c.Prefix, err)
}
