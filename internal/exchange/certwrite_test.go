package exchange

import (
	"context"
	"strings"
	"testing"
)

const (
	tpA = "0123456789ABCDEF0123456789ABCDEF01234567"
	tpB = "89ABCDEF0123456789ABCDEF0123456789ABCDEF"
)

func TestCertWriteScriptsGolden(t *testing.T) {
	name := "mail.contoso.test"
	cases := []struct {
		file string
		op   func(*Client)
	}{
		{"import_pfx_where_missing.ps1", func(c *Client) {
			_, _ = c.ImportPFXWhereMissing(context.Background(), []string{"EX01", "EX02"}, strings.ToLower(tpA), []byte("pfx bytes"), "pw")
		}},
		{"remove_certificates_where_unbound.ps1", func(c *Client) {
			_, _ = c.RemoveCertificatesWhereUnbound(context.Background(), []CertRemoval{{"EX01", tpA}, {"EX02", tpB}})
		}},
		{"enable_certificates_where_missing.ps1", func(c *Client) {
			_, _ = c.EnableCertificatesWhereMissing(context.Background(), []CertBinding{{"EX01", tpA, []string{"iis", "SMTP"}}},
				[]PopImapChange{{Server: "EX01", Protocol: POP, Name: &name}, {Server: "EX01", Protocol: IMAP, Name: nil}}, CompareApply)
		}},
		{"enable_certificates_where_missing_exact.ps1", func(c *Client) {
			_, _ = c.EnableCertificatesWhereMissing(context.Background(), []CertBinding{{"EX01", tpA, []string{"IIS"}}},
				[]PopImapChange{{Server: "EX01", Protocol: POP, Name: &name}}, CompareExact)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f := &fakeRunner{}
			tc.op(New(f))
			golden(t, tc.file, oneScript(t, f), "@($r)", 3)
		})
	}
}

// Every write is behind the server's own comparison: Import only when the
// thumbprint is absent, Remove only when present and nothing blocks,
// Enable only when a service is missing, Set- only when the name differs.
func TestCertWriteScriptsGuardEveryWrite(t *testing.T) {
	f := &fakeRunner{}
	c := New(f)
	name := "x"
	_, _ = c.ImportPFXWhereMissing(context.Background(), []string{"EX01"}, tpA, []byte("p"), "")
	_, _ = c.RemoveCertificatesWhereUnbound(context.Background(), []CertRemoval{{"EX01", tpA}})
	_, _ = c.EnableCertificatesWhereMissing(context.Background(), []CertBinding{{"EX01", tpA, []string{"IIS"}}}, []PopImapChange{{Server: "EX01", Protocol: IMAP, Name: &name}}, CompareExact)
	if len(f.scripts) != 3 {
		t.Fatalf("%d scripts", len(f.scripts))
	}
	guards := map[string]string{
		"Import-ExchangeCertificate": "if ($have.Count -eq 0) {",
		"Remove-ExchangeCertificate": "if ($ok -and $s.P -and (-not $block)) {",
		"Enable-ExchangeCertificate": "if ($miss.Count -gt 0) {",
		"Set-PopSettings":            "if ($c) {",
		"Set-ImapSettings":           "if ($c) {",
	}
	for _, s := range f.scripts {
		lines := strings.Split(s, "\n")
		for n, l := range lines {
			for cmd, guard := range guards {
				if !strings.Contains(l, cmd) {
					continue
				}
				ok := false
				for k := n - 1; k >= 0 && k >= n-3; k-- {
					if strings.TrimSpace(lines[k]) == guard {
						ok = true
					}
				}
				if !ok {
					t.Errorf("unguarded %s: %s", cmd, l)
				}
			}
		}
	}
	if strings.Contains(f.scripts[0], "-Password") {
		t.Error("no password given, but the script passes one")
	}
	if !strings.Contains(f.scripts[2], "$c = $cur -cne $want") {
		t.Error("exact mode does not compare case-sensitively")
	}
}

