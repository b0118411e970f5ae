package steps

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/exchange"
)

// Deps is what step factories get: the configuration and the clients the
// steps share. It is a struct so that clients can be added as fields
// without changing the Factory signature.
type Deps struct {
	// Config is the validated configuration.
	Config *config.Config
	// AllowEmptyGroup is `run --allow-empty-group`: block-mailboxes may
	// proceed with an empty or missing allow group.
	AllowEmptyGroup bool
	// Runner, when set, runs the Exchange pipelines instead of the PSRP
	// session built from Config (tests).
	Runner exchange.PipelineRunner
	// StateDir is the state directory (--state-dir): the acme mode keeps
	// its account key there.
	StateDir string
	// DNSAPITransport, when set, carries the requests to a DNS provider's
	// API (public_dns.mode cloudflare, ...) instead of the default
	// TLS-verified transport (tests and the lab route them to fakes).
	DNSAPITransport http.RoundTripper
	// OnSessionReopen, when set, is told of every reopen of the Exchange
	// session after a broken one, with the error that broke it (the
	// server's words in it); the CLI journals it. Set it before the first
	// step runs.
	OnSessionReopen func(cause error)

	clients clients // lazily created, shared by every step; see deps.go
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
