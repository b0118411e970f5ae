package kerberos

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/service"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// AcceptorConfig configures the service side.
type AcceptorConfig struct {
	// KeytabFile holds the service principal's keys (or set Keytab).
	KeytabFile string
	// Keytab is an already loaded keytab; it wins over KeytabFile.
	Keytab *keytab.Keytab
	// SPN, when set ("HTTP/exch01.lab.test", optionally "@REALM"), is
	// the only principal tickets may be for; empty accepts a ticket for
	// any principal the keytab has a key for.
	SPN string
	// MaxClockSkew is the allowed difference between the client's clock
	// and ours (default 5 minutes, as MIT and Windows).
	MaxClockSkew time.Duration
}

// Acceptor verifies clients' AP-REQs with a keytab and answers with an
// AP-REP carrying an acceptor subkey. It keeps no per-client state (the
// replay cache is gokrb5's, process-wide) and is safe for concurrent use.
type Acceptor struct {
	kt   *keytab.Keytab
	spn  *types.PrincipalName
	skew time.Duration
}

// NewAcceptor loads the keytab.
func NewAcceptor(cfg AcceptorConfig) (*Acceptor, error) {
	kt := cfg.Keytab
	if kt == nil {
		if cfg.KeytabFile == "" {
			return nil, newError(KindConfig, "start the Kerberos acceptor", KeyServiceKeytab, "no keytab given", 0, nil)
		}
		var err error
		if kt, err = keytab.Load(cfg.KeytabFile); err != nil {
			return nil, newError(KindConfig, "read keytab "+cfg.KeytabFile, KeyServiceKeytab, "", 0, err)
		}
	}
	if len(kt.Entries) == 0 {
		return nil, newError(KindConfig, "start the Kerberos acceptor", KeyServiceKeytab, "the keytab has no keys", 0, nil)
	}
	a := &Acceptor{kt: kt, skew: cfg.MaxClockSkew}
	if a.skew <= 0 {
		a.skew = 5 * time.Minute
	}
	if cfg.SPN != "" {
		name, _, _ := strings.Cut(cfg.SPN, "@")
		pn := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, name)
		a.spn = &pn
	}
	return a, nil
}

// Accepted is a verified client.
type Accepted struct {
	// Client is the client principal, e.g. "alice@LAB.TEST".
	Client string
	// Context seals and opens this connection's messages.
	Context *Context
	// ResponseToken goes back in "WWW-Authenticate: <scheme> <base64>" on
	// the 200 that answers the authenticating request (AuthHeader). It is
	// the AP-REP (in a NegTokenResp for SPNEGO); for a client that did not
	// ask for mutual authentication, a bare accept-completed NegTokenResp
	// (SPNEGO) or nil (raw Kerberos).
	ResponseToken []byte
	// Mutual reports whether the client asked for mutual authentication.
	Mutual bool
}

// RejectError is an AP-REQ the acceptor refused. It wraps the *Error
// (KindRejected, KindClockSkew…) and carries the token to send back in
// the 401's "WWW-Authenticate: <scheme> <base64>" (a KRB-ERROR, in a
// NegTokenResp reject for SPNEGO), so the client can report why; nil when
// the request was not a Kerberos token at all.
type RejectError struct {
	Err           error
	ResponseToken []byte
}

func (e *RejectError) Error() string { return e.Err.Error() }
func (e *RejectError) Unwrap() error { return e.Err }

