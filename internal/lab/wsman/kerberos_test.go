package wsman

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exrunbook/exrunbook/internal/kerberos"
)

// acceptorForTest is an acceptor with one made-up service key: enough to
// turn Kerberos on; no ticket here verifies against it.
func acceptorForTest(t *testing.T) *kerberos.Acceptor {
	t.Helper()
	kt := keytab.New()
	if err := kt.AddEntry("HTTP/ex01.contoso.test", "CONTOSO.TEST", "not-a-real-password", time.Now(), 1, 18); err != nil {
		t.Fatal(err)
	}
	acc, err := kerberos.NewAcceptor(kerberos.AcceptorConfig{Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// TestKerberosAccount: principals of the lab's realm are its users in
// its domain; other realms, services and unknown names are not.
func TestKerberosAccount(t *testing.T) {
	s := NewServer(Options{Executor: ExecutorFunc(nil), Users: map[string]string{`CONTOSO\Administrator`: "x", "alice@contoso.test": "y"},
		Domain: "CONTOSO", DNSDomain: "contoso.test", KerberosRealm: "LAB.TEST"})
	for principal, want := range map[string]string{
		"administrator@CONTOSO.TEST":   `CONTOSO\Administrator`,
		"Administrator@LAB.TEST":       `CONTOSO\Administrator`,
		"alice@lab.test":               `CONTOSO\alice`,
		"administrator@OTHER.TEST":     "",
		"HTTP/administrator@LAB.TEST":  "",
		"mallory@LAB.TEST":             "",
		"administrator":                "",
		`CONTOSO\administrator@X.TEST`: "",
	} {
		a, ok := s.kerberosAccount(principal)
		if got := a.canonical(); ok != (want != "") || (ok && got != want) {
			t.Errorf("%s → %q, %v; want %q", principal, got, ok, want)
		}
	}
}

// TestKerberosOffers: with an acceptor the 401 offers Negotiate and
// Kerberos besides NTLM; a Negotiate token that is not NTLM goes to the
// acceptor, whose refusal is a 401 (here the token is no GSS token).
func TestKerberosOffers(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"ntlm only", Options{AllowNTLM: true}, []string{"Negotiate", "NTLM"}},
		{"kerberos and ntlm", Options{AllowNTLM: true, Kerberos: acceptorForTest(t)}, []string{"Negotiate", "Kerberos", "NTLM"}},
		{"kerberos only", Options{Kerberos: acceptorForTest(t)}, []string{"Negotiate", "Kerberos"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Users, o.Domain = map[string]string{`CONTOSO\Administrator`: "x"}, "CONTOSO"
			var mu sync.Mutex
			var logged []string
			o.Logf = func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				logged = append(logged, fmt.Sprintf(format, args...))
			}
			o.PSRP = PSRPOptions{}
			s := NewServer(o)
			defer s.Close()
			hs := httptest.NewServer(s.PowerShell())
			defer hs.Close()
			resp, err := http.Post(hs.URL+"/PowerShell/", soapContentType, strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !slices.Equal(got, tc.want) {
				t.Errorf("%d %q, want 401 %q", resp.StatusCode, got, tc.want)
			}
			if o.Kerberos == nil {
				return
			}
			for _, scheme := range []string{"Negotiate", "Kerberos"} {
				req, _ := http.NewRequest(http.MethodPost, hs.URL+"/PowerShell/", strings.NewReader(""))
				req.Header.Set("Authorization", scheme+" b25lIHR3byB0aHJlZQ==")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s with a bogus token: HTTP %d, want 401", scheme, resp.StatusCode)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(logged) != 2 || !strings.Contains(logged[0], "refused a Kerberos login") || !strings.Contains(logged[0], "not a GSS-API token") {
				t.Errorf("logged %q, want the two refusals with the acceptor's reason", logged)
			}
		})
	}
}
