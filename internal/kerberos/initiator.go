package kerberos

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// SPNForURL is the default service principal of a WinRM endpoint:
// HTTP/<host of the URL> (without port), as Windows' clients derive it.
func SPNForURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "", newError(KindConfig, "derive the SPN", KeySPN, fmt.Sprintf("the endpoint %q has no host", endpoint), 0, err)
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return "", newError(KindConfig, "derive the SPN", KeySPN,
			fmt.Sprintf("the endpoint %q is an IP address; Kerberos needs the server's name: set the SPN (HTTP/<fqdn>)", endpoint), 0, nil)
	}
	return "HTTP/" + strings.ToLower(host), nil
}

// Initiator is the client side of one handshake, for one connection. Its
// Scheme/Step/Complete methods fit an RFC 4559 HTTP authentication loop:
// Step(nil) gives the first token (the AP-REQ, mutual authentication
// requested); Step(reply) with the server's token from the final 200
// verifies the AP-REP and establishes the Context.
type Initiator struct {
	spn        string
	scheme     Scheme
	sessionKey types.EncryptionKey
	auth       types.Authenticator
	krb5Token  []byte // the AP-REQ as a raw GSS-API KRB5 token
	token      []byte // what goes on the wire for scheme
	sent       bool
	ctx        *Context
}

// NewInitiator gets a service ticket for spn ("HTTP/host", optionally
// "@REALM") and builds the AP-REQ for scheme. Errors are *Error: an
// unknown SPN names exchange.kerberos.spn, an unreachable KDC is transient.
func (c *Credentials) NewInitiator(spn string, scheme Scheme) (*Initiator, error) {
	return c.newInitiator(spn, scheme, time.Now)
}

func (c *Credentials) newInitiator(spn string, scheme Scheme, now func() time.Time) (*Initiator, error) {
	if scheme != SchemeNegotiate && scheme != SchemeKerberos {
		return nil, fmt.Errorf("kerberos: unknown HTTP scheme %q (want Negotiate or Kerberos)", scheme)
	}
	name, _, _ := strings.Cut(spn, "@")
	if svc, host, ok := strings.Cut(name, "/"); !ok || svc == "" || host == "" {
		return nil, newError(KindConfig, "authenticate", KeySPN, fmt.Sprintf("the SPN %q is not of the form HTTP/<host>", spn), 0, nil)
	}
	op := "get a service ticket for " + name + " as " + c.principal
	tkt, key, err := c.cl.GetServiceTicket(name)
	if err != nil {
		return nil, classifyKDC(err, op, c.source, name)
	}
	return buildInitiator(c.cl.Credentials.CName(), c.cl.Credentials.Domain(), name, scheme, tkt, key, now)
}

// buildInitiator makes the AP-REQ for a service ticket: an authenticator
// with a fresh subkey and sequence number and the GSS checksum asking for
// mutual authentication, replay and sequence detection, confidentiality
// and integrity; ap-options MUTUAL-REQUIRED.
func buildInitiator(cname types.PrincipalName, crealm, spn string, scheme Scheme, tkt messages.Ticket, key types.EncryptionKey, now func() time.Time) (*Initiator, error) {
	op := "authenticate to " + spn
	auth, err := types.NewAuthenticator(crealm, cname)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %s: %w", op, err)
	}
	t := now().UTC()
	auth.CTime = t.Truncate(time.Second)
	auth.Cusec = t.Nanosecond() / 1000
	// An initiator subkey of the session key's enctype steers the
	// acceptor's subkey to the same (AES) enctype; for an RC4 session key
	// ask for AES256 (MS-KILE 3.1.1.2; winrmexec and Metasploit's Kerberos
	// service authenticator do the same).
	subType := key.KeyType
	if !sealable(subType) {
		subType = etypeID.AES256_CTS_HMAC_SHA1_96
	}
	et, err := crypto.GetEtype(subType)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %s: enctype %d: %w", op, subType, err)
	}
	if err := auth.GenerateSeqNumberAndSubKey(subType, et.GetKeyByteSize()); err != nil {
		return nil, fmt.Errorf("kerberos: %s: %w", op, err)
	}
	auth.Cksum = types.Checksum{CksumType: gssCksumTyp, Checksum: gssChecksum(gssRequest)}
	apreq, err := messages.NewAPReq(tkt, key, auth)
	if err != nil {
		return nil, fmt.Errorf("kerberos: %s: building the AP-REQ: %w", op, err)
	}
	types.SetFlag(&apreq.APOptions, flags.APOptionMutualRequired)
	b, err := apreq.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos: %s: encoding the AP-REQ: %w", op, err)
	}
	in := &Initiator{spn: spn, sessionKey: key, auth: auth, krb5Token: marshalKRB5Token(tokAPReq, b)}
	if err := in.UseScheme(scheme); err != nil {
		return nil, err
	}
	return in, nil
}

