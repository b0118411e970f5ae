package checks

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
)

// SMTPCheck proves what Exchange's SMTP service presents on the wire: it
// connects to every target (exchange.smtp), says EHLO, requires the
// STARTTLS extension, upgrades the connection and verifies the
// certificate against RootCAs (and Intermediates) for every name. With
// ExpectThumbprint it fails unless every target presents that
// certificate. Get-ExchangeCertificate over remoting does not say which
// certificate SMTP uses; the handshake does.
type SMTPCheck struct {
	CheckName string
	Targets   []Target
	// Names are the names the certificate must be valid for.
	Names         []string
	RootCAs       *x509.CertPool
	Intermediates []*x509.Certificate
	// ExpectThumbprint, when set, is the certificate every target must present.
	ExpectThumbprint string
	// Helo is the name sent with EHLO (default "exrunbook.invalid").
	Helo    string
	Timeout time.Duration // per conversation; default 15 s
}

// Name implements check.Check.
func (c *SMTPCheck) Name() string {
	return nameOr(c.CheckName, "smtp-starttls")
}

// Run implements check.Check.
func (c *SMTPCheck) Run(ctx context.Context, env check.Env) check.Result {
	res := check.Result{Name: c.Name(), Status: check.Pass}
	if len(c.Targets) == 0 || len(c.Names) == 0 {
		res.Status = check.Fail
		res.Message = "nothing to check: no SMTP address (exchange.smtp) or no name under test"
		return res
	}
	now := clock(env)
	var fails []string
	var ve verdictErr
	for _, t := range c.Targets {
		label := fmt.Sprintf("%s %s STARTTLS", t.Server, t.Addr)
		leaf, chain, err := c.StartTLS(ctx, t.Addr)
		if err != nil {
			fails = append(fails, fmt.Sprintf("%s: %v", label, err))
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %v", label, err))
			ve.add(transientIf(err, err))
			continue
		}
		res.Evidence = append(res.Evidence, label+": "+Describe(leaf, now))
		inter := x509.NewCertPool()
		for _, ic := range append(chain, c.Intermediates...) {
			inter.AddCert(ic)
		}
		for _, n := range c.Names {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.RootCAs, Intermediates: inter, DNSName: n, CurrentTime: now}); err != nil {
				fails = append(fails, fmt.Sprintf("%s: certificate not trusted for %s: %v", label, n, err))
			}
		}
		if c.ExpectThumbprint != "" && !strings.EqualFold(Thumbprint(leaf), c.ExpectThumbprint) {
			fails = append(fails, fmt.Sprintf("%s presents %s, not the expected %s", label, Thumbprint(leaf), strings.ToUpper(c.ExpectThumbprint)))
		}
	}
	if len(fails) > 0 {
		res.Status = check.Fail
		res.Message = strings.Join(dedupe(fails), "; ")
		res.Err = ve.err(len(fails))
		return res
	}
	res.Message = fmt.Sprintf("%d server(s) offer STARTTLS with a valid certificate for %s", len(c.Targets), strings.Join(c.Names, ", "))
	return res
}

// StartTLS has the SMTP conversation with addr up to the TLS handshake
// and returns the certificate presented and the rest of the chain sent.
func (c *SMTPCheck) StartTLS(ctx context.Context, addr string) (*x509.Certificate, []*x509.Certificate, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &net.Dialer{}
	conn, err := d.DialContext(cctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	if dl, ok := cctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	r := bufio.NewReaderSize(conn, 1024)
	code, lines, err := ReadSMTPReply(r)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the greeting: %w", err)
	}
	if code != 220 {
		return nil, nil, fmt.Errorf("the server greets with %d %s", code, strings.Join(lines, " "))
	}
	helo := c.Helo
	if helo == "" {
		helo = "exrunbook.invalid"
	}
	if _, err := fmt.Fprintf(conn, "EHLO %s\r\n", helo); err != nil {
		return nil, nil, err
	}
	code, lines, err = ReadSMTPReply(r)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the EHLO answer: %w", err)
	}
	if code != 250 {
		return nil, nil, fmt.Errorf("EHLO answered %d %s", code, strings.Join(lines, " "))
	}
	offered := false
	for _, l := range lines[1:] {
		if strings.EqualFold(strings.Fields(l + " x")[0], "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return nil, nil, fmt.Errorf("the server does not offer STARTTLS (EHLO: %s)", strings.Join(lines, "; "))
	}
	if _, err := fmt.Fprint(conn, "STARTTLS\r\n"); err != nil {
		return nil, nil, err
	}
	code, lines, err = ReadSMTPReply(r)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the STARTTLS answer: %w", err)
	}
	if code != 220 {
		return nil, nil, fmt.Errorf("STARTTLS answered %d %s", code, strings.Join(lines, " "))
	}
	if r.Buffered() > 0 {
		return nil, nil, errors.New("the server sent data before the TLS handshake (STARTTLS command injection)")
	}
	name := ""
	if len(c.Names) > 0 {
		name = c.Names[0]
	}
	tc := tls.Client(conn, &tls.Config{ServerName: name, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // verified by the caller
	if err := tc.HandshakeContext(cctx); err != nil {
		return nil, nil, fmt.Errorf("TLS handshake after STARTTLS failed: %w", err)
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		return nil, nil, errors.New("the server presented no certificate")
	}
	fmt.Fprint(tc, "QUIT\r\n")
	return st.PeerCertificates[0], st.PeerCertificates[1:], nil
}

// SMTP reply limits: RFC 5321 4.5.3.1.5 allows 512 octets a reply line;
// more than maxSMTPLines lines is no SMTP server.
const (
	maxSMTPLine  = 2048
	maxSMTPLines = 100
)

// ReadSMTPReply reads one (possibly multi-line) SMTP reply: lines "ddd-text"
// followed by "ddd text" (or a bare "ddd"), every line with the same code.
// It returns the code and the text of each line.
func ReadSMTPReply(r *bufio.Reader) (int, []string, error) {
	var lines []string
	code := 0
	for {
		line, err := readSMTPLine(r)
		if err != nil {
			return 0, nil, err
		}
		if len(line) < 3 {
			return 0, nil, fmt.Errorf("malformed reply line %q", line)
		}
		n, err := strconv.Atoi(line[:3])
		if err != nil || n < 200 || n > 599 || line[0] == '+' || line[0] == '-' {
			return 0, nil, fmt.Errorf("malformed reply line %q: no reply code", line)
		}
		if code != 0 && n != code {
			return 0, nil, fmt.Errorf("reply code changes from %d to %d inside one reply", code, n)
		}
		code = n
		sep, text := byte(' '), ""
		if len(line) > 3 {
			sep, text = line[3], line[4:]
		}
		if sep != ' ' && sep != '-' {
			return 0, nil, fmt.Errorf("malformed reply line %q", line)
		}
		lines = append(lines, text)
		if sep == ' ' {
			return code, lines, nil
		}
		if len(lines) >= maxSMTPLines {
			return 0, nil, fmt.Errorf("a reply of more than %d lines", maxSMTPLines)
		}
	}
}

// readSMTPLine reads one CRLF- (or LF-) terminated line of at most
// maxSMTPLine bytes.
func readSMTPLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		frag, err := r.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > maxSMTPLine {
			return "", fmt.Errorf("a reply line longer than %d bytes", maxSMTPLine)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
