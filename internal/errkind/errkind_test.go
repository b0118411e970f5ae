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

func TestUsage(t *testing.T) {
	base := errors.New("unknown step \"x\"")
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", base, false},
		{"marked", Usage(base), true},
		{"formatted", Usagef("bad value %q", "x"), true},
		{"wrapped after marking", fmt.Errorf("run: %w", Usage(base)), true},
		{"transient is not usage", Transient(base), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsUsage(tt.err); got != tt.want {
				t.Fatalf("IsUsage(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if Usage(nil) != nil {
		t.Fatal("Usage(nil) != nil")
	}
	if err := Usage(base); !errors.Is(err, base) || err.Error() != base.Error() {
		t.Fatalf("Usage(base) = %v; want the same text, unwrapping to base", err)
	}
	if err := Usagef("reading %s: %w", "f", base); !errors.Is(err, base) || err.Error() != "reading f: "+base.Error() {
		t.Fatalf("Usagef = %v; want the formatted text, unwrapping to base", err)
	}
}

func TestSafetyError(t *testing.T) {
	err := fmt.Errorf("step block-mailboxes: %w", &SafetyError{Limit: "max-changes", Detail: "51 mailboxes would change, more than 50", Override: OverrideMaxChanges})
	var se *SafetyError
	if !errors.As(err, &se) || se.Override != OverrideMaxChanges {
		t.Fatalf("errors.As(%v) did not find the SafetyError with its override", err)
	}
	if want := "refused by safety limit max-changes: 51 mailboxes would change, more than 50"; se.Error() != want {
		t.Fatalf("Error() = %q, want %q", se.Error(), want)
	}
	if IsTransient(err) || IsUsage(err) {
		t.Fatal("a safety refusal is neither transient nor a usage error")
	}
}
