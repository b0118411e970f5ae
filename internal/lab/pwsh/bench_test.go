package pwsh

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

// registerWide adds Get-Wide: N objects with 12 properties each.
func registerWide(t testing.TB, h *Host) {
	err := h.Register(CmdletDef{
		Name:   "Get-Wide",
		Params: []ParamDef{{Name: "Count", Type: TInt, Position: 1}},
		Process: func(c *Call) error {
			n, _ := c.Param("Count")
			for i := int64(0); i < n.(int64); i++ {
				o := NewObject("Wide",
					"Name", fmt.Sprintf("user%06d", i), "Alias", fmt.Sprintf("u%06d", i), "Guid", testGuid(int(i)),
					"OWAEnabled", i%2 == 0, "ActiveSyncEnabled", true, "PopEnabled", false, "ImapEnabled", false,
					"MAPIEnabled", true, "EwsEnabled", true, "PrimarySmtpAddress", fmt.Sprintf("user%06d@contoso.test", i),
					"Database", "DB01", "Index", i)
				if err := c.WriteObject(o); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

const wideScript = `Get-Wide %d | ForEach-Object { [pscustomobject]@{ Name = $_.Name; Alias = $_.Alias; Guid = $_.Guid.ToString(); OWA = $_.OWAEnabled; EAS = $_.ActiveSyncEnabled; POP = $_.PopEnabled; IMAP = $_.ImapEnabled; MAPI = $_.MAPIEnabled; EWS = $_.EwsEnabled; Smtp = $_.PrimarySmtpAddress; Db = $_.Database; Index = $_.Index } } | ConvertTo-Json -Compress`

// countingWriter counts bytes without keeping them.
type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkConvertToJSON100k pushes 100,000 objects of 12 properties through
// ForEach-Object and ConvertTo-Json -Compress and reports peak heap.
func BenchmarkConvertToJSON100k(b *testing.B) {
	h := testHost(b, 3, nil, nil)
	registerWide(b, h)
	script := fmt.Sprintf(wideScript, 100000)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		peak := make(chan uint64)
		go func() {
			var max uint64
			var ms runtime.MemStats
			for {
				select {
				case <-stop:
					peak <- max
					return
				default:
				}
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > max {
					max = ms.HeapAlloc
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		w := &countingWriter{}
		code := h.RunScript(context.Background(), script, nil, w, io.Discard)
		close(stop)
		p := <-peak
		if code != 0 || w.n < 100000*100 {
			b.Fatalf("code %d, %d bytes", code, w.n)
		}
		b.ReportMetric(float64(p-before.HeapAlloc)/(1<<20), "peakMB")
		b.ReportMetric(float64(w.n)/(1<<20), "outMB")
	}
}

// TestLargePipelineIsLinear runs the wide pipeline at two sizes and checks
// the output grows proportionally (a quadratic pipeline would not finish in
// the test's time budget at these sizes).
func TestLargePipelineIsLinear(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	registerWide(t, h)
	sizes := []int{2000, 20000}
	var lens []int
	for _, n := range sizes {
		var out strings.Builder
		code := h.RunScript(context.Background(), fmt.Sprintf(wideScript, n), nil, &out, io.Discard)
		if code != 0 {
			t.Fatalf("code %d", code)
		}
		s := out.String()
		if !strings.HasPrefix(s, `[{"Name":"user000000","Alias":"u000000","Guid":"00000000-0000-4000-8000-000000000000","OWA":true,`) {
			t.Fatalf("output starts %q", s[:120])
		}
		lens = append(lens, len(s))
	}
	if ratio := float64(lens[1]) / float64(lens[0]); ratio < 9.5 || ratio > 10.5 {
		t.Errorf("output sizes %v", lens)
	}
}
