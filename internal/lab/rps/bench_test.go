package rps_test

import (
	"context"
	"testing"

	"github.com/exrunbook/exrunbook/internal/psrp"
)

type countSink struct{ n int }

func (c *countSink) Output(psrp.Value) error       { c.n++; return nil }
func (c *countSink) Error(*psrp.ErrorRecord) error { return nil }
func (c *countSink) Warning(string) error          { return nil }

// BenchmarkGetCASMailbox measures one Get-CASMailbox -ResultSize Unlimited
// | Select-Object pipeline over 2,000 mailboxes, through the conversion to
// Partial-level values.
func BenchmarkGetCASMailbox(b *testing.B) {
	f := newFixture(b, fixtureOpts{mailboxes: 2000})
	p, err := f.ep.Principal(admin)
	if err != nil {
		b.Fatal(err)
	}
	pl := pipeline(cmd("Get-CASMailbox", "ResultSize", "Unlimited"),
		cmd("Select-Object", "Property", &psrp.Object{Kind: psrp.ListContainer, Items: []psrp.Value{"Guid", "PrimarySmtpAddress", "MAPIBlockOutlookRpcHttp"}}))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := &countSink{}
		if rec := f.ep.Run(context.Background(), p, pl, nil, s); rec != nil {
			b.Fatal(rec.Message)
		}
		if s.n != 2000 {
			b.Fatalf("%d objects", s.n)
		}
	}
}
