package exchange

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestCertCaptureGolden(t *testing.T) {
	cases := []struct {
		file string
		op   func(*Client)
	}{
		{"cert_capture.ps1", func(c *Client) { _, _ = c.GetCertCapture(context.Background(), []string{"EX01", "EX02"}, false, false) }},
		{"cert_capture_resolve_popimap.ps1", func(c *Client) { _, _ = c.GetCertCapture(context.Background(), nil, true, true) }},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f := &fakeRunner{}
			tc.op(New(f))
			golden(t, tc.file, oneScript(t, f), "$state", 5)
		})
	}
}

// Hostile server names stay literals and never change the script's shape.
func TestCertCaptureStructureIndependentOfValues(t *testing.T) {
	shape := func(v string) (string, []string) {
		f := &fakeRunner{}
		_, _ = New(f).GetCertCapture(context.Background(), []string{v}, true, true)
		_, _ = New(f).GetCertCapture(context.Background(), []string{v}, false, true)
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
		sk, lits := shape(v)
		if sk != ref {
			t.Fatalf("value %q changed the script:\n%s", v, sk)
		}
		n := 0
		for _, l := range lits {
			if l == v {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("value %q appears %d times as a literal, want 2", v, n)
		}
	}
}

func TestCertCaptureParse(t *testing.T) {
	cert := `{"Server":"EX01","Thumbprint":"AB","Subject":"CN=x","Issuer":"CN=ca","FriendlyName":"","CertificateDomains":["x"],"NotBefore":"2026-01-01T00:00:00Z","NotAfter":"2027-01-01T00:00:00+01:00","Services":"IIS, SMTP","HasPrivateKey":true,"Status":"Valid","PublicKeySize":2048,"SignatureAlgorithm":"sha256RSA","IsSelfSigned":false}`
	srv := `{"Name":"EX01","Fqdn":"ex01.contoso.test","Guid":"` + g1 + `","AdminDisplayVersion":"Version 15.2","ServerRole":"Mailbox"}`
	pi := `{"Server":"EX01","Pop":null,"Imap":"mail.contoso.test"}`
	cases := []struct {
		name, out     string
		resolve, pops bool
		want          string
	}{
		{"named", `{"Servers":[],"Certificates":` + cert + `,"PopImap":[]}`, false, false, ""},
		{"resolved with POP/IMAP", `{"Servers":` + srv + `,"Certificates":[` + cert + `],"PopImap":` + pi + `}`, true, true, ""},
		{"no server resolved", `{"Servers":null,"Certificates":[],"PopImap":[]}`, true, false, "no Exchange server"},
		{"servers unasked", `{"Servers":` + srv + `,"Certificates":[],"PopImap":[]}`, false, false, "none were to be resolved"},
		{"POP/IMAP unasked", `{"Servers":[],"Certificates":[],"PopImap":` + pi + `}`, false, false, "none were asked"},
		{"POP/IMAP short", `{"Servers":[],"Certificates":[],"PopImap":[]}`, false, true, "0 POP/IMAP results for 1 servers"},
		{"no certificates", `{"Servers":[],"PopImap":[]}`, false, false, "property Certificates is missing"},
		{"no thumbprint", `{"Servers":[],"Certificates":` + strings.Replace(cert, `"AB"`, `""`, 1) + `,"PopImap":[]}`, false, false, "no thumbprint"},
		{"array", `[]`, false, false, "expected a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var servers []string
			if !tc.resolve {
				servers = []string{"EX01"}
			}
			st, err := New(&fakeRunner{out: tc.out}).GetCertCapture(context.Background(), servers, tc.resolve, tc.pops)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil || len(st.Certificates) != 1 || st.Certificates[0].NotAfter.Location().String() != "UTC" || st.Certificates[0].NotAfter.Hour() != 23 {
				t.Fatalf("%+v %v", st, err)
			}
			if tc.pops && (len(st.PopImap) != 1 || st.PopImap[0].PopX509CertificateName != nil || *st.PopImap[0].ImapX509CertificateName != "mail.contoso.test") {
				t.Fatalf("POP/IMAP %+v", st.PopImap)
			}
		})
	}
	if _, err := New(&fakeRunner{}).GetCertCapture(context.Background(), nil, false, false); err == nil {
		t.Fatal("no server accepted")
	}
}

func FuzzCertCaptureParse(f *testing.F) {
	f.Add(`{"Servers":[],"Certificates":[],"PopImap":[{"Server":"EX01","Pop":null,"Imap":null}]}`)
	f.Add(`{"Servers":null,"Certificates":null,"PopImap":null}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, out string) {
		st, err := New(&fakeRunner{out: out}).GetCertCapture(context.Background(), []string{"EX01"}, false, true)
		if err == nil && (len(st.PopImap) != 1 || len(st.Servers) != 0) {
			t.Fatalf("accepted %+v", st)
		}
		for _, c := range st.Certificates {
			if err == nil && c.Thumbprint == "" {
				t.Fatalf("accepted %+v", c)
			}
		}
	})
}

// Against the lab: one launch reads what the separate reads read.
func TestLabCertCapture(t *testing.T) {
	e := startLab(t, 4)
	names := []string{"EX01", "EX02"}
	st, err := e.c.GetCertCapture(e.ctx, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	e.onePSRPSession(t)
	if len(st.Servers) != 2 || st.Servers[0].Name != "EX01" || st.Servers[1].Name != "EX02" {
		t.Fatalf("servers %+v", st.Servers)
	}
	certs := must[[]Certificate](t, "certs")(e.c.GetCertificates(e.ctx, names))
	pi := must[[]PopImapSettings](t, "popimap")(e.c.GetPopImapSettings(e.ctx, names))
	if !reflect.DeepEqual(st.Certificates, certs) || !reflect.DeepEqual(st.PopImap, pi) {
		t.Fatalf("capture differs from the separate reads:\n%+v\n%+v", st, certs)
	}
	named, err := e.c.GetCertCapture(e.ctx, names[1:], false, false)
	if err != nil || len(named.Servers) != 0 || len(named.PopImap) != 0 || len(named.Certificates) == 0 {
		t.Fatalf("named: %+v %v", named, err)
	}
	for _, c := range named.Certificates {
		if c.Server != "EX02" {
			t.Fatalf("a certificate of %s", c.Server)
		}
	}
}
