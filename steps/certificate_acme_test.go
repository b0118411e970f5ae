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
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
	"github.com/exrunbook/exrunbook/internal/recordset/manual"
	"github.com/exrunbook/exrunbook/internal/recordset/rfc2136"
)

func TestACMENames(t *testing.T) {
	cfg := config.Default()
	cfg.Namespace = config.Namespace{Internal: "Outlook.contoso.com", External: "outlook-ext.contoso.com.", Autodiscover: "outlook.contoso.com"}
	if got := ACMENames(cfg); !reflect.DeepEqual(got, []string{"outlook-ext.contoso.com", "outlook.contoso.com"}) {
		t.Fatalf("ACMENames = %v", got)
	}
}

// ACMEChallengeDNS builds one writer for every public_dns.mode, over the
// record-set provider of that mode, with certificate.acme.challenge_dns's
// zone added when it is set; each zone is read where its block says.
func TestACMEChallengeDNSModes(t *testing.T) {
	cfg := config.Default()
	cfg.PublicDNS.Zone = "contoso.com."
	cfg.PublicDNS.Mode = "manual"
	cfg.PublicDNS.Server = ""
	if _, _, err := ACMEChallengeDNS(testDeps(cfg, clients.Options{}), t.Logf); err == nil || !strings.Contains(err.Error(), "public_dns.server") {
		t.Fatalf("manual without a server: %v", err)
	}
	cfg.PublicDNS.Nameservers = []string{"127.0.0.1:5353", "127.0.0.1:5354"}
	w, p, err := ACMEChallengeDNS(testDeps(cfg, clients.Options{}), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := w.(*acme.RecordSetDNS)
	if !ok || p != acme.Propagation(r) {
		t.Fatalf("writer %T, propagation %T: want one *acme.RecordSetDNS", w, p)
	}
	if len(r.Writer.Accesses) != 1 || r.Writer.Accesses[0].Zone != "contoso.com." {
		t.Fatalf("accesses %+v", r.Writer.Accesses)
	}
	if m, ok := r.Writer.Accesses[0].Provider.(*manual.Provider); !ok || m.Server != "127.0.0.1:5353" {
		t.Fatalf("manual mode provider is %#v", r.Writer.Accesses[0].Provider)
	}
	if !reflect.DeepEqual(r.Zones, []acme.ZoneServers{{Zone: "contoso.com.", Server: "127.0.0.1:5353", Nameservers: []string{"127.0.0.1:5353", "127.0.0.1:5354"}}}) {
		t.Fatalf("zones %+v", r.Zones)
	}

	// A provider's API, and a delegated zone written with RFC 2136.
	t.Setenv(config.EnvCloudflareToken, "tok")
	t.Setenv("EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
	cfg.PublicDNS.Mode = "cloudflare"
	cfg.Certificate.ACME.ChallengeDNS = config.DNSAccess{Mode: "rfc2136", Zone: "acme.fabrikam.test.", Server: "127.0.0.1:5300",
		TSIG: config.TSIG{Name: "acme-update.", Algorithm: "hmac-sha256"}}
	w, _, err = ACMEChallengeDNS(testDeps(cfg, clients.Options{}), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	r = w.(*acme.RecordSetDNS)
	if len(r.Writer.Accesses) != 2 || r.Writer.Accesses[1].Zone != "acme.fabrikam.test." {
		t.Fatalf("accesses %+v", r.Writer.Accesses)
	}
	if _, ok := r.Writer.Accesses[0].Provider.(*libdnszone.Zone); !ok {
		t.Fatalf("public_dns.mode cloudflare provider is %T", r.Writer.Accesses[0].Provider)
	}
	rp, ok := r.Writer.Accesses[1].Provider.(*rfc2136.Provider)
	if !ok || rp.Client.Server != "127.0.0.1:5300" || rp.Client.TSIG.Name != "acme-update." || rp.Client.TSIG.Secret != "c2VjcmV0LXNlY3JldC1zZWNyZXQ=" {
		t.Fatalf("challenge_dns provider is %T", r.Writer.Accesses[1].Provider)
	}
	if len(r.Zones) != 2 || r.Zones[1].Zone != "acme.fabrikam.test." || r.Zones[1].Server != "127.0.0.1:5300" || len(r.Zones[1].Nameservers) != 0 ||
		r.Zones[1].Setting != "certificate.acme.challenge_dns" || r.Zones[0].Setting != "" || rp.Client.Setting != "certificate.acme.challenge_dns" {
		t.Fatalf("zones %+v", r.Zones)
	}
	// The challenge zone's own secret is required, named by its variable.
	t.Setenv("EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET", "")
	fresh := config.Default()
	fresh.PublicDNS, fresh.Certificate = cfg.PublicDNS, cfg.Certificate
	if _, _, err := ACMEChallengeDNS(testDeps(fresh, clients.Options{}), t.Logf); err == nil || !strings.Contains(err.Error(), "EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET") {
		t.Fatalf("challenge_dns without its secret: %v", err)
	}
}

// Without DNS access the pre-check still refuses a name outside
// public_dns.zone, naming it.
func TestACMENamesCheckStatic(t *testing.T) {
	cfg := config.Default()
	cfg.PublicDNS.Zone = "contoso.com."
	cfg.Namespace = config.Namespace{Internal: "outlook.contoso.com", External: "outlook-ext.contoso.com", Autodiscover: "autodiscover.fabrikam.com"}
	res := acmeNamesCheck{cfg: cfg}.Run(context.Background(), nil)
	if res.Status != engine.CheckFail || !strings.Contains(res.Message, "autodiscover.fabrikam.com") {
		t.Fatalf("%s %s", res.Status, res.Message)
	}
	cfg.Namespace.Autodiscover = "autodiscover.contoso.com"
	res = acmeNamesCheck{cfg: cfg}.Run(context.Background(), nil)
	if res.Status != engine.CheckPass || len(res.Evidence) != 3 || res.Evidence[2] != "_acme-challenge.autodiscover.contoso.com. TXT in zone contoso.com." {
		t.Fatalf("%s %s %v", res.Status, res.Message, res.Evidence)
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
