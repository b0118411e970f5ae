package exchange_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/exchange"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

const prelude = "$ErrorActionPreference = 'Stop'\nAdd-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\n"

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

type lab struct {
	t     *testing.T
	h     *pwsh.Host
	st    *org.Store
	stats *labstats.Counters
}

func newLab(t *testing.T, o *org.Org) *lab {
	t.Helper()
	st := org.NewMemory(o)
	return newLabStore(t, st)
}

func newLabStore(t *testing.T, st *org.Store) *lab {
	t.Helper()
	stats := &labstats.Counters{}
	h := pwsh.NewHost(pwsh.HostOptions{Stats: stats, User: `CONTOSO\Administrator`, Now: func() time.Time { return now }})
	if err := exchange.Register(h, st, exchange.Options{Stats: stats, LocalServer: "EX01", Now: func() time.Time { return now }}); err != nil {
		t.Fatal(err)
	}
	return &lab{t: t, h: h, st: st, stats: stats}
}

// run runs a script as powershell.exe would and returns stdout, stderr and
// the exit code.
func (l *lab) run(script string, stdin string) (string, string, int) {
	l.t.Helper()
	var out, errb bytes.Buffer
	code := l.h.RunScript(context.Background(), script, strings.NewReader(stdin), &out, &errb)
	return strings.ReplaceAll(out.String(), "\r\n", "\n"), errb.String(), code
}

// ok runs prelude+script and fails the test on a non-zero exit.
func (l *lab) ok(script string) string {
	l.t.Helper()
	out, errs, code := l.run(prelude+script, "")
	if code != 0 {
		l.t.Fatalf("script failed (%d):\n%s\nstderr:\n%s", code, script, errs)
	}
	return out
}

// fails runs prelude+script, expects a non-zero exit and returns stderr.
func (l *lab) fails(script string) string {
	l.t.Helper()
	out, errs, code := l.run(prelude+script, "")
	if code == 0 {
		l.t.Fatalf("script succeeded:\n%s\nstdout:\n%s", script, out)
	}
	return clixmlText(errs)
}

