package kerberos_test

import (
	"io"
	"log"
	"net/http"

	"github.com/exrunbook/exrunbook/internal/kerberos"
)

// The lab's side: authenticate on the empty POST, then open and seal every
// body of that connection with its Context (a real server keeps the
// context per TCP connection, e.g. through http.Server.ConnContext).
func ExampleAcceptor_AcceptRequest() {
	acc, err := kerberos.NewAcceptor(kerberos.AcceptorConfig{KeytabFile: "/lab/http.keytab", SPN: "HTTP/ex01.contoso.test"})
	if err != nil {
		log.Fatal(err)
	}
	var ctx *kerberos.Context // per connection in a real server
	var protocol string
	http.HandleFunc("/wsman", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a, wwwAuth, ok, err := acc.AcceptRequest(r)
		if ok {
			if wwwAuth != "" {
				w.Header().Set("WWW-Authenticate", wwwAuth)
			}
			if err != nil {
				log.Print(err) // names the fix, e.g. the clocks or the keytab
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			scheme, _ := kerberos.SchemeOf(r)
			ctx, protocol = a.Context, scheme.Protocol()
			log.Printf("authenticated %s", a.Client) // e.g. alice@LAB.TEST
			return
		}
		if ctx == nil {
			w.Header().Add("WWW-Authenticate", "Negotiate")
			w.Header().Add("WWW-Authenticate", "Kerberos")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		soap, err := kerberos.OpenBody(ctx, protocol, r.Header.Get("Content-Type"), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reply, ct, err := kerberos.SealBody(ctx, protocol, soap)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Write(reply)
	})
}

// The client's side, per TCP connection: the token for the 401, the final
// token from the 200, then sealed bodies.
func ExampleCredentials_NewInitiator() {
	creds, err := kerberos.NewCredentials(kerberos.Config{User: "alice@LAB.TEST", Password: "from exchange.password_file"})
	if err != nil {
		log.Fatal(err) // *kerberos.Error: Kind, Key to fix, the KDC's words
	}
	defer creds.Close()
	spn, err := kerberos.SPNForURL("http://ex01.contoso.test/PowerShell/")
	if err != nil {
		log.Fatal(err)
	}
	in, err := creds.NewInitiator(spn, kerberos.SchemeNegotiate)
	if err != nil {
		log.Fatal(err)
	}
	// After the first 401: in.Offered(resp.Header.Values("WWW-Authenticate")).
	tok, _ := in.Step(nil)
	_ = kerberos.AuthHeader(kerberos.Scheme(in.Scheme()), tok) // the Authorization header
	// On the 200: reply, _, _ := kerberos.TokenFromHeader(resp.Header.Values("WWW-Authenticate"), scheme);
	// in.Step(reply); then kerberos.SealBody(in.Context(), in.Protocol(), soap).
}
