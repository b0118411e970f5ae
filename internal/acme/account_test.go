package acme

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAccountKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state", AccountKeyFile)
	k1, created, err := LoadOrCreateAccountKey(p)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi.Mode(), err)
	}
	k2, created, err := LoadOrCreateAccountKey(p)
	if err != nil || created {
		t.Fatalf("load: %v %v", created, err)
	}
	type eq interface{ Equal(crypto.PublicKey) bool }
	if !k1.Public().(eq).Equal(k2.Public()) {
		t.Fatal("a second load gave another key")
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateAccountKey(p); err == nil || !strings.Contains(err.Error(), "must be 0600") {
		t.Fatalf("0644 key: %v", err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateAccountKey(p); err == nil || !strings.Contains(err.Error(), "not PEM") {
		t.Fatalf("junk key: %v", err)
	}
}

func TestEABKey(t *testing.T) {
	if b, err := ParseEABKey("zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"); err != nil || len(b) != 48 {
		t.Fatalf("%d %v", len(b), err)
	}
	if _, err := ParseEABKey("not base64!"); err == nil {
		t.Fatal("accepted junk")
	}
	if s := (EAB{KID: "k", HMACKey: []byte("secret")}).String(); strings.Contains(s, "secret") {
		t.Fatal(s)
	}
}
