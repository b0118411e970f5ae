package kerberos

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// offline is a service keytab and tickets minted with it, without a KDC,
// for tests of the token handling alone.
type offline struct {
	kt *keytab.Keytab
}

func newOffline(t testing.TB) offline {
	t.Helper()
	kt := keytab.New()
	for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96} {
		if err := kt.AddEntry(testSPN, "LAB.TEST", "service-secret", time.Now(), 2, et); err != nil {
			t.Fatal(err)
		}
	}
	return offline{kt: kt}
}

// initiator mints a ticket for alice to testSPN (session key of etype)
// and builds an initiator for it.
func (o offline) initiator(t testing.TB, scheme Scheme, etype int32, now func() time.Time) *Initiator {
	t.Helper()
	alice := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, testSPN)
	n := time.Now().UTC()
	tkt, key, err := messages.NewTicket(alice, "LAB.TEST", sname, "LAB.TEST", types.NewKrbFlags(), o.kt, etype, 2, n, n, n.Add(time.Hour), n.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	in, err := buildInitiator(alice, "LAB.TEST", testSPN, scheme, tkt, key, now)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func (o offline) acceptor(t testing.TB, spn string) *Acceptor {
	t.Helper()
	a, err := NewAcceptor(AcceptorConfig{Keytab: o.kt, SPN: spn})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestHandshakeOffline(t *testing.T) {
	o := newOffline(t)
	acc := o.acceptor(t, testSPN)
	for _, scheme := range []Scheme{SchemeNegotiate, SchemeKerberos} {
		for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96} {
			t.Run(string(scheme)+"/"+etypeName(et), func(t *testing.T) {
				in := o.initiator(t, scheme, et, time.Now)
				tok, err := in.Step(nil)
				if err != nil {
					t.Fatal(err)
				}
				var outer asn1.ObjectIdentifier
				if _, err := asn1.UnmarshalWithParams(tok, &outer, "application,explicit,tag:0"); err != nil {
					t.Fatal(err)
				}
				if wantSPNEGO := scheme == SchemeNegotiate; outer.Equal(oidSPNEGO) != wantSPNEGO {
					t.Fatalf("first token's OID %s for scheme %s", outer, scheme)
				}
				a, err := acc.Accept(scheme, tok)
				if err != nil {
					t.Fatal(err)
				}
				if a.Client != "alice@LAB.TEST" || !a.Mutual || a.Context.EncType() != et {
					t.Fatalf("accepted %+v, enctype %d", a, a.Context.EncType())
				}
				if (a.ResponseToken[0] == 0xa1) != (scheme == SchemeNegotiate) {
					t.Fatalf("reply form % x for %s", a.ResponseToken[:4], scheme)
				}
				if out, err := in.Step(a.ResponseToken); err != nil || out != nil || !in.Complete() {
					t.Fatalf("Step(reply) = %v, %v; complete %v", out, err, in.Complete())
				}
				cli, srv := in.Context(), a.Context
				if cs, cr := cli.Sequence(); cs != srv.recvSeq || cr != srv.sendSeq {
					t.Fatalf("sequence numbers disagree: client %d/%d, server %d/%d", cs, cr, srv.sendSeq, srv.recvSeq)
				}
				var last []byte
				for i := 0; i < 3; i++ {
					tok, _ := cli.Wrap([]byte("request"))
					if got, err := srv.Unwrap(tok); err != nil || string(got) != "request" {
						t.Fatalf("server: %q, %v", got, err)
					}
					tok, _ = srv.Wrap([]byte("response"))
					last = tok
					if got, err := cli.Unwrap(tok); err != nil || string(got) != "response" {
						t.Fatalf("client: %q, %v", got, err)
					}
				}
				if last[2] != 0x07 {
					t.Fatalf("server token flags %#x, want 0x07", last[2])
				}
			})
		}
	}
}

// TestMechListMIC: an acceptor that adds a mechListMIC (RFC 4178) to its
// final NegTokenResp has it verified, and its wrap tokens then start one
// sequence number later; a MIC that does not verify fails the handshake.
// Windows' mechanism OID (1.2.840.48018.1.2.2) in the mech list and the
// reply is accepted too.
func TestMechListMIC(t *testing.T) {
	o := newOffline(t)
	acc := o.acceptor(t, testSPN)
	for _, corrupt := range []bool{false, true} {
		in := o.initiator(t, SchemeNegotiate, etypeID.AES256_CTS_HMAC_SHA1_96, time.Now)
		// Re-wrap the AP-REQ the way Windows lists its mechanisms.
		st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
			MechTypes: []asn1.ObjectIdentifier{oidMSKRB5, oidKRB5}, MechTokenBytes: in.krb5Token}}
		tok, err := st.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		in.token = tok
		in.Step(nil)
		a, err := acc.Accept(SchemeNegotiate, tok)
		if err != nil {
			t.Fatal(err)
		}
		var resp spnego.SPNEGOToken
		if err := resp.Unmarshal(a.ResponseToken); err != nil || !resp.NegTokenResp.SupportedMech.Equal(oidMSKRB5) {
			t.Fatalf("reply %+v, %v; want supportedMech %s", resp.NegTokenResp, err, oidMSKRB5)
		}
		mechList, _ := asn1.Marshal([]asn1.ObjectIdentifier{oidKRB5})
		mic := gssapi.MICToken{Flags: flagSentByAcceptor | flagAcceptorSubkey, SndSeqNum: a.Context.sendSeq, Payload: mechList}
		if err := mic.SetChecksum(a.Context.key, keyusage.GSSAPI_ACCEPTOR_SIGN); err != nil {
			t.Fatal(err)
		}
		a.Context.sendSeq++
		if corrupt {
			mic.Checksum[0] ^= 1
		}
		mb, _ := mic.Marshal()
		r := resp.NegTokenResp
		reply, _ := (&spnego.NegTokenResp{NegState: r.NegState, SupportedMech: r.SupportedMech, ResponseToken: r.ResponseToken, MechListMIC: mb}).Marshal()
		_, err = in.Step(reply)
		if corrupt {
			checkErr(t, err, KindMutualAuth, false, "mechListMIC does not verify")
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		w, _ := a.Context.Wrap([]byte("after the MIC"))
		if got, err := in.Context().Unwrap(w); err != nil || string(got) != "after the MIC" {
			t.Fatalf("%q, %v", got, err)
		}
	}
}