// Accept verifies the client's first token for scheme (the base64-decoded
// Authorization value): a SPNEGO NegTokenInit whose first mechanism is
// Kerberos, or a raw KRB5 AP-REQ token (accepted under both schemes, as
// pywinrm sends it under Negotiate). The reply mirrors the request's form.
func (a *Acceptor) Accept(scheme Scheme, token []byte) (acc *Accepted, err error) {
	op := "accept a Kerberos client"
	defer func() {
		if err != nil {
			acc = nil
		}
	}()
	defer guard(&err, op)
	mechTok := token
	var mech asn1.ObjectIdentifier
	spnegoForm := false
	var outer asn1.ObjectIdentifier
	if _, err := asn1.UnmarshalWithParams(token, &outer, "application,explicit,tag:0"); err != nil {
		return nil, &RejectError{Err: newError(KindRejected, op, "", "the token is not a GSS-API token", 0, err)}
	}
	if outer.Equal(oidSPNEGO) {
		var st spnego.SPNEGOToken
		if err := st.Unmarshal(token); err != nil || !st.Init {
			return nil, &RejectError{Err: newError(KindRejected, op, "", "the SPNEGO token is not a NegTokenInit", 0, err)}
		}
		init := st.NegTokenInit
		if len(init.MechTypes) == 0 || !isKRB5OID(init.MechTypes[0]) || len(init.MechTokenBytes) == 0 {
			offered := make([]string, len(init.MechTypes))
			for i, m := range init.MechTypes {
				offered[i] = m.String()
			}
			reply := negReject(nil, nil)
			return nil, &RejectError{ResponseToken: reply, Err: newError(KindRejected, op, "",
				fmt.Sprintf("the client's first mechanism is not Kerberos with an optimistic token (offered %s); only Kerberos is accepted", strings.Join(offered, ", ")), 0, nil)}
		}
		spnegoForm, mech, mechTok = true, init.MechTypes[0], init.MechTokenBytes
	}
	id, msg, err := parseKRB5Token(mechTok)
	if err != nil {
		return nil, &RejectError{Err: newError(KindRejected, op, "", "the Kerberos token", 0, err)}
	}
	if id != tokAPReq {
		return nil, &RejectError{Err: newError(KindRejected, op, "", fmt.Sprintf("the token has TOK_ID %x, want an AP-REQ (0100)", id), 0, nil)}
	}
	var apreq messages.APReq
	if err := apreq.Unmarshal(msg); err != nil {
		return nil, &RejectError{Err: newError(KindRejected, op, "", "the AP-REQ does not decode", 0, err)}
	}
	for _, c := range []struct {
		what string
		ed   types.EncryptedData
	}{{"the ticket", apreq.Ticket.EncPart}, {"the authenticator", apreq.EncryptedAuthenticator}} {
		if err := checkCipher(c.what, c.ed); err != nil {
			return nil, a.reject(op, &apreq, spnegoForm, mech, errorcode.KRB_AP_ERR_BAD_INTEGRITY, err)
		}
	}
	opts := []func(*service.Settings){service.DecodePAC(false), service.MaxClockSkew(a.skew)}
	if a.spn != nil {
		opts = append(opts, service.KeytabPrincipal(strings.Join(a.spn.NameString, "/")))
		if !apreq.Ticket.SName.Equal(*a.spn) {
			err := fmt.Errorf("the ticket is for %s, this service is %s", apreq.Ticket.SName.PrincipalNameString(), a.spn.PrincipalNameString())
			return nil, a.reject(op, &apreq, spnegoForm, mech, errorcode.KRB_AP_ERR_NOT_US, err)
		}
	}
	ok, creds, err := service.VerifyAPREQ(&apreq, service.NewSettings(a.kt, opts...))
	if err != nil || !ok {
		if err == nil {
			err = errors.New("the AP-REQ is not valid")
		}
		code := krbCode(err)
		if code == 0 {
			code = errorcode.KRB_AP_ERR_MODIFIED
			if strings.Contains(err.Error(), "matching key not found") || strings.Contains(err.Error(), "not found in keytab") {
				code = errorcode.KRB_AP_ERR_NOKEY
			}
		}
		return nil, a.reject(op, &apreq, spnegoForm, mech, code, err)
	}
	au := apreq.Authenticator
	client := creds.CName().PrincipalNameString() + "@" + creds.Domain()
	mutual := types.IsFlagSet(&apreq.APOptions, flags.APOptionMutualRequired)
	if au.Cksum.CksumType == gssCksumTyp {
		if len(au.Cksum.Checksum) < gssCksumLen || binary.LittleEndian.Uint32(au.Cksum.Checksum) != 16 {
			return nil, a.reject(op, &apreq, spnegoForm, mech, errorcode.KRB_AP_ERR_INAPP_CKSUM, errors.New("the authenticator's GSS checksum is malformed"))
		}
		if binary.LittleEndian.Uint32(au.Cksum.Checksum[20:])&gssMutual != 0 {
			mutual = true
		}
	}
	sessionKey := apreq.Ticket.DecryptedEncPart.Key
	base := sessionKey
	if len(au.SubKey.KeyValue) > 0 {
		base = au.SubKey
	}
	authSeq := seq32(au.SeqNumber)
	acc = &Accepted{Client: client, Mutual: mutual}
	if !mutual {
		ctx, err := newContext(false, base, false, authSeq, authSeq, client)
		if err != nil {
			return nil, &RejectError{Err: err}
		}
		acc.Context = ctx
		if spnegoForm {
			acc.ResponseToken = negResp(spnego.NegStateAcceptCompleted, mech, nil)
		}
		return acc, nil
	}
	// The acceptor subkey: random, of the initiator subkey's enctype (else
	// the session key's), as MIT (accept_sec_context.c) and Windows
	// (MS-KILE 3.1.1.2) do.
	et, err := crypto.GetEtype(base.KeyType)
	if err != nil {
		return nil, &RejectError{Err: fmt.Errorf("kerberos: %s: %w", op, err)}
	}
	sub := types.EncryptionKey{KeyType: base.KeyType, KeyValue: make([]byte, et.GetKeyByteSize())}
	var sb [4]byte
	if _, err := rand.Read(sub.KeyValue); err != nil {
		return nil, err
	}
	if _, err := rand.Read(sb[:]); err != nil {
		return nil, err
	}
	repSeq := uint64(binary.BigEndian.Uint32(sb[:]) & 0x3fffffff)
	ctx, err := newContext(false, sub, true, repSeq, authSeq, client)
	if err != nil {
		return nil, &RejectError{Err: err}
	}
	pb, err := marshalEncAPRepPart(encAPRepPart{CTime: au.CTime.UTC(), Cusec: au.Cusec, Subkey: sub, SequenceNumber: int64(repSeq)})
	if err != nil {
		return nil, fmt.Errorf("kerberos: %s: encoding EncAPRepPart: %w", op, err)
	}
	ed, err := crypto.GetEncryptedData(pb, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %s: encrypting the AP-REP: %w", op, err)
	}
	rb, err := marshalAPRep(ed)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %s: encoding the AP-REP: %w", op, err)
	}
	tok := marshalKRB5Token(tokAPRep, rb)
	if spnegoForm {
		tok = negResp(spnego.NegStateAcceptCompleted, mech, tok)
	}
	acc.Context, acc.ResponseToken = ctx, tok
	return acc, nil
}

