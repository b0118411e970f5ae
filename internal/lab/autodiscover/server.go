package autodiscover

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// Options configure one server's HTTPS listener.
type Options struct {
	// Store is the organisation.
	Store *org.Store
	// Server is the Exchange server this listener stands for ("EX01").
	Server string
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// Now is the clock for error timestamps; default time.Now.
	Now func() time.Time
}

// Listener is one server's running HTTPS listener.
type Listener struct {
	opts  Options
	ln    net.Listener
	srv   *http.Server
	done  chan struct{}
	certs sync.Map // thumbprint → *tls.Certificate
	errID atomic.Uint32
}

// Listen starts the HTTPS listener for opts.Server.
func Listen(opts Options) (*Listener, error) {
	if opts.Store == nil || opts.Server == "" {
		return nil, errors.New("autodiscover: a store and a server name are required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Listener{opts: opts, done: make(chan struct{})}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("autodiscover: %w", err)
	}
	l.ln = tls.NewListener(ln, &tls.Config{GetCertificate: l.certificate, MinVersion: tls.VersionTLS12})
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog()}
	go func() {
		defer close(l.done)
		l.srv.Serve(l.ln)
	}()
	return l, nil
}

// Addr is "127.0.0.1:PORT".
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops the listener.
func (l *Listener) Close() error {
	err := l.srv.Close()
	<-l.done
	return err
}

// BoundCertificates returns the server's certificates bound to IIS that
// have a key, newest first.
func BoundCertificates(o *org.Org, server string) []*org.Certificate {
	var out []*org.Certificate
	for _, c := range o.ServerCertificates(server) {
		if c.Services&org.ServiceIIS != 0 && c.Status == org.CertValid && c.CertPEM != "" && c.KeyPEM != "" {
			out = append(out, c)
		}
	}
	// Newest first: a binding made later replaces the one before in IIS.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].NotBefore.After(out[j-1].NotBefore); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// certificate picks, among the certificates bound to IIS on this server,
// the first whose names cover the SNI name, or the first bound one when none
// does (or there is no SNI).
func (l *Listener) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	var bound []*org.Certificate
	l.opts.Store.Read(func(o *org.Org) {
		for _, c := range BoundCertificates(o, l.opts.Server) {
			cp := *c
			bound = append(bound, &cp)
		}
	})
	if len(bound) == 0 {
		return nil, fmt.Errorf("autodiscover: %s has no certificate bound to IIS", l.opts.Server)
	}
	var first *tls.Certificate
	for _, c := range bound {
		tc, err := l.parsed(c)
		if err != nil {
			continue
		}
		if first == nil {
			first = tc
		}
		if hello.ServerName != "" && tc.Leaf.VerifyHostname(hello.ServerName) == nil {
			return tc, nil
		}
	}
	if first == nil {
		return nil, fmt.Errorf("autodiscover: %s: no usable certificate bound to IIS", l.opts.Server)
	}
	return first, nil
}

func (l *Listener) parsed(c *org.Certificate) (*tls.Certificate, error) {
	if v, ok := l.certs.Load(c.Thumbprint); ok {
		return v.(*tls.Certificate), nil
	}
	tc, err := tls.X509KeyPair([]byte(c.CertPEM), []byte(c.KeyPEM))
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		return nil, err
	}
	tc.Leaf = leaf
	l.certs.Store(c.Thumbprint, &tc)
	return &tc, nil
}

// ServeHTTP serves Autodiscover POX.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.Path, "/autodiscover/autodiscover.xml") {
		http.NotFound(w, r)
		return
	}
	user, pass, ok := r.BasicAuth()
	var mbx *org.Mailbox
	var reply []byte
	authed := false
	var body []byte
	var reqErr error
	if r.Method == http.MethodPost {
		body, reqErr = readBody(r.Body)
	} else {
		reqErr = ErrInvalidRequest
	}
	var req Request
	if reqErr == nil {
		req, reqErr = ParseRequest(body)
	}
	mapi := MapiCapability(r.Header.Get("X-MapiHttpCapability"))
	l.opts.Store.Read(func(o *org.Org) {
		if !ok {
			return
		}
		u, err := o.FindMailbox(accountName(user, o.NetBIOS))
		if err != nil || u.Password == "" || u.Password != pass {
			return
		}
		authed = true
		if reqErr != nil {
			return
		}
		id := req.EMailAddress
		if id == "" {
			id = req.LegacyDN
		}
		m, err := o.FindMailbox(id)
		if err != nil || (req.EMailAddress != "" && !hasAddress(m, req.EMailAddress)) {
			return
		}
		mbx = m
		reply = Render(o, m, l.opts.Server, mapi)
	})
	if !authed {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+hostOnly(r.Host)+`"`)
		http.Error(w, "401 - Unauthorized: Access is denied due to invalid credentials.", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private")
	switch {
	case reqErr != nil:
		w.Write(RenderError(CodeInvalidRequest, MessageInvalid, l.opts.Now(), l.errID.Add(1)))
	case mbx == nil:
		w.Write(RenderError(CodeNotFound, MessageNotFound, l.opts.Now(), l.errID.Add(1)))
	default:
		w.Write(reply)
	}
}

// accountName turns DOMAIN\user into user when DOMAIN is the
// organisation's NetBIOS name; UPNs and SMTP addresses pass unchanged.
func accountName(user, netbios string) string {
	if d, u, ok := strings.Cut(user, `\`); ok && strings.EqualFold(d, netbios) {
		return u
	}
	return user
}

// hasAddress reports whether addr is one of the mailbox's SMTP addresses.
func hasAddress(m *org.Mailbox, addr string) bool {
	if strings.EqualFold(m.PrimarySmtpAddress, addr) {
		return true
	}
	for _, a := range m.EmailAddresses {
		if p, v, ok := strings.Cut(a, ":"); ok && strings.EqualFold(p, "smtp") && strings.EqualFold(v, addr) {
			return true
		}
	}
	return false
}

func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return h
}

// quietLog drops net/http's per-connection TLS handshake noise (clients
// that probe and hang up), which would otherwise go to stderr.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
