package steps

import (
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
)

// testDeps is the Deps a command would build over cfg, with the clients'
// options o (a fake Runner, a DNS API transport).
func testDeps(cfg *config.Config, o clients.Options) *Deps {
	return NewDeps(clients.New(cfg, o), DepsOptions{})
}