// clixmlText undoes the _xHHHH_ escapes of CLIXML error text for matching.
func clixmlText(s string) string {
	return strings.NewReplacer("_x000D_", "\r", "_x000A_", "\n", "&apos;", "'", "&quot;", `"`, "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// quote is the single-quoting rule the runbook's scripts use.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		if strings.ContainsRune("'‘’‚‛", r) {
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

func (l *lab) canonical() []byte { return l.st.Canonical() }

func TestSnapinRequired(t *testing.T) {
	l := newLab(t, orgtest.New(3))
	_, errs, code := l.run("Get-CASMailbox", "")
	if code == 0 || !strings.Contains(clixmlText(errs), "The term 'Get-CASMailbox' is not recognized as the name of a cmdlet") {
		t.Fatalf("without snap-in: code %d, %s", code, errs)
	}
	if out := l.ok("@(Get-CASMailbox).Count"); strings.TrimSpace(out) != "3" {
		t.Fatalf("with snap-in: %q", out)
	}
}

func TestUnknownParameterFailsAsPowerShell(t *testing.T) {
	l := newLab(t, orgtest.New(3))
	errs := l.fails("Get-Mailbox -Bogus 1")
	if !strings.Contains(errs, "A parameter cannot be found that matches parameter name 'Bogus'.") {
		t.Fatalf("%s", errs)
	}
	// A documented but online-only parameter is unknown on-premises.
	errs = l.fails("Set-CASMailbox -Identity user5 -OneWinNativeOutlookEnabled $true")
	if !strings.Contains(errs, "'OneWinNativeOutlookEnabled'") {
		t.Fatalf("%s", errs)
	}
}

func TestResultSizeDefaultTruncatesWithWarning(t *testing.T) {
	l := newLab(t, orgtest.New(1005))
	out, errs, code := l.run(prelude+"@(Get-CASMailbox).Count", "")
	if code != 0 || strings.TrimSpace(out) != "1000" {
		t.Fatalf("default: %q %d %s", out, code, errs)
	}
	if !strings.Contains(clixmlText(errs), `By default, only the first 1000 items are returned. Use the ResultSize parameter to specify the number of items returned. To return all items, specify "-ResultSize Unlimited".`) {
		t.Fatalf("no warning: %s", errs)
	}
	if got := l.stats.CASMailboxRows.Load(); got != 1000 {
		t.Errorf("CASMailboxRows = %d", got)
	}
	out, errs, _ = l.run(prelude+"@(Get-CASMailbox -ResultSize Unlimited).Count", "")
	if strings.TrimSpace(out) != "1005" || strings.Contains(errs, "first 1000") {
		t.Fatalf("unlimited: %q %s", out, errs)
	}
	for _, c := range []string{"Get-Mailbox", "Get-Recipient"} {
		out, errs, _ = l.run(prelude+"@("+c+").Count", "")
		if strings.TrimSpace(out) != "1000" || !strings.Contains(errs, "first 1000") {
			t.Errorf("%s: %q %s", c, out, errs)
		}
	}
	out = l.ok("@(Get-Mailbox -ResultSize 10).Count")
	if strings.TrimSpace(out) != "10" {
		t.Errorf("ResultSize 10: %q", out)
	}
}

func TestMailboxIdentityForms(t *testing.T) {
	o := orgtest.New(12)
	l := newLab(t, o)
	m := o.Mailboxes[10]
	for _, id := range []string{m.Guid.String(), "user10", "User 10", m.DistinguishedName, "user10@contoso.test", `CONTOSO\user10`, "contoso.test/Users/User 10"} {
		out := l.ok("(Get-Mailbox -Identity " + quote(id) + ").Alias")
		if strings.TrimSpace(out) != "user10" {
			t.Errorf("Get-Mailbox %q → %q", id, out)
		}
	}
	errs := l.fails("Get-Mailbox -Identity nobody")
	if !strings.Contains(errs, "The operation couldn't be performed because object 'nobody' couldn't be found on 'DC01.contoso.test'.") {
		t.Errorf("not found: %s", errs)
	}
	// Exchange errors are non-terminating: without Stop the script goes on.
	out, _, code := l.run("Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn\nGet-Mailbox -Identity nobody\n'after'", "")
	if code != 0 || strings.TrimSpace(out) != "after" {
		t.Errorf("non-terminating: %q %d", out, code)
	}
}

func TestHostileNamesAreData(t *testing.T) {
	o := orgtest.New(len(orgtest.HostileNames) + 2)
	l := newLab(t, o)
	for i, name := range orgtest.HostileNames {
		l.ok("Set-CASMailbox -Identity " + quote(name) + " -MAPIBlockOutlookRpcHttp $true")
		out := l.ok("(Get-CASMailbox -Identity " + quote(name) + ").Guid.ToString()")
		if strings.TrimSpace(out) != o.Mailboxes[i].Guid.String() {
			t.Errorf("%q resolved to %q", name, out)
		}
	}
	l.st.Read(func(o *org.Org) {
		for i := range orgtest.HostileNames {
			if !o.Mailboxes[i].MAPIBlockOutlookRpcHttp {
				t.Errorf("mailbox %d not blocked", i)
			}
		}
		if o.Mailboxes[len(orgtest.HostileNames)].MAPIBlockOutlookRpcHttp {
			t.Error("an innocent mailbox was blocked")
		}
	})
	// Names come back byte for byte through ConvertTo-Json.
	out := l.ok("ConvertTo-Json -Compress -InputObject @(Get-Mailbox -ResultSize Unlimited | ForEach-Object { $_.DisplayName })")
	var names []string
	if err := json.Unmarshal([]byte(out), &names); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for i, n := range orgtest.HostileNames {
		if names[i] != n {
			t.Errorf("name %d: %q, want %q", i, names[i], n)
		}
	}
	if got := l.stats.MailboxWrites.Load(); got != int64(len(orgtest.HostileNames)) {
		t.Errorf("MailboxWrites = %d", got)
	}
}

func TestSetCASMailboxMapiHttpTriState(t *testing.T) {
	l := newLab(t, orgtest.New(10))
	before := l.canonical()
	for _, c := range []struct{ arg, want string }{{"$true", "True"}, {"$false", "False"}, {"$null", "null"}} {
		l.ok("Set-CASMailbox -Identity user9 -MapiHttpEnabled " + c.arg)
		out := l.ok("$m = Get-CASMailbox -Identity user9; if ($null -eq $m.MapiHttpEnabled) { 'null' } else { [string]$m.MapiHttpEnabled }")
		if strings.TrimSpace(out) != c.want {
			t.Errorf("%s → %q", c.arg, out)
		}
	}
	if !bytes.Equal(before, l.canonical()) {
		t.Error("MapiHttpEnabled $null did not restore the initial state")
	}
}

func TestFilterRejectsMAPIBlock(t *testing.T) {
	l := newLab(t, orgtest.New(3))
	errs := l.fails(`Get-CASMailbox -Filter "MAPIBlockOutlookRpcHttp -eq 'True'"`)
	if !strings.Contains(errs, `"MAPIBlockOutlookRpcHttp" is not a recognized filterable property`) {
		t.Fatalf("%s", errs)
	}
	out := l.ok(`@(Get-Mailbox -Filter "Alias -like 'user*'").Count`)
	if strings.TrimSpace(out) != "0" {
		// orgtest.New(3) gives only hostile aliases
		t.Fatalf("filter: %q", out)
	}
	out = l.ok(`@(Get-Recipient -Filter "MemberOfGroup -eq 'CN=AllowExternalAccess,OU=Groups,DC=contoso,DC=test'").Count`)
	if strings.TrimSpace(out) != "3" {
		t.Fatalf("MemberOfGroup: %q", out)
	}
}

func TestDistributionGroupMemberIsNotRecursive(t *testing.T) {
	l := newLab(t, orgtest.New(10))
	out := l.ok("ConvertTo-Json -Compress -InputObject @(Get-DistributionGroupMember -Identity AllowExternalAccess | ForEach-Object { [pscustomobject]@{ A = $_.Alias; T = [string]$_.RecipientType } })")
	var got []struct{ A, T string }
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != 3 || got[2].A != "AllowNested" || got[2].T != "MailUniversalDistributionGroup" || got[0].T != "UserMailbox" {
		t.Fatalf("%+v", got)
	}
}

func TestVirtualDirectoryIdentityAndNullURL(t *testing.T) {
	o := orgtest.New(1)
	l := newLab(t, o)
	before := l.canonical()
	l.ok("Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -ExternalUrl $null")
	out := l.ok("$v = Get-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)'; if ($null -eq $v.ExternalUrl) { 'null' } else { $v.ExternalUrl.AbsoluteUri }")
	if strings.TrimSpace(out) != "null" {
		t.Fatalf("ExternalUrl after $null: %q", out)
	}
	if !strings.Contains(string(l.canonical()), `"ExternalUrl": null`) {
		t.Fatal("canonical JSON lacks a null ExternalUrl")
	}
	// Restore by GUID.
	g := orgtest.ID("vdir/EX01/Owa").String()
	_, errs, code := l.run(prelude+"Set-OwaVirtualDirectory -Identity '"+g+"' -ExternalUrl 'https://outlook.contoso.test/owa'", "")
	if code != 0 || !strings.Contains(errs, "ECP virtual directory") {
		t.Fatalf("restore: %d %s", code, errs)
	}
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("canonical JSON differs after restoring the URL")
	}
	if got := l.stats.VdirChanges.Load(); got != 2 {
		t.Errorf("VdirChanges = %d", got)
	}
	for _, c := range []struct{ script, want string }{
		{"(Get-EcpVirtualDirectory -Server EX02 -ADPropertiesOnly).Identity", `EX02\ecp (Default Web Site)`},
		{"(Get-MapiVirtualDirectory -Identity 'ex02\\mapi*').Server", "EX02"},
		{"@(Get-WebServicesVirtualDirectory).Count", "2"},
		{"(Get-OabVirtualDirectory -Server ex01.contoso.test).InternalUrl.AbsoluteUri", "https://outlook.contoso.test/OAB"},
		{"@(Get-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)').Count", "1"},
	} {
		if out := strings.TrimSpace(l.ok(c.script)); out != c.want {
			t.Errorf("%s → %q, want %q", c.script, out, c.want)
		}
	}
	errs = l.fails("Get-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -Server EX01")
	if !strings.Contains(errs, "Parameter set cannot be resolved") {
		t.Errorf("Identity with Server: %s", errs)
	}
}

func TestSetMapiVirtualDirectoryNeedsIISAuthenticationMethods(t *testing.T) {
	l := newLab(t, orgtest.New(1))
	errs := l.fails("Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl 'https://outlook-ext.contoso.test/mapi'")
	if !strings.Contains(errs, "IISAuthenticationMethods") {
		t.Fatalf("%s", errs)
	}
	before := l.canonical()
	errs = l.fails("Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl 'https://outlook-ext.contoso.test/mapi' -IISAuthenticationMethods Ntlm,Bogus")
	if !strings.Contains(errs, `Cannot convert value "Bogus"`) || !bytes.Equal(before, l.canonical()) {
		t.Fatalf("bad method: %s", errs)
	}
	l.ok("Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl 'https://outlook-ext.contoso.test/mapi' -IISAuthenticationMethods NTLM,oauth,Negotiate")
	out := l.ok("$v = Get-MapiVirtualDirectory -Server EX01; $v.ExternalUrl.AbsoluteUri; @($v.IISAuthenticationMethods | ForEach-Object { [string]$_ }) -join ','")
	if strings.TrimSpace(out) != "https://outlook-ext.contoso.test/mapi\nNtlm,OAuth,Negotiate" {
		t.Fatalf("%q", out)
	}
}

func TestOutlookAnywhere(t *testing.T) {
	l := newLab(t, orgtest.New(1))
	before := l.canonical()
	errs := l.fails("Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -ExternalHostname 'https://outlook-ext.contoso.test/rpc'")
	if !strings.Contains(errs, "isn't a valid host name") {
		t.Errorf("URL as hostname: %s", errs)
	}
	errs = l.fails("Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -DefaultAuthenticationMethod Ntlm -ExternalClientAuthenticationMethod Basic")
	if !strings.Contains(errs, "DefaultAuthenticationMethod") {
		t.Errorf("Default with per-side: %s", errs)
	}
	l.ok("Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -ExternalHostname outlook-ext.contoso.test -ExternalClientsRequireSsl $true -ExternalClientAuthenticationMethod Ntlm")
	out := l.ok("$o = Get-OutlookAnywhere -Server EX01; [string]$o.ExternalHostname; [string]$o.ExternalClientAuthenticationMethod")
	if strings.TrimSpace(out) != "outlook-ext.contoso.test\nNtlm" {
		t.Fatalf("%q", out)
	}
	l.ok("Set-OutlookAnywhere -Identity 'EX01\\Rpc (Default Web Site)' -ExternalHostname outlook.contoso.test -ExternalClientAuthenticationMethod Negotiate")
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("Outlook Anywhere not restored")
	}
}

