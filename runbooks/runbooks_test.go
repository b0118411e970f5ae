package runbooks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/steps"
)

// The split-namespace step ids and their order are an interface.
var splitNamespaceIDs = []string{"certificate", "bind-certificate", "external-urls", "autodiscover-wait", "public-dns", "mapi-http", "block-mailboxes"}

func TestBuiltinSplitNamespace(t *testing.T) {
	def, err := Builtin(DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range def.Steps {
		ids = append(ids, s.ID)
		if s.Kind != s.ID {
			t.Errorf("step %s has kind %s; the built-in kinds are named like the ids", s.ID, s.Kind)
		}
		if s.Title == s.ID || s.Line == 0 {
			t.Errorf("step %s: title %q line %d", s.ID, s.Title, s.Line)
		}
	}
	if !reflect.DeepEqual(ids, splitNamespaceIDs) {
		t.Errorf("ids = %v, want %v", ids, splitNamespaceIDs)
	}
	if def.Name != "split-namespace" || def.Source != "split-namespace.yaml" || len(def.Hash) != 64 {
		t.Errorf("def = %+v", def)
	}
	if got := Names(); !reflect.DeepEqual(got, []string{"split-namespace"}) {
		t.Errorf("Names() = %v", got)
	}
	if _, err := Builtin("nope"); err == nil || !strings.Contains(err.Error(), "split-namespace") {
		t.Errorf("unknown builtin: %v", err)
	}
}

// fakeStep is a do-nothing step for binding tests.
type fakeStep struct{ id string }

func (fakeStep) Capture(context.Context, engine.Env) (engine.Snapshot, error) { return nil, nil }
func (fakeStep) Plan(context.Context, engine.Env, engine.Snapshot) (engine.Plan, error) {
	return engine.Plan{}, nil
}
func (fakeStep) PreChecks(engine.Env, engine.Snapshot) []engine.Check { return nil }
func (fakeStep) Apply(context.Context, engine.Env, engine.Snapshot) (engine.Outcome, error) {
	return engine.Outcome{}, nil
}
func (fakeStep) PostChecks(engine.Env, engine.Snapshot) []engine.Check       { return nil }
func (fakeStep) Rollback(context.Context, engine.Env, engine.Snapshot) error { return nil }

func TestBind(t *testing.T) {
	def, err := Builtin(DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	reg := steps.NewRegistry()
	// Before any kind is registered, binding fails naming every missing kind.
	_, err = Bind(def, reg, &steps.Deps{})
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("want *Error, got %v", err)
	}
	wantMissing := append([]string(nil), splitNamespaceIDs...)
	sortStrings(wantMissing)
	if !reflect.DeepEqual(re.Missing, wantMissing) {
		t.Errorf("Missing = %v, want %v", re.Missing, wantMissing)
	}
	if !strings.Contains(err.Error(), "split-namespace.yaml:9: step certificate: kind \"certificate\" is not available") ||
		!strings.Contains(err.Error(), "step kinds not available in this build: autodiscover-wait, bind-certificate") {
		t.Errorf("message: %v", err)
	}
	var gotWith []map[string]any
	for _, k := range splitNamespaceIDs[:6] {
		reg.Register(k, func(id string, with map[string]any, deps *steps.Deps) (engine.Step, error) {
			gotWith = append(gotWith, with)
			return fakeStep{id}, nil
		})
	}
	_, err = Bind(def, reg, &steps.Deps{})
	if !errors.As(err, &re) || !reflect.DeepEqual(re.Missing, []string{"block-mailboxes"}) || len(re.Problems) != 1 {
		t.Fatalf("one missing: %v", err)
	}
	reg.Register("block-mailboxes", func(id string, with map[string]any, deps *steps.Deps) (engine.Step, error) {
		return nil, errors.New("bad parameter batch")
	})
	_, err = Bind(def, reg, &steps.Deps{})
	if err == nil || !strings.Contains(err.Error(), "split-namespace.yaml:33: step block-mailboxes (block-mailboxes): bad parameter batch") {
		t.Fatalf("factory error: %v", err)
	}
	reg2 := steps.NewRegistry()
	for _, k := range splitNamespaceIDs {
		reg2.Register(k, func(id string, with map[string]any, deps *steps.Deps) (engine.Step, error) { return fakeStep{id}, nil })
	}
	rb, err := Bind(def, reg2, &steps.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if rb.Name != "split-namespace" || len(rb.Steps) != 7 || rb.Steps[3].Approval != "auto" || rb.Steps[0].Approval != "required" {
		t.Errorf("rb = %+v", rb)
	}
	for i, s := range rb.Steps {
		if s.ID != splitNamespaceIDs[i] || s.Step.(fakeStep).id != s.ID {
			t.Errorf("step %d = %+v", i, s)
		}
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"syntax", "name: x\nsteps: [\n", 2, "invalid YAML"},
		{"not a mapping", "- a\n", 1, "a runbook is a mapping"},
		{"no name", "steps:\n  - {id: a, kind: a}\n", 1, "has no name"},
		{"bad name", "name: Split Namespace\nsteps:\n  - {id: a, kind: a}\n", 1, "runbook name \"Split Namespace\" is not valid"},
		{"unknown top field", "name: x\nstep:\n  - {id: a, kind: a}\n", 2, "unknown runbook field \"step\"; expected one of name, description, steps (did you mean steps?)"},
		{"no steps", "name: x\n", 1, "has no steps"},
		{"steps not a list", "name: x\nsteps: {id: a}\n", 2, "steps must be a list"},
		{"empty steps", "name: x\nsteps: []\n", 2, "expected at least one"},
		{"step not a mapping", "name: x\nsteps:\n  - certificate\n", 3, "a step must be a mapping"},
		{"duplicate id", "name: x\nsteps:\n  - {id: a, kind: a}\n  - {id: b, kind: b}\n  - {id: a, kind: c}\n", 5, "duplicate step id \"a\" (first defined on line 3)"},
		{"unknown step field", "name: x\nsteps:\n  - id: a\n    kind: a\n    aproval: auto\n", 5, "unknown step field \"aproval\"; expected one of id, kind, title, approval, with (did you mean approval?)"},
		{"missing id", "name: x\nsteps:\n  - kind: a\n", 3, "has no id"},
		{"bad id", "name: x\nsteps:\n  - {id: Cert_1, kind: a}\n", 3, "step id \"Cert_1\" is not valid"},
		{"missing kind", "name: x\nsteps:\n  - id: a\n", 3, "step a has no kind"},
		{"bad approval", "name: x\nsteps:\n  - {id: a, kind: a, approval: never}\n", 3, "approval \"never\" is not valid; expected required or auto"},
		{"with not a map", "name: x\nsteps:\n  - {id: a, kind: a, with: [1]}\n", 3, "with must be a mapping"},
		{"duplicate field", "name: x\nname: y\nsteps:\n  - {id: a, kind: a}\n", 2, "duplicate field \"name\" (first on line 1)"},
		{"title not a string", "name: x\nsteps:\n  - id: a\n    kind: a\n    title: [x]\n", 5, "title must be a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("rb.yaml", []byte(c.yaml))
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("want *Error, got %v", err)
			}
			found := false
			for _, p := range re.Problems {
				if p.Line == c.line && strings.Contains(p.Message, c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("no problem at rb.yaml:%d containing %q in:\n%v", c.line, c.want, err)
			}
			if !strings.Contains(err.Error(), "rb.yaml:") {
				t.Errorf("error lacks the file: %v", err)
			}
		})
	}
}

