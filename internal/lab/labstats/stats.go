// Package labstats counts what the lab's clients make the simulated Exchange
// do (WS-Management requests, sessions, pipelines, PowerShell launches,
// cmdlet calls, rows, mailbox writes) and turns the counters into simulated
// Exchange seconds with a documented cost model. It is what `GET /stats`
// serves and what benchmarks and launch-count tests read.
//
// # Cost model
//
// The lab answers in microseconds; a real Exchange server does not. The
// cost model prices the counters in simulated Exchange seconds with these
// assumptions:
//
//   - opening a session costs ≈ 3 s: a remote PowerShell session (PSRP
//     runspace pool on /PowerShell/, where Exchange loads the user's RBAC
//     roles and builds the cmdlet proxies) or a powershell.exe launch in a
//     WinRS shell that loads the Exchange snap-in;
//   - a pipeline costs ≈ 50 ms of overhead (CREATE_PIPELINE to the terminal
//     state, besides its cmdlets' own work);
//   - Set-CASMailbox costs ≈ 100 ms per mailbox: per call, or per mailbox
//     written when calls wrote more mailboxes than they were (identities
//     streamed as input into one Set-CASMailbox of a PSRP pipeline);
//   - Get-CASMailbox costs ≈ 2 ms per row returned;
//   - a virtual-directory or Outlook Anywhere change costs ≈ 1 s.
//
// simulated_exchange_seconds is the sum: the work the server does.
// simulated_elapsed_seconds is the time a client waits for it. Pipelines
// that run at the same time in one pool overlap, up to the throttling
// policy's limit (OverlapLimit = PowerShellMaxConcurrency, 18): each
// pipeline records how many of its pool's pipelines were running when it
// started (itself included, capped at the limit), and the pipeline-bound
// work (pipelines, and the cmdlet work when any pipeline ran) is divided
// by the mean of those counts. Session opens never overlap. A client that
// runs one pipeline at a time waits exactly the work.
package labstats

import (
	"sort"
	"sync"
	"sync/atomic"
)

// OverlapLimit caps how many pipelines of one pool the cost model lets
// overlap: Exchange's default PowerShellMaxConcurrency.
const OverlapLimit = 18

// CostModel holds the assumed cost, in seconds, of what a real Exchange
// server does (see the package doc).
type CostModel struct {
	PowerShellLaunch float64 `json:"powershell_launch_s"` // a session open: PSRP pool or powershell.exe launch
	Pipeline         float64 `json:"pipeline_s"`
	SetCASMailbox    float64 `json:"set_casmailbox_s"`
	GetCASMailboxRow float64 `json:"get_casmailbox_row_s"`
	VdirChange       float64 `json:"vdir_change_s"`
}

// DefaultCost is the cost model the lab uses.
var DefaultCost = CostModel{PowerShellLaunch: 3, Pipeline: 0.05, SetCASMailbox: 0.1, GetCASMailboxRow: 0.002, VdirChange: 1}

// Counters is safe for concurrent use. The zero value is ready.
type Counters struct {
	// WinRMRequests counts every WS-Management HTTP request (/wsman and
	// /PowerShell/).
	WinRMRequests atomic.Int64
	// Shells counts WinRS cmd shells opened; PSRPPools PSRP runspace
	// pools opened (sessions on /PowerShell/).
	Shells    atomic.Int64
	PSRPPools atomic.Int64
	// PowerShellLaunches counts powershell.exe runs in WinRS shells.
	PowerShellLaunches atomic.Int64
	// Pipelines counts PSRP pipelines created (use PipelineStarted);
	// Rows the PIPELINE_OUTPUT objects they returned.
	Pipelines atomic.Int64
	Rows      atomic.Int64
	// ScriptsRefused counts pipelines refused for script text
	// (ScriptsNotAllowed).
	ScriptsRefused atomic.Int64
	// EncryptedBodies and PlainBodies count the WS-Management request
	// bodies that came sealed (NTLM message encryption) and in the clear.
	EncryptedBodies atomic.Int64
	PlainBodies     atomic.Int64
	MailboxWrites   atomic.Int64
	CASMailboxRows  atomic.Int64
	VdirChanges     atomic.Int64
	// overlapSum is the sum over pipelines of the capped number of their
	// pool's pipelines running at their start.
	overlapSum atomic.Int64

	mu      sync.Mutex
	cmdlets map[string]int64
	calls   []Call
	keep    int
}

