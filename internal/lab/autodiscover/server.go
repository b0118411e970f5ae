package autodiscover

import (
	"context"
	"crypto/tls"
	"encoding/base64"
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

	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/tlscert"
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
	// Other, if set, serves every path but Autodiscover's (the lab mounts
	// /PowerShell/ there); without it they are 404.
	Other http.Handler
	// ConnContext, if set, adds to each connection's context (the
	// WS-Management server keeps its per-connection NTLM state there).
	ConnContext func(ctx context.Context, c net.Conn) context.Context
}

// Listener is one server's running HTTPS listener.
type Listener struct {
	opts     Options
	ln       net.Listener
	srv      *http.Server
	done     chan struct{}
	certs    tlscert.Cache
	errID    atomic.Uint32
	acceptor *ntlm.Acceptor
}

// connState is one connection's NTLM logon: IIS authenticates the
// connection, so later requests on it need no Authorization header.
type connState struct {
	mu        sync.Mutex
	handshake *ntlm.Handshake
	wrapped   bool
	mailbox   string // the logged-on mailbox's GUID
}

type connKey struct{}

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
	opts.Store.Read(func(o *org.Org) {
		fqdn := strings.ToLower(opts.Server) + "." + o.Domain
		if srv, err := o.FindServer(opts.Server); err == nil {
			fqdn = srv.Fqdn
		}
		l.acceptor = &ntlm.Acceptor{NetBIOSDomain: o.NetBIOS, NetBIOSComputer: opts.Server, DNSDomain: o.Domain, DNSComputer: fqdn,
			Password: l.ntlmPassword}
	})
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("autodiscover: %w", err)
	}
	l.ln = tls.NewListener(ln, &tls.Config{GetCertificate: l.certificate, MinVersion: tls.VersionTLS12})
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog(),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if opts.ConnContext != nil {
				ctx = opts.ConnContext(ctx, c)
			}
			return context.WithValue(ctx, connKey{}, &connState{})
		}}
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
	return o.BoundCertificates(server, org.ServiceIIS)
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
	first := l.certs.Pick(bound, hello.ServerName)
	if first == nil {
		return nil, fmt.Errorf("autodiscover: %s: no usable certificate bound to IIS", l.opts.Server)
	}
	return first, nil
}

// ntlmPassword finds the mailbox user an NTLM AUTHENTICATE names (sam,
// UPN or SMTP address; the domain, when given, must be the organisation's).
func (l *Listener) ntlmPassword(user, domain string) (string, bool) {
	var pw string
	l.opts.Store.Read(func(o *org.Org) {
		if domain != "" && !strings.EqualFold(domain, o.NetBIOS) && !strings.EqualFold(domain, o.Domain) {
			return
		}
		if m, err := o.FindMailbox(user); err == nil {
			pw = m.Password
		}
	})
	return pw, pw != ""
}

// challenge answers 401 offering Negotiate, NTLM and Basic, as IIS does
// for the Autodiscover virtual directory.
func (l *Listener) challenge(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("WWW-Authenticate", "Negotiate")
	w.Header().Add("WWW-Authenticate", "NTLM")
	w.Header().Add("WWW-Authenticate", `Basic realm="`+hostOnly(r.Host)+`"`)
	http.Error(w, "401 - Unauthorized: Access is denied due to invalid credentials.", http.StatusUnauthorized)
}

// authenticate returns the logged-on mailbox's GUID, or answers the
// request (401, or an NTLM challenge) and returns "".
func (l *Listener) authenticate(w http.ResponseWriter, r *http.Request) string {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	if cs == nil {
		cs = &connState{}
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	authz := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, token, _ := strings.Cut(authz, " ")
	switch {
	case authz == "" && cs.mailbox != "":
		return cs.mailbox
	case strings.EqualFold(scheme, "Basic"):
		user, pass, _ := r.BasicAuth()
		var id string
		l.opts.Store.Read(func(o *org.Org) {
			if u, err := o.FindMailbox(accountName(user, o.NetBIOS)); err == nil && u.Password != "" && u.Password == pass {
				id = u.Guid.String()
			}
		})
		if id != "" {
			return id
		}
	case strings.EqualFold(scheme, "NTLM") || strings.EqualFold(scheme, "Negotiate"):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		if err != nil {
			break
		}
		msg, wrapped, err := ntlm.Unwrap(raw)
		if err != nil {
			break
		}
		switch typ, _ := ntlm.MessageType(msg); typ {
		case ntlm.TypeNegotiate:
			h, ch, err := l.acceptor.Challenge(msg)
			if err != nil {
				break
			}
			cs.handshake, cs.wrapped, cs.mailbox = h, wrapped, ""
			if wrapped {
				ch = ntlm.WrapResponse(ntlm.AcceptIncomplete, ch)
			}
			w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(ch))
			w.WriteHeader(http.StatusUnauthorized)
			return ""
		case ntlm.TypeAuthenticate:
			h := cs.handshake
			cs.handshake = nil
			if h == nil {
				break
			}
			res, err := h.Accept(msg)
			if err != nil {
				break
			}
			var id string
			l.opts.Store.Read(func(o *org.Org) {
				if m, err := o.FindMailbox(res.User); err == nil {
					id = m.Guid.String()
				}
			})
			if id == "" {
				break
			}
			cs.mailbox = id
			if cs.wrapped {
				w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(ntlm.WrapResponse(ntlm.AcceptCompleted, nil)))
			}
			return id
		}
	}
	l.challenge(w, r)
	return ""
}

// ServeHTTP serves Autodiscover POX.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.URL.Path, "/autodiscover/autodiscover.xml") {
		if l.opts.Other != nil {
			l.opts.Other.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	// Read the body first: an NTLM handshake leg must not leave it unread.
	var body []byte
	reqErr := ErrInvalidRequest
	if r.Method == http.MethodPost {
		body, reqErr = readBody(r.Body)
	}
	authID := l.authenticate(w, r)
	if authID == "" {
		return
	}
	var req Request
	if reqErr == nil {
		req, reqErr = ParseRequest(body)
	}
	mapi := MapiCapability(r.Header.Get("X-MapiHttpCapability"))
	var reply []byte
	found := false
	l.opts.Store.Read(func(o *org.Org) {
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
		found = true
		reply = Render(o, m, l.opts.Server, mapi)
	})
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "private")
	switch {
	case reqErr != nil:
		w.Write(RenderError(CodeInvalidRequest, MessageInvalid, l.opts.Now(), l.errID.Add(1)))
	case !found:
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
