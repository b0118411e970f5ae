package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

var fixedNow = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func startLab(t testing.TB, dir string, o Options) *Lab {
	t.Helper()
	o.Dir = dir
	if o.Now.IsZero() {
		o.Now = fixedNow
	}
	l, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func readSecret(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keysOf flattens a JSON/YAML object into its dotted key paths.
func keysOf(prefix string, v any, out *[]string) {
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			if _, nested := x.(map[string]any); nested && !strings.HasSuffix(p, "servers") && p != "exchange.https" && p != "exchange.smtp" {
				keysOf(p, x, out)
				continue
			}
			*out = append(*out, p)
		}
	}
}

func TestStartWritesFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := startLab(t, dir, Options{Mailboxes: 30, Seed: 3})
	if l.Continued() {
		t.Error("a fresh directory was reported as continued")
	}
	// endpoints.json: exactly the keys of its interface (README.md,
	// "Rehearsing against the lab").
	var ep map[string]any
	if err := readJSON(filepath.Join(dir, FileEndpoints), &ep); err != nil {
		t.Fatal(err)
	}
	var keys []string
	keysOf("", ep, &keys)
	sort.Strings(keys)
	want := []string{"admin.password_file", "admin.user", "allow_group", "ca_file", "control",
		"dns.internal", "dns.public", "dns.tsig.algorithm", "dns.tsig.name", "dns.tsig.secret_file", "dns.zone",
		"names.autodiscover", "names.external", "names.internal",
		"pfx.file", "pfx.password_file", "powershell.http", "powershell.https", "probe.allowed", "probe.blocked", "probe.password_file",
		"servers",
		"users.no_roles.password_file", "users.no_roles.roles", "users.no_roles.user",
		"users.organization_admin.password_file", "users.organization_admin.roles", "users.organization_admin.user",
		"users.recipient_admin.password_file", "users.recipient_admin.roles", "users.recipient_admin.user",
		"winrm.http", "winrm.https"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("endpoints.json keys\n got %v\nwant %v", keys, want)
	}
	e := l.Endpoints()
	if len(e.Servers) != 2 || e.Servers["EX01"].HTTPS == "" || e.Servers["EX02"].HTTPS == "" {
		t.Errorf("servers %v", e.Servers)
	}
	if e.Admin.User != `CONTOSO\Administrator` || e.DNS.Zone != "contoso.test." || e.Names.External != "outlook-ext.contoso.test" || e.AllowGroup != "AllowExternalAccess" {
		t.Errorf("endpoints %+v", e)
	}
	for _, u := range []string{e.Control, e.WinRM.HTTP} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("%s is not on loopback", u)
		}
	}
	if !strings.HasPrefix(e.WinRM.HTTPS, "https://127.0.0.1:") || !strings.HasSuffix(e.WinRM.HTTPS, "/wsman") {
		t.Errorf("winrm https %s", e.WinRM.HTTPS)
	}

	// Secrets: 0600 files in a 0700 directory.
	fi, err := os.Stat(filepath.Join(dir, DirSecrets))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("secrets dir: %v %v", fi.Mode(), err)
	}
	for _, p := range []string{e.Admin.PasswordFile, e.DNS.TSIG.SecretFile, e.PFX.PasswordFile, e.Probe.PasswordFile, e.PFX.File, filepath.Join(dir, ca.KeyFile),
		e.Users[AccountRecipientAdmin].PasswordFile, e.Users[AccountNoRoles].PasswordFile} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v", p, fi.Mode(), err)
		}
	}

	// exrunbook.yaml: the config keys of README.md, "Configuration",
	// pointing at this lab.
	raw, err := os.ReadFile(filepath.Join(dir, FileConfig))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("exrunbook.yaml: %v\n%s", err, raw)
	}
	keys = nil
	keysOf("", cfg, &keys)
	sort.Strings(keys)
	wantCfg := []string{"autodiscover.min_wait", "autodiscover.probe.allowed_user", "autodiscover.probe.blocked_user", "autodiscover.probe.password_file",
		"certificate.mode", "certificate.pfx_file", "certificate.pfx_password_file", "certificate.pop_imap", "certificate.services", "certificate.thumbprint",
		"exchange.auth", "exchange.ca_file", "exchange.concurrency", "exchange.endpoint", "exchange.https", "exchange.password_file", "exchange.servers", "exchange.smtp", "exchange.user",
		"internal_dns.addresses", "internal_dns.server",
		"mailboxes.allow_group", "mailboxes.batch_size", "mailboxes.max_changes", "mailboxes.recipient_types",
		"mapi_http.enable",
		"namespace.autodiscover", "namespace.external", "namespace.internal",
		"public_dns.mode", "public_dns.nameservers", "public_dns.public_ip", "public_dns.server", "public_dns.tsig.algorithm", "public_dns.tsig.name", "public_dns.tsig.secret_file", "public_dns.ttl", "public_dns.zone"}
	if strings.Join(keys, ",") != strings.Join(wantCfg, ",") {
		t.Errorf("exrunbook.yaml keys\n got %v\nwant %v", keys, wantCfg)
	}
	get := func(path string) any {
		var v any = cfg
		for _, p := range strings.Split(path, ".") {
			v = v.(map[string]any)[p]
		}
		return v
	}
	checks := map[string]any{
		"exchange.endpoint": e.PowerShell.HTTP, "exchange.auth": "ntlm", "exchange.concurrency": 4, "exchange.user": `CONTOSO\Administrator`,
		"exchange.ca_file": e.CAFile, "autodiscover.min_wait": "5s", "public_dns.ttl": 2,
		"public_dns.server": e.DNS.Public, "internal_dns.server": e.DNS.Internal, "public_dns.zone": "contoso.test.",
		"public_dns.tsig.secret_file": e.DNS.TSIG.SecretFile, "autodiscover.probe.allowed_user": e.Probe.Allowed,
		"certificate.pfx_file": e.PFX.File, "namespace.external": "outlook-ext.contoso.test",
	}
	for k, v := range checks {
		if fmt.Sprint(get(k)) != fmt.Sprint(v) {
			t.Errorf("%s = %v, want %v", k, get(k), v)
		}
	}
	if https := get("exchange.https").(map[string]any); https["EX01"] != e.Servers["EX01"].HTTPS {
		t.Errorf("exchange.https %v", https)
	}
	if smtp := get("exchange.smtp").(map[string]any); len(smtp) != 2 || smtp["EX01"] != e.Servers["EX01"].SMTP || smtp["EX02"] != e.Servers["EX02"].SMTP {
		t.Errorf("exchange.smtp %v, want EX01 %s and EX02 %s", smtp, e.Servers["EX01"].SMTP, e.Servers["EX02"].SMTP)
	}
	for _, s := range []string{readSecret(t, e.Admin.PasswordFile), readSecret(t, e.DNS.TSIG.SecretFile), readSecret(t, e.Probe.PasswordFile)} {
		if bytes.Contains(raw, []byte(s)) {
			t.Error("a secret is in exrunbook.yaml")
		}
	}

	// The PFX opens with its password and covers the three names.
	pfx, err := os.ReadFile(e.PFX.File)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, err := ca.ParsePFX(pfx, readSecret(t, e.PFX.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{e.Names.Internal, e.Names.External, e.Names.Autodiscover} {
		if leaf.Cert.VerifyHostname(n) != nil {
			t.Errorf("the ready certificate does not cover %s", n)
		}
	}
}

func TestRestartContinues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := startLab(t, dir, Options{Mailboxes: 25, Seed: 9})
	first := l.Endpoints()
	initial := l.Org()
	// A change through the public DNS server, signed with the lab's key.
	m := new(dns.Msg)
	m.SetUpdate("contoso.test.")
	rr, _ := dns.NewRR("outlook-ext.contoso.test. 2 IN A 203.0.113.10")
	m.Insert([]dns.RR{rr})
	m.SetTsig(TSIGName, dns.HmacSHA256, 300, time.Now().Unix())
	c := &dns.Client{Net: "tcp", TsigSecret: map[string]string{TSIGName: readSecret(t, first.DNS.TSIG.SecretFile)}}
	r, _, err := c.Exchange(m, first.DNS.Public)
	if err != nil || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("update: %v %v", err, r)
	}
	changed := l.Org()
	if bytes.Equal(changed, initial) {
		t.Fatal("the update did not change the organisation")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileEndpoints)); !os.IsNotExist(err) {
		t.Errorf("endpoints.json survives Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileLastEndpoints)); err != nil {
		t.Errorf("endpoints.last.json: %v", err)
	}
	// Different generator options are ignored: the organisation continues.
	l2 := startLab(t, dir, Options{Mailboxes: 99, Seed: 1})
	if !l2.Continued() {
		t.Error("restart not reported as continued")
	}
	if !bytes.Equal(l2.Org(), changed) {
		t.Error("the restarted lab does not continue from org.json")
	}
	init2, err := l2.Store().Initial()
	if err != nil || !bytes.Equal(init2, initial) {
		t.Errorf("org.initial.json changed on restart (%v)", err)
	}
	second := l2.Endpoints()
	if second.Probe != first.Probe || readSecret(t, second.Admin.PasswordFile) == "" {
		t.Error("probe users or secrets changed on restart")
	}
	if second.DNS.Public != first.DNS.Public || second.Control != first.Control {
		t.Logf("ports moved on restart: %s→%s %s→%s", first.DNS.Public, second.DNS.Public, first.Control, second.Control)
	}
	q := new(dns.Msg)
	q.SetQuestion("outlook-ext.contoso.test.", dns.TypeA)
	r, _, err = new(dns.Client).Exchange(q, second.DNS.Public)
	if err != nil || len(r.Answer) != 1 || !r.Authoritative {
		t.Errorf("after restart: %v %v", err, r)
	}
}

