package wsman

import (
	"bytes"
	"errors"
	"strings"
	"testing"
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

// TestParseEncryptedTolerance: what real servers send (WRAP.md §1.3).
func TestParseEncryptedTolerance(t *testing.T) {
	ct := `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`
	sig := bytes.Repeat([]byte{0xAA}, 16)
	data := []byte("sealed\x00bytes\r\n--")
	std := frameEncrypted(ProtocolSPNEGO, sig, data)
	tricky := []byte("sealed--Encrypted Boundary\r\nbytes")
	tests := []struct {
		name string
		ct   string
		body []byte
		data []byte
	}{
		{"as written", ct, std, nil},
		{"a boundary inside the ciphertext", ct, frameEncrypted(ProtocolSPNEGO, sig, tricky), tricky},
		{"Exchange's space after --", ct, bytes.ReplaceAll(std, []byte("--Encrypted"), []byte("-- Encrypted")), nil},
		{"no tabs", ct, bytes.ReplaceAll(std, []byte("\t"), nil), nil},
		{"no end hyphens", ct, cat(bytes.TrimSuffix(std, []byte("--Encrypted Boundary--\r\n")), []byte("--Encrypted Boundary\r\n")), nil},
		{"no closing delimiter", ct, bytes.TrimSuffix(std, []byte("--Encrypted Boundary--\r\n")), nil},
		{"another boundary", `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="B1"`, bytes.ReplaceAll(std, []byte("Encrypted Boundary"), []byte("B1")), nil},
		{"two part pairs", ct, cat(bytes.TrimSuffix(std, []byte("--Encrypted Boundary--\r\n")), std), nil},
		{"charset UTF-16 in OriginalContent", ct, bytes.Replace(std, []byte("charset=UTF-8"), []byte("charset=UTF-16"), 1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := parseEncrypted(tt.ct, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) == 0 {
				t.Fatal("no parts")
			}
			want := data
			if tt.data != nil {
				want = tt.data
			}
			for _, p := range parts {
				if !bytes.Equal(p.header, sig) || !bytes.Equal(p.data, want) || p.protocol != ProtocolSPNEGO {
					t.Errorf("part %+v", p)
				}
			}
		})
	}
}

// cat joins copies, never writing into a's array.
func cat(a, b []byte) []byte { return append(append([]byte(nil), a...), b...) }

func TestParseEncryptedRejects(t *testing.T) {
	ct := encryptedContentType(ProtocolSPNEGO)
	std := frameEncrypted(ProtocolSPNEGO, bytes.Repeat([]byte{1}, 16), []byte("hello"))
	tests := map[string]struct {
		ct   string
		body []byte
	}{
		"soap content type":  {soapContentType, std},
		"empty":              {ct, nil},
		"only the trailer":   {ct, []byte("--Encrypted Boundary--\r\n")},
		"truncated":          {ct, std[:len(std)-30]},
		"length too long":    {ct, bytes.Replace(std, []byte("Length=5"), []byte("Length=500"), 1)},
		"length not number":  {ct, bytes.Replace(std, []byte("Length=5"), []byte("Length=x"), 1)},
		"no length":          {ct, bytes.Replace(std, []byte("Length=5"), []byte("Size=5"), 1)},
		"unknown protocol":   {ct, bytes.Replace(std, []byte("HTTP-SPNEGO-session"), []byte("HTTP-Other-session"), 1)},
		"octet part missing": {ct, bytes.Replace(std, []byte("application/octet-stream"), []byte("text/plain"), 1)},
		"huge header length": {ct, bytes.Replace(std, []byte("\x10\x00\x00\x00"), []byte("\xff\xff\xff\x7f"), 1)},
		"garbage after":      {ct, cat(std, []byte("junk"))},
	}
	for name, tt := range tests {
		if _, err := parseEncrypted(tt.ct, tt.body); err == nil {
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

func FuzzParseEncrypted(f *testing.F) {
	f.Add(frameEncrypted(ProtocolSPNEGO, bytes.Repeat([]byte{1}, 16), []byte("hello")))
	f.Add(bytes.ReplaceAll(frameEncrypted(ProtocolKerberos, make([]byte, 60), []byte("x")), []byte("--Enc"), []byte("-- Enc")))
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=0\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x00\x00\x00\x00"))
	ct := encryptedContentType(ProtocolSPNEGO)
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, err := parseEncrypted(ct, body)
		if err != nil {
			return
		}
		total := 0
		for _, p := range parts {
			if len(p.header) > maxSealHeader || len(p.data) != p.length {
				t.Fatalf("part %d/%d", len(p.header), len(p.data))
			}
			total += len(p.header) + len(p.data)
		}
		if total > len(body) {
			t.Fatalf("%d bytes of parts from %d", total, len(body))
		}
		// What was read frames again into a body that reads the same.
		again := frameEncrypted(parts[0].protocol, parts[0].header, parts[0].data)
		p2, err := parseEncrypted(ct, again)
		if err != nil || !bytes.Equal(p2[0].header, parts[0].header) || !bytes.Equal(p2[0].data, parts[0].data) {
			t.Fatalf("re-framing: %v", err)
		}
	})
}
