package labstats

import (
	"math"
	"sync"
	"testing"
)

func TestSnapshotPricesTheCounters(t *testing.T) {
	var c Counters
	c.PowerShellLaunches.Add(2)
	c.CASMailboxRows.Add(1000)
	c.VdirChanges.Add(3)
	for i := 0; i < 10; i++ {
		c.Cmdlet("Set-CASMailbox", nil)
	}
	c.Cmdlet("Get-CASMailbox", map[string]string{"ResultSize": "Unlimited"})
	s := c.Snapshot()
	// 2 launches × 3 s + 10 Set-CASMailbox × 0.1 s + 1000 rows × 2 ms + 3 vdir changes × 1 s
	want := 6 + 1 + 2 + 3.0
	if math.Abs(s.SimulatedSeconds-want) > 1e-9 {
		t.Fatalf("simulated seconds = %v, want %v", s.SimulatedSeconds, want)
	}
	if s.Cmdlets["Set-CASMailbox"] != 10 || s.Cost != DefaultCost {
		t.Fatalf("snapshot = %+v", s)
	}
	if got := s.CmdletNames(); len(got) != 2 || got[0] != "Get-CASMailbox" {
		t.Fatalf("names = %v", got)
	}
	c.Reset()
	if s := c.Snapshot(); s.SimulatedSeconds != 0 || len(s.Cmdlets) != 0 || s.PowerShellLaunches != 0 {
		t.Fatalf("after Reset: %+v", s)
	}
}

func TestKeptCalls(t *testing.T) {
	var c Counters
	c.Cmdlet("Add-PSSnapin", nil)
	if len(c.Calls()) != 0 {
		t.Fatal("calls kept before KeepCalls")
	}
	c.KeepCalls(2)
	for _, n := range []string{"a", "b", "c"} {
		c.Cmdlet(n, map[string]string{"Identity": n})
	}
	calls := c.Calls()
	if len(calls) != 2 || calls[0].Cmdlet != "b" || calls[1].Params["Identity"] != "c" {
		t.Fatalf("kept calls = %+v, want the last two, oldest first", calls)
	}
	c.KeepCalls(1)
	if calls := c.Calls(); len(calls) != 1 || calls[0].Cmdlet != "c" {
		t.Fatalf("after shrinking: %+v", calls)
	}
}

func TestConcurrentCounting(t *testing.T) {
	var c Counters
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				c.WinRMRequests.Add(1)
				c.Cmdlet("Get-Mailbox", nil)
			}
		}()
	}
	wg.Wait()
	if s := c.Snapshot(); s.WinRMRequests != 8000 || s.Cmdlets["Get-Mailbox"] != 8000 {
		t.Fatalf("counts = %d, %d", s.WinRMRequests, s.Cmdlets["Get-Mailbox"])
	}
}

func TestCostModelSessionsPipelinesAndOverlap(t *testing.T) {
	tests := []struct {
		name        string
		pools       int64
		running     []int // each pipeline's running count at its start
		setCAS      int
		rows        int64
		wantWork    float64
		wantElapsed float64
	}{
		{name: "nothing", wantWork: 0, wantElapsed: 0},
		{name: "one pool, serial pipelines", pools: 1, running: []int{1, 1, 1, 1}, setCAS: 10,
			wantWork: 3 + 4*0.05 + 10*0.1, wantElapsed: 3 + 4*0.05 + 10*0.1},
		{name: "two at a time", pools: 1, running: []int{1, 2, 1, 2}, rows: 100,
			wantWork: 3 + 4*0.05 + 100*0.002, wantElapsed: 3 + (4*0.05+100*0.002)/1.5},
		{name: "overlap capped at the throttling limit", pools: 2, running: []int{40, 40},
			wantWork: 6 + 2*0.05, wantElapsed: 6 + 2*0.05/OverlapLimit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Counters
			c.PSRPPools.Add(tc.pools)
			for _, r := range tc.running {
				c.PipelineStarted(r)
			}
			for i := 0; i < tc.setCAS; i++ {
				c.Cmdlet("Set-CASMailbox", nil)
			}
			c.CASMailboxRows.Add(tc.rows)
			s := c.Snapshot()
			if math.Abs(s.SimulatedSeconds-tc.wantWork) > 1e-9 || math.Abs(s.SimulatedElapsedSeconds-tc.wantElapsed) > 1e-9 {
				t.Fatalf("work %v elapsed %v, want %v and %v", s.SimulatedSeconds, s.SimulatedElapsedSeconds, tc.wantWork, tc.wantElapsed)
			}
			if s.Pipelines != int64(len(tc.running)) || s.PSRPPools != tc.pools {
				t.Fatalf("counters = %+v", s)
			}
			c.Reset()
			if s := c.Snapshot(); s.Pipelines != 0 || s.MeanOverlap != 1 || s.SimulatedElapsedSeconds != 0 {
				t.Fatalf("after Reset: %+v", s)
			}
		})
	}
}
