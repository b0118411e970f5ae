package exchange

import (
	"reflect"
	"testing"
)

// Against the lab: one launch gives exactly what the three separate reads give.
func TestLabURLState(t *testing.T) {
	e := startLab(t, 5)
	servers := []string{"EX01", "EX02"}
	st, err := e.c.GetURLState(e.ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	e.onePSRPSession(t)
	vd, err := e.c.GetVirtualDirectories(e.ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	oa, err := e.c.GetOutlookAnywhere(e.ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	scp, err := e.c.GetClientAccessServices(e.ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.VDirs) != 16 || !reflect.DeepEqual(st.VDirs, vd) || !reflect.DeepEqual(st.OutlookAnywhere, oa) || !reflect.DeepEqual(st.SCP, scp) {
		t.Fatalf("combined read differs:\n%+v\n%+v\n%+v\nseparate:\n%+v\n%+v\n%+v", st.VDirs, st.OutlookAnywhere, st.SCP, vd, oa, scp)
	}
}
