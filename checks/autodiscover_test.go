package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/check"
)

// The MS-OXDSCLI 4.4 example: mapiHttp with internal URLs only, WEB with an
// external OWA URL and a nested EXPR ASUrl.
const specExample = `<?xml version="1.0" encoding="utf-8"?>
 <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
   <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
     <User><DisplayName>User Display Name</DisplayName></User>
     <Account>
       <AccountType>email</AccountType><Action>settings</Action>
       <Protocol Type="mapiHttp" Version="1">
         <MailStore><InternalUrl>https://mail.Contoso.com/mapi/emsmdb/?MailboxId=416c6368-656d-794a-6f45-57615272456e@Contoso.com</InternalUrl></MailStore>
         <AddressBook><InternalUrl>https://mail.Contoso.com/mapi/nspi/?MailboxId=416c6368-656d-794a-6f45-57615272456e@Contoso.com</InternalUrl></AddressBook>
       </Protocol>
       <Protocol><Type>WEB</Type>
         <External><OWAUrl AuthenticationMethod="Fba">https://mail.Contoso.com/owa</OWAUrl>
           <Protocol><Type>EXPR</Type><ASUrl>https://mail.Contoso.com/ews/exchange.asmx</ASUrl></Protocol></External>
         <Internal><OWAUrl AuthenticationMethod="Ntlm, WindowsIntegrated">https:/Internal.mail.Contoso.com/owa</OWAUrl></Internal>
       </Protocol>
     </Account>
   </Response>
 </Autodiscover>`

func answer(ext bool) string {
	mapiExt, web, expr := "", "", ""
	if ext {
		mapiExt = `<ExternalUrl>https://outlook-ext.contoso.test/mapi/emsmdb/?MailboxId=g@contoso.test</ExternalUrl>`
		web = `<External><OWAUrl AuthenticationMethod="Fba">https://outlook-ext.contoso.test/owa</OWAUrl></External>`
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"><Response xmlns="https://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"><Account><AccountType>email</AccountType><Action>settings</Action><Protocol Type="mapiHttp" Version="1"><MailStore><InternalUrl>https://outlook.contoso.test/mapi/emsmdb/?MailboxId=g@contoso.test</InternalUrl>%s</MailStore><AddressBook><InternalUrl>https://outlook.contoso.test/mapi/nspi/?MailboxId=g@contoso.test</InternalUrl></AddressBook></Protocol>%s<Protocol><Type>WEB</Type>%s</Protocol></Account></Response></Autodiscover>`, mapiExt, expr, web)
}

func TestParseAutodiscover(t *testing.T) {
	a, err := ParseAutodiscover([]byte(specExample))
	if err != nil {
		t.Fatal(err)
	}
	if !a.MapiHTTP || len(a.MailStoreInternal) != 1 || len(a.MailStoreExternal) != 0 {
		t.Errorf("mapiHttp = %+v", a)
	}
	if got := strings.Join(a.WebExternal, " "); got != "https://mail.Contoso.com/owa https://mail.Contoso.com/ews/exchange.asmx" {
		t.Errorf("web external = %q", got)
	}
	if a.OffersExternalName("mail.contoso.com") {
		t.Error("an answer without mapiHttp ExternalUrl or EXPR was taken to offer the name")
	}

	top := `<Autodiscover><Response><Account><Protocol><Type>EXPR</Type><Server>Outlook-Ext.contoso.test</Server></Protocol></Account></Response></Autodiscover>`
	a, err = ParseAutodiscover([]byte(top))
	if err != nil || !a.OffersExternalName("outlook-ext.contoso.test") {
		t.Errorf("EXPR server not recognised: %+v %v", a, err)
	}

	errDoc := `<Autodiscover><Response><Error Time="1" Id="2"><ErrorCode>500</ErrorCode><Message>The email address can't be found.</Message></Error></Response></Autodiscover>`
	a, err = ParseAutodiscover([]byte(errDoc))
	if err != nil || a.ErrorCode != "500" || !strings.Contains(a.ErrorMessage, "can't be found") {
		t.Errorf("error answer: %+v %v", a, err)
	}

	for _, bad := range []string{"", "not xml", "<Other/>", "<Autodiscover/>", "<Autodiscover><Response/></Autodiscover>", "<Autodiscover><Response><Account>"} {
		if _, err := ParseAutodiscover([]byte(bad)); err == nil {
			t.Errorf("ParseAutodiscover(%q) gave no error", bad)
		}
	}
}

func FuzzParseAutodiscover(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte(answer(true)))
	f.Add([]byte("<Autodiscover><Response><Account><Protocol Type='mapiHttp'><MailStore/>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAutodiscover(data)
		if err == nil {
			_ = a.ExternalURLs()
			_ = a.OffersExternalName("outlook-ext.contoso.test")
		}
	})
}

