package steps

// Request mode (certificate.mode: request): the step asks one server for a
// CSR (New-ExchangeCertificate -GenerateRequest), waits for the CA's answer
// that `exrunbook certificate complete FILE` puts beside it, imports it on
// that server and copies it to the other servers in scope.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/checks"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

// CertificateRequestWait is how long a request-mode certificate step
// waits for `exrunbook certificate complete FILE` before it looks again.
const CertificateRequestWait = 24 * time.Hour

// CertificateResponseFile is where `exrunbook certificate complete FILE`
// puts the CA's answer for the waiting request-mode step to import: the
// CSR file's path with ".answer.cer" appended.
func CertificateResponseFile(cfg *config.Config) string {
	return certCSRFile(cfg) + ".answer.cer"
}

func certCSRFile(cfg *config.Config) string {
	f := cfg.Certificate.Request.CSRFile
	if f == "" {
		f = "exrunbook.csr"
	}
	return f
}

// requestScopeCheck requires the requesting server to be in scope: the
// other servers get the completed certificate from it.
type requestScopeCheck struct {
	servers []string
	server  string
}

func (requestScopeCheck) Name() string { return "request-scope" }

func (c requestScopeCheck) Run(context.Context, engine.Env) engine.CheckResult {
	res := engine.CheckResult{Name: c.Name(), Evidence: []string{"servers in scope: " + strings.Join(c.servers, ", ")}}
	for _, s := range c.servers {
		if strings.EqualFold(s, c.server) {
			res.Status = engine.CheckPass
			res.Message = fmt.Sprintf("the request is made on %s; the other servers in scope get the completed certificate from it", c.server)
			return res
		}
	}
	res.Status = engine.CheckFail
	res.Message = fmt.Sprintf("certificate.request.server %s is not in scope (%s)", c.server, strings.Join(c.servers, ", "))
	return res
}

func (s *certificate) applyRequest(ctx context.Context, env engine.Env, ex *exchange.Client, snap CertificateSnapshot) (engine.Outcome, error) {
	srv := snap.RequestServer
	csrFile := certCSRFile(s.deps.Config)
	answerFile := CertificateResponseFile(s.deps.Config)
	var done string
	if _, err := env.Output(s.id, "thumbprint", &done); err != nil {
		return engine.Outcome{}, err
	}
	// One read of every server: the request server's state here, the
	// others' for spread (the import below changes only the request
	// server).
	certs, err := ex.GetCertificates(ctx, snap.Servers)
	if err != nil {
		return engine.Outcome{}, err
	}
	if done != "" {
		if c, ok := checks.FindCertificate(certs, srv, done); ok && strings.EqualFold(c.Status, "Valid") {
			env.Logf("the request was completed on %s: certificate %s", srv, done)
			return engine.Outcome{}, s.spread(ctx, env, ex, snap, done, certs)
		}
	}
	var csr, pending string
	if _, err := env.Output(s.id, "csr", &csr); err != nil {
		return engine.Outcome{}, err
	}
	if _, err := env.Output(s.id, "request_thumbprint", &pending); err != nil {
		return engine.Outcome{}, err
	}
	if csr == "" {
		before := map[string]bool{}
		for _, c := range certs {
			if strings.EqualFold(c.Server, srv) {
				before[strings.ToUpper(c.Thumbprint)] = true
			}
		}
		env.Logf("New-ExchangeCertificate -GenerateRequest on %s for %s (%s)", srv, strings.Join(snap.Domains, ", "), snap.Subject)
		keySize := s.deps.Config.Certificate.Request.KeySize
		if keySize == 0 {
			keySize = 2048
		}
		if csr, err = ex.NewExportableCertificateRequest(ctx, srv, snap.Subject, snap.Domains, keySize); err != nil {
			return engine.Outcome{}, err
		}
		if err := env.SetOutput("csr", csr); err != nil {
			return engine.Outcome{}, err
		}
		after, err := ex.GetCertificates(ctx, []string{srv})
		if err != nil {
			return engine.Outcome{}, err
		}
		for _, c := range after {
			if !before[strings.ToUpper(c.Thumbprint)] && strings.EqualFold(c.Status, "PendingRequest") {
				pending = strings.ToUpper(c.Thumbprint)
			}
		}
		if pending == "" {
			return engine.Outcome{}, fmt.Errorf("New-ExchangeCertificate returned a request but %s lists no new pending request", srv)
		}
		if err := env.SetOutput("request_thumbprint", pending); err != nil {
			return engine.Outcome{}, err
		}
		if err := env.SetOutput("request_server", srv); err != nil {
			return engine.Outcome{}, err
		}
	}
	if cur, err := os.ReadFile(csrFile); err != nil || !bytes.Equal(cur, []byte(csr)) {
		if err := os.MkdirAll(filepath.Dir(csrFile), 0o755); err != nil {
			return engine.Outcome{}, fmt.Errorf("certificate.request.csr_file: %w", err)
		}
		if err := os.WriteFile(csrFile, []byte(csr), 0o644); err != nil {
			return engine.Outcome{}, fmt.Errorf("certificate.request.csr_file: %w", err)
		}
		env.Logf("the certificate request (CSR) is in %s: send it to your CA", absPath(csrFile))
	}
	answer, err := os.ReadFile(answerFile)
	if errors.Is(err, os.ErrNotExist) {
		return engine.Outcome{WaitUntil: env.Now().Add(CertificateRequestWait),
			Reason: fmt.Sprintf("waiting for `exrunbook certificate complete FILE` with the CA's answer to the request written to %s", absPath(csrFile))}, nil
	}
	if err != nil {
		return engine.Outcome{}, fmt.Errorf("the CA's answer %s: %w", answerFile, err)
	}
	leaf, err := ParseCertificateAnswer(answer)
	if err != nil {
		return engine.Outcome{}, fmt.Errorf("the CA's answer %s: %w", answerFile, err)
	}
	if err := CheckAnswerMatchesCSR(leaf, []byte(csr)); err != nil {
		return engine.Outcome{}, fmt.Errorf("the CA's answer %s: %w", answerFile, err)
	}
	thumb := checks.Thumbprint(leaf)
	if c, ok := checks.FindCertificate(certs, srv, thumb); ok && strings.EqualFold(c.Status, "Valid") {
		env.Logf("%s already holds %s", srv, thumb)
	} else {
		env.Logf("Import-ExchangeCertificate on %s: completing the pending request %s with %s", srv, pending, thumb)
		got, err := ex.ImportCertificateResponse(ctx, srv, answer)
		if err != nil {
			return engine.Outcome{}, err
		}
		if !strings.EqualFold(got, thumb) {
			//lint:ignore ST1005 Exchange is the product's proper name
			return engine.Outcome{}, fmt.Errorf("Exchange completed the request as %s, not %s", got, thumb)
		}
	}
	if err := env.SetOutput("thumbprint", thumb); err != nil {
		return engine.Outcome{}, err
	}
	return engine.Outcome{}, s.spread(ctx, env, ex, snap, thumb, certs)
}

