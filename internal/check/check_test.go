package check

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

func TestFailed(t *testing.T) {
	boom := errors.New("WinRM HTTP 500")
	tests := []struct {
		name          string
		err           error
		wantMessage   string
		wantTransient bool
	}{
		{"no cause", nil, "the check failed", false},
		{"permanent cause", boom, "WinRM HTTP 500", false},
		{"transient cause", errkind.Transient(boom), "WinRM HTTP 500", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Failed("drift", tt.err)
			if r.Name != "drift" || r.Status != Fail || r.Message != tt.wantMessage || r.Err != tt.err {
				t.Fatalf("Failed = %+v", r)
			}
			if got := errkind.IsTransient(r.Err); got != tt.wantTransient {
				t.Fatalf("IsTransient(Err) = %v, want %v", got, tt.wantTransient)
			}
		})
	}
}

// The cause is never serialized: the journal and `--output json` carry
// the message only, which already says it.
func TestResultJSONLeavesOutErr(t *testing.T) {
	b, err := json.Marshal(Failed("tls", errors.New("handshake: EOF")))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"tls","status":"fail","message":"handshake: EOF"}`; string(b) != want {
		t.Fatalf("JSON = %s, want %s", b, want)
	}
}
