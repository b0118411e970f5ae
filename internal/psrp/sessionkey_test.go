package psrp

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

func TestKeyExchangeRoundTrip(t *testing.T) {
	kx, err := NewKeyExchange()
	if err != nil {
		t.Fatal(err)
	}
	blob := kx.PublicKeyBlob()
	if len(blob) != 276 || !bytes.Equal(blob[:20], []byte{6, 2, 0, 0, 0, 0xA4, 0, 0, 'R', 'S', 'A', '1', 0, 8, 0, 0, 1, 0, 1, 0}) {
		t.Fatalf("PUBLICKEYBLOB header % x (len %d)", blob[:20], len(blob))
	}
	pub, err := ParsePublicKeyBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	if pub.N.Cmp(kx.priv.N) != 0 || pub.E != 65537 {
		t.Fatal("parsed public key differs")
	}
	server, _ := NewSessionKey()
	esk, err := EncryptedSessionKeyBlob(pub, server)
	if err != nil {
		t.Fatal(err)
	}
	if len(esk) != 268 || !bytes.Equal(esk[:12], []byte{1, 2, 0, 0, 0x10, 0x66, 0, 0, 0, 0xA4, 0, 0}) {
		t.Fatalf("SIMPLEBLOB header % x (len %d)", esk[:12], len(esk))
	}
	client, err := kx.SessionKey(esk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(client.key, server.key) {
		t.Fatal("the client decrypted another key")
	}
	if strings.Contains(client.GoString()+client.String(), string(client.key)) {
		t.Fatal("key printed")
	}
}

func TestSecureStringCipher(t *testing.T) {
	key, _ := SessionKeyFromBytes(bytes.Repeat([]byte{0x42}, 32))
	tests := []struct {
		plain string
		ctLen int
	}{
		{"", 16},
		{"abc", 16},
		{"12345678", 32}, // 16 bytes of UTF-16: a whole block of padding follows
		{"pässwörd 😀", 32},
	}
	for _, tt := range tests {
		ct, err := key.Encrypt(tt.plain)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != tt.ctLen {
			t.Errorf("%q: %d ciphertext bytes, want %d", tt.plain, len(ct), tt.ctLen)
		}
		again, _ := key.Encrypt(tt.plain)
		if !bytes.Equal(ct, again) {
			t.Errorf("%q: zero IV, fresh encryptor: the same text must give the same ciphertext", tt.plain)
		}
		got, err := key.Decrypt(ct)
		if err != nil || got != tt.plain {
			t.Errorf("%q: decrypted %q, %v", tt.plain, got, err)
		}
	}
	other, _ := SessionKeyFromBytes(bytes.Repeat([]byte{0x43}, 32))
	ct, _ := key.Encrypt("secret")
	if _, err := other.Decrypt(ct); err == nil || !strings.Contains(err.Error(), "bad padding") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := key.Decrypt([]byte{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("short ciphertext: %v", err)
	}
	var none *SessionKey
	if _, err := none.Encrypt("x"); err != ErrNoSessionKey {
		t.Errorf("nil key: %v", err)
	}
	if _, err := SessionKeyFromBytes(make([]byte, 16)); err == nil {
		t.Error("a 16-byte session key accepted")
	}
}

func TestKeyBlobErrors(t *testing.T) {
	kx, _ := NewKeyExchange()
	good := kx.PublicKeyBlob()
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	pubTests := []struct {
		name string
		blob []byte
		want string
	}{
		{"short", good[:10], "shorter than its 20-byte header"},
		{"wrong type", mut(func(b []byte) []byte { b[0] = 7; return b }), "want 06 02 00 00"},
		{"odd bits", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 2047); return b }), "2047-bit"},
		{"big exponent", mut(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[16:], 0x1000001); return b }), "exponent"},
		{"truncated modulus", good[:200], "want 276"},
	}
	for _, tt := range pubTests {
		if _, err := ParsePublicKeyBlob(tt.blob); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	esk := append([]byte{1, 2, 0, 0, 0x10, 0x66, 0, 0, 0, 0xA4, 0, 0}, make([]byte, 256)...)
	for _, tt := range []struct {
		name string
		blob []byte
		want string
	}{
		{"short", esk[:100], "want 268"},
		{"wrong alg", append([]byte{1, 2, 0, 0, 0x0E, 0x66, 0, 0, 0, 0xA4, 0, 0}, make([]byte, 256)...), "want 01 02 00 00 10 66"},
		{"garbage", esk, "decrypt the session key"},
	} {
		if _, err := kx.SessionKey(tt.blob); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
