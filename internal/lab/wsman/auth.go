package wsman

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
)

// account is one entry of Options.Users.
type account struct {
	domain, name, password string
}

func (a account) canonical() string { return a.domain + `\` + a.name }

// connState is what the server remembers about one TCP connection: the
// NTLM handshake in progress, the user it authenticated and the session
// security for message encryption.
type connState struct {
	mu        sync.Mutex
	handshake *ntlm.Handshake
	scheme    string // "Negotiate" or "NTLM", as the client used it
	wrapped   bool   // the client wraps NTLM in SPNEGO
	user      string
	session   *ntlm.Session
	lastUsed  time.Time
}

type connKey struct{}

// ConnContext attaches per-connection state to a connection's context; it
// is http.Server.ConnContext. With it the NTLM authentication of a
// connection lives exactly as long as the connection. Without it the
// server keys connections by their local and remote addresses.
func (s *Server) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// ConfigureHTTPServer installs ConnContext on hs, keeping any ConnContext
// it already has. Call it before hs serves.
func (s *Server) ConfigureHTTPServer(hs *http.Server) {
	prev := hs.ConnContext
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		return s.ConnContext(ctx, c)
	}
}

// conn returns the state of the request's connection.
func (s *Server) conn(r *http.Request) *connState {
	if cs, ok := r.Context().Value(connKey{}).(*connState); ok {
		return cs
	}
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	key := r.RemoteAddr
	if local != nil {
		key = local.String() + "|" + key
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.conns[key]
	if cs == nil {
		cs = &connState{}
		s.conns[key] = cs
	}
	cs.lastUsed = s.now()
	return cs
}

// lookup finds the account a client names. user may carry the domain
// ("CONTOSO\name") or be a UPN ("name@contoso.test"); domain is the
// domain the client sent separately (NTLM) and may be empty.
func (s *Server) lookup(user, domain string) (account, bool) {
	if i := strings.IndexByte(user, '\\'); i >= 0 {
		domain, user = user[:i], user[i+1:]
	} else if i := strings.LastIndexByte(user, '@'); i >= 0 && domain == "" {
		domain, user = user[i+1:], user[:i]
	}
	for _, a := range s.users[strings.ToLower(user)] {
		if domain == "" || strings.EqualFold(domain, a.domain) ||
			(strings.EqualFold(a.domain, s.o.Domain) && strings.EqualFold(domain, s.dnsDomain)) {
			return a, true
		}
	}
	return account{}, false
}

// authenticate establishes the request's user. When it returns false it
// has answered the request (401). A blank request is how clients set up
// the security context for message encryption, so it must authenticate
// afresh even on an authenticated connection.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, cs *connState, blank, basic bool) (string, bool) {
	authz := strings.TrimSpace(r.Header.Get("Authorization"))
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if authz == "" {
		if cs.user != "" && !blank {
			return cs.user, true
		}
		s.unauthorized(w, basic)
		return "", false
	}
	scheme, token, _ := strings.Cut(authz, " ")
	token = strings.TrimSpace(token)
	switch {
	case strings.EqualFold(scheme, "Basic") && basic:
		raw, err := base64.StdEncoding.DecodeString(token)
		if err != nil {
			break
		}
		name, pw, ok := strings.Cut(string(raw), ":")
		if !ok {
			break
		}
		a, found := s.lookup(name, "")
		if !found || subtle.ConstantTimeCompare([]byte(a.password), []byte(pw)) != 1 {
			break
		}
		return a.canonical(), true
	case (strings.EqualFold(scheme, "Negotiate") || strings.EqualFold(scheme, "NTLM")) && s.o.AllowNTLM:
		raw, err := base64.StdEncoding.DecodeString(token)
		if err != nil {
			break
		}
		msg, wrapped, err := ntlm.Unwrap(raw)
		if err != nil {
			break
		}
		typ, _ := ntlm.MessageType(msg)
		switch typ {
		case ntlm.TypeNegotiate:
			h, challenge, err := s.acceptor.Challenge(msg)
			if err != nil {
				break
			}
			cs.handshake, cs.wrapped, cs.user, cs.session = h, wrapped, "", nil
			cs.scheme = "Negotiate"
			if strings.EqualFold(scheme, "NTLM") {
				cs.scheme = "NTLM"
			}
			if wrapped {
				challenge = ntlm.WrapResponse(ntlm.AcceptIncomplete, challenge)
			}
			w.Header().Set("WWW-Authenticate", cs.scheme+" "+base64.StdEncoding.EncodeToString(challenge))
			w.Header().Set("Content-Type", soapContentType)
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusUnauthorized)
			return "", false
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
			a, ok := s.lookup(res.User, res.Domain)
			if !ok {
				break
			}
			cs.user = a.canonical()
			cs.session, _ = ntlm.NewServerSession(res) // nil when the client negotiated no session security
			if cs.wrapped {
				w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(ntlm.WrapResponse(ntlm.AcceptCompleted, nil)))
			}
			return cs.user, true
		}
	}
	cs.handshake, cs.user, cs.session = nil, "", nil
	s.unauthorized(w, basic)
	return "", false
}

// ntlmPassword is the acceptor's password lookup.
func (s *Server) ntlmPassword(user, domain string) (string, bool) {
	a, ok := s.lookup(user, domain)
	return a.password, ok
}

// unauthorized answers 401 with the schemes the server accepts.
func (s *Server) unauthorized(w http.ResponseWriter, basic bool) {
	h := w.Header()
	if s.o.AllowNTLM {
		h.Add("WWW-Authenticate", "Negotiate")
		h.Add("WWW-Authenticate", "NTLM")
	}
	if basic {
		h.Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	h.Set("Content-Type", soapContentType)
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}
