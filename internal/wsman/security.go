package wsman

// ContextProvider makes the security context of one connection. The
// client calls NewContext for every new TCP connection: an NTLM or
// Kerberos context, with its keys and sequence numbers, belongs to that
// connection alone.
type ContextProvider interface {
	// NewContext starts a context for the service principal spn (for
	// Kerberos; NTLM ignores it).
	NewContext(spn string) (SecurityContext, error)
	// Seals reports whether the contexts offer message encryption (a
	// non-nil Sealer once established), which plain http requires.
	Seals() bool
}

// SecurityContext is one connection's initiator side of an HTTP
// authentication handshake (RFC 4559 style): tokens go out in
// "Authorization: <Scheme> <base64>" and come back in
// "WWW-Authenticate: <Scheme> <base64>" on the 401 (or the final 200).
type SecurityContext interface {
	// Scheme is the HTTP authentication scheme, e.g. "Negotiate" or
	// "Kerberos".
	Scheme() string
	// Step consumes the server's token (nil for the first call, and when
	// the server sent none) and returns the next token to send; nil out
	// means there is nothing more to send.
	Step(in []byte) (out []byte, err error)
	// Complete reports whether the context is established.
	Complete() bool
	// Sealer is the message encryption of the established context, or
	// nil when the mechanism offers none.
	Sealer() Sealer
}

// Sealer is the message encryption of one authenticated connection
// (MS-WSMV 2.2.9.1). It keeps sequence numbers, so a connection's
// requests must go through it one at a time, in the order they are sent,
// and each answer must be unwrapped before the next request is wrapped.
type Sealer interface {
	// Wrap encrypts one SOAP message into an HTTP request body and its
	// Content-Type.
	Wrap(plain []byte) (body []byte, contentType string, err error)
	// Unwrap decrypts an answer's body, given its Content-Type.
	Unwrap(contentType string, body []byte) ([]byte, error)
}

// GSSWrapper is the per-message protection of a GSS-API mechanism, in the
// split form WinRM frames: a header (NTLM's 16-byte signature, Kerberos'
// RFC 4121 token header) and the encrypted data. NewMultipartSealer turns
// it into a Sealer.
type GSSWrapper interface {
	// WrapMessage encrypts plain; len(encrypted) is the length written in
	// the OriginalContent Length field.
	WrapMessage(plain []byte) (header, encrypted []byte, err error)
	// UnwrapMessage verifies and decrypts.
	UnwrapMessage(header, encrypted []byte) (plain []byte, err error)
}

// NewMultipartSealer frames a mechanism's wrap in WinRM's
// multipart/encrypted body. protocol is the part's protocol string:
// ProtocolSPNEGO for tokens under the Negotiate scheme (NTLM, or Kerberos
// inside SPNEGO), ProtocolKerberos under the Kerberos scheme.
func NewMultipartSealer(protocol string, w GSSWrapper) Sealer {
	return &multipartSealer{protocol: protocol, w: w}
}

type multipartSealer struct {
	protocol string
	w        GSSWrapper
}

func (m *multipartSealer) Wrap(plain []byte) ([]byte, string, error) {
	header, enc, err := m.w.WrapMessage(plain)
	if err != nil {
		return nil, "", err
	}
	return frameEncrypted(m.protocol, header, enc), encryptedContentType(m.protocol), nil
}

func (m *multipartSealer) Unwrap(contentType string, body []byte) ([]byte, error) {
	parts, err := parseEncrypted(contentType, body)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, p := range parts {
		plain, err := m.w.UnwrapMessage(p.header, p.data)
		if err != nil {
			return nil, err
		}
		if len(plain) != p.length {
			return nil, errMalformedEncrypted("the decrypted length differs from the Length field")
		}
		out = append(out, plain...)
	}
	return out, nil
}
