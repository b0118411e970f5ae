package kerberos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/kerberos/kdctest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kdctest.StopShared()
	os.Exit(code)
}

const (
	testSPN      = "HTTP/exch01.lab.test"
	testUser     = "alice"
	testPassword = "Passw0rd!"
)

// fixture is the realm every KDC test shares: alice (password), bob
// (keytab), the HTTP service and its keytab, and alice's kinit cache.
type fixture struct {
	realm     *kdctest.Realm
	svcKeytab string
	bobKeytab string
	ccache    string
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func setup(t *testing.T) fixture {
	t.Helper()
	r := kdctest.Shared(t)
	fixOnce.Do(func() {
		fix.realm = r
		if fixErr = r.AddUser(testUser, testPassword); fixErr != nil {
			return
		}
		if fixErr = r.AddUser("bob", "bobs-initial-pw"); fixErr != nil {
			return
		}
		if fix.bobKeytab, fixErr = r.Keytab("bob"); fixErr != nil {
			return
		}
		if fix.svcKeytab, fixErr = r.AddService(testSPN); fixErr != nil {
			return
		}
		fix.ccache, fixErr = r.Kinit(testUser, testPassword, 0)
	})
	if fixErr != nil {
		t.Fatalf("realm setup: %v\nKDC log:\n%s", fixErr, r.Log())
	}
	return fix
}

// connState is one server connection's Kerberos context.
type connState struct {
	mu       sync.Mutex
	ctx      *Context
	client   string
	protocol string
}

type connKey struct{}

// newWinRMServer is a minimal WinRM-style endpoint: 401 with Negotiate
// and Kerberos offers, the handshake on an empty POST answered with the
// final token on the 200, then sealed bodies echoed back sealed.
func newWinRMServer(t *testing.T, acc *Acceptor, offers ...string) *httptest.Server {
	t.Helper()
	if len(offers) == 0 {
		offers = []string{"Negotiate", "Kerberos"}
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := r.Context().Value(connKey{}).(*connState)
		body, _ := io.ReadAll(r.Body)
		a, wwwAuth, ok, err := acc.AcceptRequest(r)
		if ok {
			if wwwAuth != "" {
				w.Header().Set("WWW-Authenticate", wwwAuth)
			}
			if err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			scheme, _ := SchemeOf(r)
			st.mu.Lock()
			st.ctx, st.client, st.protocol = a.Context, a.Client, scheme.Protocol()
			st.mu.Unlock()
			w.WriteHeader(http.StatusOK)
			return
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.ctx == nil {
			for _, o := range offers {
				w.Header().Add("WWW-Authenticate", o)
			}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		plain, err := OpenBody(st.ctx, st.protocol, r.Header.Get("Content-Type"), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, ct, err := SealBody(st.ctx, st.protocol, []byte(st.client+" said: "+string(plain)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Write(out)
	}))
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, &connState{})
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// oneConnClient keeps every request on one TCP connection, as a Kerberos
// context belongs to its connection.
func oneConnClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func post(c *http.Client, url, authz, contentType string, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// handshake runs the RFC 4559 exchange the way the WS-Man client will:
// empty POST, 401 offers, the token, the final token on the 200.
func handshake(c *http.Client, url string, in *Initiator) (*Context, error) {
	resp, _, err := post(c, url, "", "", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return nil, fmt.Errorf("first POST: status %d, want 401", resp.StatusCode)
	}
	// Keep the initiator's scheme when offered, else take the server's.
	if err := in.Offered(resp.Header.Values("WWW-Authenticate")); err != nil {
		return nil, err
	}
	tok, err := in.Step(nil)
	if err != nil {
		return nil, err
	}
	resp, _, err = post(c, url, AuthHeader(Scheme(in.Scheme()), tok), "", nil)
	if err != nil {
		return nil, err
	}
	reply, _, err := TokenFromHeader(resp.Header.Values("WWW-Authenticate"), Scheme(in.Scheme()))
	if err != nil {
		return nil, err
	}
	if _, err := in.Step(reply); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !in.Complete() {
		return nil, fmt.Errorf("handshake: status %d, complete %v", resp.StatusCode, in.Complete())
	}
	return in.Context(), nil
}

func exchange(t *testing.T, c *http.Client, url string, ctx *Context, protocol, msg string) string {
	t.Helper()
	body, ct, err := SealBody(ctx, protocol, []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte(msg)) {
		t.Fatalf("the sealed body contains the plaintext %q", msg)
	}
	resp, out, err := post(c, url, "", ct, body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, out)
	}
	plain, err := OpenBody(ctx, protocol, resp.Header.Get("Content-Type"), out)
	if err != nil {
		t.Fatal(err)
	}
	return string(plain)
}

func TestKDCHandshakeAndSealedMessages(t *testing.T) {
	f := setup(t)
	acc, err := NewAcceptor(AcceptorConfig{KeytabFile: f.svcKeytab, SPN: testSPN})
	if err != nil {
		t.Fatal(err)
	}
	srv := newWinRMServer(t, acc)
	sources := []struct {
		name   string
		cfg    Config
		source Source
		client string
	}{
		{"password", Config{User: testUser, Password: testPassword, Krb5ConfFile: f.realm.Krb5Conf}, SourcePassword, "alice@LAB.TEST"},
		{"password user@REALM", Config{User: "alice@LAB.TEST", Password: testPassword, Krb5ConfFile: f.realm.Krb5Conf}, SourcePassword, "alice@LAB.TEST"},
		{"password DOMAIN\\user", Config{User: `LAB\alice`, Password: testPassword, Krb5ConfFile: f.realm.Krb5Conf}, SourcePassword, "alice@LAB.TEST"},
		{"keytab", Config{User: "bob", KeytabFile: f.bobKeytab, Krb5ConfFile: f.realm.Krb5Conf}, SourceKeytab, "bob@LAB.TEST"},
		{"ticket cache", Config{CCacheFile: f.ccache, Krb5ConfFile: f.realm.Krb5Conf}, SourceCCache, "alice@LAB.TEST"},
	}
	for _, src := range sources {
		for _, scheme := range []Scheme{SchemeNegotiate, SchemeKerberos} {
			t.Run(src.name+"/"+string(scheme), func(t *testing.T) {
				creds, err := NewCredentials(src.cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer creds.Close()
				if creds.Source() != src.source || creds.Principal() != src.client {
					t.Fatalf("credentials: source %v principal %q, want %v %q", creds.Source(), creds.Principal(), src.source, src.client)
				}
				in, err := creds.NewInitiator(testSPN, scheme)
				if err != nil {
					t.Fatal(err)
				}
				c := oneConnClient(t)
				ctx, err := handshake(c, srv.URL, in)
				if err != nil {
					t.Fatal(err)
				}
				send0, recv0 := ctx.Sequence()
				for i := 0; i < 4; i++ {
					msg := fmt.Sprintf("<s:Envelope>message %d %s</s:Envelope>", i, strings.Repeat("x", i*700))
					got := exchange(t, c, srv.URL, ctx, in.Protocol(), msg)
					if want := src.client + " said: " + msg; got != want {
						t.Fatalf("message %d: got %q, want %q", i, got, want)
					}
				}
				send, recv := ctx.Sequence()
				if send != send0+4 || recv != recv0+4 {
					t.Fatalf("sequence numbers went %d/%d → %d/%d, want +4 each", send0, recv0, send, recv)
				}
			})
		}
	}
}

// TestKDCDefaultCCache finds the ticket cache through KRB5CCNAME and
// through krb5.conf's default_ccache_name, as kinit leaves it.
// TestKDCKerberosOnlyServer: a server that offers only the Kerberos
// scheme (Exchange with Negotiate disabled) makes an initiator built for
// Negotiate switch to raw Kerberos tokens and the Kerberos protocol string.
func TestKDCKerberosOnlyServer(t *testing.T) {
	f := setup(t)
	acc, err := NewAcceptor(AcceptorConfig{KeytabFile: f.svcKeytab})
	if err != nil {
		t.Fatal(err)
	}
	srv := newWinRMServer(t, acc, "Kerberos")
	creds, err := NewCredentials(Config{CCacheFile: f.ccache, Krb5ConfFile: f.realm.Krb5Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer creds.Close()
	in, err := creds.NewInitiator(testSPN+"@LAB.TEST", SchemeNegotiate)
	if err != nil {
		t.Fatal(err)
	}
	c := oneConnClient(t)
	ctx, err := handshake(c, srv.URL, in)
	if err != nil {
		t.Fatal(err)
	}
	if in.Scheme() != "Kerberos" || in.Protocol() != ProtocolKerberos {
		t.Fatalf("scheme %s protocol %s", in.Scheme(), in.Protocol())
	}
	if got := exchange(t, c, srv.URL, ctx, in.Protocol(), "hi"); got != "alice@LAB.TEST said: hi" {
		t.Fatalf("got %q", got)
	}
	if err := in.UseScheme(SchemeNegotiate); err == nil {
		t.Fatal("the scheme changed after the handshake")
	}
}

func TestKDCDefaultCCache(t *testing.T) {
	f := setup(t)
	t.Run("KRB5CCNAME", func(t *testing.T) {
		t.Setenv("KRB5CCNAME", "FILE:"+f.ccache)
		creds, err := NewCredentials(Config{Krb5ConfFile: f.realm.Krb5Conf})
		if err != nil {
			t.Fatal(err)
		}
		defer creds.Close()
		if creds.Source() != SourceCCache || creds.Principal() != "alice@LAB.TEST" {
			t.Fatalf("got %v %q", creds.Source(), creds.Principal())
		}
	})
	t.Run("default_ccache_name and KRB5_CONFIG", func(t *testing.T) {
		conf, err := os.ReadFile(f.realm.Krb5Conf)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "krb5.conf")
		text := strings.Replace(string(conf), "[libdefaults]\n", "[libdefaults]\n  default_ccache_name = FILE:"+f.ccache+"\n", 1)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("KRB5CCNAME", "")
		t.Setenv("KRB5_CONFIG", path)
		creds, err := NewCredentials(Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer creds.Close()
		if creds.Source() != SourceCCache {
			t.Fatalf("source %v", creds.Source())
		}
	})
}

func TestKDCFailures(t *testing.T) {
	f := setup(t)
	dead := filepath.Join(t.TempDir(), "dead-krb5.conf")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()
	if err := os.WriteFile(dead, []byte(f.realm.Krb5ConfText(deadAddr, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	expired, err := f.realm.Kinit(testUser, testPassword, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)

	tests := []struct {
		name      string
		cfg       Config
		kind      Kind
		transient bool
		want      []string
	}{
		{"wrong password", Config{User: testUser, Password: "not-the-password", Krb5ConfFile: f.realm.Krb5Conf},
			KindWrongPassword, false, []string{"exchange.password_file", "KDC_ERR_PREAUTH_FAILED", "alice@LAB.TEST"}},
		{"unknown user", Config{User: "mallory", Password: "mallorys-guess", Krb5ConfFile: f.realm.Krb5Conf},
			KindUnknownUser, false, []string{"exchange.user", "KDC_ERR_C_PRINCIPAL_UNKNOWN"}},
		{"missing ticket cache", Config{CCacheFile: filepath.Join(t.TempDir(), "nope"), Krb5ConfFile: f.realm.Krb5Conf},
			KindNoTicket, false, []string{"run kinit", "KRB5CCNAME"}},
		{"expired ticket cache", Config{CCacheFile: expired, Krb5ConfFile: f.realm.Krb5Conf},
			KindNoTicket, false, []string{"expired", "run kinit", "KRB5CCNAME"}},
		{"cache of another user", Config{User: "bob", CCacheFile: f.ccache, Krb5ConfFile: f.realm.Krb5Conf},
			KindConfig, false, []string{"alice@LAB.TEST", "not bob", "exchange.user"}},
		{"KDC unreachable", Config{User: testUser, Password: testPassword, Krb5ConfFile: dead},
			KindKDCUnreachable, true, []string{"exchange.kerberos.krb5_conf_file", deadAddr}},
		{"missing krb5.conf", Config{User: testUser, Password: testPassword, Krb5ConfFile: filepath.Join(t.TempDir(), "none.conf")},
			KindConfig, false, []string{"exchange.kerberos.krb5_conf_file"}},
		{"missing keytab", Config{User: "bob", KeytabFile: filepath.Join(t.TempDir(), "none.keytab"), Krb5ConfFile: f.realm.Krb5Conf},
			KindConfig, false, []string{"exchange.kerberos.keytab_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, err := NewCredentials(tt.cfg)
			if err == nil {
				creds.Close()
				t.Fatal("NewCredentials succeeded")
			}
			checkErr(t, err, tt.kind, tt.transient, tt.want...)
			if tt.cfg.Password != "" && strings.Contains(err.Error(), tt.cfg.Password) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}

	t.Run("unknown SPN", func(t *testing.T) {
		creds, err := NewCredentials(Config{CCacheFile: f.ccache, Krb5ConfFile: f.realm.Krb5Conf})
		if err != nil {
			t.Fatal(err)
		}
		defer creds.Close()
		_, err = creds.NewInitiator("HTTP/nosuch.lab.test", SchemeNegotiate)
		checkErr(t, err, KindUnknownSPN, false, "exchange.kerberos.spn", "KDC_ERR_S_PRINCIPAL_UNKNOWN", "HTTP/nosuch.lab.test")
	})

	acc, err := NewAcceptor(AcceptorConfig{KeytabFile: f.svcKeytab, SPN: testSPN})
	if err != nil {
		t.Fatal(err)
	}
	srv := newWinRMServer(t, acc)
	t.Run("clock skew", func(t *testing.T) {
		creds, err := NewCredentials(Config{User: testUser, Password: testPassword, Krb5ConfFile: f.realm.Krb5Conf})
		if err != nil {
			t.Fatal(err)
		}
		defer creds.Close()
		for _, scheme := range []Scheme{SchemeNegotiate, SchemeKerberos} {
			in, err := creds.newInitiator(testSPN, scheme, func() time.Time { return time.Now().Add(-10 * time.Minute) })
			if err != nil {
				t.Fatal(err)
			}
			_, err = handshake(oneConnClient(t), srv.URL, in)
			checkErr(t, err, KindClockSkew, false, "KRB_AP_ERR_SKEW", "clocks")
		}
	})
	t.Run("server keytab of another service", func(t *testing.T) {
		otherKT, err := f.realm.AddService("HTTP/other.lab.test")
		if err != nil {
			t.Fatal(err)
		}
		other, err := NewAcceptor(AcceptorConfig{KeytabFile: otherKT})
		if err != nil {
			t.Fatal(err)
		}
		osrv := newWinRMServer(t, other)
		creds, err := NewCredentials(Config{CCacheFile: f.ccache, Krb5ConfFile: f.realm.Krb5Conf})
		if err != nil {
			t.Fatal(err)
		}
		defer creds.Close()
		in, err := creds.NewInitiator(testSPN, SchemeNegotiate)
		if err != nil {
			t.Fatal(err)
		}
		_, err = handshake(oneConnClient(t), osrv.URL, in)
		checkErr(t, err, KindRejected, false, "exchange.kerberos.spn", "KRB_AP_ERR_NOKEY")
	})
}

func checkErr(t *testing.T, err error, kind Kind, transient bool, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want kind %v", kind)
	}
	t.Logf("%v", err)
	if got := KindOf(err); got != kind {
		t.Fatalf("kind %v, want %v: %v", got, kind, err)
	}
	if errkind.IsTransient(err) != transient {
		t.Fatalf("transient = %v, want %v: %v", !transient, transient, err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q: %v", w, err)
		}
	}
}

// TestKDCConcurrentConnections: one Credentials serves several
// connections at once, each with its own context and sequence numbers, as
// the WS-Man client's connection pool will use it.
func TestKDCConcurrentConnections(t *testing.T) {
	f := setup(t)
	acc, err := NewAcceptor(AcceptorConfig{KeytabFile: f.svcKeytab, SPN: testSPN})
	if err != nil {
		t.Fatal(err)
	}
	srv := newWinRMServer(t, acc)
	creds, err := NewCredentials(Config{User: testUser, Password: testPassword, Krb5ConfFile: f.realm.Krb5Conf})
	if err != nil {
		t.Fatal(err)
	}
	defer creds.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			in, err := creds.NewInitiator(testSPN, SchemeNegotiate)
			if err != nil {
				errs <- err
				return
			}
			tr := &http.Transport{MaxConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			ctx, err := handshake(c, srv.URL, in)
			if err != nil {
				errs <- err
				return
			}
			for j := 0; j < 3; j++ {
				msg := fmt.Sprintf("connection %d message %d", i, j)
				body, ct, err := SealBody(ctx, in.Protocol(), []byte(msg))
				if err != nil {
					errs <- err
					return
				}
				resp, out, err := post(c, srv.URL, "", ct, body)
				if err != nil {
					errs <- err
					return
				}
				plain, err := OpenBody(ctx, in.Protocol(), resp.Header.Get("Content-Type"), out)
				if err != nil || string(plain) != "alice@LAB.TEST said: "+msg {
					errs <- fmt.Errorf("connection %d: %q, %v", i, plain, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
