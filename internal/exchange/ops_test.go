package exchange

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/winrm"
)

var update = flag.Bool("update", false, "rewrite testdata/scripts/*.ps1")

const (
	g1 = "0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e"
	g2 = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
)

// call is one operation with fixed inputs, for goldens and parse tests.
type call struct {
	name string
	run  func(ctx context.Context, c *Client) (any, error)
}

var calls = []call{
	{"servers_all", func(ctx context.Context, c *Client) (any, error) { return c.GetExchangeServers(ctx, nil) }},
	{"servers_named", func(ctx context.Context, c *Client) (any, error) {
		return c.GetExchangeServers(ctx, []string{"EX01", "EX02"})
	}},
	{"certificates", func(ctx context.Context, c *Client) (any, error) {
		return c.GetCertificates(ctx, []string{"EX01", "EX02"})
	}},
	{"import_pfx", func(ctx context.Context, c *Client) (any, error) {
		return c.ImportPFX(ctx, []string{"EX01", "EX02"}, []byte("PFX bytes\x00\xff"), "pfx-secret")
	}},
	{"import_pfx_nopassword", func(ctx context.Context, c *Client) (any, error) {
		return c.ImportPFX(ctx, []string{"EX01"}, []byte("PFX"), "")
	}},
	{"enable_certificate", func(ctx context.Context, c *Client) (any, error) {
		return c.EnableCertificate(ctx, "EX01", "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678", []string{"IIS", "SMTP"}, true)
	}},
	{"remove_certificate", func(ctx context.Context, c *Client) (any, error) {
		return nil, c.RemoveCertificate(ctx, "EX01", "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678")
	}},
	{"new_certificate_request", func(ctx context.Context, c *Client) (any, error) {
		return c.NewCertificateRequest(ctx, "EX01", "CN=outlook.contoso.com", []string{"outlook.contoso.com", "outlook-ext.contoso.com", "autodiscover.contoso.com"})
	}},
	{"import_certificate_response", func(ctx context.Context, c *Client) (any, error) {
		return c.ImportCertificateResponse(ctx, "EX01", []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	}},
	{"popimap_get", func(ctx context.Context, c *Client) (any, error) {
		return c.GetPopImapSettings(ctx, []string{"EX01", "EX02"})
	}},
	{"popimap_set", func(ctx context.Context, c *Client) (any, error) {
		return c.SetPopImapCertificateNames(ctx, []PopImapChange{{Server: "EX01", Protocol: POP, Name: strp("mail.contoso.com")}, {Server: "EX01", Protocol: IMAP, Name: nil}})
	}},
	{"vdirs", func(ctx context.Context, c *Client) (any, error) {
		return c.GetVirtualDirectories(ctx, []string{"EX01", "EX02"})
	}},
	{"set_external_urls", func(ctx context.Context, c *Client) (any, error) {
		return c.SetExternalURLs(ctx, []VDirURLChange{
			{Kind: KindOWA, Guid: g1, ExternalUrl: strp("https://outlook-ext.contoso.com/owa")},
			{Kind: KindECP, Guid: g2, ExternalUrl: nil},
			{Kind: KindMAPI, Guid: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", ExternalUrl: strp("https://outlook-ext.contoso.com/mapi")},
		})
	}},
	{"outlook_anywhere_get", func(ctx context.Context, c *Client) (any, error) {
		return c.GetOutlookAnywhere(ctx, []string{"EX01"})
	}},
	{"outlook_anywhere_set", func(ctx context.Context, c *Client) (any, error) {
		return c.SetOutlookAnywhere(ctx, []OutlookAnywhereChange{{Guid: g1, ExternalHostname: strp("outlook-ext.contoso.com"), ExternalClientsRequireSsl: true, ExternalClientAuthenticationMethod: "Negotiate"}, {Guid: g2}})
	}},
	{"client_access_services", func(ctx context.Context, c *Client) (any, error) {
		return c.GetClientAccessServices(ctx, []string{"EX01"})
	}},
	{"org_config", func(ctx context.Context, c *Client) (any, error) { return c.GetOrganizationConfig(ctx) }},
	{"set_mapi_http", func(ctx context.Context, c *Client) (any, error) { return nil, c.SetMapiHttpEnabled(ctx, true) }},
	{"cas_mailboxes", func(ctx context.Context, c *Client) (any, error) {
		return c.GetCASMailboxes(ctx, []string{"UserMailbox", "SharedMailbox"})
	}},
	{"set_cas_flags", func(ctx context.Context, c *Client) (any, error) {
		return c.SetCASMailboxFlags(ctx, []FlagChange{{Guid: g1, MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true}, {Guid: g2}})
	}},
	{"expand_group", func(ctx context.Context, c *Client) (any, error) { return c.ExpandGroup(ctx, "AllowExternalAccess") }},
}

func findCall(t *testing.T, name string) call {
	for _, c := range calls {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no call %q", name)
	return call{}
}

// TestGoldenScripts: every script that runs on the server is in
// testdata/scripts, so a reviewer can read it.
func TestGoldenScripts(t *testing.T) {
	for _, cl := range calls {
		t.Run(cl.name, func(t *testing.T) {
			f := &fakeRunner{}
			_, _ = cl.run(context.Background(), New(f))
			if len(f.scripts) != 1 {
				t.Fatalf("%d scripts run, want exactly one", len(f.scripts))
			}
			s := f.scripts[0]
			if !strings.HasPrefix(s, scriptHeader) {
				t.Fatalf("script does not start with the header:\n%s", s)
			}
			if n := strings.Count(s, "ConvertTo-Json"); n != 1 || !strings.HasSuffix(s, "-Compress"+asciiOnly+"\n") {
				t.Fatalf("script must end in exactly one ConvertTo-Json -Compress (%d):\n%s", n, s)
			}
			path := filepath.Join("testdata", "scripts", cl.name+".ps1")
			if *update {
				if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/exchange -update)", err)
			}
			if string(want) != s {
				t.Fatalf("script differs from %s (run with -update if intended):\n%s", path, s)
			}
		})
	}
}

func TestSecretsTravelOnStdin(t *testing.T) {
	f := &fakeRunner{out: `[{"Server":"EX01","Ok":true,"Thumbprint":"AB","Error":null}]`}
	_, err := New(f).ImportPFX(context.Background(), []string{"EX01"}, []byte("x"), "pfx-secret")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(f.last(), "pfx-secret") {
		t.Fatal("the password is in the script")
	}
	if f.stdins[0] != "pfx-secret\n" {
		t.Fatalf("stdin %q", f.stdins[0])
	}
	if _, err := New(f).ImportPFX(context.Background(), []string{"EX01"}, []byte("x"), "a\nb"); err == nil {
		t.Fatal("a password with a newline must be refused")
	}
}

// Bad server data gives a clear error naming the operation.
func TestBadOutputNamesTheOperation(t *testing.T) {
	psErr := &winrm.PowerShellError{Message: "Get-ExchangeServer : The operation couldn't be performed because object 'EX09' couldn't be found.", ExitCode: 1}
	bad := []struct {
		name string
		out  string
		err  error
		want string
	}{
		{"empty output", "", nil, "no output"},
		{"whitespace output", " \r\n", nil, "no output"},
		{"non-JSON", "WARNING: something\r\n", nil, "not JSON"},
		{"truncated JSON", `[{"Name":`, nil, "unexpected output"},
		{"powershell error", "", psErr, "couldn't be found"},
		{"transport error", "", engine.Transient(errors.New("connection reset")), "connection reset"},
	}
	for _, cl := range calls {
		for _, b := range bad {
			t.Run(cl.name+"/"+b.name, func(t *testing.T) {
				f := &fakeRunner{out: b.out, err: b.err}
				_, err := cl.run(context.Background(), New(f))
				var oe *OpError
				if !errors.As(err, &oe) {
					t.Fatalf("want *OpError, got %T %v", err, err)
				}
				if !strings.Contains(err.Error(), "exchange "+oe.Op+":") || oe.Op == "" {
					t.Fatalf("error does not name the operation: %v", err)
				}
				if !strings.Contains(err.Error(), b.want) {
					t.Fatalf("error %q lacks %q", err, b.want)
				}
				if b.err != nil && !errors.Is(err, b.err) && !errors.As(err, new(*winrm.PowerShellError)) {
					t.Fatalf("cause lost: %v", err)
				}
				if engine.IsTransient(b.err) != engine.IsTransient(err) {
					t.Fatalf("transience changed: %v", err)
				}
			})
		}
	}
}

func TestParse(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		call string
		out  string
		want any    // nil: only check error
		err  string // "" = success
	}{
		{"servers_all", `[{"Name":"EX01","Fqdn":"ex01.contoso.test","Guid":"` + g1 + `","AdminDisplayVersion":"Version 15.2 (Build 1544.4)","ServerRole":"Mailbox"}]`,
			[]Server{{Name: "EX01", Fqdn: "ex01.contoso.test", Guid: g1, AdminDisplayVersion: "Version 15.2 (Build 1544.4)", ServerRole: "Mailbox"}}, ""},
		{"servers_all", `{"Name":"EX01","Fqdn":"ex01.contoso.test","Guid":"` + g1 + `","AdminDisplayVersion":"V","ServerRole":"Mailbox"}`,
			[]Server{{Name: "EX01", Fqdn: "ex01.contoso.test", Guid: g1, AdminDisplayVersion: "V", ServerRole: "Mailbox"}}, ""},
		{"servers_all", `[]`, nil, "no Exchange server found"},
		{"servers_all", `[{"Name":"EX01","Guid":"` + g1 + `","AdminDisplayVersion":"V","ServerRole":"Mailbox"}]`, nil, "property Fqdn is missing"},
		{"servers_all", `[{"Name":null,"Fqdn":"f","Guid":"` + g1 + `","AdminDisplayVersion":"V","ServerRole":"Mailbox"}]`, nil, "property Name is null"},
		{"certificates", `[{"Server":"EX01","Thumbprint":"AB","Subject":"CN=x","Issuer":"CN=ca","FriendlyName":"","CertificateDomains":["x","y"],"NotBefore":"2026-01-01T00:00:00.0000000Z","NotAfter":"2027-01-01T12:00:00.0000000Z","Services":"IIS, SMTP","HasPrivateKey":true,"Status":"Valid","PublicKeySize":2048,"SignatureAlgorithm":"sha256RSA","IsSelfSigned":false}]`,
			[]Certificate{{Server: "EX01", Thumbprint: "AB", Subject: "CN=x", Issuer: "CN=ca", CertificateDomains: []string{"x", "y"}, NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 12, 0, 0, 0, time.UTC), Services: "IIS, SMTP", HasPrivateKey: true, Status: "Valid", PublicKeySize: 2048, SignatureAlgorithm: "sha256RSA"}}, ""},
		{"certificates", `[]`, []Certificate{}, ""},
		{"certificates", `[{"Server":"EX01","Thumbprint":"AB","Subject":"CN=x","Issuer":"CN=ca","FriendlyName":null,"SignatureAlgorithm":null,"CertificateDomains":[],"NotBefore":"yesterday","NotAfter":"2027-01-01T00:00:00Z","Services":"None","HasPrivateKey":true,"Status":"Valid","PublicKeySize":2048,"IsSelfSigned":false}]`, nil, "cannot parse"},
		{"import_pfx", `[{"Server":"EX01","Ok":true,"Thumbprint":"AB","Error":null},{"Server":"EX02","Ok":false,"Thumbprint":null,"Error":"already exists"}]`,
			[]ImportResult{{Server: "EX01", OK: true, Thumbprint: "AB"}, {Server: "EX02", Error: "already exists"}}, ""},
		{"import_pfx", `[{"Server":"EX01","Ok":true,"Thumbprint":"AB","Error":null}]`, nil, "1 results for 2 servers"},
		{"import_pfx", `[{"Server":"EX01","Ok":true,"Thumbprint":"","Error":null},{"Server":"EX02","Ok":true,"Thumbprint":"AB","Error":null}]`, nil, "no thumbprint"},
		{"enable_certificate", `{"Thumbprint":"AB","Services":"IIS, SMTP"}`, "IIS, SMTP", ""},
		{"enable_certificate", `[{"Thumbprint":"AB","Services":"IIS"}]`, nil, "array where one object"},
		{"remove_certificate", `{"Thumbprint":"AB","Removed":true}`, nil, ""},
		{"remove_certificate", `{"Thumbprint":"AB","Removed":false}`, nil, "did not confirm"},
		{"new_certificate_request", `{"Request":"MIIBcsr=="}`, "-----BEGIN NEW CERTIFICATE REQUEST-----\nMIIBcsr==\n-----END NEW CERTIFICATE REQUEST-----\n", ""},
		{"new_certificate_request", `{"Request":"-----BEGIN NEW CERTIFICATE REQUEST-----\r\nMIIB\r\n-----END NEW CERTIFICATE REQUEST-----\r\n"}`, "-----BEGIN NEW CERTIFICATE REQUEST-----\r\nMIIB\r\n-----END NEW CERTIFICATE REQUEST-----\n", ""},
		{"new_certificate_request", `{"Request":""}`, nil, "empty certificate request"},
		{"import_certificate_response", `{"Thumbprint":"CD"}`, "CD", ""},
		{"popimap_get", `[{"Server":"EX01","Pop":"mail.contoso.com","Imap":null},{"Server":"EX02","Pop":null,"Imap":null}]`,
			[]PopImapSettings{{Server: "EX01", PopX509CertificateName: strp("mail.contoso.com")}, {Server: "EX02"}}, ""},
		{"popimap_set", `[{"Id":"EX01/pop","Ok":true,"Error":null},{"Id":"EX01/imap","Ok":false,"Error":"denied"}]`,
			[]ItemResult{{ID: "EX01/pop", OK: true}, {ID: "EX01/imap", Error: "denied"}}, ""},
		{"vdirs", `[{"Kind":"owa","Server":"EX01","Identity":"EX01\\owa (Default Web Site)","Guid":"` + g1 + `","InternalUrl":"https://outlook.contoso.test/owa","ExternalUrl":null,"IISAuthenticationMethods":[]},{"Kind":"mapi","Server":"EX01","Identity":"EX01\\mapi (Default Web Site)","Guid":"` + g2 + `","InternalUrl":null,"ExternalUrl":"https://x/mapi","IISAuthenticationMethods":["Ntlm","OAuth","Negotiate"]}]`,
			[]VirtualDirectory{{Kind: KindOWA, Server: "EX01", Identity: `EX01\owa (Default Web Site)`, Guid: g1, InternalUrl: strp("https://outlook.contoso.test/owa"), IISAuthenticationMethods: []string{}},
				{Kind: KindMAPI, Server: "EX01", Identity: `EX01\mapi (Default Web Site)`, Guid: g2, ExternalUrl: strp("https://x/mapi"), IISAuthenticationMethods: []string{"Ntlm", "OAuth", "Negotiate"}}}, ""},
		{"vdirs", `[{"Kind":"mapi","Server":"EX01","Identity":"m","Guid":"` + g2 + `","InternalUrl":null,"ExternalUrl":null,"IISAuthenticationMethods":[]}]`, nil, "no IISAuthenticationMethods"},
		{"vdirs", `[{"Kind":"rpc","Server":"EX01","Identity":"m","Guid":"` + g2 + `","InternalUrl":null,"ExternalUrl":null,"IISAuthenticationMethods":[]}]`, nil, "unknown kind"},
		{"vdirs", `[{"Kind":"owa","Server":"EX01","Identity":"m","Guid":"` + g2 + `","InternalUrl":null,"IISAuthenticationMethods":[]}]`, nil, "property ExternalUrl is missing"},
		{"set_external_urls", `[{"Id":"` + g1 + `","Ok":true,"Error":null},{"Id":"` + g2 + `","Ok":true,"Error":null},{"Id":"9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a","Ok":false,"Error":"IISAuthenticationMethods"}]`,
			[]ItemResult{{ID: g1, OK: true}, {ID: g2, OK: true}, {ID: "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", Error: "IISAuthenticationMethods"}}, ""},
		{"set_external_urls", `[{"Id":"` + g1 + `","Ok":true,"Error":null}]`, nil, "1 results for 3 items"},
		{"set_external_urls", `[{"Id":"` + g2 + `","Ok":true,"Error":null},{"Id":"` + g1 + `","Ok":true,"Error":null},{"Id":"9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a","Ok":true,"Error":null}]`, nil, "expected"},
		{"outlook_anywhere_get", `[{"Server":"EX01","Identity":"EX01\\Rpc (Default Web Site)","Guid":"` + g1 + `","ExternalHostname":null,"InternalHostname":"ex01.contoso.test","ExternalClientsRequireSsl":false,"ExternalClientAuthenticationMethod":"Negotiate"}]`,
			[]OutlookAnywhere{{Server: "EX01", Identity: `EX01\Rpc (Default Web Site)`, Guid: g1, InternalHostname: strp("ex01.contoso.test"), ExternalClientAuthenticationMethod: "Negotiate"}}, ""},
		{"outlook_anywhere_set", `[{"Id":"` + g1 + `","Ok":true,"Error":null},{"Id":"` + g2 + `","Ok":true,"Error":null}]`, []ItemResult{{ID: g1, OK: true}, {ID: g2, OK: true}}, ""},
		{"client_access_services", `[{"Name":"EX01","AutoDiscoverServiceInternalUri":"https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml"}]`,
			[]ClientAccessService{{Name: "EX01", AutoDiscoverServiceInternalUri: strp("https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml")}}, ""},
		{"org_config", `{"MapiHttpEnabled":true}`, OrganizationConfig{MapiHttpEnabled: true}, ""},
		{"org_config", `{"MapiHttpEnabled":null}`, nil, "property MapiHttpEnabled is null"},
		{"org_config", `{}`, nil, "property MapiHttpEnabled is missing"},
		{"set_mapi_http", `{"MapiHttpEnabled":true}`, nil, ""},
		{"set_mapi_http", `{"MapiHttpEnabled":false}`, nil, "reads false after setting true"},
		{"set_cas_flags", `[{"Id":"` + g1 + `","Ok":true,"Error":null},{"Id":"` + g2 + `","Ok":false,"Error":"The operation couldn't be performed"}]`,
			[]ItemResult{{ID: g1, OK: true}, {ID: g2, Error: "The operation couldn't be performed"}}, ""},
		{"set_cas_flags", `{"Id":"` + g1 + `","Ok":true,"Error":null}`, nil, "1 results for 2 items"},
		{"expand_group", `{"Found":false,"Error":"The operation couldn't be performed because object 'AllowExternalAccess' couldn't be found on 'dc01.contoso.test'.","Name":"AllowExternalAccess","Guid":null,"Groups":[],"Members":[]}`, nil, "group not found"},
		{"expand_group", `{"Found":true,"Error":null,"Name":"AllowExternalAccess","Guid":"` + g1 + `","Groups":[],"Members":[]}`,
			GroupExpansion{Name: "AllowExternalAccess", Guid: g1, Groups: []NestedGroup{}}, ""},
		{"expand_group", `{"Found":true,"Error":null,"Name":"A","Guid":"` + g1 + `","Groups":[{"g":"` + g2 + `","n":"Nested"}],"Members":[{"g":"` + g2 + `","n":"Ann","t":"UserMailbox","d":"UserMailbox"},{"g":"` + g2 + `","n":"Ann","t":"UserMailbox","d":"UserMailbox"},{"g":"` + g1 + `","n":"Partner","t":"MailContact","d":"MailContact"}]}`,
			GroupExpansion{Name: "A", Guid: g1, Groups: []NestedGroup{{Guid: g2, Name: "Nested"}}, Mailboxes: []GroupMember{{Guid: g2, Name: "Ann", RecipientType: "UserMailbox", RecipientTypeDetails: "UserMailbox"}}, Others: []GroupMember{{Guid: g1, Name: "Partner", RecipientType: "MailContact", RecipientTypeDetails: "MailContact"}}}, ""},
		{"expand_group", `[{"Found":true}]`, nil, "array where one object"},
	}
	for i, tc := range tests {
		t.Run(tc.call, func(t *testing.T) {
			f := &fakeRunner{out: tc.out}
			got, err := findCall(t, tc.call).run(ctx, New(f))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("case %d: want error containing %q, got %v", i, tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("case %d: %v", i, err)
			}
			if tc.want != nil && !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("case %d:\n got %#v\nwant %#v", i, got, tc.want)
			}
		})
	}
}

