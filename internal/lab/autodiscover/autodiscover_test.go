package autodiscover

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
)

var now = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

var (
	caOnce sync.Once
	testCA *ca.CA
	oldLf  *ca.Leaf
	newLf  *ca.Leaf
)

func certs(t testing.TB) {
	caOnce.Do(func() {
		var err error
		testCA, err = ca.New("Contoso Lab CA", now, nil)
		if err != nil {
			t.Fatal(err)
		}
		oldLf, err = testCA.Issue("outlook.contoso.test", []string{"outlook.contoso.test", "autodiscover.contoso.test", "ex01.contoso.test", "ex02.contoso.test"}, now.AddDate(0, -6, 0), now.AddDate(1, 0, 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		newLf, err = testCA.Issue("outlook.contoso.test", []string{"outlook.contoso.test", "outlook-ext.contoso.test", "autodiscover.contoso.test"}, now, now.AddDate(2, 0, 0), nil)
		if err != nil {
			t.Fatal(err)
		}
	})
}

func orgCert(server string, l *ca.Leaf, services org.Services) *org.Certificate {
	return &org.Certificate{Server: server, Thumbprint: l.Thumbprint(), Subject: "CN=" + l.Cert.Subject.CommonName,
		CertificateDomains: l.Cert.DNSNames, NotBefore: l.Cert.NotBefore, NotAfter: l.Cert.NotAfter, Services: services,
		HasPrivateKey: true, KeySize: 2048, SignatureAlgorithm: "sha256RSA", Status: org.CertValid,
		CertPEM: string(l.CertPEM()), KeyPEM: string(l.KeyPEM())}
}

// fixture is orgtest's organisation with real certificates, the MAPI
// ExternalUrl split from the internal one (as after the runbook), and
// mailbox flags set per test.
func fixture(t *testing.T) *org.Store {
	certs(t)
	o := orgtest.New(12)
	o.Certificates = nil
	for _, s := range []string{"EX01", "EX02"} {
		o.Certificates = append(o.Certificates, orgCert(s, oldLf, org.ServiceIIS|org.ServiceSMTP))
	}
	ext := "https://outlook-ext.contoso.test/"
	for _, v := range o.VirtualDirectories {
		if v.ExternalUrl != nil && v.Kind != org.KindPowerShell {
			u := strings.Replace(*v.ExternalUrl, "https://outlook.contoso.test/", ext, 1)
			v.ExternalUrl = &u
		}
	}
	for _, oa := range o.OutlookAnywhere {
		h := "outlook-ext.contoso.test"
		oa.ExternalHostname = &h
	}
	m := o.Mailboxes
	m[9].MAPIBlockOutlookExternalConnectivity = true // blocked
	m[9].MAPIBlockOutlookRpcHttp = true
	f := false
	m[10].MapiHttpEnabled = &f // RPC/HTTP only
	m[11].MAPIBlockOutlookRpcHttp = true
	return org.NewMemory(o)
}

func listen(t *testing.T, st *org.Store, server string) *Listener {
	t.Helper()
	l, err := Listen(Options{Store: st, Server: server, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func client(sni string) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(testCA.Cert)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: sni}}}
}

func body(addr string) string {
	return `<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>` +
		addr + `</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
}

// parsed is the part of a response the tests look at.
type parsed struct {
	Response struct {
		User struct {
			DisplayName             string
			AutoDiscoverSMTPAddress string
		}
		Account struct {
			Protocol []struct {
				TypeAttr    string `xml:"Type,attr"`
				Version     string `xml:"Version,attr"`
				Type        string `xml:"Type"`
				Server      string `xml:"Server"`
				ASUrl       string `xml:"ASUrl"`
				MailStore   *struct{ InternalUrl, ExternalUrl string }
				AddressBook *struct{ InternalUrl, ExternalUrl string }
				Internal    *struct{ OWAUrl string }
				External    *struct{ OWAUrl string }
			}
		}
		Error *struct {
			ErrorCode int
			Message   string
		}
	}
}

func post(t *testing.T, c *http.Client, addr, user, pass, email, mapiHeader, path string) (int, parsed, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "https://"+addr+path, strings.NewReader(body(email)))
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "text/xml")
	if mapiHeader != "" {
		req.Header.Set("X-MapiHttpCapability", mapiHeader)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p parsed
	if resp.StatusCode == 200 {
		if err := xml.Unmarshal(b, &p); err != nil {
			t.Fatalf("response is not XML: %v\n%s", err, b)
		}
	}
	return resp.StatusCode, p, string(b)
}

func summary(p parsed) string {
	var parts []string
	for _, pr := range p.Response.Account.Protocol {
		switch {
		case pr.TypeAttr == "mapiHttp":
			s := "mapiHttp(" + pr.Version + ";int"
			if pr.MailStore.ExternalUrl != "" || pr.AddressBook.ExternalUrl != "" {
				s += ";ext=" + pr.MailStore.ExternalUrl
			}
			parts = append(parts, s+")")
		case pr.Type == "EXPR":
			parts = append(parts, "EXPR("+pr.Server+")")
		case pr.Type == "WEB":
			s := "WEB("
			if pr.Internal != nil {
				s += "int"
			}
			if pr.External != nil {
				s += ";ext=" + pr.External.OWAUrl
			}
			parts = append(parts, s+")")
		default:
			parts = append(parts, pr.Type)
		}
	}
	return strings.Join(parts, " ")
}

func TestPOX(t *testing.T) {
	st := fixture(t)
	l := listen(t, st, "EX01")
	c := client("autodiscover.contoso.test")
	var mbx []*org.Mailbox
	st.Read(func(o *org.Org) { mbx = o.Mailboxes })
	guid := func(i int) string { return mbx[i].ExchangeGuid.String() + "@contoso.test" }
	cases := []struct {
		name   string
		user   int
		mapi   string
		want   string
		mstore string // expected MailStore InternalUrl, when mapiHttp
	}{
		{"allowed, MAPI", 8, "1", "mapiHttp(1;int;ext=https://outlook-ext.contoso.test/mapi/emsmdb/?MailboxId=" + guid(8) + ") WEB(int;ext=https://outlook-ext.contoso.test/owa)",
			"https://outlook.contoso.test/mapi/emsmdb/?MailboxId=" + guid(8)},
		{"allowed, no header", 8, "", "EXCH EXPR(outlook-ext.contoso.test) WEB(int;ext=https://outlook-ext.contoso.test/owa)", ""},
		{"allowed, invalid header", 8, "0", "EXCH EXPR(outlook-ext.contoso.test) WEB(int;ext=https://outlook-ext.contoso.test/owa)", ""},
		{"allowed, higher header", 8, "2", "mapiHttp(1;int;ext=https://outlook-ext.contoso.test/mapi/emsmdb/?MailboxId=" + guid(8) + ") WEB(int;ext=https://outlook-ext.contoso.test/owa)", ""},
		{"blocked, MAPI", 9, "1", "mapiHttp(1;int) WEB(int)", "https://outlook.contoso.test/mapi/emsmdb/?MailboxId=" + guid(9)},
		{"blocked, no header", 9, "", "WEB(int)", ""},
		{"MapiHttpEnabled false", 10, "1", "EXCH EXPR(outlook-ext.contoso.test) WEB(int;ext=https://outlook-ext.contoso.test/owa)", ""},
		{"RPC/HTTP blocked only, no header", 11, "", "WEB(int;ext=https://outlook-ext.contoso.test/owa)", ""},
		{"RPC/HTTP blocked only, MAPI", 11, "1", "mapiHttp(1;int;ext=https://outlook-ext.contoso.test/mapi/emsmdb/?MailboxId=" + guid(11) + ") WEB(int;ext=https://outlook-ext.contoso.test/owa)", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := mbx[tc.user]
			code, p, raw := post(t, c, l.Addr(), m.PrimarySmtpAddress, m.Password, m.PrimarySmtpAddress, tc.mapi, "/Autodiscover/Autodiscover.xml")
			if code != 200 {
				t.Fatalf("status %d: %s", code, raw)
			}
			if got := summary(p); got != tc.want {
				t.Errorf("got  %s\nwant %s\n%s", got, tc.want, raw)
			}
			if tc.mstore != "" && p.Response.Account.Protocol[0].MailStore.InternalUrl != tc.mstore {
				t.Errorf("MailStore InternalUrl %q", p.Response.Account.Protocol[0].MailStore.InternalUrl)
			}
			if p.Response.User.AutoDiscoverSMTPAddress != m.PrimarySmtpAddress || p.Response.User.DisplayName != m.DisplayName {
				t.Errorf("user %+v", p.Response.User)
			}
		})
	}
}

func TestPOXHostileDisplayNames(t *testing.T) {
	st := fixture(t)
	l := listen(t, st, "EX02")
	c := client("outlook.contoso.test")
	var mbx []*org.Mailbox
	st.Read(func(o *org.Org) { mbx = o.Mailboxes })
	for i, name := range orgtest.HostileNames {
		m := mbx[i]
		code, p, raw := post(t, c, l.Addr(), `CONTOSO\`+m.SamAccountName, m.Password, m.PrimarySmtpAddress, "1", "/autodiscover/autodiscover.xml")
		if code != 200 || p.Response.User.DisplayName != name {
			t.Errorf("%q: status %d, display name %q\n%s", name, code, p.Response.User.DisplayName, raw)
		}
	}
}

func TestPOXErrors(t *testing.T) {
	st := fixture(t)
	l := listen(t, st, "EX01")
	c := client("autodiscover.contoso.test")
	var m *org.Mailbox
	st.Read(func(o *org.Org) { m = o.Mailboxes[8] })
	cases := []struct {
		name      string
		user      string
		pass      string
		email     string
		path      string
		wantCode  int
		wantError int
	}{
		{"wrong password", m.PrimarySmtpAddress, "wrong", m.PrimarySmtpAddress, "/autodiscover/autodiscover.xml", 401, 0},
		{"unknown user", "nobody@contoso.test", "x", m.PrimarySmtpAddress, "/autodiscover/autodiscover.xml", 401, 0},
		{"unknown address", m.PrimarySmtpAddress, m.Password, "nobody@contoso.test", "/autodiscover/autodiscover.xml", 200, CodeNotFound},
		{"other path", m.PrimarySmtpAddress, m.Password, m.PrimarySmtpAddress, "/owa/", 404, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, p, raw := post(t, c, l.Addr(), tc.user, tc.pass, tc.email, "1", tc.path)
			if code != tc.wantCode {
				t.Fatalf("status %d, want %d: %s", code, tc.wantCode, raw)
			}
			if tc.wantError != 0 {
				if p.Response.Error == nil || p.Response.Error.ErrorCode != tc.wantError {
					t.Fatalf("error %+v, want %d\n%s", p.Response.Error, tc.wantError, raw)
				}
				if tc.wantError == CodeNotFound && p.Response.Error.Message != MessageNotFound {
					t.Errorf("message %q", p.Response.Error.Message)
				}
			}
		})
	}
	// An authenticated GET or a malformed body is an Invalid Request.
	for _, b := range []string{"", "<Autodiscover/>", "not xml"} {
		req, _ := http.NewRequest(http.MethodPost, "https://"+l.Addr()+"/autodiscover/autodiscover.xml", strings.NewReader(b))
		req.SetBasicAuth(m.PrimarySmtpAddress, m.Password)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(raw, []byte("<ErrorCode>600</ErrorCode>")) {
			t.Errorf("body %q: %s", b, raw)
		}
	}
	resp, err := c.Get("https://" + l.Addr() + "/autodiscover/autodiscover.xml")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := strings.Join(resp.Header.Values("WWW-Authenticate"), "|"); resp.StatusCode != 401 || got != `Negotiate|NTLM|Basic realm="`+strings.Split(l.Addr(), ":")[0]+`"` {
		t.Errorf("anonymous GET: %d %q", resp.StatusCode, got)
	}
}

// TestPOXWithNTLM logs on with NTLM (Azure/go-ntlmssp, as Go clients do),
// raw and SPNEGO-wrapped.
func TestPOXWithNTLM(t *testing.T) {
	st := fixture(t)
	l := listen(t, st, "EX01")
	var m *org.Mailbox
	st.Read(func(o *org.Org) { m = o.Mailboxes[8] })
	pool := x509.NewCertPool()
	pool.AddCert(testCA.Cert)
	for _, tc := range []struct {
		name, user, pass string
		code             int
	}{
		{"sam with domain", `CONTOSO\` + m.SamAccountName, m.Password, 200},
		{"UPN", m.UserPrincipalName, m.Password, 200},
		{"wrong password", `CONTOSO\` + m.SamAccountName, "wrong", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Timeout: 5 * time.Second, Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "autodiscover.contoso.test"}}}}
			req, _ := http.NewRequest(http.MethodPost, "https://"+l.Addr()+"/autodiscover/autodiscover.xml", strings.NewReader(body(m.PrimarySmtpAddress)))
			req.SetBasicAuth(tc.user, tc.pass) // the Negotiator turns these into NTLM
			req.Header.Set("X-MapiHttpCapability", "1")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, b)
			}
			if tc.code == 200 && !strings.Contains(string(b), "mapiHttp") {
				t.Errorf("body %s", b)
			}
		})
	}
}

func TestNTLMPasswordLookup(t *testing.T) {
	st := fixture(t)
	l := listen(t, st, "EX01")
	var m *org.Mailbox
	st.Read(func(o *org.Org) { m = o.Mailboxes[8] })
	cases := []struct {
		user, domain string
		ok           bool
	}{
		{m.SamAccountName, "CONTOSO", true},
		{m.SamAccountName, "contoso.test", true},
		{m.UserPrincipalName, "", true},
		{m.SamAccountName, "FABRIKAM", false},
		{"nobody", "CONTOSO", false},
	}
	for _, tc := range cases {
		pw, ok := l.ntlmPassword(tc.user, tc.domain)
		if ok != tc.ok || (ok && pw != m.Password) {
			t.Errorf(`%s\%s: ok=%v`, tc.domain, tc.user, ok)
		}
	}
}

func TestCertificateBySNI(t *testing.T) {
	st := fixture(t)
	l := listen(t, st, "EX01")
	seen := func(sni string) string {
		t.Helper()
		pool := x509.NewCertPool()
		pool.AddCert(testCA.Cert)
		conn, err := tls.Dial("tcp", l.Addr(), &tls.Config{RootCAs: pool, ServerName: sni})
		if err != nil {
			return "error: " + err.Error()
		}
		defer conn.Close()
		return ca.Thumbprint(conn.ConnectionState().PeerCertificates[0])
	}
	if got := seen("outlook.contoso.test"); got != oldLf.Thumbprint() {
		t.Fatalf("before the new binding: %s", got)
	}
	if got := seen("outlook-ext.contoso.test"); !strings.HasPrefix(got, "error:") {
		t.Fatalf("the old certificate does not cover outlook-ext, yet the handshake verified: %s", got)
	}
	// The runbook imports and binds the new certificate on EX01 only.
	st.Update(func(o *org.Org) error {
		o.Certificates = append(o.Certificates, orgCert("EX01", newLf, org.ServiceIIS|org.ServiceSMTP))
		return nil
	})
	for _, sni := range []string{"outlook.contoso.test", "outlook-ext.contoso.test"} {
		if got := seen(sni); got != newLf.Thumbprint() {
			t.Errorf("%s after the binding: %s", sni, got)
		}
	}
	// ex01 is only in the old certificate: SNI picks it among the bound ones.
	if got := seen("ex01.contoso.test"); got != oldLf.Thumbprint() {
		t.Errorf("ex01.contoso.test: %s", got)
	}
	// EX02 still presents the old one.
	l2 := listen(t, st, "EX02")
	pool := x509.NewCertPool()
	pool.AddCert(testCA.Cert)
	conn, err := tls.Dial("tcp", l2.Addr(), &tls.Config{RootCAs: pool, ServerName: "outlook.contoso.test"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ca.Thumbprint(conn.ConnectionState().PeerCertificates[0]); got != oldLf.Thumbprint() {
		t.Errorf("EX02: %s", got)
	}
	conn.Close()
}

func TestOpenSSLSClient(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("openssl is required (EXRUNBOOK_REQUIRE_PEERS=1): %v", err)
		}
		t.Skip("openssl not installed")
	}
	st := fixture(t)
	l := listen(t, st, "EX01")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, testCA.CertPEM(), 0o644)
	cmd := exec.Command(openssl, "s_client", "-connect", l.Addr(), "-servername", "outlook.contoso.test",
		"-CAfile", caFile, "-verify_return_error", "-verify_hostname", "outlook.contoso.test", "-showcerts")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl s_client: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "CN = outlook.contoso.test") && !strings.Contains(s, "CN=outlook.contoso.test") {
		t.Errorf("subject not seen:\n%s", s)
	}
	if !strings.Contains(s, "Verify return code: 0 (ok)") {
		t.Errorf("not verified:\n%s", s)
	}
	// The SANs, through openssl x509.
	x := exec.Command(openssl, "x509", "-noout", "-ext", "subjectAltName", "-fingerprint", "-sha1")
	x.Stdin = strings.NewReader(s)
	xo, err := x.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509: %v\n%s", err, xo)
	}
	fp := oldLf.Thumbprint()
	var colon []string
	for i := 0; i < len(fp); i += 2 {
		colon = append(colon, fp[i:i+2])
	}
	if !strings.Contains(string(xo), "DNS:autodiscover.contoso.test") || !strings.Contains(string(xo), strings.Join(colon, ":")) {
		t.Errorf("SAN/fingerprint: %s", xo)
	}
}

func TestServerVersion(t *testing.T) {
	cases := map[string]string{
		"Version 15.0 (Build 847.32)":  "73C0834F",
		"Version 15.2 (Build 1544.4)":  fmt.Sprintf("%08X", uint32(7)<<28|15<<22|2<<16|1<<15|1544),
		"Version 15.1 (Build 2507.39)": fmt.Sprintf("%08X", uint32(7)<<28|15<<22|1<<16|1<<15|2507),
		"garbage":                      "",
	}
	for in, want := range cases {
		if got := serverVersion(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestParseRequest(t *testing.T) {
	cases := []struct {
		name string
		body string
		ok   bool
		addr string
	}{
		{"spec", body("a@contoso.test"), true, "a@contoso.test"},
		{"https namespaces", strings.ReplaceAll(body("a@contoso.test"), "http://", "https://"), true, "a@contoso.test"},
		{"legacyDN", `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><LegacyDN>/o=x</LegacyDN><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`, true, ""},
		{"mobile schema", strings.Replace(body("a@contoso.test"), "outlook/responseschema/2006a", "mobilesync/responseschema/2006", 1), false, ""},
		{"wrong root namespace", strings.Replace(body("a@contoso.test"), "requestschema", "x", 1), false, ""},
		{"no address", body(""), false, ""},
		{"not xml", "hello", false, ""},
	}
	for _, tc := range cases {
		r, err := ParseRequest([]byte(tc.body))
		if (err == nil) != tc.ok || r.EMailAddress != tc.addr {
			t.Errorf("%s: %+v %v", tc.name, r, err)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add(body("a@contoso.test"))
	f.Add(body("O'Brien <x>@contoso.test"))
	f.Add("<Autodiscover><Request/></Autodiscover>")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRequest([]byte(s))
		if err == nil && r.EMailAddress == "" && r.LegacyDN == "" {
			t.Error("accepted a request without an address")
		}
	})
}

func FuzzRender(f *testing.F) {
	for _, n := range orgtest.HostileNames {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		o := orgtest.New(1)
		o.Mailboxes[0].DisplayName = name
		out := Render(o, o.Mailboxes[0], "EX01", 1)
		var p parsed
		if err := xml.Unmarshal(out, &p); err != nil {
			t.Fatalf("rendered XML does not parse: %v", err)
		}
		if want := strings.ToValidUTF8(name, "\uFFFD"); p.Response.User.DisplayName != want && validXMLChars(name) {
			t.Errorf("display name %q came back as %q", name, p.Response.User.DisplayName)
		}
	})
}

func validXMLChars(s string) bool {
	for _, r := range s {
		if r == '\r' || r == 0xFFFD || !(r == 0x09 || r == 0x0A || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
	}
	return strings.ToValidUTF8(s, "") == s
}
