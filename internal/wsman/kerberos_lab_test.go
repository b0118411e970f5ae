package wsman

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/kerberos/kdctest"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	labwsman "github.com/exrunbook/exrunbook/internal/lab/wsman"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// Kerberos end to end: this package's client (KerberosProvider) against
// the lab's /PowerShell/ accepting Kerberos with a service keytab, a real
// MIT KDC (kdctest) issuing the tickets. Peer rule: skipped without the
// MIT tools, failed when EXRUNBOOK_REQUIRE_PEERS=1.

func TestMain(m *testing.M) {
	code := m.Run()
	kdctest.StopShared()
	os.Exit(code)
}

const krbSPN = "HTTP/ex01.contoso.test"

// krbFixture is the package's principals in the shared realm: the lab's
// administrator (password login) and the /PowerShell/ service.
type krbFixture struct {
	realm      *kdctest.Realm
	password   string // administrator's
	svcKeytab  string
	adminCache string // kinit'ed ticket cache of administrator
	// strangerCache is a ticket cache of a principal of the realm that
	// is no user of the lab.
	strangerCache string
}

var krbOnce struct {
	sync.Once
	f   krbFixture
	err error
}

func krbSetup(t *testing.T) krbFixture {
	t.Helper()
	realm := kdctest.Shared(t)
	krbOnce.Do(func() {
		f := krbFixture{realm: realm, password: "Adm1n-" + uuid.NewString()}
		if krbOnce.err = realm.AddUser("administrator", f.password); krbOnce.err != nil {
			return
		}
		if f.svcKeytab, krbOnce.err = realm.AddService(krbSPN); krbOnce.err != nil {
			return
		}
		if f.adminCache, krbOnce.err = realm.Kinit("administrator", f.password, 0); krbOnce.err != nil {
			return
		}
		if krbOnce.err = realm.AddUser("stranger", f.password); krbOnce.err != nil {
			return
		}
		f.strangerCache, krbOnce.err = realm.Kinit("stranger", f.password, 0)
		krbOnce.f = f
	})
	if krbOnce.err != nil {
		t.Fatal(krbOnce.err)
	}
	return krbOnce.f
}

