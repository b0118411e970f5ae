package kerberos

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// pair returns the two sides of one context with a random key of etype,
// as after a mutual handshake: the acceptor asserted a subkey, the client
// sends from 1000, the server from 5000.
func pair(t testing.TB, etype int32) (cli, srv *Context) {
	t.Helper()
	et, err := crypto.GetEtype(etype)
	if err != nil {
		t.Fatal(err)
	}
	key := types.EncryptionKey{KeyType: etype, KeyValue: make([]byte, et.GetKeyByteSize())}
	rand.Read(key.KeyValue)
	cli, err = newContext(true, key, true, 1000, 5000, "HTTP/exch01.lab.test")
	if err != nil {
		t.Fatal(err)
	}
	srv, err = newContext(false, key, true, 5000, 1000, "alice@LAB.TEST")
	if err != nil {
		t.Fatal(err)
	}
	return cli, srv
}

func TestWrapRoundTrip(t *testing.T) {
	tests := []struct {
		etype   int32
		hmacLen int
	}{
		{etypeID.AES128_CTS_HMAC_SHA1_96, 12},
		{etypeID.AES256_CTS_HMAC_SHA1_96, 12},
		{etypeID.AES128_CTS_HMAC_SHA256_128, 16},
	}
	for _, tt := range tests {
		t.Run(etypeName(tt.etype), func(t *testing.T) {
			cli, srv := pair(t, tt.etype)
			for i, size := range []int{0, 1, 15, 16, 17, 1000, 70000} {
				msg := bytes.Repeat([]byte{byte('a' + i)}, size)
				// client → server
				h, enc, err := cli.WrapMessage(msg)
				if err != nil {
					t.Fatal(err)
				}
				if wantH := 16 + 16 + 16 + tt.hmacLen; len(h) != wantH || len(enc) != size {
					t.Fatalf("header %d bytes, data %d; want %d and %d", len(h), len(enc), wantH, size)
				}
				checkHeader(t, h, 0x06, uint16(16+tt.hmacLen), uint64(1000+i))
				if size > 16 && bytes.Contains(h[16:], msg[:16]) || size > 0 && bytes.Equal(enc, msg) {
					t.Fatal("the plaintext shows in the token")
				}
				got, err := srv.UnwrapMessage(h, enc)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("server got %d bytes, want %d", len(got), len(msg))
				}
				// server → client
				tok, err := srv.Wrap(append(msg, '!'))
				if err != nil {
					t.Fatal(err)
				}
				checkHeader(t, tok, 0x07, uint16(16+tt.hmacLen), uint64(5000+i))
				got, err = cli.Unwrap(tok)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, append(msg, '!')) {
					t.Fatal("client got other bytes")
				}
			}
			if s, r := cli.Sequence(); s != 1007 || r != 5007 {
				t.Fatalf("client sequence %d/%d, want 1007/5007", s, r)
			}
		})
	}
}

func checkHeader(t *testing.T, h []byte, flags byte, rrc uint16, seq uint64) {
	t.Helper()
	want := make([]byte, 16)
	copy(want, []byte{0x05, 0x04, flags, 0xFF, 0, 0})
	binary.BigEndian.PutUint16(want[6:], rrc)
	binary.BigEndian.PutUint64(want[8:], seq)
	if !bytes.Equal(h[:16], want) {
		t.Fatalf("token header % x, want % x", h[:16], want)
	}
}

