package steps

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/acme"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
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

func TestACMEDirectoryCheck(t *testing.T) {
	body := `{"newOrder":"https://ca.test/new","meta":{"externalAccountRequired":true}}`
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/directory" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(body))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Certificate.ACME.CAFile = caFile
	for _, tc := range []struct {
		dir, kid string
		want     engine.CheckStatus
		msg      string
	}{
		{srv.URL + "/directory", "", engine.CheckFail, "requires an external account binding"},
		{srv.URL + "/directory", "kid-1", engine.CheckPass, "requires the external account binding kid-1"},
		{srv.URL + "/", "kid-1", engine.CheckFail, "HTTP 404"},
	} {
		cfg.Certificate.ACME.Directory, cfg.Certificate.ACME.EABKID = tc.dir, tc.kid
		res := acmeDirectoryCheck{cfg: cfg}.Run(context.Background(), nil)
		if res.Status != tc.want || !strings.Contains(res.Message, tc.msg) {
			t.Errorf("%s %q: %s %s; want %s %q", tc.dir, tc.kid, res.Status, res.Message, tc.want, tc.msg)
		}
	}
	// Without ca_file the test server's certificate is not trusted.
	cfg.Certificate.ACME.CAFile = ""
	cfg.Certificate.ACME.Directory = srv.URL + "/directory"
	if res := (acmeDirectoryCheck{cfg: cfg}).Run(context.Background(), nil); res.Status != engine.CheckFail || !strings.Contains(res.Message, "certificate") {
		t.Errorf("untrusted CA: %s %s", res.Status, res.Message)
	}
}
