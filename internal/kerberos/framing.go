package kerberos

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// The protocol strings of WinRM message encryption (MS-WSMV 2.2.9.1.1.1,
// 2.2.9.1.2.1): SPNEGO under the HTTP scheme Negotiate, Kerberos under
// the HTTP scheme Kerberos.
const (
	ProtocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	ProtocolKerberos = "application/HTTP-Kerberos-session-encrypted"
	// Boundary is the MIME boundary every implementation sends.
	Boundary = "Encrypted Boundary"
	// SOAPContentType is the original content type of a WinRM body.
	SOAPContentType = "application/soap+xml;charset=UTF-8"
	// maxHeader bounds a part's security header (Kerberos: 60 bytes plus
	// EC; NTLM: 16).
	maxHeader = 4096
)

// EncryptedContentType is the HTTP Content-Type of a sealed body.
func EncryptedContentType(protocol string) string {
	return `multipart/encrypted;protocol="` + protocol + `";boundary="` + Boundary + `"`
}

// MessageWrapper is per-message protection split as WinRM frames it: a
// header and the encrypted data (Context implements it; so does an NTLM
// session adapter).
type MessageWrapper interface {
	WrapMessage(plain []byte) (header, encrypted []byte, err error)
	UnwrapMessage(header, encrypted []byte) ([]byte, error)
}

// EncodeBody frames one sealed message as pypsrp, pywinrm and Windows send
// it (MS-WSMV 2.2.9.1.1.2.2; pypsrp encryption.py wrap_message, masterzen/winrm
// encryption.go): not RFC 2046 MIME, the binary follows the part
// header line directly, then the closing delimiter.
func EncodeBody(protocol string, header, encrypted []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(header) + len(encrypted) + 256)
	b.WriteString("--" + Boundary + "\r\n")
	b.WriteString("\tContent-Type: " + protocol + "\r\n")
	b.WriteString("\tOriginalContent: type=" + SOAPContentType + ";Length=" + strconv.Itoa(len(encrypted)) + "\r\n")
	b.WriteString("--" + Boundary + "\r\n")
	b.WriteString("\tContent-Type: application/octet-stream\r\n")
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(header)))
	b.Write(l[:])
	b.Write(header)
	b.Write(encrypted)
	b.WriteString("--" + Boundary + "--\r\n")
	return b.Bytes()
}

// SealBody wraps a SOAP message with w and frames it; it returns the body
// and its Content-Type.
func SealBody(w MessageWrapper, protocol string, soap []byte) ([]byte, string, error) {
	h, enc, err := w.WrapMessage(soap)
	if err != nil {
		return nil, "", err
	}
	return EncodeBody(protocol, h, enc), EncryptedContentType(protocol), nil
}

// OpenBody parses a sealed body, unwraps each part with w, checks each
// plaintext's length against its OriginalContent Length and returns the
// concatenated SOAP message. wantProtocol, when not empty, is the
// protocol string the parts must carry.
func OpenBody(w MessageWrapper, wantProtocol, contentType string, body []byte) ([]byte, error) {
	parts, err := DecodeBody(contentType, body)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, p := range parts {
		if wantProtocol != "" && !strings.EqualFold(p.Protocol, wantProtocol) {
			return nil, &FramingError{Reason: fmt.Sprintf("the part's protocol is %q, want %q", p.Protocol, wantProtocol)}
		}
		plain, err := w.UnwrapMessage(p.Header, p.Data)
		if err != nil {
			return nil, err
		}
		if len(plain) != p.Length {
			return nil, &FramingError{Reason: fmt.Sprintf("decrypted %d bytes, OriginalContent Length says %d", len(plain), p.Length)}
		}
		out = append(out, plain...)
	}
	return out, nil
}

// IsEncrypted reports whether a Content-Type announces WinRM message
// encryption.
func IsEncrypted(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "multipart/encrypted")
	}
	return mt == "multipart/encrypted" || mt == "multipart/x-multi-encrypted"
}

// BodyPart is one header/data pair of a sealed body.
type BodyPart struct {
	// Protocol is the first part's Content-Type (ProtocolKerberos…).
	Protocol string
	// OriginalType is OriginalContent's type, e.g.
	// "application/soap+xml;charset=UTF-8".
	OriginalType string
	// Length is OriginalContent's Length: the plaintext's length, and the
	// number of encrypted bytes in Data.
	Length int
	// Header is the security header (Kerberos: the wrap token up to the
	// encrypted data), Data the encrypted data.
	Header, Data []byte
}

// FramingError is a sealed body DecodeBody could not parse.
type FramingError struct{ Reason string }

func (e *FramingError) Error() string {
	return "kerberos: malformed multipart/encrypted body: " + e.Reason
}

// ErrNotEncrypted is returned (wrapped) by DecodeBody for a body whose
// Content-Type is not multipart/encrypted.
var ErrNotEncrypted = errors.New("the body is not multipart/encrypted")

