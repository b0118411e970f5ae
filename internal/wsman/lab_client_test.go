package wsman

// Issue 10's acceptance cases for exrunbook's own PSRP client (this
// package's WS-Man transport under internal/psrp's runspace pool) against
// the whole lab's Exchange endpoint, /PowerShell/: the cases pypsrp passes
// in internal/lab (TestPypsrp), over https with Basic and over http with
// NTLM and message encryption, plus large inputs, TimedOut Receives, Stop
// and a broken session.
//
// They live in package wsman, not in internal/lab: the lab must not import
// the orchestrator's client, while this test may import the lab (no cycle:
// the lab does not import this package), and being inside the package lets a
// counting http.RoundTripper sit under each authenticated connection to see
// the WS-Management actions and faults on the wire.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// The two transports of the acceptance lines.
const (
	httpsBasic = "https-basic"
	httpNTLM   = "http-ntlm"
)

// clientLab is a running lab and what a client needs to reach its
// /PowerShell/ endpoint on EX01.
type clientLab struct {
	lab       *lab.Lab
	e         lab.Endpoints
	tlsName   string
	passwords map[string]string // account → password
}

func startClientLab(t *testing.T, opts lab.Options) *clientLab {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a whole lab")
	}
	opts.Dir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	l, err := lab.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	c := &clientLab{lab: l, e: l.Endpoints(), passwords: map[string]string{}}
	for name, a := range c.e.Users {
		pw, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			t.Fatal(err)
		}
		c.passwords[name] = string(pw)
	}
	// The https endpoint is an address; the client checks the chain and
	// the name EX01's IIS certificate carries.
	u, err := url.Parse(c.e.PowerShell.HTTPS)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only to read the certificate's name
	if err != nil {
		t.Fatal(err)
	}
	c.tlsName = conn.ConnectionState().PeerCertificates[0].DNSNames[0]
	conn.Close()
	return c
}

// config is a client configuration for one account over one transport.
func (c *clientLab) config(transport, account string) Config {
	a := c.e.Users[account]
	cfg := Config{User: a.User, Password: c.passwords[account]}
	switch transport {
	case httpsBasic:
		cfg.Endpoint, cfg.Auth, cfg.CAFile, cfg.TLSServerName = c.e.PowerShell.HTTPS, AuthBasic, c.e.CAFile, c.tlsName
	case httpNTLM:
		cfg.Endpoint, cfg.Auth = c.e.PowerShell.HTTP, AuthNTLM
	default:
		panic("unknown transport " + transport)
	}
	return cfg
}

// open opens a runspace pool; the returned wire counter sees every request
// and answer of the client's connections.
func (c *clientLab) open(ctx context.Context, t *testing.T, cfg Config) (*psrp.Pool, *wire) {
	t.Helper()
	cl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := newWire(cl)
	pool, err := psrp.Open(ctx, cl, psrp.PoolOptions{})
	if err != nil {
		t.Fatalf("opening a pool (%s): %v", cfg, err)
	}
	w.maxPayload = cl.MaxPayload()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = pool.Close(cctx)
	})
	return pool, w
}

// wire counts, per WS-Management action, the requests the client's
// connections carry, and the w:TimedOut answers to Receives per
// CommandId ("" for the pool's own Receive). Over http with NTLM the
// bodies are sealed, so only requests are counted there (as action "").
type wire struct {
	maxPayload int // the client's, once its pool is open

	mu       sync.Mutex
	actions  map[string]int
	receives map[string]int
	timedOut map[string]int
}

var (
	actionRe    = regexp.MustCompile(`<a:Action[^>]*>([^<]+)</a:Action>`)
	commandIDRe = regexp.MustCompile(`<rsp:DesiredStream CommandId="([^"]+)"`)
)

