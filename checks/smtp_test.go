package checks

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
)

// smtpServer is a tiny SMTP listener for the tests: greeting, EHLO with
// the given extensions, STARTTLS with cert (or the given refusal).
type smtpServer struct {
	cert     tls.Certificate
	exts     []string
	greeting string // default "220 ex01 ESMTP"
	starttls string // the answer to STARTTLS; default "220 go ahead"
}

func (s smtpServer) start(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return ln.Addr().String()
}

func (s smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	g := s.greeting
	if g == "" {
		g = "220 ex01.contoso.test Microsoft ESMTP MAIL Service ready"
	}
	c.Write([]byte(g + "\r\n"))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case strings.HasPrefix(cmd, "EHLO"):
			out := "250-ex01.contoso.test Hello\r\n"
			for _, e := range s.exts {
				out += "250-" + e + "\r\n"
			}
			c.Write([]byte(out + "250 CHUNKING\r\n"))
		case cmd == "STARTTLS":
			a := s.starttls
			if a == "" {
				a = "220 2.0.0 SMTP server ready"
			}
			c.Write([]byte(a + "\r\n"))
			if !strings.HasPrefix(a, "220") {
				continue
			}
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{s.cert}})
			if tc.Handshake() != nil {
				return
			}
			tc.Read(make([]byte, 64))
			return
		default:
			c.Write([]byte("500 5.3.3 Unrecognized command\r\n"))
		}
	}
}

func TestSMTPCheck(t *testing.T) {
	ca := newTestCA(t)
	good := ca.issue(t, "outlook.contoso.test", []string{"outlook.contoso.test", "mail.contoso.test"}, time.Now().Add(90*24*time.Hour))
	other := ca.issue(t, "other.contoso.test", []string{"other.contoso.test"}, time.Now().Add(90*24*time.Hour))
	env := clockEnv{now: time.Now()}
	run := func(srv smtpServer, names []string, thumb string) check.Result {
		addr := srv.start(t)
		c := &SMTPCheck{Targets: []Target{{Server: "EX01", Addr: addr}}, Names: names, RootCAs: ca.pool, ExpectThumbprint: thumb, Timeout: 3 * time.Second}
		return c.Run(context.Background(), env)
	}
	for _, tc := range []struct {
		name  string
		srv   smtpServer
		names []string
		thumb string
		want  check.Status
		msg   string
	}{
		{"good", smtpServer{cert: good, exts: []string{"SIZE 37748736", "STARTTLS", "8BITMIME"}}, []string{"mail.contoso.test"}, Thumbprint(good.Leaf), check.Pass, "offer STARTTLS"},
		{"wrong certificate", smtpServer{cert: other, exts: []string{"STARTTLS"}}, []string{"mail.contoso.test"}, Thumbprint(good.Leaf), check.Fail, "not the expected"},
		{"name not covered", smtpServer{cert: good, exts: []string{"STARTTLS"}}, []string{"smtp.contoso.test"}, "", check.Fail, "not trusted for smtp.contoso.test"},
		{"no STARTTLS", smtpServer{cert: good, exts: []string{"SIZE 1"}}, []string{"mail.contoso.test"}, "", check.Fail, "does not offer STARTTLS"},
		{"refused", smtpServer{cert: good, exts: []string{"STARTTLS"}, starttls: "454 4.7.0 TLS not available"}, []string{"mail.contoso.test"}, "", check.Fail, "STARTTLS answered 454"},
		{"busy", smtpServer{cert: good, greeting: "421 4.3.2 Service not available"}, []string{"mail.contoso.test"}, "", check.Fail, "greets with 421"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(tc.srv, tc.names, tc.thumb)
			if res.Status != tc.want || !strings.Contains(res.Message, tc.msg) {
				t.Fatalf("%s: %s (evidence %v); want %s with %q", res.Status, res.Message, res.Evidence, tc.want, tc.msg)
			}
		})
	}
	// A server that is not there fails, marked transient.
	c := &SMTPCheck{Targets: []Target{{Server: "EX02", Addr: "127.0.0.1:1"}}, Names: []string{"x"}, RootCAs: ca.pool, Timeout: time.Second}
	if res := c.Run(context.Background(), env); res.Status != check.Fail || res.Err == nil {
		t.Fatalf("unreachable: %+v", res)
	}
	if res := (&SMTPCheck{}).Run(context.Background(), env); res.Status != check.Fail {
		t.Fatalf("no targets: %+v", res)
	}
}

func TestReadSMTPReply(t *testing.T) {
	for _, tc := range []struct {
		in    string
		code  int
		lines int
		err   string
	}{
		{"220 ready\r\n", 220, 1, ""},
		{"250-a\r\n250-STARTTLS\r\n250 SIZE\r\n", 250, 3, ""},
		{"250\r\n", 250, 1, ""},
		{"250-a\n250 b\n", 250, 2, ""},
		{"250-a\r\n251 b\r\n", 0, 0, "changes"},
		{"2x0 a\r\n", 0, 0, "no reply code"},
		{"+20 a\r\n", 0, 0, "no reply code"},
		{"ab\r\n", 0, 0, "malformed"},
		{"250:a\r\n", 0, 0, "malformed"},
		{"250-a\r\n", 0, 0, "EOF"},
		{"250 " + strings.Repeat("x", 3000) + "\r\n", 0, 0, "longer than"},
		{strings.Repeat("250-x\r\n", 101), 0, 0, "more than 100 lines"},
	} {
		code, lines, err := ReadSMTPReply(bufio.NewReaderSize(strings.NewReader(tc.in), 16))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%.30q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || code != tc.code || len(lines) != tc.lines {
			t.Errorf("%.30q: %d %d %v", tc.in, code, len(lines), err)
		}
	}
}

func FuzzReadSMTPReply(f *testing.F) {
	f.Add([]byte("250-a\r\n250 STARTTLS\r\n"))
	f.Add([]byte("220 x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, lines, err := ReadSMTPReply(bufio.NewReaderSize(strings.NewReader(string(b)), 16))
		if err == nil && (code < 200 || code > 599 || len(lines) == 0 || len(lines) > maxSMTPLines) {
			t.Fatalf("accepted code %d with %d lines", code, len(lines))
		}
	})
}