// TestKerberosLabExchange opens a PSRP pool over Kerberos against a whole
// lab started with a keytab and krb5.conf, with the ticket cache, a
// password and a keytab, over http (every body sealed) and https, and
// runs Get-OrganizationConfig | Select-Object -Property MapiHttpEnabled.
func TestKerberosLabExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole lab and a KDC")
	}
	f := krbSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{Dir: t.TempDir(), Mailboxes: 5, Servers: 1, Seed: 7,
		KerberosKeytab: f.svcKeytab, Krb5Conf: f.realm.Krb5Conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := l.Endpoints()
	if e.Kerberos == nil || e.Kerberos.SPN != krbSPN || e.Kerberos.Realm != f.realm.Name {
		t.Fatalf("endpoints kerberos = %+v, want spn %s in %s", e.Kerberos, krbSPN, f.realm.Name)
	}
	u, err := url.Parse(e.PowerShell.HTTPS)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only to read the certificate's name
	if err != nil {
		t.Fatal(err)
	}
	certName := conn.ConnectionState().PeerCertificates[0].DNSNames[0]
	conn.Close()

	base := func(endpoint string) Config {
		c := Config{Endpoint: endpoint, Auth: AuthKerberos, User: "administrator@" + f.realm.Name,
			Kerberos: KerberosConfig{Krb5Conf: e.Kerberos.Krb5Conf, SPN: e.Kerberos.SPN}}
		if strings.HasPrefix(endpoint, "https:") {
			c.CAFile, c.TLSServerName = e.CAFile, certName
		}
		return c
	}
	run := func(t *testing.T, cfg Config) {
		t.Helper()
		st := l.Counters()
		enc0, plain0 := st.EncryptedBodies.Load(), st.PlainBodies.Load()
		cl, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := psrp.Open(ctx, cl, psrp.PoolOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := pool.Run(ctx, psrp.Pipeline{Commands: []psrp.Command{
			{Name: "Get-OrganizationConfig"},
			{Name: "Select-Object", Params: []psrp.Parameter{{Name: "Property", Value: "MapiHttpEnabled"}}},
		}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pool.Close(ctx); err != nil {
			t.Errorf("closing the pool: %v", err)
		}
		if len(res.Output) != 1 || len(res.Errors) != 0 {
			t.Fatalf("output %#v, errors %v", res.Output, res.Errors)
		}
		obj, ok := res.Output[0].(*psrp.Object)
		if !ok {
			t.Fatalf("output is %T, want an object", res.Output[0])
		}
		if v, ok := obj.Get("MapiHttpEnabled"); !ok {
			t.Errorf("no MapiHttpEnabled in %#v", obj)
		} else if _, isBool := v.(bool); !isBool {
			t.Errorf("MapiHttpEnabled = %#v, want a bool", v)
		}
		enc, plain := st.EncryptedBodies.Load()-enc0, st.PlainBodies.Load()-plain0
		t.Logf("lab: %d encrypted bodies, %d plain", enc, plain)
		if strings.HasPrefix(cfg.Endpoint, "http:") && (enc < 4 || plain != 0) {
			t.Errorf("over http: %d encrypted and %d plain bodies, want every body (at least Create, Command, Receive, Delete) encrypted", enc, plain)
		}
		if strings.HasPrefix(cfg.Endpoint, "https:") && (enc != 0 || plain < 4) {
			t.Errorf("over https: %d encrypted and %d plain bodies, want TLS only", enc, plain)
		}
	}

	t.Run("http-ticket-cache", func(t *testing.T) {
		t.Setenv("KRB5CCNAME", "FILE:"+f.adminCache)
		run(t, base(e.PowerShell.HTTP))
	})
	t.Run("https-ticket-cache", func(t *testing.T) {
		cfg := base(e.PowerShell.HTTPS)
		cfg.User, cfg.Kerberos.CCache = "", f.adminCache
		run(t, cfg)
	})
	t.Run("http-password", func(t *testing.T) {
		cfg := base(e.PowerShell.HTTP)
		cfg.Password = f.password
		run(t, cfg)
	})
	t.Run("http-keytab", func(t *testing.T) {
		// Writing the administrator's keytab randomises its key (only
		// the administrator may run Get-OrganizationConfig); its password
		// comes back afterwards for the other tests.
		kt, err := f.realm.Keytab("administrator")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := f.realm.SetPassword("administrator", f.password); err != nil {
				t.Error(err)
			}
		})
		cfg := base(e.PowerShell.HTTP)
		cfg.Kerberos.Keytab = kt
		run(t, cfg)
	})
}

// krbLab serves a lab /PowerShell/ (the echo host) that accepts Kerberos
// with acc, over plain http, optionally behind wrap.
func krbLab(t *testing.T, acc *kerberos.Acceptor, host *echoHost, wrap func(http.Handler) http.Handler) (string, *labstats.Counters, *httptest.Server) {
	t.Helper()
	stats := &labstats.Counters{}
	srv := labwsman.NewServer(labwsman.Options{
		Stats:  stats,
		Users:  map[string]string{`CONTOSO\Administrator`: "unused-by-kerberos"},
		Domain: "CONTOSO", DNSDomain: "contoso.test",
		Kerberos: acc, KerberosRealm: "LAB.TEST",
		PSRP: labwsman.PSRPOptions{Host: host},
	})
	t.Cleanup(srv.Close)
	var h http.Handler = srv.PowerShell()
	if wrap != nil {
		h = wrap(h)
	}
	mux := http.NewServeMux()
	mux.Handle("/PowerShell/", h)
	hs := httptest.NewUnstartedServer(mux)
	srv.ConfigureHTTPServer(hs.Config)
	hs.Start()
	t.Cleanup(hs.Close)
	return hs.URL + "/PowerShell/", stats, hs
}

// TestKerberosOverHTTPSealed: the handshake and sealed round trips with
// the lab's acceptor, and a server that offers only the Kerberos scheme
// (Exchange with Negotiate disabled) gets a fresh token in that scheme.
func TestKerberosOverHTTPSealed(t *testing.T) {
	f := krbSetup(t)
	acc, err := kerberos.NewAcceptor(kerberos.AcceptorConfig{KeytabFile: f.svcKeytab, SPN: krbSPN})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var schemes []string
	kerberosOnly := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			mu.Lock()
			schemes = append(schemes, scheme)
			mu.Unlock()
			if strings.EqualFold(scheme, "Negotiate") || (scheme == "" && r.ContentLength == 0) {
				w.Header().Set("WWW-Authenticate", "Kerberos")
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	for _, tc := range []struct {
		name       string
		wrap       func(http.Handler) http.Handler
		wantScheme string
	}{
		{"negotiate", nil, "Negotiate"},
		{"kerberos-only server", kerberosOnly, "Kerberos"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := &echoHost{}
			endpoint, stats, hs := krbLab(t, acc, host, tc.wrap)
			cl, err := New(Config{Endpoint: endpoint, Auth: AuthKerberos, Kerberos: KerberosConfig{
				Krb5Conf: f.realm.Krb5Conf, CCache: f.adminCache, SPN: krbSPN}, MaxConnections: 2})
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxT(t)
			if err := cl.Open(ctx, uuid.New(), []byte("hello")); err != nil {
				t.Fatal(err)
			}
			got, _, err := cl.Receive(ctx, uuid.Nil)
			if err != nil || string(got) != "hello" {
				t.Fatalf("Receive = %q, %v", got, err)
			}
			// Pipelines at once: connections of their own, each with its
			// own context and sequence numbers.
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for i := range 4 {
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
					t.Fatal(err)
				}
			}
			// The server closes the idle connections (as IIS does after
			// its idle timeout); a while later the next request goes on a
			// new TCP connection without a context, gets the 401 and the
			// client authenticates again.
			hs.CloseClientConnections()
			time.Sleep(500 * time.Millisecond)
			if err := runEcho(ctx, cl, 5); err != nil {
				t.Fatalf("after the server dropped the connections: %v", err)
			}
			if err := cl.Close(ctx); err != nil {
				t.Fatal(err)
			}
			host.mu.Lock()
			users := host.users
			host.mu.Unlock()
			if len(users) != 1 || users[0] != `CONTOSO\Administrator` {
				t.Errorf("the lab saw users %q, want CONTOSO\\Administrator", users)
			}
			if enc, plain := stats.EncryptedBodies.Load(), stats.PlainBodies.Load(); enc < 5 || plain != 0 {
				t.Errorf("%d encrypted and %d plain bodies, want all encrypted", enc, plain)
			}
			if tc.wrap != nil {
				mu.Lock()
				defer mu.Unlock()
				if len(schemes) < 2 || schemes[0] != "Negotiate" || schemes[1] != tc.wantScheme {
					t.Errorf("Authorization schemes %q, want Negotiate refused then %s", schemes, tc.wantScheme)
				}
			}
		})
	}
}

