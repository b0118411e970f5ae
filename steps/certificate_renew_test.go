package steps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/exchange"
)

func TestBoundCertificate(t *testing.T) {
	certs := []exchange.Certificate{
		{Server: "EX01", Thumbprint: "AA", Services: "IIS, SMTP"},
		{Server: "EX01", Thumbprint: "SS", Services: "POP, IMAP"},
		{Server: "EX02", Thumbprint: "AA", Services: "IIS"},
	}
	old, sv, err := boundCertificate([]string{"EX01", "EX02"}, certs)
	if err != nil || old.Thumbprint != "AA" || strings.Join(sv["EX01"], ",") != "IIS,SMTP" || strings.Join(sv["EX02"], ",") != "IIS" {
		t.Fatalf("= %v %v %v", old.Thumbprint, sv, err)
	}
	for _, tc := range []struct {
		name  string
		certs []exchange.Certificate
		want  string
	}{
		{"disagree", []exchange.Certificate{{Server: "EX01", Thumbprint: "AA", Services: "IIS"}, {Server: "EX02", Thumbprint: "BB", Services: "IIS"}}, "do not agree"},
		{"unbound", []exchange.Certificate{{Server: "EX01", Thumbprint: "AA", Services: "IIS"}, {Server: "EX02", Thumbprint: "AA", Services: "None"}}, "EX02 has no certificate bound to IIS"},
	} {
		if _, _, err := boundCertificate([]string{"EX01", "EX02"}, tc.certs); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestLoadRenewState(t *testing.T) {
	dir := t.TempDir()
	if st, err := LoadRenewState(dir); st != nil || err != nil {
		t.Fatalf("none: %v %v", st, err)
	}
	r := &Renewer{StateDir: dir}
	st := &RenewState{Phase: RenewBinding, Servers: []string{"EX01"}, Old: "AA", New: "BB", OldServices: map[string][]string{"EX01": {"IIS"}}}
	if err := r.save(st); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, RenewStateFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", fi, err)
	}
	got, err := LoadRenewState(dir)
	if err != nil || got.Phase != RenewBinding || got.New != "BB" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	for body, want := range map[string]string{
		`{"phase":"dancing","old":"AA","servers":["EX01"]}`: "unknown phase",
		`{"phase":"binding","servers":["EX01"]}`:            "no old certificate",
		`{"phase":`:                                         "remove it only after checking",
	} {
		if err := os.WriteFile(filepath.Join(dir, RenewStateFile), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadRenewState(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", body, err)
		}
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	if st, err := LoadRenewState(dir); st != nil || err != nil {
		t.Fatalf("after finish: %v %v", st, err)
	}
}
