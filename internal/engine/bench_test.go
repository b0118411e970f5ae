package engine

import (
	"context"
	"testing"
)

// BenchmarkRun measures a whole three-step run against fresh state:
// about ten atomic, fsynced state writes per step dominate it.
func BenchmarkRun(b *testing.B) {
	t := &testing.T{}
	for i := 0; i < b.N; i++ {
		f := newFixture(t)
		f.t = t
		e, err := Open(context.Background(), f.opts())
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Run(context.Background(), RunOptions{Yes: true}); err != nil {
			b.Fatal(err)
		}
		e.Close()
	}
}
