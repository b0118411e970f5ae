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
