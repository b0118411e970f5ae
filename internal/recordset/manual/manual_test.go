package manual

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

// The provider prints the lines, then waits until the nameserver serves
// them; the "person" here edits the lab zone on the second poll.
func TestManualPrintsAndWaits(t *testing.T) {
	z := dnsserver.NewMemZone(org.Zone{View: "public", Name: "contoso.test.",
		SOA: org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minimum: 60, TTL: 300},
		NS:  []string{"ns1.contoso.test."}})
	srv, err := dnsserver.Start(dnsserver.Options{Zone: z})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var logs []string
	polls := 0
	p := &Provider{Server: srv.Addr(), Nameservers: []string{srv.Addr()},
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
		Sleep: func(ctx context.Context, d time.Duration) error {
			polls++
			if polls == 2 {
				return z.UpdateZone(func(oz *org.Zone) error {
					oz.Records = append(oz.Records, org.Record{Name: "_acme-challenge.outlook.contoso.test.", Type: "TXT", TTL: 60, Data: `"tok"`})
					oz.SOA.Serial++
					return nil
				})
			}
			return nil
		}}
	set := recordset.RRset{Name: "_acme-challenge.outlook.contoso.test.", Type: dns.TypeTXT, TTL: 60, Data: []string{`"tok"`}}
	if err := p.AppendRecords(context.Background(), "contoso.test.", set); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(logs, "\n")
	if !strings.Contains(all, "add:    _acme-challenge.outlook.contoso.test.\t60\tIN\tTXT\t\"tok\"") || polls != 2 {
		t.Fatalf("polls %d, logs:\n%s", polls, all)
	}
	// Nothing to do: no lines, no wait.
	logs, polls = nil, 0
	if err := p.AppendRecords(context.Background(), "contoso.test.", set); err != nil || len(logs) != 0 || polls != 0 {
		t.Fatalf("second append: %v, %d polls, logs %q", err, polls, logs)
	}
	// A context that ends stops the wait with what is still missing.
	ctx, cancel := context.WithCancel(context.Background())
	p.Sleep = func(context.Context, time.Duration) error { cancel(); return ctx.Err() }
	err = p.DeleteRecords(ctx, "contoso.test.", recordset.RRset{Name: set.Name, Type: dns.TypeTXT})
	if err == nil || !strings.Contains(err.Error(), "waiting for") {
		t.Fatalf("cancelled wait: %v", err)
	}
}
