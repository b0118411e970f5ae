// Package ntlm is the acceptor (server) side of NTLMv2 authentication as
// MS-NLMP describes it: it parses NEGOTIATE messages, issues CHALLENGE
// messages with target information, verifies AUTHENTICATE messages
// (NTProofStr and, when the client sends one, the MIC) against a password
// lookup, and derives the session keys for NTLMv2 session security
// (signing and sealing, MS-NLMP 3.4) that WinRM message encryption uses.
// It also unwraps and wraps the SPNEGO tokens that some clients put around
// NTLM under HTTP Negotiate. Only NTLMv2 with Unicode strings is accepted;
// NTLMv1, LM and anonymous logons are refused.
package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"strings"
	"unicode/utf16"

	//lint:ignore SA1019 NTLM's NTOWFv2 is defined over MD4 (MS-NLMP 3.3.2); no other hash interoperates
	"golang.org/x/crypto/md4"
)

// Negotiate flags (MS-NLMP 2.2.2.5).
const (
	FlagUnicode                 uint32 = 0x00000001
	FlagOEM                     uint32 = 0x00000002
	FlagRequestTarget           uint32 = 0x00000004
	FlagSign                    uint32 = 0x00000010
	FlagSeal                    uint32 = 0x00000020
	FlagDatagram                uint32 = 0x00000040
	FlagLMKey                   uint32 = 0x00000080
	FlagNTLM                    uint32 = 0x00000200
	FlagAnonymous               uint32 = 0x00000800
	FlagOEMDomainSupplied       uint32 = 0x00001000
	FlagOEMWorkstationSupplied  uint32 = 0x00002000
	FlagAlwaysSign              uint32 = 0x00008000
	FlagTargetTypeDomain        uint32 = 0x00010000
	FlagTargetTypeServer        uint32 = 0x00020000
	FlagExtendedSessionSecurity uint32 = 0x00080000
	FlagIdentify                uint32 = 0x00100000
	FlagNonNTSessionKey         uint32 = 0x00400000
	FlagTargetInfo              uint32 = 0x00800000
	FlagVersion                 uint32 = 0x02000000
	Flag128                     uint32 = 0x20000000
	FlagKeyExch                 uint32 = 0x40000000
	Flag56                      uint32 = 0x80000000
)

// AV pair identifiers (MS-NLMP 2.2.2.1).
const (
	AvEOL             uint16 = 0
	AvNbComputerName  uint16 = 1
	AvNbDomainName    uint16 = 2
	AvDNSComputerName uint16 = 3
	AvDNSDomainName   uint16 = 4
	AvDNSTreeName     uint16 = 5
	AvFlags           uint16 = 6
	AvTimestamp       uint16 = 7
	AvSingleHost      uint16 = 8
	AvTargetName      uint16 = 9
	AvChannelBindings uint16 = 10
)

// avFlagMICPresent is the MsvAvFlags bit saying the AUTHENTICATE message
// carries a MIC.
const avFlagMICPresent = 0x00000002

var signature = []byte("NTLMSSP\x00")

// NTOWFv2 is the NTLMv2 response key: HMAC-MD5 keyed with the MD4 of the
// UTF-16LE password over UTF-16LE(UPPER(user) + domain) (MS-NLMP 3.3.2).
func NTOWFv2(user, domain, password string) []byte {
	return hmacMD5(ntHash(password), utf16le(strings.ToUpper(user)+domain))
}

func ntHash(password string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return h.Sum(nil)
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(nil)
}

func md5Sum(data ...[]byte) []byte {
	h := md5.New()
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// AVPair is one attribute-value pair of target information.
type AVPair struct {
	ID    uint16
	Value []byte
}

// ParseAVPairs reads target information up to and including MsvAvEOL.
func ParseAVPairs(b []byte) ([]AVPair, error) {
	var out []AVPair
	for {
		if len(b) < 4 {
			return nil, errMalformed("target info truncated")
		}
		id := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		b = b[4:]
		if id == AvEOL {
			return out, nil
		}
		if n > len(b) {
			return nil, errMalformed("AV pair longer than target info")
		}
		out = append(out, AVPair{ID: id, Value: b[:n]})
		b = b[n:]
	}
}

// MarshalAVPairs renders pairs followed by MsvAvEOL.
func MarshalAVPairs(pairs []AVPair) []byte {
	var b []byte
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint16(b, p.ID)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p.Value)))
		b = append(b, p.Value...)
	}
	return append(b, 0, 0, 0, 0)
}

type errMalformed string

func (e errMalformed) Error() string { return "ntlm: malformed message: " + string(e) }
