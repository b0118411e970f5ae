package wsman

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	labwsman "github.com/exrunbook/exrunbook/internal/lab/wsman"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// The client against the lab's own WS-Management server and its
// /PowerShell/ endpoint (an independent implementation of the server
// side), with a PSRP host that echoes: the pool answers creationXml, a
// pipeline its arguments and whatever is sent to it, and ends when
// "stdin:" carries "end".

type echoHost struct {
	mu    sync.Mutex
	pools []*echoPool
}

func (h *echoHost) Open(_ context.Context, _ labwsman.PoolInfo, creation []byte) (labwsman.Pool, error) {
	p := &echoPool{changed: make(chan struct{}), queues: map[string]*echoQueue{"": {data: append([]byte(nil), creation...)}}}
	h.mu.Lock()
	h.pools = append(h.pools, p)
	h.mu.Unlock()
	return p, nil
}

type echoQueue struct {
	data       []byte
	ended      bool
	terminated bool
}

type echoPool struct {
	mu      sync.Mutex
	changed chan struct{}
	queues  map[string]*echoQueue
	closed  bool
}

func (p *echoPool) notify() { close(p.changed); p.changed = make(chan struct{}) }

func (p *echoPool) Command(id string, args []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queues[id] = &echoQueue{data: append([]byte(nil), args...)}
	p.notify()
	return nil
}

func (p *echoPool) Send(id, stream string, frags []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.queues[id]
	if q == nil {
		return labwsman.ErrCommandNotFound
	}
	q.data = append(q.data, stream+":"...)
	q.data = append(q.data, frags...)
	if id != "" && stream == "stdin" && strings.HasSuffix(string(frags), "end") {
		q.ended = true
	}
	p.notify()
	return nil
}

