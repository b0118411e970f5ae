package errkind

import (
	"errors"
	"fmt"
	"testing"
)

func TestTransient(t *testing.T) {
	base := errors.New("HTTP 503")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", base, false},
		{"marked", Transient(base), true},
		{"wrapped after marking", fmt.Errorf("read: %w", Transient(base)), true},
		{"marked twice", Transient(Transient(base)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTransient(tt.err); got != tt.want {
				t.Fatalf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if Transient(nil) != nil {
		t.Fatal("Transient(nil) != nil")
	}
	if err := Transient(base); !errors.Is(err, base) || err.Error() != "HTTP 503" {
		t.Fatalf("Transient(base) = %v; want the same text, unwrapping to base", err)
	}
}
