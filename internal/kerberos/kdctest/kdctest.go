// Package kdctest starts a throwaway MIT Kerberos realm for tests: a KDC
// database, krb5kdc on a free 127.0.0.1 port (UDP and TCP), principals,
// keytabs, a krb5.conf, and kinit into a ticket cache — all in a temporary
// directory, nothing written to /etc (MIT's kdb5_util, kadmin.local and
// krb5kdc -n, pointed at it by KRB5_CONFIG and KRB5_KDC_PROFILE). It
// follows the project's peer rule: when the MIT tools are missing a test
// is skipped, unless EXRUNBOOK_REQUIRE_PEERS=1, when it fails.
//
// Starting a realm costs a second or two; share one per test package with
// Shared (and StopShared in TestMain). Passwords go to kadmin.local and
// kinit on stdin, never in process arguments.
package kdctest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/freeport"
	"github.com/exrunbook/exrunbook/internal/peertest"
)

// The MIT programs the realm needs (Debian: krb5-kdc, krb5-admin-server,
// krb5-user).
var tools = []string{"krb5kdc", "kdb5_util", "kadmin.local", "kinit"}

// lookTool finds an MIT program on PATH or in /usr/sbin (not always on a
// test's PATH).
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH or in /usr/sbin", name)
}

// Available reports whether every MIT program is installed.
func Available() error {
	for _, t := range tools {
		if _, err := lookTool(t); err != nil {
			return err
		}
	}
	return nil
}

// Require skips t when the MIT programs are missing, or fails it when
// EXRUNBOOK_REQUIRE_PEERS=1.
func Require(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("peer MIT Kerberos is required (EXRUNBOOK_REQUIRE_PEERS=1) but missing (apt-get install krb5-kdc krb5-admin-server krb5-user): %v", err)
		}
		t.Skipf("peer MIT Kerberos is missing: %v", err)
	}
}

// Realm is a running KDC and its files.
type Realm struct {
	// Name is the realm, e.g. "LAB.TEST".
	Name string
	// Dir holds the database, configs, keytabs and caches.
	Dir string
	// Port is the KDC's port on 127.0.0.1 (UDP and TCP).
	Port int
	// Krb5Conf is a krb5.conf for clients of this realm.
	Krb5Conf string

	kdcConf string
	kdc     *peertest.Process
	mu      sync.Mutex // serialises kadmin.local
}

// Options describes the realm to start.
type Options struct {
	// Realm is the realm name (default "LAB.TEST").
	Realm string
	// Domain maps host names under it to the realm (default "lab.test").
	Domain string
}

// Start creates the realm's database under dir (which must exist and be
// empty-ish; it is not removed) and starts krb5kdc. Retries with another
// port when the chosen one is taken meanwhile.
func Start(dir string, o Options) (*Realm, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Realm == "" {
		o.Realm = "LAB.TEST"
	}
	if o.Domain == "" {
		o.Domain = "lab.test"
	}
	r := &Realm{Name: o.Realm, Dir: dir, Krb5Conf: filepath.Join(dir, "krb5.conf"), kdcConf: filepath.Join(dir, "kdc.conf")}
	master := make([]byte, 16)
	if _, err := rand.Read(master); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freeport.UDPAndTCP()
		if err != nil {
			return nil, err
		}
		r.Port = port
		if err := os.WriteFile(r.Krb5Conf, []byte(r.Krb5ConfText("127.0.0.1:"+strconv.Itoa(port), o.Domain)), 0o644); err != nil {
			return nil, err
		}
		kdc := fmt.Sprintf(`[kdcdefaults]
  kdc_ports = %[2]d
  kdc_tcp_ports = %[2]d
[realms]
  %[1]s = {
    database_name = %[3]s
    key_stash_file = %[4]s
    acl_file = %[5]s
    max_life = 10h 0m 0s
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }
[logging]
  kdc = FILE:%[6]s
`, r.Name, port, filepath.Join(dir, "principal"), filepath.Join(dir, "stash"), filepath.Join(dir, "kadm5.acl"), filepath.Join(dir, "kdc.log"))
		if err := os.WriteFile(r.kdcConf, []byte(kdc), 0o644); err != nil {
			return nil, err
		}
		if attempt == 0 {
			if err := os.WriteFile(filepath.Join(dir, "kadm5.acl"), []byte("*/admin@"+r.Name+" *\n"), 0o644); err != nil {
				return nil, err
			}
			pw := hex.EncodeToString(master)
			if out, err := r.run("kdb5_util", pw+"\n"+pw+"\n", "create", "-s", "-r", r.Name); err != nil {
				return nil, fmt.Errorf("kdb5_util create: %v: %s", err, out)
			}
		}
		if lastErr = r.startKDC(); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

// Krb5ConfText is a krb5.conf for this realm whose KDC is kdcAddr
// ("host:port"); tests point it at a dead port to see an unreachable KDC.
func (r *Realm) Krb5ConfText(kdcAddr, domain string) string {
	if domain == "" {
		domain = "lab.test"
	}
	return fmt.Sprintf(`[libdefaults]
  default_realm = %[1]s
  dns_lookup_realm = false
  dns_lookup_kdc = false
  rdns = false
  udp_preference_limit = 1
  kdc_timesync = 0
[realms]
  %[1]s = {
    kdc = %[2]s
  }
[domain_realm]
  .%[3]s = %[1]s
  %[3]s = %[1]s
`, r.Name, kdcAddr, domain)
}

func (r *Realm) env() []string {
	return append(os.Environ(), "KRB5_CONFIG="+r.Krb5Conf, "KRB5_KDC_PROFILE="+r.kdcConf)
}

// run runs an MIT program with the realm's environment and stdin.
func (r *Realm) run(name, stdin string, args ...string) (string, error) {
	path, err := lookTool(name)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = r.env()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *Realm) startKDC() error {
	path, err := lookTool("krb5kdc")
	if err != nil {
		return err
	}
	cmd := exec.Command(path, "-n", "-r", r.Name, "-P", filepath.Join(r.Dir, "kdc.pid"))
	cmd.Env = r.env()
	if r.kdc, err = peertest.Start(cmd); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.kdc.Exited():
			return fmt.Errorf("krb5kdc exited early: %s", r.Log())
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.Stop()
	return fmt.Errorf("krb5kdc did not listen on 127.0.0.1:%d within 10s: %s", r.Port, r.Log())
}

// Log returns what krb5kdc printed and its log file.
func (r *Realm) Log() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "kdc.log"))
	return r.kdc.Output() + string(b)
}

