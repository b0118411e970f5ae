package winrm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	mz "github.com/masterzen/winrm"

	"github.com/exrunbook/exrunbook/internal/engine"
)

// Client runs PowerShell scripts on one WinRM endpoint. It is safe for
// concurrent use; every call opens and deletes its own shell.
type Client struct {
	cfg    Config
	ep     endpoint
	params mz.Parameters
	h      *httpLayer
	// sleep waits between shell-creation retries (a fake in tests).
	sleep func(context.Context, time.Duration) error
}

// Result is what a script produced.
type Result struct {
	Stdout   string
	Stderr   string
	ExitCode int
	// Warnings are the script's warning records, decoded from CLIXML.
	Warnings []string
}

// New validates cfg and prepares the client; it does not connect.
// Basic authentication over plain http is refused unless
// cfg.AllowHTTPBasic (exchange.allow_http_basic) is set.
func New(cfg Config) (*Client, error) {
	ep, err := parseEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(ep); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, ep: ep, sleep: sleepCtx}
	// DefaultParameters is a package-level pointer: copy, never modify.
	c.params = *mz.DefaultParameters
	op := cfg.OperationTimeout
	if op <= 0 {
		op = 60 * time.Second
	}
	c.params.Timeout = fmt.Sprintf("PT%dS", int(op.Round(time.Second)/time.Second))
	if cfg.Auth == AuthNTLM && !ep.https {
		// NTLM over plain http: message encryption (sealing).
		return c, nil
	}
	c.h, err = newHTTPLayer(cfg, ep)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Config returns the client's configuration (its String redacts secrets).
func (c *Client) Config() Config { return c.cfg }

// encrypted reports whether calls go through NTLM message encryption.
func (c *Client) encrypted() bool { return c.h == nil }

// EncodeCommand is the one place that builds the command line: the
// script, as UTF-16LE in base64, for powershell.exe -EncodedCommand.
// Secrets never go here; they travel on stdin.
func EncodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		b[2*i] = byte(r)
		b[2*i+1] = byte(r >> 8)
	}
	return "powershell.exe -EncodedCommand " + base64.StdEncoding.EncodeToString(b)
}

// newMZClient makes the masterzen client of one call, bound to ctx, and
// the function that releases the call's connections.
func (c *Client) newMZClient(ctx context.Context) (*mz.Client, func(), error) {
	params := c.params
	done := func() {}
	if c.encrypted() {
		t := &sealedTransporter{ctx: ctx, c: c}
		params.TransportDecorator = func() mz.Transporter { return t }
		done = t.closeAll
	} else {
		t := &transporter{ctx: ctx, h: c.h}
		params.TransportDecorator = func() mz.Transporter { return t }
	}
	ep := mz.NewEndpoint(c.ep.host, c.ep.port, c.ep.https, c.cfg.InsecureSkipVerify, nil, nil, nil, 0)
	client, err := mz.NewClientWithParameters(ep, c.cfg.User, c.cfg.Password, &params)
	return client, done, err
}

// RunPowerShell runs script with powershell.exe -EncodedCommand and
// writes stdin (e.g. a secret followed by a newline) to its standard
// input. It returns a *PowerShellError when the script wrote error
// records or exited non-zero (marked transient when the server says it
// is throttling), an *AuthError or *TLSError for permanent transport
// failures, and errors marked engine.Transient for failures worth
// retrying. The Result is filled as far as the command got.
//
// Only the creation of the shell is retried here (cfg.Retries): after the
// Command request, the script may have run, so failures go back to the
// caller, whose phase is idempotent and retried by the engine.
func (c *Client) RunPowerShell(ctx context.Context, script string, stdin string) (Result, error) {
	parent := ctx
	if c.cfg.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
	res, err := c.run(ctx, script, stdin)
	if err == nil {
		return res, nil
	}
	if perr := parent.Err(); perr != nil {
		// The caller gave up (Ctrl-C): not a server failure, not retried.
		return res, fmt.Errorf("WinRM call to %s abandoned: %w", c.ep.url, perr)
	}
	if ctx.Err() != nil {
		return res, engine.Transient(fmt.Errorf("WinRM call to %s exceeded its %s deadline: %w", c.ep.url, c.cfg.CallTimeout, ctx.Err()))
	}
	return res, err
}

func (c *Client) run(ctx context.Context, script, stdin string) (Result, error) {
	client, done, err := c.newMZClient(ctx)
	if err != nil {
		return Result{}, err
	}
	defer done() // after the Delete below
	shell, err := c.createShell(ctx, client)
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = shell.Close() }() // Delete: sent even after cancellation

	cmd, err := shell.ExecuteWithContext(ctx, EncodeCommand(script))
	if err != nil {
		return Result{}, c.classify(fmt.Errorf("starting the command: %w", err))
	}
	var stdout, stderr strings.Builder // String() does not copy: 100k-row outputs are large
	var wg sync.WaitGroup
	var outErr, errErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, outErr = io.Copy(&stdout, cmd.Stdout)
	}()
	go func() {
		defer wg.Done()
		_, errErr = io.Copy(&stderr, cmd.Stderr)
	}()
	if stdin != "" {
		// Two Sends: the data, then End. A failure here is not reported on
		// its own: a script that needed the input fails by itself, and one
		// that finished early makes the server refuse the Send harmlessly.
		if _, err := cmd.Stdin.Write([]byte(stdin)); err == nil {
			_ = cmd.Stdin.Close()
		}
	}
	cmd.Wait()
	wg.Wait()

	res := Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: cmd.ExitCode()}
	errs, warns := DecodeCLIXML(res.Stderr)
	res.Warnings = warns

	if err := firstErr(outErr, errErr); err != nil {
		return res, c.classify(fmt.Errorf("receiving the output: %w", err))
	}
	if len(errs.Lines) > 0 || res.ExitCode != 0 {
		pe := &PowerShellError{Message: errs.Message, Details: errs.Details, ExitCode: res.ExitCode}
		if IsThrottling(pe.Message) {
			return res, engine.Transient(pe)
		}
		return res, pe
	}
	return res, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// createShell opens a shell, retrying transient failures per
// cfg.Retries. Nothing has run yet, so a retry is always safe.
func (c *Client) createShell(ctx context.Context, client *mz.Client) (*mz.Shell, error) {
	attempts := c.cfg.Retries.Attempts
	if attempts < 1 {
		attempts = 1
	}
	wait := c.cfg.Retries.Backoff
	var lastErr error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if err := c.sleep(ctx, wait); err != nil {
				return nil, lastErr
			}
			wait *= 2
			if m := c.cfg.Retries.MaxBackoff; m > 0 && wait > m {
				wait = m
			}
		}
		shell, err := c.createShellOnce(client)
		if err == nil {
			return shell, nil
		}
		lastErr = c.classify(fmt.Errorf("creating a WinRM shell on %s: %w", c.ep.url, err))
		if !engine.IsTransient(lastErr) || ctx.Err() != nil {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

func (c *Client) createShellOnce(client *mz.Client) (*mz.Shell, error) {
	req := mz.NewOpenShellRequest(c.ep.url, &client.Parameters)
	defer req.Free()
	tr := client.Parameters.TransportDecorator()
	body, err := tr.Post(client, req)
	if err != nil {
		return nil, err
	}
	id, err := mz.ParseOpenShellResponse(body)
	if err != nil {
		return nil, fmt.Errorf("parsing the Create answer: %w", err)
	}
	if strings.TrimSpace(id) == "" {
		return nil, errors.New("the Create answer holds no ShellId")
	}
	return client.NewShell(id), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
