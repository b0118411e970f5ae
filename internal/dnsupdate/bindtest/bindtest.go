// Package bindtest starts a real BIND 9 (Debian's named) on 127.0.0.1 for
// tests: a primary for one zone that accepts TSIG-signed RFC 2136 updates,
// with an rndc channel to reload it, and helpers that run dig and nsupdate
// against it. It follows the project's peer rule: when named is missing the
// test is skipped, unless EXRUNBOOK_REQUIRE_PEERS=1, when it fails.
package bindtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/freeport"
	"github.com/exrunbook/exrunbook/internal/peertest"
)

// NamedPath is where Debian installs named.
const NamedPath = "/usr/sbin/named"

// Options describes the server to start.
type Options struct {
	// Zone is the zone's name, e.g. "contoso.test.".
	Zone string
	// ZoneText is the zone file's contents.
	ZoneText string
	// KeyName is the TSIG key allowed to update the zone (default "exrunbook-update.").
	KeyName string
	// Algorithm is the key's algorithm (default "hmac-sha256").
	Algorithm string
	// Secret is the key's base64 secret; empty generates a random one.
	Secret string
	// OtherKeys are further keys (name → base64 secret, hmac-sha256) that
	// the server knows but that may not update the zone.
	OtherKeys map[string]string
}

// Server is a running named.
type Server struct {
	// Addr is where it answers DNS, "127.0.0.1:port" (UDP and TCP).
	Addr string
	// Port is Addr's port.
	Port int
	// Dir is its working directory (config, zone file, journal).
	Dir string
	// Zone, KeyName, Algorithm and Secret are as started.
	Zone, KeyName, Algorithm, Secret string
	// KeyFile is a named.conf-style key file for nsupdate -k.
	KeyFile string

	ctlPort  int
	zoneFile string
	named    *peertest.Process
}

// Require skips t when the named binary (or another peer tool) is missing,
// or fails it when EXRUNBOOK_REQUIRE_PEERS=1.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range append([]string{NamedPath}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
				t.Fatalf("peer %s is required (EXRUNBOOK_REQUIRE_PEERS=1) but missing: %v", tool, err)
			}
			t.Skipf("peer %s is missing: %v", tool, err)
		}
	}
}

// RandomSecret returns a fresh base64 HMAC secret of 32 bytes.
func RandomSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Start starts named with o and stops it when the test ends. It fails the
// test when named does not come up (after retrying with other ports).
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	Require(t)
	if o.KeyName == "" {
		o.KeyName = "exrunbook-update."
	}
	if o.Algorithm == "" {
		o.Algorithm = "hmac-sha256"
	}
	if o.Secret == "" {
		o.Secret = RandomSecret()
	}
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := start(dir, o)
		if err == nil {
			t.Cleanup(s.named.Stop)
			return s
		}
		lastErr = err
	}
	t.Fatalf("bindtest: named did not start: %v", lastErr)
	return nil
}