// newWire installs a counting RoundTripper under every connection cl makes.
func newWire(cl *Client) *wire {
	w := &wire{actions: map[string]int{}, receives: map[string]int{}, timedOut: map[string]int{}}
	dial := cl.pool.newConn
	cl.pool.newConn = func() (*conn, error) {
		c, err := dial()
		if err == nil {
			c.hc.Transport = &countingRT{next: c.tr, w: w}
		}
		return c, err
	}
	return w
}

type countingRT struct {
	next http.RoundTripper
	w    *wire
}

func (rt *countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	if len(body) == 0 {
		// An authentication leg.
		return rt.next.RoundTrip(req)
	}
	action, cmd := "", ""
	if m := actionRe.FindSubmatch(body); m != nil {
		action = string(m[1])
	}
	if m := commandIDRe.FindSubmatch(body); m != nil {
		cmd = strings.ToLower(string(m[1]))
	}
	resp, err := rt.next.RoundTrip(req)
	rt.w.mu.Lock()
	defer rt.w.mu.Unlock()
	rt.w.actions[action]++
	if action == wsmv.ActionReceive {
		rt.w.receives[cmd]++
	}
	if err != nil || action != wsmv.ActionReceive {
		return resp, err
	}
	answer, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(answer))
	if rerr != nil {
		return resp, nil
	}
	if bytes.Contains(answer, []byte("w:TimedOut")) && bytes.Contains(answer, []byte(fmt.Sprint(FaultCodeTimedOut))) {
		rt.w.timedOut[cmd]++
	}
	return resp, nil
}

func (w *wire) count(action string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.actions[action]
}

func (w *wire) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, v := range w.actions {
		n += v
	}
	return n
}

// pipeline returns the Receives and TimedOut answers of one pipeline.
func (w *wire) pipeline(id uuid.UUID) (receives, timedOut int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := strings.ToLower(id.String())
	return w.receives[k], w.timedOut[k]
}

// failure is the message of a pipeline's terminating error, or of its last
// non-terminating one.
func failure(res *psrp.Result, err error) (fq, msg string) {
	var rec *psrp.ErrorRecord
	if errors.As(err, &rec) {
		return rec.FullyQualifiedErrorID, rec.Message
	}
	if res != nil && len(res.Errors) > 0 {
		last := res.Errors[len(res.Errors)-1]
		return last.FullyQualifiedErrorID, last.Message
	}
	if err != nil {
		return "", err.Error()
	}
	return "", ""
}

// describe says what a pipeline gave, for a failure message.
func describe(res *psrp.Result, err error) string {
	if res == nil {
		return fmt.Sprintf("error %v", err)
	}
	return fmt.Sprintf("error %v, %d objects, non-terminating errors %v", err, len(res.Output), res.Errors)
}

func mailboxFlags(l *lab.Lab) map[string]bool {
	b := map[string]bool{}
	l.Store().Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			b[m.PrimarySmtpAddress] = m.MAPIBlockOutlookRpcHttp
		}
	})
	return b
}

