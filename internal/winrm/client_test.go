package winrm

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
)

const testPassword = "S3cret!pw"

func newFake(t *testing.T) (*fakeWSMan, *httptest.Server) {
	t.Helper()
	f := &fakeWSMan{t: t, user: `CONTOSO\admin`, pass: testPassword}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func basicClient(t *testing.T, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Endpoint: url + "/wsman", Auth: AuthBasic, User: `CONTOSO\admin`, Password: testPassword, AllowHTTPBasic: true, OperationTimeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	return c
}

func TestRunPowerShellRoundTrip(t *testing.T) {
	f, srv := newFake(t)
	f.waitStdin = true
	f.run = func(script, stdin string) (string, string, int) {
		return "script=" + script + "|stdin=" + stdin, "", 0
	}
	c := basicClient(t, srv.URL, nil)
	script := "$ErrorActionPreference = 'Stop'\n'é ‘x’ ü' | ConvertTo-Json -Compress"
	res, err := c.RunPowerShell(context.Background(), script, "pfx-password\n")
	if err != nil {
		t.Fatalf("RunPowerShell: %v", err)
	}
	want := "script=" + script + "|stdin=pfx-password\n"
	if res.Stdout != want || res.ExitCode != 0 || res.Stderr != "" {
		t.Fatalf("got %+v, want stdout %q", res, want)
	}
	if f.count("Create") != 1 || f.count("Command") != 1 || f.count("Delete") != 1 {
		acts, _ := f.snapshot()
		t.Fatalf("actions %v: want one Create, Command, Delete", acts)
	}
	for _, s := range f.scripts {
		if strings.Contains(s, "pfx-password") {
			t.Fatal("the stdin secret appeared in the command line")
		}
	}
}

func TestEncodeCommandIsTheOnlyCommandShape(t *testing.T) {
	for _, s := range []string{"a", "😀 ‘’ \x00 \r\n $x"} {
		got := decodeCommandLine(t, EncodeCommand(s))
		if got != s {
			t.Errorf("EncodeCommand(%q) decodes to %q", s, got)
		}
	}
}

func TestUnauthorizedIsPermanentAuthError(t *testing.T) {
	f, srv := newFake(t)
	f.always401 = true
	c := basicClient(t, srv.URL, func(c *Config) { c.Retries = RetryPolicy{Attempts: 3} })
	_, err := c.RunPowerShell(context.Background(), "1", "")
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("want *AuthError, got %T %v", err, err)
	}
	if engine.IsTransient(err) {
		t.Fatal("401 must not be transient")
	}
	for _, want := range []string{`CONTOSO\admin`, srv.URL, "exchange.user"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Fatal("password in error text")
	}
	if n := f.count("Create"); n != 1 {
		t.Fatalf("401 was retried: %d Creates", n)
	}
}

func TestWrongPasswordIsAuthError(t *testing.T) {
	_, srv := newFake(t)
	c := basicClient(t, srv.URL, func(c *Config) { c.Password = "wrong" })
	_, err := c.RunPowerShell(context.Background(), "1", "")
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("want *AuthError, got %T %v", err, err)
	}
}

func TestCreate500IsTransientErrorNotEmptyShell(t *testing.T) {
	f, srv := newFake(t)
	f.createFailures = 100
	c := basicClient(t, srv.URL, func(c *Config) { c.Retries = RetryPolicy{Attempts: 3, Backoff: time.Millisecond} })
	var slept []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	_, err := c.RunPowerShell(context.Background(), "1", "")
	if err == nil {
		t.Fatal("a 500 on Create must be an error")
	}
	if !engine.IsTransient(err) {
		t.Fatalf("5xx must be transient: %v", err)
	}
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 500 || !strings.Contains(err.Error(), "shell quota") {
		t.Fatalf("want the fault text of an HTTP 500, got %v", err)
	}
	if n := f.count("Create"); n != 3 {
		t.Fatalf("want 3 Create attempts, got %d", n)
	}
	if f.count("Command") != 0 {
		t.Fatal("a command was sent without a shell")
	}
	if len(slept) != 2 || slept[1] != 2*slept[0] {
		t.Fatalf("backoff waits %v: want two, doubling", slept)
	}
}

