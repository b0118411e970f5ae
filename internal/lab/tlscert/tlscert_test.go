package tlscert

import (
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func TestPick(t *testing.T) {
	now := time.Now()
	authority, err := ca.New("tlscert test CA", now.AddDate(0, 0, -1), nil)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(cn string) *org.Certificate {
		l, err := authority.Issue(cn, []string{cn}, now.AddDate(0, 0, -1), now.AddDate(0, 1, 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		return &org.Certificate{Thumbprint: l.Thumbprint(), CertPEM: string(l.CertPEM()), KeyPEM: string(l.KeyPEM())}
	}
	mail, autod := issue("mail.contoso.test"), issue("autodiscover.contoso.test")
	broken := &org.Certificate{Thumbprint: "BROKEN", CertPEM: "not PEM", KeyPEM: "not PEM"}
	tests := []struct {
		name   string
		bound  []*org.Certificate
		sni    string
		wantCN string // "" for nil
	}{
		{"SNI picks the covering one", []*org.Certificate{mail, autod}, "autodiscover.contoso.test", "autodiscover.contoso.test"},
		{"no SNI: the first", []*org.Certificate{mail, autod}, "", "mail.contoso.test"},
		{"SNI covered by none: the first", []*org.Certificate{mail, autod}, "other.contoso.test", "mail.contoso.test"},
		{"an unparsable one is passed over", []*org.Certificate{broken, autod}, "", "autodiscover.contoso.test"},
		{"none usable", []*org.Certificate{broken}, "", ""},
		{"none bound", nil, "mail.contoso.test", ""},
	}
	var c Cache
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := c.Pick(tc.bound, tc.sni)
			switch {
			case got == nil && tc.wantCN != "":
				t.Fatalf("Pick = nil, want %s", tc.wantCN)
			case got != nil && tc.wantCN == "":
				t.Fatalf("Pick = %s, want nil", got.Leaf.Subject.CommonName)
			case got != nil && got.Leaf.Subject.CommonName != tc.wantCN:
				t.Fatalf("Pick = %s, want %s", got.Leaf.Subject.CommonName, tc.wantCN)
			}
		})
	}
	if a, b := c.Pick([]*org.Certificate{mail}, ""), c.Pick([]*org.Certificate{mail}, ""); a != b {
		t.Error("the second Pick parsed the key pair again instead of using the cache")
	}
}
