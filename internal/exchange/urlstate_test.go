package exchange

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The combined read is the three read scripts verbatim, ending in one
// ConvertTo-Json; its golden file is beside the others.
func TestURLStateGoldenScript(t *testing.T) {
	f := &fakeRunner{}
	_, _ = New(f).GetURLState(context.Background(), []string{"EX01", "EX02"})
	if len(f.scripts) != 1 {
		t.Fatalf("%d scripts run, want one", len(f.scripts))
	}
	s := f.scripts[0]
	if !strings.HasPrefix(s, scriptHeader) || strings.Count(s, "ConvertTo-Json") != 1 || !strings.HasSuffix(s, "-Compress"+asciiOnly+"\n") || strings.Count(s, "Add-PSSnapin") != 1 {
		t.Fatalf("script shape:\n%s", s)
	}
	for _, part := range []string{bodyOf(vdirsScript([]string{"EX01", "EX02"})), bodyOf(outlookAnywhereScript([]string{"EX01", "EX02"})), bodyOf(clientAccessScript([]string{"EX01", "EX02"}))} {
		if !strings.Contains(s, part) {
			t.Errorf("script lacks\n%s", part)
		}
	}
	path := filepath.Join("testdata", "scripts", "url_state.ps1")
	if *update {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/exchange -run URLState -update)", err)
	}
	if string(want) != s {
		t.Fatalf("script differs from %s (run with -update if intended):\n%s", path, s)
	}
}

// Hostile server names stay literals and never change the script's shape.
func TestURLStateStructureIndependentOfValues(t *testing.T) {
	f := &fakeRunner{}
	_, _ = New(f).GetURLState(context.Background(), []string{"EX01"})
	ref, _ := skeleton(t, f.last())
	for _, v := range hostileValues {
		f := &fakeRunner{}
		_, _ = New(f).GetURLState(context.Background(), []string{v})
		sk, lits := skeleton(t, f.last())
		if sk != ref {
			t.Fatalf("value %q changed the script:\n%s", v, sk)
		}
		n := 0
		for _, l := range lits {
			if l == v {
				n++
			}
		}
		if n != 3 {
			t.Fatalf("value %q appears %d times as a literal, want 3 (one per read)", v, n)
		}
	}
}

func TestURLStateParse(t *testing.T) {
	vd := `{"Kind":"owa","Server":"EX01","Identity":"EX01\\owa (Default Web Site)","Guid":"` + g1 + `","InternalUrl":"https://a/owa","ExternalUrl":null,"IISAuthenticationMethods":[]}`
	mapiNoAuth := `{"Kind":"mapi","Server":"EX01","Identity":"EX01\\mapi (Default Web Site)","Guid":"` + g2 + `","InternalUrl":null,"ExternalUrl":null,"IISAuthenticationMethods":[]}`
	oa := `{"Server":"EX01","Identity":"EX01\\Rpc (Default Web Site)","Guid":"` + g2 + `","ExternalHostname":null,"InternalHostname":"a","ExternalClientsRequireSsl":true,"ExternalClientAuthenticationMethod":"Negotiate"}`
	scp := `{"Name":"EX01","AutoDiscoverServiceInternalUri":null}`
	cases := []struct {
		name       string
		out        string
		wantErr    string
		vd, oa, sc int
	}{
		{name: "arrays", out: `{"VDirs":[` + vd + `],"OutlookAnywhere":[` + oa + `],"SCP":[` + scp + `]}`, vd: 1, oa: 1, sc: 1},
		{name: "single objects", out: `{"VDirs":` + vd + `,"OutlookAnywhere":` + oa + `,"SCP":` + scp + `}`, vd: 1, oa: 1, sc: 1},
		{name: "empty and null", out: `{"VDirs":[],"OutlookAnywhere":null,"SCP":[]}`},
		{name: "missing part", out: `{"VDirs":[],"SCP":[]}`, wantErr: "property OutlookAnywhere is missing"},
		{name: "mapi without auth", out: `{"VDirs":[` + mapiNoAuth + `],"OutlookAnywhere":[],"SCP":[]}`, wantErr: "no IISAuthenticationMethods"},
		{name: "unknown kind", out: `{"VDirs":[` + strings.Replace(vd, `"owa"`, `"rpc"`, 1) + `],"OutlookAnywhere":[],"SCP":[]}`, wantErr: "unknown kind"},
		{name: "bad oa", out: `{"VDirs":[],"OutlookAnywhere":[{"Server":"EX01"}],"SCP":[]}`, wantErr: "missing"},
		{name: "array", out: `[]`, wantErr: "expected a JSON object"},
		{name: "empty", out: ``, wantErr: "expected a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := New(&fakeRunner{out: tc.out}).GetURLState(context.Background(), []string{"EX01"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(st.VDirs) != tc.vd || len(st.OutlookAnywhere) != tc.oa || len(st.SCP) != tc.sc {
				t.Fatalf("%+v", st)
			}
			if tc.vd == 1 && (st.VDirs[0].ExternalUrl != nil || *st.VDirs[0].InternalUrl != "https://a/owa") {
				t.Fatalf("vdir %+v", st.VDirs[0])
			}
		})
	}
	if _, err := New(&fakeRunner{}).GetURLState(context.Background(), nil); err == nil {
		t.Fatal("no server accepted")
	}
}

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

func FuzzURLStateParse(f *testing.F) {
	f.Add(`{"VDirs":[],"OutlookAnywhere":null,"SCP":[]}`)
	f.Add(`{"VDirs":{"Kind":"mapi","Server":"EX01","Identity":"x","Guid":"g","InternalUrl":null,"ExternalUrl":null,"IISAuthenticationMethods":["Ntlm"]},"OutlookAnywhere":[],"SCP":{"Name":"EX01","AutoDiscoverServiceInternalUri":null}}`)
	f.Add(`{"VDirs":[null],"OutlookAnywhere":[1],"SCP":"x"}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, out string) {
		st, err := New(&fakeRunner{out: out}).GetURLState(context.Background(), []string{"EX01"})
		if err != nil {
			return
		}
		for _, v := range st.VDirs {
			if _, ok := vdirNoun[v.Kind]; !ok {
				t.Fatalf("accepted unknown kind %q", v.Kind)
			}
			if v.Kind == KindMAPI && len(v.IISAuthenticationMethods) == 0 {
				t.Fatal("accepted MAPI without IISAuthenticationMethods")
			}
		}
	})
}