func TestCreateRetrySucceeds(t *testing.T) {
	f, srv := newFake(t)
	f.createFailures = 2
	f.run = func(string, string) (string, string, int) { return "ok", "", 0 }
	c := basicClient(t, srv.URL, func(c *Config) { c.Retries = RetryPolicy{Attempts: 3} })
	res, err := c.RunPowerShell(context.Background(), "1", "")
	if err != nil || res.Stdout != "ok" {
		t.Fatalf("got %v %v", res, err)
	}
}

func TestCreateWithoutShellIDIsError(t *testing.T) {
	f, srv := newFake(t)
	f.createNoShellID = true
	c := basicClient(t, srv.URL, nil)
	_, err := c.RunPowerShell(context.Background(), "1", "")
	if err == nil || !strings.Contains(err.Error(), "ShellId") {
		t.Fatalf("want a missing-ShellId error, got %v", err)
	}
	if f.count("Command") != 0 {
		t.Fatal("a command was sent to an empty shell id")
	}
}

func TestTimedOutReceiveIsRetried(t *testing.T) {
	f, srv := newFake(t)
	f.timedOutReceives = 2
	f.run = func(string, string) (string, string, int) { return "late output", "", 0 }
	c := basicClient(t, srv.URL, nil)
	res, err := c.RunPowerShell(context.Background(), "1", "")
	if err != nil || res.Stdout != "late output" {
		t.Fatalf("got %+v, %v", res, err)
	}
	if _, n := f.snapshot(); n != 3 {
		t.Fatalf("want 3 Receives (2 TimedOut), got %d", n)
	}
}

func TestCallDeadlineIsTransientAndCleansUp(t *testing.T) {
	f, srv := newFake(t)
	f.receiveDelay = 10 * time.Second
	c := basicClient(t, srv.URL, func(c *Config) { c.CallTimeout = 200 * time.Millisecond })
	start := time.Now()
	_, err := c.RunPowerShell(context.Background(), "Start-Sleep -Seconds 100", "")
	if err == nil {
		t.Fatal("want a deadline error")
	}
	if !engine.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a per-call deadline must be transient and wrap DeadlineExceeded: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the in-flight Receive was not abandoned")
	}
	if f.count("Signal") == 0 || f.count("Delete") == 0 {
		acts, _ := f.snapshot()
		t.Fatalf("no Signal/Delete after the deadline: %v", acts)
	}
}

func TestCallerCancelIsNotTransient(t *testing.T) {
	f, srv := newFake(t)
	f.receiveDelay = 10 * time.Second
	c := basicClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := c.RunPowerShell(ctx, "1", "")
	if !errors.Is(err, context.Canceled) || engine.IsTransient(err) {
		t.Fatalf("want a non-transient cancellation, got %v", err)
	}
}

const clixmlErr = "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
	"<S S=\"warning\">By default, only the first 1000 items are returned._x000D__x000A_</S>" +
	"<S S=\"Error\">Set-CASMailbox : The operation couldn't be performed because object 'x' couldn't be found._x000D__x000A_</S>" +
	"<S S=\"Error\">At line:3 char:1_x000D__x000A_</S>" +
	"<S S=\"Error\">+ Set-CASMailbox -Identity 'x'_x000D__x000A_</S>" +
	"<S S=\"Error\">    + CategoryInfo          : NotSpecified: (:) [Set-CASMailbox], ManagementObjectNotFoundException_x000D__x000A_</S>" +
	"<S S=\"Error\">    + FullyQualifiedErrorId : 7C1B2A3F,Microsoft.Exchange.Management.Tasks.SetCASMailbox_x000D__x000A_</S>" +
	"<S S=\"Error\"> _x000D__x000A_</S></Objs>"

