package ntlm

import (
	"bytes"
	"encoding/binary"
)

// Message types.
const (
	TypeNegotiate    uint32 = 1
	TypeChallenge    uint32 = 2
	TypeAuthenticate uint32 = 3
)

// MessageType returns the type of an NTLM message, or an error when b does
// not start with the NTLMSSP signature.
func MessageType(b []byte) (uint32, error) {
	if len(b) < 12 || !bytes.Equal(b[:8], signature) {
		return 0, errMalformed("no NTLMSSP signature")
	}
	return binary.LittleEndian.Uint32(b[8:]), nil
}

// Negotiate is a parsed NEGOTIATE message (MS-NLMP 2.2.1.1).
type Negotiate struct {
	Flags       uint32
	Domain      string
	Workstation string
}

// ParseNegotiate parses a NEGOTIATE message.
func ParseNegotiate(b []byte) (*Negotiate, error) {
	t, err := MessageType(b)
	if err != nil {
		return nil, err
	}
	if t != TypeNegotiate {
		return nil, errMalformed("not a NEGOTIATE message")
	}
	if len(b) < 16 {
		return nil, errMalformed("NEGOTIATE too short")
	}
	m := &Negotiate{Flags: binary.LittleEndian.Uint32(b[12:])}
	if len(b) >= 32 {
		// The domain and workstation are OEM strings when supplied.
		if m.Flags&FlagOEMDomainSupplied != 0 {
			d, err := field(b, 16)
			if err != nil {
				return nil, err
			}
			m.Domain = string(d)
		}
		if m.Flags&FlagOEMWorkstationSupplied != 0 {
			w, err := field(b, 24)
			if err != nil {
				return nil, err
			}
			m.Workstation = string(w)
		}
	}
	return m, nil
}

// field reads the payload a security-buffer descriptor at off points to.
func field(b []byte, off int) ([]byte, error) {
	if off+8 > len(b) {
		return nil, errMalformed("field descriptor beyond message")
	}
	n := int(binary.LittleEndian.Uint16(b[off:]))
	start := int(binary.LittleEndian.Uint32(b[off+4:]))
	if n == 0 {
		return nil, nil
	}
	if start < 0 || start > len(b) || n > len(b)-start {
		return nil, errMalformed("field beyond message")
	}
	return b[start : start+n], nil
}

// Challenge is the content of a CHALLENGE message (MS-NLMP 2.2.1.2).
type Challenge struct {
	Flags           uint32
	TargetName      string
	ServerChallenge [8]byte
	TargetInfo      []AVPair
}

// version is the VERSION structure the acceptor announces: Windows Server
// 2019 (10.0 build 17763), NTLM revision 15.
var version = []byte{10, 0, 0x63, 0x45, 0, 0, 0, 0x0f}

// Marshal renders a CHALLENGE message. Strings are Unicode.
func (c *Challenge) Marshal() []byte {
	const hdr = 56
	name := utf16le(c.TargetName)
	info := MarshalAVPairs(c.TargetInfo)
	b := make([]byte, hdr, hdr+len(name)+len(info))
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], TypeChallenge)
	binary.LittleEndian.PutUint16(b[12:], uint16(len(name)))
	binary.LittleEndian.PutUint16(b[14:], uint16(len(name)))
	binary.LittleEndian.PutUint32(b[16:], hdr)
	binary.LittleEndian.PutUint32(b[20:], c.Flags)
	copy(b[24:], c.ServerChallenge[:])
	binary.LittleEndian.PutUint16(b[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(b[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(b[44:], uint32(hdr+len(name)))
	copy(b[48:], version)
	b = append(b, name...)
	return append(b, info...)
}

// ParseChallenge parses a CHALLENGE message. The acceptor does not need it;
// it exists so that tests and fuzzing can check Marshal round-trips.
func ParseChallenge(b []byte) (*Challenge, error) {
	t, err := MessageType(b)
	if err != nil {
		return nil, err
	}
	if t != TypeChallenge {
		return nil, errMalformed("not a CHALLENGE message")
	}
	if len(b) < 48 {
		return nil, errMalformed("CHALLENGE too short")
	}
	c := &Challenge{Flags: binary.LittleEndian.Uint32(b[20:])}
	copy(c.ServerChallenge[:], b[24:32])
	name, err := field(b, 12)
	if err != nil {
		return nil, err
	}
	if c.Flags&FlagUnicode != 0 {
		c.TargetName = fromUTF16le(name)
	} else {
		c.TargetName = string(name)
	}
	info, err := field(b, 40)
	if err != nil {
		return nil, err
	}
	if len(info) > 0 {
		if c.TargetInfo, err = ParseAVPairs(info); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Authenticate is a parsed AUTHENTICATE message (MS-NLMP 2.2.1.3).
type Authenticate struct {
	Flags                     uint32
	LmChallengeResponse       []byte
	NtChallengeResponse       []byte
	Domain                    string
	User                      string
	Workstation               string
	EncryptedRandomSessionKey []byte
	// MIC is the message integrity code, and micOffset where it sits in
	// the raw message; both are set only when the NTLMv2 response's
	// MsvAvFlags says a MIC is present.
	MIC       []byte
	micOffset int
	raw       []byte
}

// ParseAuthenticate parses an AUTHENTICATE message.
func ParseAuthenticate(b []byte) (*Authenticate, error) {
	t, err := MessageType(b)
	if err != nil {
		return nil, err
	}
	if t != TypeAuthenticate {
		return nil, errMalformed("not an AUTHENTICATE message")
	}
	if len(b) < 64 {
		return nil, errMalformed("AUTHENTICATE too short")
	}
	m := &Authenticate{Flags: binary.LittleEndian.Uint32(b[60:]), raw: b}
	var dom, user, ws []byte
	for _, f := range []struct {
		off int
		dst *[]byte
	}{{12, &m.LmChallengeResponse}, {20, &m.NtChallengeResponse}, {28, &dom}, {36, &user}, {44, &ws}, {52, &m.EncryptedRandomSessionKey}} {
		v, err := field(b, f.off)
		if err != nil {
			return nil, err
		}
		*f.dst = v
	}
	if m.Flags&FlagUnicode != 0 {
		if len(dom)%2 != 0 || len(user)%2 != 0 || len(ws)%2 != 0 {
			return nil, errMalformed("odd-length Unicode string")
		}
		m.Domain, m.User, m.Workstation = fromUTF16le(dom), fromUTF16le(user), fromUTF16le(ws)
	} else {
		m.Domain, m.User, m.Workstation = string(dom), string(user), string(ws)
	}
	if len(m.NtChallengeResponse) > 24 {
		// NTLMv2: NTProofStr(16) then the blob: RespType, HiRespType,
		// 6 reserved bytes, timestamp(8), client challenge(8), 4 reserved
		// bytes, AV pairs.
		if len(m.NtChallengeResponse) < 16+28 {
			return nil, errMalformed("NTLMv2 response too short")
		}
		pairs, err := ParseAVPairs(m.NtChallengeResponse[16+28:])
		if err != nil {
			return nil, err
		}
		for _, p := range pairs {
			if p.ID == AvFlags && len(p.Value) >= 4 && binary.LittleEndian.Uint32(p.Value)&avFlagMICPresent != 0 {
				// The MIC follows the VERSION field at offset 72.
				if len(b) < 88 {
					return nil, errMalformed("MIC announced but missing")
				}
				m.MIC = b[72:88]
				m.micOffset = 72
			}
		}
	}
	return m, nil
}
