package runspace

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/wsman"
)

// interopScript runs pipelines of the fake endpoint through pypsrp over
// http with NTLM message encryption: input streamed into Echo, a
// SecureString after the key exchange, a failing pipeline, and a stop.
const interopScript = `
import json, sys, time
from pypsrp.complex_objects import ObjectMeta
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan
job = json.load(sys.stdin)
with open(job["password_file"]) as f:
    password = f.read()
wsman = WSMan("127.0.0.1", port=job["port"], path="PowerShell/", ssl=False, auth="ntlm", encryption="auto",
              username="CONTOSO\\Administrator", password=password, operation_timeout=5, read_timeout=10)
out = {}
with RunspacePool(wsman, configuration_name="Microsoft.Exchange", max_runspaces=2) as rp:
    ps = PowerShell(rp)
    ps.add_cmdlet("Echo")
    res = ps.invoke(input=["one", 2, "x" * 200000])
    out["echo"] = [str(v) if not isinstance(v, int) else v for v in res[:2]] + [len(res[2])]
    out["echo_warnings"] = [str(w.message) for w in ps.streams.warning]
    out["echo_errors"] = [str(e) for e in ps.streams.error]
    rp.exchange_keys()
    ps = PowerShell(rp)
    ps.add_cmdlet("Secret").add_parameter("V", rp.serialize("pfx pässword", ObjectMeta("SS")))
    out["secret"] = ps.invoke()
    ps = PowerShell(rp)
    ps.add_cmdlet("Fail")
    ps.invoke()
    out["fail"] = {"state": ps.state, "fq": [e.fq_error for e in ps.streams.error]}
    ps = PowerShell(rp)
    ps.add_cmdlet("Block")
    ps.begin_invoke()
    time.sleep(0.2)
    ps.stop()
    out["stop"] = ps.state
print(json.dumps(out))
`

func TestPypsrpInterop(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import pypsrp, spnego").Run()
	}
	if err != nil {
		if os.Getenv("EXRUNBOOK_REQUIRE_PEERS") == "1" {
			t.Fatalf("pypsrp is required (EXRUNBOOK_REQUIRE_PEERS=1): %v", err)
		}
		t.Skipf("pypsrp is not importable by python3: %v", err)
	}
	stats := &labstats.Counters{}
	host, err := New(Options{Endpoint: &fakeEndpoint{}, Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	const password = `Pa$$w0rd;"x`
	srv := wsman.NewServer(wsman.Options{Users: map[string]string{`CONTOSO\Administrator`: password}, Domain: "CONTOSO",
		AllowNTLM: true, Stats: stats, PSRP: wsman.PSRPOptions{Host: host}})
	defer srv.Close()
	mux := http.NewServeMux()
	mux.Handle("/PowerShell/", srv.PowerShell())
	hs := &http.Server{Handler: mux}
	srv.ConfigureHTTPServer(hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	defer hs.Close()
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte(password), 0o600)
	job, _ := json.Marshal(map[string]any{"port": ln.Addr().(*net.TCPAddr).Port, "password_file": pwFile})
	cmd := exec.Command(py, "-c", interopScript)
	cmd.Stdin = bytes.NewReader(job)
	cmd.Env = append(os.Environ(), "NO_PROXY=*", "no_proxy=*")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("pypsrp: %v\n%s", err, stderr.String())
	}
	var out struct {
		Echo         []any    `json:"echo"`
		EchoWarnings []string `json:"echo_warnings"`
		EchoErrors   []string `json:"echo_errors"`
		Secret       []string `json:"secret"`
		Fail         struct {
			State int      `json:"state"`
			FQ    []string `json:"fq"`
		} `json:"fail"`
		Stop int `json:"stop"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	if len(out.Echo) != 3 || out.Echo[0] != "one" || out.Echo[1] != float64(2) || out.Echo[2] != float64(200000) {
		t.Errorf("echo = %v", out.Echo)
	}
	if len(out.EchoWarnings) != 1 || out.EchoWarnings[0] != "careful" || len(out.EchoErrors) != 1 || !strings.Contains(out.EchoErrors[0], "one bad") {
		t.Errorf("echo streams: %q %q", out.EchoWarnings, out.EchoErrors)
	}
	if len(out.Secret) != 1 || out.Secret[0] != "pfx pässword" {
		t.Errorf("secret = %q", out.Secret)
	}
	if out.Fail.State != 5 || len(out.Fail.FQ) != 1 || out.Fail.FQ[0] != "ScriptsNotAllowed" {
		t.Errorf("fail = %+v", out.Fail)
	}
	if out.Stop != 3 {
		t.Errorf("state after stop = %d, want 3 (Stopped)", out.Stop)
	}
	if s := stats.Snapshot(); s.EncryptedBodies == 0 || s.PlainBodies != 0 || s.PSRPPools != 1 {
		t.Errorf("stats %+v", s)
	}
}
