package ntlm

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"io"
	"time"
)

// ErrBadCredentials means the AUTHENTICATE message names an unknown account
// or was computed with another password. Callers answer 401.
var ErrBadCredentials = errors.New("ntlm: the user name or password is incorrect")

// Acceptor issues challenges and verifies the answers for one server. Its
// fields are read-only once in use; it is safe for concurrent use.
type Acceptor struct {
	// NetBIOSDomain is the domain the server belongs to ("CONTOSO"); it is
	// the CHALLENGE's target name.
	NetBIOSDomain string
	// NetBIOSComputer is the server's NetBIOS name ("EX01").
	NetBIOSComputer string
	// DNSDomain is the domain's DNS name ("contoso.test").
	DNSDomain string
	// DNSComputer is the server's FQDN ("ex01.contoso.test").
	DNSComputer string
	// Password returns the password of the account the client names, with
	// user and domain exactly as the AUTHENTICATE message carries them:
	// domain may be empty and user may be a UPN.
	Password func(user, domain string) (password string, ok bool)
	// Rand supplies server challenges; nil means crypto/rand.
	Rand io.Reader
	// Now stamps the target info; nil means time.Now.
	Now func() time.Time
}

// Handshake is one connection's authentication in progress: the NEGOTIATE
// received and the CHALLENGE sent, which the AUTHENTICATE must answer.
type Handshake struct {
	a               *Acceptor
	negotiate       []byte
	challenge       []byte
	serverChallenge [8]byte
	flags           uint32
}

// Result is an accepted logon.
type Result struct {
	User        string // as the client sent it
	Domain      string // as the client sent it (may be empty)
	Workstation string
	// Flags are the negotiated flags.
	Flags uint32
	// ExportedSessionKey keys NTLM session security.
	ExportedSessionKey []byte
}

// Challenge answers a NEGOTIATE message with a CHALLENGE. The Handshake
// verifies the client's AUTHENTICATE.
func (a *Acceptor) Challenge(negotiate []byte) (*Handshake, []byte, error) {
	n, err := ParseNegotiate(negotiate)
	if err != nil {
		return nil, nil, err
	}
	// Windows answers in Unicode whenever the client offers Unicode or
	// OEM; python's ntlm-auth (pywinrm) offers OEM only and then follows
	// the CHALLENGE's Unicode flag.
	if n.Flags&(FlagUnicode|FlagOEM) == 0 {
		return nil, nil, errors.New("ntlm: client offers neither Unicode nor OEM strings")
	}
	h := &Handshake{a: a, negotiate: append([]byte(nil), negotiate...)}
	rnd := a.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := io.ReadFull(rnd, h.serverChallenge[:]); err != nil {
		return nil, nil, err
	}
	flags := FlagUnicode | FlagNTLM | FlagTargetInfo | FlagTargetTypeDomain | FlagRequestTarget
	flags |= n.Flags & (FlagSign | FlagSeal | FlagAlwaysSign | FlagExtendedSessionSecurity |
		Flag128 | Flag56 | FlagKeyExch | FlagVersion | FlagIdentify)
	h.flags = flags
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	ts := make([]byte, 8)
	binary.LittleEndian.PutUint64(ts, FileTime(now()))
	c := &Challenge{
		Flags:           flags,
		TargetName:      a.NetBIOSDomain,
		ServerChallenge: h.serverChallenge,
		TargetInfo: []AVPair{
			{AvNbDomainName, utf16le(a.NetBIOSDomain)},
			{AvNbComputerName, utf16le(a.NetBIOSComputer)},
			{AvDNSDomainName, utf16le(a.DNSDomain)},
			{AvDNSComputerName, utf16le(a.DNSComputer)},
			{AvTimestamp, ts},
		},
	}
	h.challenge = c.Marshal()
	return h, h.challenge, nil
}

// FileTime converts t to a Windows FILETIME (100 ns since 1601-01-01).
func FileTime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// Accept verifies an AUTHENTICATE message: an NTLMv2 response whose
// NTProofStr matches HMAC-MD5(NTOWFv2, serverChallenge || blob), and the
// MIC when the client announces one. It returns ErrBadCredentials for a
// wrong user or password and another error for a malformed message.
func (h *Handshake) Accept(authenticate []byte) (*Result, error) {
	m, err := ParseAuthenticate(authenticate)
	if err != nil {
		return nil, err
	}
	if m.User == "" {
		return nil, errors.New("ntlm: anonymous logon refused")
	}
	if len(m.NtChallengeResponse) <= 24 {
		return nil, errors.New("ntlm: only NTLMv2 responses are accepted")
	}
	if h.a.Password == nil {
		return nil, ErrBadCredentials
	}
	pw, ok := h.a.Password(m.User, m.Domain)
	if !ok {
		return nil, ErrBadCredentials
	}
	key := NTOWFv2(m.User, m.Domain, pw)
	proof, blob := m.NtChallengeResponse[:16], m.NtChallengeResponse[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return nil, errMalformed("unknown NTLMv2 response version")
	}
	if !hmac.Equal(proof, hmacMD5(key, h.serverChallenge[:], blob)) {
		return nil, ErrBadCredentials
	}
	flags := h.flags
	if m.Flags != 0 {
		flags &= m.Flags
	}
	exported := hmacMD5(key, proof) // SessionBaseKey = KeyExchangeKey for NTLMv2
	if flags&FlagKeyExch != 0 && (len(m.EncryptedRandomSessionKey) != 0 || flags&(FlagSign|FlagSeal) != 0) {
		if len(m.EncryptedRandomSessionKey) != 16 {
			return nil, errMalformed("key exchange without a 16-byte session key")
		}
		c, _ := rc4.NewCipher(exported)
		dec := make([]byte, 16)
		c.XORKeyStream(dec, m.EncryptedRandomSessionKey)
		exported = dec
	}
	if m.MIC != nil {
		zeroed := append([]byte(nil), m.raw...)
		clear(zeroed[m.micOffset : m.micOffset+16])
		if !hmac.Equal(m.MIC, hmacMD5(exported, h.negotiate, h.challenge, zeroed)) {
			return nil, errors.New("ntlm: message integrity code does not match")
		}
	}
	return &Result{User: m.User, Domain: m.Domain, Workstation: m.Workstation, Flags: flags, ExportedSessionKey: exported}, nil
}
