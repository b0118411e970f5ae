package ntlm

import (
	"bytes"
	"crypto/rc4"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MS-NLMP 4.2.4: user "User", domain "Domain", password "Password",
// server challenge 0123456789abcdef, client challenge aaaaaaaaaaaaaaaa,
// time 0, random session key 55…55.
const (
	vecChallenge = `4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000`
	// 4.2.4.3 AUTHENTICATE_MESSAGE.
	vecAuthenticate = `4e544c4d535350000300000018001800
		6c00000054005400840000000c000c00
		48000000080008005400000010001000
		5c00000010001000d8000000358288e2
		0501280a0000000f44006f006d006100
		69006e00550073006500720043004f00
		4d005000550054004500520086c35097
		ac9cec102554764a57cccc19aaaaaaaa
		aaaaaaaa68cd0ab851e51c96aabc927b
		ebef6a1c010100000000000000000000
		00000000aaaaaaaaaaaaaaaa00000000
		02000c0044006f006d00610069006e00
		01000c00530065007200760065007200
		0000000000000000c5dad2544fc97990
		94ce1ce90bc9d03e`
)

func TestNTOWFv2Vector(t *testing.T) {
	if got := hex.EncodeToString(NTOWFv2("User", "Domain", "Password")); got != "0c868a403bfd7a93a3001ef22ef02e3f" {
		t.Fatalf("NTOWFv2 = %s", got)
	}
	// The user name is case-insensitive, the domain is not.
	if !bytes.Equal(NTOWFv2("user", "Domain", "Password"), NTOWFv2("USER", "Domain", "Password")) {
		t.Fatal("user name case changed NTOWFv2")
	}
	if bytes.Equal(NTOWFv2("User", "domain", "Password"), NTOWFv2("User", "Domain", "Password")) {
		t.Fatal("domain case did not change NTOWFv2")
	}
}

// vectorHandshake is a Handshake in the state the MS-NLMP example's
// server is in after sending its CHALLENGE.
func vectorHandshake(t *testing.T, password string) *Handshake {
	a := &Acceptor{NetBIOSDomain: "Domain", NetBIOSComputer: "Server", Password: func(user, domain string) (string, bool) {
		if user == "User" && domain == "Domain" {
			return password, true
		}
		return "", false
	}}
	h := &Handshake{a: a, challenge: unhex(t, vecChallenge), flags: 0xe28a8233}
	copy(h.serverChallenge[:], unhex(t, "0123456789abcdef"))
	return h
}

func TestAcceptMSNLMPVector(t *testing.T) {
	res, err := vectorHandshake(t, "Password").Accept(unhex(t, vecAuthenticate))
	if err != nil {
		t.Fatal(err)
	}
	if res.User != "User" || res.Domain != "Domain" || res.Workstation != "COMPUTER" {
		t.Fatalf("identity = %q %q %q", res.User, res.Domain, res.Workstation)
	}
	// With key exchange the exported key is the client's random key.
	if got := hex.EncodeToString(res.ExportedSessionKey); got != strings.Repeat("55", 16) {
		t.Fatalf("exported session key = %s", got)
	}
	// 4.2.4.4: the client's sealed "Plaintext" with sequence number 0.
	s, err := NewServerSession(res)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.Unseal(unhex(t, "54e50165bf1936dc996020c1811b0f06fb5f"), unhex(t, "010000007fb38ec5c55d497600000000"))
	if err != nil {
		t.Fatal(err)
	}
	if string(msg) != string(utf16le("Plaintext")) {
		t.Fatalf("unsealed %x", msg)
	}
}

func TestAcceptRejects(t *testing.T) {
	auth := unhex(t, vecAuthenticate)
	tampered := append([]byte(nil), auth...)
	tampered[0x99] ^= 1 // inside NTProofStr
	for _, tc := range []struct {
		name     string
		password string
		msg      []byte
		bad      bool // ErrBadCredentials expected
	}{
		{"wrong password", "password", auth, true},
		{"tampered proof", "Password", tampered, true},
		{"truncated", "Password", auth[:60], false},
		{"not an AUTHENTICATE", "Password", unhex(t, vecChallenge), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vectorHandshake(t, tc.password).Accept(tc.msg)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := errors.Is(err, ErrBadCredentials); got != tc.bad {
				t.Fatalf("err = %v, ErrBadCredentials = %v, want %v", err, got, tc.bad)
			}
		})
	}
}