func TestExpandGroupMissingWrapsErrGroupNotFound(t *testing.T) {
	f := &fakeRunner{out: `{"Found":false,"Error":"couldn't be found","Name":"X","Guid":null,"Groups":[],"Members":[]}`}
	_, err := New(f).ExpandGroup(context.Background(), "X")
	if !errors.Is(err, ErrGroupNotFound) || engine.IsTransient(err) {
		t.Fatalf("got %v", err)
	}
	f.out = `{"Found":false,"Error":"Fail to create a runspace because you have exceeded the throttling budget","Name":"X","Guid":null,"Groups":[],"Members":[]}`
	_, err = New(f).ExpandGroup(context.Background(), "X")
	if errors.Is(err, ErrGroupNotFound) || !engine.IsTransient(err) {
		t.Fatalf("throttling while reading the group must be transient, got %v", err)
	}
	exp, err := New(&fakeRunner{out: `{"Found":true,"Error":null,"Name":"X","Guid":"` + g1 + `","Groups":[],"Members":[]}`}).ExpandGroup(context.Background(), "X")
	if err != nil || !exp.Empty() {
		t.Fatalf("empty group: %+v %v", exp, err)
	}
}

func TestThrottledItemMakesBatchTransient(t *testing.T) {
	f := &fakeRunner{out: `[{"Id":"` + g1 + `","Ok":true,"Error":null},{"Id":"` + g2 + `","Ok":false,"Error":"The user has exceeded the throttling budget"}]`}
	res, err := New(f).SetCASMailboxFlags(context.Background(), []FlagChange{{Guid: g1}, {Guid: g2}})
	if !engine.IsTransient(err) || len(res) != 2 {
		t.Fatalf("got %v %v", res, err)
	}
}

