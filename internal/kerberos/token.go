package kerberos

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Scheme is the HTTP authentication scheme of the handshake: Negotiate
// carries SPNEGO tokens, Kerberos raw Kerberos GSS tokens (RFC 4559;
// MS-WSMV 2.2.9.1.2.1).
type Scheme string

// The two schemes WinRM accepts for Kerberos.
const (
	SchemeNegotiate Scheme = "Negotiate"
	SchemeKerberos  Scheme = "Kerberos"
)

// Protocol is the multipart/encrypted protocol string that goes with the
// scheme (MS-WSMV 2.2.9.1.1.1, 2.2.9.1.2.1): it follows the HTTP scheme,
// not the mechanism, as pypsrp's wsman.py picks it.
func (s Scheme) Protocol() string {
	if s == SchemeKerberos {
		return ProtocolKerberos
	}
	return ProtocolSPNEGO
}

// ChooseScheme picks the scheme to answer a 401 with from its
// WWW-Authenticate values: Negotiate when offered (what pywinrm and
// Windows use), else Kerberos (Exchange with Negotiate disabled, as
// pypsrp handles it). ok is false when neither is offered.
func ChooseScheme(wwwAuthenticate []string) (Scheme, bool) {
	var kerberos bool
	for _, v := range wwwAuthenticate {
		for _, c := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(c), " ")
			switch {
			case strings.EqualFold(name, string(SchemeNegotiate)):
				return SchemeNegotiate, true
			case strings.EqualFold(name, string(SchemeKerberos)):
				kerberos = true
			}
		}
	}
	if kerberos {
		return SchemeKerberos, true
	}
	return "", false
}

// AuthHeader formats "<scheme> <base64 token>" for Authorization or
// WWW-Authenticate.
func AuthHeader(s Scheme, token []byte) string {
	return string(s) + " " + base64.StdEncoding.EncodeToString(token)
}

// maxHeaderToken bounds a base64 token taken from an HTTP header.
const maxHeaderToken = 64 << 10

// TokenFromHeader finds the token of scheme s in the header values
// (Authorization or WWW-Authenticate); found is false when the scheme is
// absent, token is nil when the scheme comes without a token.
func TokenFromHeader(values []string, s Scheme) (token []byte, found bool, err error) {
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			name, rest, _ := strings.Cut(strings.TrimSpace(c), " ")
			if !strings.EqualFold(name, string(s)) {
				continue
			}
			rest = strings.TrimSpace(rest)
			if rest == "" {
				return nil, true, nil
			}
			if len(rest) > maxHeaderToken {
				return nil, true, fmt.Errorf("kerberos: the %s token is %d characters, more than the limit %d", s, len(rest), maxHeaderToken)
			}
			b, err := base64.StdEncoding.DecodeString(rest)
			if err != nil {
				return nil, true, fmt.Errorf("kerberos: the %s token is not base64: %w", s, err)
			}
			return b, true, nil
		}
	}
	return nil, false, nil
}

// SchemeOf returns the scheme of an Authorization header value.
func SchemeOf(r *http.Request) (Scheme, bool) {
	name, _, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	switch {
	case strings.EqualFold(name, string(SchemeNegotiate)):
		return SchemeNegotiate, true
	case strings.EqualFold(name, string(SchemeKerberos)):
		return SchemeKerberos, true
	}
	return "", false
}

// GSS-API KRB5 inner token ids (RFC 4121 §4.1).
var (
	tokAPReq    = [2]byte{0x01, 0x00}
	tokAPRep    = [2]byte{0x02, 0x00}
	tokKRBError = [2]byte{0x03, 0x00}
)

var (
	oidKRB5   = gssapi.OIDKRB5.OID()
	oidMSKRB5 = gssapi.OIDMSLegacyKRB5.OID()
	oidSPNEGO = gssapi.OIDSPNEGO.OID()
)

func isKRB5OID(o asn1.ObjectIdentifier) bool { return o.Equal(oidKRB5) || o.Equal(oidMSKRB5) }

// marshalKRB5Token frames a Kerberos message as a GSS-API token (RFC 2743
// §3.1, RFC 4121 §4.1): [APPLICATION 0] { OID, TOK_ID, message }.
func marshalKRB5Token(tokID [2]byte, msg []byte) []byte {
	b, _ := asn1.Marshal(oidKRB5)
	b = append(b, tokID[:]...)
	b = append(b, msg...)
	return asn1tools.AddASNAppTag(b, 0)
}