// PipelineStarted counts a pipeline that starts while running pipelines
// of its pool (itself included) are running.
func (c *Counters) PipelineStarted(running int) {
	c.Pipelines.Add(1)
	c.overlapSum.Add(int64(max(1, min(running, OverlapLimit))))
}

// Call is one cmdlet invocation as the interpreter bound it: the cmdlet name
// and the parameter names, with their values rendered as text. The log is
// what the hostile-name tests read to prove that no value became code.
type Call struct {
	Cmdlet string            `json:"cmdlet"`
	Params map[string]string `json:"params,omitempty"`
	// Piped marks the entry of one pipeline input object: the parameters
	// as bound for that object (Identity taken from the input). It is
	// not a call of its own and not counted in Cmdlets.
	Piped bool `json:"piped,omitempty"`
}

// Stats is a point-in-time copy of the counters with the simulated cost.
type Stats struct {
	WinRMRequests      int64            `json:"winrm_requests"`
	Shells             int64            `json:"shells"`
	PSRPPools          int64            `json:"psrp_pools"`
	PowerShellLaunches int64            `json:"powershell_launches"`
	Pipelines          int64            `json:"pipelines"`
	Rows               int64            `json:"rows"`
	ScriptsRefused     int64            `json:"scripts_refused"`
	EncryptedBodies    int64            `json:"encrypted_bodies"`
	PlainBodies        int64            `json:"plain_bodies"`
	MailboxWrites      int64            `json:"mailbox_writes"`
	CASMailboxRows     int64            `json:"casmailbox_rows"`
	VdirChanges        int64            `json:"vdir_changes"`
	Cmdlets            map[string]int64 `json:"cmdlets"`
	// MeanOverlap is the mean number of a pool's pipelines running
	// together (1 when none ran).
	MeanOverlap             float64   `json:"mean_pipeline_overlap"`
	SimulatedSeconds        float64   `json:"simulated_exchange_seconds"`
	SimulatedElapsedSeconds float64   `json:"simulated_elapsed_seconds"`
	Cost                    CostModel `json:"cost_model"`
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

// PipedInput logs the parameters a cmdlet bound for one pipeline input
// object (kept with the calls, not counted as a call).
func (c *Counters) PipedInput(name string, params map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keep > 0 {
		if len(c.calls) >= c.keep {
			c.calls = c.calls[1:]
		}
		c.calls = append(c.calls, Call{Cmdlet: name, Params: params, Piped: true})
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
	for _, n := range []*atomic.Int64{&c.WinRMRequests, &c.Shells, &c.PSRPPools, &c.PowerShellLaunches, &c.Pipelines,
		&c.Rows, &c.ScriptsRefused, &c.EncryptedBodies, &c.PlainBodies, &c.overlapSum} {
		n.Store(0)
	}
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
		PSRPPools:          c.PSRPPools.Load(),
		PowerShellLaunches: c.PowerShellLaunches.Load(),
		Pipelines:          c.Pipelines.Load(),
		Rows:               c.Rows.Load(),
		ScriptsRefused:     c.ScriptsRefused.Load(),
		EncryptedBodies:    c.EncryptedBodies.Load(),
		PlainBodies:        c.PlainBodies.Load(),
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
	s.MeanOverlap = 1
	if s.Pipelines > 0 {
		s.MeanOverlap = max(1, float64(c.overlapSum.Load())/float64(s.Pipelines))
	}
	s.SimulatedSeconds = s.Cost.Price(s)
	s.SimulatedElapsedSeconds = s.Cost.Elapsed(s)
	return s
}

// Price turns counters into simulated Exchange seconds of work.
func (m CostModel) Price(s Stats) float64 {
	return m.sessions(s) + m.pipelineWork(s)
}

// Elapsed is the simulated time a client waits: session opens in full,
// pipeline-bound work divided by the pipelines' mean overlap.
func (m CostModel) Elapsed(s Stats) float64 {
	overlap := s.MeanOverlap
	if overlap < 1 || s.Pipelines == 0 {
		overlap = 1
	}
	return m.sessions(s) + m.pipelineWork(s)/overlap
}

func (m CostModel) sessions(s Stats) float64 {
	return float64(s.PowerShellLaunches+s.PSRPPools) * m.PowerShellLaunch
}

func (m CostModel) pipelineWork(s Stats) float64 {
	return float64(s.Pipelines)*m.Pipeline +
		float64(max(s.Cmdlets["Set-CASMailbox"], s.MailboxWrites))*m.SetCASMailbox +
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
