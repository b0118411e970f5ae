package kerberos

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

func TestEncodeBodyLayout(t *testing.T) {
	got := EncodeBody(ProtocolKerberos, []byte("HDR"), []byte("DATA!"))
	// pypsrp's test_wrap_small_kerberos layout
	// (tests/tests_pypsrp/test_encryption.py).
	want := "--Encrypted Boundary\r\n" +
		"\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n" +
		"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=5\r\n" +
		"--Encrypted Boundary\r\n" +
		"\tContent-Type: application/octet-stream\r\n" +
		"\x03\x00\x00\x00HDRDATA!" +
		"--Encrypted Boundary--\r\n"
	if string(got) != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
	if ct := EncryptedContentType(ProtocolSPNEGO); ct != `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"` {
		t.Fatalf("content type %q", ct)
	}
}

func TestDecodeBodyTolerates(t *testing.T) {
	ct := EncryptedContentType(ProtocolKerberos)
	std := string(EncodeBody(ProtocolKerberos, []byte("HDR"), []byte("--Encrypted Boundary\r\n")))
	tests := []struct {
		name, ct, body string
	}{
		{"as sent", ct, std},
		{"Exchange: space after --", ct, strings.ReplaceAll(std, "--Encrypted Boundary\r\n\t", "-- Encrypted Boundary\r\n\t")},
		{"no tabs", ct, strings.ReplaceAll(std, "\t", "")},
		{"closing delimiter without --", ct, strings.TrimSuffix(std, "--\r\n") + "\r\n"},
		{"no closing delimiter", ct, strings.TrimSuffix(std, "--Encrypted Boundary--\r\n")},
		{"other boundary", `multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary="B2"`,
			strings.ReplaceAll(strings.ReplaceAll(std, "--Encrypted Boundary\r\n\t", "--B2\r\n\t"), "--Encrypted Boundary--", "--B2--")},
		{"lower-case protocol", ct, strings.Replace(std, "HTTP-Kerberos", "http-kerberos", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := DecodeBody(tt.ct, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != 1 || string(parts[0].Header) != "HDR" || string(parts[0].Data) != "--Encrypted Boundary\r\n" ||
				parts[0].Length != 22 || parts[0].OriginalType != SOAPContentType {
				t.Fatalf("parts %+v", parts)
			}
		})
	}
	t.Run("two part pairs", func(t *testing.T) {
		one := EncodeBody(ProtocolSPNEGO, []byte("H1"), []byte("d1"))
		two := EncodeBody(ProtocolSPNEGO, []byte("H22"), []byte("dd2"))
		body := append(bytes.TrimSuffix(one, []byte("--Encrypted Boundary--\r\n")), two...)
		parts, err := DecodeBody(EncryptedContentType(ProtocolSPNEGO), body)
		if err != nil {
			t.Fatal(err)
		}
		if len(parts) != 2 || string(parts[1].Header) != "H22" || string(parts[1].Data) != "dd2" {
			t.Fatalf("parts %+v", parts)
		}
	})
}

func TestDecodeBodyRefuses(t *testing.T) {
	ct := EncryptedContentType(ProtocolKerberos)
	std := string(EncodeBody(ProtocolKerberos, []byte("HDR"), []byte("DATA!")))
	tests := []struct {
		name, ct, body, want string
	}{
		{"plain SOAP", "application/soap+xml;charset=UTF-8", "<s:Envelope/>", "not multipart/encrypted"},
		{"empty", ct, "", "expected the delimiter"},
		{"only the closing delimiter", ct, "--Encrypted Boundary--\r\n", "no encrypted part"},
		{"unknown protocol", ct, strings.Replace(std, "HTTP-Kerberos-session-encrypted", "HTTP-CredSSP-session-encrypted", 1), "unknown protocol"},
		{"no Length", ct, strings.Replace(std, ";Length=5", "", 1), "no OriginalContent Length"},
		{"negative Length", ct, strings.Replace(std, "Length=5", "Length=-5", 1), "bad OriginalContent Length"},
		{"Length past the end", ct, strings.Replace(std, "Length=5", "Length=500", 1), "OriginalContent Length says 500"},
		{"header length past the end", ct, strings.Replace(std, "\x03\x00\x00\x00", "\xff\x00\x00\x00", 1), "header length 255 is out of range"},
		{"header length too large", ct, strings.Replace(std, "\x03\x00\x00\x00", "\x00\x00\x01\x00", 1), "out of range"},
		{"second part not octet-stream", ct, strings.Replace(std, "application/octet-stream", "text/plain", 1), "not Content-Type: application/octet-stream"},
		{"first part without end", ct, "--Encrypted Boundary\r\n\tContent-Type: " + ProtocolKerberos + "\r\n", "no end"},
		{"delimiter without CRLF", ct, "--Encrypted Boundary\tx", "does not end in CRLF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeBody(tt.ct, []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := DecodeBody("text/plain", nil); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("errors.Is(ErrNotEncrypted) false for %v", err)
	}
}

func TestSealOpenBody(t *testing.T) {
	cli, srv := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	body, ct, err := SealBody(cli, ProtocolKerberos, []byte("<s:Envelope>hello</s:Envelope>"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBody(srv, ProtocolSPNEGO, ct, body); err == nil || !strings.Contains(err.Error(), "want \"application/HTTP-SPNEGO") {
		t.Fatalf("a Kerberos-protocol body was opened as SPNEGO: %v", err)
	}
	// The refusal above consumed nothing: the same body opens.
	got, err := OpenBody(srv, ProtocolKerberos, ct, body)
	if err != nil || string(got) != "<s:Envelope>hello</s:Envelope>" {
		t.Fatalf("got %q, %v", got, err)
	}
	// A Length that lies about the plaintext is refused.
	body, ct, _ = SealBody(cli, ProtocolKerberos, []byte("abc"))
	parts, _ := DecodeBody(ct, body)
	parts[0].Length = 2
	lying := EncodeBody(ProtocolKerberos, parts[0].Header, parts[0].Data[:2])
	if _, err := OpenBody(srv, "", ct, lying); err == nil {
		t.Fatal("a truncated part was opened")
	}
}

func FuzzDecodeBody(f *testing.F) {
	ct := EncryptedContentType(ProtocolKerberos)
	f.Add(ct, EncodeBody(ProtocolKerberos, []byte("HDR"), []byte("DATA!")))
	f.Add(ct, []byte(strings.ReplaceAll(string(EncodeBody(ProtocolSPNEGO, []byte{1, 2}, []byte("x"))), "--E", "-- E")))
	f.Add(`multipart/encrypted;boundary="x"`, []byte("--x\r\nContent-Type: application/HTTP-SPNEGO-session-encrypted\r\nOriginalContent: Length=1\r\n--x\r\nContent-Type: application/octet-stream\r\n\x00\x00\x00\x00z--x--\r\n"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		parts, err := DecodeBody(contentType, body)
		if err != nil {
			return
		}
		for _, p := range parts {
			if len(p.Data) != p.Length || len(p.Header) > maxHeader {
				t.Fatalf("part %+v breaks its invariants", p)
			}
			re, err := DecodeBody(EncryptedContentType(p.Protocol), EncodeBody(p.Protocol, p.Header, p.Data))
			if err != nil || len(re) != 1 || !bytes.Equal(re[0].Header, p.Header) || !bytes.Equal(re[0].Data, p.Data) {
				t.Fatalf("re-encoding %+v does not round-trip: %v", p, err)
			}
		}
	})
}
