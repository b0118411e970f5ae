// Package labstats counts what the lab's clients make the simulated Exchange
// do (WinRM requests, shells, PowerShell launches, cmdlet calls, mailbox
// writes) and turns the counters into simulated Exchange seconds with a
// documented cost model. It is what `GET /stats` serves and what benchmarks
// and launch-count tests read.
package labstats

import (
	"sort"
	"sync"
	"sync/atomic"
)

// CostModel holds the assumed cost, in seconds, of what a real Exchange
// server does. The figures are assumptions, documented in the README:
//   - a PowerShell launch that loads the Exchange snap-in ≈ 3 s;
//   - one Set-CASMailbox ≈ 100 ms;
//   - one row returned by Get-CASMailbox ≈ 2 ms;
//   - one virtual-directory or Outlook Anywhere change ≈ 1 s.
type CostModel struct {
	PowerShellLaunch float64 `json:"powershell_launch_s"`
	SetCASMailbox    float64 `json:"set_casmailbox_s"`
	GetCASMailboxRow float64 `json:"get_casmailbox_row_s"`
	VdirChange       float64 `json:"vdir_change_s"`
}

// DefaultCost is the cost model the lab uses.
var DefaultCost = CostModel{PowerShellLaunch: 3, SetCASMailbox: 0.1, GetCASMailboxRow: 0.002, VdirChange: 1}

// Counters is safe for concurrent use. The zero value is ready.
type Counters struct {
	WinRMRequests      atomic.Int64
	Shells             atomic.Int64
	PowerShellLaunches atomic.Int64
	MailboxWrites      atomic.Int64
	CASMailboxRows     atomic.Int64
	VdirChanges        atomic.Int64

	mu      sync.Mutex
	cmdlets map[string]int64
	calls   []Call
	keep    int
}

// Call is one cmdlet invocation as the interpreter bound it: the cmdlet name
// and the parameter names, with their values rendered as text. The log is
// what the hostile-name tests read to prove that no value became code.
type Call struct {
	Cmdlet string            `json:"cmdlet"`
	Params map[string]string `json:"params,omitempty"`
}

// Stats is a point-in-time copy of the counters with the simulated cost.
type Stats struct {
	WinRMRequests      int64            `json:"winrm_requests"`
	Shells             int64            `json:"shells"`
	PowerShellLaunches int64            `json:"powershell_launches"`
	MailboxWrites      int64            `json:"mailbox_writes"`
	CASMailboxRows     int64            `json:"casmailbox_rows"`
	VdirChanges        int64            `json:"vdir_changes"`
	Cmdlets            map[string]int64 `json:"cmdlets"`
	SimulatedSeconds   float64          `json:"simulated_exchange_seconds"`
	Cost               CostModel        `json:"cost_model"`
}

// KeepCalls makes the counters keep the last n cmdlet calls (0: none).
func (c *Counters) KeepCalls(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keep = n
	if len(c.calls) > n {
		c.calls = append([]Call(nil), c.calls[len(c.calls)-n:]...)
	}
}

// Cmdlet counts one call of the named cmdlet and, if calls are kept, logs it.
func (c *Counters) Cmdlet(name string, params map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmdlets == nil {
		c.cmdlets = map[string]int64{}
	}
	c.cmdlets[name]++
	if c.keep > 0 {
		if len(c.calls) >= c.keep {
			c.calls = c.calls[1:]
		}
		c.calls = append(c.calls, Call{Cmdlet: name, Params: params})
	}
}

// Calls returns a copy of the kept cmdlet calls, oldest first.
func (c *Counters) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Call(nil), c.calls...)
}

// Reset zeroes every counter and forgets the kept calls.
func (c *Counters) Reset() {
	c.WinRMRequests.Store(0)
	c.Shells.Store(0)
	c.PowerShellLaunches.Store(0)
	c.MailboxWrites.Store(0)
	c.CASMailboxRows.Store(0)
	c.VdirChanges.Store(0)
	c.mu.Lock()
	c.cmdlets = nil
	c.calls = nil
	c.mu.Unlock()
}

// Snapshot copies the counters and prices them with DefaultCost.
func (c *Counters) Snapshot() Stats {
	s := Stats{
		WinRMRequests:      c.WinRMRequests.Load(),
		Shells:             c.Shells.Load(),
		PowerShellLaunches: c.PowerShellLaunches.Load(),
		MailboxWrites:      c.MailboxWrites.Load(),
		CASMailboxRows:     c.CASMailboxRows.Load(),
		VdirChanges:        c.VdirChanges.Load(),
		Cmdlets:            map[string]int64{},
		Cost:               DefaultCost,
	}
	c.mu.Lock()
	for k, v := range c.cmdlets {
		s.Cmdlets[k] = v
	}
	c.mu.Unlock()
	s.SimulatedSeconds = s.Cost.Price(s)
	return s
}

// Price turns counters into simulated Exchange seconds.
func (m CostModel) Price(s Stats) float64 {
	return float64(s.PowerShellLaunches)*m.PowerShellLaunch +
		float64(s.Cmdlets["Set-CASMailbox"])*m.SetCASMailbox +
		float64(s.CASMailboxRows)*m.GetCASMailboxRow +
		float64(s.VdirChanges)*m.VdirChange
}

// CmdletNames lists the cmdlets called so far, sorted.
func (s Stats) CmdletNames() []string {
	names := make([]string, 0, len(s.Cmdlets))
	for k := range s.Cmdlets {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