func TestChallengeFromAcceptor(t *testing.T) {
	neg := unhex(t, "4e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	a := &Acceptor{NetBIOSDomain: "CONTOSO", NetBIOSComputer: "EX01", DNSDomain: "contoso.test", DNSComputer: "ex01.contoso.test",
		Rand: bytes.NewReader(unhex(t, "0123456789abcdef")), Now: func() time.Time { return now }}
	_, msg, err := a.Challenge(neg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseChallenge(msg)
	if err != nil {
		t.Fatal(err)
	}
	if c.TargetName != "CONTOSO" || hex.EncodeToString(c.ServerChallenge[:]) != "0123456789abcdef" {
		t.Fatalf("challenge = %+v", c)
	}
	if c.Flags&FlagLMKey != 0 || c.Flags&FlagUnicode == 0 || c.Flags&FlagTargetInfo == 0 || c.Flags&FlagKeyExch == 0 {
		t.Fatalf("flags = %#x", c.Flags)
	}
	want := map[uint16]string{AvNbDomainName: "CONTOSO", AvNbComputerName: "EX01", AvDNSDomainName: "contoso.test", AvDNSComputerName: "ex01.contoso.test"}
	seen := map[uint16]bool{}
	for _, p := range c.TargetInfo {
		seen[p.ID] = true
		if w, ok := want[p.ID]; ok && fromUTF16le(p.Value) != w {
			t.Errorf("AV %d = %q, want %q", p.ID, fromUTF16le(p.Value), w)
		}
		if p.ID == AvTimestamp && binary.LittleEndian.Uint64(p.Value) != FileTime(now) {
			t.Errorf("timestamp = %d", binary.LittleEndian.Uint64(p.Value))
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("AV %d missing", id)
		}
	}
	if !seen[AvTimestamp] {
		t.Error("timestamp missing")
	}
	// A client without Unicode is refused; so is garbage.
	noUnicode := append([]byte(nil), neg...)
	noUnicode[12] &^= 1
	for _, bad := range [][]byte{noUnicode, []byte("NTLMSSP\x00"), nil, unhex(t, vecChallenge)} {
		if _, _, err := a.Challenge(bad); err == nil {
			t.Errorf("Challenge(%x) accepted", bad)
		}
	}
}

// client builds an AUTHENTICATE the way an NTLMv2 initiator does (with
// key exchange and a MIC), for round trips through the acceptor.
func client(t *testing.T, negotiate, challenge []byte, user, domain, password string, withMIC bool) ([]byte, uint32, []byte) {
	c, err := ParseChallenge(challenge)
	if err != nil {
		t.Fatal(err)
	}
	info := c.TargetInfo
	if withMIC {
		info = append(append([]AVPair(nil), info...), AVPair{AvFlags, []byte{2, 0, 0, 0}})
	}
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	blob = binary.LittleEndian.AppendUint64(blob, 0)
	blob = append(blob, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0, 0)
	blob = append(blob, MarshalAVPairs(info)...)
	blob = append(blob, 0, 0, 0, 0)
	key := NTOWFv2(user, domain, password)
	proof := hmacMD5(key, c.ServerChallenge[:], blob)
	nt := append(append([]byte(nil), proof...), blob...)
	base := hmacMD5(key, proof)
	exported := bytes.Repeat([]byte{0x55}, 16)
	r, _ := rc4.NewCipher(base)
	erk := make([]byte, 16)
	r.XORKeyStream(erk, exported)
	payload := [][]byte{make([]byte, 24), nt, utf16le(domain), utf16le(user), utf16le("WS"), erk}
	hdr := 88
	msg := make([]byte, hdr)
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], TypeAuthenticate)
	off := hdr
	for i, p := range payload {
		d := 12 + 8*i
		binary.LittleEndian.PutUint16(msg[d:], uint16(len(p)))
		binary.LittleEndian.PutUint16(msg[d+2:], uint16(len(p)))
		binary.LittleEndian.PutUint32(msg[d+4:], uint32(off))
		off += len(p)
	}
	binary.LittleEndian.PutUint32(msg[60:], c.Flags)
	copy(msg[64:], version)
	for _, p := range payload {
		msg = append(msg, p...)
	}
	if withMIC {
		copy(msg[72:], hmacMD5(exported, negotiate, challenge, msg))
	}
	return msg, c.Flags, exported
}

