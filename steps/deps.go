package steps

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/exrunbook/exrunbook/internal/exchange"
)

// runCache is what one run has learnt of Exchange, shared by every step
// of the run: the servers in scope and the step kinds whose permissions
// were checked. The clients themselves come from Deps.Clients.
type runCache struct {
	mu sync.Mutex
	// permitted: the step kinds whose permissions were checked.
	permitted map[string]bool
	servers   []exchange.Server
}

// Servers returns the servers in scope: the ones exchange.servers names,
// or every server Get-ExchangeServer returns. It asks Exchange once per run.
func (d *Deps) Servers(ctx context.Context) ([]exchange.Server, error) {
	d.run.mu.Lock()
	cached := d.run.servers
	d.run.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	ex, err := d.Clients.Exchange()
	if err != nil {
		return nil, err
	}
	servers, err := ex.GetExchangeServers(ctx, d.Config.Exchange.Servers)
	if err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("no Exchange server in scope: Get-ExchangeServer returned none")
	}
	sort.Slice(servers, func(i, j int) bool { return strings.ToLower(servers[i].Name) < strings.ToLower(servers[j].Name) })
	d.run.mu.Lock()
	d.run.servers = servers
	d.run.mu.Unlock()
	return servers, nil
}

// ServerNames lists the names of servers.
func ServerNames(servers []exchange.Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Name
	}
	return out
}

// RequirePermissions checks once per run, before the step of kind reads
// or changes anything, that the signed-in account may run every cmdlet
// and parameter the step needs (exchange.StepNeeds), and names what is
// missing with the role that grants it.
func (d *Deps) RequirePermissions(ctx context.Context, kind string) error {
	needs := exchange.StepNeeds[kind]
	if len(needs) == 0 {
		return nil
	}
	d.run.mu.Lock()
	done := d.run.permitted[kind]
	d.run.mu.Unlock()
	if done {
		return nil
	}
	ex, err := d.Clients.Exchange()
	if err != nil {
		return err
	}
	missing, err := ex.CheckPermissions(ctx, needs)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		names := make([]string, len(missing))
		for i, m := range missing {
			names[i] = m.String()
		}
		return fmt.Errorf("permissions: the account %s may not run what step %s needs on the Exchange endpoint: %s (`exrunbook permissions` lists every step's cmdlets and roles)",
			d.Config.Exchange.User, kind, strings.Join(names, ", "))
	}
	d.run.mu.Lock()
	if d.run.permitted == nil {
		d.run.permitted = map[string]bool{}
	}
	d.run.permitted[kind] = true
	d.run.mu.Unlock()
	return nil
}
