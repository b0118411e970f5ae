package wsman

import (
	"context"
	"crypto/tls"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

// TestE2ELabExchange opens a PSRP runspace pool over this transport
// against the lab's Exchange endpoint (/PowerShell/, Microsoft.Exchange),
// NTLM with message encryption over http and Basic over https, and runs
// Get-OrganizationConfig | Select-Object -Property MapiHttpEnabled.
func TestE2ELabExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole lab")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := lab.Start(ctx, lab.Options{Dir: t.TempDir(), Mailboxes: 5, Servers: 1, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	e := l.Endpoints()
	pw, err := os.ReadFile(e.Admin.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	// The name on EX01's IIS certificate, which the https endpoint (an
	// address) is checked against.
	u, err := url.Parse(e.PowerShell.HTTPS)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only to read the certificate's name
	if err != nil {
		t.Fatal(err)
	}
	name := conn.ConnectionState().PeerCertificates[0].DNSNames[0]
	conn.Close()

	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"ntlm-sealed-http", Config{Endpoint: e.PowerShell.HTTP, Auth: AuthNTLM}},
		{"basic-https", Config{Endpoint: e.PowerShell.HTTPS, Auth: AuthBasic, CAFile: e.CAFile, TLSServerName: name}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.User, cfg.Password = e.Admin.User, strings.TrimSpace(string(pw))
			cl, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			pool, err := psrp.Open(ctx, cl, psrp.PoolOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := pool.Close(ctx); err != nil {
					t.Errorf("closing the pool: %v", err)
				}
			}()
			res, err := pool.Run(ctx, psrp.Pipeline{Commands: []psrp.Command{
				{Name: "Get-OrganizationConfig"},
				{Name: "Select-Object", Params: []psrp.Parameter{{Name: "Property", Value: "MapiHttpEnabled"}}},
			}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Output) != 1 || len(res.Errors) != 0 {
				t.Fatalf("output %#v, errors %v", res.Output, res.Errors)
			}
			obj, ok := res.Output[0].(*psrp.Object)
			if !ok {
				t.Fatalf("output is %T, want an object", res.Output[0])
			}
			v, ok := obj.Get("MapiHttpEnabled")
			t.Logf("MapiHttpEnabled = %v (%s)", v, cl.ShellID())
			if _, isBool := v.(bool); !ok || !isBool {
				t.Errorf("MapiHttpEnabled = %#v (%v), want a bool", v, ok)
			}
		})
	}
}
