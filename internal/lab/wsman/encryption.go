package wsman

import (
	"bytes"
	"encoding/binary"
	"errors"
	"mime"
	"strconv"
	"strings"

	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
)

// bodySeal is one connection's message encryption, for one request: it
// opens the request body and seals the answer the same way.
type bodySeal interface {
	open(contentType string, body []byte) ([]byte, error)
	seal(msg []byte) (contentType string, body []byte, err error)
}

// ntlmSeal is NTLM session security.
type ntlmSeal struct{ s *ntlm.Session }

func (n ntlmSeal) open(contentType string, body []byte) ([]byte, error) {
	return decryptMessage(n.s, contentType, body)
}

func (n ntlmSeal) seal(msg []byte) (string, []byte, error) {
	ct, b := encryptMessage(n.s, msg)
	return ct, b, nil
}

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
		return nil, errEncrypted
	}
	k.protocol = p
	return kerberos.OpenBody(k.ctx, p, contentType, body)
}

func (k *krbSeal) seal(msg []byte) (string, []byte, error) {
	b, ct, err := kerberos.SealBody(k.ctx, k.protocol, msg)
	return ct, b, err
}

// WinRM message encryption over HTTP (MS-WSMV 2.2.9.1.1): each SOAP
// message travels sealed with the connection's NTLM session security
// inside a two-part MIME body.
const (
	encBoundary    = "--Encrypted Boundary"
	encProtocol    = "application/HTTP-SPNEGO-session-encrypted"
	encContentType = `multipart/encrypted;protocol="` + encProtocol + `";boundary="Encrypted Boundary"`
	encPartHeader  = "\tContent-Type: application/octet-stream\r\n"
)

// isEncrypted reports whether a request's Content-Type announces an
// NTLM-sealed message.
func isEncrypted(contentType string) bool {
	ct := strings.ToLower(contentType)
	return strings.HasPrefix(ct, "multipart/encrypted") && strings.Contains(ct, strings.ToLower(encProtocol))
}

var errEncrypted = errors.New("malformed encrypted message")

// decryptMessage unseals every part of an encrypted body, in order, and
// returns the concatenated SOAP text.
func decryptMessage(s *ntlm.Session, contentType string, body []byte) ([]byte, error) {
	if !isEncrypted(contentType) {
		return nil, errEncrypted
	}
	var out []byte
	rest := body
	for {
		if !bytes.HasPrefix(rest, []byte(encBoundary+"\r\n")) {
			return nil, errEncrypted
		}
		rest = rest[len(encBoundary)+2:]
		i := bytes.Index(rest, []byte(encBoundary+"\r\n"))
		if i < 0 {
			return nil, errEncrypted
		}
		header := string(rest[:i])
		rest = rest[i+len(encBoundary)+2:]
		if !strings.Contains(header, encProtocol) {
			return nil, errEncrypted
		}
		_, lenText, ok := strings.Cut(header, "Length=")
		if !ok {
			return nil, errEncrypted
		}
		n, err := strconv.Atoi(strings.TrimSpace(lenText))
		if err != nil || n < 0 {
			return nil, errEncrypted
		}
		if !bytes.HasPrefix(rest, []byte(encPartHeader)) {
			return nil, errEncrypted
		}
		rest = rest[len(encPartHeader):]
		if len(rest) < 4 {
			return nil, errEncrypted
		}
		sigLen := int(binary.LittleEndian.Uint32(rest))
		rest = rest[4:]
		if sigLen != 16 || len(rest) < sigLen+n {
			return nil, errEncrypted
		}
		sig, sealed := rest[:sigLen], rest[sigLen:sigLen+n]
		rest = rest[sigLen+n:]
		msg, err := s.Unseal(sealed, sig)
		if err != nil {
			return nil, err
		}
		out = append(out, msg...)
		if !bytes.HasPrefix(rest, []byte(encBoundary)) {
			return nil, errEncrypted
		}
		if bytes.HasPrefix(rest, []byte(encBoundary+"--")) {
			return out, nil
		}
	}
}

// encryptMessage seals a SOAP message into an encrypted body and returns
// the Content-Type to send with it.
func encryptMessage(s *ntlm.Session, msg []byte) (string, []byte) {
	sealed, sig := s.Seal(msg)
	var b bytes.Buffer
	b.WriteString(encBoundary + "\r\n\tContent-Type: " + encProtocol + "\r\n")
	b.WriteString("\tOriginalContent: type=" + soapContentType + ";Length=" + strconv.Itoa(len(msg)) + "\r\n")
	b.WriteString(encBoundary + "\r\n" + encPartHeader)
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(sig)))
	b.Write(l[:])
	b.Write(sig)
	b.Write(sealed)
	b.WriteString(encBoundary + "--\r\n")
	return encContentType, b.Bytes()
}
