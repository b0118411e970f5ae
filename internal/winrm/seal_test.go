package winrm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

func TestSealedFramingRoundTrip(t *testing.T) {
	sig := bytes.Repeat([]byte{0xAB}, 16)
	sealed := []byte("sealed-bytes-\r\n--Encrypted Boundary-inside")
	body, ct := frameSealed(len(sealed), sig, sealed)
	if !strings.HasPrefix(ct, "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\"") {
		t.Fatalf("content type %q", ct)
	}
	if !bytes.Contains(body, []byte(fmt.Sprintf("Length=%d\r\n", len(sealed)))) {
		t.Fatalf("plaintext length missing:\n%q", body)
	}
	gs, gm, err := unframeSealed(body)
	if err != nil || !bytes.Equal(gs, sig) || !bytes.Equal(gm, sealed) {
		t.Fatalf("got %x %q %v", gs, gm, err)
	}
	for _, bad := range [][]byte{nil, []byte("--Encrypted Boundary\r\n"), body[:len(body)/2], bytes.Replace(body, []byte("Length=42"), []byte("Length=x"), 1), bytes.Replace(body, []byte("Length=42"), []byte("Length=99"), 1)} {
		if _, _, err := unframeSealed(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzUnframeSealed(f *testing.F) {
	body, _ := frameSealed(5, bytes.Repeat([]byte{1}, 16), []byte("hello"))
	f.Add(body)
	f.Add([]byte("--Encrypted Boundary\r\nLength=0--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		sig, sealed, err := unframeSealed(in)
		if err != nil {
			return
		}
		if len(sig) == 0 || len(sig) > 64 {
			t.Fatalf("signature of %d bytes", len(sig))
		}
		// what was read re-frames to a body that reads back the same
		again, _ := frameSealed(len(sealed), sig, sealed)
		s2, m2, err := unframeSealed(again)
		if err != nil || !bytes.Equal(s2, sig) || !bytes.Equal(m2, sealed) {
			t.Fatalf("re-framing failed: %v", err)
		}
	})
}
