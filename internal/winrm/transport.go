package winrm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/spnego"

	bntlm "github.com/bodgit/ntlmssp"
	bntlmhttp "github.com/bodgit/ntlmssp/http"
	mz "github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"
)

// maxResponse bounds one WS-Man answer; envelopes are ~150 KB.
const maxResponse = 16 << 20

// cleanupTimeout bounds the Signal and Delete sent after a cancellation.
const cleanupTimeout = 10 * time.Second

// httpLayer is the HTTP side shared by every call of one Client: one
// connection pool, one TLS config, the credentials.
type httpLayer struct {
	client   *http.Client
	url      string
	auth     Auth
	user     string
	password string
	krb      *krbclient.Client
	spn      string
}

func newHTTPLayer(cfg Config, ep endpoint) (*httpLayer, error) {
	tlsCfg := &tls.Config{
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // only when explicitly configured
		ServerName:         cfg.TLSServerName,
		MinVersion:         tls.VersionTLS12,
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("exchange.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("exchange.ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.Auth == AuthCertificate {
		cert, err := tls.LoadX509KeyPair(cfg.ClientCert, cfg.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("client certificate for exchange.auth certificate: %w", err)
		}
		tlsCfg.Certificates = []tls.Certificate{cert}
		tlsCfg.Renegotiation = tls.RenegotiateOnceAsClient
	}
	op := cfg.OperationTimeout
	if op <= 0 {
		op = 60 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   30 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: op + 30*time.Second, // the server holds a Receive for up to OperationTimeout
	}
	var rt http.RoundTripper = tr
	if cfg.Auth == AuthNTLM {
		rt = ntlmssp.Negotiator{RoundTripper: tr}
	}
	h := &httpLayer{
		client:   &http.Client{Transport: rt},
		url:      ep.url,
		auth:     cfg.Auth,
		user:     cfg.User,
		password: cfg.Password,
	}
	if cfg.Auth == AuthKerberos {
		krb, spn, err := kerberosClient(cfg, ep)
		if err != nil {
			return nil, err
		}
		h.krb, h.spn = krb, spn
	}
	return h, nil
}

// kerberosClient builds the gokrb5 client from krb5.conf and a keytab or
// the password. It does not contact the KDC.
func kerberosClient(cfg Config, ep endpoint) (*krbclient.Client, string, error) {
	kc, err := krbconfig.Load(cfg.KrbConf)
	if err != nil {
		return nil, "", fmt.Errorf("krb5.conf %s: %w", cfg.KrbConf, err)
	}
	user, realm := cfg.User, cfg.Realm
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
		return nil, "", errors.New("kerberos realm unknown: give user@REALM, a realm, or default_realm in krb5.conf")
	}
	realm = strings.ToUpper(realm)
	var cl *krbclient.Client
	if cfg.Keytab != "" {
		kt, err := keytab.Load(cfg.Keytab)
		if err != nil {
			return nil, "", fmt.Errorf("keytab %s: %w", cfg.Keytab, err)
		}
		cl = krbclient.NewWithKeytab(user, realm, kt, kc, krbclient.DisablePAFXFAST(true))
	} else {
		cl = krbclient.NewWithPassword(user, realm, cfg.Password, kc, krbclient.DisablePAFXFAST(true), krbclient.AssumePreAuthentication(true))
	}
	spn := cfg.SPN
	if spn == "" {
		spn = "HTTP/" + ep.host
	}
	return cl, spn, nil
}

// transporter is the masterzen Transporter of one call: it posts through
// the shared httpLayer under the call's context, and turns 401, 5xx and
// SOAP faults into errors (masterzen's own Post lets them pass).
type transporter struct {
	ctx context.Context
	h   *httpLayer
}

// Transport is a no-op: the HTTP side is configured once in newHTTPLayer.
func (t *transporter) Transport(*mz.Endpoint) error { return nil }

// Post sends one SOAP message and returns the answer's body.
func (t *transporter) Post(_ *mz.Client, m *soap.SoapMessage) (string, error) {
	body := m.String()
	ctx := t.ctx
	if isCleanup(body) {
		// Signal and Delete must still reach the server when the call was
		// cancelled, or the command and shell linger there.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.h.url, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	switch t.h.auth {
	case AuthBasic, AuthNTLM:
		// For NTLM the Negotiator turns these credentials into the
		// NEGOTIATE/AUTHENTICATE handshake.
		req.SetBasicAuth(t.h.user, t.h.password)
	case AuthKerberos:
		if err := spnego.SetSPNEGOHeader(t.h.krb, req, t.h.spn); err != nil {
			return "", fmt.Errorf("kerberos (SPN %s): %w", t.h.spn, err)
		}
	case AuthCertificate:
		req.Header.Set("Authorization", "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual")
	}
	resp, err := t.h.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	return readAnswer(resp)
}

// readAnswer reads a WS-Man answer, turning non-200 statuses and SOAP
// faults into *HTTPError.
func readAnswer(resp *http.Response) (string, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("reading WinRM answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		he := &HTTPError{Status: resp.StatusCode}
		if f, ok := parseFault(data); ok {
			he.Subcode, he.Fault = f.subcode, f.text
		}
		return "", he
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "application/soap+xml") {
		return "", fmt.Errorf("WinRM answer has Content-Type %q, expected application/soap+xml", resp.Header.Get("Content-Type"))
	}
	if f, ok := parseFault(data); ok {
		return "", &HTTPError{Status: http.StatusInternalServerError, Subcode: f.subcode, Fault: f.text}
	}
	return string(data), nil
}

// sealedTransporter is NTLM over plain http with message encryption
// (sealing), as Windows requires when AllowUnencrypted is off. It uses
// bodgit/ntlmssp, the library behind masterzen's NewEncryption("ntlm"),
// directly, because masterzen's Encryption (1) shares one NTLM session
// between concurrent requests (Receive and Send run at the same time),
// which breaks the sealing sequence ("checksum does not match"), and (2)
// falls back to sending the message unsealed when the handshake fails.
//
// Here a session is one connection with its own NTLM context (a
// handshake with an empty body first); a message takes an idle session of
// the call or opens a new one, so concurrent messages never share one,
// and nothing is ever sent unsealed. Sessions live for one RunPowerShell
// call.
type sealedTransporter struct {
	ctx  context.Context
	c    *Client
	mu   sync.Mutex
	idle []*sealedSession
}

type sealedSession struct {
	tr  *http.Transport
	raw *http.Client
	nc  *bntlm.Client
}

func (t *sealedTransporter) Transport(*mz.Endpoint) error { return nil }

// closeAll ends the call's idle sessions.
func (t *sealedTransporter) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.idle {
		s.tr.CloseIdleConnections()
	}
	t.idle = nil
}