func TestRoundTripAndSessionSecurity(t *testing.T) {
	neg := unhex(t, "4e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f")
	a := &Acceptor{NetBIOSDomain: "CONTOSO", NetBIOSComputer: "EX01", DNSDomain: "contoso.test", DNSComputer: "ex01.contoso.test",
		Password: func(user, domain string) (string, bool) { return "Pa$$w0rd", strings.EqualFold(user, "administrator") }}
	for _, withMIC := range []bool{false, true} {
		h, chal, err := a.Challenge(neg)
		if err != nil {
			t.Fatal(err)
		}
		msg, flags, exported := client(t, neg, chal, "Administrator", "CONTOSO", "Pa$$w0rd", withMIC)
		res, err := h.Accept(msg)
		if err != nil {
			t.Fatalf("MIC %v: %v", withMIC, err)
		}
		if !bytes.Equal(res.ExportedSessionKey, exported) {
			t.Fatal("exported session key differs")
		}
		if withMIC {
			bad := append([]byte(nil), msg...)
			bad[75] ^= 1
			if _, err := h.Accept(bad); err == nil {
				t.Fatal("a wrong MIC was accepted")
			}
		}
		srv, err := NewServerSession(res)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := NewClientSession(flags, exported)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			sealed, sig := cli.Seal([]byte("request"))
			got, err := srv.Unseal(sealed, sig)
			if err != nil || string(got) != "request" {
				t.Fatalf("server unseal %d: %q %v", i, got, err)
			}
			sealed, sig = srv.Seal([]byte("response"))
			got, err = cli.Unseal(sealed, sig)
			if err != nil || string(got) != "response" {
				t.Fatalf("client unseal %d: %q %v", i, got, err)
			}
		}
		sealed, sig := cli.Seal([]byte("tampered"))
		sealed[0] ^= 1
		if _, err := srv.Unseal(sealed, sig); !errors.Is(err, ErrSignature) {
			t.Fatalf("tampered message: %v", err)
		}
	}
	// Wrong password through the same path.
	h, chal, _ := a.Challenge(neg)
	msg, _, _ := client(t, neg, chal, "Administrator", "CONTOSO", "wrong", true)
	if _, err := h.Accept(msg); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestSPNEGO(t *testing.T) {
	ntlmMsg := unhex(t, "4e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f")
	// A NegTokenInit offering NTLM, as Windows' SSPI Negotiate sends it
	// when Kerberos is unavailable.
	init := unhex(t, "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f")
	for _, tc := range []struct {
		name    string
		in      []byte
		want    []byte
		wrapped bool
		err     bool
	}{
		{"raw", ntlmMsg, ntlmMsg, false, false},
		{"NegTokenInit", init, ntlmMsg, true, false},
		{"NegTokenResp", WrapResponse(AcceptIncomplete, ntlmMsg), ntlmMsg, true, false},
		{"garbage", []byte{0x60, 0x03, 1, 2, 3}, nil, false, true},
		{"empty", nil, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, wrapped, err := Unwrap(tc.in)
			if (err != nil) != tc.err || wrapped != tc.wrapped || !bytes.Equal(got, tc.want) {
				t.Fatalf("Unwrap = %x %v %v", got, wrapped, err)
			}
		})
	}
}

func FuzzParseMessages(f *testing.F) {
	f.Add(unhex(f, vecAuthenticate))
	f.Add(unhex(f, vecChallenge))
	f.Add(unhex(f, "4e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f"))
	f.Add(unhex(f, "604806062b0601050502a03e303ca00e300c060a2b06010401823702020aa22a04284e544c4d5353500001000000978208e2000000000000000000000000000000000a00614a0000000f"))
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseNegotiate(b)
		_, _ = ParseAuthenticate(b)
		if c, err := ParseChallenge(b); err == nil {
			// What parses must survive a round trip.
			c2, err := ParseChallenge(c.Marshal())
			if err != nil || c2.ServerChallenge != c.ServerChallenge || len(c2.TargetInfo) != len(c.TargetInfo) {
				t.Fatalf("round trip: %v", err)
			}
		}
		_, _, _ = Unwrap(b)
		h := &Handshake{a: &Acceptor{Password: func(string, string) (string, bool) { return "x", true }}}
		_, _ = h.Accept(b)
	})
}