// Stop stops the KDC (an interrupt, then SIGKILL after 5s). Safe to call
// twice.
func (r *Realm) Stop() { r.kdc.Stop() }

// kadmin runs one kadmin.local query, fed on stdin so that passwords stay
// out of the process arguments. MIT reports failures as "… while …".
// secret, when not empty, is removed from the output in an error (MIT
// echoes the query).
func (r *Realm) kadmin(query, secret string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, err := r.run("kadmin.local", query+"\n", "-r", r.Name)
	if err != nil || strings.Contains(out, " while ") {
		if secret != "" {
			out = strings.ReplaceAll(out, secret, "<redacted>")
		}
		return fmt.Errorf("kadmin.local %q: %v: %s", strings.Fields(query)[0], err, out)
	}
	return nil
}

// AddUser creates principal name (without realm) with password; like an
// Active Directory account it requires pre-authentication.
func (r *Realm) AddUser(name, password string) error {
	return r.kadmin(fmt.Sprintf("addprinc +requires_preauth -pw %s %s@%s", password, name, r.Name), password)
}

// SetPassword changes a principal's password (its key version goes up).
func (r *Realm) SetPassword(name, password string) error {
	return r.kadmin(fmt.Sprintf("cpw -pw %s %s@%s", password, name, r.Name), password)
}

// AddService creates a service principal (e.g. "HTTP/exch01.lab.test")
// with a random key and writes its keys to a new keytab, whose path it
// returns.
func (r *Realm) AddService(spn string) (string, error) {
	if err := r.kadmin(fmt.Sprintf("addprinc -randkey %s@%s", spn, r.Name), ""); err != nil {
		return "", err
	}
	return r.Keytab(spn)
}

// Keytab writes the principal's keys to a new keytab file and returns its
// path. For a user this changes the key (ktadd randomises it) unless the
// principal is a service; use it for principals that log in by keytab.
func (r *Realm) Keytab(principal string) (string, error) {
	path := filepath.Join(r.Dir, strings.NewReplacer("/", "_", "@", "_").Replace(principal)+"-"+randomSuffix()+".keytab")
	if err := r.kadmin(fmt.Sprintf("ktadd -k %s %s@%s", path, principal, r.Name), ""); err != nil {
		return "", err
	}
	return path, nil
}

// Kinit gets a TGT for user with password into a new FILE ticket cache,
// whose path it returns. lifetime 0 means the KDC's default.
func (r *Realm) Kinit(user, password string, lifetime time.Duration) (string, error) {
	path := filepath.Join(r.Dir, "cc-"+user+"-"+randomSuffix())
	args := []string{"-c", "FILE:" + path}
	if lifetime > 0 {
		args = append(args, "-l", strconv.Itoa(int(lifetime.Seconds()))+"s")
	}
	args = append(args, user+"@"+r.Name)
	out, err := r.run("kinit", password+"\n", args...)
	if err != nil {
		return "", fmt.Errorf("kinit %s: %v: %s", user, err, out)
	}
	return path, nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var shared struct {
	once sync.Once
	r    *Realm
	dir  string
	err  error
}

// Shared returns the package's one realm, starting it on first use (or
// skips/fails t per Require). Call StopShared from TestMain after m.Run.
func Shared(t testing.TB) *Realm {
	t.Helper()
	Require(t)
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "kdctest-")
		if shared.err != nil {
			return
		}
		shared.r, shared.err = Start(shared.dir, Options{})
	})
	if shared.err != nil {
		t.Fatalf("kdctest: the MIT KDC did not start: %v", shared.err)
	}
	return shared.r
}

// StopShared stops the shared realm, if started, and removes its files.
func StopShared() {
	if shared.r != nil {
		shared.r.Stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}