// autodiscoverServer answers POX for two users: allowed gets external
// URLs, blocked does not. It checks the request the way Exchange reads it.
func autodiscoverServer(t *testing.T, ca *testCA) (string, *int) {
	t.Helper()
	requests := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests++
		user, pass, ok := r.BasicAuth()
		if !ok || pass != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || !strings.EqualFold(r.URL.Path, "/autodiscover/autodiscover.xml") ||
			r.Header.Get("X-MapiHttpCapability") != "1" || r.Host != "autodiscover.contoso.test" ||
			!strings.Contains(string(body), "<EMailAddress>"+user+"</EMailAddress>") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, answer(user == "allowed@contoso.test"))
	}))
	cert := ca.issue(t, "autodiscover.contoso.test", []string{"autodiscover.contoso.test"}, time.Now().Add(400*24*time.Hour))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), &requests
}

func TestAutodiscoverCheck(t *testing.T) {
	ca := newTestCA(t)
	addr, requests := autodiscoverServer(t, ca)
	targets := []Target{{"EX01", addr}, {"EX02", addr}}
	pw := func() (string, error) { return "pw", nil }
	cases := []struct {
		name     string
		email    string
		password func() (string, error)
		expect   bool
		want     check.Status
		contains string
	}{
		{"allowed user gets the external name", "allowed@contoso.test", pw, true, check.Pass, "is offered outlook-ext.contoso.test"},
		{"blocked user gets no external URL", "blocked@contoso.test", pw, false, check.Pass, "no external URL"},
		{"allowed user missing the name fails", "blocked@contoso.test", pw, true, check.Fail, "does not offer outlook-ext.contoso.test"},
		{"blocked user still offered URLs fails", "allowed@contoso.test", pw, false, check.Fail, "still offered external URLs"},
		{"wrong password", "allowed@contoso.test", func() (string, error) { return "bad", nil }, true, check.Fail, "HTTP 401"},
		{"no password", "allowed@contoso.test", func() (string, error) { return "", fmt.Errorf("EXRUNBOOK_PROBE_PASSWORD is not set") }, true, check.Fail, "EXRUNBOOK_PROBE_PASSWORD"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chk := &AutodiscoverCheck{Targets: targets, Host: "autodiscover.contoso.test", Email: c.email, Password: c.password,
				ExternalName: "outlook-ext.contoso.test", ExpectExternal: c.expect, RootCAs: ca.pool, Timeout: 5 * time.Second}
			res := chk.Run(context.Background(), nil)
			if res.Status != c.want || !strings.Contains(res.Message, c.contains) {
				t.Fatalf("got %s %q, want %s containing %q", res.Status, res.Message, c.want, c.contains)
			}
		})
	}
	if *requests == 0 {
		t.Fatal("the probe never reached the server")
	}
	// An untrusted server certificate is refused, not probed.
	chk := &AutodiscoverCheck{Targets: targets[:1], Host: "autodiscover.contoso.test", Email: "allowed@contoso.test", Password: pw,
		ExternalName: "outlook-ext.contoso.test", ExpectExternal: true, Timeout: 5 * time.Second}
	if res := chk.Run(context.Background(), nil); res.Status != check.Fail || !strings.Contains(res.Message, "certificate") {
		t.Fatalf("untrusted server: %s %q", res.Status, res.Message)
	}
}
