// Package pebbletest runs Pebble, Let's Encrypt's ACME test server
// (github.com/letsencrypt/pebble/v2), in-process for tests: its memory
// store, CA, VA and WFE behind a loopback TLS listener, with the
// environment every test that claims to prove DNS-01 needs
// (PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0, PEBBLE_AUTHZREUSE=0 and
// never PEBBLE_VA_ALWAYS_VALID). Its VA resolves the challenge records
// through the DNS server the test names (over TCP, as Pebble does), so
// a challenge is really validated against the zone the test writes.
package pebbletest

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
)

// Options configure Start.
type Options struct {
	// DNSServer is where the VA resolves challenge records ("127.0.0.1:P",
	// TCP).
	DNSServer string
	// EAB maps external account key IDs to their base64url HMAC keys.
	EAB map[string]string
	// EABRequired makes newAccount refuse requests without a binding.
	EABRequired bool
}

// Server is a running Pebble.
type Server struct {
	// DirectoryURL is the ACME directory.
	DirectoryURL string
	// CAFile is a PEM file with the root of the listeners' own TLS
	// certificate (certificate.acme.ca_file).
	CAFile string
	// ManagementURL is the management interface (roots, ARI overrides).
	ManagementURL string

	ca   *ca.CAImpl
	mgmt *httptest.Server
	http *http.Client
}

// env is the environment every Pebble of these tests runs with.
var env = map[string]string{
	"PEBBLE_VA_NOSLEEP":      "1",
	"PEBBLE_WFE_NONCEREJECT": "0",
	"PEBBLE_AUTHZREUSE":      "0",
	"PEBBLE_VA_ALWAYS_VALID": "",
}

// envMu serialises the construction of Pebbles: they read the environment
// when they are made.
var envMu sync.Mutex

// Start starts Pebble; it stops when the test ends. Because Pebble reads
// its settings from the environment, Start sets them with t.Setenv, so a
// test that starts one must not be parallel.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	envMu.Lock()
	defer envMu.Unlock()
	for k, v := range env {
		t.Setenv(k, v)
	}
	if opts.DNSServer == "" {
		t.Fatal("pebbletest: a DNS server for the VA is required")
	}
	logger := log.New(io.Discard, "", 0)
	if os.Getenv("PEBBLETEST_LOG") == "1" {
		logger = log.New(os.Stderr, "pebble ", log.LstdFlags)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "rsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, 0, 0, false, opts.DNSServer, store)
	for kid, key := range opts.EAB {
		if err := store.AddExternalAccountKeyByID(kid, key); err != nil {
			t.Fatalf("pebbletest: EAB key %s: %v", kid, err)
		}
	}
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, opts.EABRequired, 0, 0)
	srv := httptest.NewUnstartedServer(front.Handler())
	srv.Config.ErrorLog = logger
	srv.StartTLS()
	t.Cleanup(srv.Close)
	mgmt := httptest.NewUnstartedServer(front.ManagementHandler())
	mgmt.Config.ErrorLog = logger
	mgmt.TLS = srv.TLS // the same certificate
	mgmt.StartTLS()
	t.Cleanup(mgmt.Close)

	caFile := filepath.Join(t.TempDir(), "pebble-listener-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &Server{DirectoryURL: srv.URL + wfe.DirectoryPath, CAFile: caFile, ManagementURL: mgmt.URL,
		ca: authority, mgmt: mgmt, http: srv.Client()}
}

// Root is the root that issues (through Intermediate) every certificate.
func (s *Server) Root() *x509.Certificate { return s.ca.GetRootCert(0).Cert }

// Intermediate is the CA certificate that signs the leaves.
func (s *Server) Intermediate() *x509.Certificate { return s.ca.GetIntermediateCert(0).Cert }

// RootPEM is Root in PEM.
func (s *Server) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Root().Raw})
}

// SetRenewalInfo makes Pebble's ARI answer for cert be body (any text:
// tests use it for a window in the past, or for nonsense).
func (s *Server) SetRenewalInfo(t testing.TB, cert *x509.Certificate, body string) {
	t.Helper()
	req, _ := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		"ARIResponse": body,
	})
	resp, err := s.http.Post(s.mgmt.URL+"/set-renewal-info/", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("pebble set-renewal-info: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
}

// String names the server.
func (s *Server) String() string { return fmt.Sprintf("pebble at %s", s.DirectoryURL) }
