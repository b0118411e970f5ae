package wsman

import (
	"bytes"
	"encoding/binary"
	"mime"
	"strconv"
	"strings"
)

// The protocol strings of WinRM message encryption (WRAP.md §1.1).
const (
	ProtocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	ProtocolKerberos = "application/HTTP-Kerberos-session-encrypted"
)

const (
	encBoundary     = "Encrypted Boundary"
	soapContentType = "application/soap+xml;charset=UTF-8"
	// maxSealHeader bounds the per-message header (NTLM: 16 bytes;
	// Kerberos: the RFC 4121 token header and rotated bytes, under 100).
	maxSealHeader = 4096
)

func encryptedContentType(protocol string) string {
	return `multipart/encrypted;protocol="` + protocol + `";boundary="` + encBoundary + `"`
}

// frameEncrypted builds the body of MS-WSMV 2.2.9.1.1.2.2 as pypsrp,
// pywinrm and Windows send it (WRAP.md §1.2): not RFC 2046 MIME, the
// binary follows the part header directly.
func frameEncrypted(protocol string, header, enc []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(enc) + len(header) + 256)
	b.WriteString("--" + encBoundary + "\r\n")
	b.WriteString("\tContent-Type: " + protocol + "\r\n")
	b.WriteString("\tOriginalContent: type=" + soapContentType + ";Length=" + strconv.Itoa(len(enc)) + "\r\n")
	b.WriteString("--" + encBoundary + "\r\n")
	b.WriteString("\tContent-Type: application/octet-stream\r\n")
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(header)))
	b.Write(l[:])
	b.Write(header)
	b.Write(enc)
	b.WriteString("--" + encBoundary + "--\r\n")
	return b.Bytes()
}

// encryptedPart is one header/data pair of an encrypted body.
type encryptedPart struct {
	protocol string
	length   int
	header   []byte
	data     []byte
}

type errMalformedEncrypted string

func (e errMalformedEncrypted) Error() string {
	return "malformed encrypted WS-Management body: " + string(e)
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

// parseEncrypted reads the part pairs of an encrypted body. It parses
// positionally (the 4-byte header length, the header, then Length data
// bytes), so a boundary-like run inside ciphertext cannot cut a part, and
// tolerates what real servers send (WRAP.md §1.3): a space after "--"
// (Exchange), part headers without the leading tab, a closing delimiter
// without its trailing "--" or missing altogether.
func parseEncrypted(contentType string, body []byte) ([]encryptedPart, error) {
	if !IsEncrypted(contentType) {
		return nil, errMalformedEncrypted("Content-Type " + strconv.Quote(contentType) + " is not multipart/encrypted")
	}
	boundary := encBoundary
	if _, params, err := mime.ParseMediaType(contentType); err == nil && params["boundary"] != "" {
		boundary = params["boundary"]
	}
	rest := body
	var parts []encryptedPart
	for {
		after, ok := cutDelimiter(rest, boundary)
		if !ok {
			if len(parts) > 0 && len(bytes.TrimSpace(rest)) == 0 {
				return parts, nil
			}
			return nil, errMalformedEncrypted("expected the boundary --" + boundary)
		}
		if tail, ok := bytes.CutPrefix(after, []byte("--")); ok {
			if len(parts) == 0 {
				return nil, errMalformedEncrypted("no encrypted part")
			}
			if len(bytes.TrimSpace(tail)) > 0 {
				return nil, errMalformedEncrypted("data after the closing boundary")
			}
			return parts, nil
		}
		if len(parts) > 0 && len(bytes.TrimSpace(after)) == 0 {
			return parts, nil // a closing delimiter without its "--"
		}
		after, ok = bytes.CutPrefix(after, []byte("\r\n"))
		if !ok {
			return nil, errMalformedEncrypted("the boundary line does not end in CRLF")
		}
		// First part: header lines up to the next delimiter.
		i := indexDelimiter(after, boundary)
		if i < 0 {
			return nil, errMalformedEncrypted("the first part has no end")
		}
		var p encryptedPart
		if err := p.readHeaders(after[:i]); err != nil {
			return nil, err
		}
		rest, _ = cutDelimiter(after[i:], boundary)
		rest, ok = bytes.CutPrefix(rest, []byte("\r\n"))
		if !ok {
			return nil, errMalformedEncrypted("the second boundary line does not end in CRLF")
		}
		// Second part: its Content-Type line, then the binary.
		line, tail, ok := bytes.Cut(rest, []byte("\r\n"))
		if !ok || !strings.EqualFold(strings.TrimSpace(string(line)), "Content-Type: application/octet-stream") {
			return nil, errMalformedEncrypted("the second part is not application/octet-stream")
		}
		if len(tail) < 4 {
			return nil, errMalformedEncrypted("the second part is shorter than its header length")
		}
		hl := binary.LittleEndian.Uint32(tail)
		tail = tail[4:]
		if hl > maxSealHeader || int(hl) > len(tail) {
			return nil, errMalformedEncrypted("header length " + strconv.FormatUint(uint64(hl), 10) + " out of range")
		}
		p.header = tail[:hl]
		tail = tail[hl:]
		if p.length > len(tail) {
			return nil, errMalformedEncrypted("the body is shorter than its Length field")
		}
		p.data = tail[:p.length]
		rest = tail[p.length:]
		parts = append(parts, p)
		if len(rest) == 0 {
			return parts, nil
		}
	}
}

// readHeaders reads the first part's header lines: the protocol and the
// OriginalContent Length.
func (p *encryptedPart) readHeaders(b []byte) error {
	p.length = -1
	for _, line := range strings.Split(string(b), "\r\n") {
		name, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-type":
			p.protocol = value
		case "originalcontent":
			for _, f := range strings.Split(value, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(f), "=")
				if ok && strings.EqualFold(k, "Length") {
					n, err := strconv.Atoi(strings.TrimSpace(v))
					if err != nil || n < 0 {
						return errMalformedEncrypted("bad Length " + strconv.Quote(v))
					}
					p.length = n
				}
			}
		}
	}
	if p.protocol != ProtocolSPNEGO && p.protocol != ProtocolKerberos {
		return errMalformedEncrypted("unknown protocol " + strconv.Quote(p.protocol))
	}
	if p.length < 0 {
		return errMalformedEncrypted("no OriginalContent Length")
	}
	return nil
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

// indexDelimiter finds the next "--[ ]*boundary".
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