func TestParseWithAndDefaults(t *testing.T) {
	def, err := Parse("rb.yaml", []byte("name: x\nsteps:\n  - id: a\n    kind: k\n    with: {n: 3, names: [p, q]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := def.Steps[0]
	if s.Title != "a" || s.Approval != "required" || !reflect.DeepEqual(s.With, map[string]any{"n": 3, "names": []any{"p", "q"}}) {
		t.Errorf("step = %+v", s)
	}
}

func TestLoadFileAndHash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "custom.yaml")
	data := []byte("name: custom\nsteps:\n  - {id: one, kind: k}\n")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	def, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if def.Source != path || def.Hash != Hash(data) || Hash(data) == Hash(append(data, ' ')) {
		t.Errorf("def = %+v", def)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	seed, _ := builtin.ReadFile("split-namespace.yaml")
	f.Add(seed)
	f.Add([]byte("name: x\nsteps:\n  - {id: a, kind: a, with: {x: &y [*y]}}\n"))
	f.Add([]byte("name: x\nsteps: [{id: a}, {id: a}, 3, [1]]\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := Parse("f.yaml", data)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || len(re.Problems) == 0 {
				t.Fatalf("not a *runbooks.Error: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, s := range def.Steps {
			if s.ID == "" || s.Kind == "" || seen[s.ID] || (s.Approval != "required" && s.Approval != "auto") {
				t.Fatalf("Parse accepted a bad step %+v", s)
			}
			seen[s.ID] = true
		}
	})
}