func (t *sealedTransporter) get(ctx context.Context) (*sealedSession, bool, error) {
	t.mu.Lock()
	if n := len(t.idle); n > 0 {
		s := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		return s, true, nil
	}
	t.mu.Unlock()
	s, err := t.open(ctx)
	return s, false, err
}

func (t *sealedTransporter) put(s *sealedSession) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.idle = append(t.idle, s)
}

// open makes a connection and authenticates it with an empty message.
func (t *sealedTransporter) open(ctx context.Context) (*sealedSession, error) {
	op := t.c.cfg.OperationTimeout
	if op <= 0 {
		op = 60 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxConnsPerHost:       1, // the NTLM session is bound to the connection
		ResponseHeaderTimeout: op + 30*time.Second,
	}
	user, domain := splitNTLMUser(t.c.cfg.User)
	nc, err := bntlm.NewClient(bntlm.SetUserInfo(user, t.c.cfg.Password), bntlm.SetDomain(domain), bntlm.SetVersion(bntlm.DefaultVersion()))
	if err != nil {
		return nil, err
	}
	raw := &http.Client{Transport: tr}
	hc, err := bntlmhttp.NewClient(raw, nc)
	if err != nil {
		return nil, err
	}
	hs, err := http.NewRequestWithContext(ctx, http.MethodPost, t.c.ep.url, http.NoBody)
	if err != nil {
		return nil, err
	}
	hs.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	resp, err := hc.Do(hs)
	if err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		tr.CloseIdleConnections()
		return nil, &HTTPError{Status: http.StatusUnauthorized}
	}
	if !nc.Complete() {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("NTLM handshake with %s did not complete (HTTP %d); refusing to send unsealed", t.c.ep.url, resp.StatusCode)
	}
	return &sealedSession{tr: tr, raw: raw, nc: nc}, nil
}

func (t *sealedTransporter) Post(_ *mz.Client, m *soap.SoapMessage) (string, error) {
	body := m.String()
	ctx := t.ctx
	if isCleanup(body) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
	}
	for attempt := 0; ; attempt++ {
		s, reused, err := t.get(ctx)
		if err != nil {
			return "", err
		}
		answer, err := s.post(ctx, t.c.ep.url, body)
		if err == nil {
			t.put(s)
			return answer, nil
		}
		// A failed message may have desynchronised the seal: never reuse.
		s.tr.CloseIdleConnections()
		var he *HTTPError
		if reused && attempt == 0 && errors.As(err, &he) && he.Status == http.StatusUnauthorized {
			// The server dropped the authenticated connection and refused
			// the message unread: send it again on a new session.
			continue
		}
		return "", err
	}
}

