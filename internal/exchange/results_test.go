package exchange

import (
	"errors"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

const throttled = `The user "CONTOSO\admin" has exceeded the throttling budget for PowerShell. Policy part: PowerShellMaxCmdlets; Policy value: 50; Budget type: PowerShell. Please wait and try again later.`

// Every batched write checks its results the same way: one per item, in
// order, none contradicting itself, and a throttled item makes the phase
// transient so the engine retries it (every batched script is idempotent).
func TestCheckResults(t *testing.T) {
	type check func() error
	cases := []struct {
		name      string
		run       check
		wantErr   string
		transient bool
	}{
		{"items in order", func() error {
			_, err := checkResults("op", "items", []ItemResult{{ID: "A", OK: true}, {ID: "b", OK: true}}, []string{"a", "B"})
			return err
		}, "", false},
		{"a failed item is no error of the batch", func() error {
			_, err := checkResults("op", "items", []ItemResult{{ID: "a", OK: false, Error: "couldn't be found"}}, []string{"a"})
			return err
		}, "", false},
		{"too few results", func() error {
			_, err := checkResults("op", "servers", []CertImportResult{{Server: "EX01", OK: true, Thumbprint: "AB"}}, []string{"EX01", "EX02"})
			return err
		}, "1 results for 2 servers", false},
		{"out of order", func() error {
			_, err := checkResults("op", "items", []ChangeResult{{ID: "b", OK: true}, {ID: "a", OK: true}}, []string{"a", "b"})
			return err
		}, `result 0 is for "b", expected "a"`, false},
		{"failed and changed", func() error {
			_, err := checkResults("op", "items", []BindResult{{ID: "EX01/AB", Changed: true, OK: false}}, []string{"EX01/AB"})
			return err
		}, "is both failed and changed", false},
		{"imported without a thumbprint", func() error {
			_, err := checkResults("op", "servers", []CertImportResult{{Server: "EX01", OK: true}}, []string{"EX01"})
			return err
		}, "reported no thumbprint", false},
		{"removed although absent", func() error {
			_, err := checkResults("op", "items", []CertRemoveResult{{Server: "EX01", Thumbprint: "AB", Removed: true, OK: true}}, []string{"EX01/ab"})
			return err
		}, "removed but failed or absent", false},
		{"throttled mailbox write", func() error {
			_, err := checkResults("op", "items", []ItemResult{{ID: "a", OK: true}, {ID: "b", Error: throttled}}, []string{"a", "b"})
			return err
		}, "throttled on b", true},
		{"throttled certificate import", func() error {
			_, err := checkResults("op", "servers", []CertImportResult{{Server: "EX01", Error: throttled}}, []string{"EX01"})
			return err
		}, "throttled on EX01", true},
		{"throttled certificate removal", func() error {
			_, err := checkResults("op", "items", []CertRemoveResult{{Server: "EX01", Thumbprint: "AB", Present: true, Error: throttled}}, []string{"EX01/AB"})
			return err
		}, "throttled on EX01/AB", true},
		{"throttled binding", func() error {
			_, err := checkResults("op", "items", []BindResult{{ID: "EX01/AB", Error: throttled}}, []string{"EX01/AB"})
			return err
		}, "throttled on EX01/AB", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			if errkind.IsTransient(err) != c.transient {
				t.Fatalf("transient = %v, want %v", errkind.IsTransient(err), c.transient)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Op != "op" {
				t.Fatalf("the error does not name the operation: %v", err)
			}
		})
	}
}
