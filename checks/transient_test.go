package checks

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
	"github.com/exrunbook/exrunbook/internal/errkind"
)

func TestNetworkTransient(t *testing.T) {
	tests := []struct {
		name  string
		cause error
		want  bool
	}{
		{"nil", nil, false},
		{"EOF", io.EOF, true},
		{"unexpected EOF wrapped", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"timeout", os.ErrDeadlineExceeded, true},
		{"context deadline", context.DeadlineExceeded, true},
		{"cancelled by the operator", fmt.Errorf("dial: %w", context.Canceled), false},
		{"certificate not trusted", errors.New("x509: certificate signed by unknown authority"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := networkTransient(tt.cause); got != tt.want {
				t.Errorf("networkTransient(%v) = %v, want %v", tt.cause, got, tt.want)
			}
			if got := errkind.IsTransient(transientIf(tt.cause, errors.New("wrapped"))); got != tt.want {
				t.Errorf("transientIf marks %v transient = %v, want %v", tt.cause, got, tt.want)
			}
		})
	}
}

func TestTransientStatus(t *testing.T) {
	for code, want := range map[int]bool{200: false, 400: false, 401: false, 404: false, 429: true, 500: true, 502: true, 503: true} {
		if got := transientStatus(code); got != want {
			t.Errorf("transientStatus(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestVerdictErr(t *testing.T) {
	tr := errkind.Transient(errors.New("HTTP 503"))
	perm := errors.New("HTTP 401")
	tests := []struct {
		name  string
		errs  []error // the errors behind the failures; the rest are answers
		fails int
		want  error
	}{
		{"no failure", nil, 0, nil},
		{"every failure transient", []error{tr, errkind.Transient(io.EOF)}, 2, tr},
		{"a permanent error too", []error{tr, perm}, 2, nil},
		{"a wrong answer too", []error{tr}, 2, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v verdictErr
			for _, e := range tt.errs {
				v.add(e)
			}
			if got := v.err(tt.fails); got != tt.want {
				t.Errorf("err = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAutodiscoverTransient: a 5xx answer or a connection closed without
// an answer fails the check with a transient Err (the engine retries it);
// a 401 fails it with no Err to retry.
func TestAutodiscoverTransient(t *testing.T) {
	ca := newTestCA(t)
	cert := ca.issue(t, "autodiscover.contoso.test", []string{"autodiscover.contoso.test"}, time.Now().Add(400*24*time.Hour))
	serve := func(h http.HandlerFunc) string {
		srv := httptest.NewUnstartedServer(h)
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
	}
	drop := func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}
	tests := []struct {
		name          string
		handler       http.HandlerFunc
		wantTransient bool
	}{
		{"HTTP 500", status(http.StatusInternalServerError), true},
		{"HTTP 503", status(http.StatusServiceUnavailable), true},
		{"connection dropped", drop, true},
		{"HTTP 401", status(http.StatusUnauthorized), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := serve(tt.handler)
			chk := &AutodiscoverCheck{Targets: []Target{{"EX01", addr}}, Host: "autodiscover.contoso.test", Email: "allowed@contoso.test",
				Password: func() (string, error) { return "pw", nil }, ExternalName: "outlook-ext.contoso.test", ExpectExternal: true,
				RootCAs: ca.pool, Timeout: 5 * time.Second}
			res := chk.Run(context.Background(), nil)
			if res.Status != check.Fail {
				t.Fatalf("status %s %q", res.Status, res.Message)
			}
			if got := errkind.IsTransient(res.Err); got != tt.wantTransient {
				t.Errorf("transient = %v (Err %v), want %v; message %q", got, res.Err, tt.wantTransient, res.Message)
			}
		})
	}
}

// TestTLSCheckTransient: a server that refuses the connection fails the
// TLS check with a transient Err; an untrusted certificate does not.
func TestTLSCheckTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	chk := &TLSCheck{Targets: []Target{{"EX01", closed}}, Names: []string{"outlook.contoso.test"}, Timeout: 2 * time.Second}
	res := chk.Run(context.Background(), nil)
	if res.Status != check.Fail || !errkind.IsTransient(res.Err) {
		t.Fatalf("refused: %s %q Err %v", res.Status, res.Message, res.Err)
	}

	ca := newTestCA(t)
	cert := ca.issue(t, "outlook.contoso.test", []string{"outlook.contoso.test"}, time.Now().Add(400*24*time.Hour))
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	chk = &TLSCheck{Targets: []Target{{"EX01", srv.Listener.Addr().String()}}, Names: []string{"outlook.contoso.test"}, Timeout: 2 * time.Second}
	res = chk.Run(context.Background(), nil) // system roots: the test CA is not trusted
	if res.Status != check.Fail || res.Err != nil {
		t.Fatalf("untrusted: %s %q Err %v", res.Status, res.Message, res.Err)
	}
}
