package wsman

import (
	"bytes"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
)

// sessions returns a client and a server session sharing one key, as
// after an NTLM logon with key exchange.
func sessions(t testing.TB) (client, server *ntlm.Session) {
	flags := ntlm.FlagExtendedSessionSecurity | ntlm.FlagKeyExch | ntlm.Flag128 | ntlm.FlagSeal | ntlm.FlagSign
	key := bytes.Repeat([]byte{0x42}, 16)
	c, err := ntlm.NewClientSession(flags, key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ntlm.NewServerSession(&ntlm.Result{Flags: flags, ExportedSessionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestEncryptedMessageRoundTrip(t *testing.T) {
	cli, srv := sessions(t)
	for _, msg := range []string{"<s:Envelope/>", strings.Repeat("x", 70000), "--Encrypted Boundary\r\n inside"} {
		// Client → server: the client's framing is the same as ours.
		ct, body := encryptMessage(cli, []byte(msg))
		if !isEncrypted(ct) {
			t.Fatalf("Content-Type %q", ct)
		}
		got, err := decryptMessage(srv, ct, body)
		if err != nil || string(got) != msg {
			t.Fatalf("server decrypt: %v", err)
		}
		// Server → client.
		ct, body = encryptMessage(srv, []byte(msg))
		got, err = decryptMessage(cli, ct, body)
		if err != nil || string(got) != msg {
			t.Fatalf("client decrypt: %v", err)
		}
	}
	// A tampered body fails.
	ct, body := encryptMessage(cli, []byte("<s:Envelope/>"))
	body[len(body)-30] ^= 1
	if _, err := decryptMessage(srv, ct, body); err == nil {
		t.Fatal("tampered message decrypted")
	}
	if _, err := decryptMessage(srv, soapContentType, body); err == nil {
		t.Fatal("plain Content-Type decrypted")
	}
}

func FuzzDecryptMessage(f *testing.F) {
	cli, _ := sessions(f)
	_, body := encryptMessage(cli, []byte("<s:Envelope/>"))
	f.Add(body)
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=99999999999\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, srv := sessions(t)
		_, _ = decryptMessage(srv, encContentType, b)
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT60S", "PT60.000S", "P1DT2H3M4.5S", "PT", "P", "PT1e9S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("%q → %v", s, d)
		}
		_ = bestMessageID([]byte(s))
	})
}