// spread copies the completed certificate from the requesting server to
// the other servers in scope that lack it, as administrators do for a
// DAG: Export-ExchangeCertificate with its private key under a one-time
// random password (on stdin, never stored), then Import-ExchangeCertificate.
// certs is Apply's read of every server (the other servers' certificates
// are as they were then).
func (s *certificate) spread(ctx context.Context, env engine.Env, ex *exchange.Client, snap CertificateSnapshot, thumb string, certs []exchange.Certificate) error {
	srv := snap.RequestServer
	imported := []string{srv}
	var missing []string
	for _, o := range snap.Servers {
		if strings.EqualFold(o, srv) {
			continue
		}
		_, had := checks.FindCertificate(snap.Certificates, o, thumb)
		if _, ok := checks.FindCertificate(certs, o, thumb); ok {
			if !had {
				imported = append(imported, o)
			}
			continue
		}
		missing = append(missing, o)
	}
	if len(missing) > 0 {
		pw, err := oneTimePassword()
		if err != nil {
			return err
		}
		env.Logf("exporting %s from %s with its private key to import it on %s", thumb, srv, strings.Join(missing, ", "))
		pfx, err := ex.ExportCertificate(ctx, srv, thumb, pw)
		if err != nil {
			return err
		}
		res, err := ex.ImportPFX(ctx, missing, pfx, pw)
		if err != nil {
			return err
		}
		var failed []string
		for _, r := range res {
			if r.OK {
				imported = append(imported, r.Server)
				env.Logf("%s: imported %s", r.Server, r.Thumbprint)
			} else {
				failed = append(failed, r.Server+": "+r.Error)
			}
		}
		if err := env.SetOutput("imported_on", imported); err != nil {
			return err
		}
		if len(failed) > 0 {
			return fmt.Errorf("Import-ExchangeCertificate of the exported certificate failed: %s", strings.Join(failed, "; "))
		}
		return nil
	}
	return env.SetOutput("imported_on", imported)
}

// oneTimePassword protects an exported PFX on its way between servers.
func oneTimePassword() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// ParseCertificateAnswer reads a CA's answer: PEM (the first
// CERTIFICATE block is the leaf), bare base64 DER, or DER. A PFX is
// refused: the answer to a request carries no key.
func ParseCertificateAnswer(data []byte) (*x509.Certificate, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		rest := data
		for {
			blk, rest = pem.Decode(rest)
			if blk == nil {
				return nil, errors.New("no CERTIFICATE block in the PEM file")
			}
			if blk.Type == "CERTIFICATE" {
				return x509.ParseCertificate(blk.Bytes)
			}
		}
	}
	der := data
	if s := strings.Join(strings.Fields(string(data)), ""); s != "" {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			der = b
		}
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("not a certificate (PEM, base64 or DER): %v", err)
	}
	return c, nil
}

// CheckAnswerMatchesCSR verifies that the certificate certifies the key
// of the request csr (PEM, as New-ExchangeCertificate returned it).
func CheckAnswerMatchesCSR(cert *x509.Certificate, csr []byte) error {
	blk, _ := pem.Decode(csr)
	if blk == nil {
		return errors.New("the recorded request is not PEM")
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return fmt.Errorf("the recorded request: %w", err)
	}
	type pub interface{ Equal(x crypto.PublicKey) bool }
	k, ok := req.PublicKey.(pub)
	if !ok || !k.Equal(cert.PublicKey) {
		return fmt.Errorf("certificate %s (%s) is not the answer to the request: its key differs", checks.Thumbprint(cert), cert.Subject)
	}
	return nil
}
