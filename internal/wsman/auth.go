package wsman

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	bntlm "github.com/bodgit/ntlmssp"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/exrunbook/exrunbook/internal/errkind"
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

// gokrb5Provider is the built-in Kerberos initiator: gokrb5's SPNEGO
// token under the Negotiate scheme. gokrb5 v8.4.4 neither verifies the
// server's AP-REP nor seals messages (WRAP.md §3.3), so it serves https
// endpoints only; config validation refuses it over http.
type gokrb5Provider struct {
	cl *krbclient.Client
}

func newGokrb5Provider(cfg Config) (*gokrb5Provider, error) {
	k := cfg.Kerberos
	kc, err := krbconfig.Load(k.Krb5Conf)
	if err != nil {
		return nil, fmt.Errorf("exchange.kerberos.krb5_conf_file %s: %w", k.Krb5Conf, err)
	}
	settings := []func(*krbclient.Settings){krbclient.DisablePAFXFAST(true)}
	if k.CCache != "" {
		cc, err := credentials.LoadCCache(k.CCache)
		if err != nil {
			return nil, fmt.Errorf("kerberos credential cache %s: %w", k.CCache, err)
		}
		cl, err := krbclient.NewFromCCache(cc, kc, settings...)
		if err != nil {
			return nil, fmt.Errorf("kerberos credential cache %s: %w", k.CCache, err)
		}
		return &gokrb5Provider{cl: cl}, nil
	}
	user, realm := cfg.User, k.Realm
	if i := strings.LastIndex(user, "@"); i >= 0 {
		if realm == "" {
			realm = user[i+1:]
		}
		user = user[:i]
	} else if i := strings.Index(user, `\`); i >= 0 {
		user = user[i+1:]
	}
	if realm == "" {
		realm = kc.LibDefaults.DefaultRealm
	}
	if realm == "" {
		return nil, errors.New("kerberos realm unknown: make exchange.user user@REALM, or set default_realm in krb5.conf")
	}
	realm = strings.ToUpper(realm)
	if k.Keytab != "" {
		kt, err := keytab.Load(k.Keytab)
		if err != nil {
			return nil, fmt.Errorf("kerberos keytab %s: %w", k.Keytab, err)
		}
		return &gokrb5Provider{cl: krbclient.NewWithKeytab(user, realm, kt, kc, settings...)}, nil
	}
	return &gokrb5Provider{cl: krbclient.NewWithPassword(user, realm, cfg.Password, kc, append(settings, krbclient.AssumePreAuthentication(true))...)}, nil
}

func (p *gokrb5Provider) Seals() bool { return false }

func (p *gokrb5Provider) NewContext(spn string) (SecurityContext, error) {
	return &gokrb5Context{cl: p.cl, spn: spn}, nil
}

type gokrb5Context struct {
	cl   *krbclient.Client
	spn  string
	sent bool
}

func (k *gokrb5Context) Scheme() string { return "Negotiate" }

// Step gives a token once; the context is then complete (gokrb5 cannot
// check the server's AP-REP).
func (k *gokrb5Context) Step([]byte) ([]byte, error) {
	if k.sent {
		return nil, nil
	}
	b, err := k.requestToken()
	if err != nil {
		return nil, err
	}
	k.sent = true
	return b, nil
}

// requestToken is a fresh SPNEGO token: the built-in context
// authenticates every request on its own, as gokrb5's SetSPNEGOHeader
// does, so it works whether the server keeps Kerberos per connection
// (IIS) or per request.
func (k *gokrb5Context) requestToken() ([]byte, error) {
	s := spnego.SPNEGOClient(k.cl, k.spn)
	if err := s.AcquireCred(); err != nil {
		if kdcUnreachable(err) {
			return nil, errkind.Transient(fmt.Errorf("kerberos login: the KDC did not answer (check the KDC of the krb5.conf named by exchange.kerberos.krb5_conf_file): %w", err))
		}
		return nil, &AuthError{Reason: fmt.Sprintf("kerberos login failed: %v", err)}
	}
	tok, err := s.InitSecContext()
	if err != nil {
		if kdcUnreachable(err) {
			return nil, errkind.Transient(fmt.Errorf("kerberos service ticket for %s: the KDC did not answer: %w", k.spn, err))
		}
		return nil, fmt.Errorf("kerberos service ticket for %s (exchange.kerberos.spn): %w", k.spn, err)
	}
	b, err := tok.Marshal()
	if err != nil {
		return nil, fmt.Errorf("kerberos SPNEGO token: %w", err)
	}
	return b, nil
}

func (k *gokrb5Context) Complete() bool { return k.sent }

func (k *gokrb5Context) Sealer() Sealer { return nil }

// kdcUnreachable reports a gokrb5 error of talking to the KDC (its
// krberror type Networking_Error), not a refusal.
func kdcUnreachable(err error) bool {
	return strings.Contains(err.Error(), "Networking_Error")
}

// requestAuthenticator is a context that authenticates each request with
// a token of its own instead of a handshake per connection.
type requestAuthenticator interface {
	requestToken() ([]byte, error)
}