func TestCLIXMLErrorBecomesPowerShellError(t *testing.T) {
	f, srv := newFake(t)
	f.run = func(string, string) (string, string, int) { return "", clixmlErr, 1 }
	c := basicClient(t, srv.URL, nil)
	res, err := c.RunPowerShell(context.Background(), "1", "")
	var pe *PowerShellError
	if !errors.As(err, &pe) {
		t.Fatalf("want *PowerShellError, got %T %v", err, err)
	}
	if engine.IsTransient(err) {
		t.Fatal("a not-found error is permanent")
	}
	wantMsg := "Set-CASMailbox : The operation couldn't be performed because object 'x' couldn't be found."
	if pe.Message != wantMsg || pe.ExitCode != 1 || len(pe.Details) != 4 {
		t.Fatalf("got %#v", pe)
	}
	if len(res.Warnings) != 1 || res.Warnings[0] != "By default, only the first 1000 items are returned." {
		t.Fatalf("warnings %q", res.Warnings)
	}
}

func TestThrottlingIsTransient(t *testing.T) {
	f, srv := newFake(t)
	f.run = func(string, string) (string, string, int) {
		return "", "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><S S=\"Error\">Fail to create a runspace because you have exceeded the throttling budget for 'PowerShellMaxConcurrency'._x000D__x000A_</S></Objs>", 1
	}
	c := basicClient(t, srv.URL, nil)
	_, err := c.RunPowerShell(context.Background(), "1", "")
	var pe *PowerShellError
	if !engine.IsTransient(err) || !errors.As(err, &pe) {
		t.Fatalf("want a transient PowerShellError, got %v", err)
	}
}

func TestWarningsOnlyIsSuccess(t *testing.T) {
	f, srv := newFake(t)
	f.run = func(string, string) (string, string, int) {
		return "[]", "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><S S=\"warning\">careful_x000D__x000A_</S></Objs>", 0
	}
	c := basicClient(t, srv.URL, nil)
	res, err := c.RunPowerShell(context.Background(), "1", "")
	if err != nil || len(res.Warnings) != 1 || res.Warnings[0] != "careful" {
		t.Fatalf("got %+v %v", res, err)
	}
}

func TestNonZeroExitWithoutStderrIsError(t *testing.T) {
	f, srv := newFake(t)
	f.run = func(string, string) (string, string, int) { return "", "", 3 }
	c := basicClient(t, srv.URL, nil)
	_, err := c.RunPowerShell(context.Background(), "1", "")
	var pe *PowerShellError
	if !errors.As(err, &pe) || pe.ExitCode != 3 || !strings.Contains(err.Error(), "code 3") {
		t.Fatalf("got %v", err)
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := basicClient(t, "http://"+addr, nil)
	_, err = c.RunPowerShell(context.Background(), "1", "")
	if !engine.IsTransient(err) {
		t.Fatalf("connection refused must be transient: %v", err)
	}
}

func TestConnectionResetIsTransient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		conn.Close()
	}))
	defer srv.Close()
	c := basicClient(t, srv.URL, nil)
	_, err := c.RunPowerShell(context.Background(), "1", "")
	if !engine.IsTransient(err) {
		t.Fatalf("reset/EOF must be transient: %v", err)
	}
}