// Hostile values stay literals and never change the scripts' shape.
func TestCertWriteStructureIndependentOfValues(t *testing.T) {
	shape := func(v string) (string, []string) {
		f := &fakeRunner{}
		c := New(f)
		_, _ = c.ImportPFXWhereMissing(context.Background(), []string{v}, tpA, []byte("pfx"), "")
		_, _ = c.RemoveCertificatesWhereUnbound(context.Background(), []CertRemoval{{v, tpA}})
		_, _ = c.EnableCertificatesWhereMissing(context.Background(), []CertBinding{{v, tpA, []string{"IIS"}}}, []PopImapChange{{Server: v, Protocol: POP, Name: &v}}, CompareApply)
		var sk string
		var lits []string
		for _, s := range f.scripts {
			k, l := skeleton(t, s)
			sk += k
			lits = append(lits, l...)
		}
		return sk, lits
	}
	ref, _ := shape("x")
	for _, v := range hostileValues {
		if strings.TrimSpace(v) == "" {
			continue // refused: an empty server name
		}
		sk, lits := shape(v)
		if sk != ref {
			t.Fatalf("value %q changed the scripts:\n%s", v, sk)
		}
		n := 0
		for _, l := range lits {
			if l == v {
				n++
			}
		}
		// three server names, the POP server and the POP name
		if n != 5 {
			t.Fatalf("value %q appears %d times as a literal, want 5", v, n)
		}
	}
}

func TestCertWriteInputsRefused(t *testing.T) {
	name := "x"
	cases := []struct {
		name string
		op   func(*Client) error
		want string
	}{
		{"import bad thumbprint", func(c *Client) error {
			_, err := c.ImportPFXWhereMissing(context.Background(), []string{"EX01"}, "AB'; x", []byte("p"), "")
			return err
		}, "not 40 or 64"},
		{"import non-hex", func(c *Client) error {
			_, err := c.ImportPFXWhereMissing(context.Background(), []string{"EX01"}, strings.Repeat("G", 40), []byte("p"), "")
			return err
		}, "not hexadecimal"},
		{"import empty server", func(c *Client) error {
			_, err := c.ImportPFXWhereMissing(context.Background(), []string{" "}, tpA, []byte("p"), "")
			return err
		}, "empty server"},
		{"import password line break", func(c *Client) error {
			_, err := c.ImportPFXWhereMissing(context.Background(), []string{"EX01"}, tpA, []byte("p"), "a\nb")
			return err
		}, "line break"},
		{"import no pfx", func(c *Client) error {
			_, err := c.ImportPFXWhereMissing(context.Background(), []string{"EX01"}, tpA, nil, "")
			return err
		}, "empty PFX"},
		{"remove bad thumbprint", func(c *Client) error {
			_, err := c.RemoveCertificatesWhereUnbound(context.Background(), []CertRemoval{{"EX01", "*"}})
			return err
		}, "thumbprint"},
		{"bind bad service", func(c *Client) error {
			_, err := c.EnableCertificatesWhereMissing(context.Background(), []CertBinding{{"EX01", tpA, []string{"IIS'; Stop-Computer"}}}, nil, CompareApply)
			return err
		}, "expected IIS"},
		{"bind no service", func(c *Client) error {
			_, err := c.EnableCertificatesWhereMissing(context.Background(), []CertBinding{{"EX01", tpA, nil}}, nil, CompareApply)
			return err
		}, "no service"},
		{"bind bad protocol", func(c *Client) error {
			_, err := c.EnableCertificatesWhereMissing(context.Background(), nil, []PopImapChange{{Server: "EX01", Protocol: "smtp", Name: &name}}, CompareApply)
			return err
		}, "expected pop or imap"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{}
			if err := tc.op(New(f)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if len(f.scripts) != 0 {
				t.Fatal("a script ran")
			}
		})
	}
	f := &fakeRunner{}
	if r, err := New(f).RemoveCertificatesWhereUnbound(context.Background(), nil); r != nil || err != nil || len(f.scripts) != 0 {
		t.Fatal("nothing to remove ran a script")
	}
	if r, err := New(f).EnableCertificatesWhereMissing(context.Background(), nil, nil, CompareApply); r != nil || err != nil || len(f.scripts) != 0 {
		t.Fatal("nothing to bind ran a script")
	}
}

