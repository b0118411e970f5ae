package kerberos

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// RFC 4121 §4.2.2 flags of a per-message token.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

const (
	wrapHeaderLen = 16
	// MaxToken bounds a wrap token Unwrap accepts (a WinRM envelope is
	// at most a few hundred KiB; 64 MiB leaves room and bounds memory).
	MaxToken = 64 << 20
)

var wrapTokID = []byte{0x05, 0x04}

// Context is one established Kerberos security context: its keys, its
// direction and its two sequence counters. It belongs to one TCP
// connection (as pypsrp's negotiate.py and openwec keep one context per
// connection). Its methods are safe for concurrent use, but
// WinRM's strict ordering means a connection's messages must be wrapped
// and unwrapped in the order they travel.
type Context struct {
	mu sync.Mutex
	// initiator is true on the client side.
	initiator bool
	// key is the wrap key: the acceptor subkey when acceptorSubkey,
	// else the initiator's authenticator subkey, else the ticket session
	// key (RFC 4121 §2).
	key            types.EncryptionKey
	et             etype.EType
	acceptorSubkey bool
	sendSeq        uint64
	recvSeq        uint64
	// peer is the other side's principal: the client's on the acceptor,
	// the service's on the initiator.
	peer string
}

// newContext checks that key's enctype is one this package can seal with.
func newContext(initiator bool, key types.EncryptionKey, acceptorSubkey bool, sendSeq, recvSeq uint64, peer string) (*Context, error) {
	if !sealable(key.KeyType) {
		return nil, fmt.Errorf("kerberos: the context key has enctype %s; WinRM message encryption here needs an AES enctype (aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 or aes128-cts-hmac-sha256-128), not RC4 or DES: allow AES for the account and the service",
			etypeName(key.KeyType))
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("kerberos: enctype %d: %w", key.KeyType, err)
	}
	if len(key.KeyValue) != et.GetKeyByteSize() {
		return nil, fmt.Errorf("kerberos: the context key is %d bytes, enctype %s needs %d", len(key.KeyValue), etypeName(key.KeyType), et.GetKeyByteSize())
	}
	return &Context{initiator: initiator, key: key, et: et, acceptorSubkey: acceptorSubkey, sendSeq: sendSeq, recvSeq: recvSeq, peer: peer}, nil
}

// sealable reports whether Context can seal with enctype id: the AES
// enctypes, whose RFC 4121 tokens this package writes. RC4-HMAC contexts
// use the different RFC 4757 token and are refused.
// aes256-cts-hmac-sha384-192 (20) is left out: gokrb5 v8.4.4 reports its
// key as 24 bytes instead of RFC 8009's 32 and refuses real keys; an
// initiator with such a session key asks for an aes256-sha1 subkey.
func sealable(id int32) bool {
	switch id {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128:
		return true
	}
	return false
}

func etypeName(id int32) string {
	switch id {
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		return "aes128-cts-hmac-sha1-96"
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		return "aes256-cts-hmac-sha1-96"
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		return "aes128-cts-hmac-sha256-128"
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		return "aes256-cts-hmac-sha384-192"
	case etypeID.RC4_HMAC:
		return "rc4-hmac"
	case etypeID.DES3_CBC_SHA1_KD:
		return "des3-cbc-sha1"
	}
	return fmt.Sprintf("enctype %d", id)
}

// Peer is the other side's principal name: the client (e.g.
// "alice@LAB.TEST") on the acceptor, the service on the initiator.
func (c *Context) Peer() string { return c.peer }

// Initiator reports whether this is the client side of the context.
func (c *Context) Initiator() bool { return c.initiator }

// EncType is the enctype of the wrap key (e.g. 18 for aes256-cts-hmac-sha1-96).
func (c *Context) EncType() int32 { return c.key.KeyType }

// Sequence returns the next sequence number this side will send and the
// next one it expects to receive.
func (c *Context) Sequence() (send, recv uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendSeq, c.recvSeq
}

