package exchange

import (
	"strings"
	"testing"
)

const (
	tpA = "0123456789ABCDEF0123456789ABCDEF01234567"
	tpB = "89ABCDEF0123456789ABCDEF0123456789ABCDEF"
)

// Against the lab: each write is one launch; a second call changes
// nothing; a bound certificate blocks every removal; POP/IMAP $null is
// restored exactly.
func TestLabCertWrite(t *testing.T) {
	e := startLab(t, 4)
	ctx, c := e.ctx, e.c
	names := []string{"EX01", "EX02"}
	pfx := []byte(readFile(t, e.ep.PFX.File))
	pfxPW := strings.TrimSpace(readFile(t, e.ep.PFX.PasswordFile))
	// The PFX's thumbprint: import it on EX01 the old way, then remove it.
	imp, err := c.ImportPFX(ctx, names[:1], pfx, pfxPW)
	if err != nil || !imp[0].OK {
		t.Fatalf("import %+v %v", imp, err)
	}
	tp := imp[0].Thumbprint
	res, err := c.ImportPFXWhereMissing(ctx, names, tp, pfx, pfxPW)
	if err != nil || len(res) != 2 || res[0].Changed || !res[0].OK || !res[1].Changed || !res[1].OK || !strings.EqualFold(res[1].Thumbprint, tp) {
		t.Fatalf("import where missing: %+v %v", res, err)
	}
	again, err := c.ImportPFXWhereMissing(ctx, names, tp, pfx, pfxPW)
	if err != nil || again[0].Changed || again[1].Changed || !again[1].OK {
		t.Fatalf("second import: %+v %v", again, err)
	}
	e.onePSRPSession(t)
	if n := e.l.Stats().Cmdlets["Import-ExchangeCertificate"]; n != 2 {
		t.Fatalf("Import-ExchangeCertificate ran %d times, want 2 (the first ImportPFX, then EX02 once)", n)
	}

	// Bind on both, with POP named; then again: nothing changes.
	name := "Mail.Contoso.Test"
	binds := []CertBinding{{"EX01", tp, []string{"IIS", "SMTP"}}, {"EX02", tp, []string{"IIS", "SMTP"}}}
	pis := []PopImapChange{{Server: "EX01", Protocol: POP, Name: &name}, {Server: "EX01", Protocol: IMAP, Name: &name}}
	before := must[[]PopImapSettings](t, "popimap")(c.GetPopImapSettings(ctx, names[:1]))
	br, err := c.EnableCertificatesWhereMissing(ctx, binds, pis, CompareApply)
	if err != nil || len(br) != 4 || !br[0].Changed || !br[1].Changed || !strings.Contains(br[0].Services, "IIS") || !br[2].Changed || !br[3].Changed {
		t.Fatalf("bind: %+v %v", br, err)
	}
	lower := strings.ToLower(name)
	pis2 := []PopImapChange{{Server: "EX01", Protocol: POP, Name: &lower}, {Server: "EX01", Protocol: IMAP, Name: &lower}}
	br, err = c.EnableCertificatesWhereMissing(ctx, binds, pis2, CompareApply)
	if err != nil || br[0].Changed || br[1].Changed || br[2].Changed || br[3].Changed {
		t.Fatalf("second bind (name in another case): %+v %v", br, err)
	}
	e.onePSRPSession(t)
	enables := e.l.Stats().Cmdlets["Enable-ExchangeCertificate"]

	// Bound: nothing is removed anywhere, and the result says why.
	rr, err := c.RemoveCertificatesWhereUnbound(ctx, []CertRemoval{{"EX01", tp}, {"EX02", tp}})
	if err != nil || rr[0].Removed || rr[1].Removed || !rr[0].Present || !rr[0].Bound() {
		t.Fatalf("remove while bound: %+v %v", rr, err)
	}

	// Exact restore of POP/IMAP ($null stays $null) and of a binding to
	// the previous certificate.
	var prev string
	for _, ce := range must[[]Certificate](t, "certs")(c.GetCertificates(ctx, names[:1])) {
		if !strings.EqualFold(ce.Thumbprint, tp) {
			prev = ce.Thumbprint
		}
	}
	restore := []PopImapChange{{Server: "EX01", Protocol: POP, Name: before[0].PopX509CertificateName}, {Server: "EX01", Protocol: IMAP, Name: before[0].ImapX509CertificateName}}
	br, err = c.EnableCertificatesWhereMissing(ctx, []CertBinding{{"EX01", prev, []string{"IIS", "SMTP"}}, {"EX02", prev, []string{"IIS", "SMTP"}}}, restore, CompareExact)
	if err != nil || !br[0].Changed || !br[2].Changed || !br[3].Changed {
		t.Fatalf("restore: %+v %v", br, err)
	}
	after := must[[]PopImapSettings](t, "popimap")(c.GetPopImapSettings(ctx, names[:1]))
	if strOr(after[0].PopX509CertificateName) != strOr(before[0].PopX509CertificateName) || strOr(after[0].ImapX509CertificateName) != strOr(before[0].ImapX509CertificateName) {
		t.Fatalf("POP/IMAP %+v, want %+v", after[0], before[0])
	}
	if e.l.Stats().Cmdlets["Enable-ExchangeCertificate"] <= enables {
		t.Fatal("the restore enabled nothing")
	}

	// Unbound now: removed where present, absent elsewhere is no error.
	rr, err = c.RemoveCertificatesWhereUnbound(ctx, []CertRemoval{{"EX01", tp}, {"EX02", tp}})
	if err != nil || !rr[0].Removed || !rr[1].Removed || rr[0].Bound() {
		t.Fatalf("remove: %+v %v", rr, err)
	}
	rr, err = c.RemoveCertificatesWhereUnbound(ctx, []CertRemoval{{"EX01", tp}})
	if err != nil || rr[0].Present || rr[0].Removed || !rr[0].OK {
		t.Fatalf("remove again: %+v %v", rr, err)
	}
	e.onePSRPSession(t)
	// A missing certificate fails its binding only.
	br, err = c.EnableCertificatesWhereMissing(ctx, []CertBinding{{"EX01", tp, []string{"IIS"}}}, nil, CompareApply)
	if err != nil || br[0].OK || br[0].Error == "" {
		t.Fatalf("binding a removed certificate: %+v %v", br, err)
	}
}

func strOr(p *string) string {
	if p == nil {
		return "$null"
	}
	return "'" + *p + "'"
}