// parseKRB5Token reads a GSS-API KRB5 token; both the standard and the
// Microsoft legacy OID are accepted.
func parseKRB5Token(b []byte) (tokID [2]byte, msg []byte, err error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(b, &oid, "application,explicit,tag:0")
	if err != nil {
		return tokID, nil, fmt.Errorf("not a GSS-API Kerberos token: %v", err)
	}
	if !isKRB5OID(oid) {
		return tokID, nil, fmt.Errorf("the GSS-API token's mechanism is %s, not Kerberos", oid)
	}
	if len(rest) < 2 {
		return tokID, nil, fmt.Errorf("the Kerberos token has no TOK_ID")
	}
	copy(tokID[:], rest[:2])
	return tokID, rest[2:], nil
}

// gssChecksum builds the RFC 4121 §4.1.1 authenticator checksum (type
// 0x8003) with zero channel bindings and the context flags.
func gssChecksum(flags uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:], 16)
	binary.LittleEndian.PutUint32(b[20:], flags)
	return b
}

// The GSS context flags the initiator requests (RFC 2744): mutual, replay,
// sequence, confidentiality, integrity — pyspnego's default set.
const (
	gssMutual   = 2
	gssReplay   = 4
	gssSequence = 8
	gssConf     = 16
	gssInteg    = 32
	gssRequest  = gssMutual | gssReplay | gssSequence | gssConf | gssInteg
	gssCksumLen = 24
	gssCksumTyp = 0x8003
)

// encAPRepPart is EncAPRepPart for marshalling (gokrb5 only unmarshals it).
type encAPRepPart struct {
	CTime          time.Time           `asn1:"generalized,explicit,tag:0"`
	Cusec          int                 `asn1:"explicit,tag:1"`
	Subkey         types.EncryptionKey `asn1:"optional,explicit,tag:2"`
	SequenceNumber int64               `asn1:"optional,explicit,tag:3"`
}

type apRep struct {
	PVNO    int                 `asn1:"explicit,tag:0"`
	MsgType int                 `asn1:"explicit,tag:1"`
	EncPart types.EncryptedData `asn1:"explicit,tag:2"`
}

func marshalEncAPRepPart(p encAPRepPart) ([]byte, error) {
	b, err := asn1.Marshal(p)
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart), nil
}

func marshalAPRep(enc types.EncryptedData) ([]byte, error) {
	b, err := asn1.Marshal(apRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: enc})
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.APREP), nil
}

// krbErrorOf decodes a KRB-ERROR message.
func krbErrorOf(msg []byte) (messages.KRBError, error) {
	var ke messages.KRBError
	if err := ke.Unmarshal(msg); err != nil {
		return ke, fmt.Errorf("undecodable KRB-ERROR: %v", err)
	}
	return ke, nil
}

// seq32 reads an ASN.1 sequence number as the unsigned 32-bit value it is
// (some implementations encode numbers ≥ 2^31 as negative INTEGERs).
func seq32(v int64) uint64 { return uint64(uint32(v)) }

// checkCipher refuses an EncryptedData too short to hold a confounder and
// a checksum: gokrb5 v8.4.4's decryption slices out of range (panics) on
// such input, which a peer controls.
func checkCipher(what string, ed types.EncryptedData) error {
	et, err := crypto.GetEtype(ed.EType)
	if err != nil {
		return fmt.Errorf("%s: unsupported enctype %d", what, ed.EType)
	}
	if min := et.GetConfounderByteSize() + et.GetHMACBitLength()/8; len(ed.Cipher) < min {
		return fmt.Errorf("%s: %d bytes of ciphertext, fewer than the %d an %s message needs", what, len(ed.Cipher), min, etypeName(ed.EType))
	}
	return nil
}

// guard turns a panic inside gokrb5 on peer-controlled bytes into an
// error, so a malformed token cannot crash the process (the length checks
// above cover the panics known in v8.4.4; this is the net under them).
func guard(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("kerberos: %s: malformed input made the Kerberos library fail: %v", what, r)
	}
}