func (c *Context) sealUsage(sentByAcceptor bool) uint32 {
	if sentByAcceptor {
		return keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	return keyusage.GSSAPI_INITIATOR_SEAL
}

// rrc is the right rotation count Windows uses for a sealed token with
// EC 0: the encrypted header copy (16) and the checksum (12 for the
// SHA-1 enctypes, giving 28) (MS-KILE 3.4.5.4.1; MIT k5sealv3iov.c).
func (c *Context) rrc() int { return wrapHeaderLen + c.et.GetHMACBitLength()/8 }

// Wrap seals plaintext into one RFC 4121 wrap token with confidentiality:
// the 16-byte header (EC 0, RRC 28 for the SHA-1 enctypes) followed by the
// rotated ciphertext, and advances the send sequence number.
func (c *Context) Wrap(plaintext []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	flags := byte(flagSealed)
	if !c.initiator {
		flags |= flagSentByAcceptor
	}
	if c.acceptorSubkey {
		flags |= flagAcceptorSubkey
	}
	hdr := make([]byte, wrapHeaderLen)
	copy(hdr, wrapTokID)
	hdr[2] = flags
	hdr[3] = 0xFF
	// EC (hdr[4:6]) is 0; RRC (hdr[6:8]) is 0 in the encrypted copy.
	binary.BigEndian.PutUint64(hdr[8:], c.sendSeq)
	pt := make([]byte, 0, len(plaintext)+wrapHeaderLen)
	pt = append(pt, plaintext...)
	pt = append(pt, hdr...)
	_, ct, err := c.et.EncryptMessage(c.key.KeyValue, pt, c.sealUsage(!c.initiator))
	if err != nil {
		return nil, fmt.Errorf("kerberos: sealing a message: %w", err)
	}
	rrc := c.rrc()
	binary.BigEndian.PutUint16(hdr[6:], uint16(rrc))
	tok := make([]byte, 0, wrapHeaderLen+len(ct))
	tok = append(tok, hdr...)
	tok = append(tok, ct[len(ct)-rrc:]...)
	tok = append(tok, ct[:len(ct)-rrc]...)
	c.sendSeq++
	return tok, nil
}

// WrapMessage is Wrap split as WinRM frames it (MS-WSMV 2.2.9.1.1.2.2):
// header is the token up to the encrypted data (60 bytes for the SHA-1
// enctypes), encrypted is exactly len(plain) bytes — the Length written in
// OriginalContent. It has the signature of the WS-Management client's
// GSSWrapper.
func (c *Context) WrapMessage(plain []byte) (header, encrypted []byte, err error) {
	tok, err := c.Wrap(plain)
	if err != nil {
		return nil, nil, err
	}
	n := len(tok) - len(plain)
	return tok[:n:n], tok[n:], nil
}

// UnwrapMessage joins a WinRM header and its encrypted data and unwraps
// them (the inverse of WrapMessage).
func (c *Context) UnwrapMessage(header, encrypted []byte) ([]byte, error) {
	if len(header) > MaxToken || len(encrypted) > MaxToken-len(header) {
		return nil, &WrapError{Reason: "the token is larger than the limit"}
	}
	tok := make([]byte, 0, len(header)+len(encrypted))
	tok = append(tok, header...)
	tok = append(tok, encrypted...)
	return c.Unwrap(tok)
}

// WrapError is a wrap token Unwrap refused: malformed, failing its
// integrity check, from the wrong direction, or out of sequence.
type WrapError struct {
	// Reason says what is wrong.
	Reason string
	// Seq and Expected are set for a sequence error.
	Seq, Expected uint64
}

func (e *WrapError) Error() string { return "kerberos: bad wrap token: " + e.Reason }

// ErrReplay and ErrGap are what a WrapError with a sequence problem
// matches with errors.Is.
var (
	ErrReplay = errors.New("kerberos: wrap token replayed or out of order")
	ErrGap    = errors.New("kerberos: wrap token ahead of the expected sequence number (a message was lost)")
)

// Is lets errors.Is(err, ErrReplay/ErrGap) classify sequence errors.
func (e *WrapError) Is(target error) bool {
	if e.Seq == e.Expected {
		return false
	}
	if target == ErrReplay {
		return e.Seq < e.Expected
	}
	if target == ErrGap {
		return e.Seq > e.Expected
	}
	return false
}

// ParsedWrap is the header of a wrap token.
type ParsedWrap struct {
	Flags byte
	EC    uint16
	RRC   uint16
	Seq   uint64
	// Body is the (rotated) ciphertext after the 16-byte header.
	Body []byte
}

// ParseWrapHeader checks and splits the 16-byte header of an RFC 4121
// wrap token without decrypting it.
func ParseWrapHeader(tok []byte) (ParsedWrap, error) {
	if len(tok) > MaxToken {
		return ParsedWrap{}, &WrapError{Reason: fmt.Sprintf("%d bytes is larger than the limit %d", len(tok), MaxToken)}
	}
	if len(tok) < wrapHeaderLen {
		return ParsedWrap{}, &WrapError{Reason: fmt.Sprintf("%d bytes is shorter than the 16-byte header", len(tok))}
	}
	if !bytes.Equal(tok[:2], wrapTokID) {
		return ParsedWrap{}, &WrapError{Reason: "TOK_ID is " + hex.EncodeToString(tok[:2]) + ", want 0504"}
	}
	if tok[3] != 0xFF {
		return ParsedWrap{}, &WrapError{Reason: fmt.Sprintf("filler byte is %#02x, want 0xff", tok[3])}
	}
	if tok[2]&^(flagSentByAcceptor|flagSealed|flagAcceptorSubkey) != 0 {
		return ParsedWrap{}, &WrapError{Reason: fmt.Sprintf("unknown flags %#02x", tok[2])}
	}
	return ParsedWrap{
		Flags: tok[2],
		EC:    binary.BigEndian.Uint16(tok[4:6]),
		RRC:   binary.BigEndian.Uint16(tok[6:8]),
		Seq:   binary.BigEndian.Uint64(tok[8:16]),
		Body:  tok[wrapHeaderLen:],
	}, nil
}

// Unwrap verifies and decrypts one sealed wrap token from the peer and
// advances the receive sequence number. It accepts any RRC and EC: the
// physical rotation is RRC+EC when RRC is 16+checksum length (Windows'
// convention, MS-KILE 3.4.5.4.1), else RRC (RFC 4121 §4.2.5), as MIT's
// k5sealv3iov.c reads them. Tokens without
// confidentiality are refused: the context was negotiated with
// confidentiality and WinRM over http must not accept plaintext.
func (c *Context) Unwrap(tok []byte) (out []byte, err error) {
	defer guard(&err, "unwrap")
	p, err := ParseWrapHeader(tok)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fromAcceptor := p.Flags&flagSentByAcceptor != 0
	if fromAcceptor != c.initiator {
		if c.initiator {
			return nil, &WrapError{Reason: "the token was sent by an initiator, not by the server (reflected?)"}
		}
		return nil, &WrapError{Reason: "the token was sent by an acceptor, not by the client (reflected?)"}
	}
	if p.Flags&flagSealed == 0 {
		return nil, &WrapError{Reason: "the token is not sealed (no confidentiality); WinRM message encryption requires it"}
	}
	if (p.Flags&flagAcceptorSubkey != 0) != c.acceptorSubkey {
		if c.acceptorSubkey {
			return nil, &WrapError{Reason: "AcceptorSubkey flag missing although the server asserted a subkey"}
		}
		return nil, &WrapError{Reason: "AcceptorSubkey flag set but the server asserted no subkey"}
	}
	hmacLen := c.et.GetHMACBitLength() / 8
	ec := int(p.EC)
	rot := int(p.RRC)
	if rot == wrapHeaderLen+hmacLen {
		rot += ec
	}
	body := p.Body
	minLen := c.et.GetConfounderByteSize() + ec + wrapHeaderLen + hmacLen
	if len(body) < minLen {
		return nil, &WrapError{Reason: fmt.Sprintf("%d bytes of ciphertext is shorter than the minimum %d", len(body), minLen)}
	}
	rot %= len(body)
	ct := make([]byte, 0, len(body))
	ct = append(ct, body[rot:]...)
	ct = append(ct, body[:rot]...)
	pt, err := c.et.DecryptMessage(c.key.KeyValue, ct, c.sealUsage(fromAcceptor))
	if err != nil {
		return nil, &WrapError{Reason: "decryption or integrity check failed (wrong key, or tampered): " + err.Error()}
	}
	if len(pt) < ec+wrapHeaderLen {
		return nil, &WrapError{Reason: "the decrypted data is shorter than its filler and header copy"}
	}
	cp := pt[len(pt)-wrapHeaderLen:]
	// The copy must match the outer header in TOK_ID, flags, filler, EC
	// and SND_SEQ; its RRC is 0 by RFC 4121 and not compared (as MIT).
	if !bytes.Equal(cp[0:6], tok[0:6]) || !bytes.Equal(cp[8:16], tok[8:16]) {
		return nil, &WrapError{Reason: "the encrypted header copy does not match the token header"}
	}
	if p.Seq != c.recvSeq {
		reason := fmt.Sprintf("sequence number %d, expected %d", p.Seq, c.recvSeq)
		if p.Seq < c.recvSeq {
			reason += " (replayed or reordered)"
		} else {
			reason += " (a message was lost)"
		}
		return nil, &WrapError{Reason: reason, Seq: p.Seq, Expected: c.recvSeq}
	}
	c.recvSeq++
	return pt[:len(pt)-ec-wrapHeaderLen], nil
}
