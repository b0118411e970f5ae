package wsman

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
)

const (
	testUser     = `CONTOSO\Administrator`
	testPassword = `P@ss w0rd;"'$x`
)

// testExecutor understands a few command lines:
//
//	echo TEXT           TEXT and CRLF on stdout, exit 0
//	err TEXT            TEXT on stderr, exit 1
//	exit N              exit N
//	bytes N             N bytes of a fixed pattern on stdout, in 1000-byte writes
//	both N              N bytes on stdout and on stderr, interleaved
//	sleep DUR TEXT      wait DUR (or until cancelled), then TEXT on stdout
//	cat                 copy stdin to stdout
//	wait                block until cancelled, then "cancelled" on stderr, exit 130
//	whoami              the user
//	codepage            the shell's WINRS_CODEPAGE
type testExecutor struct{}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
		if i%100 == 99 {
			b[i] = '\n'
		}
	}
	return b
}

func (testExecutor) Execute(ctx context.Context, req Command, stdin io.Reader, stdout, stderr io.Writer) int {
	f := strings.Fields(req.Line())
	if len(f) == 0 {
		fmt.Fprint(stderr, "empty command")
		return 9009
	}
	arg := strings.Join(f[1:], " ")
	switch f[0] {
	case "echo":
		fmt.Fprint(stdout, arg+"\r\n")
		return 0
	case "err":
		fmt.Fprint(stderr, arg)
		return 1
	case "exit":
		n, _ := strconv.Atoi(arg)
		return n
	case "bytes", "both":
		n, _ := strconv.Atoi(arg)
		p := pattern(n)
		for len(p) > 0 {
			k := min(1000, len(p))
			if _, err := stdout.Write(p[:k]); err != nil {
				return 2
			}
			if f[0] == "both" {
				if _, err := stderr.Write(p[:k]); err != nil {
					return 2
				}
			}
			p = p[k:]
		}
		return 0
	case "sleep":
		d, _ := time.ParseDuration(f[1])
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return 130
		}
		fmt.Fprint(stdout, strings.Join(f[2:], " "))
		return 0
	case "cat":
		_, _ = io.Copy(stdout, stdin)
		return 0
	case "wait":
		<-ctx.Done()
		fmt.Fprint(stderr, "cancelled")
		return 130
	case "whoami":
		fmt.Fprint(stdout, req.User)
		return 0
	case "codepage":
		fmt.Fprint(stdout, req.CodePage)
		return 0
	}
	fmt.Fprintf(stderr, "'%s' is not recognized as an internal or external command", f[0])
	return 9009
}

// lab is a server under test with the statuses it answered.
type lab struct {
	srv   *Server
	url   string // http(s)://127.0.0.1:port
	cert  []byte // DER of the self-signed certificate, for HTTPS
	stats *labstats.Counters
	inj   *faults.Injector

	mu       sync.Mutex
	statuses []int
	log      []string // one line per request, printed when a test fails
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Hijack lets the Drop fault reach the connection through the recorder.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return r.ResponseWriter.(http.Hijacker).Hijack()
}

func startLab(t testing.TB, useTLS bool, mutate func(*Options)) *lab {
	t.Helper()
	return startLabServer(t, useTLS, mutate, true)
}

// startLabServer starts a lab; connContext says whether the http.Server
// gets the server's ConnContext (as the lab assembly installs it) or the
// server must fall back to keying connections by address.
func startLabServer(t testing.TB, useTLS bool, mutate func(*Options), connContext bool) *lab {
	t.Helper()
	l := &lab{stats: &labstats.Counters{}, inj: faults.New(faults.Spec{})}
	o := Options{
		Executor:   testExecutor{},
		Users:      map[string]string{testUser: testPassword, "alice@contoso.test": "alice-pw"},
		Domain:     "CONTOSO",
		DNSDomain:  "contoso.test",
		AllowBasic: true,
		AllowNTLM:  true,
		Stats:      l.stats,
		Faults:     l.inj,
	}
	if mutate != nil {
		mutate(&o)
	}
	l.srv = NewServer(o)
	mux := http.NewServeMux()
	mux.Handle("/wsman", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		l.srv.ServeHTTP(rec, r)
		a := r.Header.Get("Authorization")
		l.mu.Lock()
		l.statuses = append(l.statuses, rec.status)
		l.log = append(l.log, fmt.Sprintf("%s auth=%q ct=%q len=%d → %d", r.RemoteAddr, a[:min(len(a), 24)], r.Header.Get("Content-Type"), r.ContentLength, rec.status))
		l.mu.Unlock()
	}))
	mux.Handle("/PowerShell/", l.srv.PowerShell())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if connContext {
		l.srv.ConfigureHTTPServer(hs)
	}
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			l.mu.Lock()
			l.log = append(l.log, fmt.Sprintf("%s %s", c.RemoteAddr(), st))
			l.mu.Unlock()
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.url = "http://" + ln.Addr().String()
	if useTLS {
		cert, der := selfSigned(t)
		l.cert = der
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}
		ln = tls.NewListener(ln, hs.TLSConfig)
		l.url = "https://" + ln.Addr().String()
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			t.Log("requests:\n" + strings.Join(l.log, "\n"))
			l.mu.Unlock()
		}
		_ = hs.Close()
		l.srv.Close()
	})
	return l
}

func (l *lab) endpoint() string { return l.url + "/wsman" }

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ex01.contoso.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"ex01.contoso.test"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der
}

func (l *lab) hostPort(t testing.TB) (string, int) {
	u, _ := url.Parse(l.url)
	h, p, _ := net.SplitHostPort(u.Host)
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, port
}

func (l *lab) caPEM() []byte {
	if l.cert == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: l.cert})
}

func (l *lab) seen(status int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.statuses {
		if s == status {
			n++
		}
	}
	return n
}

// cmdCase is one command every client runs, with what it must yield.
type cmdCase struct {
	line         string
	stdin        string
	stdout       string // exact, unless stdoutSHA is set
	stdoutSHA    string // hex SHA-256 of stdout, for large outputs
	stderr       string
	code         int
	needsTimeout bool // outlasts the OperationTimeout
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func commonCases() []cmdCase {
	return []cmdCase{
		{line: "echo hello world", stdout: "hello world\r\n"},
		{line: "err something broke", stderr: "something broke", code: 1},
		{line: "exit 42", code: 42},
		{line: "exit -1", code: -1},
		{line: "bytes 1048576", stdoutSHA: sha(pattern(1 << 20))},
		{line: "sleep 1300ms done after the timeout", stdout: "done after the timeout", needsTimeout: true},
		{line: "whoami", stdout: testUser},
		{line: "codepage", stdout: "65001"}, // pywinrm cases override: it sends 437
	}
}

func checkCase(t *testing.T, tc cmdCase, stdout, stderr []byte, code int) {
	t.Helper()
	if tc.stdoutSHA != "" {
		if got := sha(stdout); got != tc.stdoutSHA {
			t.Errorf("%s: stdout is %d bytes with SHA-256 %s, want %s", tc.line, len(stdout), got, tc.stdoutSHA)
		}
	} else if string(stdout) != tc.stdout {
		t.Errorf("%s: stdout = %q, want %q", tc.line, stdout, tc.stdout)
	}
	if string(stderr) != tc.stderr {
		t.Errorf("%s: stderr = %q, want %q", tc.line, stderr, tc.stderr)
	}
	if code != tc.code {
		t.Errorf("%s: exit code = %d, want %d", tc.line, code, tc.code)
	}
}

type stringsBuilder = strings.Builder

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
