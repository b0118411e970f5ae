package checks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
	"github.com/exrunbook/exrunbook/internal/errkind"
)

// The POX request namespaces, as MS-OXDSCLI gives them (http, not https).
const (
	poxRequestNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	poxResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

// AutodiscoverAnswer is what an Autodiscover POX answer tells a client
// outside the organisation: the external MAPI/HTTP URLs, the Outlook
// Anywhere (EXPR) server, and the external web URLs.
type AutodiscoverAnswer struct {
	MapiHTTP          bool     // a Protocol Type="mapiHttp" was present
	MailStoreInternal []string // mapiHttp MailStore/InternalUrl
	MailStoreExternal []string // mapiHttp MailStore/ExternalUrl
	AddressBookExtern []string // mapiHttp AddressBook/ExternalUrl
	EXPRServers       []string // top-level EXPR Server
	WebExternal       []string // WEB/External OWAUrl and ASUrl
	ErrorCode         string   // Response/Error/ErrorCode, if any
	ErrorMessage      string
}

// ExternalURLs lists every URL or host offered for use from outside.
func (a AutodiscoverAnswer) ExternalURLs() []string {
	var out []string
	out = append(out, a.MailStoreExternal...)
	out = append(out, a.AddressBookExtern...)
	out = append(out, a.EXPRServers...)
	return append(out, a.WebExternal...)
}

// OffersExternalName reports whether the mapiHttp external URL or the EXPR
// server names host.
func (a AutodiscoverAnswer) OffersExternalName(host string) bool {
	for _, u := range a.MailStoreExternal {
		if p, err := url.Parse(u); err == nil && strings.EqualFold(p.Hostname(), host) {
			return true
		}
	}
	for _, s := range a.EXPRServers {
		if strings.EqualFold(strings.TrimSpace(s), host) {
			return true
		}
	}
	return false
}

// node is a namespace-blind XML element tree: POX answers come with http or
// https namespace spellings, and the parser must not care.
type node struct {
	name  string
	attrs map[string]string
	text  string
	kids  []*node
}

func (n *node) child(name string) *node {
	for _, k := range n.kids {
		if strings.EqualFold(k.name, name) {
			return k
		}
	}
	return nil
}

func (n *node) all(name string) []*node {
	var out []*node
	for _, k := range n.kids {
		if strings.EqualFold(k.name, name) {
			out = append(out, k)
		}
	}
	return out
}

func (n *node) childText(name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.text)
	}
	return ""
}

func parseTree(data []byte) (*node, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var stack []*node
	var root *node
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name.Local, attrs: map[string]string{}}
			for _, a := range t.Attr {
				n.attrs[a.Name.Local] = a.Value
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		}
	}
	if root == nil {
		return nil, fmt.Errorf("empty document")
	}
	return root, nil
}

// ParseAutodiscover reads a POX answer.
func ParseAutodiscover(data []byte) (AutodiscoverAnswer, error) {
	var a AutodiscoverAnswer
	root, err := parseTree(data)
	if err != nil {
		return a, fmt.Errorf("the Autodiscover answer is not XML: %v", err)
	}
	if !strings.EqualFold(root.name, "Autodiscover") {
		return a, fmt.Errorf("the answer's root element is <%s>, not <Autodiscover>", root.name)
	}
	resp := root.child("Response")
	if resp == nil {
		return a, fmt.Errorf("the Autodiscover answer has no <Response>")
	}
	if e := resp.child("Error"); e != nil {
		a.ErrorCode, a.ErrorMessage = e.childText("ErrorCode"), e.childText("Message")
		return a, nil
	}
	acct := resp.child("Account")
	if acct == nil {
		return a, fmt.Errorf("the Autodiscover answer has no <Account>")
	}
	for _, p := range acct.all("Protocol") {
		if strings.EqualFold(p.attrs["Type"], "mapiHttp") {
			a.MapiHTTP = true
			if ms := p.child("MailStore"); ms != nil {
				a.MailStoreInternal = appendText(a.MailStoreInternal, ms.all("InternalUrl"))
				a.MailStoreExternal = appendText(a.MailStoreExternal, ms.all("ExternalUrl"))
			}
			if ab := p.child("AddressBook"); ab != nil {
				a.AddressBookExtern = appendText(a.AddressBookExtern, ab.all("ExternalUrl"))
			}
			continue
		}
		switch strings.ToUpper(p.childText("Type")) {
		case "EXPR":
			if s := p.childText("Server"); s != "" {
				a.EXPRServers = append(a.EXPRServers, s)
			}
		case "WEB":
			if ext := p.child("External"); ext != nil {
				a.WebExternal = appendText(a.WebExternal, ext.all("OWAUrl"))
				for _, np := range ext.all("Protocol") {
					if s := np.childText("ASUrl"); s != "" {
						a.WebExternal = append(a.WebExternal, s)
					}
				}
			}
		}
	}
	return a, nil
}

func appendText(dst []string, ns []*node) []string {
	for _, n := range ns {
		if t := strings.TrimSpace(n.text); t != "" {
			dst = append(dst, t)
		}
	}
	return dst
}

// Probe asks Autodiscover, as a mailbox user, what it tells an Outlook
// that speaks MAPI/HTTP (X-MapiHttpCapability: 1). It posts to
// https://<host>/autodiscover/autodiscover.xml, connecting to addr with
// SNI and Host set to host.
type Probe struct {
	Addr     string
	Host     string
	Email    string
	Password string
	RootCAs  *x509.CertPool
	Timeout  time.Duration
}