// Offered takes the WWW-Authenticate values of the server's 401 and
// switches to the scheme ChooseScheme picks (keeping the current one when
// it is offered). A transport that knows nothing of this package can call
// it through a one-method interface before the first Step. It fails when
// the server offers neither Negotiate nor Kerberos.
func (i *Initiator) Offered(wwwAuthenticate []string) error {
	if _, offered, _ := TokenFromHeader(wwwAuthenticate, i.scheme); offered {
		return nil
	}
	s, ok := ChooseScheme(wwwAuthenticate)
	if !ok {
		return newError(KindRejected, "authenticate to "+i.spn, "exchange.auth",
			fmt.Sprintf("the server offers neither Negotiate nor Kerberos (WWW-Authenticate: %q)", strings.Join(wwwAuthenticate, ", ")), 0, nil)
	}
	return i.UseScheme(s)
}

// UseScheme switches the HTTP scheme (and so the token's form and the
// encryption protocol string) before the first Step, for a client that
// learns from the 401 which schemes the server offers (ChooseScheme):
// Exchange with Negotiate disabled offers only Kerberos.
func (i *Initiator) UseScheme(s Scheme) error {
	if i.sent {
		return errors.New("kerberos: the scheme cannot change after the first token was sent")
	}
	switch s {
	case SchemeKerberos:
		i.token = i.krb5Token
	case SchemeNegotiate:
		st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
			MechTypes:      []asn1.ObjectIdentifier{oidKRB5},
			MechTokenBytes: i.krb5Token,
		}}
		tok, err := st.Marshal()
		if err != nil {
			return fmt.Errorf("kerberos: encoding the SPNEGO token: %w", err)
		}
		i.token = tok
	default:
		return fmt.Errorf("kerberos: unknown HTTP scheme %q (want Negotiate or Kerberos)", s)
	}
	i.scheme = s
	return nil
}

// Scheme is the HTTP authentication scheme ("Negotiate" or "Kerberos").
func (i *Initiator) Scheme() string { return string(i.scheme) }

// Protocol is the multipart/encrypted protocol string for this scheme.
func (i *Initiator) Protocol() string { return i.scheme.Protocol() }

// SPN is the service principal the ticket is for.
func (i *Initiator) SPN() string { return i.spn }

// Token is the first token (the AP-REQ, in SPNEGO for Negotiate).
func (i *Initiator) Token() []byte { return i.token }

// Complete reports whether the context is established.
func (i *Initiator) Complete() bool { return i.ctx != nil }

// Context is the established context, or nil before Complete.
func (i *Initiator) Context() *Context { return i.ctx }

// Step advances the handshake. The first call returns the AP-REQ token (in
// is ignored: a 401 carries no token before ours). Later calls take the
// server's reply token and return nil once the context is established; an
// empty reply after our token is an error, since mutual authentication was
// required and the server did not prove itself.
func (i *Initiator) Step(in []byte) ([]byte, error) {
	if i.ctx != nil {
		if len(in) == 0 {
			return nil, nil
		}
		return nil, errors.New("kerberos: the context is already established; the server sent another token")
	}
	if !i.sent {
		i.sent = true
		return i.token, nil
	}
	if len(in) == 0 {
		return nil, newError(KindMutualAuth, "authenticate to "+i.spn, KeySPN,
			"the server answered without a Kerberos reply token: it refused the ticket (wrong SPN, or its keytab lacks the key) or does not do mutual authentication", 0, nil)
	}
	_, err := i.Finish(in)
	return nil, err
}

