package wsman

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
)

const pywinrmPython = "/usr/bin/python3"

// pywinrmScript drives Debian's python3-winrm: it opens a shell, runs each
// command line with run_command (program and arguments split as pywinrm
// users do), collects the output, cleans up and closes the shell, then
// prints one JSON document. Input arrives as JSON on stdin so that no
// secret reaches the process arguments.
const pywinrmScript = `
import base64, json, sys
from winrm.protocol import Protocol
from winrm.exceptions import InvalidCredentialsError, WinRMTransportError, WinRMError
cfg = json.load(sys.stdin)
out = {"results": []}
try:
    p = Protocol(cfg["endpoint"], transport=cfg["transport"], username=cfg["user"], password=cfg["password"],
                 server_cert_validation="validate", ca_trust_path=cfg["ca_file"], message_encryption=cfg["encryption"],
                 operation_timeout_sec=cfg["op_timeout"], read_timeout_sec=cfg["read_timeout"])
    shell = p.open_shell()
    for line in cfg["commands"]:
        parts = line.split(" ", 1)
        cid = p.run_command(shell, parts[0], parts[1:])
        o, e, code = p.get_command_output(shell, cid)
        p.cleanup_command(shell, cid)
        out["results"].append({"stdout": base64.b64encode(o).decode(), "stderr": base64.b64encode(e).decode(), "code": code})
    p.close_shell(shell)
except InvalidCredentialsError as ex:
    out["error"] = "InvalidCredentialsError"
except (WinRMTransportError, WinRMError) as ex:
    out["error"] = type(ex).__name__ + ": " + str(ex)
except Exception as ex:
    out["error"] = type(ex).__name__
print(json.dumps(out))
`

// opensslLegacy enables OpenSSL 3's legacy provider for the client: NTLM
// needs MD4, which Debian's OpenSSL 3 leaves out by default, and
// ntlm_auth takes it from hashlib.
const opensslLegacy = `openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
`

// pyClient is Debian's pywinrm ready to run: the script and its OpenSSL
// configuration.
type pyClient struct {
	script, opensslConf, dir string
}

// requirePywinrm skips (or, with EXRUNBOOK_REQUIRE_PEERS=1, fails) when
// Debian's python3-winrm is missing, and writes the client script.
func requirePywinrm(t *testing.T) pyClient {
	t.Helper()
	missing := ""
	if _, err := os.Stat(pywinrmPython); err != nil {
		missing = pywinrmPython + " is missing"
	} else if err := exec.Command(pywinrmPython, "-c", "import winrm, requests_ntlm").Run(); err != nil {
		missing = "python3-winrm is not importable by " + pywinrmPython + ": " + err.Error()
	}
	if missing != "" {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatal(missing)
		}
		t.Skip(missing + " (install python3-winrm)")
	}
	dir := t.TempDir()
	c := pyClient{script: filepath.Join(dir, "client.py"), opensslConf: filepath.Join(dir, "openssl.cnf"), dir: dir}
	if err := os.WriteFile(c.script, []byte(pywinrmScript), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.opensslConf, []byte(opensslLegacy), 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

type pyResult struct {
	Results []struct {
		Stdout, Stderr string
		Code           int
	}
	Error string
}

func runPywinrm(t *testing.T, py pyClient, l *lab, cfg map[string]any) pyResult {
	t.Helper()
	cfg["ca_file"] = nil
	if l.cert != nil {
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, l.caPEM(), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg["ca_file"] = ca
	}
	in, _ := json.Marshal(cfg)
	cmd := exec.Command(pywinrmPython, py.script)
	cmd.Env = append(os.Environ(), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"PYTHONWARNINGS=ignore", "OPENSSL_CONF="+py.opensslConf)
	cmd.Stdin = bytesReader(in)
	var stderr stringsBuilder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pywinrm: %v\n%s", err, stderr.String())
	}
	var r pyResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("pywinrm output %q: %v\n%s", out, err, stderr.String())
	}
	return r
}

func pyConfig(l *lab, transport, encryption, user, password string, commands []string) map[string]any {
	return map[string]any{
		"endpoint": l.endpoint(), "transport": transport, "user": user, "password": password,
		"encryption": encryption, "op_timeout": 1, "read_timeout": 4, "commands": commands,
	}
}

func TestPywinrm(t *testing.T) {
	t.Parallel()
	script := requirePywinrm(t)
	for _, tc := range []struct {
		name       string
		tls        bool
		transport  string
		encryption string
	}{
		{"http-basic", false, "basic", "never"},
		{"http-ntlm", false, "ntlm", "never"},
		{"https-basic", true, "basic", "never"},
		{"https-ntlm", true, "ntlm", "never"},
		{"http-ntlm-sealed", false, "ntlm", "always"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := startLab(t, tc.tls, nil)
			cases := commonCases()
			for i := range cases {
				if cases[i].line == "codepage" {
					cases[i].stdout = "437" // pywinrm's WINRS_CODEPAGE
				}
			}
			lines := make([]string, len(cases))
			for i, c := range cases {
				lines[i] = c.line
			}
			r := runPywinrm(t, script, l, pyConfig(l, tc.transport, tc.encryption, testUser, testPassword, lines))
			if r.Error != "" || len(r.Results) != len(cases) {
				t.Fatalf("pywinrm: %q, %d results", r.Error, len(r.Results))
			}
			for i, c := range cases {
				o, _ := base64.StdEncoding.DecodeString(r.Results[i].Stdout)
				e, _ := base64.StdEncoding.DecodeString(r.Results[i].Stderr)
				checkCase(t, c, o, e, r.Results[i].Code)
			}
			if l.seen(500) == 0 {
				t.Error("no TimedOut fault was answered for the command that outlasted the OperationTimeout")
			}
			if got := l.stats.Shells.Load(); got != 1 {
				t.Errorf("Shells = %d, want 1", got)
			}
		})
	}
}

func TestPywinrmWrongPassword(t *testing.T) {
	t.Parallel()
	script := requirePywinrm(t)
	for _, transport := range []string{"basic", "ntlm"} {
		t.Run(transport, func(t *testing.T) {
			l := startLab(t, false, nil)
			r := runPywinrm(t, script, l, pyConfig(l, transport, "never", testUser, "wrong", []string{"echo hi"}))
			if r.Error != "InvalidCredentialsError" {
				t.Fatalf("error = %q, want InvalidCredentialsError", r.Error)
			}
			if l.seen(401) == 0 || l.seen(200) != 0 || l.stats.Shells.Load() != 0 {
				t.Fatalf("401×%d 200×%d shells %d", l.seen(401), l.seen(200), l.stats.Shells.Load())
			}
		})
	}
}

func TestPywinrmInjectedFaults(t *testing.T) {
	t.Parallel()
	py := requirePywinrm(t)
	for _, tc := range []struct {
		name string
		spec faults.Spec
		want string
	}{
		{"http500", faults.Spec{HTTP500: 1}, "WinRMError: The WS-Management service cannot process the request because of an internal error"},
		{"drop", faults.Spec{Drop: 1}, "ConnectionError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := startLab(t, false, nil)
			l.inj.Set(tc.spec)
			r := runPywinrm(t, py, l, pyConfig(l, "basic", "never", testUser, testPassword, []string{"echo hi"}))
			if !strings.HasPrefix(r.Error, tc.want) {
				t.Fatalf("error = %q, want %s", r.Error, tc.want)
			}
			if l.stats.Shells.Load() != 0 {
				t.Fatal("a shell was created through an injected fault")
			}
		})
	}
}