func TestOffered(t *testing.T) {
	o := newOffline(t)
	tests := []struct {
		start  Scheme
		offers []string
		want   Scheme
		fail   bool
	}{
		{SchemeNegotiate, []string{"Negotiate", "Kerberos"}, SchemeNegotiate, false},
		{SchemeKerberos, []string{"Negotiate", "Kerberos"}, SchemeKerberos, false},
		{SchemeNegotiate, []string{"Kerberos"}, SchemeKerberos, false},
		{SchemeKerberos, []string{"Negotiate"}, SchemeNegotiate, false},
		{SchemeNegotiate, []string{"Basic realm=\"WSMAN\""}, SchemeNegotiate, true},
	}
	for _, tt := range tests {
		in := o.initiator(t, tt.start, 18, time.Now)
		err := in.Offered(tt.offers)
		if (err != nil) != tt.fail || Scheme(in.Scheme()) != tt.want || in.Protocol() != tt.want.Protocol() {
			t.Errorf("%s with offers %q: scheme %s, %v", tt.start, tt.offers, in.Scheme(), err)
		}
		if err != nil && !strings.Contains(err.Error(), "exchange.auth") {
			t.Errorf("error %v does not name exchange.auth", err)
		}
	}
}

func TestFinishRefuses(t *testing.T) {
	o := newOffline(t)
	acc := o.acceptor(t, testSPN)
	accept := func(t *testing.T, in *Initiator) []byte {
		t.Helper()
		tok, _ := in.Step(nil)
		a, err := acc.Accept(in.scheme, tok)
		if err != nil {
			t.Fatal(err)
		}
		return a.ResponseToken
	}
	krbErr := func(code int32) []byte {
		ke := messages.NewKRBError(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, testSPN), "LAB.TEST", code, "from the test")
		b, err := ke.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return negReject(oidKRB5, marshalKRB5Token(tokKRBError, b))
	}
	tests := []struct {
		name  string
		reply func(t *testing.T, in *Initiator) []byte
		kind  Kind
		want  string
	}{
		{"no reply token", func(*testing.T, *Initiator) []byte { return nil }, KindMutualAuth, "without a Kerberos reply token"},
		{"AP-REP of another session", func(t *testing.T, in *Initiator) []byte {
			return accept(t, o.initiator(t, SchemeNegotiate, etypeID.AES256_CTS_HMAC_SHA1_96, time.Now))
		}, KindMutualAuth, "does not decrypt"},
		{"bare accept-completed", func(*testing.T, *Initiator) []byte {
			return negResp(spnego.NegStateAcceptCompleted, oidKRB5, nil)
		}, KindMutualAuth, "no AP-REP"},
		{"reject", func(*testing.T, *Initiator) []byte { return negReject(oidKRB5, nil) }, KindRejected, "rejected"},
		{"NTLM chosen", func(*testing.T, *Initiator) []byte {
			return negResp(spnego.NegStateAcceptIncomplete, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}, []byte("NTLMSSP"))
		}, KindMutualAuth, "not Kerberos"},
		{"KRB_AP_ERR_SKEW", func(*testing.T, *Initiator) []byte { return krbErr(errorcode.KRB_AP_ERR_SKEW) }, KindClockSkew, "clocks"},
		{"KRB_AP_ERR_MODIFIED", func(*testing.T, *Initiator) []byte { return krbErr(errorcode.KRB_AP_ERR_MODIFIED) }, KindRejected, "exchange.kerberos.spn"},
		{"garbage", func(*testing.T, *Initiator) []byte { return []byte{0xa1, 0x03, 0x30, 0x01, 0x00} }, KindMutualAuth, "NegTokenResp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := o.initiator(t, SchemeNegotiate, etypeID.AES256_CTS_HMAC_SHA1_96, time.Now)
			in.Step(nil)
			_, err := in.Step(tt.reply(t, in))
			checkErr(t, err, tt.kind, false, tt.want)
			if in.Complete() {
				t.Fatal("the context completed")
			}
		})
	}
}