// Finish processes the server's reply token (SPNEGO NegTokenResp for
// Negotiate, a raw KRB5 token for Kerberos): it decrypts and checks the
// AP-REP and returns the established context. A KRB-ERROR from the server
// is returned as an *Error naming what to fix.
func (i *Initiator) Finish(reply []byte) (ctx *Context, err error) {
	if i.ctx != nil {
		return i.ctx, nil
	}
	op := "authenticate to " + i.spn
	defer func() {
		if err != nil {
			ctx = nil
		}
	}()
	defer guard(&err, op)
	mechTok := reply
	var mic []byte
	if len(reply) > 0 && reply[0] == 0xa1 {
		var st spnego.SPNEGOToken
		if err := st.Unmarshal(reply); err != nil || !st.Resp {
			return nil, newError(KindMutualAuth, op, "", "the server's SPNEGO reply is not a NegTokenResp", 0, err)
		}
		r := st.NegTokenResp
		if len(r.SupportedMech) > 0 && !isKRB5OID(r.SupportedMech) {
			return nil, newError(KindMutualAuth, op, "", fmt.Sprintf("the server chose mechanism %s, not Kerberos", r.SupportedMech), 0, nil)
		}
		if len(r.ResponseToken) == 0 {
			if r.NegState == asn1.Enumerated(spnego.NegStateReject) {
				return nil, newError(KindRejected, op, KeySPN, "the server rejected the Kerberos token", 0, nil)
			}
			return nil, newError(KindMutualAuth, op, KeySPN, "the server's SPNEGO reply carries no AP-REP (no mutual authentication)", 0, nil)
		}
		mechTok = r.ResponseToken
		mic = r.MechListMIC
	}
	id, msg, err := parseKRB5Token(mechTok)
	if err != nil {
		return nil, newError(KindMutualAuth, op, "", "the server's reply token", 0, err)
	}
	switch id {
	case tokKRBError:
		ke, err := krbErrorOf(msg)
		if err != nil {
			return nil, newError(KindRejected, op, KeySPN, "the server sent an error", 0, err)
		}
		return nil, serverError(op, ke)
	case tokAPRep:
	default:
		return nil, newError(KindMutualAuth, op, "", fmt.Sprintf("the server's token has TOK_ID %x, want an AP-REP (0200)", id), 0, nil)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(msg); err != nil {
		return nil, newError(KindMutualAuth, op, "", "the AP-REP does not decode", 0, err)
	}
	if err := checkCipher("the AP-REP", rep.EncPart); err != nil {
		return nil, newError(KindMutualAuth, op, "", "the AP-REP is malformed", 0, err)
	}
	pt, err := crypto.DecryptEncPart(rep.EncPart, i.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return nil, newError(KindMutualAuth, op, KeySPN, "the AP-REP does not decrypt with the ticket's session key: the server is not who the SPN names", 0, err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(pt); err != nil {
		return nil, newError(KindMutualAuth, op, "", "the AP-REP's encrypted part does not decode", 0, err)
	}
	if part.CTime.Unix() != i.auth.CTime.Unix() || part.Cusec != i.auth.Cusec {
		return nil, newError(KindMutualAuth, op, "", "the AP-REP's ctime/cusec do not echo our authenticator's", 0, nil)
	}
	key, acceptorSubkey := i.auth.SubKey, false
	if len(part.Subkey.KeyValue) > 0 {
		key, acceptorSubkey = part.Subkey, true
	}
	ctx, err = newContext(true, key, acceptorSubkey, seq32(i.auth.SeqNumber), seq32(part.SequenceNumber), i.spn)
	if err != nil {
		return nil, err
	}
	if len(mic) > 0 {
		// RFC 4178 §5: verify the acceptor's MIC over our mechTypes.
		mechList, _ := asn1.Marshal([]asn1.ObjectIdentifier{oidKRB5})
		var mt gssapi.MICToken
		if err := mt.Unmarshal(mic, true); err != nil {
			return nil, newError(KindMutualAuth, op, "", "the server's mechListMIC does not decode", 0, err)
		}
		mt.Payload = mechList
		if ok, err := mt.Verify(key, keyusage.GSSAPI_ACCEPTOR_SIGN); !ok {
			return nil, newError(KindMutualAuth, op, "", "the server's mechListMIC does not verify", 0, err)
		}
		// The MIC token spent one of the acceptor's sequence numbers
		// (RFC 4121 §4.2.6.1): its first wrap token carries the next.
		if mt.SndSeqNum != ctx.recvSeq {
			return nil, newError(KindMutualAuth, op, "", fmt.Sprintf("the server's mechListMIC has sequence number %d, the AP-REP said %d", mt.SndSeqNum, ctx.recvSeq), 0, nil)
		}
		ctx.recvSeq++
	}
	i.ctx = ctx
	return ctx, nil
}

// serverError maps a KRB-ERROR the server (acceptor) sent.
func serverError(op string, ke messages.KRBError) error {
	switch ke.ErrorCode {
	case errorcode.KRB_AP_ERR_SKEW:
		return newError(KindClockSkew, op, KeyClock, "the server's clock differs from ours by more than the allowed skew", ke.ErrorCode, ke)
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		return newError(KindNoTicket, op, KeyCCache, "the server says the ticket has expired; run kinit", ke.ErrorCode, ke)
	case errorcode.KRB_AP_ERR_NOKEY, errorcode.KRB_AP_ERR_BADKEYVER, errorcode.KRB_AP_ERR_BAD_INTEGRITY,
		errorcode.KRB_AP_ERR_MODIFIED, errorcode.KRB_AP_ERR_NOT_US, errorcode.KRB_AP_ERR_BADMATCH:
		return newError(KindRejected, op, KeySPN, "the server cannot decrypt the ticket: the SPN belongs to another account or host, or the server's keytab is stale", ke.ErrorCode, ke)
	}
	return newError(KindRejected, op, KeySPN, "the server refused the ticket", ke.ErrorCode, ke)
}