func TestSameSeedSameOrganisation(t *testing.T) {
	t.Parallel()
	// Two labs with the same seed differ only by their CA; canonical JSON
	// with the certificates removed is equal. (That different seeds give
	// different organisations is generate's TestDeterministic.)
	strip := func(b []byte) string {
		var o org.Org
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatal(err)
		}
		o.Certificates = nil
		return string(org.Canonical(&o))
	}
	a := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 5})
	b := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 5})
	if strip(a.Org()) != strip(b.Org()) {
		t.Error("same seed, different organisations")
	}
}

func httpDo(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	l := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 2, Faults: "latency=1ms"})
	base := l.Endpoints().Control

	code, body := httpDo(t, "GET", base+"/org", "")
	var o org.Org
	if code != 200 || json.Unmarshal(body, &o) != nil || o.Zone("internal") == nil || o.Zone("public") == nil || len(o.Mailboxes) != 20 {
		t.Fatalf("/org: %d %.200s", code, body)
	}
	if bytes.Contains(body, []byte("PRIVATE KEY")) || bytes.Contains(body, []byte(`"Password"`)) {
		t.Error("/org leaks secrets")
	}
	code, body = httpDo(t, "GET", base+"/org/initial", "")
	if code != 200 || !bytes.Equal(body, l.Org()) {
		t.Errorf("/org/initial differs from an unchanged /org")
	}
	code, body = httpDo(t, "GET", base+"/faults", "")
	if code != 200 || !strings.Contains(string(body), "latency=1ms") {
		t.Errorf("/faults: %d %s", code, body)
	}
	cases := []struct {
		body string
		code int
		spec string
	}{
		{"http500=0.5,seed=3", 200, "http500=0.5,seed=3"},
		{`{"drop":0.25,"throttle":{"Set-CASMailbox":0.1}}`, 200, "drop=0.25,throttle:set-casmailbox=0.1"},
		{"bogus=1", 400, ""},
		{`{"nope":1}`, 400, ""},
		{"", 200, ""},
	}
	for _, tc := range cases {
		code, body := httpDo(t, "POST", base+"/faults", tc.body)
		if code != tc.code {
			t.Errorf("POST /faults %q: %d %s", tc.body, code, body)
			continue
		}
		if code == 200 && l.Faults().Spec().String() != tc.spec {
			t.Errorf("POST /faults %q: spec %q, want %q", tc.body, l.Faults().Spec().String(), tc.spec)
		}
	}
	l.Counters().Cmdlet("Get-CASMailbox", map[string]string{"ResultSize": "Unlimited"})
	code, body = httpDo(t, "GET", base+"/stats", "")
	if code != 200 || !strings.Contains(string(body), `"Get-CASMailbox": 1`) || !strings.Contains(string(body), "simulated_exchange_seconds") {
		t.Errorf("/stats: %s", body)
	}
	code, body = httpDo(t, "GET", base+"/calls", "")
	if code != 200 || !strings.Contains(string(body), `"ResultSize": "Unlimited"`) {
		t.Errorf("/calls: %s", body)
	}
	httpDo(t, "POST", base+"/stats/reset", "")
	if s := l.Stats(); len(s.Cmdlets) != 0 {
		t.Errorf("after reset: %v", s.Cmdlets)
	}
	code, body = httpDo(t, "GET", base+"/calls", "")
	if code != 200 || strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("/calls after reset: %s", body)
	}

	// POST /ca/sign answers a CSR with a certificate from the lab CA.
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "outlook.contoso.test"},
		DNSNames: []string{"outlook.contoso.test", "outlook-ext.contoso.test", "autodiscover.contoso.test"}}, key)
	csr := pem.EncodeToMemory(&pem.Block{Type: "NEW CERTIFICATE REQUEST", Bytes: der})
	code, body = httpDo(t, "POST", base+"/ca/sign?days=90", string(csr))
	blk, _ := pem.Decode(body)
	if code != 200 || blk == nil {
		t.Fatalf("/ca/sign: %d %s", code, body)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || cert.CheckSignatureFrom(l.CA().Cert) != nil || cert.VerifyHostname("outlook-ext.contoso.test") != nil {
		t.Errorf("signed certificate: %v", err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d < 89*24*time.Hour || d > 92*24*time.Hour {
		t.Errorf("validity %v", d)
	}
	if code, _ := httpDo(t, "POST", base+"/ca/sign", "garbage"); code != 400 {
		t.Errorf("garbage CSR: %d", code)
	}
}

func TestAutodiscoverThroughLab(t *testing.T) {
	t.Parallel()
	l := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 4})
	e := l.Endpoints()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readSecret(t, e.CAFile)))
	pass := readSecret(t, e.Probe.PasswordFile)
	for _, s := range []string{"EX01", "EX02"} {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: e.Names.Autodiscover}}}
		for _, user := range []string{e.Probe.Allowed, e.Probe.Blocked} {
			body := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>` + user +
				`</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
			req, _ := http.NewRequest("POST", "https://"+e.Servers[s].HTTPS+"/autodiscover/autodiscover.xml", strings.NewReader(body))
			req.SetBasicAuth(user, pass)
			req.Header.Set("X-MapiHttpCapability", "1")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Before the runbook, both see the same (unsplit) external URL.
			if resp.StatusCode != 200 || !strings.Contains(string(b), "<ExternalUrl>https://outlook.contoso.test/mapi/emsmdb/") {
				t.Errorf("%s %s: %d %s", s, user, resp.StatusCode, b)
			}
		}
	}
}

