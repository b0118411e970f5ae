// Package smtp is one Exchange server's SMTP listener in the lab: the
// Default Frontend receive connector as far as exrunbook's certificate check
// and an administrator's `openssl s_client -starttls smtp` see it. It greets
// with 220, advertises STARTTLS in its EHLO answer and, on STARTTLS,
// presents the certificate bound to SMTP on that server in the organisation
// model (chosen among the bound certificates by SNI when the client sends a
// name, as the HTTPS listener chooses among IIS ones). Mail it accepts is
// discarded: the lab delivers nothing.
package smtp

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/tlscert"
)

// Limits of one session.
const (
	maxLine     = 2048             // RFC 5321 allows 512 for commands, 1000 for text lines
	maxMessage  = 36 << 20         // the SIZE Exchange advertises by default (36 MB)
	idleTimeout = 5 * time.Minute  // Exchange's ConnectionInactivityTimeout default
	sessionMax  = 10 * time.Minute // Exchange's ConnectionTimeout default
	sizeText    = "37748736"       // maxMessage as advertised in EHLO
	tlsHandMax  = 30 * time.Second // a TLS handshake that takes longer is dropped
	bannerDate  = "Mon, 2 Jan 2006 15:04:05 -0700"
	errorPrefix = "smtp: "
)

// Options configure one server's listener.
type Options struct {
	// Store is the organisation; Server the Exchange server ("EX01").
	Store  *org.Store
	Server string
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// Now is the clock of the banner; default time.Now.
	Now func() time.Time
}

// Listener is one server's running SMTP listener.
type Listener struct {
	opts  Options
	fqdn  string
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	done  bool
	certs tlscert.Cache
}

// Listen starts the SMTP listener for opts.Server.
func Listen(opts Options) (*Listener, error) {
	if opts.Store == nil || opts.Server == "" {
		return nil, errors.New(errorPrefix + "a store and a server name are required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Listener{opts: opts, conns: map[net.Conn]struct{}{}}
	opts.Store.Read(func(o *org.Org) {
		l.fqdn = strings.ToLower(opts.Server) + "." + o.Domain
		if s, err := o.FindServer(opts.Server); err == nil && s.Fqdn != "" {
			l.fqdn = s.Fqdn
		}
	})
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf(errorPrefix+"%w", err)
	}
	l.ln = ln
	l.wg.Add(1)
	go l.accept()
	return l, nil
}

// Addr is "127.0.0.1:PORT".
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops the listener and ends every session.
func (l *Listener) Close() error {
	err := l.ln.Close()
	l.mu.Lock()
	l.done = true
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
	return err
}

func (l *Listener) accept() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		if l.done {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			l.serve(c)
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
		}()
	}
}

// BoundCertificates returns the server's valid certificates with a key
// that are bound to SMTP, newest first.
func BoundCertificates(o *org.Org, server string) []*org.Certificate {
	return o.BoundCertificates(server, org.ServiceSMTP)
}

// certificate picks the first bound certificate whose names cover the SNI
// name, or the first bound one.
func (l *Listener) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var bound []*org.Certificate
	l.opts.Store.Read(func(o *org.Org) {
		for _, c := range BoundCertificates(o, l.opts.Server) {
			cp := *c // read outside the store's lock
			bound = append(bound, &cp)
		}
	})
	first := l.certs.Pick(bound, hello.ServerName)
	if first == nil {
		return nil, fmt.Errorf(errorPrefix+"%s has no usable certificate bound to SMTP", l.opts.Server)
	}
	return first, nil
}

// hasCertificate reports whether STARTTLS can be offered.
func (l *Listener) hasCertificate() bool {
	ok := false
	l.opts.Store.Read(func(o *org.Org) { ok = len(BoundCertificates(o, l.opts.Server)) > 0 })
	return ok
}

// session is one SMTP conversation.
type session struct {
	l        *Listener
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	tls      bool
	greeted  bool
	mailFrom bool
	rcpts    int
	deadline time.Time
}

func (l *Listener) serve(c net.Conn) {
	defer c.Close()
	s := &session{l: l, conn: c, r: bufio.NewReaderSize(c, maxLine+2), w: bufio.NewWriter(c), deadline: time.Now().Add(sessionMax)}
	s.reply("220 " + l.fqdn + " Microsoft ESMTP MAIL Service ready at " + l.opts.Now().Format(bannerDate))
	for {
		line, err := s.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.reply("500 5.5.2 Line too long")
			}
			return
		}
		if !s.command(line) {
			return
		}
	}
}

var errLineTooLong = errors.New(errorPrefix + "line too long")