func TestCertWriteResultsParse(t *testing.T) {
	imp := func(out string) error {
		_, err := New(&fakeRunner{out: out}).ImportPFXWhereMissing(context.Background(), []string{"EX01", "EX02"}, tpA, []byte("p"), "")
		return err
	}
	rem := func(out string) error {
		_, err := New(&fakeRunner{out: out}).RemoveCertificatesWhereUnbound(context.Background(), []CertRemoval{{"EX01", tpA}})
		return err
	}
	bind := func(out string) error {
		_, err := New(&fakeRunner{out: out}).EnableCertificatesWhereMissing(context.Background(), []CertBinding{{"EX01", tpA, []string{"IIS"}}}, []PopImapChange{{Server: "EX01", Protocol: POP}}, CompareExact)
		return err
	}
	i1 := `{"Server":"EX01","Changed":true,"Ok":true,"Thumbprint":"` + tpA + `","Error":null}`
	i2 := `{"Server":"EX02","Changed":false,"Ok":false,"Thumbprint":null,"Error":"denied"}`
	b1 := `{"Id":"EX01/` + tpA + `","Changed":true,"Ok":true,"Services":"IIS, SMTP","Error":null}`
	b2 := `{"Id":"EX01/pop","Changed":false,"Ok":true,"Services":null,"Error":null}`
	cases := []struct {
		name, out, want string
		f               func(string) error
	}{
		{"import ok", "[" + i1 + "," + i2 + "]", "", imp},
		{"import short", i1, "1 results for 2 servers", imp},
		{"import order", "[" + strings.Replace(i1, "EX01", "EX02", 1) + "," + i2 + "]", "expected", imp},
		{"import no thumbprint", "[" + strings.Replace(i1, `"`+tpA+`"`, `""`, 1) + "," + i2 + "]", "no thumbprint", imp},
		{"import no Changed", `[{"Server":"EX01","Ok":true,"Thumbprint":"x"},` + i2 + "]", "Changed is missing", imp},
		{"import failed and changed", "[" + i1 + "," + strings.Replace(i2, `"Changed":false`, `"Changed":true`, 1) + "]", "both failed and changed", imp},
		{"remove ok", `{"Server":"EX01","Thumbprint":"` + tpA + `","Present":true,"Removed":true,"Ok":true,"Services":"None","Error":null}`, "", rem},
		{"remove absent but removed", `{"Server":"EX01","Thumbprint":"` + tpA + `","Present":false,"Removed":true,"Ok":true,"Services":null,"Error":null}`, "removed but", rem},
		{"remove other", `{"Server":"EX01","Thumbprint":"` + tpB + `","Present":true,"Removed":true,"Ok":true,"Services":"None","Error":null}`, "expected", rem},
		{"remove no Present", `{"Server":"EX01","Thumbprint":"` + tpA + `","Removed":false,"Ok":true}`, "Present is missing", rem},
		{"bind ok", "[" + b1 + "," + b2 + "]", "", bind},
		{"bind order", "[" + b2 + "," + b1 + "]", "expected", bind},
		{"bind short", b1, "1 results for 2 items", bind},
		{"empty", "", "no output", bind},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f(tc.out)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if !(CertRemoveResult{Services: "SMTP, POP"}).Bound() || (CertRemoveResult{Services: "POP, IMAP"}).Bound() || (CertRemoveResult{Services: "None"}).Bound() {
		t.Fatal("Bound")
	}
}

func FuzzCertWriteResultsParse(f *testing.F) {
	f.Add(`[{"Id":"EX01/` + tpA + `","Changed":true,"Ok":true,"Services":"IIS","Error":null}]`)
	f.Add(`{"Server":"EX01","Thumbprint":"` + tpA + `","Present":true,"Removed":true,"Ok":true}`)
	f.Add(`{"Server":"EX01","Changed":true,"Ok":true,"Thumbprint":"AB"}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, out string) {
		if r, err := New(&fakeRunner{out: out}).ImportPFXWhereMissing(context.Background(), []string{"EX01"}, tpA, []byte("p"), ""); err == nil &&
			(len(r) != 1 || r[0].Server != "EX01" || (r[0].OK && r[0].Thumbprint == "") || (r[0].Changed && !r[0].OK)) {
			t.Fatalf("accepted %+v", r)
		}
		if r, err := New(&fakeRunner{out: out}).RemoveCertificatesWhereUnbound(context.Background(), []CertRemoval{{"EX01", tpA}}); err == nil &&
			(len(r) != 1 || (r[0].Removed && (!r[0].OK || !r[0].Present))) {
			t.Fatalf("accepted %+v", r)
		}
		if r, err := New(&fakeRunner{out: out}).EnableCertificatesWhereMissing(context.Background(), []CertBinding{{"EX01", tpA, []string{"IIS"}}}, nil, CompareApply); err == nil &&
			(len(r) != 1 || !strings.EqualFold(r[0].ID, BindID("EX01", tpA)) || (r[0].Changed && !r[0].OK)) {
			t.Fatalf("accepted %+v", r)
		}
	})
}

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