func (p *echoPool) Receive(ctx context.Context, id string, budget int) ([]byte, bool, error) {
	for {
		p.mu.Lock()
		q := p.queues[id]
		if q == nil {
			p.mu.Unlock()
			return nil, false, labwsman.ErrCommandNotFound
		}
		if len(q.data) > 0 || q.ended {
			n := min(len(q.data), budget)
			out := q.data[:n]
			q.data = q.data[n:]
			done := q.ended && len(q.data) == 0
			p.mu.Unlock()
			return out, done, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

func (p *echoPool) Stop(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q := p.queues[id]; q != nil {
		q.data = append(q.data, "stopped"...)
		q.ended = true
		p.notify()
	}
	return nil
}

func (p *echoPool) Terminate(id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q := p.queues[id]; q != nil {
		q.terminated = true
	}
	return nil
}

func (p *echoPool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

const (
	labUser     = `CONTOSO\exadmin`
	labPassword = "Lab-Passw0rd!"
)

// startLab serves the lab's /PowerShell/ over http or https and returns a
// Config for it.
func startLab(t *testing.T, useTLS bool, host *echoHost, limit int) Config {
	t.Helper()
	srv := labwsman.NewServer(labwsman.Options{
		Users:  map[string]string{labUser: labPassword},
		Domain: "CONTOSO", DNSDomain: "contoso.test",
		AllowBasic: true, AllowNTLM: true,
		PSRP:                labwsman.PSRPOptions{Host: host, MaxConcurrency: limit},
		MaxOperationTimeout: 2 * time.Second,
	})
	t.Cleanup(srv.Close)
	mux := http.NewServeMux()
	mux.Handle("/PowerShell/", srv.PowerShell())
	hs := httptest.NewUnstartedServer(mux)
	srv.ConfigureHTTPServer(hs.Config)
	cfg := Config{Auth: AuthNTLM, User: labUser, Password: labPassword,
		Timeouts: Timeouts{Operation: time.Second, Grace: 10 * time.Second},
		Retry:    RetryPolicy{Attempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}}
	if useTLS {
		hs.StartTLS()
		cfg.CAFile = filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(cfg.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Auth = AuthBasic
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	cfg.Endpoint = hs.URL + "/PowerShell/"
	return cfg
}

func TestLabPowerShellEndpoint(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "ntlm-sealed-http"
		if useTLS {
			name = "basic-https"
		}
		t.Run(name, func(t *testing.T) {
			host := &echoHost{}
			cl, err := New(startLab(t, useTLS, host, 0))
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxT(t)
			poolID := uuid.New()
			if err := cl.Open(ctx, poolID, []byte("capability+init")); err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(cl.ShellID(), poolID.String()) {
				t.Errorf("ShellID %s, want the pool id %s", cl.ShellID(), poolID)
			}
			got, done, err := cl.Receive(ctx, uuid.Nil)
			if err != nil || done || string(got) != "capability+init" {
				t.Fatalf("pool Receive = %q %v %v", got, done, err)
			}
			// Nothing more for the pool: the lab answers w:TimedOut after
			// about the OperationTimeout, which is no data and no error.
			got, done, err = cl.Receive(ctx, uuid.Nil)
			if err != nil || done || len(got) != 0 {
				t.Fatalf("idle pool Receive = %q %v %v", got, done, err)
			}
			// Pipelines at once, on several connections.
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for i := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- runEcho(ctx, cl, i)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			// Stop a pipeline that waits for input.
			stuck := uuid.New()
			if err := cl.Command(ctx, stuck, []byte("wait")); err != nil {
				t.Fatal(err)
			}
			if err := cl.Signal(ctx, stuck, psrp.SignalStop); err != nil {
				t.Fatal(err)
			}
			var out []byte
			for done := false; !done; {
				var b []byte
				if b, done, err = cl.Receive(ctx, stuck); err != nil {
					t.Fatal(err)
				}
				out = append(out, b...)
			}
			if string(out) != "waitstopped" {
				t.Errorf("stopped pipeline said %q", out)
			}
			if err := cl.Close(ctx); err != nil {
				t.Fatal(err)
			}
			host.mu.Lock()
			closed := len(host.pools) == 1 && host.pools[0].closed
			host.mu.Unlock()
			if !closed {
				t.Error("Delete did not close the lab's pool")
			}
		})
	}
}

// runEcho runs one echo pipeline: Command, input on stdin and pr in
// several Sends, Receive to Done, Terminate.
func runEcho(ctx context.Context, cl *Client, i int) error {
	id := uuid.New()
	args := fmt.Sprintf("pipeline-%d;", i)
	if err := cl.Command(ctx, id, []byte(args)); err != nil {
		return err
	}
	if err := cl.Send(ctx, id, "pr", []byte("answer;")); err != nil {
		return err
	}
	if err := cl.Send(ctx, id, "stdin", []byte("end")); err != nil {
		return err
	}
	var out []byte
	for done := false; !done; {
		b, d, err := cl.Receive(ctx, id)
		if err != nil {
			return err
		}
		out, done = append(out, b...), d
	}
	if want := args + "pr:answer;stdin:end"; string(out) != want {
		return fmt.Errorf("pipeline %d said %q, want %q", i, out, want)
	}
	return cl.Signal(ctx, id, psrp.SignalTerminate)
}

// TestLabMaxConcurrency: the lab refuses the shell over the user's limit
// with Exchange's words; the client keeps them and marks them transient.
func TestLabMaxConcurrency(t *testing.T) {
	cfg := startLab(t, false, &echoHost{}, 1)
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := first.Open(ctx, uuid.New(), []byte("a")); err != nil {
		t.Fatal(err)
	}
	second, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = second.Open(ctx, uuid.New(), []byte("b"))
	var fe *FaultError
	if !errors.As(err, &fe) || !errkind.IsTransient(err) {
		t.Fatalf("second Open: %v, want a transient *FaultError", err)
	}
	if !strings.Contains(fe.Text(), "exceeded the maximum number of connections allowed") {
		t.Errorf("Exchange's words are lost: %q", fe.Text())
	}
	if err := first.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.Open(ctx, uuid.New(), []byte("b")); err != nil {
		t.Fatalf("Open after the first pool closed: %v", err)
	}
	_ = second.Close(ctx)
}

// TestLabWrongPassword: the lab's NTLM acceptor refuses; a permanent
// *AuthError.
func TestLabWrongPassword(t *testing.T) {
	cfg := startLab(t, false, &echoHost{}, 0)
	cfg.Password = "wrong"
	cl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = cl.Open(ctxT(t), uuid.New(), []byte("a"))
	var ae *AuthError
	if !errors.As(err, &ae) || errkind.IsTransient(err) {
		t.Fatalf("err = %v, want a permanent *AuthError", err)
	}
}
