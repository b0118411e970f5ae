package exchange

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
)

// The export ops keep their structure whatever the values, and the
// export password travels on stdin only.
func TestExportOpsStructureAndSecret(t *testing.T) {
	ops := map[string]func(c *Client, v string){
		"new_exportable_request": func(c *Client, v string) {
			_, _ = c.NewExportableCertificateRequest(context.Background(), v, v, []string{v, v}, 2048)
		},
		"export_certificate": func(c *Client, v string) {
			_, _ = c.ExportCertificate(context.Background(), v, v, "one-time-pw")
		},
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			benign := &fakeRunner{}
			op(New(benign), "EX01")
			if len(benign.scripts) != 1 {
				t.Fatalf("ran %d scripts", len(benign.scripts))
			}
			want, _ := skeleton(t, benign.scripts[0])
			for _, v := range hostileValues {
				f := &fakeRunner{}
				op(New(f), v)
				got, lits := skeleton(t, f.scripts[0])
				if got != want {
					t.Fatalf("value %q changed the structure:\n%s\nwant:\n%s", v, got, want)
				}
				if v != "" && !strings.Contains(strings.Join(lits, "\x01"), v) {
					t.Fatalf("value %q is not a literal: %q", v, lits)
				}
				if strings.Contains(f.scripts[0], "one-time-pw") {
					t.Fatal("the export password is in the script")
				}
			}
		})
	}
}

func TestExportCertificate(t *testing.T) {
	pfx := []byte{0x30, 0x82, 0x01, 0x02}
	f := &fakeRunner{out: `{"FileData":"` + base64.StdEncoding.EncodeToString(pfx) + `"}`}
	got, err := New(f).ExportCertificate(context.Background(), "EX01", "AB", "pw")
	if err != nil || string(got) != string(pfx) || f.stdins[0] != "pw\n" {
		t.Fatalf("got %x %v, stdin %q", got, err, f.stdins)
	}
	if !strings.Contains(f.scripts[0], "Export-ExchangeCertificate -Server 'EX01' -Thumbprint 'AB' -BinaryEncoded -Password $pw") {
		t.Fatalf("script:\n%s", f.scripts[0])
	}
	for _, c := range []struct{ name, pw, out string }{
		{"no password", "", ""},
		{"line break in password", "a\nb", ""},
		{"not base64", "pw", `{"FileData":"!!"}`},
		{"empty", "pw", `{"FileData":""}`},
	} {
		if _, err := New(&fakeRunner{out: c.out}).ExportCertificate(context.Background(), "EX01", "AB", c.pw); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	r := &fakeRunner{out: `{"Request":"MIIB"}`}
	csr, err := New(r).NewExportableCertificateRequest(context.Background(), "EX01", "CN=a", []string{"a"}, 4096)
	if err != nil || !strings.HasPrefix(csr, "-----BEGIN NEW CERTIFICATE REQUEST-----\nMIIB") ||
		!strings.Contains(r.scripts[0], "-KeySize 4096 -PrivateKeyExportable $true") {
		t.Fatalf("%q %v\n%s", csr, err, r.scripts[0])
	}
	if _, err := New(r).NewExportableCertificateRequest(context.Background(), "EX01", "CN=a", []string{"a"}, 1024); err == nil {
		t.Error("key size 1024 accepted")
	}
}