// TestLabClientExchange runs pypsrp's cases (internal/lab TestPypsrp)
// with exrunbook's client, over https with Basic and over http with NTLM
// and its default message encryption.
func TestLabClientExchange(t *testing.T) {
	c := startClientLab(t, lab.Options{Mailboxes: 40, Servers: 1, Seed: 11})
	stats := c.lab.Counters()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	for _, transport := range []string{httpsBasic, httpNTLM} {
		t.Run(transport, func(t *testing.T) {
			sealedBefore := stats.EncryptedBodies.Load()
			pool, _ := c.open(ctx, t, c.config(transport, lab.AccountOrgAdmin))

			t.Run("Get-CASMailbox piped into Select-Object", func(t *testing.T) {
				res, err := pool.Run(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{
					{Name: "Get-CASMailbox", Params: []psrp.Parameter{{Name: "ResultSize", Value: 10}}},
					{Name: "Select-Object", Params: []psrp.Parameter{{Name: "Property", Value: psrp.NewList("Name", "Guid", "MAPIBlockOutlookRpcHttp")}}},
				}}, nil)
				if err != nil || len(res.Errors) != 0 {
					t.Fatal(describe(res, err))
				}
				if len(res.Output) != 10 {
					t.Fatalf("%d objects, want 10", len(res.Output))
				}
				for _, v := range res.Output {
					o, ok := v.(*psrp.Object)
					if !ok {
						t.Fatalf("output %T, want an object", v)
					}
					name, _ := o.Get("Name")
					guid, _ := o.Get("Guid")
					block, _ := o.Get("MAPIBlockOutlookRpcHttp")
					if _, ok := name.(string); !ok {
						t.Errorf("Name = %#v", name)
					}
					if _, ok := guid.(uuid.UUID); !ok {
						t.Errorf("Guid = %#v, want a GUID", guid)
					}
					if _, ok := block.(bool); !ok {
						t.Errorf("MAPIBlockOutlookRpcHttp = %#v, want a bool", block)
					}
				}
			})

			t.Run("identities streamed into Set-CASMailbox", func(t *testing.T) {
				before := mailboxFlags(c.lab)
				var ids []string
				for addr, blocked := range before {
					if !blocked && len(ids) < 3 {
						ids = append(ids, addr)
					}
				}
				if len(ids) != 3 {
					t.Fatalf("only %d unblocked mailboxes", len(ids))
				}
				writes := stats.MailboxWrites.Load()
				sim := c.lab.Stats().SimulatedSeconds
				res, err := pool.Run(ctx, psrp.Pipeline{Commands: []psrp.Command{
					{Name: "Set-CASMailbox", Params: []psrp.Parameter{{Name: "MAPIBlockOutlookRpcHttp", Value: true}}},
				}}, []psrp.Value{ids[0], ids[1], ids[2]})
				if err != nil || len(res.Errors) != 0 {
					t.Fatal(describe(res, err))
				}
				if n := stats.MailboxWrites.Load() - writes; n != 3 {
					t.Errorf("%d mailbox writes, want 3", n)
				}
				// The cost model prices a pipeline and three mailboxes written
				// (README.md, "Counters and cost model": Set-CASMailbox ≈ 100 ms
				// per mailbox), though one
				// Set-CASMailbox call wrote them all.
				cost := c.lab.Stats().Cost
				if got, want := c.lab.Stats().SimulatedSeconds-sim, cost.Pipeline+3*cost.SetCASMailbox; math.Abs(got-want) > 1e-9 {
					t.Errorf("the streamed Set-CASMailbox cost %v simulated seconds, want %v", got, want)
				}
				// Checked through the control API's /org.
				var doc struct {
					Mailboxes []struct {
						PrimarySmtpAddress      string
						MAPIBlockOutlookRpcHttp bool
					}
				}
				if err := json.Unmarshal(c.lab.Org(), &doc); err != nil {
					t.Fatal(err)
				}
				var changed []string
				for _, m := range doc.Mailboxes {
					if m.MAPIBlockOutlookRpcHttp != before[m.PrimarySmtpAddress] {
						changed = append(changed, m.PrimarySmtpAddress)
					}
				}
				if len(changed) != 3 {
					t.Fatalf("/org shows %v changed, want exactly %v", changed, ids)
				}
				for _, id := range ids {
					if !strings.Contains(strings.Join(changed, "\n"), id) {
						t.Fatalf("/org: %s unchanged; changed %v", id, changed)
					}
				}
			})

			t.Run("script text is ScriptsNotAllowed", func(t *testing.T) {
				refused := stats.ScriptsRefused.Load()
				res, err := pool.Run(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{
					{Name: "foreach ($m in 1..2) { $m }", IsScript: true},
				}}, nil)
				fq, msg := failure(res, err)
				if err == nil || fq != "ScriptsNotAllowed" || !strings.Contains(msg, "no-language mode") {
					t.Fatalf("err %v (fq %q, %q)", err, fq, msg)
				}
				if stats.ScriptsRefused.Load() != refused+1 {
					t.Error("the refused script was not counted")
				}
			})

			t.Run("Import-ExchangeCertificate with a SecureString password", func(t *testing.T) {
				leaf, err := c.lab.CA().Issue("import-"+transport+".contoso.test", []string{"import-" + transport + ".contoso.test"},
					time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), nil)
				if err != nil {
					t.Fatal(err)
				}
				importPFX(ctx, t, c.lab, pool, leaf.Thumbprint(), mustPFX(t, leaf.PFX, "pfx-Passw0rd!"), "pfx-Passw0rd!")
			})

			if sealed := stats.EncryptedBodies.Load() - sealedBefore; (transport == httpNTLM) != (sealed > 0) {
				t.Errorf("%s: %d sealed request bodies", transport, sealed)
			}
		})
	}

	t.Run("recipient admin does not have Get-ExchangeCertificate", func(t *testing.T) {
		for _, transport := range []string{httpsBasic, httpNTLM} {
			pool, _ := c.open(ctx, t, c.config(transport, lab.AccountRecipientAdmin))
			res, err := pool.Run(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{{Name: "Get-ExchangeCertificate"}}}, nil)
			if _, msg := failure(res, err); !strings.Contains(msg, "The term 'Get-ExchangeCertificate' is not recognized as the name of a cmdlet") {
				t.Fatalf("%s: err %v, result %+v", transport, err, res)
			}
			// Its own cmdlets work.
			res, err = pool.Run(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{
				{Name: "Get-CASMailbox", Params: []psrp.Parameter{{Name: "ResultSize", Value: 1}}},
			}}, nil)
			if err != nil || len(res.Output) != 1 {
				t.Fatalf("%s: Get-CASMailbox as recipient admin: %s", transport, describe(res, err))
			}
		}
	})

	t.Run("the 19th session of one user is refused", func(t *testing.T) {
		for _, transport := range []string{httpsBasic, httpNTLM} {
			var pools []*psrp.Pool
			for range 18 {
				cl, err := New(c.config(transport, lab.AccountRecipientAdmin))
				if err != nil {
					t.Fatal(err)
				}
				p, err := psrp.Open(ctx, cl, psrp.PoolOptions{})
				if err != nil {
					t.Fatalf("%s: session %d: %v", transport, len(pools)+1, err)
				}
				pools = append(pools, p)
			}
			cl, err := New(c.config(transport, lab.AccountRecipientAdmin))
			if err != nil {
				t.Fatal(err)
			}
			p, err := psrp.Open(ctx, cl, psrp.PoolOptions{})
			if err == nil {
				p.Close(ctx)
				t.Fatalf("%s: the 19th session opened", transport)
			}
			for _, want := range []string{
				"Fail to create a runspace because you have exceeded the maximum number of connections allowed : 18 for the policy party : MaxConcurrency. Please close existing runspace and try again.",
				"[FailureCategory=AuthZ-AuthorizationException]",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("%s: refusal %q lacks %q", transport, err, want)
				}
			}
			t.Logf("%s: 19th session: %v (transient %v)", transport, err, errkind.IsTransient(err))
			for _, p := range pools {
				if err := p.Close(ctx); err != nil {
					t.Errorf("closing: %v", err)
				}
			}
			// They were closed: a new one opens.
			cl, _ = New(c.config(transport, lab.AccountRecipientAdmin))
			p, err = psrp.Open(ctx, cl, psrp.PoolOptions{})
			if err != nil {
				t.Fatalf("%s: after closing 18: %v", transport, err)
			}
			p.Close(ctx)
		}
	})

	if s := c.lab.Stats(); s.PSRPPools < 2*19 || s.Shells != 0 || s.Cmdlets["Set-CASMailbox"] != 2 || s.MailboxWrites != 6 {
		t.Errorf("stats after the run: pools %d, WinRS shells %d, Set-CASMailbox %d, writes %d", s.PSRPPools, s.Shells, s.Cmdlets["Set-CASMailbox"], s.MailboxWrites)
	}
}

