package exchange

import (
	"reflect"
	"testing"
)

// Against the lab: one launch reads what the separate reads read.
func TestLabCertCapture(t *testing.T) {
	e := startLab(t, 4)
	names := []string{"EX01", "EX02"}
	st, err := e.c.GetCertCapture(e.ctx, nil, true, true)
	if err != nil {
		t.Fatal(err)
	}
	e.onePSRPSession(t)
	if len(st.Servers) != 2 || st.Servers[0].Name != "EX01" || st.Servers[1].Name != "EX02" {
		t.Fatalf("servers %+v", st.Servers)
	}
	certs := must[[]Certificate](t, "certs")(e.c.GetCertificates(e.ctx, names))
	pi := must[[]PopImapSettings](t, "popimap")(e.c.GetPopImapSettings(e.ctx, names))
	if !reflect.DeepEqual(st.Certificates, certs) || !reflect.DeepEqual(st.PopImap, pi) {
		t.Fatalf("capture differs from the separate reads:\n%+v\n%+v", st, certs)
	}
	named, err := e.c.GetCertCapture(e.ctx, names[1:], false, false)
	if err != nil || len(named.Servers) != 0 || len(named.PopImap) != 0 || len(named.Certificates) == 0 {
		t.Fatalf("named: %+v %v", named, err)
	}
	for _, c := range named.Certificates {
		if c.Server != "EX02" {
			t.Fatalf("a certificate of %s", c.Server)
		}
	}
}