func TestTLSVerification(t *testing.T) {
	f := &fakeWSMan{t: t, user: "admin", pass: testPassword, run: func(string, string) (string, string, int) { return "tls ok", "", 0 }}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()

	c, err := New(Config{Endpoint: srv.URL + "/wsman", Auth: AuthBasic, User: "admin", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RunPowerShell(context.Background(), "1", "")
	var te *TLSError
	if !errors.As(err, &te) || engine.IsTransient(err) || !strings.Contains(err.Error(), "exchange.ca_file") {
		t.Fatalf("want a permanent TLSError naming exchange.ca_file, got %T %v", err, err)
	}

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = New(Config{Endpoint: srv.URL + "/wsman", Auth: AuthBasic, User: "admin", Password: testPassword, CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.RunPowerShell(context.Background(), "1", "")
	if err != nil || res.Stdout != "tls ok" {
		t.Fatalf("with the CA file: %v %v", res, err)
	}
}

func TestNewValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"basic over http refused", Config{Endpoint: "http://ex01:5985/wsman", Auth: AuthBasic, User: "u"}, "exchange.allow_http_basic"},
		{"basic over http allowed", Config{Endpoint: "http://ex01:5985/wsman", Auth: AuthBasic, User: "u", AllowHTTPBasic: true}, ""},
		{"basic over https", Config{Endpoint: "https://ex01:5986/wsman", Auth: AuthBasic, User: "u"}, ""},
		{"ntlm over http", Config{Endpoint: "http://ex01:5985/wsman", Auth: AuthNTLM, User: `C\u`}, ""},
		{"unknown auth", Config{Endpoint: "https://ex01/wsman", Auth: "digest", User: "u"}, "exchange.auth"},
		{"no user", Config{Endpoint: "https://ex01/wsman", Auth: AuthNTLM}, "exchange.user"},
		{"bad scheme", Config{Endpoint: "ftp://ex01/wsman", Auth: AuthNTLM, User: "u"}, "exchange.endpoint"},
		{"no host", Config{Endpoint: "ex01", Auth: AuthNTLM, User: "u"}, "exchange.endpoint"},
		{"cert over http", Config{Endpoint: "http://ex01/wsman", Auth: AuthCertificate, ClientCert: "a", ClientKey: "b"}, "https"},
		{"encryption over https", Config{Endpoint: "https://ex01/wsman", Auth: AuthNTLM, User: "u", Encryption: true}, "encryption"},
		{"kerberos over http", Config{Endpoint: "http://ex01/wsman", Auth: AuthKerberos, User: "u", Password: "p", KrbConf: "/etc/krb5.conf"}, "https"},
		{"kerberos without conf", Config{Endpoint: "https://ex01/wsman", Auth: AuthKerberos, User: "u", Password: "p"}, "krb5"},
		{"missing ca file", Config{Endpoint: "https://ex01/wsman", Auth: AuthNTLM, User: "u", CAFile: "/nonexistent/ca.pem"}, "exchange.ca_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}

func TestNTLMOverHTTPUsesMessageEncryption(t *testing.T) {
	c, err := New(Config{Endpoint: "http://ex01:5985/wsman", Auth: AuthNTLM, User: `C\u`, Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.encrypted() {
		t.Fatal("ntlm over http must use message encryption")
	}
	c, err = New(Config{Endpoint: "https://ex01:5986/wsman", Auth: AuthNTLM, User: `C\u`, Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if c.encrypted() {
		t.Fatal("ntlm over https needs no message encryption")
	}
}

func TestConfigStringRedactsPassword(t *testing.T) {
	cfg := Config{Endpoint: "https://ex01/wsman", Auth: AuthNTLM, User: "u", Password: testPassword}
	for _, s := range []string{cfg.String(), cfg.GoString()} {
		if strings.Contains(s, testPassword) || !strings.Contains(s, "[redacted]") {
			t.Fatalf("not redacted: %s", s)
		}
	}
}

func TestParseFault(t *testing.T) {
	f, ok := parseFault([]byte(envelope("fault", "x", faultBody("w:TimedOut", "no output within OperationTimeout"))))
	if !ok || f.subcode != "w:TimedOut" || f.text != "no output within OperationTimeout" {
		t.Fatalf("got %+v %v", f, ok)
	}
	he := &HTTPError{Status: 500, Subcode: "w:TimedOut", Fault: "x"}
	if !strings.Contains(he.Error(), "OperationTimeout") {
		t.Fatal("a TimedOut fault must read as OperationTimeout for masterzen's retry")
	}
	if _, ok := parseFault([]byte(envelope("ok", "x", "<rsp:ReceiveResponse/>"))); ok {
		t.Fatal("no fault in a normal answer")
	}
}