func mustPFX(t *testing.T, export func(string, ...*x509.Certificate) ([]byte, error), password string, chain ...*x509.Certificate) []byte {
	t.Helper()
	b, err := export(password, chain...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// importPFX imports pfx on EX01 with the password as a SecureString and
// checks the certificate with thumb is then in EX01's store.
func importPFX(ctx context.Context, t *testing.T, l *lab.Lab, pool *psrp.Pool, thumb string, pfx []byte, password string) {
	t.Helper()
	res, err := pool.Run(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{{Name: "Import-ExchangeCertificate", Params: []psrp.Parameter{
		{Name: "FileData", Value: pfx},
		{Name: "Password", Value: psrp.NewSecureString(password)},
		{Name: "Server", Value: "EX01"},
	}}}}, nil)
	if err != nil || len(res.Errors) != 0 || len(res.Output) != 1 {
		t.Fatal(describe(res, err))
	}
	if o, ok := res.Output[0].(*psrp.Object); !ok || !o.IsA("Microsoft.Exchange.Management.SystemConfigurationTasks.ExchangeCertificate") {
		t.Fatalf("imported object %#v", res.Output[0])
	}
	found := false
	l.Store().Read(func(o *org.Org) {
		for _, c := range o.ServerCertificates("EX01") {
			found = found || c.Thumbprint == thumb
		}
	})
	if !found {
		t.Fatalf("certificate %s is not on EX01 after the import", thumb)
	}
}

// bigCertificate is a self-signed certificate padded to about size bytes
// with a private extension of random bytes.
func bigCertificate(t *testing.T, size int) *x509.Certificate {
	t.Helper()
	pad := make([]byte, size)
	if _, err := rand.Read(pad); err != nil {
		t.Fatal(err)
	}
	val, err := asn1.Marshal(pad)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "exrunbook padding"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Value: val}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestLabClientLargeInput sends a 2 MB byte-array parameter and 10,000
// input objects, each across many Sends, over both transports.
func TestLabClientLargeInput(t *testing.T) {
	c := startClientLab(t, lab.Options{Mailboxes: 5, Servers: 1, Seed: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	padding := bigCertificate(t, 2<<20)

	for _, transport := range []string{httpsBasic, httpNTLM} {
		t.Run(transport, func(t *testing.T) {
			cfg := c.config(transport, lab.AccountOrgAdmin)
			pool, w := c.open(ctx, t, cfg)

			t.Run("a 2 MB byte-array parameter", func(t *testing.T) {
				name := "big-" + transport + ".contoso.test"
				leaf, err := c.lab.CA().Issue(name, []string{name}, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), nil)
				if err != nil {
					t.Fatal(err)
				}
				// The PFX's MAC covers every byte: the import succeeds only if
				// all 2 MB arrived intact.
				pfx := mustPFX(t, leaf.PFX, "big-Passw0rd!", padding)
				if len(pfx) < 2<<20 {
					t.Fatalf("the PFX has %d bytes, want 2 MB or more", len(pfx))
				}
				before, sends := w.total(), w.count(wsmv.ActionSend)
				importPFX(ctx, t, c.lab, pool, leaf.Thumbprint(), pfx, "big-Passw0rd!")
				// CLIXML carries the bytes in base64: 4/3 of them at least,
				// in Command and Sends of at most MaxPayload each.
				minRequests := len(pfx) * 4 / 3 / w.maxPayload
				if n := w.total() - before; n < minRequests {
					t.Errorf("%d requests for the import, want at least %d", n, minRequests)
				}
				if transport == httpsBasic {
					if n := w.count(wsmv.ActionSend) - sends; n < minRequests-1 {
						t.Errorf("%d Sends carried the 2 MB, want at least %d", n, minRequests-1)
					}
				}
				t.Logf("%d-byte PFX: %d requests (MaxPayload %d)", len(pfx), w.total()-before, w.maxPayload)
			})

			t.Run("10,000 input objects", func(t *testing.T) {
				// Objects of about 200 bytes each, as a list of mailboxes with
				// a few properties would be: together several Sends' worth.
				const n = 10_000
				in := make([]psrp.Value, n)
				for i := range in {
					in[i] = &psrp.Object{
						TypeNames: []string{"System.Management.Automation.PSCustomObject", "System.Object"},
						Extended: []psrp.Property{
							{Name: "N", Value: int32(i + 1)},
							{Name: "Name", Value: fmt.Sprintf("user%06d with a name long enough to fill the envelope", i)},
						},
					}
				}
				before, sends := w.total(), w.count(wsmv.ActionSend)
				res, err := pool.Run(ctx, psrp.Pipeline{Commands: []psrp.Command{
					{Name: "Measure-Object", Params: []psrp.Parameter{{Name: "Property", Value: "N"}, {Name: "Sum", Value: true}, {Name: "Maximum", Value: true}}},
				}}, in)
				if err != nil || len(res.Errors) != 0 || len(res.Output) != 1 {
					t.Fatal(describe(res, err))
				}
				o := res.Output[0].(*psrp.Object)
				count, _ := o.Get("Count")
				sum, _ := o.Get("Sum")
				maxv, _ := o.Get("Maximum")
				if fmt.Sprint(count) != "10000" || fmt.Sprint(sum) != "5.0005e+07" || fmt.Sprint(maxv) != "10000" {
					t.Fatalf("Count %v, Sum %v, Maximum %v; want 10000, 50005000, 10000", count, sum, maxv)
				}
				reqs := w.total() - before
				if reqs < 4 {
					t.Errorf("%d requests carried 10,000 objects, want many Sends", reqs)
				}
				if transport == httpsBasic {
					if s := w.count(wsmv.ActionSend) - sends; s < 4 {
						t.Errorf("%d Sends carried 10,000 objects", s)
					}
				}
				t.Logf("10,000 objects: %d requests, %d Sends (counted over https only)", reqs, w.count(wsmv.ActionSend)-sends)
			})
		})
	}
}

// TestLabClientReceiveTimedOut: with a 1 s OperationTimeout, a pipeline
// that waits for its input gets w:TimedOut answers to its Receives; the
// client asks again, and the pipeline completes once the input comes.
func TestLabClientReceiveTimedOut(t *testing.T) {
	c := startClientLab(t, lab.Options{Mailboxes: 5, Servers: 1, Seed: 5})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := c.config(httpsBasic, lab.AccountOrgAdmin)
	cfg.Timeouts = Timeouts{Operation: time.Second, Grace: 5 * time.Second}
	pool, w := c.open(ctx, t, cfg)

	inv, err := pool.Start(ctx, psrp.Pipeline{Commands: []psrp.Command{{Name: "Measure-Object", Params: []psrp.Parameter{{Name: "Sum", Value: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var out []psrp.Value
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range inv.Events() {
			if ev.Kind == psrp.EventOutput {
				out = append(out, ev.Value)
			}
		}
	}()
	for {
		if _, timedOut := w.pipeline(inv.ID()); timedOut >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("no TimedOut answer to the pipeline's Receive")
		case <-inv.Done():
			t.Fatal("the pipeline ended before its input")
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := inv.SendInput(ctx, int32(40), int32(2)); err != nil {
		t.Fatal(err)
	}
	if err := inv.CloseInput(ctx); err != nil {
		t.Fatal(err)
	}
	<-drained
	state, err := inv.Wait(ctx)
	if err != nil || state != psrp.PipelineCompleted {
		t.Fatalf("state %v, err %v", state, err)
	}
	if len(out) != 1 {
		t.Fatalf("%d objects", len(out))
	}
	if sum, _ := out[0].(*psrp.Object).Get("Sum"); fmt.Sprint(sum) != "42" {
		t.Fatalf("Sum %v, want 42", sum)
	}
	receives, timedOut := w.pipeline(inv.ID())
	if receives <= timedOut {
		t.Fatalf("%d Receives, %d timed out: none was repeated to the end", receives, timedOut)
	}
	t.Logf("pipeline %s: %d Receives, %d answered w:TimedOut", inv.ID(), receives, timedOut)
}

// TestLabClientStopAndBroken: a Signal stops a long pipeline (an
// Unlimited Get-CASMailbox over a large organisation with latency), and a
// session the lab breaks is reported as transient and ErrBroken.
func TestLabClientStopAndBroken(t *testing.T) {
	const mailboxes = 5000
	c := startClientLab(t, lab.Options{Mailboxes: mailboxes, Servers: 1, Seed: 9, Latency: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stats := c.lab.Counters()

	t.Run("a Signal stops a long pipeline", func(t *testing.T) {
		pool, w := c.open(ctx, t, c.config(httpsBasic, lab.AccountOrgAdmin))
		rows := stats.Rows.Load()
		inv, err := pool.Start(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{
			{Name: "Get-CASMailbox", Params: []psrp.Parameter{{Name: "ResultSize", Value: "Unlimited"}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		first := make(chan struct{})
		got := 0
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for ev := range inv.Events() {
				if ev.Kind == psrp.EventOutput {
					if got++; got == 1 {
						close(first)
					}
				}
			}
		}()
		select {
		case <-first:
		case <-ctx.Done():
			t.Fatal("no output")
		}
		signals := w.count(wsmv.ActionSignal)
		if err := inv.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		<-drained
		state, err := inv.Wait(ctx)
		if !errors.Is(err, psrp.ErrStopped) || state != psrp.PipelineStopped {
			t.Fatalf("state %v, err %v; want Stopped, psrp.ErrStopped", state, err)
		}
		if w.count(wsmv.ActionSignal) <= signals {
			t.Error("no Signal went out")
		}
		// The lab holds at most 8 MB of a pipeline's output before its
		// writer waits for a Receive (about 1,600 full CASMailbox objects),
		// and every Receive takes the 20 ms latency: the 5,000 cannot all be
		// queued before the Signal lands. The lab stopped producing: fewer
		// rows than mailboxes, and no more after the stop.
		sent := stats.Rows.Load() - rows
		time.Sleep(300 * time.Millisecond)
		if after := stats.Rows.Load() - rows; sent >= mailboxes || after != sent {
			t.Fatalf("the lab queued %d rows (then %d) of %d", sent, after, mailboxes)
		}
		t.Logf("stopped after %d objects received, %d queued by the lab, of %d", got, sent, mailboxes)
		// The pool goes on.
		res, err := pool.Run(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{{Name: "Get-OrganizationConfig"}}}, nil)
		if err != nil || len(res.Output) != 1 {
			t.Fatalf("after the stop: %s", describe(res, err))
		}
	})

	t.Run("a broken session is transient", func(t *testing.T) {
		for _, transport := range []string{httpsBasic, httpNTLM} {
			cfg := c.config(transport, lab.AccountOrgAdmin)
			// ShellNotFound is transient, so the client retries Receives;
			// keep the retries short.
			cfg.Retry = RetryPolicy{Attempts: 2, Backoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}
			pool, _ := c.open(ctx, t, cfg)
			c.lab.Faults().Set(faults.Spec{Break: 1})
			_, err := pool.Run(ctx, psrp.Pipeline{NoInput: true, Commands: []psrp.Command{
				{Name: "Get-CASMailbox", Params: []psrp.Parameter{{Name: "ResultSize", Value: 10}}},
			}}, nil)
			c.lab.Faults().Set(faults.Spec{})
			if !errors.Is(err, psrp.ErrBroken) || !errkind.IsTransient(err) {
				t.Fatalf("%s: %v (ErrBroken %v, transient %v)", transport, err, errors.Is(err, psrp.ErrBroken), errkind.IsTransient(err))
			}
			if pool.Err() == nil {
				t.Errorf("%s: the pool still looks usable", transport)
			}
			t.Logf("%s: %v", transport, err)
		}
	})
}
