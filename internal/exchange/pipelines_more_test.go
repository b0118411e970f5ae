package exchange

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

func TestOrgAndMapiHTTPPipelines(t *testing.T) {
	ctx := context.Background()
	enabled := false
	f := newFakePipes()
	f.onFunc(orgConfigPipeline.String(), func([]psrp.Value) (*psrp.Result, error) {
		return &psrp.Result{Output: []psrp.Value{obj("MapiHttpEnabled", enabled)}}, nil
	})
	f.onFunc(setOrgMapiPipeline(true).String(), func([]psrp.Value) (*psrp.Result, error) { enabled = true; return &psrp.Result{}, nil })
	f.on(casMapiPipeline.String(), obj("Guid", guidv(1), "MapiHttpEnabled", false), obj("Guid", guidv(2), "MapiHttpEnabled", nil), obj("Guid", guidv(3), "MapiHttpEnabled", false))
	f.on(mailboxAliasesPipeline([]string{"UserMailbox"}).String(), obj("Guid", guidv(1), "Alias", "yamada"), obj("Guid", guidv(2), "Alias", "ng"), obj("Guid", guidv(3), "Alias", ""))
	c := New(f)
	st, err := c.GetMapiHTTPState(ctx, []string{"UserMailbox"}, 5)
	if err != nil || st.OrgMapiHttpEnabled || st.MapiOff != 2 || strings.Join(st.MapiOffAliases, ",") != "yamada,"+gid(3) {
		t.Fatalf("state %+v %v", st, err)
	}
	w, err := c.SetMapiHttpEnabledWhereDifferent(ctx, true)
	if err != nil || !w.Changed || w.Before || !w.After {
		t.Fatalf("write %+v %v", w, err)
	}
	w, err = c.SetMapiHttpEnabledWhereDifferent(ctx, true)
	if err != nil || w.Changed {
		t.Fatalf("second write %+v %v: nothing to change", w, err)
	}
	checkPipelineGolden(t, "mapi_http", f.sent)
}

