package acme

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/pause"
)

const userAgent = "exrunbook"

// RSAKeyBits is the size of the certificate's RSA key: Exchange wants RSA,
// 2048 bits or more.
const RSAKeyBits = 2048

// Client orders certificates from one ACME CA.
type Client struct {
	// DirectoryURL is the CA's directory (certificate.acme.directory).
	DirectoryURL string
	// Email is the account's contact (certificate.acme.email); optional.
	Email string
	// EAB binds the account to one at a commercial CA; nil for none.
	EAB *EAB
	// AccountKeyFile is the account key (0600), created on first use.
	AccountKeyFile string
	// HTTPClient talks to the CA (HTTPClient builds one with extra roots).
	HTTPClient *http.Client
	// Logf receives progress lines (nil: discarded). It never sees a secret.
	Logf func(format string, args ...any)
	// PollInterval is how often propagation is checked (default 2 s).
	PollInterval time.Duration
	// PropagationTimeout bounds the wait for every authoritative server
	// to serve the records (default 10 min).
	PropagationTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// HTTPClient returns an HTTP client that verifies the CA's TLS against
// the system roots plus the PEM bundle caFile (certificate.acme.ca_file).
func HTTPClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("certificate.acme.ca_file: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("certificate.acme.ca_file %s: no PEM certificate in it", caFile)
		}
	}
	// http.DefaultTransport is an *http.Transport unless something put a
	// layer on it (apiretry.RouteDefault does, for the Hetzner and IONOS
	// DNS modules): then start from a transport with the same defaults.
	var tr *http.Transport
	if d, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = d.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2: true, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ExpectContinueTimeout: time.Second}
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

func (c *Client) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Hooks let the caller record the challenge records before they are
// written (so that a crashed process's records are removed by the next
// one) and learn when they are gone.
type Hooks struct {
	// Presenting is called with every record before the first is written;
	// an error stops the order before DNS is touched.
	Presenting func(recs []TXTRecord) error
	// CleanedUp is called once every record was removed.
	CleanedUp func(recs []TXTRecord)
}

// client builds the x/crypto client with the account key and registers
// (or finds) the account.
func (c *Client) client(ctx context.Context) (*xacme.Client, error) {
	if c.DirectoryURL == "" {
		return nil, errors.New("certificate.acme.directory: missing; expected the CA's ACME directory URL")
	}
	hc := c.HTTPClient
	if hc == nil {
		var err error
		if hc, err = HTTPClient(""); err != nil {
			return nil, err
		}
	}
	key, created, err := LoadOrCreateAccountKey(c.AccountKeyFile)
	if err != nil {
		return nil, err
	}
	if created {
		c.logf("created the ACME account key %s (mode 0600)", c.AccountKeyFile)
	}
	cl := &xacme.Client{Key: key, DirectoryURL: c.DirectoryURL, HTTPClient: hc, UserAgent: userAgent}
	dir, err := cl.Discover(ctx)
	if err != nil {
		return nil, caError(fmt.Sprintf("reading the ACME directory %s", c.DirectoryURL), err)
	}
	acct := &xacme.Account{}
	if c.Email != "" {
		acct.Contact = []string{"mailto:" + c.Email}
	}
	if c.EAB != nil {
		acct.ExternalAccountBinding = &xacme.ExternalAccountBinding{KID: c.EAB.KID, Key: c.EAB.HMACKey}
	} else if dir.ExternalAccountRequired {
		return nil, fmt.Errorf("the ACME CA %s requires an external account binding: set certificate.acme.eab_kid and EXRUNBOOK_CERTIFICATE_ACME_EAB_HMAC (or certificate.acme.eab_hmac_file) to the values the CA gave you", c.DirectoryURL)
	}
	a, err := cl.Register(ctx, acct, xacme.AcceptTOS)
	switch {
	case errors.Is(err, xacme.ErrAccountAlreadyExists):
		if _, err := cl.GetReg(ctx, ""); err != nil {
			return nil, caError("looking up the ACME account", err)
		}
	case err != nil:
		return nil, caError("registering the ACME account", err)
	default:
		c.logf("registered ACME account %s at %s", a.URI, c.DirectoryURL)
	}
	return cl, nil
}

