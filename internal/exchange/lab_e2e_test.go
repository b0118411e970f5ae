package exchange

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/psrp"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// End-to-end: every operation against the lab's Exchange endpoint
// (/PowerShell/, PSRP over WS-Management, the NoLanguage executor and the
// Exchange cmdlets), through one Session.

type labEnv struct {
	l   *lab.Lab
	ep  lab.Endpoints
	c   *Client
	s   *Session
	pw  string
	ctx context.Context
}

func startLab(t *testing.T, mailboxes int) *labEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	l, err := lab.Start(ctx, lab.Options{Dir: t.TempDir(), Mailboxes: mailboxes, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatalf("lab.Start: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	ep := l.Endpoints()
	pw := strings.TrimSpace(readFile(t, ep.Admin.PasswordFile))
	s := NewSession(WSManDialer(wsman.Config{Endpoint: ep.PowerShell.HTTP, Auth: wsman.AuthNTLM, User: ep.Admin.User, Password: pw}, 4))
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return &labEnv{l: l, ep: ep, c: New(s), s: s, pw: pw, ctx: ctx}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func allOK(t *testing.T, what string, res []ItemResult, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, r := range res {
		if !r.OK {
			t.Fatalf("%s: item %s failed: %s", what, r.ID, r.Error)
		}
	}
}

func TestLabReadOperations(t *testing.T) {
	e := startLab(t, 60)
	ctx, c := e.ctx, e.c

	servers := must[[]Server](t, "servers")(c.GetExchangeServers(ctx, nil))
	if len(servers) != 2 || servers[0].Name != "EX01" || servers[0].Guid == "" || servers[0].Fqdn == "" {
		t.Fatalf("servers %+v", servers)
	}
	names := []string{servers[0].Name, servers[1].Name}
	if _, err := c.GetExchangeServers(ctx, []string{"EX99"}); err == nil || !strings.Contains(err.Error(), "EX99") {
		t.Fatalf("unknown server: %v", err)
	}

	certs := must[[]Certificate](t, "certs")(c.GetCertificates(ctx, names))
	if len(certs) < 2 {
		t.Fatalf("certs %+v", certs)
	}
	for _, ce := range certs {
		if ce.Thumbprint == "" || ce.NotAfter.IsZero() || ce.NotAfter.Location() != time.UTC || ce.PublicKeySize == 0 || ce.SignatureAlgorithm == "" {
			t.Fatalf("certificate %+v", ce)
		}
	}

	vd := must[[]VirtualDirectory](t, "vdirs")(c.GetVirtualDirectories(ctx, names))
	kinds := map[VDirKind]int{}
	for _, v := range vd {
		kinds[v.Kind]++
		if v.InternalUrl != nil && *v.InternalUrl == "" || v.ExternalUrl != nil && *v.ExternalUrl == "" {
			t.Fatalf("empty URL instead of nil: %+v", v)
		}
	}
	for _, k := range allKinds {
		if kinds[k] != 2 {
			t.Fatalf("kinds %v", kinds)
		}
	}

	oa := must[[]OutlookAnywhere](t, "oa")(c.GetOutlookAnywhere(ctx, names))
	if len(oa) != 2 || oa[0].Guid == "" || oa[0].ExternalClientAuthenticationMethod == "" {
		t.Fatalf("oa %+v", oa)
	}
	scp := must[[]ClientAccessService](t, "scp")(c.GetClientAccessServices(ctx, nil))
	if len(scp) != 2 || scp[0].AutoDiscoverServiceInternalUri == nil {
		t.Fatalf("scp %+v", scp)
	}
	pi := must[[]PopImapSettings](t, "popimap")(c.GetPopImapSettings(ctx, names))
	if len(pi) != 2 {
		t.Fatalf("popimap %+v", pi)
	}
	if oc := must[OrganizationConfig](t, "org")(c.GetOrganizationConfig(ctx)); !oc.MapiHttpEnabled {
		t.Fatalf("org %+v", oc)
	}

	mbx := must[[]CASMailbox](t, "cas")(c.GetCASMailboxes(ctx, []string{"UserMailbox"}))
	if len(mbx) == 0 || len(mbx) > 60 {
		t.Fatalf("%d mailboxes", len(mbx))
	}
	byGUID := map[string]CASMailbox{}
	for _, m := range mbx {
		if m.RecipientTypeDetails != "UserMailbox" || m.Name == "" || m.PrimarySmtpAddress == "" {
			t.Fatalf("mailbox %+v", m)
		}
		byGUID[m.Guid] = m
	}

	g := must[GroupExpansion](t, "group")(c.ExpandGroup(ctx, e.ep.AllowGroup))
	if g.Empty() || len(g.Groups) == 0 {
		t.Fatalf("allow group %+v", g)
	}
	for _, m := range g.Mailboxes {
		if _, ok := byGUID[m.Guid]; !ok && m.RecipientTypeDetails == "UserMailbox" {
			t.Fatalf("member %+v is not among the mailboxes", m)
		}
	}
	if _, err := c.ExpandGroup(ctx, "No Such Group ‘x’"); !errors.Is(err, ErrGroupNotFound) {
		t.Fatalf("missing group: %v", err)
	}
}

func TestLabWriteOperationsAndRestore(t *testing.T) {
	e := startLab(t, 30)
	ctx, c := e.ctx, e.c
	names := []string{"EX01", "EX02"}

	// Virtual directories: set, then restore exactly (a $null stays $null).
	before := must[[]VirtualDirectory](t, "vdirs")(c.GetVirtualDirectories(ctx, names))
	var set, restore []VDirURLChange
	for _, v := range before {
		switch v.Kind {
		case KindAutodiscover, KindPowerShell:
			continue
		}
		u := "https://outlook-ext.contoso.test/" + string(v.Kind)
		set = append(set, VDirURLChange{Kind: v.Kind, Guid: v.Guid, ExternalUrl: &u})
		restore = append(restore, VDirURLChange{Kind: v.Kind, Guid: v.Guid, ExternalUrl: v.ExternalUrl})
	}
	res, err := c.SetExternalURLs(ctx, set)
	allOK(t, "set urls", res, err)
	after := must[[]VirtualDirectory](t, "vdirs")(c.GetVirtualDirectories(ctx, names))
	for i, v := range after {
		switch v.Kind {
		case KindAutodiscover, KindPowerShell:
			if !sameURL(v.ExternalUrl, before[i].ExternalUrl) || !sameURL(v.InternalUrl, before[i].InternalUrl) {
				t.Fatalf("%s was touched", v.Identity)
			}
			continue
		}
		if v.ExternalUrl == nil || !strings.HasPrefix(*v.ExternalUrl, "https://outlook-ext.contoso.test/") {
			t.Fatalf("%s ExternalUrl %v", v.Identity, v.ExternalUrl)
		}
		if !sameURL(v.InternalUrl, before[i].InternalUrl) {
			t.Fatalf("%s InternalUrl changed", v.Identity)
		}
		if v.Kind == KindMAPI && strings.Join(v.IISAuthenticationMethods, ",") != strings.Join(before[i].IISAuthenticationMethods, ",") {
			t.Fatalf("MAPI IISAuthenticationMethods %v, was %v", v.IISAuthenticationMethods, before[i].IISAuthenticationMethods)
		}
	}
	res, err = c.SetExternalURLs(ctx, restore)
	allOK(t, "restore urls", res, err)
	again := must[[]VirtualDirectory](t, "vdirs")(c.GetVirtualDirectories(ctx, names))
	for i := range again {
		if !sameURL(again[i].ExternalUrl, before[i].ExternalUrl) {
			t.Fatalf("%s not restored: %v, was %v", again[i].Identity, again[i].ExternalUrl, before[i].ExternalUrl)
		}
	}

	// Outlook Anywhere, keeping the auth method; then restore.
	oa := must[[]OutlookAnywhere](t, "oa")(c.GetOutlookAnywhere(ctx, names))
	ext := "outlook-ext.contoso.test"
	res, err = c.SetOutlookAnywhere(ctx, []OutlookAnywhereChange{{Guid: oa[0].Guid, ExternalHostname: &ext, ExternalClientsRequireSsl: true, ExternalClientAuthenticationMethod: oa[0].ExternalClientAuthenticationMethod}})
	allOK(t, "set oa", res, err)
	oa2 := must[[]OutlookAnywhere](t, "oa")(c.GetOutlookAnywhere(ctx, names))
	if oa2[0].ExternalHostname == nil || *oa2[0].ExternalHostname != ext || oa2[0].ExternalClientAuthenticationMethod != oa[0].ExternalClientAuthenticationMethod {
		t.Fatalf("oa after set %+v", oa2[0])
	}
	res, err = c.SetOutlookAnywhere(ctx, []OutlookAnywhereChange{{Guid: oa[0].Guid, ExternalHostname: oa[0].ExternalHostname, ExternalClientsRequireSsl: oa[0].ExternalClientsRequireSsl, ExternalClientAuthenticationMethod: oa[0].ExternalClientAuthenticationMethod}})
	allOK(t, "restore oa", res, err)

	// Organisation MapiHttpEnabled.
	if err := c.SetMapiHttpEnabled(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SetMapiHttpEnabled(ctx, true); err != nil {
		t.Fatal(err)
	}

	// POP/IMAP certificate names, restored to $null.
	pi := must[[]PopImapSettings](t, "popimap")(c.GetPopImapSettings(ctx, names[:1]))
	name := "mail.contoso.test"
	res, err = c.SetPopImapCertificateNames(ctx, []PopImapChange{{Server: "EX01", Protocol: POP, Name: &name}, {Server: "EX01", Protocol: IMAP, Name: &name}})
	allOK(t, "set popimap", res, err)
	pi2 := must[[]PopImapSettings](t, "popimap")(c.GetPopImapSettings(ctx, names[:1]))
	if pi2[0].PopX509CertificateName == nil || *pi2[0].PopX509CertificateName != name {
		t.Fatalf("popimap %+v", pi2[0])
	}
	res, err = c.SetPopImapCertificateNames(ctx, []PopImapChange{{Server: "EX01", Protocol: POP, Name: pi[0].PopX509CertificateName}, {Server: "EX01", Protocol: IMAP, Name: pi[0].ImapX509CertificateName}})
	allOK(t, "restore popimap", res, err)
	pi3 := must[[]PopImapSettings](t, "popimap")(c.GetPopImapSettings(ctx, names[:1]))
	if !sameURL(pi3[0].PopX509CertificateName, pi[0].PopX509CertificateName) || !sameURL(pi3[0].ImapX509CertificateName, pi[0].ImapX509CertificateName) {
		t.Fatalf("popimap not restored: %+v", pi3[0])
	}

	// CAS flags: a batch with one unknown mailbox reports per item.
	mbx := must[[]CASMailbox](t, "cas")(c.GetCASMailboxes(ctx, []string{"UserMailbox"}))
	sort.Slice(mbx, func(i, j int) bool { return mbx[i].Guid < mbx[j].Guid })
	batch := []FlagChange{
		{Guid: mbx[0].Guid, MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: true},
		{Guid: "00000000-0000-0000-0000-0000000000aa", MAPIBlockOutlookRpcHttp: true},
		{Guid: mbx[1].Guid, MAPIBlockOutlookRpcHttp: true, MAPIBlockOutlookExternalConnectivity: false},
	}
	res, err = c.SetCASMailboxFlags(ctx, batch)
	if err != nil || len(res) != 3 || !res[0].OK || res[1].OK || res[1].Error == "" || !res[2].OK {
		t.Fatalf("flags %+v %v", res, err)
	}
	mbx2 := must[[]CASMailbox](t, "cas")(c.GetCASMailboxes(ctx, []string{"UserMailbox"}))
	for _, m := range mbx2 {
		switch m.Guid {
		case mbx[0].Guid:
			if !m.MAPIBlockOutlookRpcHttp || !m.MAPIBlockOutlookExternalConnectivity {
				t.Fatalf("not blocked: %+v", m)
			}
		case mbx[1].Guid:
			if !m.MAPIBlockOutlookRpcHttp || m.MAPIBlockOutlookExternalConnectivity {
				t.Fatalf("wrong flags: %+v", m)
			}
		}
	}
}

func sameURL(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestLabCertificateLifecycle(t *testing.T) {
	e := startLab(t, 10)
	ctx, c := e.ctx, e.c
	names := []string{"EX01", "EX02"}

	pfx := []byte(readFile(t, e.ep.PFX.File))
	pfxPW := strings.TrimSpace(readFile(t, e.ep.PFX.PasswordFile))
	imp, err := c.ImportPFX(ctx, names, pfx, pfxPW)
	if err != nil || len(imp) != 2 || !imp[0].OK || !imp[1].OK || imp[0].Thumbprint != imp[1].Thumbprint {
		t.Fatalf("import %+v %v", imp, err)
	}
	tp := imp[0].Thumbprint
	// Importing again fails per server, without stopping the others.
	again, err := c.ImportPFX(ctx, names, pfx, pfxPW)
	if err != nil || again[0].OK || again[0].Error == "" {
		t.Fatalf("second import %+v %v", again, err)
	}
	wrong, err := c.ImportPFX(ctx, names[:1], pfx, "wrong password")
	if err != nil || wrong[0].OK {
		t.Fatalf("wrong password import %+v %v", wrong, err)
	}

	services, err := c.EnableCertificate(ctx, "EX01", tp, []string{"IIS", "SMTP"}, true)
	if err != nil || !strings.Contains(services, "IIS") || !strings.Contains(services, "SMTP") {
		t.Fatalf("enable: %q %v", services, err)
	}
	certs := must[[]Certificate](t, "certs")(c.GetCertificates(ctx, names))
	found := false
	for _, ce := range certs {
		if ce.Server == "EX01" && ce.Thumbprint == tp {
			found = true
			if !ce.HasPrivateKey || len(ce.ServiceList()) < 2 {
				t.Fatalf("imported cert %+v", ce)
			}
		}
	}
	if !found {
		t.Fatal("imported certificate not listed")
	}
	if err := c.RemoveCertificate(ctx, "EX02", tp); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveCertificate(ctx, "EX02", tp); err == nil {
		t.Fatal("removing a missing certificate must fail")
	}

	// Request mode: CSR, signed by the lab CA, completed on the server.
	csrPEM, err := c.NewCertificateRequest(ctx, "EX02", "CN=outlook.contoso.test", []string{"outlook.contoso.test", "outlook-ext.contoso.test", "autodiscover.contoso.test"})
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode([]byte(csrPEM))
	if blk == nil {
		t.Fatalf("CSR not PEM: %q", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || len(csr.DNSNames) != 3 {
		t.Fatalf("CSR %v %v", csr, err)
	}
	signed, err := e.l.SignCSR([]byte(csrPEM), 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tp2, err := c.ImportCertificateResponse(ctx, "EX02", signed)
	if err != nil || tp2 == "" {
		t.Fatalf("complete: %q %v", tp2, err)
	}
}

func TestLabMissingAndThrottled(t *testing.T) {
	e := startLab(t, 10)
	ctx, c := e.ctx, e.c
	// A cmdlet error surfaces as the server's words, naming the operation.
	_, err := c.EnableCertificate(ctx, "EX01", "0000000000000000000000000000000000000000", []string{"IIS"}, true)
	var pe *psrp.ErrorRecord
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "exchange EnableCertificate:") || errkind.IsTransient(err) {
		t.Fatalf("got %v", err)
	}
	// Exchange throttling is transient.
	for spec, what := range map[string]string{
		"throttle:Get-OrganizationConfig=1": "exceeded the throttling budget",
		"http500=1":                         "internal error",
	} {
		sp, err := faults.Parse(spec)
		if err != nil {
			t.Fatal(err)
		}
		e.l.Faults().Set(sp)
		_, err = c.GetOrganizationConfig(ctx)
		if !errkind.IsTransient(err) || !strings.Contains(err.Error(), what) {
			t.Fatalf("%s must be transient and say %q: %v", spec, what, err)
		}
	}
	e.l.Faults().Set(faults.Spec{})
	if _, err := c.GetOrganizationConfig(ctx); err != nil {
		t.Fatal(err)
	}
}

// onePSRPSession checks the budget of the Exchange endpoint so far: one
// PSRP session, no WinRS shell, no powershell.exe, no script refused.
func (e *labEnv) onePSRPSession(t *testing.T) {
	t.Helper()
	st := e.l.Stats()
	if st.PSRPPools != 1 || st.Shells != 0 || st.PowerShellLaunches != 0 || st.ScriptsRefused != 0 || e.s.Opens() != 1 {
		t.Fatalf("%d PSRP sessions (%d opened by the client), %d WinRS shells, %d powershell.exe, %d scripts refused; want 1, 0, 0, 0",
			st.PSRPPools, e.s.Opens(), st.Shells, st.PowerShellLaunches, st.ScriptsRefused)
	}
}

// The permissions pre-check against the lab's RBAC: the organization
// admin may run every step; the recipient-only admin lacks the
// certificate cmdlets (named with their role) but has what
// block-mailboxes needs.
func TestLabCheckPermissions(t *testing.T) {
	e := startLab(t, 5)
	if m, err := e.c.CheckPermissions(e.ctx, StepNeeds["bind-certificate"]); err != nil || len(m) != 0 {
		t.Fatalf("organization admin: missing %v, %v", m, err)
	}
	acct := e.ep.Users[lab.AccountRecipientAdmin]
	pw := strings.TrimSpace(readFile(t, acct.PasswordFile))
	s := NewSession(WSManDialer(wsman.Config{Endpoint: e.ep.PowerShell.HTTP, Auth: wsman.AuthNTLM, User: acct.User, Password: pw}, 1))
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	c := New(s)
	m, err := c.CheckPermissions(e.ctx, StepNeeds["certificate"])
	if err != nil {
		t.Fatal(err)
	}
	names := fmt.Sprint(m)
	if len(m) == 0 || !strings.Contains(names, "Import-ExchangeCertificate (role Exchange Server Certificates)") || strings.Contains(names, "Set-ADServerSettings") {
		t.Fatalf("recipient admin, certificate: missing %s", names)
	}
	// block-mailboxes: the recipient cmdlets are there; Get-ExchangeServer
	// (for the probes' servers) is not.
	m, err = c.CheckPermissions(e.ctx, StepNeeds["block-mailboxes"])
	if got := fmt.Sprint(m); err != nil || got != "[Get-ExchangeServer (role View-Only Configuration)]" {
		t.Fatalf("recipient admin, block-mailboxes: missing %v, %v", m, err)
	}
}
