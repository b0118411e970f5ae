package archtest

import (
	"bufio"
	"bytes"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// belowEngine are the packages (relative to the module) that must not
// import internal/engine, directly or through another package.
var belowEngine = []string{
	"internal/wsman",
	"internal/psrp",
	"internal/exchange",
	"internal/allowlist",
	"checks",
	"internal/check",
	"internal/errkind",
}

// labShared are the module's packages outside internal/lab that the lab may
// import, each for a reason; every other package of the module belongs to
// the orchestrator.
var labShared = map[string]string{
	// The PowerShell Remoting Protocol codec: the client writes the
	// messages the lab's runspace reads, and the other way round.
	"internal/psrp": "PSRP message codec spoken by both ends",
	// The Kerberos initiator and acceptor and the WinRM wrap-token
	// sealing: the lab's WS-Management server is the acceptor.
	"internal/kerberos": "Kerberos/SPNEGO handshake and message sealing, both sides",
	// The error kinds: exlab marks its usage errors (exit 2) as exrunbook does.
	"internal/errkind": "error kinds shared by every layer",
	// The zone-file form of a DNS character-string: the Azure DNS
	// provider and the lab's fake of its API turn TXT values between the
	// API's raw strings and presentation form the same way.
	"internal/dnstext": "DNS character-string codec spoken by both ends of a provider API",
	// The namespaces and actions of WS-Management: the client writes the
	// requests the lab's WinRM server reads.
	"internal/wsmv": "WS-Management vocabulary spoken by both ends",
}

// graph is the module's import graph: each package (relative to the
// module, "" for its root) with the module's packages it depends on,
// transitively, without tests (go list's Deps, the set -deps prints).
type graph struct {
	module string
	deps   map[string][]string
}

func loadGraph(t *testing.T) graph {
	t.Helper()
	mod, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	path, root, ok := strings.Cut(strings.TrimSpace(string(mod)), " ")
	if !ok {
		t.Fatalf("go list -m printed %q, want the module path and directory", mod)
	}
	readSources(t, root)
	g := graph{module: path, deps: map[string][]string{}}
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, g.module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s/...: %v\n%s", g.module, err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		pkg, ok := g.rel(fields[0])
		if !ok {
			continue
		}
		var own []string
		for _, d := range fields[1:] {
			if r, ok := g.rel(d); ok {
				own = append(own, r)
			}
		}
		g.deps[pkg] = own
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(g.deps) == 0 {
		t.Fatalf("go list %s/... listed no package", g.module)
	}
	return g
}

// readSources reads every Go file and directory of the module. go test
// caches a passing result keyed on the files the test itself opened, and
// does not see what the go list it runs reads: without this, a new import
// would not re-run the test.
func readSources(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") || name == "go.mod" {
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatalf("reading the module's sources: %v", err)
	}
}

// rel returns path relative to the module, and whether it is in the module.
func (g graph) rel(path string) (string, bool) {
	if path == g.module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, g.module+"/")
	return r, ok
}

func TestNothingBelowTheEngineImportsIt(t *testing.T) {
	g := loadGraph(t)
	for _, pkg := range belowEngine {
		deps, ok := g.deps[pkg]
		if !ok {
			t.Errorf("package %s is not in the module: update belowEngine", pkg)
			continue
		}
		for _, d := range deps {
			if d == "internal/engine" {
				t.Errorf("%s imports internal/engine (directly or through another package); it must sit below the orchestrator: use internal/errkind for error kinds and internal/check for check verdicts", pkg)
			}
		}
	}
}

func TestLabImportsNoOrchestratorPackage(t *testing.T) {
	g := loadGraph(t)
	var lab []string
	for pkg := range g.deps {
		if isLab(pkg) {
			lab = append(lab, pkg)
		}
	}
	slices.Sort(lab)
	if len(lab) < 2 || !slices.Contains(lab, "internal/lab") || !slices.Contains(lab, "cmd/exlab") {
		t.Fatalf("the lab's packages were not found (got %v)", lab)
	}
	for _, pkg := range lab {
		for _, d := range g.deps[pkg] {
			if isLab(d) {
				continue
			}
			if _, ok := labShared[d]; ok {
				continue
			}
			t.Errorf("%s imports %s, a package of the orchestrator (directly or through another package); the lab may share only %v", pkg, d, slices.Sorted(maps.Keys(labShared)))
		}
	}
}

// isLab reports whether pkg is part of the simulated lab.
func isLab(pkg string) bool {
	return pkg == "internal/lab" || strings.HasPrefix(pkg, "internal/lab/") || pkg == "cmd/exlab"
}