// post sends one sealed message and unseals the answer.
func (s *sealedSession) post(ctx context.Context, url, body string) (string, error) {
	sealed, sig, err := s.nc.SecuritySession().Wrap([]byte(body))
	if err != nil {
		return "", err
	}
	payload, ct := frameSealed(len(body), sig, sealed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", ct)
	resp, err := s.raw.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if strings.Contains(resp.Header.Get("Content-Type"), "multipart/encrypted") {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		if err != nil {
			return "", fmt.Errorf("reading WinRM answer: %w", err)
		}
		sig, sealed, err := unframeSealed(data)
		if err != nil {
			return "", fmt.Errorf("unsealing the WinRM answer: %w", err)
		}
		plain, err := s.nc.SecuritySession().Unwrap(sealed, sig)
		if err != nil {
			return "", fmt.Errorf("unsealing the WinRM answer: %w", err)
		}
		resp.Body = io.NopCloser(bytes.NewReader(plain))
		resp.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	} else if resp.StatusCode == http.StatusOK {
		return "", errors.New("the WinRM answer to a sealed message was not sealed")
	}
	return readAnswer(resp)
}

// splitNTLMUser splits DOMAIN\user or user@domain.
func splitNTLMUser(u string) (user, domain string) {
	if i := strings.Index(u, `\`); i >= 0 {
		return u[i+1:], u[:i]
	}
	if i := strings.LastIndex(u, "@"); i >= 0 {
		return u[:i], u[i+1:]
	}
	return u, ""
}

const (
	sealBoundary    = "--Encrypted Boundary"
	sealProtocol    = "application/HTTP-SPNEGO-session-encrypted"
	sealContentType = `multipart/encrypted;protocol="` + sealProtocol + `";boundary="Encrypted Boundary"`
	sealPartHeader  = "\tContent-Type: application/octet-stream\r\n"
)

// frameSealed builds the MS-WSMV encrypted body (as pywinrm and masterzen
// send it): a header part giving the plaintext length, then the 4-byte
// signature length, the signature and the sealed message.
func frameSealed(plainLen int, sig, sealed []byte) ([]byte, string) {
	var b bytes.Buffer
	b.WriteString(sealBoundary + "\r\n\tContent-Type: " + sealProtocol + "\r\n")
	fmt.Fprintf(&b, "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n", plainLen)
	b.WriteString(sealBoundary + "\r\n" + sealPartHeader)
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(sig)))
	b.Write(l[:])
	b.Write(sig)
	b.Write(sealed)
	b.WriteString(sealBoundary + "--\r\n")
	return b.Bytes(), sealContentType
}

// unframeSealed reads one sealed part of an encrypted body.
func unframeSealed(body []byte) (sig, sealed []byte, err error) {
	bad := errors.New("malformed encrypted body")
	rest, ok := bytes.CutPrefix(body, []byte(sealBoundary+"\r\n"))
	if !ok {
		return nil, nil, bad
	}
	header, rest, ok := bytes.Cut(rest, []byte(sealBoundary+"\r\n"))
	if !ok {
		return nil, nil, bad
	}
	_, lenText, ok := bytes.Cut(header, []byte("Length="))
	if !ok {
		return nil, nil, bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(lenText)))
	if err != nil || n < 0 {
		return nil, nil, bad
	}
	rest, ok = bytes.CutPrefix(rest, []byte(sealPartHeader))
	if !ok || len(rest) < 4 {
		return nil, nil, bad
	}
	sl := int(binary.LittleEndian.Uint32(rest))
	rest = rest[4:]
	if sl <= 0 || sl > 64 || len(rest) < sl+n {
		return nil, nil, bad
	}
	return rest[:sl], rest[sl : sl+n], nil
}

func isCleanup(body string) bool {
	return strings.Contains(body, "/windows/shell/Signal<") || strings.Contains(body, "/transfer/Delete<")
}

type fault struct {
	subcode string
	text    string
}

// parseFault finds a SOAP 1.2 Fault in a WS-Man answer and returns its
// subcode and its most specific text (the WSManFault message, else the
// Reason).
func parseFault(data []byte) (fault, bool) {
	if !bytes.Contains(data, []byte("Fault")) {
		return fault{}, false
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var f fault
	var found, inSubcode bool
	var path []string
	var reason, message strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			switch t.Name.Local {
			case "Fault":
				found = true
			case "Subcode":
				inSubcode = true
			}
		case xml.EndElement:
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
			if t.Name.Local == "Subcode" {
				inSubcode = false
			}
		case xml.CharData:
			if !found || len(path) == 0 {
				continue
			}
			s := strings.TrimSpace(string(t))
			if s == "" {
				continue
			}
			switch leaf := path[len(path)-1]; {
			case leaf == "Value" && inSubcode:
				f.subcode = s
			case leaf == "Text" && contains(path, "Reason"):
				appendSp(&reason, s)
			case contains(path, "WSManFault") && (leaf == "Message" || leaf == "ProviderFault"):
				appendSp(&message, s)
			}
		}
	}
	if !found {
		return fault{}, false
	}
	f.text = message.String()
	if f.text == "" {
		f.text = reason.String()
	} else if r := reason.String(); r != "" && !strings.Contains(f.text, r) {
		f.text = r + ": " + f.text
	}
	return f, true
}

func contains(path []string, s string) bool {
	for _, p := range path {
		if p == s {
			return true
		}
	}
	return false
}

func appendSp(b *strings.Builder, s string) {
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(s)
}
