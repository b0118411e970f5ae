package winrm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Kerberos cannot be tested end to end here (no KDC); these tests cover
// the configuration path: krb5.conf, keytab or password, realm and SPN.
func TestKerberosConfiguration(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = CONTOSO.TEST\n dns_lookup_kdc = false\n udp_preference_limit = 1\n[realms]\n CONTOSO.TEST = {\n  kdc = 127.0.0.1:1\n }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kt := keytab.New()
	if err := kt.AddEntry("svc-exrunbook", "CONTOSO.TEST", "pw", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	ktb, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	ktFile := filepath.Join(dir, "svc.keytab")
	if err := os.WriteFile(ktFile, ktb, 0o600); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name             string
		cfg              Config
		user, realm, spn string
		keytab, password bool
		wantErr          string
	}{
		{"keytab, default realm", Config{User: `CONTOSO\svc-exrunbook`, KrbConf: conf, Keytab: ktFile},
			"svc-exrunbook", "CONTOSO.TEST", "HTTP/ex01.contoso.test", true, false, ""},
		{"password, realm from user", Config{User: "admin@contoso.test", Password: "pw", KrbConf: conf, SPN: "HTTP/ex01"},
			"admin", "CONTOSO.TEST", "HTTP/ex01", false, true, ""},
		{"explicit realm", Config{User: "admin", Password: "pw", KrbConf: conf, Realm: "other.test"},
			"admin", "OTHER.TEST", "HTTP/ex01.contoso.test", false, true, ""},
		{"missing krb5.conf", Config{User: "admin", Password: "pw", KrbConf: filepath.Join(dir, "nope")}, "", "", "", false, false, "krb5.conf"},
		{"bad keytab", Config{User: "admin", KrbConf: conf, Keytab: conf}, "", "", "", false, false, "keytab"},
		{"neither keytab nor password", Config{User: "admin", KrbConf: conf}, "", "", "", false, false, "exchange.kerberos.keytab_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Endpoint = "https://ex01.contoso.test:5986/wsman"
			cfg.Auth = AuthKerberos
			c, err := New(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error naming %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cr := c.h.krb.Credentials
			if cr.UserName() != tc.user || cr.Domain() != tc.realm || c.h.spn != tc.spn {
				t.Fatalf("got user %q realm %q spn %q", cr.UserName(), cr.Domain(), c.h.spn)
			}
			if cr.HasKeytab() != tc.keytab || cr.HasPassword() != tc.password {
				t.Fatalf("keytab %v password %v", cr.HasKeytab(), cr.HasPassword())
			}
		})
	}
}

func TestKerberosFailureNeverReachesServerUnauthenticated(t *testing.T) {
	f, srv := newFake(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = CONTOSO.TEST\n dns_lookup_kdc = false\n[realms]\n CONTOSO.TEST = {\n  kdc = 127.0.0.1:1\n }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tls := httptest.NewTLSServer(f)
	defer tls.Close()
	_ = srv
	c, err := New(Config{Endpoint: tls.URL + "/wsman", Auth: AuthKerberos, User: "admin", Password: "pw", KrbConf: conf, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = c.RunPowerShell(ctx, "1", "")
	if err == nil || !strings.Contains(err.Error(), "kerberos") {
		t.Fatalf("want a kerberos error (no KDC), got %v", err)
	}
	if acts, _ := f.snapshot(); len(acts) != 0 {
		t.Fatalf("requests reached the server without a ticket: %v", acts)
	}
}

type testPKI struct {
	caPEM, clientCertFile, clientKeyFile string
	serverTLS                            tls.Certificate
	pool                                 *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, server bool) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tm := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		if server {
			tm.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tm.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		} else {
			tm.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tm, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	p := testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caPEM = filepath.Join(dir, "ca.pem")
	write := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caPEM, "CERTIFICATE", caDER)
	sDER, sKey := issue(2, "127.0.0.1", true)
	p.serverTLS = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := issue(3, "exrunbook", false)
	p.clientCertFile = filepath.Join(dir, "client.pem")
	p.clientKeyFile = filepath.Join(dir, "client.key")
	write(p.clientCertFile, "CERTIFICATE", cDER)
	kDER, _ := x509.MarshalECPrivateKey(cKey)
	write(p.clientKeyFile, "EC PRIVATE KEY", kDER)
	return p
}

func TestCertificateAuth(t *testing.T) {
	p := newTestPKI(t)
	f := &fakeWSMan{t: t, run: func(string, string) (string, string, int) { return "cert ok", "", 0 }}
	var authzMu sync.Mutex
	var authz []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authzMu.Lock()
		authz = append(authz, r.Header.Get("Authorization"))
		authzMu.Unlock()
		if len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "exrunbook" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.ServeHTTP(w, r)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.serverTLS}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()

	c, err := New(Config{Endpoint: srv.URL + "/wsman", Auth: AuthCertificate, CAFile: p.caPEM, ClientCert: p.clientCertFile, ClientKey: p.clientKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.RunPowerShell(context.Background(), "1", "")
	if err != nil || res.Stdout != "cert ok" {
		t.Fatalf("got %+v %v", res, err)
	}
	authzMu.Lock()
	defer authzMu.Unlock()
	if len(authz) == 0 || authz[0] != "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual" {
		t.Fatalf("Authorization headers %q", authz)
	}
}