// readLine reads one CRLF- (or LF-) terminated line without its ending.
func (s *session) readLine() (string, error) {
	_ = s.conn.SetReadDeadline(minTime(time.Now().Add(idleTimeout), s.deadline))
	line, err := s.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxLine {
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (s *session) reply(lines ...string) bool {
	_ = s.conn.SetWriteDeadline(time.Now().Add(idleTimeout))
	for _, l := range lines {
		s.w.WriteString(l + "\r\n")
	}
	return s.w.Flush() == nil
}

// command answers one command line; false ends the session.
func (s *session) command(line string) bool {
	verb, arg, _ := strings.Cut(line, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToUpper(verb) {
	case "EHLO":
		if arg == "" {
			return s.reply("501 5.5.4 Invalid domain name")
		}
		s.greeted, s.mailFrom, s.rcpts = true, false, 0
		ext := []string{"250-" + s.l.fqdn + " Hello [" + remoteIP(s.conn) + "]", "250-SIZE " + sizeText, "250-PIPELINING", "250-DSN", "250-ENHANCEDSTATUSCODES"}
		if !s.tls && s.l.hasCertificate() {
			ext = append(ext, "250-STARTTLS")
		}
		ext = append(ext, "250-8BITMIME", "250-BINARYMIME", "250 CHUNKING")
		return s.reply(ext...)
	case "HELO":
		if arg == "" {
			return s.reply("501 5.5.4 Invalid domain name")
		}
		s.greeted, s.mailFrom, s.rcpts = true, false, 0
		return s.reply("250 " + s.l.fqdn + " Hello [" + remoteIP(s.conn) + "]")
	case "STARTTLS":
		switch {
		case arg != "":
			return s.reply("501 5.5.4 Unrecognized parameter")
		case s.tls:
			return s.reply("503 5.5.1 TLS already negotiated")
		case !s.l.hasCertificate():
			return s.reply("454 4.7.0 TLS not available due to local problem")
		}
		if !s.reply("220 2.0.0 SMTP server ready") {
			return false
		}
		tc := tls.Server(s.conn, &tls.Config{GetCertificate: s.l.certificate, MinVersion: tls.VersionTLS12})
		_ = tc.SetDeadline(time.Now().Add(tlsHandMax))
		if err := tc.Handshake(); err != nil {
			return false
		}
		_ = tc.SetDeadline(time.Time{})
		// RFC 3207 §4.2: the session starts over, EHLO included.
		s.conn, s.tls, s.greeted, s.mailFrom, s.rcpts = tc, true, false, false, 0
		s.r = bufio.NewReaderSize(tc, maxLine+2)
		s.w = bufio.NewWriter(tc)
		return true
	case "MAIL":
		switch {
		case !s.greeted:
			return s.reply("503 5.5.2 Send hello first")
		case s.mailFrom:
			return s.reply("503 5.5.2 Sender already specified")
		case !strings.HasPrefix(strings.ToUpper(arg), "FROM:"):
			return s.reply("501 5.5.4 Invalid arguments")
		}
		s.mailFrom = true
		return s.reply("250 2.1.0 Sender OK")
	case "RCPT":
		switch {
		case !s.mailFrom:
			return s.reply("503 5.5.2 Need mail command")
		case !strings.HasPrefix(strings.ToUpper(arg), "TO:"):
			return s.reply("501 5.5.4 Invalid arguments")
		}
		s.rcpts++
		return s.reply("250 2.1.5 Recipient OK")
	case "DATA":
		if s.rcpts == 0 {
			return s.reply("503 5.5.2 Need rcpt command")
		}
		if !s.reply("354 Start mail input; end with <CRLF>.<CRLF>") {
			return false
		}
		if err := s.discardData(); err != nil {
			if errors.Is(err, errTooBig) {
				s.reply("552 5.3.4 Message size exceeds fixed maximum message size")
			}
			return false
		}
		s.mailFrom, s.rcpts = false, 0
		return s.reply("250 2.6.0 Queued mail for delivery")
	case "RSET":
		s.mailFrom, s.rcpts = false, 0
		return s.reply("250 2.0.0 Resetting")
	case "NOOP":
		return s.reply("250 2.0.0 OK")
	case "QUIT":
		s.reply("221 2.0.0 Service closing transmission channel")
		return false
	default:
		return s.reply("500 5.3.3 Unrecognized command '" + printable(verb) + "'")
	}
}

var errTooBig = errors.New(errorPrefix + "message too big")

// discardData reads a DATA body up to the lone dot, keeping none of it.
func (s *session) discardData() error {
	n := 0
	for {
		_ = s.conn.SetReadDeadline(minTime(time.Now().Add(idleTimeout), s.deadline))
		line, err := s.r.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
		n += len(line)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a long text line: keep counting
		}
		if strings.TrimRight(string(line), "\r\n") == "." {
			if n-len(line) > maxMessage {
				return errTooBig
			}
			return nil
		}
		if n > maxMessage+maxLine {
			return errTooBig // the session ends: draining to the dot could take forever
		}
	}
}

// printable keeps an echoed verb short and free of control characters.
func printable(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}
