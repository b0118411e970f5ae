package wsman

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/kerberos"
)

// xorWrapper is a stand-in mechanism: a 16-byte header carrying a
// counter, data XORed. It lets the framing be tested without NTLM.
type xorWrapper struct{ seq byte }

func (x *xorWrapper) WrapMessage(plain []byte) ([]byte, []byte, error) {
	h := bytes.Repeat([]byte{x.seq}, 16)
	x.seq++
	out := make([]byte, len(plain))
	for i, b := range plain {
		out[i] = b ^ 0x5a
	}
	return h, out, nil
}

func (x *xorWrapper) UnwrapMessage(header, enc []byte) ([]byte, error) {
	if len(header) != 16 || header[0] != x.seq {
		return nil, errors.New("sequence out of step")
	}
	x.seq++
	out := make([]byte, len(enc))
	for i, b := range enc {
		out[i] = b ^ 0x5a
	}
	return out, nil
}

func TestMultipartSealerRoundTrip(t *testing.T) {
	for _, protocol := range []string{ProtocolSPNEGO, ProtocolKerberos} {
		client, server := NewMultipartSealer(protocol, &xorWrapper{}), NewMultipartSealer(protocol, &xorWrapper{})
		for _, msg := range []string{"<s:Envelope/>", "", "--Encrypted Boundary\r\n inside the message", strings.Repeat("x", 100000)} {
			body, ct, err := client.Wrap([]byte(msg))
			if err != nil {
				t.Fatal(err)
			}
			if ct != `multipart/encrypted;protocol="`+protocol+`";boundary="Encrypted Boundary"` {
				t.Errorf("Content-Type %q", ct)
			}
			got, err := server.Unwrap(ct, body)
			if err != nil || string(got) != msg {
				t.Fatalf("%s: round trip of %d bytes: %v", protocol, len(msg), err)
			}
		}
	}
}

// TestSealerUnwrapTolerance: what real servers send (as pypsrp's encryption.py
// unwrap_message tolerates it) opens; the framing's own cases are
// internal/kerberos's.
func TestSealerUnwrapTolerance(t *testing.T) {
	ct := encryptedContentType(ProtocolSPNEGO)
	std := seal(t, ProtocolSPNEGO, "<s:Envelope/>")
	tests := []struct {
		name string
		ct   string
		body []byte
		want string
	}{
		{"as written", ct, std, "<s:Envelope/>"},
		{"Exchange's space after --", ct, bytes.ReplaceAll(std, []byte("--Encrypted"), []byte("-- Encrypted")), "<s:Envelope/>"},
		{"no tabs", ct, bytes.ReplaceAll(std, []byte("\t"), nil), "<s:Envelope/>"},
		{"no closing delimiter", ct, bytes.TrimSuffix(std, []byte("--Encrypted Boundary--\r\n")), "<s:Envelope/>"},
		{"the Kerberos protocol in the answer", ct, seal(t, ProtocolKerberos, "<s:Envelope/>"), "<s:Envelope/>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{}).Unwrap(tt.ct, tt.body)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Unwrap = %q, %v", got, err)
			}
		})
	}
}

// seal frames msg as the first message of a connection.
func seal(t testing.TB, protocol, msg string) []byte {
	body, _, err := NewMultipartSealer(protocol, &xorWrapper{}).Wrap([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func encryptedContentType(protocol string) string { return kerberos.EncryptedContentType(protocol) }

func TestSealerUnwrapRejects(t *testing.T) {
	ct := encryptedContentType(ProtocolSPNEGO)
	std := seal(t, ProtocolSPNEGO, "hello")
	tests := map[string]struct {
		ct   string
		body []byte
	}{
		"soap content type":  {soapContentType, std},
		"empty":              {ct, nil},
		"truncated":          {ct, std[:len(std)-30]},
		"length too long":    {ct, bytes.Replace(std, []byte("Length=5"), []byte("Length=500"), 1)},
		"unknown protocol":   {ct, bytes.Replace(std, []byte("HTTP-SPNEGO-session"), []byte("HTTP-Other-session"), 1)},
		"huge header length": {ct, bytes.Replace(std, []byte("\x10\x00\x00\x00"), []byte("\xff\xff\xff\x7f"), 1)},
	}
	second := NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{seq: 1})
	if _, err := second.Unwrap(ct, std); err == nil {
		t.Error("a message out of sequence opened")
	}
	for name, tt := range tests {
		if _, err := NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{}).Unwrap(tt.ct, tt.body); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestIsEncrypted(t *testing.T) {
	for ct, want := range map[string]bool{
		encryptedContentType(ProtocolSPNEGO):     true,
		encryptedContentType(ProtocolKerberos):   true,
		"Multipart/Encrypted; protocol=x":        true,
		"multipart/x-multi-encrypted;boundary=x": true,
		soapContentType:                          false,
		"":                                       false,
		"multipart/encrypted-ish":                false,
	} {
		if IsEncrypted(ct) != want {
			t.Errorf("IsEncrypted(%q) = %v", ct, !want)
		}
	}
}

// FuzzSealerUnwrap: whatever a server sends, Unwrap answers without
// panicking and never returns more than the body held.
func FuzzSealerUnwrap(f *testing.F) {
	f.Add(seal(f, ProtocolSPNEGO, "hello"))
	f.Add(bytes.ReplaceAll(seal(f, ProtocolKerberos, "x"), []byte("--Enc"), []byte("-- Enc")))
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=0\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"))
	ct := encryptedContentType(ProtocolSPNEGO)
	f.Fuzz(func(t *testing.T, body []byte) {
		plain, err := NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{}).Unwrap(ct, body)
		if err != nil {
			return
		}
		if len(plain) > len(body) {
			t.Fatalf("%d bytes opened from %d", len(plain), len(body))
		}
		// What opened seals again into a body that opens the same.
		again, _, err := NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{}).Wrap(plain)
		if err != nil {
			t.Fatal(err)
		}
		if p2, err := NewMultipartSealer(ProtocolSPNEGO, &xorWrapper{}).Unwrap(ct, again); err != nil || !bytes.Equal(p2, plain) {
			t.Fatalf("re-sealing: %v", err)
		}
	})
}
