package steps

import (
	"reflect"
	"testing"

	"github.com/exrunbook/exrunbook/internal/engine"
)

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	if len(r.Kinds()) != 0 {
		t.Fatal("new registry not empty")
	}
	f := func(id string, with map[string]any, deps *Deps) (engine.Step, error) { return nil, nil }
	r.Register("zeta", f)
	r.Register("alpha", f)
	if got := r.Kinds(); !reflect.DeepEqual(got, []string{"alpha", "zeta"}) {
		t.Errorf("Kinds = %v", got)
	}
	if _, ok := r.Lookup("alpha"); !ok {
		t.Error("alpha not found")
	}
	if _, ok := r.Lookup("beta"); ok {
		t.Error("beta found")
	}
	for name, fn := range map[string]func(){
		"duplicate":   func() { r.Register("alpha", f) },
		"empty kind":  func() { r.Register("", f) },
		"nil factory": func() { r.Register("x", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			fn()
		}()
	}
	if Default() == nil || Default() == r {
		t.Error("Default registry")
	}
}
