package wsman

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// newTestClient connects to f: NTLM over http (sealed) or Basic over
// https, with fast retries.
func newTestClient(t *testing.T, f *fakeServer) *Client {
	t.Helper()
	url, ca := f.start(!f.ntlm)
	cfg := Config{Endpoint: url, Auth: AuthNTLM, User: f.user, Password: f.password, CAFile: ca,
		Timeouts: Timeouts{Operation: 2 * time.Second, Grace: 5 * time.Second},
		Retry:    RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}}
	if !f.ntlm {
		cfg.Auth = AuthBasic
	}
	cl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestSession runs a pool's whole life over both transports: Create with
// creationXml, the pool's Receive (data, then TimedOut as no data), a
// pipeline's Command, Send on stdin and pr, Receive to Done, Signal and
// Delete.
func TestSession(t *testing.T) {
	for _, useNTLM := range []bool{true, false} {
		name := "basic-https"
		if useNTLM {
			name = "ntlm-http-sealed"
		}
		t.Run(name, func(t *testing.T) {
			f := newFakeServer(t, useNTLM)
			cl := newTestClient(t, f)
			ctx := ctxT(t)
			poolID := uuid.New()
			creation := []byte("SESSION_CAPABILITY+INIT_RUNSPACEPOOL\x00\xff")
			if err := cl.Open(ctx, poolID, creation); err != nil {
				t.Fatal(err)
			}
			if got := cl.ShellID(); got != strings.ToUpper(poolID.String()) {
				t.Errorf("ShellID %q, want the pool id", got)
			}
			data, done, err := cl.Receive(ctx, uuid.Nil)
			if err != nil || done || !bytes.Equal(data, creation) {
				t.Fatalf("pool Receive = %q %v %v", data, done, err)
			}
			data, done, err = cl.Receive(ctx, uuid.Nil)
			if err != nil || done || data != nil {
				t.Fatalf("pool Receive after TimedOut = %q %v %v, want nil false nil", data, done, err)
			}
			if err := cl.Send(ctx, uuid.Nil, "stdin", []byte("pool-msg")); err != nil {
				t.Fatal(err)
			}
			pipe := uuid.New()
			if err := cl.Command(ctx, pipe, []byte("CREATE_PIPELINE")); err != nil {
				t.Fatal(err)
			}
			if err := cl.Send(ctx, pipe, "stdin", []byte("input")); err != nil {
				t.Fatal(err)
			}
			if err := cl.Send(ctx, pipe, "pr", []byte("hostresp")); err != nil {
				t.Fatal(err)
			}
			data, done, err = cl.Receive(ctx, pipe)
			if err != nil || !done || string(data) != "CREATE_PIPELINEstdin:inputpr:hostresp" {
				t.Fatalf("pipeline Receive = %q %v %v", data, done, err)
			}
			if err := cl.Signal(ctx, pipe, psrp.SignalTerminate); err != nil {
				t.Fatal(err)
			}
			if err := cl.Close(ctx); err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if !f.deleted || len(f.signals) != 1 || f.signals[0] != strings.ToUpper(pipe.String())+" "+psrp.SignalTerminate {
				t.Errorf("deleted %v signals %q", f.deleted, f.signals)
			}
			if useNTLM && f.handshakes == 0 {
				t.Error("no NTLM handshake counted")
			}
		})
	}
}