func start(dir string, o Options) (*Server, error) {
	port, err := freeport.UDPAndTCP()
	if err != nil {
		return nil, err
	}
	ctl, err := freeport.UDPAndTCP()
	if err != nil {
		return nil, err
	}
	s := &Server{
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: dir,
		Zone: dns.Fqdn(o.Zone), KeyName: dns.Fqdn(o.KeyName), Algorithm: o.Algorithm, Secret: o.Secret,
		ctlPort: ctl, zoneFile: filepath.Join(dir, "zone.db"), KeyFile: filepath.Join(dir, "update.key"),
	}
	rndcSecret := RandomSecret()
	keyStanza := fmt.Sprintf("key %q { algorithm %s; secret %q; };\n", s.KeyName, s.Algorithm, s.Secret)
	others := ""
	for name, secret := range o.OtherKeys {
		others += fmt.Sprintf("key %q { algorithm hmac-sha256; secret %q; };\n", dns.Fqdn(name), secret)
	}
	conf := fmt.Sprintf(`options {
	directory %[1]q;
	pid-file %[2]q;
	session-keyfile %[3]q;
	managed-keys-directory %[1]q;
	listen-on port %[4]d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
};
key "rndc-key" { algorithm hmac-sha256; secret %[5]q; };
controls { inet 127.0.0.1 port %[6]d allow { 127.0.0.1; } keys { "rndc-key"; }; };
%[7]s
zone %[8]q {
	type primary;
	file %[9]q;
	allow-update { key %[10]q; };
};
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), port, rndcSecret, ctl,
		keyStanza+others, s.Zone, s.zoneFile, s.KeyName)
	rndcConf := fmt.Sprintf(`key "rndc-key" { algorithm hmac-sha256; secret %q; };
options { default-server 127.0.0.1; default-port %d; default-key "rndc-key"; };
`, rndcSecret, ctl)
	files := map[string]string{
		"named.conf": conf,
		"rndc.conf":  rndcConf,
		"zone.db":    o.ZoneText,
		"update.key": keyStanza,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return nil, err
		}
	}
	os.Remove(filepath.Join(dir, "zone.db.jnl"))
	if s.named, err = peertest.Start(exec.Command(NamedPath, "-g", "-4", "-c", filepath.Join(dir, "named.conf"))); err != nil {
		return nil, err
	}
	if err := s.waitSOA(10 * time.Second); err != nil {
		s.named.Stop()
		return nil, fmt.Errorf("%v; named log:\n%s", err, s.Log())
	}
	return s, nil
}

// Log returns what named has printed so far.
func (s *Server) Log() string { return s.named.Output() }

// SOASerial asks the server for the zone's serial (0 when it does not answer).
func (s *Server) SOASerial() (uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(s.Zone, dns.TypeSOA)
	m.RecursionDesired = false
	c := &dns.Client{Net: "tcp", Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(m, s.Addr)
	if err != nil {
		return 0, err
	}
	for _, rr := range r.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa.Serial, nil
		}
	}
	return 0, fmt.Errorf("no SOA in answer (rcode %s)", dns.RcodeToString[r.Rcode])
}

func (s *Server) waitSOA(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-s.named.Exited():
			return fmt.Errorf("named exited early")
		default:
		}
		if _, err = s.SOASerial(); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("named did not answer SOA within %s: %v", limit, err)
}

// Reload replaces the zone file with text and has named load it: rndc
// freeze (a dynamic zone cannot simply be reloaded), rewrite, rndc thaw. It
// waits until the server answers with the new file's serial.
func (s *Server) Reload(t testing.TB, text string) {
	t.Helper()
	Require(t, "rndc")
	want, err := serialOf(text, s.Zone)
	if err != nil {
		t.Fatal(err)
	}
	served, err := s.SOASerial()
	if err != nil {
		t.Fatal(err)
	}
	s.rndc(t, "freeze")
	// Freezing dumps the zone to its file in the background: wait until
	// the file holds the served serial, or our file would be overwritten.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(s.zoneFile)
		if err == nil {
			if onDisk, err := serialOf(string(b), s.Zone); err == nil && onDisk == served {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("named did not write serial %d to %s after rndc freeze", served, s.zoneFile)
		}
		time.Sleep(10 * time.Millisecond)
	}
	os.Remove(s.zoneFile + ".jnl")
	tmp := s.zoneFile + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// A newer mtime than the dump's, so named sees a changed file.
	later := time.Now().Add(2 * time.Second)
	if err := os.Chtimes(tmp, later, later); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, s.zoneFile); err != nil {
		t.Fatal(err)
	}
	s.rndc(t, "thaw")
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if got, err := s.SOASerial(); err == nil && got == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("named did not load serial %d after rndc thaw; log:\n%s", want, s.Log())
}

func (s *Server) rndc(t testing.TB, command string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rndc", "-c", filepath.Join(s.Dir, "rndc.conf"), command, strings.TrimSuffix(s.Zone, ".")).CombinedOutput()
	if err != nil {
		t.Fatalf("rndc %s: %v: %s", command, err, out)
	}
}

func serialOf(text, zone string) (uint32, error) {
	zp := dns.NewZoneParser(strings.NewReader(text), zone, "")
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			return soa.Serial, nil
		}
	}
	if err := zp.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("zone text has no SOA")
}

// Dig runs dig against the server (without recursion) and returns its output.
func (s *Server) Dig(t testing.TB, args ...string) string {
	t.Helper()
	Require(t, "dig")
	all := append([]string{"@127.0.0.1", "-p", strconv.Itoa(s.Port), "+norecurse", "+tcp"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "dig", all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v: %s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// DigAnswers runs one dig for all the queries ("name TYPE" each) and
// returns the normalised `dig +noall +answer` output: one record a line,
// whitespace collapsed to one tab, lines sorted.
func (s *Server) DigAnswers(t testing.TB, queries ...string) string {
	t.Helper()
	args := []string{"+noall", "+answer"}
	for _, q := range queries {
		args = append(args, strings.Fields(q)...)
	}
	out := s.Dig(t, args...)
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, strings.Join(strings.Fields(l), "\t"))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// NSUpdate runs nsupdate with the update key (read from KeyFile, never on
// the command line) and the given commands; "server" and "send" are added.
func (s *Server) NSUpdate(t testing.TB, commands string) string {
	t.Helper()
	Require(t, "nsupdate")
	script := fmt.Sprintf("server 127.0.0.1 %d\nzone %s\n%s\nsend\n", s.Port, s.Zone, strings.TrimSpace(commands))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsupdate", "-v", "-k", s.KeyFile)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nsupdate: %v: %s\nscript:\n%s", err, out, script)
	}
	return string(out)
}
