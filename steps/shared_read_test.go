package steps

import (
	"context"
	"errors"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// TestSharedReadRetriesTransient: the checks of a phase share one read,
// but a read that failed transiently is made again by the next get (the
// engine's retry of the check), while a result or a permanent error is
// kept.
func TestSharedReadRetriesTransient(t *testing.T) {
	transient := errkind.Transient(errors.New("WinRM HTTP 500"))
	permanent := errors.New("access denied")
	tests := []struct {
		name      string
		errs      []error // returned by successive reads; nil succeeds
		gets      int
		wantReads int
		wantErr   error
	}{
		{"success is shared", []error{nil}, 3, 1, nil},
		{"transient then success", []error{transient, nil}, 3, 2, nil},
		{"transient each time", []error{transient, transient, transient}, 3, 3, transient},
		{"permanent error is kept", []error{permanent, nil}, 3, 1, permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := 0
			r := &sharedRead[int]{read: func(context.Context) (int, error) {
				err := tt.errs[min(reads, len(tt.errs)-1)]
				reads++
				if err != nil {
					return 0, err
				}
				return 42, nil
			}}
			var v int
			var err error
			for range tt.gets {
				v, err = r.get(context.Background())
			}
			if reads != tt.wantReads {
				t.Errorf("reads %d, want %d", reads, tt.wantReads)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && v != 42 {
				t.Errorf("value %d", v)
			}
		})
	}
}
