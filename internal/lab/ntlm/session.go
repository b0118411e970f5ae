package ntlm

import (
	"crypto/hmac"
	"crypto/rc4"
	"encoding/binary"
	"errors"
	"sync"
)

// ErrSignature means a sealed or signed message failed verification.
var ErrSignature = errors.New("ntlm: message signature does not verify")

// Session is NTLMv2 session security (MS-NLMP 3.4) for one side of an
// authenticated connection: it seals and signs what this side sends and
// unseals and verifies what the peer sends, each direction with its own
// keys, RC4 state and sequence number. Only extended session security is
// supported, which is what every NTLMv2 client negotiates. Safe for
// concurrent use; calls are serialised because RC4 state is shared.
type Session struct {
	mu                 sync.Mutex
	flags              uint32
	sendSign, recvSign []byte
	sendSeal, recvSeal *rc4.Cipher
	sendSeq, recvSeq   uint32
}

// NewServerSession returns the acceptor's side of the session security
// that r negotiated.
func NewServerSession(r *Result) (*Session, error) {
	return newSession(r.Flags, r.ExportedSessionKey, false)
}

// NewClientSession returns the initiator's side; the lab uses it in tests
// to talk to its own acceptor.
func NewClientSession(flags uint32, exportedSessionKey []byte) (*Session, error) {
	return newSession(flags, exportedSessionKey, true)
}

const (
	c2sSign = "session key to client-to-server signing key magic constant\x00"
	s2cSign = "session key to server-to-client signing key magic constant\x00"
	c2sSeal = "session key to client-to-server sealing key magic constant\x00"
	s2cSeal = "session key to server-to-client sealing key magic constant\x00"
)

func newSession(flags uint32, key []byte, client bool) (*Session, error) {
	if flags&FlagExtendedSessionSecurity == 0 {
		return nil, errors.New("ntlm: session security needs extended session security")
	}
	if len(key) != 16 {
		return nil, errors.New("ntlm: session key must be 16 bytes")
	}
	sealBase := key
	switch {
	case flags&Flag128 != 0:
	case flags&Flag56 != 0:
		sealBase = key[:7]
	default:
		sealBase = key[:5]
	}
	cSign, sSign := md5Sum(key, []byte(c2sSign)), md5Sum(key, []byte(s2cSign))
	cSealC, _ := rc4.NewCipher(md5Sum(sealBase, []byte(c2sSeal)))
	sSealC, _ := rc4.NewCipher(md5Sum(sealBase, []byte(s2cSeal)))
	s := &Session{flags: flags}
	if client {
		s.sendSign, s.recvSign, s.sendSeal, s.recvSeal = cSign, sSign, cSealC, sSealC
	} else {
		s.sendSign, s.recvSign, s.sendSeal, s.recvSeal = sSign, cSign, sSealC, cSealC
	}
	return s, nil
}

// mac computes the 16-byte NTLMSSP_MESSAGE_SIGNATURE with extended session
// security, advancing the RC4 state when keys were exchanged.
func (s *Session) mac(signKey []byte, seal *rc4.Cipher, seq uint32, msg []byte) []byte {
	var seqb [4]byte
	binary.LittleEndian.PutUint32(seqb[:], seq)
	sum := hmacMD5(signKey, seqb[:], msg)[:8]
	if s.flags&FlagKeyExch != 0 {
		seal.XORKeyStream(sum, sum)
	}
	sig := make([]byte, 16)
	sig[0] = 1
	copy(sig[4:], sum)
	copy(sig[12:], seqb[:])
	return sig
}

// Seal encrypts msg for the peer and returns it with its signature.
func (s *Session) Seal(msg []byte) (sealed, sig []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sealed = make([]byte, len(msg))
	s.sendSeal.XORKeyStream(sealed, msg)
	sig = s.mac(s.sendSign, s.sendSeal, s.sendSeq, msg)
	s.sendSeq++
	return sealed, sig
}

// Unseal decrypts a message from the peer and verifies its signature.
func (s *Session) Unseal(sealed, sig []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(sig) != 16 {
		return nil, ErrSignature
	}
	msg := make([]byte, len(sealed))
	s.recvSeal.XORKeyStream(msg, sealed)
	want := s.mac(s.recvSign, s.recvSeal, s.recvSeq, msg)
	if !hmac.Equal(want, sig) {
		return nil, ErrSignature
	}
	s.recvSeq++
	return msg, nil
}