// DecodeBody reads the part pairs of a sealed body. It takes the boundary
// from contentType (default "Encrypted Boundary"), parses the binary part
// positionally (the 4-byte little-endian header length, the header, then
// exactly Length data bytes), so a boundary-like run inside ciphertext
// cannot cut a part, and tolerates what real peers send (pypsrp
// encryption.py unwrap_message and its tests; openwec multipart.rs):
// a space after "--" (Exchange), part headers with or without the leading
// tab, a closing delimiter without its trailing "--", or none at all.
func DecodeBody(contentType string, body []byte) ([]BodyPart, error) {
	if !IsEncrypted(contentType) {
		return nil, fmt.Errorf("kerberos: Content-Type %q: %w", contentType, ErrNotEncrypted)
	}
	boundary := Boundary
	if _, params, err := mime.ParseMediaType(contentType); err == nil && params["boundary"] != "" {
		boundary = params["boundary"]
	}
	rest := body
	var parts []BodyPart
	for {
		after, ok := cutDelimiter(rest, boundary)
		if !ok {
			if len(parts) > 0 && len(bytes.TrimSpace(rest)) == 0 {
				return parts, nil
			}
			return nil, &FramingError{Reason: "expected the delimiter --" + boundary}
		}
		if bytes.HasPrefix(after, []byte("--")) {
			if len(parts) == 0 {
				return nil, &FramingError{Reason: "no encrypted part before the closing delimiter"}
			}
			return parts, nil
		}
		after, ok = bytes.CutPrefix(after, []byte("\r\n"))
		if !ok {
			if len(parts) > 0 && len(bytes.TrimSpace(after)) == 0 {
				return parts, nil // closing delimiter without "--"
			}
			return nil, &FramingError{Reason: "the delimiter line does not end in CRLF"}
		}
		if len(parts) > 0 && len(bytes.TrimSpace(after)) == 0 {
			return parts, nil // closing delimiter without "--"
		}
		i := indexDelimiter(after, boundary)
		if i < 0 {
			return nil, &FramingError{Reason: "the first part has no end"}
		}
		p, err := readPartHeaders(after[:i])
		if err != nil {
			return nil, err
		}
		rest, _ = cutDelimiter(after[i:], boundary)
		rest, ok = bytes.CutPrefix(rest, []byte("\r\n"))
		if !ok {
			return nil, &FramingError{Reason: "the second delimiter line does not end in CRLF"}
		}
		line, tail, ok := bytes.Cut(rest, []byte("\r\n"))
		if !ok || !strings.EqualFold(strings.Join(strings.Fields(string(line)), " "), "Content-Type: application/octet-stream") {
			return nil, &FramingError{Reason: "the second part is not Content-Type: application/octet-stream"}
		}
		if len(tail) < 4 {
			return nil, &FramingError{Reason: "the second part is shorter than its 4-byte header length"}
		}
		hl := binary.LittleEndian.Uint32(tail)
		tail = tail[4:]
		if hl > maxHeader || int(hl) > len(tail) {
			return nil, &FramingError{Reason: fmt.Sprintf("header length %d is out of range (limit %d, %d bytes left)", hl, maxHeader, len(tail))}
		}
		p.Header = tail[:hl]
		tail = tail[hl:]
		if p.Length > len(tail) {
			return nil, &FramingError{Reason: fmt.Sprintf("%d encrypted bytes left, OriginalContent Length says %d", len(tail), p.Length)}
		}
		p.Data = tail[:p.Length]
		rest = tail[p.Length:]
		parts = append(parts, p)
		if len(rest) == 0 {
			return parts, nil
		}
	}
}

// readPartHeaders reads the first part's header lines: the protocol and
// OriginalContent.
func readPartHeaders(b []byte) (BodyPart, error) {
	p := BodyPart{Length: -1}
	for _, line := range strings.Split(string(b), "\r\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-type":
			p.Protocol = value
		case "originalcontent":
			var types []string
			for _, f := range strings.Split(value, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
				switch {
				case ok && strings.EqualFold(k, "Length"):
					n, err := strconv.Atoi(strings.TrimSpace(v))
					if err != nil || n < 0 {
						return p, &FramingError{Reason: "bad OriginalContent Length " + strconv.Quote(v)}
					}
					p.Length = n
				case ok && strings.EqualFold(k, "type"):
					types = append(types, strings.TrimSpace(v))
				case strings.TrimSpace(f) != "":
					types = append(types, strings.TrimSpace(f))
				}
			}
			p.OriginalType = strings.Join(types, ";")
		}
	}
	if !strings.EqualFold(p.Protocol, ProtocolSPNEGO) && !strings.EqualFold(p.Protocol, ProtocolKerberos) {
		return p, &FramingError{Reason: "unknown protocol " + strconv.Quote(p.Protocol)}
	}
	if p.Length < 0 {
		return p, &FramingError{Reason: "no OriginalContent Length"}
	}
	return p, nil
}

// cutDelimiter removes a leading "--", optional spaces and the boundary.
func cutDelimiter(b []byte, boundary string) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("--"))
	if !ok {
		return nil, false
	}
	rest = bytes.TrimLeft(rest, " ")
	return bytes.CutPrefix(rest, []byte(boundary))
}

// indexDelimiter finds the next "--", optional spaces, boundary.
func indexDelimiter(b []byte, boundary string) int {
	off := 0
	for {
		i := bytes.Index(b[off:], []byte("--"))
		if i < 0 {
			return -1
		}
		if _, ok := cutDelimiter(b[off+i:], boundary); ok {
			return off + i
		}
		off += i + 2
	}
}
