package kdctest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

func TestMain(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// TestRealm: the harness's realm issues tickets (kinit) to a user it
// created, refuses a wrong password, and writes keytabs with the
// service's keys.
func TestRealm(t *testing.T) {
	r := Shared(t)
	if r.Port == 0 || !strings.Contains(r.Krb5ConfText("127.0.0.1:1", ""), "kdc = 127.0.0.1:1") {
		t.Fatalf("realm %+v", r)
	}
	if err := r.AddUser("carol", "carols-pw"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddUser("carol", "again"); err == nil || strings.Contains(err.Error(), "again") {
		t.Fatalf("adding carol twice: %v (the error must not show the password)", err)
	}
	cc, err := r.Kinit("carol", "carols-pw", time.Hour)
	if err != nil {
		t.Fatalf("%v\n%s", err, r.Log())
	}
	c, err := credentials.LoadCCache(cc)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultPrincipal.Realm != "LAB.TEST" || c.DefaultPrincipal.PrincipalName.PrincipalNameString() != "carol" {
		t.Fatalf("cache principal %+v", c.DefaultPrincipal)
	}
	if _, err := r.Kinit("carol", "wrong", 0); err == nil {
		t.Fatal("kinit with a wrong password succeeded")
	}
	if err := r.SetPassword("carol", "new-pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Kinit("carol", "new-pw", 0); err != nil {
		t.Fatal(err)
	}
	path, err := r.AddService("HTTP/web.lab.test")
	if err != nil {
		t.Fatal(err)
	}
	kt, err := keytab.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(kt.Entries) < 2 || kt.Entries[0].Principal.Components[0] != "HTTP" {
		t.Fatalf("keytab entries %+v", kt.Entries)
	}
}
