package checks

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

func sp(s string) *string { return &s }

func exVDir(server string, kind exchange.VDirKind, internal, external *string) exchange.VirtualDirectory {
	v := exchange.VirtualDirectory{Kind: kind, Server: server, Identity: server + `\` + string(kind) + " (Default Web Site)",
		Guid: "6f1c2a9e-0000-4000-8000-000000000001", InternalUrl: internal, ExternalUrl: external, IISAuthenticationMethods: []string{}}
	if kind == exchange.KindMAPI {
		v.IISAuthenticationMethods = []string{"Ntlm", "OAuth", "Negotiate"}
	}
	return v
}

func exCert(server, thumb, services string) exchange.Certificate {
	return exchange.Certificate{Server: server, Thumbprint: thumb, Subject: "CN=outlook.contoso.test", Issuer: "CN=CA",
		CertificateDomains: []string{"outlook.contoso.test", "outlook-ext.contoso.test", "autodiscover.contoso.test"},
		NotBefore:          time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		Services: services, HasPrivateKey: true, Status: "Valid", PublicKeySize: 2048, SignatureAlgorithm: "sha256RSA"}
}

func exOA(server string, internal, external *string) exchange.OutlookAnywhere {
	return exchange.OutlookAnywhere{Server: server, Identity: server + `\Rpc (Default Web Site)`, Guid: "6f1c2a9e-0000-4000-8000-000000000002",
		InternalHostname: internal, ExternalHostname: external, ExternalClientAuthenticationMethod: "Negotiate"}
}

// exOrg is two agreeing servers.
func exOrg() ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
	var vd []exchange.VirtualDirectory
	for _, s := range []string{"EX01", "EX02"} {
		for _, k := range exchange.URLKinds {
			vd = append(vd, exVDir(s, k, sp("https://outlook.contoso.test/"+string(k)), nil))
		}
		vd = append(vd, exVDir(s, exchange.KindAutodiscover, nil, nil))
	}
	certs := []exchange.Certificate{exCert("EX01", "AAAA", "IIS, SMTP"), exCert("EX02", "AAAA", "IIS, SMTP"), exCert("EX02", "BBBB", "None")}
	oa := []exchange.OutlookAnywhere{exOA("EX01", sp("outlook.contoso.test"), nil), exOA("EX02", sp("outlook.contoso.test"), nil)}
	return certs, vd, oa
}

func TestConsistencyDifferences(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere)
		want   []string
	}{
		{"agree", nil, nil},
		{"other IIS certificate", func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
			c[1].Services, c[2].Services = "SMTP", "IIS"
			return c, v, o
		}, []string{"EX02 IIS certificate BBBB (EX01: AAAA)"}},
		{"no IIS certificate", func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
			c[1].Services = "None"
			return c, v, o
		}, []string{"EX02 IIS certificate none (EX01: AAAA)"}},
		{"ExternalUrl set on one", func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
			v[7].ExternalUrl = sp("https://a/owa") // EX02 owa
			return c, v, o
		}, []string{"EX02 owa ExternalUrl https://a/owa (EX01: $null)"}},
		{"URL case does not matter", func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
			v[7].InternalUrl = sp("https://OUTLOOK.contoso.test/owa")
			return c, v, o
		}, nil},
		{"vdir missing on EX02", func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
			return c, append(v[:8:8], v[9:]...), o // EX02 ecp
		}, []string{"EX02 ecp InternalUrl: missing (EX01: https://outlook.contoso.test/ecp)", "EX02 ecp ExternalUrl: missing (EX01: $null)"}},
		{"Outlook Anywhere hostname", func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
			o[1].ExternalHostname = sp("mail.contoso.test")
			return c, v, o
		}, []string{"EX02 Outlook Anywhere ExternalHostname mail.contoso.test (EX01: $null)"}},
		{"Autodiscover vdir is not compared", func(c []exchange.Certificate, v []exchange.VirtualDirectory, o []exchange.OutlookAnywhere) ([]exchange.Certificate, []exchange.VirtualDirectory, []exchange.OutlookAnywhere) {
			v[13].InternalUrl = sp("https://x/autodiscover")
			return c, v, o
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			certs, vd, oa := exOrg()
			if c.mutate != nil {
				certs, vd, oa = c.mutate(certs, vd, oa)
			}
			got := ConsistencyDifferences([]string{"EX01", "EX02"}, certs, vd, oa)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
	if got := ConsistencyDifferences([]string{"EX01"}, nil, nil, nil); got != nil {
		t.Fatalf("one server: %v", got)
	}
}

func TestCertFactsEvaluate(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	hosts := []string{"outlook.contoso.test", "outlook-ext.contoso.test", "autodiscover.contoso.test"}
	good := CertFacts{SANs: hosts, NotAfter: now.AddDate(1, 0, 0), KeyBits: 2048, HasPrivateKey: true}
	cases := []struct {
		name         string
		mutate       func(*CertFacts)
		fails, warns string
	}{
		{"good", func(*CertFacts) {}, "", ""},
		{"wildcard covers", func(f *CertFacts) { f.SANs = []string{"*.contoso.test"} }, "", ""},
		{"wildcard one label only", func(f *CertFacts) { f.SANs = []string{"*.test"} }, "do not cover outlook.contoso.test, outlook-ext.contoso.test, autodiscover.contoso.test", ""},
		{"missing external", func(f *CertFacts) { f.SANs = hosts[:1] }, "do not cover outlook-ext.contoso.test, autodiscover.contoso.test", ""},
		{"no key", func(f *CertFacts) { f.HasPrivateKey = false }, "no private key", ""},
		{"expires in 10 days", func(f *CertFacts) { f.NotAfter = now.AddDate(0, 0, 10) }, "expires in 10 days", ""},
		{"expires in 29 days", func(f *CertFacts) { f.NotAfter = now.AddDate(0, 0, 29) }, "expires in 29 days", ""},
		{"expires in 45 days", func(f *CertFacts) { f.NotAfter = now.AddDate(0, 0, 45) }, "", "expires in 45 days"},
		{"expires in 61 days", func(f *CertFacts) { f.NotAfter = now.AddDate(0, 0, 61) }, "", ""},
		{"1024-bit key", func(f *CertFacts) { f.KeyBits = 1024 }, "", "1024-bit key"},
		{"SHA-1", func(f *CertFacts) { f.SHA1 = true }, "", "SHA-1 signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := good
			c.mutate(&f)
			fails, warns := f.Evaluate(hosts, now)
			check := func(kind string, got []string, want string) {
				j := strings.Join(got, "; ")
				if (want == "") != (j == "") || (want != "" && !strings.Contains(j, want)) {
					t.Errorf("%s: got %q, want %q", kind, j, want)
				}
			}
			check("fails", fails, c.fails)
			check("warns", warns, c.warns)
		})
	}
}

func TestFactsFromExchange(t *testing.T) {
	c := exCert("EX01", "ab12", "IIS")
	c.SignatureAlgorithm = "sha1RSA"
	f := FactsFromExchange(c)
	if !f.SHA1 || f.Thumbprint != "AB12" || f.KeyBits != 2048 || !f.HasPrivateKey {
		t.Fatalf("%+v", f)
	}
	c.SignatureAlgorithm = "sha256RSA"
	if FactsFromExchange(c).SHA1 {
		t.Fatal("sha256RSA taken for SHA-1")
	}
}

func TestHasServices(t *testing.T) {
	cases := []struct {
		services string
		want     []string
		ok       bool
	}{
		{"IIS, SMTP", []string{"IIS", "SMTP"}, true},
		{"IIS, SMTP", []string{"iis"}, true},
		{"IMAP, POP, IIS, SMTP", []string{"SMTP", "POP"}, true},
		{"IIS", []string{"IIS", "SMTP"}, false},
		{"None", []string{"IIS"}, false},
		{"None", nil, true},
	}
	for _, c := range cases {
		if got := HasServices(exchange.Certificate{Services: c.services}, c.want); got != c.ok {
			t.Errorf("HasServices(%q, %v) = %v", c.services, c.want, got)
		}
	}
}

// fakeExchange answers the read pipelines from fixed data and counts them
// (in scripts, one entry per pipeline).
type fakeExchange struct {
	certs   []exchange.Certificate
	vdirs   []exchange.VirtualDirectory
	oa      []exchange.OutlookAnywhere
	popImap []exchange.PopImapSettings
	scripts []string
}

func fxObj(kv ...any) *psrp.Object {
	o := &psrp.Object{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Extended = append(o.Extended, psrp.Property{Name: kv[i].(string), Value: kv[i+1]})
	}
	return o
}

func fxStr(s *string) psrp.Value {
	if s == nil {
		return nil
	}
	return *s
}

var fxNouns = map[string]exchange.VDirKind{
	"Get-OwaVirtualDirectory": exchange.KindOWA, "Get-EcpVirtualDirectory": exchange.KindECP, "Get-MapiVirtualDirectory": exchange.KindMAPI,
	"Get-WebServicesVirtualDirectory": exchange.KindEWS, "Get-ActiveSyncVirtualDirectory": exchange.KindActiveSync, "Get-OabVirtualDirectory": exchange.KindOAB,
	"Get-AutodiscoverVirtualDirectory": exchange.KindAutodiscover, "Get-PowerShellVirtualDirectory": exchange.KindPowerShell,
}

func (f *fakeExchange) Run(_ context.Context, pl psrp.Pipeline, _ []psrp.Value) (*psrp.Result, error) {
	f.scripts = append(f.scripts, pl.String())
	c := pl.Commands[0]
	arg := func(name string) string {
		for _, p := range c.Params {
			if p.Name == name {
				return p.Value.(string)
			}
		}
		return ""
	}
	res := &psrp.Result{}
	switch {
	case c.Name == "Get-ExchangeCertificate":
		for _, ce := range f.certs {
			if strings.EqualFold(ce.Server, arg("Server")) {
				res.Output = append(res.Output, fxObj("RawData", nil, "Thumbprint", ce.Thumbprint, "Subject", ce.Subject, "Issuer", ce.Issuer,
					"CertificateDomains", psrp.NewList(func() []psrp.Value {
						var v []psrp.Value
						for _, d := range ce.CertificateDomains {
							v = append(v, d)
						}
						return v
					}()...), "NotBefore", ce.NotBefore, "NotAfter", ce.NotAfter, "PublicKeySize", int32(ce.PublicKeySize), "IsSelfSigned", ce.IsSelfSigned,
					"FriendlyName", ce.FriendlyName, "Services", ce.Services, "HasPrivateKey", ce.HasPrivateKey, "Status", ce.Status))
			}
		}
	case fxNouns[c.Name] != "":
		for _, v := range f.vdirs {
			if v.Kind == fxNouns[c.Name] {
				o := fxObj("Server", v.Server, "Identity", v.Identity, "Guid", v.Guid, "InternalUrl", fxStr(v.InternalUrl), "ExternalUrl", fxStr(v.ExternalUrl))
				if v.Kind == exchange.KindMAPI {
					o.Extended = append(o.Extended, psrp.Property{Name: "IISAuthenticationMethods", Value: psrp.NewList("Ntlm", "OAuth")})
				}
				res.Output = append(res.Output, o)
			}
		}
	case c.Name == "Get-OutlookAnywhere":
		for _, o := range f.oa {
			res.Output = append(res.Output, fxObj("Server", o.Server, "Identity", o.Identity, "Guid", o.Guid, "ExternalHostname", fxStr(o.ExternalHostname),
				"InternalHostname", fxStr(o.InternalHostname), "ExternalClientsRequireSsl", o.ExternalClientsRequireSsl, "ExternalClientAuthenticationMethod", o.ExternalClientAuthenticationMethod))
		}
	case c.Name == "Get-ClientAccessService":
		for _, srv := range []string{"EX01", "EX02"} {
			res.Output = append(res.Output, fxObj("Name", srv, "AutoDiscoverServiceInternalUri", nil))
		}
	case c.Name == "Get-PopSettings" || c.Name == "Get-ImapSettings":
		for _, pi := range f.popImap {
			if strings.EqualFold(pi.Server, arg("Server")) {
				v := pi.PopX509CertificateName
				if c.Name == "Get-ImapSettings" {
					v = pi.ImapX509CertificateName
				}
				res.Output = append(res.Output, fxObj("X509CertificateName", fxStr(v)))
			}
		}
	default:
		return nil, fmt.Errorf("unexpected pipeline: %s", pl)
	}
	return res, nil
}

func TestConsistencyCheckRun(t *testing.T) {
	certs, vd, oa := exOrg()
	f := &fakeExchange{certs: certs, vdirs: vd, oa: oa}
	chk := NewConsistencyCheck(exchange.New(f), []string{"EX01", "EX02"})
	r := chk.Run(context.Background(), nil)
	// 11 reads: the 8 kinds of virtual directory, Outlook Anywhere, the
	// SCPs and the certificates of one server.
	if r.Status != check.Pass || len(f.scripts) != 11 || r.Name != "servers-consistent" {
		t.Fatalf("%+v after %d scripts", r, len(f.scripts))
	}
	f.vdirs[7].ExternalUrl = sp("https://a/owa")
	r = chk.Run(context.Background(), nil)
	if r.Status != check.Fail || len(r.Evidence) != 1 || r.Evidence[0] != "EX02 owa ExternalUrl https://a/owa (EX01: $null)" ||
		!strings.Contains(r.Message, "EX02 owa ExternalUrl") {
		t.Fatalf("%+v", r)
	}
	if r := NewConsistencyCheck(exchange.New(f), nil).Run(context.Background(), nil); r.Status != check.Fail {
		t.Fatalf("no servers: %+v", r)
	}
}

func TestCertificatePresentCheck(t *testing.T) {
	hosts := []string{"outlook.contoso.test", "outlook-ext.contoso.test"}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	env := fixedEnv{now}
	cases := []struct {
		name   string
		certs  []exchange.Certificate
		status check.Status
		msg    string
	}{
		{"on both", []exchange.Certificate{exCert("EX01", "AAAA", "None"), exCert("EX02", "aaaa", "IIS")}, check.Pass, "installed with its private key"},
		{"missing on EX02", []exchange.Certificate{exCert("EX01", "AAAA", "None"), exCert("EX02", "BBBB", "IIS")}, check.Fail, "EX02: certificate AAAA is not installed"},
		{"pending", func() []exchange.Certificate {
			c := exCert("EX02", "AAAA", "None")
			c.Status = "PendingRequest"
			return []exchange.Certificate{exCert("EX01", "AAAA", "None"), c}
		}(), check.Fail, "EX02: certificate AAAA has status PendingRequest"},
		{"no key", func() []exchange.Certificate {
			c := exCert("EX02", "AAAA", "None")
			c.HasPrivateKey = false
			return []exchange.Certificate{exCert("EX01", "AAAA", "None"), c}
		}(), check.Fail, "EX02: no private key"},
		{"expiring soon warns", func() []exchange.Certificate {
			a, b := exCert("EX01", "AAAA", "None"), exCert("EX02", "AAAA", "None")
			a.NotAfter, b.NotAfter = now.AddDate(0, 0, 50), now.AddDate(0, 0, 50)
			return []exchange.Certificate{a, b}
		}(), check.Warn, "EX01: expires in 50 days"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeExchange{certs: c.certs}
			chk := &CertificatePresentCheck{Client: exchange.New(f), Servers: []string{"EX01", "EX02"}, Thumbprint: "aaaa", Hosts: hosts}
			r := chk.Run(context.Background(), env)
			if r.Status != c.status || !strings.Contains(r.Message, c.msg) || len(f.scripts) != 2 {
				t.Fatalf("%+v (%d scripts)", r, len(f.scripts))
			}
		})
	}
}

func TestCertificateBoundCheck(t *testing.T) {
	f := &fakeExchange{certs: []exchange.Certificate{exCert("EX01", "AAAA", "IIS, SMTP"), exCert("EX02", "AAAA", "IIS")},
		popImap: []exchange.PopImapSettings{{Server: "EX01", PopX509CertificateName: sp("outlook-ext.contoso.test"), ImapX509CertificateName: sp("outlook-ext.contoso.test")},
			{Server: "EX02", PopX509CertificateName: nil, ImapX509CertificateName: sp("outlook-ext.contoso.test")}}}
	chk := &CertificateBoundCheck{Client: exchange.New(f), Servers: []string{"EX01", "EX02"}, Thumbprint: "AAAA", Services: []string{"IIS", "SMTP"}}
	r := chk.Run(context.Background(), nil)
	if r.Status != check.Fail || !strings.Contains(r.Message, "EX02: certificate AAAA holds IIS, not IIS, SMTP") || strings.Contains(r.Message, "EX01") {
		t.Fatalf("%+v", r)
	}
	f.certs[1].Services = "IIS, SMTP"
	if r := chk.Run(context.Background(), nil); r.Status != check.Pass {
		t.Fatalf("%+v", r)
	}
	chk.X509CertificateName = "outlook-ext.contoso.test"
	r = chk.Run(context.Background(), nil)
	if r.Status != check.Fail || !strings.Contains(r.Message, "EX02: POP X509CertificateName is $null, not outlook-ext.contoso.test") {
		t.Fatalf("%+v", r)
	}
}

type fixedEnv struct{ now time.Time }

func (e fixedEnv) Now() time.Time                         { return e.now }
func (fixedEnv) Logf(string, ...any)                      {}
func (fixedEnv) Progress(int, int, string)                {}
func (fixedEnv) SetOutput(string, any) error              { return nil }
func (fixedEnv) Output(string, string, any) (bool, error) { return false, nil }
