package org_test

import (
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/org/orgtest"
)

// BenchmarkCanonical100k renders GET /org for 100,000 mailboxes.
func BenchmarkCanonical100k(b *testing.B) {
	o := orgtest.New(100000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.SetBytes(int64(len(org.Canonical(o))))
	}
}

// BenchmarkIndex100k rebuilds the identity index of 100,000 mailboxes, as
// the first lookup after an Update does.
func BenchmarkIndex100k(b *testing.B) {
	o := orgtest.New(100000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o.InvalidateIndex()
		if _, err := o.FindMailbox("user5"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateRest measures a journalled non-mailbox change on a
// 100,000-mailbox organisation stored on disk.
func BenchmarkUpdateRest(b *testing.B) {
	s, err := org.OpenOrCreate(b.TempDir(), func() (*org.Org, error) { return orgtest.New(100000), nil })
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.UpdateRest(func(o *org.Org) error { o.Config.MapiHttpEnabled = i%2 == 0; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