func TestAcceptRefuses(t *testing.T) {
	o := newOffline(t)
	tests := []struct {
		name   string
		spn    string
		token  func(t *testing.T) []byte
		kind   Kind
		code   int32
		hasTok bool
		want   string
	}{
		{"ticket for another service", "HTTP/other.lab.test", func(t *testing.T) []byte {
			return o.initiator(t, SchemeNegotiate, 18, time.Now).Token()
		}, KindRejected, errorcode.KRB_AP_ERR_NOT_US, true, "another service"},
		{"client clock 10 minutes behind", testSPN, func(t *testing.T) []byte {
			return o.initiator(t, SchemeKerberos, 18, func() time.Time { return time.Now().Add(-10 * time.Minute) }).Token()
		}, KindClockSkew, errorcode.KRB_AP_ERR_SKEW, true, "clocks"},
		{"NTLM first", testSPN, func(t *testing.T) []byte {
			st := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
				MechTypes:      []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}, oidKRB5},
				MechTokenBytes: []byte("NTLMSSP\x00\x01"),
			}}
			b, _ := st.Marshal()
			return b
		}, KindRejected, 0, true, "only Kerberos"},
		{"not a GSS token", testSPN, func(*testing.T) []byte { return []byte("NTLMSSP\x00") }, KindRejected, 0, false, "not a GSS-API token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := o.acceptor(t, tt.spn).Accept(SchemeNegotiate, tt.token(t))
			checkErr(t, err, tt.kind, false, tt.want)
			var rej *RejectError
			if !errors.As(err, &rej) || (rej.ResponseToken != nil) != tt.hasTok {
				t.Fatalf("RejectError %+v, want a reply token: %v", rej, tt.hasTok)
			}
			var e *Error
			if errors.As(err, &e) && e.Code != tt.code {
				t.Fatalf("code %d, want %d", e.Code, tt.code)
			}
		})
	}
	t.Run("replayed AP-REQ", func(t *testing.T) {
		acc := o.acceptor(t, testSPN)
		tok := o.initiator(t, SchemeNegotiate, 18, time.Now).Token()
		if _, err := acc.Accept(SchemeNegotiate, tok); err != nil {
			t.Fatal(err)
		}
		_, err := acc.Accept(SchemeNegotiate, tok)
		checkErr(t, err, KindRejected, false, "KRB_AP_ERR_REPEAT")
	})
}

func FuzzAccept(f *testing.F) {
	o := newOffline(f)
	acc := o.acceptor(f, testSPN)
	for _, s := range []Scheme{SchemeNegotiate, SchemeKerberos} {
		f.Add(o.initiator(f, s, 18, time.Now).Token())
	}
	f.Add([]byte{0x60, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, tok []byte) {
		a, err := acc.Accept(SchemeNegotiate, tok)
		if err == nil && (a.Context == nil || a.Client == "") {
			t.Fatalf("accepted without a context or client: %+v", a)
		}
	})
}

func FuzzFinish(f *testing.F) {
	o := newOffline(f)
	acc := o.acceptor(f, testSPN)
	for _, s := range []Scheme{SchemeNegotiate, SchemeKerberos} {
		in := o.initiator(f, s, 18, time.Now)
		a, err := acc.Accept(s, in.Token())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a.ResponseToken)
	}
	f.Add(negReject(oidKRB5, nil))
	in := o.initiator(f, SchemeNegotiate, 18, time.Now)
	f.Fuzz(func(t *testing.T, reply []byte) {
		fresh := *in
		if ctx, err := fresh.Finish(reply); err == nil {
			// Only an AP-REP made with this ticket's session key can
			// verify, and the fuzzer cannot forge one.
			t.Fatalf("a fuzzed reply established a context: %+v (reply % x)", ctx, reply[:min(len(reply), 32)])
		}
	})
}