// TestConcurrentPipelines: pipelines on several connections at once,
// each with its own NTLM context and seal sequence.
func TestConcurrentPipelines(t *testing.T) {
	f := newFakeServer(t, true)
	cl := newTestClient(t, f)
	ctx := ctxT(t)
	if err := cl.Open(ctx, uuid.New(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uuid.New()
			args := []byte(fmt.Sprintf("pipeline-%d", i))
			if err := cl.Command(ctx, id, args); err != nil {
				errs <- err
				return
			}
			for range 3 {
				if err := cl.Send(ctx, id, "stdin", []byte("in")); err != nil {
					errs <- err
					return
				}
			}
			data, done, err := cl.Receive(ctx, id)
			if err != nil || !done || string(data) != string(args)+"stdin:instdin:instdin:in" {
				errs <- fmt.Errorf("pipeline %d: %q %v %v", i, data, done, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	f.mu.Lock()
	hs := f.handshakes
	f.mu.Unlock()
	if hs < 1 || hs > 8+1 {
		t.Errorf("%d handshakes, want 1..9 (one per pooled connection: 8 for long polls, one kept for the other requests)", hs)
	}
}

// TestRetries: what is retried and what is not.
func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		op        string
		plan      []string
		run       func(ctx context.Context, cl *Client, pipe uuid.UUID) error
		wantCalls int
		wantErr   bool
		transient bool
	}{
		{"Create after a 500", "Create", []string{"500"}, nil, 2, false, false},
		{"Create after a dropped connection", "Create", []string{"drop"}, nil, 2, false, false},
		{"Create throttled to the end", "Create", []string{"throttle", "throttle", "throttle"}, nil, 3, true, true},
		{"Create whose answer was lost", "Create", []string{"createdrop"}, nil, 2, false, false},
		{"Create denied is not retried", "Create", []string{"denied"}, nil, 1, true, false},
		{"Receive after a dropped connection", "Receive", []string{"drop"}, func(ctx context.Context, cl *Client, pipe uuid.UUID) error {
			_, done, err := cl.Receive(ctx, pipe)
			if err == nil && !done {
				return errors.New("not done")
			}
			return err
		}, 2, false, false},
		{"Receive after a 500", "Receive", []string{"500", "500"}, func(ctx context.Context, cl *Client, pipe uuid.UUID) error {
			_, _, err := cl.Receive(ctx, pipe)
			return err
		}, 3, false, false},
		{"Send dropped is not retried", "Send", []string{"drop"}, func(ctx context.Context, cl *Client, pipe uuid.UUID) error {
			return cl.Send(ctx, pipe, "stdin", []byte("once"))
		}, 1, true, true},
		{"Send after a 500 is not retried", "Send", []string{"500"}, func(ctx context.Context, cl *Client, pipe uuid.UUID) error {
			return cl.Send(ctx, pipe, "stdin", []byte("once"))
		}, 1, true, true},
		{"Signal after a 500", "Signal", []string{"500"}, func(ctx context.Context, cl *Client, pipe uuid.UUID) error {
			return cl.Signal(ctx, pipe, psrp.SignalStop)
		}, 2, false, false},
		{"Delete after a dropped connection", "Delete", []string{"drop"}, func(ctx context.Context, cl *Client, _ uuid.UUID) error {
			return cl.Close(ctx)
		}, 2, false, false},
	}
	for _, useNTLM := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/ntlm=%v", tt.name, useNTLM), func(t *testing.T) {
				f := newFakeServer(t, useNTLM)
				cl := newTestClient(t, f)
				ctx := ctxT(t)
				pipe := uuid.New()
				f.plan(tt.op, tt.plan...)
				err := cl.Open(ctx, uuid.New(), []byte("c"))
				if tt.op != "Create" {
					if err != nil {
						t.Fatal(err)
					}
					if err := cl.Command(ctx, pipe, []byte("p")); err != nil {
						t.Fatal(err)
					}
					err = tt.run(ctx, cl, pipe)
				}
				if got := f.count(tt.op); got != tt.wantCalls {
					t.Errorf("%d %s requests, want %d", got, tt.op, tt.wantCalls)
				}
				if (err != nil) != tt.wantErr {
					t.Fatalf("err = %v, want error %v", err, tt.wantErr)
				}
				if err != nil && errkind.IsTransient(err) != tt.transient {
					t.Errorf("transient = %v, want %v (%v)", errkind.IsTransient(err), tt.transient, err)
				}
			})
		}
	}
}

// TestThrottlingFaultKeepsExchangesWords: the Create fault's text survives
// into the error, typed and transient.
func TestThrottlingFaultKeepsExchangesWords(t *testing.T) {
	f := newFakeServer(t, true)
	cl := newTestClient(t, f)
	f.plan("Create", "throttle", "throttle", "throttle")
	err := cl.Open(ctxT(t), uuid.New(), []byte("c"))
	var fe *FaultError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a *FaultError", err)
	}
	if !strings.Contains(err.Error(), "you have exceeded the maximum number of connections allowed : 18 for the policy party : MaxConcurrency") {
		t.Errorf("the server's words are lost: %v", err)
	}
	if fe.Op != "Create" || fe.Subcode != "w:InternalError" || fe.Code != 2150858843 || fe.Machine != "ex01.contoso.test" || !errkind.IsTransient(err) {
		t.Errorf("fault %+v transient %v", fe, errkind.IsTransient(err))
	}
}

// TestAuthFailures: wrong password, and a 401 on an authenticated
// connection (re-authenticated once on a new connection).
func TestAuthFailures(t *testing.T) {
	for _, useNTLM := range []bool{true, false} {
		t.Run(fmt.Sprintf("wrong-password/ntlm=%v", useNTLM), func(t *testing.T) {
			f := newFakeServer(t, useNTLM)
			cl := newTestClient(t, f)
			f.password = "other"
			err := cl.Open(ctxT(t), uuid.New(), []byte("c"))
			var ae *AuthError
			if !errors.As(err, &ae) || errkind.IsTransient(err) {
				t.Fatalf("err = %v, want a permanent *AuthError", err)
			}
			for _, want := range []string{"exchange.user", "exchange.password", `CONTOSO\\admin`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q does not name %s", err, want)
				}
			}
			if strings.Contains(err.Error(), "Secr3t") {
				t.Error("the password leaked into the error")
			}
		})
	}
	t.Run("401-on-an-authenticated-connection", func(t *testing.T) {
		f := newFakeServer(t, true)
		cl := newTestClient(t, f)
		ctx := ctxT(t)
		if err := cl.Open(ctx, uuid.New(), []byte("c")); err != nil {
			t.Fatal(err)
		}
		f.plan("Receive", "401")
		if _, _, err := cl.Receive(ctx, uuid.Nil); err != nil {
			t.Fatalf("Receive after a 401 on a used connection: %v", err)
		}
		if got := f.count("Receive"); got != 2 {
			t.Errorf("%d Receives, want 2", got)
		}
	})
}

