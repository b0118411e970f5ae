package wsman

import (
	"errors"
	"mime"
	"strings"

	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
)

// WinRM message encryption over HTTP (MS-WSMV 2.2.9.1.1): each SOAP
// message travels sealed with the connection's NTLM session security or
// Kerberos context inside a two-part MIME body, framed by
// internal/kerberos (the same framing the client uses).

// bodySeal is one connection's message encryption, for one request: it
// opens the request body and seals the answer the same way.
type bodySeal interface {
	open(contentType string, body []byte) ([]byte, error)
	seal(msg []byte) (contentType string, body []byte, err error)
}

// ntlmSeal is NTLM session security, under the SPNEGO protocol string.
type ntlmSeal struct{ s *ntlm.Session }

// ntlmWrapper is the split form of NTLM sealing: the 16-byte signature
// is the part's header.
type ntlmWrapper struct{ s *ntlm.Session }

func (w ntlmWrapper) WrapMessage(plain []byte) ([]byte, []byte, error) {
	sealed, sig := w.s.Seal(plain)
	return sig, sealed, nil
}

func (w ntlmWrapper) UnwrapMessage(header, encrypted []byte) ([]byte, error) {
	return w.s.Unseal(encrypted, header)
}

func (n ntlmSeal) open(contentType string, body []byte) ([]byte, error) {
	return kerberos.OpenBody(ntlmWrapper(n), kerberos.ProtocolSPNEGO, contentType, body)
}

func (n ntlmSeal) seal(msg []byte) (string, []byte, error) {
	b, ct, err := kerberos.SealBody(ntlmWrapper(n), kerberos.ProtocolSPNEGO, msg)
	return ct, b, err
}

var errEncryptedProtocol = errors.New("the encrypted message names neither the SPNEGO nor the Kerberos protocol")

// krbSeal is a Kerberos context (RFC 4121 wrap tokens). The answer uses
// the protocol string the request came with: Windows and pywinrm send
// HTTP-Kerberos-session-encrypted under the Kerberos scheme, pypsrp
// HTTP-SPNEGO-session-encrypted under Negotiate.
type krbSeal struct {
	ctx      *kerberos.Context
	protocol string
}

func (k *krbSeal) open(contentType string, body []byte) ([]byte, error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	p := params["protocol"]
	if !strings.EqualFold(p, kerberos.ProtocolKerberos) && !strings.EqualFold(p, kerberos.ProtocolSPNEGO) {
		return nil, errEncryptedProtocol
	}
	k.protocol = p
	return kerberos.OpenBody(k.ctx, p, contentType, body)
}

func (k *krbSeal) seal(msg []byte) (string, []byte, error) {
	b, ct, err := kerberos.SealBody(k.ctx, k.protocol, msg)
	return ct, b, err
}
