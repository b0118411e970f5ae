package wsman

import (
	"encoding/asn1"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/exrunbook/exrunbook/internal/lab/ntlm"
	"github.com/exrunbook/exrunbook/internal/wsmv"
)

// conn is one TCP connection to the lab (the transport keeps a single
// connection per host).
func oneConn() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
}

func postWith(t *testing.T, c *http.Client, l *lab, authz, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, l.endpoint(), strings.NewReader(body))
	req.Header.Set("Content-Type", soapContentType)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read the answer so that the connection is free for the next leg.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func createEnvelope(id string) string {
	return `<s:Envelope xmlns:s="` + wsmv.NSSOAP + `" xmlns:a="` + wsmv.NSAddressing + `" xmlns:w="` + wsmv.NSWSMan + `" xmlns:rsp="` + wsmv.NSShell + `"><s:Header><a:Action>` +
		wsmv.ActionCreate + `</a:Action><a:MessageID>` + id + `</a:MessageID><w:ResourceURI>` + resourceCmd + `</w:ResourceURI></s:Header><s:Body><rsp:Shell/></s:Body></s:Envelope>`
}

// challengeFrom returns the NTLM message of a 401's Negotiate header.
func challengeFrom(t *testing.T, resp *http.Response, scheme string) []byte {
	t.Helper()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d, want a 401 challenge", resp.StatusCode)
	}
	h := resp.Header.Get("WWW-Authenticate")
	tok, ok := strings.CutPrefix(h, scheme+" ")
	if !ok {
		t.Fatalf("WWW-Authenticate %q", h)
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNTLMIsBoundToTheConnection(t *testing.T) {
	t.Parallel()
	for _, withConnContext := range []bool{true, false} {
		t.Run(map[bool]string{true: "ConnContext", false: "address-keyed"}[withConnContext], func(t *testing.T) {
			checkConnectionBinding(t, startLabServer(t, false, nil, withConnContext))
		})
	}
}

func checkConnectionBinding(t *testing.T, l *lab) {
	a := oneConn()
	if r := postWith(t, a, l, "", createEnvelope("uuid:1")); r.StatusCode != 401 {
		t.Fatalf("anonymous: %d", r.StatusCode)
	}
	neg, _ := ntlmssp.NewNegotiateMessage("CONTOSO", "")
	chal := challengeFrom(t, postWith(t, a, l, "NTLM "+base64.StdEncoding.EncodeToString(neg), createEnvelope("uuid:2")), "NTLM")
	auth, err := ntlmssp.ProcessChallenge(chal, "Administrator", testPassword, true)
	if err != nil {
		t.Fatal(err)
	}
	if r := postWith(t, a, l, "NTLM "+base64.StdEncoding.EncodeToString(auth), createEnvelope("uuid:3")); r.StatusCode != 200 {
		t.Fatalf("AUTHENTICATE: %d", r.StatusCode)
	}
	// Later requests on the same connection need no Authorization.
	if r := postWith(t, a, l, "", createEnvelope("uuid:4")); r.StatusCode != 200 {
		t.Fatalf("same connection: %d", r.StatusCode)
	}
	// Another connection is not authenticated, and the AUTHENTICATE
	// message cannot be replayed there.
	b := oneConn()
	if r := postWith(t, b, l, "", createEnvelope("uuid:5")); r.StatusCode != 401 {
		t.Fatalf("other connection: %d", r.StatusCode)
	}
	if r := postWith(t, b, l, "NTLM "+base64.StdEncoding.EncodeToString(auth), createEnvelope("uuid:6")); r.StatusCode != 401 {
		t.Fatalf("replayed AUTHENTICATE: %d", r.StatusCode)
	}
	// A wrong password on a fresh handshake is refused and leaves the
	// connection unauthenticated.
	chal = challengeFrom(t, postWith(t, b, l, "Negotiate "+base64.StdEncoding.EncodeToString(neg), createEnvelope("uuid:7")), "Negotiate")
	bad, _ := ntlmssp.ProcessChallenge(chal, "Administrator", "wrong", true)
	if r := postWith(t, b, l, "Negotiate "+base64.StdEncoding.EncodeToString(bad), createEnvelope("uuid:8")); r.StatusCode != 401 {
		t.Fatalf("wrong password: %d", r.StatusCode)
	}
	if r := postWith(t, b, l, "", createEnvelope("uuid:9")); r.StatusCode != 401 {
		t.Fatalf("after a failed logon: %d", r.StatusCode)
	}
	if got := l.stats.Shells.Load(); got != 2 {
		t.Fatalf("Shells = %d, want 2", got)
	}
}

func TestNTLMInSPNEGO(t *testing.T) {
	t.Parallel()
	l := startLab(t, false, nil)
	c := oneConn()
	neg, _ := ntlmssp.NewNegotiateMessage("CONTOSO", "")
	// NegTokenInit offering NTLM, as SSPI's Negotiate package sends it.
	mechs, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}})
	tok, _ := asn1.Marshal(neg)
	inner := append(ctxTag(0, mechs), ctxTag(2, tok)...)
	seq, _ := asn1.Marshal(asn1.RawValue{Tag: asn1.TagSequence, IsCompound: true, Bytes: inner})
	oid, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2})
	initTok, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(oid, ctxTag(0, seq)...)})

	wrapped := challengeFrom(t, postWith(t, c, l, "Negotiate "+base64.StdEncoding.EncodeToString(initTok), createEnvelope("uuid:1")), "Negotiate")
	chal, isWrapped, err := ntlm.Unwrap(wrapped)
	if err != nil || !isWrapped {
		t.Fatalf("challenge not in SPNEGO: %v", err)
	}
	auth, err := ntlmssp.ProcessChallenge(chal, "Administrator", testPassword, true)
	if err != nil {
		t.Fatal(err)
	}
	r := postWith(t, c, l, "Negotiate "+base64.StdEncoding.EncodeToString(ntlm.WrapResponse(ntlm.AcceptIncomplete, auth)), createEnvelope("uuid:2"))
	if r.StatusCode != 200 {
		t.Fatalf("AUTHENTICATE: %d", r.StatusCode)
	}
	final, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.Header.Get("WWW-Authenticate"), "Negotiate "))
	var resp asn1.RawValue
	if _, err := asn1.Unmarshal(final, &resp); err != nil || resp.Tag != 1 {
		t.Fatalf("final token %x: %v", final, err)
	}
}

func ctxTag(tag int, b []byte) []byte {
	out, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: b})
	return out
}
