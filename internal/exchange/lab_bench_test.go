package exchange

import (
	"context"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// BenchmarkLabGetCASMailboxes100k reads 100,000 mailboxes from the lab's
// Exchange endpoint (PSRP, NTLM sealed over http) end to end. Besides time and allocations it reports
// "heap-MB": the live heap after a GC while the result is held, and
// "peak-sys-MB": the Go runtime's memory obtained from the OS (an upper
// bound of the orchestrator's share of RSS for this read, the lab's own
// memory included since it runs in-process).
func BenchmarkLabGetCASMailboxes100k(b *testing.B) {
	ctx := context.Background()
	l, err := lab.Start(ctx, lab.Options{Dir: b.TempDir(), Mailboxes: 100000, Now: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ep := l.Endpoints()
	pw, err := os.ReadFile(ep.Admin.PasswordFile)
	if err != nil {
		b.Fatal(err)
	}
	s := NewSession(WSManDialer(wsman.Config{Endpoint: ep.PowerShell.HTTP, Auth: wsman.AuthNTLM, User: ep.Admin.User, Password: strings.TrimSpace(string(pw))}, 4))
	defer func() { _ = s.Close(ctx) }()
	c := New(s)
	b.ReportAllocs()
	b.ResetTimer()
	var rows []CASMailbox
	for i := 0; i < b.N; i++ {
		rows, err = c.GetCASMailboxes(ctx, []string{"UserMailbox"})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if len(rows) < 90000 {
		b.Fatalf("%d rows", len(rows))
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	b.ReportMetric(float64(ms.Sys)/(1<<20), "peak-sys-MB")
	runtime.KeepAlive(rows)
}