// TestTLS: verification is on; without the CA the error names
// exchange.ca_file; Basic over http is refused up front.
func TestTLS(t *testing.T) {
	f := newFakeServer(t, false)
	url, _ := f.start(true)
	cl, err := New(Config{Endpoint: url, Auth: AuthBasic, User: f.user, Password: f.password, Retry: RetryPolicy{Attempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	err = cl.Open(ctxT(t), uuid.New(), []byte("c"))
	var te *TLSError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "exchange.ca_file") || errkind.IsTransient(err) {
		t.Fatalf("err = %v, want a permanent *TLSError naming exchange.ca_file", err)
	}
	if f.count("Create") != 0 {
		t.Error("a request reached the untrusted server")
	}
}

// TestConnectionRefused is transient, and a Command whose connection
// could not even be made is retried (nothing reached the server).
func TestConnectionRefused(t *testing.T) {
	cl, err := New(Config{Endpoint: "http://127.0.0.1:1/PowerShell/", Auth: AuthNTLM, User: "u", Password: "p",
		Retry: RetryPolicy{Attempts: 2, Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	waits := 0
	cl.sleep = func(context.Context, time.Duration) error { waits++; return nil }
	err = cl.Open(ctxT(t), uuid.New(), []byte("c"))
	if err == nil || !errkind.IsTransient(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if waits != 1 {
		t.Errorf("%d retries, want 1", waits)
	}
	cl.shellID = "S"
	waits = 0
	if err := cl.Command(ctxT(t), uuid.New(), []byte("p")); err == nil || !errkind.IsTransient(err) {
		t.Fatalf("Command err = %v", err)
	}
	if waits != 1 {
		t.Errorf("Command: %d retries of an undelivered request, want 1", waits)
	}
}

// TestDeadline: the caller's context bounds a request, and Close still
// deletes the shell after the caller's context ended.
func TestDeadline(t *testing.T) {
	f := newFakeServer(t, true)
	cl := newTestClient(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	if err := cl.Open(ctx, uuid.New(), []byte("c")); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, _, err := cl.Receive(ctx, uuid.Nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Receive after cancel: %v", err)
	}
	if err := cl.Close(ctx); err != nil {
		t.Fatalf("Close after cancel: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.deleted {
		t.Error("the shell was not deleted")
	}
}

// TestMaxEnvelopeSize: the header follows SetMaxEnvelopeSize, and a Send
// of exactly MaxPayload bytes fits the envelope the server checks.
func TestMaxEnvelopeSize(t *testing.T) {
	f := newFakeServer(t, false)
	cl := newTestClient(t, f)
	ctx := ctxT(t)
	if err := cl.Open(ctx, uuid.New(), []byte("c")); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{DefaultMaxEnvelopeSize, LargeMaxEnvelopeSize} {
		cl.SetMaxEnvelopeSize(size)
		if err := cl.Send(ctx, uuid.Nil, "stdin", bytes.Repeat([]byte{0xfe}, cl.MaxPayload())); err != nil {
			t.Fatal(err)
		}
		f.mu.Lock()
		got := f.maxEnvelope
		f.mu.Unlock()
		if got != size {
			t.Errorf("MaxEnvelopeSize header %d, want %d", got, size)
		}
	}
}

// TestNTLMOverHTTPS: no sealing inside TLS, and the AUTHENTICATE message
// binds itself to the server's certificate (RFC 5929
// tls-server-end-point), which Exchange's Extended Protection checks.
func TestNTLMOverHTTPS(t *testing.T) {
	f := newFakeServer(t, true)
	url, ca := f.start(true)
	cl, err := New(Config{Endpoint: url, Auth: AuthNTLM, User: f.user, Password: f.password, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := cl.Open(ctx, uuid.New(), []byte("c")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Receive(ctx, uuid.Nil); err != nil {
		t.Fatal(err)
	}
	pemBytes, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(cert.Raw)
	app := append([]byte("tls-server-end-point:"), h[:]...)
	var gss bytes.Buffer // gss_channel_bindings_struct: no addresses, then the application data
	gss.Write(make([]byte, 16))
	binary.Write(&gss, binary.LittleEndian, uint32(len(app)))
	gss.Write(app)
	want := md5.Sum(gss.Bytes())
	f.mu.Lock()
	defer f.mu.Unlock()
	if !bytes.Equal(f.bindings, want[:]) {
		t.Errorf("channel bindings %x, want %x", f.bindings, want)
	}
}