func TestDNSThroughLab(t *testing.T) {
	t.Parallel()
	l := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 4})
	e := l.Endpoints()
	cases := []struct{ server, name, want string }{
		{e.DNS.Internal, "outlook.contoso.test.", generate.InternalVIP},
		{e.DNS.Internal, "ex02.contoso.test.", "192.0.2.12"},
		{e.DNS.Public, "outlook.contoso.test.", generate.PublicVIP},
		{e.DNS.Public, "ns2.contoso.test.", generate.PublicNS2},
	}
	for _, tc := range cases {
		q := new(dns.Msg)
		q.SetQuestion(tc.name, dns.TypeA)
		r, _, err := new(dns.Client).Exchange(q, tc.server)
		if err != nil || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != tc.want || !r.Authoritative {
			t.Errorf("%s @%s: %v %v", tc.name, tc.server, err, r)
		}
	}
	// The internal server refuses updates, even signed ones.
	m := new(dns.Msg)
	m.SetUpdate("contoso.test.")
	rr, _ := dns.NewRR("x.contoso.test. 2 IN A 192.0.2.99")
	m.Insert([]dns.RR{rr})
	r, _, err := new(dns.Client).Exchange(m, e.DNS.Internal)
	if err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("update on the internal server: %v %v", err, r)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	if _, err := Start(context.Background(), Options{}); err == nil {
		t.Error("no directory accepted")
	}
	if _, err := Start(context.Background(), Options{Dir: t.TempDir(), Faults: "nonsense"}); err == nil {
		t.Error("a bad fault spec accepted")
	}
	dir := t.TempDir()
	l := startLab(t, dir, Options{Mailboxes: 20})
	l.Close()
	os.Remove(filepath.Join(dir, ca.CertFile))
	if _, err := Start(context.Background(), Options{Dir: dir}); err == nil {
		t.Error("an organisation without its CA was started")
	}
}