// certLab is a lab whose servers hold a real CA-issued certificate.
func certLab(t *testing.T) (*lab, *ca.CA, string) {
	t.Helper()
	root, err := ca.New("Contoso Lab CA", now.AddDate(-1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue("outlook.contoso.test", []string{"outlook.contoso.test", "autodiscover.contoso.test"}, now.AddDate(0, -6, 0), now.AddDate(0, 6, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := orgtest.New(1)
	o.Certificates = nil
	for _, s := range []string{"EX01", "EX02"} {
		o.Certificates = append(o.Certificates, &org.Certificate{Server: s, Thumbprint: leaf.Thumbprint(), Subject: "CN=outlook.contoso.test",
			Issuer: "CN=Contoso Lab CA", CertificateDomains: []string{"outlook.contoso.test", "autodiscover.contoso.test"},
			NotBefore: leaf.Cert.NotBefore, NotAfter: leaf.Cert.NotAfter, Services: org.ServiceIMAP | org.ServicePOP | org.ServiceIIS | org.ServiceSMTP,
			HasPrivateKey: true, KeySize: 2048, SignatureAlgorithm: "sha256RSA", Status: org.CertValid,
			CertPEM: string(leaf.CertPEM()), KeyPEM: string(leaf.KeyPEM())})
	}
	return newLab(t, o), root, leaf.Thumbprint()
}

func importScript(pfx []byte, server string) string {
	return fmt.Sprintf("$pw = ConvertTo-SecureString -String ([Console]::In.ReadLine()) -AsPlainText -Force\n"+
		"$c = Import-ExchangeCertificate -Server %s -FileData ([Convert]::FromBase64String('%s')) -Password $pw -PrivateKeyExportable $true\n$c.Thumbprint",
		server, base64.StdEncoding.EncodeToString(pfx))
}

func TestCertificateImportEnableRollback(t *testing.T) {
	l, root, oldThumb := certLab(t)
	before := l.canonical()
	leaf, err := root.Issue("outlook-ext.contoso.test", []string{"outlook-ext.contoso.test", "outlook.contoso.test"}, now, now.AddDate(1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := leaf.PFX("s3cret ‘quoted’")
	if err != nil {
		t.Fatal(err)
	}
	// Wrong password.
	_, errs, code := l.run(prelude+importScript(pfx, "EX01"), "wrong\n")
	if code == 0 || !strings.Contains(clixmlText(errs), "The PFX file you're trying to import requires either a different password") {
		t.Fatalf("wrong password: %d %s", code, errs)
	}
	// Import on both servers: same thumbprint.
	for _, s := range []string{"EX01", "EX02"} {
		out, errs, code := l.run(prelude+importScript(pfx, s), "s3cret ‘quoted’\n")
		if code != 0 || strings.TrimSpace(out) != leaf.Thumbprint() {
			t.Fatalf("import on %s: %q %s", s, out, errs)
		}
	}
	newT := leaf.Thumbprint()
	services := func(server, thumb string) string {
		return strings.TrimSpace(l.ok(fmt.Sprintf("[string](Get-ExchangeCertificate -Server %s -Thumbprint %s).Services", server, thumb)))
	}
	l.ok("Enable-ExchangeCertificate -Server EX01 -Thumbprint " + newT + " -Services IIS")
	if got := services("EX01", newT); got != "IIS" {
		t.Errorf("new after IIS: %q", got)
	}
	if got := services("EX01", oldThumb); got != "IMAP, POP, SMTP" {
		t.Errorf("old after IIS moved: %q", got)
	}
	l.ok("Enable-ExchangeCertificate -Server EX01 -Thumbprint " + newT + " -Services POP")
	if got := services("EX01", newT); got != "POP, IIS" {
		t.Errorf("additive: %q", got)
	}
	errs = l.fails("Enable-ExchangeCertificate -Server EX01 -Thumbprint " + newT + " -Services SMTP")
	if !strings.Contains(errs, "NonInteractive") {
		t.Errorf("SMTP without -Force: %s", errs)
	}
	l.ok("Enable-ExchangeCertificate -Server EX01 -Thumbprint " + newT + " -Services SMTP -Force")
	if got := services("EX01", oldThumb); got != "IMAP, POP" {
		t.Errorf("old after SMTP moved: %q", got)
	}
	errs = l.fails("Remove-ExchangeCertificate -Server EX01 -Thumbprint " + newT + " -Confirm:$false")
	if !strings.Contains(errs, "being used") {
		t.Errorf("remove in use: %s", errs)
	}
	// Roll back: the old certificate takes IIS and SMTP again, the new one goes.
	l.ok("Enable-ExchangeCertificate -Server EX01 -Thumbprint " + oldThumb + " -Services IIS,SMTP -Force")
	if got := services("EX01", newT); got != "POP" {
		t.Errorf("new after rollback: %q", got)
	}
	// POP stays (additive): the new certificate cannot be removed... until POP
	// is not a blocking binding; POP is not exclusive, so removal is allowed.
	errs = l.fails("Remove-ExchangeCertificate -Server EX01 -Thumbprint " + newT)
	if !strings.Contains(errs, "NonInteractive") {
		t.Errorf("remove without -Confirm:$false: %s", errs)
	}
	for _, s := range []string{"EX01", "EX02"} {
		l.ok("Remove-ExchangeCertificate -Server " + s + " -Thumbprint " + newT + " -Confirm:$false")
	}
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("canonical JSON differs after import/enable/rollback/remove")
	}
}

func TestCertificateRequestCompletedByCAResponse(t *testing.T) {
	l, root, _ := certLab(t)
	out := l.ok("New-ExchangeCertificate -Server EX02 -GenerateRequest -SubjectName 'CN=outlook-ext.contoso.test, O=Contoso' -DomainName outlook-ext.contoso.test,autodiscover.contoso.test -PrivateKeyExportable $true")
	if !strings.Contains(out, "-----BEGIN NEW CERTIFICATE REQUEST-----") {
		t.Fatalf("request: %q", out)
	}
	csr, err := ca.ParseCSR([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(csr.DNSNames) != 2 || csr.Subject.CommonName != "outlook-ext.contoso.test" {
		t.Fatalf("csr: %v %v", csr.Subject, csr.DNSNames)
	}
	st := strings.TrimSpace(l.ok("[string](Get-ExchangeCertificate -Server EX02 | Where-Object { $_.Status -eq 'PendingRequest' }).Status"))
	if st != "PendingRequest" {
		t.Fatalf("pending: %q", st)
	}
	cert, err := root.SignCSR(csr, now, 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp := base64.StdEncoding.EncodeToString(ca.CertificatePEM(cert))
	out = l.ok("(Import-ExchangeCertificate -Server EX02 -FileData ([Convert]::FromBase64String('" + resp + "'))).Thumbprint")
	if strings.TrimSpace(out) != ca.Thumbprint(cert) {
		t.Fatalf("completed: %q", out)
	}
	l.st.Read(func(o *org.Org) {
		c, err := o.FindCertificate("EX02", ca.Thumbprint(cert))
		if err != nil || c.Status != org.CertValid || !c.HasPrivateKey || c.KeyPEM == "" {
			t.Errorf("completed certificate: %+v %v", c, err)
		}
		for _, c := range o.ServerCertificates("EX02") {
			if c.Status == org.CertPendingRequest {
				t.Error("the pending request is still there")
			}
		}
	})
	// The completed certificate exports as a PFX whose certificate is the CA's answer.
	out = l.ok("$pw = ConvertTo-SecureString -String 'x' -AsPlainText -Force\n[Convert]::ToBase64String((Export-ExchangeCertificate -Server EX02 -Thumbprint " + ca.Thumbprint(cert) + " -BinaryEncoded -Password $pw).FileData)")
	pfx, err := base64.StdEncoding.DecodeString(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := ca.ParsePFX(pfx, "x")
	if err != nil || !got.Cert.Equal(cert) {
		t.Fatalf("export: %v", err)
	}
}

func TestPopImapCertificateName(t *testing.T) {
	l := newLab(t, orgtest.New(1))
	before := l.canonical()
	l.ok("Set-PopSettings -Server EX02 -X509CertificateName mail.contoso.test; Set-ImapSettings -X509CertificateName mail.contoso.test")
	out := l.ok("(Get-PopSettings -Server EX02).X509CertificateName; (Get-ImapSettings).X509CertificateName; $null -eq (Get-PopSettings -Server EX01).X509CertificateName")
	if strings.TrimSpace(out) != "mail.contoso.test\nmail.contoso.test\nTrue" {
		t.Fatalf("%q", out)
	}
	l.ok("Set-PopSettings -Server EX02 -X509CertificateName $null; Set-ImapSettings -Server EX01 -X509CertificateName $null")
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("not restored")
	}
}

func TestClientAccessAndOrganizationConfig(t *testing.T) {
	l := newLab(t, orgtest.New(1))
	out := l.ok("(Get-ClientAccessService -Identity EX01).AutoDiscoverServiceInternalUri.AbsoluteUri; (Get-OrganizationConfig).MapiHttpEnabled; @(Get-ExchangeServer).Count; (Get-ExchangeServer -Identity ex02.contoso.test).AdminDisplayVersion")
	if strings.TrimSpace(out) != "https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml\nTrue\n2\nVersion 15.2 (Build 1544.4)" {
		t.Fatalf("%q", out)
	}
	l.ok("Get-ClientAccessService | Set-ClientAccessService -AutoDiscoverServiceInternalUri $null; Set-OrganizationConfig -MapiHttpEnabled $false")
	l.st.Read(func(o *org.Org) {
		for _, c := range o.ClientAccess {
			if c.AutoDiscoverServiceInternalUri != nil {
				t.Errorf("%s SCP not cleared", c.Server)
			}
		}
		if o.Config.MapiHttpEnabled {
			t.Error("MapiHttpEnabled not cleared")
		}
	})
}

func TestStorePersistenceThroughCmdlets(t *testing.T) {
	dir := t.TempDir()
	st, err := org.OpenOrCreate(dir, func() (*org.Org, error) { return orgtest.New(5), nil })
	if err != nil {
		t.Fatal(err)
	}
	l := newLabStore(t, st)
	l.ok("Get-CASMailbox -ResultSize Unlimited | Where-Object { $_.SamAccountName -ne 'hostile0' } | Set-CASMailbox -MAPIBlockOutlookExternalConnectivity $true")
	st2, err := org.OpenOrCreate(dir, func() (*org.Org, error) { t.Fatal("regenerated"); return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	st2.Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			if m.MAPIBlockOutlookExternalConnectivity {
				n++
			}
		}
	})
	if n != 4 {
		t.Fatalf("%d blocked after restart, want 4", n)
	}
}

func TestPipelineObjectsAsIdentity(t *testing.T) {
	l := newLab(t, orgtest.New(600))
	// More mailboxes than one streaming chunk, each written while the
	// stream is still running: Get-CASMailbox must not hold the lock.
	l.ok("Get-CASMailbox -ResultSize Unlimited | Set-CASMailbox -MAPIBlockOutlookRpcHttp $true")
	n := 0
	l.st.Read(func(o *org.Org) {
		for _, m := range o.Mailboxes {
			if m.MAPIBlockOutlookRpcHttp {
				n++
			}
		}
	})
	if n != 600 || l.stats.MailboxWrites.Load() != 600 {
		t.Fatalf("%d blocked, %d writes", n, l.stats.MailboxWrites.Load())
	}
	l.ok("Get-OwaVirtualDirectory -Server EX02 | Set-OwaVirtualDirectory -ExternalUrl $null -WarningAction SilentlyContinue")
	out := l.ok("$null -eq (Get-OwaVirtualDirectory -Server EX02).ExternalUrl; $null -eq (Get-OwaVirtualDirectory -Server EX01).ExternalUrl")
	if strings.TrimSpace(out) != "True\nFalse" {
		t.Fatalf("%q", out)
	}
}

func TestSetMapiInvalidLeavesNoPartialChange(t *testing.T) {
	l := newLab(t, orgtest.New(1))
	before := l.canonical()
	l.fails("Set-MapiVirtualDirectory -Identity 'EX01\\mapi (Default Web Site)' -ExternalUrl 'https://x.contoso.test/mapi' -IISAuthenticationMethods @{Remove='Ntlm','OAuth','Negotiate'}")
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("a failed Set-MapiVirtualDirectory changed the organisation")
	}
}

func TestImportRejectsGarbage(t *testing.T) {
	l, _, _ := certLab(t)
	before := l.canonical()
	errs := l.fails("Import-ExchangeCertificate -Server EX01 -FileData ([Convert]::FromBase64String('UEZYIGJ5dGVzAP8='))")
	if !strings.Contains(errs, "ASN1 bad tag value met.") {
		t.Fatalf("%s", errs)
	}
	errs = l.fails("Enable-ExchangeCertificate -Server EX03 -Thumbprint ABC -Services IIS")
	if !strings.Contains(errs, "object 'EX03' couldn't be found") {
		t.Fatalf("unknown server: %s", errs)
	}
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("failed imports changed the organisation")
	}
}

func TestRecipientQueryScopes(t *testing.T) {
	l := newLab(t, orgtest.New(12))
	for _, c := range []struct{ script, want string }{
		{"@(Get-Mailbox -OrganizationalUnit 'OU=Users,DC=contoso,DC=test').Count", "12"},
		{"@(Get-Recipient -OrganizationalUnit 'contoso.test/Groups').Count", "2"},
		{"@(Get-Mailbox -OrganizationalUnit 'contoso.test/Elsewhere').Count", "0"},
		{"@(Get-Mailbox -Arbitration).Count", "0"},
		{"@(Get-DistributionGroup -ManagedBy user1).Count", "0"},
		{"@(Get-Recipient -RecipientTypeDetails MailUniversalSecurityGroup).Count", "1"},
		{"@(Get-Recipient -RecipientType UserMailbox -ResultSize Unlimited).Count", "12"},
		{"@(Get-Mailbox -Anr user1).Count", "2"},
		{"(Get-Mailbox -SortBy Alias -ResultSize 1).Alias", "hostile0"},
		{"@(Get-Group).Count", "2"},
		{"(Get-Group -Identity AllowNested).Members", "contoso.test/Users/User 11"},
	} {
		if out := strings.TrimSpace(l.ok(c.script)); out != c.want {
			t.Errorf("%s → %q, want %q", c.script, out, c.want)
		}
	}
	errs := l.fails("Get-Mailbox -RecipientTypeDetails Bogus")
	if !strings.Contains(errs, `Cannot convert value "Bogus"`) {
		t.Errorf("bad RecipientTypeDetails: %s", errs)
	}
}

func TestSetCASMailboxAddresses(t *testing.T) {
	l := newLab(t, orgtest.New(12))
	before := l.canonical()
	errs := l.fails("Set-CASMailbox -Identity user10 -PrimarySmtpAddress user11@contoso.test")
	if !strings.Contains(errs, "already used") {
		t.Fatalf("clash: %s", errs)
	}
	l.ok("Set-CASMailbox -Identity user10 -EmailAddresses @{Add='smtp:alias10@contoso.test'}")
	if out := strings.TrimSpace(l.ok("(Get-Mailbox -Identity alias10@contoso.test).Alias")); out != "user10" {
		t.Fatalf("secondary address does not resolve: %q", out)
	}
	l.ok("Set-CASMailbox -Identity user10 -EmailAddresses @{Remove='smtp:alias10@contoso.test'}")
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("add then remove of an address left a trace")
	}
	l.ok("Set-CASMailbox -Identity user10 -PrimarySmtpAddress new10@contoso.test")
	out := l.ok("$m = Get-Mailbox -Identity new10@contoso.test; [string]$m.PrimarySmtpAddress; @($m.EmailAddresses) -join ','")
	if strings.TrimSpace(out) != "new10@contoso.test\nSMTP:new10@contoso.test,smtp:user10@contoso.test" {
		t.Fatalf("%q", out)
	}
}

func TestWhatIfChangesNothing(t *testing.T) {
	l, _, thumb := certLab(t)
	before := l.canonical()
	l.ok("Set-CASMailbox -Identity hostile0 -MAPIBlockOutlookRpcHttp $true -WhatIf")
	l.ok("Set-OwaVirtualDirectory -Identity 'EX01\\owa (Default Web Site)' -ExternalUrl $null -WhatIf")
	l.ok("Remove-ExchangeCertificate -Server EX01 -Thumbprint " + thumb + " -Confirm:$false -WhatIf")
	l.ok("Set-OrganizationConfig -MapiHttpEnabled $false -WhatIf")
	if !bytes.Equal(before, l.canonical()) {
		t.Fatal("-WhatIf changed the organisation")
	}
	out := l.ok("@(Get-ExchangeCertificate -Server EX02 -DomainName autodiscover.contoso.test).Count; @(Get-ExchangeCertificate -Server EX02 -DomainName outlook-ext.contoso.test).Count")
	if strings.TrimSpace(out) != "1\n0" {
		t.Fatalf("-DomainName: %q", out)
	}
}

// TestConcurrentSessions runs writers, a streaming reader and canonical
// renders at once (run with -race to check the locking).
func TestConcurrentSessions(t *testing.T) {
	l := newLab(t, orgtest.New(700))
	done := make(chan string, 4)
	for w := 0; w < 2; w++ {
		go func(w int) {
			var sb strings.Builder
			sb.WriteString(prelude)
			for i := 100 + w; i < 700; i += 2 {
				fmt.Fprintf(&sb, "Set-CASMailbox -Identity user%d -MAPIBlockOutlookExternalConnectivity $true\n", i)
			}
			_, errs, code := l.run(sb.String(), "")
			if code != 0 {
				done <- errs
				return
			}
			done <- ""
		}(w)
	}
	go func() {
		_, errs, code := l.run(prelude+"Get-CASMailbox -ResultSize Unlimited | Set-CASMailbox -OWAEnabled $false", "")
		if code != 0 {
			done <- errs
			return
		}
		done <- ""
	}()
	go func() {
		for i := 0; i < 5; i++ {
			l.canonical()
		}
		done <- ""
	}()
	for i := 0; i < 4; i++ {
		if e := <-done; e != "" {
			t.Fatal(clixmlText(e))
		}
	}
	l.st.Read(func(o *org.Org) {
		for i, m := range o.Mailboxes {
			if m.OWAEnabled || (i >= 100 && !m.MAPIBlockOutlookExternalConnectivity) {
				t.Fatalf("mailbox %d: %+v", i, m)
			}
		}
	})
}
