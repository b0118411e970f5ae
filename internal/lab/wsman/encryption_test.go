package wsman

import (
	"bytes"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/kerberos"
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
	c, s := sessions(t)
	cli, srv := ntlmSeal{c}, ntlmSeal{s}
	for _, msg := range []string{"<s:Envelope/>", strings.Repeat("x", 70000), "--Encrypted Boundary\r\n inside"} {
		// Client → server: the client's framing is the same as ours.
		ct, body, err := cli.seal([]byte(msg))
		if err != nil || !kerberos.IsEncrypted(ct) || !strings.Contains(ct, kerberos.ProtocolSPNEGO) {
			t.Fatalf("Content-Type %q, %v", ct, err)
		}
		got, err := srv.open(ct, body)
		if err != nil || string(got) != msg {
			t.Fatalf("server decrypt: %v", err)
		}
		// Server → client.
		ct, body, _ = srv.seal([]byte(msg))
		got, err = cli.open(ct, body)
		if err != nil || string(got) != msg {
			t.Fatalf("client decrypt: %v", err)
		}
	}
	// A tampered body fails.
	ct, body, _ := cli.seal([]byte("<s:Envelope/>"))
	body[len(body)-30] ^= 1
	if _, err := srv.open(ct, body); err == nil {
		t.Fatal("tampered message decrypted")
	}
	if _, err := srv.open(soapContentType, body); err == nil {
		t.Fatal("plain Content-Type decrypted")
	}
	// The Kerberos protocol string is not NTLM's.
	_, body, _ = cli.seal([]byte("<s:Envelope/>"))
	kct := kerberos.EncryptedContentType(kerberos.ProtocolKerberos)
	if _, err := srv.open(kct, bytes.Replace(body, []byte("SPNEGO"), []byte("Kerberos"), 1)); err == nil {
		t.Fatal("an NTLM connection opened a Kerberos-protocol body")
	}
}

func FuzzDecryptMessage(f *testing.F) {
	c, _ := sessions(f)
	_, body, _ := ntlmSeal{c}.seal([]byte("<s:Envelope/>"))
	f.Add(body)
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=99999999999\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n"))
	f.Add([]byte{})
	ct := kerberos.EncryptedContentType(kerberos.ProtocolSPNEGO)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, srv := sessions(t)
		msg, err := ntlmSeal{srv}.open(ct, b)
		if err == nil && len(msg) > len(b) {
			t.Fatalf("%d bytes opened from %d", len(msg), len(b))
		}
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
