package pause

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFor(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want error
	}{
		{"a short wait passes", live, time.Millisecond, nil},
		{"no wait on a live context", live, 0, nil},
		{"a negative wait does not wait", live, -time.Second, nil},
		{"an ended context ends a long wait", ended, time.Hour, context.Canceled},
		{"an ended context with no wait", ended, 0, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := For(tt.ctx, tt.d); !errors.Is(got, tt.want) || (got == nil) != (tt.want == nil) {
				t.Fatalf("For(%v) = %v, want %v", tt.d, got, tt.want)
			}
		})
	}
}

// A context that ends during the wait cuts it short with its error.
func TestForEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := For(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("For = %v, want the context's deadline error", err)
	}
}