func TestURLPipelines(t *testing.T) {
	ctx := context.Background()
	f := newFakePipes()
	for _, k := range allKinds {
		var out []psrp.Value
		for i, srv := range []string{"EX01", "EX02", "EX03"} {
			o := obj("Server", srv, "Identity", srv+`\`+string(k)+" (Default Web Site)", "Guid", guidv(10*i+len(k)), "InternalUrl", psrp.URI("https://"+strings.ToLower(srv)+".contoso.test/"+string(k)), "ExternalUrl", nil)
			if k == KindMAPI {
				o.Extended = append(o.Extended, psrp.Property{Name: "IISAuthenticationMethods", Value: psrp.NewList("Ntlm", "OAuth", "Negotiate")})
			}
			out = append(out, o)
		}
		f.on(vdirReadPipeline(k).String(), out...)
	}
	f.on(outlookAnywherePipeline.String(), obj("Server", "ex01.contoso.test", "Identity", `EX01\Rpc (Default Web Site)`, "Guid", guidv(50), "ExternalHostname", nil, "InternalHostname", "ex01.contoso.test", "ExternalClientsRequireSsl", false, "ExternalClientAuthenticationMethod", "Negotiate"))
	f.on(clientAccessPipeline.String(), obj("Name", "EX01", "AutoDiscoverServiceInternalUri", "https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml"), obj("Name", "EX02", "AutoDiscoverServiceInternalUri", nil))
	c := New(f)
	st, err := c.GetURLState(ctx, []string{"EX01", "EX02"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.VDirs) != 16 || len(st.OutlookAnywhere) != 1 || st.OutlookAnywhere[0].Server != "EX01" || len(st.SCP) != 2 || st.SCP[1].AutoDiscoverServiceInternalUri != nil {
		t.Fatalf("state: %d vdirs, %+v, %+v", len(st.VDirs), st.OutlookAnywhere, st.SCP)
	}
	var mapi VirtualDirectory
	for _, v := range st.VDirs {
		if v.Kind == KindMAPI && v.Server == "EX01" {
			mapi = v
		}
	}
	if mapi.InternalUrl == nil || *mapi.InternalUrl != "https://ex01.contoso.test/mapi" || strings.Join(mapi.IISAuthenticationMethods, ",") != "Ntlm,OAuth,Negotiate" {
		t.Fatalf("mapi %+v", mapi)
	}
	checkPipelineGolden(t, "url_state", f.sent)

	// Compare-and-set: the OWA URL already matches (case aside), MAPI
	// differs and keeps its authentication methods, Outlook Anywhere
	// differs.
	want := "https://mail.contoso.test/owa"
	f = newFakePipes()
	f.on(vdirByIDPipeline(KindOWA, gid(1)).String(), obj("Server", "EX01", "Identity", "x", "Guid", guidv(1), "InternalUrl", nil, "ExternalUrl", "https://MAIL.contoso.test/owa"))
	f.on(vdirByIDPipeline(KindMAPI, gid(2)).String(), obj("Server", "EX01", "Identity", "y", "Guid", guidv(2), "InternalUrl", nil, "ExternalUrl", nil, "IISAuthenticationMethods", psrp.NewList("Ntlm", "OAuth")))
	mapiURL := "https://mail.contoso.test/mapi"
	f.on(setVDirPipeline(KindMAPI, gid(2), &mapiURL, []string{"Ntlm", "OAuth"}).String())
	f.on(outlookAnywhereByIDPipeline(gid(3)).String(), obj("Server", "EX01", "Identity", "z", "Guid", guidv(3), "ExternalHostname", nil, "InternalHostname", nil, "ExternalClientsRequireSsl", false, "ExternalClientAuthenticationMethod", "Negotiate"))
	host := "mail.contoso.test"
	oa := OutlookAnywhereChange{Guid: gid(3), ExternalHostname: &host, ExternalClientsRequireSsl: true, ExternalClientAuthenticationMethod: "Negotiate"}
	f.on(setOAPipeline(oa).String())
	res, err := New(f).SetURLsWhereDifferent(ctx, []VDirURLChange{{Kind: KindOWA, Guid: gid(1), ExternalUrl: &want}, {Kind: KindMAPI, Guid: gid(2), ExternalUrl: &mapiURL}}, []OutlookAnywhereChange{oa}, CompareApply)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].Changed || !res[0].OK || !res[1].Changed || !res[2].Changed {
		t.Fatalf("results %+v", res)
	}
	checkPipelineGolden(t, "set_urls_where_different", f.sent)
	// CompareExact writes the OWA URL whose case differs.
	f = newFakePipes().on(vdirByIDPipeline(KindOWA, gid(1)).String(), obj("Server", "EX01", "Identity", "x", "Guid", guidv(1), "InternalUrl", nil, "ExternalUrl", "https://MAIL.contoso.test/owa")).
		on(setVDirPipeline(KindOWA, gid(1), &want, nil).String())
	if res, err := New(f).SetURLsWhereDifferent(ctx, []VDirURLChange{{Kind: KindOWA, Guid: gid(1), ExternalUrl: &want}}, nil, CompareExact); err != nil || !res[0].Changed {
		t.Fatalf("exact: %+v %v", res, err)
	}
	// An error record of the write is the item's failure.
	f = newFakePipes().on(vdirByIDPipeline(KindOWA, gid(1)).String(), obj("Server", "EX01", "Identity", "x", "Guid", guidv(1), "InternalUrl", nil, "ExternalUrl", nil)).
		onFunc(setVDirPipeline(KindOWA, gid(1), &want, nil).String(), func([]psrp.Value) (*psrp.Result, error) {
			return &psrp.Result{Errors: []*psrp.ErrorRecord{{Message: "The ExternalUrl is not valid."}}}, nil
		})
	if res, err := New(f).SetURLsWhereDifferent(ctx, []VDirURLChange{{Kind: KindOWA, Guid: gid(1), ExternalUrl: &want}}, nil, CompareApply); err != nil || res[0].OK || res[0].Error != "The ExternalUrl is not valid." {
		t.Fatalf("failed item: %+v %v", res, err)
	}
}

func testCertDER(t *testing.T, names ...string) ([]byte, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: names[0], Organization: []string{"Contoso"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour), DNSNames: names}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(der)
	return der, strings.ToUpper(hex.EncodeToString(sum[:]))
}

func TestCertificatePipelines(t *testing.T) {
	ctx := context.Background()
	der, tp := testCertDER(t, "mail.contoso.test", "autodiscover.contoso.test")
	f := newFakePipes()
	f.on(certsPipeline("EX01").String(), certObj(der, nil, nil, nil))
	f.on(certsPipeline("EX02").String())
	c := New(f)
	cs, err := c.GetCertificates(ctx, []string{"EX01", "EX02"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Thumbprint != tp || cs[0].PublicKeySize != 2048 || !cs[0].IsSelfSigned || cs[0].Status != "Valid" ||
		strings.Join(cs[0].CertificateDomains, ",") != "mail.contoso.test,autodiscover.contoso.test" || cs[0].Subject != "CN=mail.contoso.test, O=Contoso" || cs[0].SignatureAlgorithm != "sha256RSA" {
		t.Fatalf("certificate %+v", cs)
	}
	checkPipelineGolden(t, "certificates", f.sent)

	// Import where missing: EX01 holds it, EX02 gets it (the password a
	// SecureString, never in the rendered pipeline).
	f = newFakePipes()
	f.on(certsPipeline("EX01").String(), certObj(der, "IIS, SMTP", true, "Valid"))
	f.on(certsPipeline("EX02").String())
	f.onFunc(importPFXPipeline("EX02", []byte("pfx"), "s3cret!").String(), func([]psrp.Value) (*psrp.Result, error) {
		return &psrp.Result{Output: []psrp.Value{obj("RawData", der)}}, nil
	})
	res, err := New(f).ImportPFXWhereMissing(ctx, []string{"EX01", "EX02"}, tp, []byte("pfx"), "s3cret!")
	if err != nil || res[0].Changed || !res[1].Changed || res[1].Thumbprint != tp {
		t.Fatalf("import: %+v %v", res, err)
	}
	for _, s := range f.sent {
		if strings.Contains(s, "s3cret") {
			t.Fatalf("the password is in %q", s)
		}
	}
	pl := importPFXPipeline("EX02", []byte("pfx"), "s3cret!")
	if ss, ok := pl.Commands[0].Params[2].Value.(*psrp.SecureString); !ok || ss.Plain() != "s3cret!" {
		t.Fatalf("password parameter %#v", pl.Commands[0].Params[2].Value)
	}
	checkPipelineGolden(t, "import_pfx_where_missing", withoutThumbprint(f.sent, tp))

	// Bind where missing, with POP/IMAP names.
	f = newFakePipes()
	bound := false
	f.onFunc(certsPipeline("EX01").String(), func([]psrp.Value) (*psrp.Result, error) {
		svc := "None"
		if bound {
			svc = "IIS, SMTP"
		}
		return &psrp.Result{Output: []psrp.Value{certObj(der, svc, true, "Valid")}}, nil
	})
	f.onFunc(enablePipeline("EX01", tp, []string{"IIS", "SMTP"}).String(), func([]psrp.Value) (*psrp.Result, error) { bound = true; return &psrp.Result{}, nil })
	f.on(popImapPipeline(POP, "EX01").String(), obj("X509CertificateName", "mail.contoso.test"))
	f.on(popImapPipeline(IMAP, "EX01").String(), obj("X509CertificateName", nil))
	name := "mail.contoso.test"
	f.on(setPopImapPipeline(PopImapChange{Server: "EX01", Protocol: IMAP, Name: &name}).String())
	br, err := New(f).EnableCertificatesWhereMissing(ctx, []CertBinding{{Server: "EX01", Thumbprint: tp, Services: []string{"IIS", "SMTP"}}},
		[]PopImapChange{{Server: "EX01", Protocol: POP, Name: &name}, {Server: "EX01", Protocol: IMAP, Name: &name}}, CompareApply)
	if err != nil || len(br) != 3 || !br[0].Changed || br[0].Services != "IIS, SMTP" || br[1].Changed || !br[2].Changed {
		t.Fatalf("bind: %+v %v", br, err)
	}
	checkPipelineGolden(t, "enable_certificates_where_missing", withoutThumbprint(f.sent, tp))

	// Removal: refused while a certificate is bound, or its services are
	// not reported.
	for _, tc := range []struct {
		services psrp.Value
		removed  bool
	}{{"None", true}, {"IIS", false}, {nil, false}} {
		f = newFakePipes()
		f.on(certsPipeline("EX01").String(), certObj(der, tc.services, true, "Valid"))
		f.on(removePipeline("EX01", tp).String())
		rr, err := New(f).RemoveCertificatesWhereUnbound(ctx, []CertRemoval{{Server: "EX01", Thumbprint: tp}})
		if err != nil || rr[0].Removed != tc.removed || !rr[0].Present {
			t.Fatalf("services %v: %+v %v", tc.services, rr, err)
		}
		if tc.removed {
			checkPipelineGolden(t, "remove_certificates_where_unbound", withoutThumbprint(f.sent, tp))
		}
	}

	// Request, response and export.
	f = newFakePipes()
	f.on(newRequestPipeline("EX01", "CN=mail.contoso.test", []string{"mail.contoso.test"}, 2048).String(), "MIIBszCCARwCAQAwHzEdMBsGA1UEAxMU")
	f.on(exportPipeline("EX01", tp, "pw").String(), obj("FileData", []byte{0x30, 0x82}))
	c = New(f)
	csr, err := c.NewExportableCertificateRequest(ctx, "EX01", "CN=mail.contoso.test", []string{"mail.contoso.test"}, 2048)
	if err != nil || !strings.HasPrefix(csr, "-----BEGIN NEW CERTIFICATE REQUEST-----\nMIIB") {
		t.Fatalf("csr %q %v", csr, err)
	}
	if b, err := c.ExportCertificate(ctx, "EX01", tp, "pw"); err != nil || len(b) != 2 {
		t.Fatalf("export %v %v", b, err)
	}
	checkPipelineGolden(t, "certificate_request_export", withoutThumbprint(f.sent, tp))
}

// withoutThumbprint replaces the test certificate's (random) thumbprint
// so the goldens stay stable.
func withoutThumbprint(sent []string, tp string) []string {
	out := make([]string, len(sent))
	for i, s := range sent {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(s, "'"+tp+"'", tp), tp, "THUMBPRINT")
	}
	return out
}

// certObj is a Get-ExchangeCertificate | Select-Object row as the endpoint
// sends it: the DER, and Exchange's own fields (null when not reported).
func certObj(der []byte, services, hasKey, status psrp.Value) *psrp.Object {
	return obj("RawData", der, "Thumbprint", nil, "Subject", nil, "Issuer", nil, "CertificateDomains", nil, "NotBefore", nil, "NotAfter", nil,
		"PublicKeySize", nil, "IsSelfSigned", nil, "FriendlyName", nil,
		"Services", services, "HasPrivateKey", hasKey, "Status", status)
}