func TestContextCancelCloses(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	l, err := Start(ctx, Options{Dir: t.TempDir(), Mailboxes: 20, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(l.Endpoints().Control, "http://")
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("the control API still listens after the context was cancelled")
}

// winrmClient is a masterzen/winrm client for the lab's HTTPS endpoint
// with NTLM, as exrunbook's config uses it.
func winrmClient(t testing.TB, l *Lab) *winrm.Client {
	t.Helper()
	e := l.Endpoints()
	hp := strings.TrimSuffix(strings.TrimPrefix(e.WinRM.HTTPS, "https://"), "/wsman")
	host, portS, _ := net.SplitHostPort(hp)
	port, _ := strconv.Atoi(portS)
	caPEM, err := os.ReadFile(e.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	params := *winrm.DefaultParameters
	params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	ep := winrm.NewEndpoint(host, port, true, false, caPEM, nil, nil, 5*time.Minute)
	c, err := winrm.NewClientWithParameters(ep, e.Admin.User, readSecret(t, e.Admin.PasswordFile), &params)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// asciiJSON is the end of exrunbook's scripts: the lab writes stdout in
// OEM code page 437 like powershell.exe over WinRM, so JSON is escaped to
// ASCII (\uXXXX) on the server or the hostile names come back as '?'.
const asciiJSON = ` | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }`

const getCAS = `Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; Get-CASMailbox -ResultSize Unlimited | ConvertTo-Json -Compress` + asciiJSON

func runGetCAS(t testing.TB, l *Lab) []map[string]any {
	t.Helper()
	c := winrmClient(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stdout, stderr, code, err := c.RunWithContextWithString(ctx, winrm.Powershell(getCAS), "")
	if err != nil || code != 0 {
		t.Fatalf("Get-CASMailbox: code %d err %v\nstderr: %.2000s", code, err, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &rows); err != nil {
		t.Fatalf("ConvertTo-Json output: %v\n%.500s", err, stdout)
	}
	return rows
}

func TestEndToEndGetCASMailbox(t *testing.T) {
	t.Parallel()
	l := startLab(t, t.TempDir(), Options{Mailboxes: 60, Seed: 11})
	rows := runGetCAS(t, l)
	if len(rows) != 60 {
		t.Fatalf("%d rows, want 60", len(rows))
	}
	names := map[string]bool{}
	for _, r := range rows {
		names[fmt.Sprint(r["DisplayName"])] = true
		if _, ok := r["MAPIBlockOutlookExternalConnectivity"]; !ok {
			t.Fatalf("row without MAPIBlockOutlookExternalConnectivity: %v", r)
		}
	}
	for _, h := range generate.HostileNames {
		if !names[h] {
			t.Errorf("hostile display name %q did not come back intact", h)
		}
	}
	s := l.Stats()
	if s.Cmdlets["Get-CASMailbox"] != 1 || s.CASMailboxRows != 60 || s.PowerShellLaunches != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestEndToEnd10k runs the same pipeline over 10,000 mailboxes (the 100k
// case is BenchmarkGetCASMailbox100k).
func TestEndToEnd10k(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short")
	}
	l := startLab(t, t.TempDir(), Options{Mailboxes: 10000, Seed: 12})
	if rows := runGetCAS(t, l); len(rows) != 10000 {
		t.Fatalf("%d rows", len(rows))
	}
}

// BenchmarkGetCASMailbox100k measures `Get-CASMailbox -ResultSize Unlimited
// | ConvertTo-Json -Compress` over WinRM (HTTPS, NTLM, masterzen/winrm)
// against a lab of 100,000 mailboxes, reporting the peak heap.
func BenchmarkGetCASMailbox100k(b *testing.B) {
	start := time.Now()
	l := startLab(b, b.TempDir(), Options{Mailboxes: 100000, Seed: 13})
	labStart := time.Since(start)
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak {
				peak = ms.HeapAlloc
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	b.ResetTimer()
	for b.Loop() {
		if rows := runGetCAS(b, l); len(rows) != 100000 {
			b.Fatalf("%d rows", len(rows))
		}
	}
	b.StopTimer()
	close(stop)
	<-done
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(labStart.Seconds(), "lab-start-s")
}

// runPS runs one script through WinRM and returns stdout, failing on a
// non-zero exit.
func runPS(t testing.TB, c *winrm.Client, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stdout, stderr, code, err := c.RunWithContextWithString(ctx, winrm.Powershell(script), "")
	if err != nil || code != 0 {
		t.Fatalf("script failed: code %d err %v\n%s\nstderr: %.3000s", code, err, script, stderr)
	}
	return stdout
}

// TestRequestModeThroughLab walks the certificate `request` mode against
// the lab: New-ExchangeCertificate -GenerateRequest, the lab CA answers the
// CSR (as `exlab sign-csr` / POST /ca/sign do), Import-ExchangeCertificate
// completes the request, Enable-ExchangeCertificate binds it to IIS, and
// the server's HTTPS listener then presents it for the external name.
func TestRequestModeThroughLab(t *testing.T) {
	t.Parallel()
	l := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 21})
	e := l.Endpoints()
	c := winrmClient(t, l)
	const snapin = "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; "
	csr := runPS(t, c, snapin+"New-ExchangeCertificate -Server EX01 -GenerateRequest -SubjectName 'CN=outlook.contoso.test' "+
		"-DomainName outlook.contoso.test,outlook-ext.contoso.test,autodiscover.contoso.test -PrivateKeyExportable $true")
	if !strings.Contains(csr, "BEGIN NEW CERTIFICATE REQUEST") {
		t.Fatalf("no request: %q", csr)
	}
	code, answer := httpDo(t, "POST", e.Control+"/ca/sign", csr)
	if code != 200 {
		t.Fatalf("/ca/sign: %d %s", code, answer)
	}
	blk, _ := pem.Decode(answer)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	thumb := ca.Thumbprint(cert)
	b64 := base64Std(answer)
	runPS(t, c, snapin+"Import-ExchangeCertificate -Server EX01 -FileData ([Convert]::FromBase64String('"+b64+"')) | Out-Null; "+
		"Enable-ExchangeCertificate -Server EX01 -Thumbprint "+thumb+" -Services IIS -Force")

	pool := x509.NewCertPool()
	pool.AddCert(l.CA().Cert)
	seen := func(server, sni string) string {
		conn, err := tls.Dial("tcp", e.Servers[server].HTTPS, &tls.Config{RootCAs: pool, ServerName: sni})
		if err != nil {
			return "error: " + err.Error()
		}
		defer conn.Close()
		return ca.Thumbprint(conn.ConnectionState().PeerCertificates[0])
	}
	if got := seen("EX01", e.Names.External); got != thumb {
		t.Errorf("EX01 presents %s for %s, want the new %s", got, e.Names.External, thumb)
	}
	if got := seen("EX02", e.Names.External); !strings.HasPrefix(got, "error:") {
		t.Errorf("EX02 (not yet bound) verified for the external name: %s", got)
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestBlockThroughLab changes the MAPI external URL and blocks the probe's
// blocked user with cmdlets over WinRM, then asks Autodiscover.
func TestBlockThroughLab(t *testing.T) {
	t.Parallel()
	l := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 22})
	e := l.Endpoints()
	c := winrmClient(t, l)
	runPS(t, c, "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; "+
		"Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl 'https://outlook-ext.contoso.test/mapi' -IISAuthenticationMethods Ntlm,OAuth,Negotiate; "+
		"Set-CASMailbox -Identity '"+e.Probe.Blocked+"' -MAPIBlockOutlookExternalConnectivity $true -MAPIBlockOutlookRpcHttp $true")
	pool := x509.NewCertPool()
	pool.AddCert(l.CA().Cert)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: e.Names.Autodiscover}}}
	pass := readSecret(t, e.Probe.PasswordFile)
	ask := func(user string) string {
		body := `<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>` + user +
			`</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>`
		req, _ := http.NewRequest("POST", "https://"+e.Servers["EX01"].HTTPS+"/Autodiscover/Autodiscover.xml", strings.NewReader(body))
		req.SetBasicAuth(user, pass)
		req.Header.Set("X-MapiHttpCapability", "1")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if a := ask(e.Probe.Allowed); !strings.Contains(a, "<ExternalUrl>https://outlook-ext.contoso.test/mapi/emsmdb/") {
		t.Errorf("allowed user: %s", a)
	}
	if b := ask(e.Probe.Blocked); strings.Contains(b, "ExternalUrl") || !strings.Contains(b, "<InternalUrl>https://outlook.contoso.test/mapi/emsmdb/") {
		t.Errorf("blocked user: %s", b)
	}
}

// TestPywinrmThroughLab runs the Exchange pipeline with Debian's
// python3-winrm (an independent client: NTLM over HTTPS, the command as
// program plus arguments) against a started lab.
func TestPywinrmThroughLab(t *testing.T) {
	t.Parallel()
	const python = "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import winrm").Run(); err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("python3-winrm is required (EXRUNBOOK_REQUIRE_PEERS=1): %v", err)
		}
		t.Skip("python3-winrm not installed")
	}
	l := startLab(t, t.TempDir(), Options{Mailboxes: 20, Seed: 23})
	e := l.Endpoints()
	script := `
import base64, os, sys, winrm
p = winrm.protocol.Protocol(endpoint=os.environ["EP"], transport="ntlm", username=os.environ["USER_NAME"],
    password=open(os.environ["PW_FILE"]).read(), server_cert_validation="validate", ca_trust_path=os.environ["CA"])
enc = base64.b64encode(os.environ["SCRIPT"].encode("utf_16_le")).decode("ascii")
shell = p.open_shell()
cid = p.run_command(shell, "powershell.exe", ["-NoProfile", "-EncodedCommand", enc])
out, err, code = p.get_command_output(shell, cid)
p.cleanup_command(shell, cid)
p.close_shell(shell)
sys.stdout.write(out.decode("utf-8"))
sys.stderr.write(err.decode("utf-8", "replace"))
sys.exit(code)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Env = append(os.Environ(), "EP="+e.WinRM.HTTPS, "USER_NAME="+e.Admin.User, "PW_FILE="+e.Admin.PasswordFile, "CA="+e.CAFile,
		"SCRIPT=Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; Get-CASMailbox -ResultSize Unlimited | Select-Object DisplayName | ConvertTo-Json -Compress"+asciiJSON)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pywinrm: %v\n%s", err, stderr.String())
	}
	var rows []struct{ DisplayName string }
	if err := json.Unmarshal(out, &rows); err != nil || len(rows) != 20 {
		t.Fatalf("rows %d %v: %.300s", len(rows), err, out)
	}
	if rows[4].DisplayName != generate.HostileNames[4] {
		t.Errorf("hostile name through pywinrm: %q", rows[4].DisplayName)
	}
}

// FuzzConfigQuote: every value the lab writes into exrunbook.yaml reads
// back as itself (paths with quotes, backslashes, colons, newlines...).
func FuzzConfigQuote(f *testing.F) {
	for _, s := range []string{`CONTOSO\Administrator`, "/tmp/dir with: colon/#x", "it's \"quoted\"", "line\nbreak", "", "- [a]", "~", "null", "yes"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8Valid(s) {
			return
		}
		var m map[string]string
		if err := yaml.Unmarshal([]byte("k: "+q(s)+"\n"), &m); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if m["k"] != s {
			t.Fatalf("%q read back as %q", s, m["k"])
		}
	})
}

func utf8Valid(s string) bool {
	for _, r := range s {
		// YAML forbids most C0 controls even escaped in some parsers'
		// eyes; JSON escapes them, which YAML double quotes accept.
		if r == 0xFFFD {
			return false
		}
	}
	return strings.ToValidUTF8(s, "") == s
}

// Every server has /PowerShell/ on its HTTPS listener and on its own plain
// HTTP listener (Basic refused there), and SMTP with STARTTLS presenting
// the certificate bound to SMTP.
func TestPerServerListeners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := startLab(t, dir, Options{Mailboxes: 5, Seed: 4})
	e := l.Endpoints()
	roots := x509.NewCertPool()
	roots.AddCert(l.CA().Cert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "ex01.contoso.test"}}, Timeout: 10 * time.Second}
	if e.PowerShell != e.Servers["EX01"].PowerShell {
		t.Errorf("powershell %+v is not EX01's %+v", e.PowerShell, e.Servers["EX01"].PowerShell)
	}
	for name, s := range e.Servers {
		if s.PowerShell.HTTP != "http://"+s.HTTP+"/PowerShell/" || s.PowerShell.HTTPS != "https://"+s.HTTPS+"/PowerShell/" {
			t.Errorf("%s: %+v", name, s)
		}
		// Plain HTTP: Basic is not offered.
		resp, err := http.Post(s.PowerShell.HTTP, "application/soap+xml;charset=UTF-8", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := strings.Join(resp.Header.Values("WWW-Authenticate"), ","); resp.StatusCode != 401 || strings.Contains(got, "Basic") || !strings.Contains(got, "Negotiate") {
			t.Errorf("%s http: %d %q", name, resp.StatusCode, got)
		}
		// HTTPS: Basic offered, and the IIS certificate verifies.
		resp, err = hc.Post(s.PowerShell.HTTPS, "application/soap+xml;charset=UTF-8", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := strings.Join(resp.Header.Values("WWW-Authenticate"), ","); resp.StatusCode != 401 || !strings.Contains(got, "Basic") {
			t.Errorf("%s https: %d %q", name, resp.StatusCode, got)
		}
		// SMTP: the certificate bound to SMTP on this server.
		var want []string
		l.Store().Read(func(o *org.Org) {
			for _, c := range o.ServerCertificates(name) {
				if c.Services&org.ServiceSMTP != 0 && c.Status == org.CertValid && c.KeyPEM != "" {
					want = append(want, c.Thumbprint)
				}
			}
		})
		conn, err := net.Dial("tcp", s.SMTP)
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClient(conn, "x")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.StartTLS(&tls.Config{InsecureSkipVerify: true}); err != nil {
			t.Fatalf("%s STARTTLS: %v", name, err)
		}
		st, _ := c.TLSConnectionState()
		got := ca.Thumbprint(st.PeerCertificates[0])
		if !slices.Contains(want, got) {
			t.Errorf("%s SMTP certificate %s, want one of %v", name, got, want)
		}
		c.Quit()
	}
	for _, k := range []string{AccountOrgAdmin, AccountRecipientAdmin, AccountNoRoles} {
		if a := e.Users[k]; a.User == "" || readSecret(t, a.PasswordFile) == "" {
			t.Errorf("account %s: %+v", k, a)
		}
	}
	if e.Users[AccountOrgAdmin].User != e.Admin.User || e.Users[AccountRecipientAdmin].Roles[0] != RoleRecipientMgmt || len(e.Users[AccountNoRoles].Roles) != 0 {
		t.Errorf("users %+v", e.Users)
	}
}