func TestInputsRefusedBeforeRunning(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func(c *Client) error{
		"vdir kind autodiscover": func(c *Client) error {
			_, err := c.SetExternalURLs(ctx, []VDirURLChange{{Kind: KindAutodiscover, Guid: g1}})
			return err
		},
		"vdir kind powershell": func(c *Client) error {
			_, err := c.SetExternalURLs(ctx, []VDirURLChange{{Kind: KindPowerShell, Guid: g1}})
			return err
		},
		"vdir non-GUID": func(c *Client) error {
			_, err := c.SetExternalURLs(ctx, []VDirURLChange{{Kind: KindOWA, Guid: "EX01\\owa (Default Web Site)"}})
			return err
		},
		"mailbox non-GUID": func(c *Client) error {
			_, err := c.SetCASMailboxFlags(ctx, []FlagChange{{Guid: "x'; Remove-Mailbox *; '"}})
			return err
		},
		"batch too large": func(c *Client) error {
			b := make([]FlagChange, MaxFlagBatch+1)
			for i := range b {
				b[i].Guid = g1
			}
			_, err := c.SetCASMailboxFlags(ctx, b)
			return err
		},
		"OA bad auth method": func(c *Client) error {
			_, err := c.SetOutlookAnywhere(ctx, []OutlookAnywhereChange{{Guid: g1, ExternalClientAuthenticationMethod: "Digest"}})
			return err
		},
		"popimap bad protocol": func(c *Client) error {
			_, err := c.SetPopImapCertificateNames(ctx, []PopImapChange{{Server: "EX01", Protocol: "smtp"}})
			return err
		},
		"no recipient types": func(c *Client) error { _, err := c.GetCASMailboxes(ctx, nil); return err },
		"no servers":         func(c *Client) error { _, err := c.GetVirtualDirectories(ctx, nil); return err },
		"empty group name":   func(c *Client) error { _, err := c.ExpandGroup(ctx, " "); return err },
	}
	for name, fn := range cases {
		t.Run(name, func(t *testing.T) {
			f := &fakeRunner{}
			err := fn(New(f))
			var oe *OpError
			if !errors.As(err, &oe) {
				t.Fatalf("want *OpError, got %v", err)
			}
			if len(f.scripts) != 0 {
				t.Fatalf("a script ran: %s", f.last())
			}
		})
	}
}