// Ask sends the request and parses the answer.
func (p Probe) Ask(ctx context.Context) (AutodiscoverAnswer, error) {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.RootCAs, ServerName: p.Host, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, p.Addr)
		},
		Proxy: nil,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: timeout}
	var body bytes.Buffer
	body.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	body.WriteString(`<Autodiscover xmlns="` + poxRequestNS + `"><Request><EMailAddress>`)
	if err := xml.EscapeText(&body, []byte(p.Email)); err != nil {
		return AutodiscoverAnswer{}, err
	}
	body.WriteString(`</EMailAddress><AcceptableResponseSchema>` + poxResponseNS + `</AcceptableResponseSchema></Request></Autodiscover>`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+p.Host+"/autodiscover/autodiscover.xml", &body)
	if err != nil {
		return AutodiscoverAnswer{}, err
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("X-MapiHttpCapability", "1")
	req.SetBasicAuth(p.Email, p.Password)
	resp, err := client.Do(req)
	if err != nil {
		//lint:ignore ST1005 Autodiscover is the Exchange service's proper name, capitalised as Microsoft writes it
		return AutodiscoverAnswer{}, transientIf(err, fmt.Errorf("Autodiscover request to %s (%s) failed: %v", p.Host, p.Addr, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return AutodiscoverAnswer{}, transientIf(err, fmt.Errorf("reading the Autodiscover answer: %v", err))
	}
	if resp.StatusCode == http.StatusUnauthorized {
		//lint:ignore ST1005 Autodiscover is the Exchange service's proper name, capitalised as Microsoft writes it
		return AutodiscoverAnswer{}, fmt.Errorf("Autodiscover refused the probe user %s (HTTP 401): check autodiscover.probe and its password", p.Email)
	}
	if resp.StatusCode != http.StatusOK {
		//lint:ignore ST1005 Autodiscover is the Exchange service's proper name, capitalised as Microsoft writes it
		err := fmt.Errorf("Autodiscover answered HTTP %d", resp.StatusCode)
		if transientStatus(resp.StatusCode) {
			err = errkind.Transient(err)
		}
		return AutodiscoverAnswer{}, err
	}
	return ParseAutodiscover(data)
}

// AutodiscoverCheck probes every target as one user. With ExpectExternal
// the answer must offer the external name (in the mapiHttp ExternalUrl or
// the EXPR server); without it, the answer must offer no external URL at
// all: the user is blocked.
type AutodiscoverCheck struct {
	CheckName      string
	Targets        []Target
	Host           string // the Autodiscover name, for SNI and Host
	Email          string
	Password       func() (string, error)
	ExternalName   string
	ExpectExternal bool
	RootCAs        *x509.CertPool
	Timeout        time.Duration
}

// Name implements check.Check.
func (c *AutodiscoverCheck) Name() string {
	if c.CheckName != "" {
		return c.CheckName
	}
	if c.ExpectExternal {
		return "autodiscover-allowed-user"
	}
	return "autodiscover-blocked-user"
}

// Run implements check.Check.
func (c *AutodiscoverCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name(), Status: check.Pass}
	pw, err := c.Password()
	if err != nil {
		res.Status, res.Message = check.Fail, "probe password: "+err.Error()
		return res
	}
	var fails []string
	var ve verdictErr
	for _, t := range c.Targets {
		ans, err := Probe{Addr: t.Addr, Host: c.Host, Email: c.Email, Password: pw, RootCAs: c.RootCAs, Timeout: c.Timeout}.Ask(ctx)
		label := fmt.Sprintf("%s as %s", t.Server, c.Email)
		if err != nil {
			fails = append(fails, label+": "+err.Error())
			res.Evidence = append(res.Evidence, label+": "+err.Error())
			ve.add(err)
			continue
		}
		if ans.ErrorCode != "" {
			fails = append(fails, fmt.Sprintf("%s: Autodiscover error %s: %s", label, ans.ErrorCode, ans.ErrorMessage))
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: error %s %s", label, ans.ErrorCode, ans.ErrorMessage))
			continue
		}
		ext := ans.ExternalURLs()
		if len(ext) == 0 {
			res.Evidence = append(res.Evidence, label+": no external URLs (internal: "+strings.Join(ans.MailStoreInternal, " ")+")")
		} else {
			res.Evidence = append(res.Evidence, label+": external "+strings.Join(ext, " "))
		}
		switch {
		case c.ExpectExternal && !ans.OffersExternalName(c.ExternalName):
			fails = append(fails, fmt.Sprintf("%s: Autodiscover does not offer %s (external: %s)", label, c.ExternalName, orNone(ext)))
		case !c.ExpectExternal && len(ext) > 0:
			fails = append(fails, fmt.Sprintf("%s: a blocked user is still offered external URLs: %s", label, strings.Join(ext, " ")))
		}
	}
	switch {
	case len(c.Targets) == 0:
		res.Status, res.Message = check.Fail, "nothing to probe: no server HTTPS address (exchange.https)"
	case len(fails) > 0:
		res.Status, res.Message = check.Fail, strings.Join(fails, "; ")
		res.Err = ve.err(len(fails))
	case c.ExpectExternal:
		res.Message = fmt.Sprintf("%s is offered %s by every server", c.Email, c.ExternalName)
	default:
		res.Message = fmt.Sprintf("%s is offered no external URL by any server", c.Email)
	}
	return res
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}
