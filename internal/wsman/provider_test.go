package wsman

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// A ContextProvider the way internal/kerberos plugs in: the Kerberos
// scheme, a token out on the first request, the server's final token on
// the 200 completing the context (mutual authentication), and an RFC 4121
// style Sealer over plain http. The mechanism here is a stand-in
// (xorWrapper); the handshake and framing are the real ones.

type xorProvider struct {
	mu   sync.Mutex
	spns []string
}

func (p *xorProvider) Seals() bool { return true }

func (p *xorProvider) NewContext(spn string) (SecurityContext, error) {
	p.mu.Lock()
	p.spns = append(p.spns, spn)
	p.mu.Unlock()
	return &xorContext{}, nil
}

type xorContext struct {
	sent, done bool
}

func (x *xorContext) Scheme() string { return "Kerberos" }

func (x *xorContext) Step(in []byte) ([]byte, error) {
	switch {
	case !x.sent:
		x.sent = true
		return []byte("ap-req"), nil
	case string(in) == "ap-rep":
		x.done = true
		return nil, nil
	default:
		return nil, errors.New("the server did not prove itself")
	}
}

func (x *xorContext) Complete() bool { return x.done }

func (x *xorContext) Sealer() Sealer {
	if !x.done {
		return nil
	}
	return NewMultipartSealer(ProtocolKerberos, &xorWrapper{})
}

type xorConn struct {
	sealer Sealer
}

// xorServer answers Create over a sealed connection; proveItself false
// makes it answer the handshake's 200 without the final token.
func xorServer(t *testing.T, proveItself bool) string {
	type key struct{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(key{}).(*xorConn)
		body, _ := io.ReadAll(r.Body)
		if authz := r.Header.Get("Authorization"); authz != "" {
			if authz != "Kerberos "+base64.StdEncoding.EncodeToString([]byte("ap-req")) || len(body) != 0 {
				t.Errorf("handshake request: %q with %d bytes", authz, len(body))
			}
			c.sealer = NewMultipartSealer(ProtocolKerberos, &xorWrapper{})
			if proveItself {
				w.Header().Set("WWW-Authenticate", "Kerberos "+base64.StdEncoding.EncodeToString([]byte("ap-rep")))
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		if c.sealer == nil {
			w.Header().Set("WWW-Authenticate", "Kerberos")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ct := r.Header.Get("Content-Type")
		if !strings.Contains(ct, `protocol="`+ProtocolKerberos+`"`) {
			t.Errorf("Content-Type %q", ct)
		}
		plain, err := c.sealer.Unwrap(ct, body)
		if err != nil {
			t.Errorf("unwrap: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		msgID := between(string(plain), "<a:MessageID>", "</a:MessageID>")
		answer := soapAnswer(wsmv.NSTransfer+"/CreateResponse", msgID, `<x:ResourceCreated><a:ReferenceParameters><w:SelectorSet><w:Selector Name="ShellId">K-SHELL</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>`)
		out, ct, err := c.sealer.Wrap(answer)
		if err != nil {
			t.Fatal(err)
		}
		w.Header().Set("Content-Type", ct)
		w.Write(out)
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, key{}, &xorConn{})
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/PowerShell/"
}

func between(s, a, b string) string {
	_, rest, _ := strings.Cut(s, a)
	v, _, _ := strings.Cut(rest, b)
	return v
}

func TestProviderSealsOverHTTP(t *testing.T) {
	p := &xorProvider{}
	cl, err := New(Config{Endpoint: xorServer(t, true), Auth: AuthKerberos, Kerberos: KerberosConfig{Provider: p}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Open(ctxT(t), uuid.New(), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if cl.ShellID() != "K-SHELL" {
		t.Errorf("ShellID %q", cl.ShellID())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.spns) != 1 || p.spns[0] != "HTTP/127.0.0.1" {
		t.Errorf("SPNs %q, want the default HTTP/<endpoint host>", p.spns)
	}
}

func TestProviderNeedsMutualAuth(t *testing.T) {
	cl, err := New(Config{Endpoint: xorServer(t, false), Auth: AuthKerberos, User: "alice@LAB.TEST", Kerberos: KerberosConfig{Provider: &xorProvider{}, SPN: "HTTP/exch01.lab.test"}})
	if err != nil {
		t.Fatal(err)
	}
	err = cl.Open(ctxT(t), uuid.New(), []byte("c"))
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "before the Kerberos handshake completed") {
		t.Fatalf("err = %v, want an *AuthError saying the handshake did not complete", err)
	}
}

// TestKerberosTicketRefused: a 401 to the ticket names the SPN setting,
// not the password.
func TestKerberosTicketRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", "Kerberos")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	cl, err := New(Config{Endpoint: srv.URL + "/PowerShell/", Auth: AuthKerberos, User: "alice@LAB.TEST",
		Kerberos: KerberosConfig{Provider: &xorProvider{}, SPN: "HTTP/exch01.lab.test"}})
	if err != nil {
		t.Fatal(err)
	}
	err = cl.Open(ctxT(t), uuid.New(), []byte("c"))
	var ae *AuthError
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "exchange.kerberos.spn") || !strings.Contains(err.Error(), "HTTP/exch01.lab.test") || strings.Contains(err.Error(), "exchange.password") {
		t.Fatalf("err = %v", err)
	}
}

type failingProvider struct{ err error }

func (f failingProvider) Seals() bool { return true }
func (f failingProvider) NewContext(string) (SecurityContext, error) {
	return nil, f.err
}

// TestProviderErrors: a context the provider cannot start is an
// *AuthError carrying the provider's words, or stays transient when the
// provider marked it so; nothing is sent either way.
func TestProviderErrors(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		err       error
		transient bool
	}{
		{errors.New("kerberos: no ticket for HTTP/ex01 (exchange.kerberos.spn)"), false},
		{errkind.Transient(errors.New("kerberos: the KDC did not answer")), true},
	} {
		cl, err := New(Config{Endpoint: srv.URL + "/PowerShell/", Auth: AuthKerberos, Kerberos: KerberosConfig{Provider: failingProvider{tt.err}},
			Retry: RetryPolicy{Attempts: 2, Backoff: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		err = cl.Open(ctxT(t), uuid.New(), []byte("c"))
		var ae *AuthError
		if errkind.IsTransient(err) != tt.transient || !strings.Contains(err.Error(), tt.err.Error()) || (!tt.transient && !errors.As(err, &ae)) {
			t.Errorf("err = %v (transient %v)", err, errkind.IsTransient(err))
		}
	}
	if hits != 0 {
		t.Errorf("%d requests reached the server", hits)
	}
}
