package ntlm

import (
	"bytes"
	"encoding/asn1"
	"errors"
)

var (
	oidSPNEGO = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}
	oidNTLM   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
)

type negTokenInit struct {
	MechTypes   []asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
	ReqFlags    asn1.BitString          `asn1:"explicit,optional,tag:1"`
	MechToken   []byte                  `asn1:"explicit,optional,tag:2"`
	MechListMIC []byte                  `asn1:"explicit,optional,tag:3"`
}

type negTokenResp struct {
	NegState      asn1.Enumerated       `asn1:"explicit,optional,tag:0"`
	SupportedMech asn1.ObjectIdentifier `asn1:"explicit,optional,tag:1"`
	ResponseToken []byte                `asn1:"explicit,optional,tag:2"`
	MechListMIC   []byte                `asn1:"explicit,optional,tag:3"`
}

// Unwrap returns the NTLM message inside an HTTP Negotiate token. A raw
// NTLMSSP message (what most WinRM clients send) is returned as it is with
// wrapped false; a SPNEGO NegTokenInit offering NTLM, or a NegTokenResp,
// yields its inner token with wrapped true.
func Unwrap(token []byte) (msg []byte, wrapped bool, err error) {
	if bytes.HasPrefix(token, signature) {
		return token, false, nil
	}
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(token, &outer)
	if err != nil || len(rest) != 0 {
		return nil, false, errors.New("ntlm: token is neither NTLMSSP nor SPNEGO")
	}
	switch {
	case outer.Class == asn1.ClassApplication && outer.Tag == 0:
		var oid asn1.ObjectIdentifier
		inner, err := asn1.Unmarshal(outer.Bytes, &oid)
		if err != nil || !oid.Equal(oidSPNEGO) {
			return nil, false, errors.New("ntlm: not a SPNEGO token")
		}
		var ctx asn1.RawValue
		if _, err := asn1.Unmarshal(inner, &ctx); err != nil || ctx.Class != asn1.ClassContextSpecific || ctx.Tag != 0 {
			return nil, false, errors.New("ntlm: SPNEGO token without NegTokenInit")
		}
		var init negTokenInit
		if _, err := asn1.Unmarshal(ctx.Bytes, &init); err != nil {
			return nil, false, errors.New("ntlm: malformed NegTokenInit")
		}
		offered := false
		for _, m := range init.MechTypes {
			offered = offered || m.Equal(oidNTLM)
		}
		if !offered || len(init.MechToken) == 0 {
			return nil, false, errors.New("ntlm: SPNEGO token does not offer NTLM")
		}
		if !bytes.HasPrefix(init.MechToken, signature) {
			return nil, false, errors.New("ntlm: SPNEGO token's first mechanism is not NTLM")
		}
		return init.MechToken, true, nil
	case outer.Class == asn1.ClassContextSpecific && outer.Tag == 1:
		var resp negTokenResp
		if _, err := asn1.Unmarshal(outer.Bytes, &resp); err != nil || !bytes.HasPrefix(resp.ResponseToken, signature) {
			return nil, false, errors.New("ntlm: malformed NegTokenResp")
		}
		return resp.ResponseToken, true, nil
	}
	return nil, false, errors.New("ntlm: token is neither NTLMSSP nor SPNEGO")
}

// SPNEGO negotiation states (RFC 4178).
const (
	AcceptCompleted  = 0
	AcceptIncomplete = 1
	Reject           = 2
)

// WrapResponse puts an NTLM message (possibly empty) in a SPNEGO
// NegTokenResp with the given state, naming NTLM as the chosen mechanism.
func WrapResponse(state int, msg []byte) []byte {
	var fields []byte
	add := func(tag int, v []byte) {
		b, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: v})
		fields = append(fields, b...)
	}
	st, _ := asn1.Marshal(asn1.Enumerated(state))
	add(0, st)
	if state == AcceptIncomplete {
		oid, _ := asn1.Marshal(oidNTLM)
		add(1, oid)
	}
	if len(msg) > 0 {
		tok, _ := asn1.Marshal(msg)
		add(2, tok)
	}
	seq, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: fields})
	out, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: seq})
	return out
}
