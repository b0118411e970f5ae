package steps

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/acme"
	"github.com/exrunbook/exrunbook/internal/config"
)

func TestACMENames(t *testing.T) {
	cfg := config.Default()
	cfg.Namespace = config.Namespace{Internal: "Outlook.contoso.com", External: "outlook-ext.contoso.com.", Autodiscover: "outlook.contoso.com"}
	if got := ACMENames(cfg); !reflect.DeepEqual(got, []string{"outlook-ext.contoso.com", "outlook.contoso.com"}) {
		t.Fatalf("ACMENames = %v", got)
	}
}

func TestACMEChallengeDNSModes(t *testing.T) {
	cfg := config.Default()
	cfg.PublicDNS.Zone = "contoso.com."
	cfg.PublicDNS.Mode = "manual"
	cfg.PublicDNS.Server = ""
	if _, _, err := ACMEChallengeDNS(&Deps{Config: cfg}, t.Logf); err == nil || !strings.Contains(err.Error(), "public_dns.server") {
		t.Fatalf("manual without a server: %v", err)
	}
	cfg.PublicDNS.Nameservers = []string{"127.0.0.1:5353"}
	w, p, err := ACMEChallengeDNS(&Deps{Config: cfg}, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := w.(acme.Manual); !ok {
		t.Fatalf("manual mode writer is %T", w)
	}
	if z, ok := p.(acme.ZonePropagation); !ok || z.Client.Server != "127.0.0.1:5353" {
		t.Fatalf("manual mode propagation is %#v", p)
	}
	cfg.PublicDNS.Mode = "cloudflare"
	if _, _, err := ACMEChallengeDNS(&Deps{Config: cfg}, t.Logf); err == nil || !strings.Contains(err.Error(), "rfc2136 or manual") {
		t.Fatalf("provider mode: %v", err)
	}
}

func TestACMEPendingFile(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "outlook-ext.contoso.test"},
		DNSNames: []string{"outlook-ext.contoso.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	path := filepath.Join(t.TempDir(), ACMEPendingFile)
	if c, err := LoadACMEPending(path); c != nil || err != nil {
		t.Fatalf("no file: %v %v", c, err)
	}
	if err := SaveACMEPending(path, &acme.Certificate{Key: key, Chain: []*x509.Certificate{leaf}}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	c, err := LoadACMEPending(path)
	if err != nil || c.Thumbprint() != acme.Thumbprint(leaf) || !c.Key.Equal(key) {
		t.Fatalf("round trip: %v", err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	if err := SaveACMEPending(path, &acme.Certificate{Key: other, Chain: []*x509.Certificate{leaf}}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadACMEPending(path); err == nil || !strings.Contains(err.Error(), "does not certify the key") {
		t.Fatalf("mismatched key: %v", err)
	}
	if err := RemoveACMEPending(path); err != nil {
		t.Fatal(err)
	}
	if err := RemoveACMEPending(path); err != nil {
		t.Fatal(err)
	}
}
