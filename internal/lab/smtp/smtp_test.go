package smtp

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	gosmtp "net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
)

// fixture is an organisation whose EX01 has two certificates bound to
// SMTP (mail.contoso.test, newest, and smtp-old.contoso.test) and one bound
// only to IIS; EX02 has none bound to SMTP.
type fixture struct {
	store                  *org.Store
	ca                     *ca.CA
	newest, older, iisOnly *ca.Leaf
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	authority, err := ca.New("smtp test CA", time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ca: authority}
	issue := func(cn string, age time.Duration) *ca.Leaf {
		l, err := authority.Issue(cn, []string{cn}, time.Now().Add(-age), time.Now().AddDate(1, 0, 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	f.newest, f.older, f.iisOnly = issue("mail.contoso.test", time.Hour), issue("smtp-old.contoso.test", 48*time.Hour), issue("web.contoso.test", 2*time.Hour)
	store, err := org.OpenOrCreate(t.TempDir(), func() (*org.Org, error) {
		o := orgtest.New(3)
		o.Certificates = nil
		for _, c := range []struct {
			leaf     *ca.Leaf
			services org.Services
		}{{f.newest, org.ServiceSMTP | org.ServiceIIS}, {f.older, org.ServiceSMTP}, {f.iisOnly, org.ServiceIIS}} {
			o.Certificates = append(o.Certificates, &org.Certificate{Server: "EX01", Thumbprint: c.leaf.Thumbprint(),
				Subject: "CN=" + c.leaf.Cert.Subject.CommonName, NotBefore: c.leaf.Cert.NotBefore, NotAfter: c.leaf.Cert.NotAfter,
				Services: c.services, HasPrivateKey: true, Status: org.CertValid, CertPEM: string(c.leaf.CertPEM()), KeyPEM: string(c.leaf.KeyPEM())})
		}
		return o, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.store = store
	return f
}

func (f *fixture) listen(t testing.TB, server string) *Listener {
	t.Helper()
	l, err := Listen(Options{Store: f.store, Server: server})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func (f *fixture) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(f.ca.Cert)
	return p
}

// Go's net/smtp sees the banner, STARTTLS in EHLO, and after STARTTLS the
// certificate bound to SMTP: by SNI when the name matches one, else the
// newest bound.
func TestNetSMTPClientSeesTheBoundCertificate(t *testing.T) {
	f := newFixture(t)
	l := f.listen(t, "EX01")
	cases := []struct {
		sni  string
		want *ca.Leaf
	}{
		{"mail.contoso.test", f.newest},
		{"smtp-old.contoso.test", f.older},
		{"", f.newest},
		{"web.contoso.test", f.newest}, // bound to IIS only: not a candidate
	}
	for _, tc := range cases {
		t.Run("sni="+tc.sni, func(t *testing.T) {
			conn, err := net.Dial("tcp", l.Addr())
			if err != nil {
				t.Fatal(err)
			}
			c, err := gosmtp.NewClient(conn, "ex01.contoso.test")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello("client.contoso.test"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := c.Extension("STARTTLS"); !ok {
				t.Fatal("EHLO does not advertise STARTTLS")
			}
			cfg := &tls.Config{RootCAs: f.roots(), ServerName: tc.sni, InsecureSkipVerify: tc.sni == "" || tc.sni == "web.contoso.test"}
			if err := c.StartTLS(cfg); err != nil {
				t.Fatal(err)
			}
			st, ok := c.TLSConnectionState()
			if !ok || len(st.PeerCertificates) == 0 {
				t.Fatal("no TLS state after STARTTLS")
			}
			if got := ca.Thumbprint(st.PeerCertificates[0]); got != tc.want.Thumbprint() {
				t.Fatalf("certificate %s (%s), want %s", got, st.PeerCertificates[0].Subject, tc.want.Cert.Subject)
			}
			if ok, _ := c.Extension("STARTTLS"); ok {
				t.Fatal("STARTTLS advertised again inside TLS")
			}
			if err := c.Mail("a@contoso.test"); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt("b@contoso.test"); err != nil {
				t.Fatal(err)
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("Subject: x\r\n\r\n.leading dot\r\nbody\r\n"))
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A server without an SMTP-bound certificate does not offer STARTTLS and
// refuses it as Exchange does.
func TestNoBoundCertificate(t *testing.T) {
	f := newFixture(t)
	l := f.listen(t, "EX02")
	got := converse(t, l, "EHLO x\r\nSTARTTLS\r\nQUIT\r\n")
	if strings.Contains(got, "STARTTLS") && !strings.Contains(got, "454 4.7.0 TLS not available") {
		t.Fatalf("conversation:\n%s", got)
	}
	if strings.Contains(got, "250-STARTTLS") {
		t.Fatalf("STARTTLS advertised without a certificate:\n%s", got)
	}
}

// converse sends script and returns everything the server said.
func converse(t testing.TB, l *Listener, script string) string {
	t.Helper()
	conn, err := net.Dial("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(script)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			return b.String()
		}
	}
}

func TestConversation(t *testing.T) {
	f := newFixture(t)
	l := f.listen(t, "EX01")
	cases := []struct {
		name, script string
		want         []string
	}{
		{"banner and quit", "QUIT\r\n", []string{"220 ex01.contoso.test Microsoft ESMTP MAIL Service ready at ", "221 2.0.0 Service closing transmission channel"}},
		{"ehlo", "EHLO client\r\nQUIT\r\n", []string{"250-ex01.contoso.test Hello [127.0.0.1]", "250-SIZE 37748736", "250-STARTTLS", "250 CHUNKING"}},
		{"helo and noop", "HELO client\r\nNOOP\r\nRSET\r\nQUIT\r\n", []string{"250 ex01.contoso.test Hello", "250 2.0.0 OK", "250 2.0.0 Resetting"}},
		{"order", "MAIL FROM:<a@b>\r\nEHLO c\r\nRCPT TO:<x@y>\r\nDATA\r\nQUIT\r\n", []string{"503 5.5.2 Send hello first", "503 5.5.2 Need mail command", "503 5.5.2 Need rcpt command"}},
		{"bad arguments", "EHLO\r\nHELO\r\nEHLO c\r\nMAIL TO:<x>\r\nSTARTTLS now\r\nQUIT\r\n", []string{"501 5.5.4 Invalid domain name", "501 5.5.4 Invalid arguments", "501 5.5.4 Unrecognized parameter"}},
		{"unknown verb", "XYZZY\x01\r\nQUIT\r\n", []string{"500 5.3.3 Unrecognized command 'XYZZY?'"}},
		{"line too long", strings.Repeat("A", 5000) + "\r\n", []string{"500 5.5.2 Line too long"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := converse(t, l, tc.script)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Fatalf("want %q in:\n%s", w, got)
				}
			}
		})
	}
}

// openssl s_client -starttls smtp verifies the chain against the lab CA and
// shows the bound certificate.
func TestOpenSSLStartTLS(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatal("openssl is required (EXRUNBOOK_REQUIRE_PEERS=1) but not on PATH")
		}
		t.Skip("openssl not on PATH")
	}
	f := newFixture(t)
	l := f.listen(t, "EX01")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, ca.CertificatePEM(f.ca.Cert), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sni, wantCN string }{{"smtp-old.contoso.test", "smtp-old.contoso.test"}, {"mail.contoso.test", "mail.contoso.test"}} {
		cmd := exec.Command(bin, "s_client", "-starttls", "smtp", "-connect", l.Addr(), "-servername", tc.sni,
			"-CAfile", caFile, "-verify_return_error", "-verify_hostname", tc.sni, "-brief")
		cmd.Stdin = strings.NewReader("QUIT\r\n")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "CN = "+tc.wantCN) && !strings.Contains(string(out), "CN="+tc.wantCN) {
			t.Fatalf("openssl did not see %s:\n%s", tc.wantCN, out)
		}
		if !strings.Contains(string(out), "Verification: OK") {
			t.Fatalf("openssl did not verify the chain:\n%s", out)
		}
	}
}

// FuzzSession feeds arbitrary client bytes to a session: it must answer
// or hang up, never panic.
func FuzzSession(f *testing.F) {
	for _, s := range []string{"EHLO x\r\nQUIT\r\n", "MAIL FROM:<a>\r\n", "DATA\r\n.\r\n", "HELO a\r\nMAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n", "\x00\xff\r\n", strings.Repeat("B", 3000)} {
		f.Add(s)
	}
	fx := newFixture(f)
	l := fx.listen(f, "EX01")
	f.Fuzz(func(t *testing.T, script string) {
		client, server := net.Pipe()
		s := &session{l: l, conn: server, r: bufio.NewReaderSize(server, maxLine+2), w: bufio.NewWriter(server), deadline: time.Now().Add(5 * time.Second)}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer server.Close()
			for {
				line, err := s.readLine()
				if err != nil || !s.command(line) {
					return
				}
			}
		}()
		go func() {
			client.Write([]byte(script))
			client.Close()
		}()
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the session did not end")
		}
	})
}
