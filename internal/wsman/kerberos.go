package wsman

import (
	"fmt"
	"sync"

	"github.com/exrunbook/exrunbook/internal/kerberos"
)

// KerberosProvider makes Kerberos security contexts with internal/kerberos:
// mutual authentication (the server's AP-REP is verified) and RFC 4121
// message encryption, so auth kerberos works over plain http as well as
// https. One provider holds one login (a TGT) and serves every connection
// of every client it is given to; each connection gets its own service
// ticket, subkeys and sequence numbers.
type KerberosProvider struct {
	cfg kerberos.Config

	mu    sync.Mutex
	creds *kerberos.Credentials
}

// NewKerberosProvider returns the provider of one Kerberos login. The
// credentials are, in this order: password (exchange.password_file or
// EXRUNBOOK_EXCHANGE_PASSWORD) for user, k.Keytab
// (exchange.kerberos.keytab_file) for user, else the ticket cache
// (k.CCache, else KRB5CCNAME, else the default cache of krb5.conf), whose
// principal must be user when user is set. krb5.conf is k.Krb5Conf
// (exchange.kerberos.krb5_conf_file), else KRB5_CONFIG, else
// /etc/krb5.conf. k.Realm overrides the realm of user.
//
// It does not talk to the KDC: the first connection logs in, and a login
// that failed is tried again by the next connection (a KDC that did not
// answer is errkind.Transient). Errors name the key to fix
// (*kerberos.Error).
func NewKerberosProvider(user, password string, k KerberosConfig) *KerberosProvider {
	return &KerberosProvider{cfg: kerberos.Config{
		User:         user,
		Realm:        k.Realm,
		Password:     password,
		KeytabFile:   k.Keytab,
		CCacheFile:   k.CCache,
		Krb5ConfFile: k.Krb5Conf,
	}}
}

// String names the login without its password, so that %v and %#v of a
// provider never print it.
func (p *KerberosProvider) String() string {
	src := "ticket cache"
	switch {
	case p.cfg.Password != "":
		src = "password"
	case p.cfg.KeytabFile != "":
		src = "keytab " + p.cfg.KeytabFile
	case p.cfg.CCacheFile != "":
		src = "ticket cache " + p.cfg.CCacheFile
	}
	return fmt.Sprintf("wsman.KerberosProvider{User:%s Source:%s Krb5Conf:%s}", p.cfg.User, src, p.cfg.Krb5ConfFile)
}

// GoString is String.
func (p *KerberosProvider) GoString() string { return p.String() }

// Seals reports true: an established context encrypts messages.
func (p *KerberosProvider) Seals() bool { return true }

// NewContext gets a service ticket for spn (logging in first if needed)
// and returns the connection's initiator, under the Negotiate scheme
// until the server's 401 says it offers only Kerberos.
func (p *KerberosProvider) NewContext(spn string) (SecurityContext, error) {
	creds, err := p.login()
	if err != nil {
		return nil, err
	}
	in, err := creds.NewInitiator(spn, kerberos.SchemeNegotiate)
	if err != nil {
		return nil, err
	}
	return &krbContext{creds: creds, spn: spn, in: in}, nil
}

// Principal is the logged-in client principal (user@REALM), or "" before
// the first connection logged in.
func (p *KerberosProvider) Principal() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.creds == nil {
		return ""
	}
	return p.creds.Principal()
}

// Close forgets the login (its keys and tickets). Contexts already made
// keep working; a later NewContext logs in again.
func (p *KerberosProvider) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.creds != nil {
		p.creds.Close()
		p.creds = nil
	}
}

func (p *KerberosProvider) login() (*kerberos.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.creds != nil {
		return p.creds, nil
	}
	creds, err := kerberos.NewCredentials(p.cfg)
	if err != nil {
		return nil, err
	}
	p.creds = creds
	return creds, nil
}

// krbContext is one connection's Kerberos initiator.
type krbContext struct {
	creds    *kerberos.Credentials
	spn      string
	in       *kerberos.Initiator
	switched bool
}

func (k *krbContext) Scheme() string                 { return k.in.Scheme() }
func (k *krbContext) Step(in []byte) ([]byte, error) { return k.in.Step(in) }
func (k *krbContext) Complete() bool                 { return k.in.Complete() }
func (k *krbContext) Sealer() Sealer {
	if c := k.in.Context(); c != nil {
		return NewMultipartSealer(k.in.Protocol(), c)
	}
	return nil
}

// offered implements schemeSwitcher: a server that answered our first
// token with a 401 offering only the other scheme (Exchange with
// Negotiate disabled offers only Kerberos) gets a fresh AP-REQ in that
// scheme. It switches once; when our scheme was offered the 401 was a
// refusal, and there is nothing to switch to.
func (k *krbContext) offered(wwwAuthenticate []string) (bool, error) {
	if k.switched || k.in.Complete() {
		return false, nil
	}
	if _, ours, _ := kerberos.TokenFromHeader(wwwAuthenticate, kerberos.Scheme(k.in.Scheme())); ours {
		return false, nil
	}
	s, ok := kerberos.ChooseScheme(wwwAuthenticate)
	if !ok {
		// Neither scheme offered: the Initiator says so, naming
		// exchange.auth.
		return false, k.in.Offered(wwwAuthenticate)
	}
	in, err := k.creds.NewInitiator(k.spn, s)
	if err != nil {
		return false, err
	}
	k.in, k.switched = in, true
	return true, nil
}

// schemeSwitcher is a context that can restart its handshake in another
// HTTP scheme the server's 401 offers.
type schemeSwitcher interface {
	offered(wwwAuthenticate []string) (switched bool, err error)
}

// KerberosTicketCache reports whose valid TGT the ticket cache holds
// (KRB5CCNAME, else the default cache of krb5.conf; krb5Conf empty means
// KRB5_CONFIG, else /etc/krb5.conf), so that a setup dialogue can offer
// it before asking for a password or keytab. It does not contact the KDC.
// Without a usable cache the error is a *kerberos.Error (KindNoTicket
// when there is none or its TGT expired).
func KerberosTicketCache(krb5Conf string) (principal string, err error) {
	creds, err := kerberos.NewCredentials(kerberos.Config{Krb5ConfFile: krb5Conf})
	if err != nil {
		return "", err
	}
	defer creds.Close()
	return creds.Principal(), nil
}