// sealWith builds a sealed token from the initiator with a chosen EC
// (filler), RRC field and physical rotation — the variants peers send
// (RFC 4121 §4.2.5, MS-KILE 3.4.5.4.1, MIT k5sealv3iov.c, impacket
// GSSAPI_AES).
func sealWith(t *testing.T, c *Context, msg []byte, ec int, rrcField, rot int) []byte {
	t.Helper()
	hdr := []byte{0x05, 0x04, 0x06, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(hdr[4:], uint16(ec))
	binary.BigEndian.PutUint64(hdr[8:], c.sendSeq)
	pt := append(append(append([]byte{}, msg...), bytes.Repeat([]byte{0xFF}, ec)...), hdr...)
	_, ct, err := c.et.EncryptMessage(c.key.KeyValue, pt, 24)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(hdr[6:], uint16(rrcField))
	rot %= len(ct)
	c.sendSeq++
	return append(append(hdr, ct[len(ct)-rot:]...), ct[:len(ct)-rot]...)
}

func TestUnwrapECAndRRCVariants(t *testing.T) {
	msg := []byte("<s:Envelope>the same message</s:Envelope>")
	tests := []struct {
		name         string
		ec, rrc, rot int
	}{
		{"Windows and MIT, EC 0 RRC 28", 0, 28, 28},
		{"impacket/Windows, EC 7 RRC 28 rotated by 35", 7, 28, 35},
		{"DCE style, EC 16 RRC 28 rotated by 44", 16, 28, 44},
		{"RFC 4121, EC 16 RRC 44 rotated by 44", 16, 44, 44},
		{"no rotation", 0, 0, 0},
		{"no rotation with filler", 5, 0, 0},
		{"rotation larger than the token", 0, 1000, 1000},
	}
	cli, srv := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sealWith(t, cli, msg, tt.ec, tt.rrc, tt.rot)
			got, err := srv.Unwrap(tok)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestUnwrapRefuses(t *testing.T) {
	msg := []byte("<s:Envelope/>")
	tests := []struct {
		name string
		// make returns the token the server must refuse.
		make func(t *testing.T, cli, srv *Context) []byte
		want string
		is   error
	}{
		{"tampered ciphertext", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			tok[len(tok)-1] ^= 1
			return tok
		}, "integrity check failed", nil},
		{"tampered header seq", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			tok[15]++
			return tok
		}, "header copy does not match", nil},
		{"reflected: the server's own token", func(t *testing.T, _, srv *Context) []byte {
			tok, _ := srv.Wrap(msg)
			return tok
		}, "sent by an acceptor", nil},
		{"replay", func(t *testing.T, cli, srv *Context) []byte {
			tok, _ := cli.Wrap(msg)
			if _, err := srv.Unwrap(tok); err != nil {
				t.Fatal(err)
			}
			return tok
		}, "replayed", ErrReplay},
		{"gap", func(t *testing.T, cli, _ *Context) []byte {
			cli.Wrap(msg)
			tok, _ := cli.Wrap(msg)
			return tok
		}, "lost", ErrGap},
		{"not sealed", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			tok[2] &^= flagSealed
			return tok
		}, "not sealed", nil},
		{"no acceptor subkey flag", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			tok[2] &^= flagAcceptorSubkey
			return tok
		}, "AcceptorSubkey flag missing", nil},
		{"unknown flag", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			tok[2] |= 0x80
			return tok
		}, "unknown flags", nil},
		{"MIC token id", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			tok[1] = 0x04
			tok[0] = 0x04
			return tok
		}, "TOK_ID is 0404", nil},
		{"bad filler", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			tok[3] = 0
			return tok
		}, "filler", nil},
		{"short", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			return tok[:15]
		}, "shorter than the 16-byte header", nil},
		{"header only", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			return tok[:40]
		}, "shorter than the minimum", nil},
		{"EC larger than the data", func(t *testing.T, cli, _ *Context) []byte {
			tok, _ := cli.Wrap(msg)
			binary.BigEndian.PutUint16(tok[4:], 0xFFFF)
			return tok
		}, "shorter than the minimum", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli, srv := pair(t, etypeID.AES128_CTS_HMAC_SHA1_96)
			tok := tt.make(t, cli, srv)
			_, recv0 := srv.Sequence()
			_, err := srv.Unwrap(tok)
			var we *WrapError
			if !errors.As(err, &we) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a WrapError mentioning %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("errors.Is(%v, %v) is false", err, tt.is)
			}
			if _, recv := srv.Sequence(); recv != recv0 {
				t.Fatalf("a refused token moved the receive sequence %d → %d", recv0, recv)
			}
		})
	}
}

func TestNewContextRefusesNonAES(t *testing.T) {
	for _, et := range []int32{etypeID.RC4_HMAC, etypeID.DES3_CBC_SHA1_KD, etypeID.AES256_CTS_HMAC_SHA384_192, 99} {
		_, err := newContext(true, types.EncryptionKey{KeyType: et, KeyValue: make([]byte, 16)}, false, 0, 0, "")
		if err == nil || !strings.Contains(err.Error(), "AES") {
			t.Fatalf("enctype %d: error %v, want one asking for AES", et, err)
		}
	}
	if _, err := newContext(true, types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 16)}, false, 0, 0, ""); err == nil {
		t.Fatal("a 16-byte aes256 key was accepted")
	}
}

func FuzzUnwrap(f *testing.F) {
	cli, _ := pair(f, etypeID.AES256_CTS_HMAC_SHA1_96)
	for _, m := range []string{"", "x", "<s:Envelope/>"} {
		tok, _ := cli.Wrap([]byte(m))
		f.Add(tok)
	}
	f.Add([]byte{0x05, 0x04, 0x06, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, tok []byte) {
		_, srv := pair(t, etypeID.AES256_CTS_HMAC_SHA1_96)
		srv.recvSeq = 1000
		if _, err := ParseWrapHeader(tok); err != nil {
			if _, err2 := srv.Unwrap(tok); err2 == nil {
				t.Fatal("Unwrap accepted a token whose header does not parse")
			}
			return
		}
		// A random key: nothing may verify; it must fail cleanly.
		if out, err := srv.Unwrap(tok); err == nil {
			t.Fatalf("a forged token verified: %q", out)
		}
	})
}

func BenchmarkWrapUnwrap(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			cli, srv := pair(b, etypeID.AES256_CTS_HMAC_SHA1_96)
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				tok, err := cli.Wrap(msg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := srv.Unwrap(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