// TestKerberosFailures: each failure names the setting to fix, carries
// the KDC's or server's words, is transient only when the KDC did not
// answer, and opens no shell on the server.
func TestKerberosFailures(t *testing.T) {
	f := krbSetup(t)
	acc, err := kerberos.NewAcceptor(kerberos.AcceptorConfig{KeytabFile: f.svcKeytab})
	if err != nil {
		t.Fatal(err)
	}
	// A server whose clock tolerance is below the request's transit
	// time sees every client as skewed: the real KRB_AP_ERR_SKEW path.
	skewed, err := kerberos.NewAcceptor(kerberos.AcceptorConfig{KeytabFile: f.svcKeytab, MaxClockSkew: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	// A server whose keytab holds another key for the SPN (a stale
	// keytab, or the SPN on another account).
	staleKT := keytab.New()
	if err := staleKT.AddEntry(krbSPN, f.realm.Name, "not-the-service-key", time.Now(), 7, 18); err != nil {
		t.Fatal(err)
	}
	stale, err := kerberos.NewAcceptor(kerberos.AcceptorConfig{Keytab: staleKT})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := f.realm.Kinit("administrator", f.password, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadKDC := l.Addr().String()
	l.Close()
	dead := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(dead, []byte(f.realm.Krb5ConfText(deadKDC, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the 1-second ticket expires

	tests := []struct {
		name      string
		acc       *kerberos.Acceptor
		edit      func(*Config)
		transient bool
		kind      kerberos.Kind
		want      []string
	}{
		{"wrong password", acc, func(c *Config) { c.User, c.Password = "administrator", "not-the-password" }, false, kerberos.KindWrongPassword,
			[]string{"exchange.password_file", "KDC_ERR_PREAUTH_FAILED"}},
		{"missing ticket cache", acc, func(c *Config) { c.Kerberos.CCache = filepath.Join(t.TempDir(), "none") }, false, kerberos.KindNoTicket,
			[]string{"KRB5CCNAME", "run kinit"}},
		{"expired ticket", acc, func(c *Config) { c.Kerberos.CCache = expired }, false, kerberos.KindNoTicket,
			[]string{"KRB5CCNAME", "expired", "run kinit"}},
		{"unknown SPN", acc, func(c *Config) { c.Kerberos.SPN = "HTTP/nosuch.contoso.test" }, false, kerberos.KindUnknownSPN,
			[]string{"exchange.kerberos.spn", "KDC_ERR_S_PRINCIPAL_UNKNOWN", "HTTP/nosuch.contoso.test"}},
		{"clock skew", skewed, func(*Config) {}, false, kerberos.KindClockSkew,
			[]string{"clocks", "KRB_AP_ERR_SKEW"}},
		{"server cannot read the ticket", stale, func(*Config) {}, false, kerberos.KindRejected,
			[]string{"exchange.kerberos.spn", "KRB_AP_ERR"}},
		{"principal that is no user of the server", acc, func(c *Config) { c.Kerberos.CCache = f.strangerCache }, false, 0,
			[]string{"stranger@" + f.realm.Name, "may use remote PowerShell", "exchange.user"}},
		{"server without Kerberos", nil, func(*Config) {}, false, kerberos.KindRejected,
			[]string{"exchange.auth", "neither Negotiate nor Kerberos"}},
		{"KDC not answering", acc, func(c *Config) { c.User, c.Password, c.Kerberos.Krb5Conf = "administrator", "whatever", dead }, true, kerberos.KindKDCUnreachable,
			[]string{"exchange.kerberos.krb5_conf_file", deadKDC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := &echoHost{}
			endpoint, _, _ := krbLab(t, tt.acc, host, nil)
			cfg := Config{Endpoint: endpoint, Auth: AuthKerberos,
				Kerberos: KerberosConfig{Krb5Conf: f.realm.Krb5Conf, CCache: f.adminCache, SPN: krbSPN},
				Retry:    RetryPolicy{Attempts: 1}}
			tt.edit(&cfg)
			cl, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = cl.Open(ctxT(t), uuid.New(), []byte("x"))
			t.Log(err)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("the message does not say %q", s)
				}
			}
			if kerberos.KindOf(err) != tt.kind {
				t.Errorf("kind %v, want %v", kerberos.KindOf(err), tt.kind)
			}
			if errkind.IsTransient(err) != tt.transient {
				t.Errorf("transient = %v, want %v", errkind.IsTransient(err), tt.transient)
			}
			var ae *AuthError
			if !tt.transient && !errors.As(err, &ae) {
				t.Errorf("err is %T, want an *AuthError", err)
			}
			if cfg.Password != "" && strings.Contains(err.Error(), cfg.Password) {
				t.Error("the message shows the password")
			}
			host.mu.Lock()
			defer host.mu.Unlock()
			if len(host.pools) != 0 {
				t.Errorf("%d shells opened on the server", len(host.pools))
			}
		})
	}
}

// TestKerberosTicketCache: what `init` offers first — the cache's
// principal, or why there is none.
func TestKerberosTicketCache(t *testing.T) {
	f := krbSetup(t)
	t.Setenv("KRB5CCNAME", "FILE:"+f.adminCache)
	p, err := KerberosTicketCache(f.realm.Krb5Conf)
	if err != nil || p != "administrator@"+f.realm.Name {
		t.Fatalf("KerberosTicketCache = %q, %v", p, err)
	}
	t.Setenv("KRB5CCNAME", "FILE:"+filepath.Join(t.TempDir(), "none"))
	p, err = KerberosTicketCache(f.realm.Krb5Conf)
	if kerberos.KindOf(err) != kerberos.KindNoTicket || p != "" || !strings.Contains(err.Error(), "run kinit") {
		t.Fatalf("without a cache: %q, %v", p, err)
	}
}