// AcceptRequest handles the Authorization header of an authenticating
// request (RFC 4559): it accepts the token of its scheme and returns the
// value for WWW-Authenticate: on success the final token, to send on the
// 200 that answers this request; on failure the reply (or the bare
// scheme), to send on the 401. ok is false when the request carries no
// Negotiate or Kerberos authorization, and then acc and err are nil.
func (a *Acceptor) AcceptRequest(r *http.Request) (acc *Accepted, wwwAuthenticate string, ok bool, err error) {
	scheme, ok := SchemeOf(r)
	if !ok {
		return nil, "", false, nil
	}
	tok, _, err := TokenFromHeader(r.Header.Values("Authorization"), scheme)
	if err == nil && len(tok) == 0 {
		err = fmt.Errorf("kerberos: the %s authorization carries no token", scheme)
	}
	if err != nil {
		return nil, string(scheme), true, &RejectError{Err: newError(KindRejected, "accept a Kerberos client", "", "", 0, err)}
	}
	acc, err = a.Accept(scheme, tok)
	if err != nil {
		var rej *RejectError
		if errors.As(err, &rej) && rej.ResponseToken != nil {
			return nil, AuthHeader(scheme, rej.ResponseToken), true, err
		}
		return nil, string(scheme), true, err
	}
	if acc.ResponseToken == nil {
		return acc, "", true, nil
	}
	return acc, AuthHeader(scheme, acc.ResponseToken), true, nil
}

// reject builds the *RejectError for a refused AP-REQ, with a KRB-ERROR
// reply token.
func (a *Acceptor) reject(op string, apreq *messages.APReq, spnegoForm bool, mech asn1.ObjectIdentifier, code int32, cause error) error {
	kind, key, hint := KindRejected, KeyServiceKeytab, "the ticket cannot be verified with the service keytab"
	switch code {
	case errorcode.KRB_AP_ERR_SKEW:
		kind, key, hint = KindClockSkew, KeyClock, "the client's clock differs from ours by more than the allowed skew"
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		kind, key, hint = KindNoTicket, "the client's ticket cache", "the client's ticket has expired"
	case errorcode.KRB_AP_ERR_REPEAT:
		hint = "the authenticator was replayed"
	case errorcode.KRB_AP_ERR_NOT_US:
		hint = "the ticket is for another service"
	}
	etext := cause.Error()
	var ce messages.KRBError
	if errors.As(cause, &ce) && ce.EText != "" {
		etext = ce.EText
	}
	ke := messages.NewKRBError(apreq.Ticket.SName, apreq.Ticket.Realm, code, etext)
	var reply []byte
	if b, err := ke.Marshal(); err == nil {
		reply = marshalKRB5Token(tokKRBError, b)
		if spnegoForm {
			reply = negReject(mech, reply)
		}
	}
	return &RejectError{ResponseToken: reply, Err: newError(kind, op, key, hint, code, cause)}
}

func negResp(state spnego.NegState, mech asn1.ObjectIdentifier, tok []byte) []byte {
	if len(mech) == 0 {
		mech = oidKRB5
	}
	r := spnego.NegTokenResp{NegState: asn1.Enumerated(state), SupportedMech: mech, ResponseToken: tok}
	b, err := r.Marshal()
	if err != nil {
		// Only an unencodable OID can fail, and mech is one we parsed.
		return nil
	}
	return b
}

func negReject(mech asn1.ObjectIdentifier, tok []byte) []byte {
	return negResp(spnego.NegStateReject, mech, tok)
}
