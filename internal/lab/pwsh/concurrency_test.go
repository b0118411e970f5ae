package pwsh

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentRuns runs scripts on one Host from several goroutines, as
// the WinRM server does for parallel shells; each run is its own runspace.
func TestConcurrentRuns(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			script := fmt.Sprintf(`$n = %d; $r = Get-Mailbox | Sort-Object Alias -Descending | Select-Object -First 2 | ForEach-Object { "$n-$($_.Alias)" }; $r -join ','`, g)
			for i := 0; i < 20; i++ {
				r := run(h, script, "")
				if want := fmt.Sprintf("%d-carol,%d-bob", g, g); norm(r.out) != want {
					errs <- fmt.Errorf("goroutine %d: %q want %q", g, r.out, want)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
