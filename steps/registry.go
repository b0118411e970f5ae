package steps

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
)

// Deps is what step factories get: the configuration, the factory of the
// clients the steps share, and the run's options. A command builds it
// whole, once, with NewDeps.
type Deps struct {
	// Clients builds the clients the steps talk through (Exchange, DNS,
	// TLS and Autodiscover probes) from the configuration.
	Clients *clients.Factory
	// Config is the validated configuration, Clients.Config().
	Config *config.Config
	// AllowEmptyGroup is `run --allow-empty-group`: block-mailboxes may
	// proceed with an empty or missing allow group.
	AllowEmptyGroup bool
	// StateDir is the state directory (--state-dir): the acme mode keeps
	// its account key there.
	StateDir string

	run runCache // what this run has learnt of Exchange; see deps.go
}

// DepsOptions are the run's options the steps read besides the clients.
type DepsOptions struct {
	AllowEmptyGroup bool
	StateDir        string
}

// NewDeps returns the dependencies of the steps of one command, over the
// command's clients.
func NewDeps(c *clients.Factory, o DepsOptions) *Deps {
	return &Deps{Clients: c, Config: c.Config(), AllowEmptyGroup: o.AllowEmptyGroup, StateDir: o.StateDir}
}

// Factory builds one step of kind for the runbook step id, from the
// step's `with:` parameters (nil when the runbook gives none).
type Factory func(id string, with map[string]any, deps *Deps) (engine.Step, error)

// Registry maps step kinds to their factories. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	kinds map[string]Factory
}

// NewRegistry returns an empty registry (tests use their own).
func NewRegistry() *Registry { return &Registry{kinds: map[string]Factory{}} }

// Register adds kind. Registering a kind twice, an empty kind or a nil
// factory is a programming error and panics.
func (r *Registry) Register(kind string, f Factory) {
	if kind == "" || f == nil {
		panic("steps: Register needs a kind and a factory")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.kinds[kind]; dup {
		panic(fmt.Sprintf("steps: kind %q registered twice", kind))
	}
	r.kinds[kind] = f
}

// Lookup returns the factory of kind.
func (r *Registry) Lookup(kind string) (Factory, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.kinds[kind]
	return f, ok
}

// Kinds returns the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var defaultRegistry = NewRegistry()

// Default is the registry that the step files register into.
func Default() *Registry { return defaultRegistry }

// Register adds kind to the default registry; step files call it from init().
func Register(kind string, f Factory) { defaultRegistry.Register(kind, f) }

// Lookup finds kind in the default registry.
func Lookup(kind string) (Factory, bool) { return defaultRegistry.Lookup(kind) }

// Kinds lists the default registry's kinds, sorted.
func Kinds() []string { return defaultRegistry.Kinds() }

// configOnly checks what every built-in kind needs from its factory's
// arguments: a configuration, and no `with:` parameters, since each kind is
// configured by a section of the config (named in the refusal).
func configOnly(id, kind, section string, with map[string]any, deps *Deps) error {
	if len(with) > 0 {
		names := make([]string, 0, len(with))
		for k := range with {
			names = append(names, k)
		}
		sort.Strings(names)
		return fmt.Errorf("step %s (%s) takes no parameters; it is configured by %s in the config (got with: %s)", id, kind, section, strings.Join(names, ", "))
	}
	if deps == nil || deps.Config == nil {
		return fmt.Errorf("step %s (%s): no configuration", id, kind)
	}
	return nil
}
