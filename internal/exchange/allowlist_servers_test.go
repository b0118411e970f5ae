package exchange

import (
	"errors"
	"strings"
	"testing"
)

// Against the lab: one launch returns what ReadAllowList and
// GetExchangeServers return separately.
func TestLabReadAllowListServers(t *testing.T) {
	e := startLab(t, 20)
	types := []string{"UserMailbox"}
	e.l.Counters().Reset()
	r, err := e.c.ReadAllowListServers(e.ctx, e.ep.AllowGroup, types, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := e.l.Stats(); st.PowerShellLaunches != 0 || st.Shells != 0 || st.Cmdlets["Get-ExchangeServer"] != 1 {
		t.Fatalf("%d launches, %d shells, Get-ExchangeServer %d times; want 0, 0, 1", st.PowerShellLaunches, st.Shells, st.Cmdlets["Get-ExchangeServer"])
	}
	g, mbx, err := e.c.ReadAllowList(e.ctx, e.ep.AllowGroup, types)
	if err != nil {
		t.Fatal(err)
	}
	servers, err := e.c.GetExchangeServers(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Servers) != len(servers) || len(r.Servers) == 0 || len(r.Mailboxes) != len(mbx) || len(r.Group.Mailboxes) != len(g.Mailboxes) || r.Group.Guid != g.Guid {
		t.Fatalf("combined read differs: %d/%d servers, %d/%d mailboxes, %+v vs %+v", len(r.Servers), len(servers), len(r.Mailboxes), len(mbx), r.Group, g)
	}
	for i := 1; i < len(r.Servers); i++ {
		if strings.ToLower(r.Servers[i-1].Name) > strings.ToLower(r.Servers[i].Name) {
			t.Fatalf("servers not sorted: %+v", r.Servers)
		}
	}
	named, err := e.c.ReadAllowListServers(e.ctx, "No Such Group", types, []string{servers[0].Name})
	if !errors.Is(err, ErrGroupNotFound) || len(named.Servers) != 1 || named.Servers[0].Name != servers[0].Name || len(named.Mailboxes) != len(mbx) {
		t.Fatalf("named, missing group: %v %+v", err, named.Servers)
	}
	if _, err := e.c.ReadAllowListServers(e.ctx, e.ep.AllowGroup, types, []string{"NOSUCHSERVER"}); err == nil {
		t.Fatal("a server name that does not resolve was accepted")
	}
}
