//go:build linux

package state

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExchange(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.WriteFile(a, []byte("A"), 0o600)
	os.WriteFile(b, []byte("B"), 0o600)
	if err := exchange(a, b); err != nil {
		t.Skipf("this filesystem has no RENAME_EXCHANGE (%v); Refresh uses its fallback", err)
	}
	ga, _ := os.ReadFile(a)
	gb, _ := os.ReadFile(b)
	if string(ga) != "B" || string(gb) != "A" {
		t.Errorf("after exchange a=%q b=%q", ga, gb)
	}
	if err := exchange(a, filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("exchange with a missing file: %v", err)
	}
}
