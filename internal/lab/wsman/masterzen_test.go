package wsman

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/masterzen/winrm"
)

// masterzenClient returns a masterzen/winrm client for the lab with a
// PT2S OperationTimeout; auth is "basic", "ntlm" or "ntlm-sealed".
func masterzenClient(t *testing.T, l *lab, auth, user, password string) *winrm.Client {
	t.Helper()
	host, port := l.hostPort(t)
	params := *winrm.DefaultParameters // a copy: DefaultParameters is shared
	params.Timeout = "PT1S"
	switch auth {
	case "ntlm":
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	case "ntlm-sealed":
		params.TransportDecorator = func() winrm.Transporter {
			e, err := winrm.NewEncryption("ntlm")
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
	}
	https := strings.HasPrefix(l.url, "https")
	ep := winrm.NewEndpoint(host, port, https, false, l.caPEM(), nil, nil, 10*time.Second)
	c, err := winrm.NewClientWithParameters(ep, user, password, &params)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMasterzen(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tls  bool
		auth string
	}{
		{"http-basic", false, "basic"},
		{"http-ntlm", false, "ntlm"},
		{"https-basic", true, "basic"},
		{"https-ntlm", true, "ntlm"},
		{"http-ntlm-sealed", false, "ntlm-sealed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := startLab(t, tc.tls, nil)
			c := masterzenClient(t, l, tc.auth, testUser, testPassword)
			cases := commonCases()
			if tc.auth == "basic" {
				// masterzen sends stdin concurrently with its Receive
				// loop. With NTLM that mixes handshake legs across pooled
				// connections (and its encryption shares one NTLM client
				// between goroutines), which Windows rejects as the lab
				// does; so input is exercised with Basic only.
				cases = append(cases, cmdCase{line: "cat", stdin: "piped input", stdout: "piped input"})
			}
			for _, cc := range cases {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				var stdout, stderr strings.Builder
				var code int
				var err error
				if cc.stdin != "" {
					var o, e string
					o, e, code, err = c.RunWithContextWithString(ctx, cc.line, cc.stdin)
					stdout.WriteString(o)
					stderr.WriteString(e)
				} else {
					code, err = c.RunWithContext(ctx, cc.line, &stdout, &stderr)
				}
				cancel()
				if err != nil {
					t.Fatalf("%s: %v", cc.line, err)
				}
				checkCase(t, cc, []byte(stdout.String()), []byte(stderr.String()), code)
			}
			if l.seen(500) == 0 {
				t.Error("no TimedOut fault was answered for the command that outlasted the OperationTimeout")
			}
			if got := l.stats.Shells.Load(); got != int64(len(cases)) {
				t.Errorf("Shells = %d, want %d", got, len(cases))
			}
			if l.stats.WinRMRequests.Load() < int64(5*len(cases)) {
				t.Errorf("WinRMRequests = %d, too few", l.stats.WinRMRequests.Load())
			}
			if tc.auth != "basic" && l.seen(401) == 0 {
				t.Error("NTLM without a single 401 challenge")
			}
		})
	}
}

func TestMasterzenWrongPassword(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"basic", "ntlm"} {
		t.Run(auth, func(t *testing.T) {
			l := startLab(t, false, nil)
			c := masterzenClient(t, l, auth, testUser, "wrong")
			_, _, _, err := c.RunWithContextWithString(context.Background(), "echo hi", "")
			if err == nil {
				t.Fatal("a wrong password ran a command")
			}
			if l.seen(401) == 0 || l.seen(200) != 0 {
				t.Fatalf("statuses: 401×%d 200×%d", l.seen(401), l.seen(200))
			}
			if l.stats.Shells.Load() != 0 {
				t.Fatal("a shell was created")
			}
		})
	}
}

// TestConcurrentClients runs several clients at once, each in its own
// shell, and checks that every output arrives intact and whole.
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	const n = 8
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c := masterzenClient(t, l, "basic", testUser, testPassword)
		go func(i int) {
			var out, errOut strings.Builder
			size := 50000 + 1000*i
			code, err := c.RunWithContext(context.Background(), fmt.Sprintf("both %d", size), &out, &errOut)
			switch {
			case err != nil:
				errs <- err
			case code != 0 || out.String() != string(pattern(size)) || errOut.String() != string(pattern(size)):
				errs <- fmt.Errorf("client %d: code %d, %d/%d bytes", i, code, out.Len(), errOut.Len())
			default:
				errs <- nil
			}
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := l.stats.Shells.Load(); got != n {
		t.Errorf("Shells = %d, want %d", got, n)
	}
	l.srv.mu.Lock()
	left := len(l.srv.shells)
	l.srv.mu.Unlock()
	if left != 0 {
		t.Errorf("%d shells left after every client closed its own", left)
	}
}

// TestMasterzenDroppedConnections: with every connection dropped the
// client fails instead of hanging.
func TestMasterzenDroppedConnections(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	l.inj.Set(faults.Spec{Drop: 1})
	c := masterzenClient(t, l, "basic", testUser, testPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.RunWithContext(ctx, "echo hi", io.Discard, io.Discard); err == nil {
		t.Fatal("a command ran through dropped connections")
	}
	if l.stats.WinRMRequests.Load() == 0 || l.stats.Shells.Load() != 0 {
		t.Fatalf("requests %d, shells %d", l.stats.WinRMRequests.Load(), l.stats.Shells.Load())
	}
}
