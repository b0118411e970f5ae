package exchange_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/exchange"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
)

// BenchmarkGetCASMailboxToJSON streams 100,000 mailboxes through
// ConvertTo-Json, as the inventory step does; -benchmem shows the
// allocation per run.
func BenchmarkGetCASMailboxToJSON(b *testing.B) {
	st := org.NewMemory(orgtest.New(100000))
	stats := &labstats.Counters{}
	h := pwsh.NewHost(pwsh.HostOptions{Stats: stats})
	if err := exchange.Register(h, st, exchange.Options{Stats: stats}); err != nil {
		b.Fatal(err)
	}
	script := prelude + "Get-CASMailbox -ResultSize Unlimited | ForEach-Object { [pscustomobject]@{ G = $_.Guid.ToString(); R = $_.MAPIBlockOutlookRpcHttp; E = $_.MAPIBlockOutlookExternalConnectivity } } | ConvertTo-Json -Compress"
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var errb bytes.Buffer
		if code := h.RunScript(context.Background(), script, nil, io.Discard, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
	b.ReportMetric(float64(stats.CASMailboxRows.Load())/float64(b.N), "rows/op")
}

// BenchmarkSetCASMailboxJournalled measures one persisted Set-CASMailbox
// on a 10,000-mailbox organisation stored on disk (one fsynced journal
// line per write).
func BenchmarkSetCASMailboxJournalled(b *testing.B) {
	st, err := org.OpenOrCreate(b.TempDir(), func() (*org.Org, error) { return orgtest.New(10000), nil })
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h := pwsh.NewHost(pwsh.HostOptions{})
	if err := exchange.Register(h, st, exchange.Options{Now: time.Now}); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(prelude)
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&sb, "Set-CASMailbox -Identity user%d -MAPIBlockOutlookRpcHttp $true\n", 1000+i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var errb bytes.Buffer
		if code := h.RunScript(context.Background(), sb.String(), nil, io.Discard, &errb); code != 0 {
			b.Fatalf("exit %d: %s", code, errb.String())
		}
	}
	b.ReportMetric(100, "writes/op")
}
