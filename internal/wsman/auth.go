package wsman

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	bntlm "github.com/bodgit/ntlmssp"
)

// channelBinder is a context that binds itself to the TLS channel
// (RFC 5929 tls-server-end-point), which Exchange's Extended Protection
// requires of NTLM over https.
type channelBinder interface {
	bindCertificate(cert *x509.Certificate)
}

// ntlmProvider makes NTLMv2 contexts (github.com/bodgit/ntlmssp, the
// library behind masterzen/winrm's message encryption; it seals and
// signs with extended session security as MS-NLMP 3.4 says).
type ntlmProvider struct {
	user, domain, password string
}

func newNTLMProvider(user, password string) ntlmProvider {
	u, d := splitNTLMUser(user)
	return ntlmProvider{user: u, domain: d, password: password}
}

func (p ntlmProvider) Seals() bool { return true }

func (p ntlmProvider) NewContext(string) (SecurityContext, error) {
	c, err := bntlm.NewClient(bntlm.SetUserInfo(p.user, p.password), bntlm.SetDomain(p.domain), bntlm.SetVersion(bntlm.DefaultVersion()))
	if err != nil {
		return nil, fmt.Errorf("NTLM client: %w", err)
	}
	return &ntlmContext{c: c}, nil
}

// ntlmContext sends raw NTLM tokens under the Negotiate scheme, which
// Windows accepts and answers in kind.
type ntlmContext struct {
	c        *bntlm.Client
	bindings *bntlm.ChannelBindings
	step     int
}

func (n *ntlmContext) Scheme() string { return "Negotiate" }

func (n *ntlmContext) Step(in []byte) ([]byte, error) {
	switch n.step {
	case 0:
		n.step++
		return n.c.Authenticate(nil, nil)
	case 1:
		if len(in) == 0 {
			return nil, errors.New("NTLM: the server sent no CHALLENGE")
		}
		n.step++
		return n.c.Authenticate(in, n.bindings)
	default:
		// The final 200 may carry an SPNEGO accept-completed token;
		// raw NTLM has nothing to verify in it.
		return nil, nil
	}
}

func (n *ntlmContext) Complete() bool { return n.c.Complete() }

func (n *ntlmContext) Sealer() Sealer {
	if !n.c.Complete() || n.c.SecuritySession() == nil {
		return nil
	}
	return NewMultipartSealer(ProtocolSPNEGO, ntlmWrapper{n.c.SecuritySession()})
}

func (n *ntlmContext) bindCertificate(cert *x509.Certificate) {
	if h := certificateHash(cert); h != nil {
		n.bindings = &bntlm.ChannelBindings{ApplicationData: append([]byte(bntlm.TLSServerEndPoint+":"), h...)}
	}
}

// certificateHash is RFC 5929 §4.1: the certificate's signature hash,
// SHA-256 in place of MD5 and SHA-1.
func certificateHash(cert *x509.Certificate) []byte {
	var h crypto.Hash
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	case x509.PureEd25519:
		return nil
	default:
		h = crypto.SHA256
	}
	d := h.New()
	d.Write(cert.Raw)
	return d.Sum(nil)
}

type ntlmWrapper struct{ s *bntlm.SecuritySession }

func (w ntlmWrapper) WrapMessage(plain []byte) ([]byte, []byte, error) {
	sealed, sig, err := w.s.Wrap(plain)
	return sig, sealed, err
}

func (w ntlmWrapper) UnwrapMessage(header, enc []byte) ([]byte, error) {
	return w.s.Unwrap(enc, header)
}

// splitNTLMUser splits DOMAIN\user; a UPN (user@domain) goes as the user
// name with an empty domain, which Windows resolves.
func splitNTLMUser(u string) (user, domain string) {
	if i := strings.Index(u, `\`); i >= 0 {
		return u[i+1:], u[:i]
	}
	return u, ""
}