// caError says what failed in the CA's words; 5xx, rate limits and
// transport failures are transient.
func caError(what string, err error) error {
	var ae *xacme.Error
	if errors.As(err, &ae) {
		e := fmt.Errorf("%s: the CA answered HTTP %d %s: %s", what, ae.StatusCode, strings.TrimPrefix(ae.ProblemType, "urn:ietf:params:acme:error:"), ae.Detail)
		if ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests {
			return errkind.Transient(e)
		}
		return e
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return errkind.Transient(fmt.Errorf("%s: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

type pendingChallenge struct {
	authzURL, domain string
	chal             *xacme.Challenge
}

// Obtain orders a certificate for names (the first is the subject's CN),
// answering every authorization with DNS-01: it writes the TXT records
// through w, waits until p says every authoritative nameserver serves
// them, asks the CA to validate, removes the records (also when anything
// failed), and finalizes the order with a fresh RSA key.
func (c *Client) Obtain(ctx context.Context, names []string, w TXTWriter, p Propagation, h Hooks) (*Certificate, error) {
	if len(names) == 0 {
		return nil, errors.New("no name to order a certificate for")
	}
	cl, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	order, err := cl.AuthorizeOrder(ctx, xacme.DomainIDs(names...))
	if err != nil {
		return nil, caError(fmt.Sprintf("creating the order for %s", strings.Join(names, ", ")), err)
	}
	c.logf("ACME order %s for %s", order.URI, strings.Join(names, ", "))
	var pending []pendingChallenge
	var recs []TXTRecord
	for _, u := range order.AuthzURLs {
		z, err := cl.GetAuthorization(ctx, u)
		if err != nil {
			return nil, caError("reading the authorization "+u, err)
		}
		if z.Status == xacme.StatusValid {
			c.logf("%s: already authorized", z.Identifier.Value)
			continue
		}
		var chal *xacme.Challenge
		var offered []string
		for _, ch := range z.Challenges {
			offered = append(offered, ch.Type)
			if ch.Type == "dns-01" {
				chal = ch
			}
		}
		if chal == nil {
			return nil, fmt.Errorf("the CA offers no dns-01 challenge for %s (it offers %s); exrunbook answers only DNS-01", z.Identifier.Value, strings.Join(offered, ", "))
		}
		v, err := cl.DNS01ChallengeRecord(chal.Token)
		if err != nil {
			return nil, err
		}
		recs = append(recs, TXTRecord{FQDN: ChallengeFQDN(z.Identifier.Value), Value: v})
		pending = append(pending, pendingChallenge{authzURL: u, domain: z.Identifier.Value, chal: chal})
	}
	if len(recs) > 0 {
		if err := c.validate(ctx, cl, pending, recs, w, p, h); err != nil {
			return nil, err
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, RSAKeyBits)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: names[0]}, DNSNames: names, SignatureAlgorithm: x509.SHA256WithRSA}, key)
	if err != nil {
		return nil, err
	}
	der, _, err := cl.CreateCertFromOrder(ctx, order, csr, true)
	if err != nil {
		return nil, caError("finalizing the order", err)
	}
	chain, err := ParseChain(der, key, names, c.now())
	if err != nil {
		return nil, err
	}
	cert := &Certificate{Key: key, Chain: chain}
	c.logf("issued %s by %s for %s, valid until %s", cert.Thumbprint(), chain[0].Issuer.CommonName, strings.Join(names, ", "), chain[0].NotAfter.UTC().Format(time.RFC3339))
	return cert, nil
}

// validate writes the records, waits for propagation, has the CA validate
// every challenge, and removes the records whatever happened.
func (c *Client) validate(ctx context.Context, cl *xacme.Client, pending []pendingChallenge, recs []TXTRecord, w TXTWriter, p Propagation, h Hooks) (err error) {
	if h.Presenting != nil {
		if err := h.Presenting(recs); err != nil {
			return err
		}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if cerr := CleanUp(cctx, w, recs); cerr != nil {
			err = errors.Join(err, cerr)
			return
		}
		c.logf("removed %d challenge record(s)", len(recs))
		if h.CleanedUp != nil {
			h.CleanedUp(recs)
		}
	}()
	// Writing may wait for a person (manual mode): bounded like the
	// propagation wait.
	pctx, cancel := context.WithTimeout(ctx, c.propagationTimeout())
	defer cancel()
	if bw, ok := w.(BatchWriter); ok {
		if err := bw.PresentAll(pctx, recs); err != nil {
			domains := make([]string, len(pending))
			for i, pc := range pending {
				domains[i] = pc.domain
			}
			return fmt.Errorf("the DNS-01 challenges for %s cannot be answered: %w", strings.Join(domains, ", "), err)
		}
	} else {
		for i, r := range recs {
			if err := w.Present(pctx, r.FQDN, r.Value); err != nil {
				return fmt.Errorf("the DNS-01 challenge for %s cannot be answered: %w", pending[i].domain, err)
			}
		}
	}
	for _, r := range recs {
		c.logf("challenge record presented: %s", r)
	}
	if err := c.waitPropagation(ctx, recs, p); err != nil {
		return err
	}
	for _, pc := range pending {
		if _, err := cl.Accept(ctx, pc.chal); err != nil {
			return caError("asking the CA to validate "+pc.domain, err)
		}
	}
	for _, pc := range pending {
		if _, err := cl.WaitAuthorization(ctx, pc.authzURL); err != nil {
			var ae *xacme.AuthorizationError
			if errors.As(err, &ae) {
				return fmt.Errorf("the CA did not validate %s: %v", pc.domain, ae)
			}
			return caError("waiting for the CA to validate "+pc.domain, err)
		}
		c.logf("%s: validated by DNS-01", pc.domain)
	}
	return nil
}

func (c *Client) propagationTimeout() time.Duration {
	if c.PropagationTimeout <= 0 {
		return 10 * time.Minute
	}
	return c.PropagationTimeout
}

// waitPropagation polls p until it reports every record served.
func (c *Client) waitPropagation(ctx context.Context, recs []TXTRecord, p Propagation) error {
	iv := c.PollInterval
	if iv <= 0 {
		iv = 2 * time.Second
	}
	limit := c.propagationTimeout()
	deadline := time.Now().Add(limit)
	last := ""
	for {
		ok, detail, err := p.Check(ctx, recs)
		if err != nil {
			last = err.Error()
		} else if ok {
			c.logf("every authoritative nameserver serves the challenge records: %s", detail)
			return nil
		} else {
			last = detail
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the challenge records did not reach every authoritative nameserver within %s: %s", limit, last)
		}
		if err := pause.For(ctx, iv); err != nil {
			return err
		}
	}
}

// CleanUp removes every record through w, trying all of them; the error
// names each one that could not be removed.
func CleanUp(ctx context.Context, w TXTWriter, recs []TXTRecord) error {
	if bw, ok := w.(BatchWriter); ok {
		if err := bw.CleanUpAll(ctx, recs); err != nil {
			return fmt.Errorf("the challenge records could not all be removed (remove them by hand): %w", err)
		}
		return nil
	}
	var errs []error
	for _, r := range recs {
		if err := w.CleanUp(ctx, r.FQDN, r.Value); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the challenge records could not all be removed (remove them by hand): %w", errors.Join(errs...))
	}
	return nil
}