func TestMaxBatchFitsOneEnvelope(t *testing.T) {
	b := make([]FlagChange, MaxFlagBatch)
	for i := range b {
		b[i].Guid = g1
	}
	if n := len(winrm.EncodeCommand(setCASFlagsScript(b))); n > maxCommandLine {
		t.Fatalf("a full batch needs %d bytes of command line, limit %d", n, maxCommandLine)
	}
}

func TestSetExternalURLsLeavesCallerSliceAlone(t *testing.T) {
	upper := strings.ToUpper(g1)
	in := []VDirURLChange{{Kind: KindOWA, Guid: upper}}
	f := &fakeRunner{out: `[{"Id":"` + g1 + `","Ok":true,"Error":null}]`}
	if _, err := New(f).SetExternalURLs(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if in[0].Guid != upper {
		t.Fatal("the caller's slice was modified")
	}
}

func TestWarningsReachOnWarning(t *testing.T) {
	f := &fakeRunner{res: winrm.Result{Stdout: `{"MapiHttpEnabled":true}`, Warnings: []string{"w1"}}}
	c := New(f)
	var got []string
	c.OnWarning = func(op, w string) { got = append(got, op+": "+w) }
	if _, err := c.GetOrganizationConfig(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "GetOrganizationConfig: w1" {
		t.Fatalf("got %q", got)
	}
}
