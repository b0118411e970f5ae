package exchange

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

// fakePipes answers pipelines by their rendered text and records every
// pipeline sent, with the input piped into it.
type fakePipes struct {
	mu      sync.Mutex
	answers map[string]func(input []psrp.Value) (*psrp.Result, error)
	sent    []string
}

func newFakePipes() *fakePipes {
	return &fakePipes{answers: map[string]func([]psrp.Value) (*psrp.Result, error){}}
}

// on answers the pipeline rendered as text with output objects.
func (f *fakePipes) on(text string, out ...psrp.Value) *fakePipes {
	f.answers[text] = func([]psrp.Value) (*psrp.Result, error) { return &psrp.Result{Output: out}, nil }
	return f
}

func (f *fakePipes) onFunc(text string, fn func(input []psrp.Value) (*psrp.Result, error)) *fakePipes {
	f.answers[text] = fn
	return f
}

func (f *fakePipes) Run(_ context.Context, pl psrp.Pipeline, input []psrp.Value) (*psrp.Result, error) {
	text := pl.String()
	f.mu.Lock()
	line := text
	if input != nil {
		line = fmt.Sprintf("<%d input> | %s", len(input), text)
	}
	f.sent = append(f.sent, line)
	fn := f.answers[text]
	f.mu.Unlock()
	if fn == nil {
		return nil, fmt.Errorf("unexpected pipeline: %s", text)
	}
	return fn(input)
}

// obj is a Select-Object output object with the given properties.
func obj(kv ...any) *psrp.Object {
	o := &psrp.Object{TypeNames: []string{"Selected.Microsoft.Exchange.Data.Directory.Management.Thing", "System.Management.Automation.PSCustomObject", "System.Object"}}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Extended = append(o.Extended, psrp.Property{Name: kv[i].(string), Value: kv[i+1]})
	}
	return o
}

func gid(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func guidv(n int) uuid.UUID { return uuid.MustParse(gid(n)) }

// checkPipelineGolden compares the pipelines sent with
// testdata/pipelines/<name>.txt (rewritten with -update).
func checkPipelineGolden(t *testing.T, name string, sent []string) {
	t.Helper()
	path := filepath.Join("testdata", "pipelines", name+".txt")
	got := strings.Join(sent, "\n") + "\n"
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/exchange -update)", err)
	}
	if string(want) != got {
		t.Fatalf("pipelines differ from %s (run with -update if intended):\ngot:\n%swant:\n%s", path, got, want)
	}
}

var update = flag.Bool("update", false, "rewrite testdata/pipelines/*.txt")

func strp(s string) *string { return &s }
