package exchange

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// golden compares script, less its final jsonOut line, with
// testdata/scripts/name (rewritten with -update), and that line with
// jsonOut(expr, depth): the goldens hold what these operations do, not how
// the shared output stage is written.
func golden(t *testing.T, name, script, expr string, depth int) {
	t.Helper()
	i := strings.LastIndex(script, "ConvertTo-Json -InputObject")
	if i < 0 || script[i:] != jsonOut(expr, depth) {
		t.Fatalf("%s does not end in jsonOut(%s, %d):\n%s", name, expr, depth, script)
	}
	script = script[:i]
	path := filepath.Join("testdata", "scripts", name)
	if *update {
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/exchange -update)", err)
	}
	if string(want) != script {
		t.Fatalf("script differs from %s (run with -update if intended):\n%s", path, script)
	}
}

func oneScript(t *testing.T, f *fakeRunner) string {
	t.Helper()
	if len(f.scripts) != 1 {
		t.Fatalf("%d scripts run, want one", len(f.scripts))
	}
	s := f.scripts[0]
	if !strings.HasPrefix(s, scriptHeader) || strings.Count(s, "ConvertTo-Json") != 1 || strings.Count(s, "Add-PSSnapin") != 1 {
		t.Fatalf("script shape:\n%s", s)
	}
	return s
}

var (
	wVDirs = []VDirURLChange{
		{Kind: KindOWA, Guid: g1, ExternalUrl: strp("https://outlook-ext.contoso.test/owa")},
		{Kind: KindMAPI, Guid: g2, ExternalUrl: nil},
	}
	wOA = []OutlookAnywhereChange{{Guid: "11111111-2222-4333-8444-555555555555", ExternalHostname: strp("outlook-ext.contoso.test"), ExternalClientsRequireSsl: true, ExternalClientAuthenticationMethod: "Negotiate"}}
)

func TestNewScriptsGolden(t *testing.T) {
	cases := []struct {
		file, expr string
		depth      int
		op         func(*Client)
	}{
		{"url_write_apply.ps1", "@($r)", 3, func(c *Client) { _, _ = c.SetURLsWhereDifferent(context.Background(), wVDirs, wOA, CompareApply) }},
		{"url_write_exact.ps1", "@($r)", 3, func(c *Client) { _, _ = c.SetURLsWhereDifferent(context.Background(), wVDirs, wOA, CompareExact) }},
		{"url_capture.ps1", "$state", 5, func(c *Client) { _, _ = c.GetURLCapture(context.Background(), []string{"EX01", "EX02"}, false) }},
		{"url_capture_resolve.ps1", "$state", 5, func(c *Client) { _, _ = c.GetURLCapture(context.Background(), nil, true) }},
		{"mapi_http_state.ps1", "$r", 3, func(c *Client) { _, _ = c.GetMapiHTTPState(context.Background(), []string{"UserMailbox"}, 10) }},
		{"set_mapi_http_where_different.ps1", "$r", 2, func(c *Client) { _, _ = c.SetMapiHttpEnabledWhereDifferent(context.Background(), true) }},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f := &fakeRunner{}
			tc.op(New(f))
			golden(t, tc.file, oneScript(t, f), tc.expr, tc.depth)
		})
	}
}

// The write compares before it writes, in the same script: every Set- is
// inside the "if ($c)" block; MAPI passes back what it has just read.
func TestURLWriteScriptGuardsEveryWrite(t *testing.T) {
	for _, mode := range []URLCompare{CompareApply, CompareExact} {
		f := &fakeRunner{}
		_, _ = New(f).SetURLsWhereDifferent(context.Background(), wVDirs, wOA, mode)
		s := oneScript(t, f)
		guarded, sets := false, 0
		for _, line := range strings.Split(s, "\n") {
			switch strings.TrimSpace(line) {
			case "if ($c) {":
				guarded = true
				continue
			case "}":
				guarded = false
			}
			if strings.Contains(line, "Set-") {
				sets++
				if !guarded {
					t.Errorf("unguarded write: %s", line)
				}
			}
		}
		if sets != 8 {
			t.Errorf("%d Set- lines, want 6 vdir kinds and 2 Outlook Anywhere forms", sets)
		}
		if !strings.Contains(s, "{ $v = Get-MapiVirtualDirectory -Identity $g }") || !strings.Contains(s, "Set-MapiVirtualDirectory -Identity $g -ExternalUrl $want -IISAuthenticationMethods $v.IISAuthenticationMethods") {
			t.Errorf("MAPI does not read and pass back its methods:\n%s", s)
		}
		if !strings.Contains(s, "K = 'mapi'; G = '"+g2+"'; U = $null }") {
			t.Errorf("a $null URL is not $null:\n%s", s)
		}
		exact := strings.Contains(s, "-cne")
		if exact != (mode == CompareExact) || strings.Contains(s, "ExternalClientAuthenticationMethod -cne") != (mode == CompareExact) {
			t.Errorf("mode %d: case-sensitive comparison %t", mode, exact)
		}
	}
}

// One envelope carries the write for many servers: 7 objects per server.
func TestURLWriteFitsManyServers(t *testing.T) {
	var v []VDirURLChange
	var o []OutlookAnywhereChange
	for srv := 0; srv < 40; srv++ {
		for k, kind := range URLKinds {
			u := "https://outlook-ext.contoso.test/Microsoft-Server-ActiveSync"
			v = append(v, VDirURLChange{Kind: kind, Guid: fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", srv, k), ExternalUrl: &u})
		}
		h := "outlook-ext.contoso.test"
		o = append(o, OutlookAnywhereChange{Guid: fmt.Sprintf("00000000-0000-4000-8000-%06d999999", srv), ExternalHostname: &h, ExternalClientsRequireSsl: true, ExternalClientAuthenticationMethod: "Negotiate"})
	}
	f := &fakeRunner{}
	if _, err := New(f).SetURLsWhereDifferent(context.Background(), v, o, CompareExact); err != nil && strings.Contains(err.Error(), "WinRM envelope") {
		t.Fatalf("40 servers do not fit: %v", err)
	}
	if len(f.scripts) != 1 {
		t.Fatalf("%d scripts", len(f.scripts))
	}
}

// Hostile values stay literals and never change the script's shape.
func TestNewScriptsStructureIndependentOfValues(t *testing.T) {
	shape := func(v string) (string, []string) {
		f := &fakeRunner{}
		_, _ = New(f).SetURLsWhereDifferent(context.Background(), []VDirURLChange{{Kind: KindOWA, Guid: g1, ExternalUrl: &v}},
			[]OutlookAnywhereChange{{Guid: g2, ExternalHostname: &v, ExternalClientsRequireSsl: true, ExternalClientAuthenticationMethod: "Negotiate"}}, CompareExact)
		g := &fakeRunner{}
		_, _ = New(g).GetURLCapture(context.Background(), []string{v}, true)
		h := &fakeRunner{}
		_, _ = New(h).GetMapiHTTPState(context.Background(), []string{v}, 1)
		sk1, l1 := skeleton(t, f.last())
		sk2, l2 := skeleton(t, g.last())
		sk3, l3 := skeleton(t, h.last())
		return sk1 + sk2 + sk3, append(append(l1, l2...), l3...)
	}
	ref, _ := shape("x")
	for _, v := range hostileValues {
		sk, lits := shape(v)
		if sk != ref {
			t.Fatalf("value %q changed the script:\n%s", v, sk)
		}
		n := 0
		for _, l := range lits {
			if l == v {
				n++
			}
		}
		// The URL, the host name, the server name and the recipient type,
		// once each.
		if n != 4 {
			t.Fatalf("value %q appears %d times as a literal, want 4", v, n)
		}
	}
}

func TestURLWriteInputsRefused(t *testing.T) {
	cases := []struct {
		name string
		v    []VDirURLChange
		o    []OutlookAnywhereChange
		want string
	}{
		{"autodiscover", []VDirURLChange{{Kind: KindAutodiscover, Guid: g1}}, nil, "refusing"},
		{"powershell", []VDirURLChange{{Kind: KindPowerShell, Guid: g1}}, nil, "refusing"},
		{"bad guid", []VDirURLChange{{Kind: KindOWA, Guid: "EX01\\owa"}}, nil, "not a GUID"},
		{"bad oa guid", nil, []OutlookAnywhereChange{{Guid: "x'"}}, "not a GUID"},
		{"bad method", nil, []OutlookAnywhereChange{{Guid: g1, ExternalClientAuthenticationMethod: "Digest"}}, "expected Basic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{}
			if _, err := New(f).SetURLsWhereDifferent(context.Background(), tc.v, tc.o, CompareApply); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if len(f.scripts) != 0 {
				t.Fatal("a script ran")
			}
		})
	}
	f := &fakeRunner{}
	if res, err := New(f).SetURLsWhereDifferent(context.Background(), nil, nil, CompareApply); res != nil || err != nil || len(f.scripts) != 0 {
		t.Fatalf("nothing to do: %v %v, %d scripts", res, err, len(f.scripts))
	}
	upper := []VDirURLChange{{Kind: KindOWA, Guid: strings.ToUpper(g1)}}
	_, _ = New(f).SetURLsWhereDifferent(context.Background(), upper, nil, CompareApply)
	if upper[0].Guid != strings.ToUpper(g1) {
		t.Fatal("the caller's slice was changed")
	}
}

func TestChangeResultsParse(t *testing.T) {
	ok1 := `{"Id":"` + g1 + `","Changed":true,"Ok":true,"Error":null}`
	ok2 := `{"Id":"` + g2 + `","Changed":false,"Ok":true,"Error":null}`
	cases := []struct {
		name, out, wantErr string
		transient          bool
	}{
		{name: "two", out: "[" + ok1 + "," + ok2 + "]"},
		{name: "one missing", out: ok1, wantErr: "1 results for 2 items"},
		{name: "order", out: "[" + ok2 + "," + ok1 + "]", wantErr: "expected"},
		{name: "no Changed", out: `[{"Id":"` + g1 + `","Ok":true,"Error":null},` + ok2 + "]", wantErr: "property Changed is missing"},
		{name: "failed and changed", out: `[{"Id":"` + g1 + `","Changed":true,"Ok":false,"Error":"x"},` + ok2 + "]", wantErr: "both failed and changed"},
		{name: "throttled", out: `[` + ok1 + `,{"Id":"` + g2 + `","Changed":false,"Ok":false,"Error":"The operation couldn't be performed because of a transient server error."}]`, wantErr: "throttled", transient: true},
		{name: "empty", out: "", wantErr: "no output"},
	}
	v := []VDirURLChange{{Kind: KindOWA, Guid: g1, ExternalUrl: strp("https://a/owa")}, {Kind: KindECP, Guid: g2, ExternalUrl: strp("https://a/ecp")}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := New(&fakeRunner{out: tc.out}).SetURLsWhereDifferent(context.Background(), v, nil, CompareApply)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || engine.IsTransient(err) != tc.transient {
					t.Fatalf("err %v (transient %t), want %q", err, engine.IsTransient(err), tc.wantErr)
				}
				return
			}
			if err != nil || len(res) != 2 || !res[0].Changed || res[1].Changed || !res[0].OK {
				t.Fatalf("%+v %v", res, err)
			}
		})
	}
}

func TestMapiHTTPStateParse(t *testing.T) {
	cases := []struct {
		name, out, wantErr string
		org                bool
		off                int
		aliases            []string
	}{
		{name: "none off", out: `{"MapiHttpEnabled":true,"Off":null,"Mailboxes":null}`, org: true},
		{name: "one off unrolled", out: `{"MapiHttpEnabled":false,"Off":"` + g1 + `","Mailboxes":{"g":"` + strings.ToUpper(g1) + `","a":"alice"}}`, off: 1, aliases: []string{"alice"}},
		{name: "off not of the types", out: `{"MapiHttpEnabled":true,"Off":["` + g2 + `"],"Mailboxes":[{"g":"` + g1 + `","a":"alice"}]}`, org: true},
		{name: "alias empty and cap", out: `{"MapiHttpEnabled":true,"Off":["` + g1 + `","` + g2 + `"],"Mailboxes":[{"g":"` + g1 + `","a":""},{"g":"` + g2 + `","a":"bob"}]}`, org: true, off: 2, aliases: []string{g1}},
		{name: "no org", out: `{"Off":[],"Mailboxes":[]}`, wantErr: "MapiHttpEnabled is missing"},
		{name: "bad mailbox", out: `{"MapiHttpEnabled":true,"Off":[],"Mailboxes":[{"a":"x"}]}`, wantErr: "no GUID"},
		{name: "array", out: `[]`, wantErr: "array"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := New(&fakeRunner{out: tc.out}).GetMapiHTTPState(context.Background(), []string{"UserMailbox"}, 1)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || st.OrgMapiHttpEnabled != tc.org || st.MapiOff != tc.off || !reflect.DeepEqual(st.MapiOffAliases, tc.aliases) {
				t.Fatalf("%+v %v", st, err)
			}
		})
	}
	if _, err := New(&fakeRunner{}).GetMapiHTTPState(context.Background(), nil, 1); err == nil {
		t.Fatal("no recipient type accepted")
	}
}

func TestMapiHTTPWriteParse(t *testing.T) {
	for _, tc := range []struct{ out, wantErr string }{
		{`{"Before":false,"Changed":true,"After":true}`, ""},
		{`{"Before":true,"Changed":false,"After":true}`, ""},
		{`{"Before":false,"Changed":true,"After":false}`, "after setting"},
		{`{"Before":true,"Changed":true,"After":true}`, "Changed true although"},
		{`{"Before":false,"After":true}`, "Changed is missing"},
	} {
		_, err := New(&fakeRunner{out: tc.out}).SetMapiHttpEnabledWhereDifferent(context.Background(), true)
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: err %v, want %q", tc.out, err, tc.wantErr)
		}
	}
}

func FuzzChangeResultsAndMapiStateParse(f *testing.F) {
	f.Add(`[{"Id":"` + g1 + `","Changed":true,"Ok":true,"Error":null}]`)
	f.Add(`{"MapiHttpEnabled":true,"Off":"x","Mailboxes":{"g":"x","a":"y"}}`)
	f.Add(`{"MapiHttpEnabled":true,"Off":[1],"Mailboxes":[null]}`)
	f.Add(`[`)
	f.Fuzz(func(t *testing.T, out string) {
		res, err := New(&fakeRunner{out: out}).SetURLsWhereDifferent(context.Background(), []VDirURLChange{{Kind: KindOWA, Guid: g1}}, nil, CompareApply)
		if err == nil && (len(res) != 1 || !strings.EqualFold(res[0].ID, g1) || (res[0].Changed && !res[0].OK)) {
			t.Fatalf("accepted %+v", res)
		}
		st, err := New(&fakeRunner{out: out}).GetMapiHTTPState(context.Background(), []string{"UserMailbox"}, 2)
		if err == nil && (st.MapiOff < len(st.MapiOffAliases) || len(st.MapiOffAliases) > 2) {
			t.Fatalf("accepted %+v", st)
		}
	})
}

// Against the lab: the capture read equals the separate reads in one
// launch; the compare-and-set write changes only what differs, costs one
// launch whatever it finds, and restores $null exactly.
func TestLabURLCaptureAndWrite(t *testing.T) {
	e := startLab(t, 5)
	servers := []string{"EX01", "EX02"}
	capt, err := e.c.GetURLCapture(e.ctx, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	e.onePSRPSession(t)
	names := make([]string, len(capt.Servers))
	for i, s := range capt.Servers {
		names[i] = s.Name
	}
	if !sort.StringsAreSorted(names) || strings.Join(names, ",") != "EX01,EX02" {
		t.Fatalf("servers %v", names)
	}
	st, err := e.c.GetURLState(e.ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := e.c.GetCertificates(e.ctx, servers)
	if err != nil {
		t.Fatal(err)
	}
	named, err := e.c.GetURLCapture(e.ctx, servers, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []URLCapture{capt, named} {
		if !reflect.DeepEqual(c.URLState, st) || !reflect.DeepEqual(c.Certificates, certs) || len(certs) == 0 {
			t.Fatalf("capture differs from the separate reads:\n%+v\n%+v", c, st)
		}
	}
	if len(named.Servers) != 0 {
		t.Fatalf("servers returned unasked: %+v", named.Servers)
	}
	if _, err := e.c.GetURLCapture(e.ctx, []string{"EX99"}, true); err == nil {
		t.Fatal("an unknown server resolved")
	}

	var v []VDirURLChange
	var oa []OutlookAnywhereChange
	var restoreV []VDirURLChange
	var restoreO []OutlookAnywhereChange
	for _, d := range st.VDirs {
		switch d.Kind {
		case KindAutodiscover, KindPowerShell:
			continue
		}
		u := "https://outlook-ext.contoso.test/" + string(d.Kind)
		if d.Kind == KindOWA {
			// Already in place apart from case: not written in apply mode.
			u = "HTTPS://" + strings.TrimPrefix(*d.ExternalUrl, "https://")
		}
		v = append(v, VDirURLChange{Kind: d.Kind, Guid: d.Guid, ExternalUrl: &u})
		restoreV = append(restoreV, VDirURLChange{Kind: d.Kind, Guid: d.Guid, ExternalUrl: d.ExternalUrl})
	}
	for _, o := range st.OutlookAnywhere {
		h := "outlook-ext.contoso.test"
		oa = append(oa, OutlookAnywhereChange{Guid: o.Guid, ExternalHostname: &h, ExternalClientsRequireSsl: true, ExternalClientAuthenticationMethod: o.ExternalClientAuthenticationMethod})
		restoreO = append(restoreO, OutlookAnywhereChange{Guid: o.Guid, ExternalHostname: o.ExternalHostname, ExternalClientsRequireSsl: o.ExternalClientsRequireSsl, ExternalClientAuthenticationMethod: o.ExternalClientAuthenticationMethod})
	}
	count := func(res []ChangeResult) (changed int) {
		t.Helper()
		for _, r := range res {
			if !r.OK {
				t.Fatalf("item failed: %+v", r)
			}
			if r.Changed {
				changed++
			}
		}
		return changed
	}
	s0 := e.l.Stats()
	res, err := e.c.SetURLsWhereDifferent(e.ctx, v, oa, CompareApply)
	if err != nil {
		t.Fatal(err)
	}
	s1 := e.l.Stats()
	owa := 2 // one per server, already in place
	if n := count(res); n != len(v)-owa+len(oa) || s1.PowerShellLaunches-s0.PowerShellLaunches != 0 || s1.Cmdlets["Set-OwaVirtualDirectory"] != s0.Cmdlets["Set-OwaVirtualDirectory"] {
		t.Fatalf("first write: %d changed, %d launches, owa writes %d", n, s1.PowerShellLaunches-s0.PowerShellLaunches, s1.Cmdlets["Set-OwaVirtualDirectory"]-s0.Cmdlets["Set-OwaVirtualDirectory"])
	}
	var auth []string
	e.l.Store().Read(func(o *org.Org) { auth = o.ServerVDirs(org.KindMapi, "EX01")[0].IISAuthenticationMethods })
	if strings.Join(auth, ",") != "Ntlm,OAuth,Negotiate" {
		t.Fatalf("MAPI IISAuthenticationMethods %v after the write", auth)
	}
	res, err = e.c.SetURLsWhereDifferent(e.ctx, v, oa, CompareApply)
	s2 := e.l.Stats()
	if err != nil || count(res) != 0 || s2.PowerShellLaunches-s1.PowerShellLaunches != 0 || s2.VdirChanges != s1.VdirChanges {
		t.Fatalf("second write: %+v %v, %d vdir changes", res, err, s2.VdirChanges-s1.VdirChanges)
	}
	if _, err := e.c.SetURLsWhereDifferent(e.ctx, restoreV, restoreO, CompareExact); err != nil {
		t.Fatal(err)
	}
	back, err := e.c.GetURLState(e.ctx, servers)
	if err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("restore: %v\n%+v\nwant\n%+v", err, back, st)
	}
	if !hasNullURL(st) {
		t.Fatal("the lab has no $null ExternalUrl to restore")
	}
	s3 := e.l.Stats()
	res, err = e.c.SetURLsWhereDifferent(e.ctx, restoreV, restoreO, CompareExact)
	if err != nil || count(res) != 0 || e.l.Stats().VdirChanges != s3.VdirChanges {
		t.Fatalf("restore again: %+v %v", res, err)
	}
}

func hasNullURL(st URLState) bool {
	for _, v := range st.VDirs {
		if v.ExternalUrl == nil {
			return true
		}
	}
	return false
}

// Against the lab: one launch reads what GetOrganizationConfig and
// GetCASMailboxes give; the org write happens only when it differs.
func TestLabMapiHTTPState(t *testing.T) {
	e := startLab(t, 30)
	var want int
	types := []string{"UserMailbox"}
	if err := e.l.Store().UpdateRest(func(o *org.Org) error {
		f := false
		n := 0
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails == "UserMailbox" && n < 3 {
				m.MapiHttpEnabled = &f
				n++
			}
		}
		for _, m := range o.Mailboxes {
			if m.RecipientTypeDetails == "UserMailbox" && m.MapiHttpEnabled != nil && !*m.MapiHttpEnabled {
				want++
			}
		}
		o.Config.MapiHttpEnabled = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, err := e.c.GetMapiHTTPState(e.ctx, types, 2)
	if err != nil {
		t.Fatal(err)
	}
	e.onePSRPSession(t)
	mbx, err := e.c.GetCASMailboxes(e.ctx, types)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range mbx {
		if m.MapiHttpEnabled != nil && !*m.MapiHttpEnabled {
			n++
		}
	}
	if st.OrgMapiHttpEnabled || st.MapiOff != want || n != want || len(st.MapiOffAliases) != 2 {
		t.Fatalf("%+v, want %d off (GetCASMailboxes: %d)", st, want, n)
	}
	w, err := e.c.SetMapiHttpEnabledWhereDifferent(e.ctx, true)
	if err != nil || w.Before || !w.Changed || !w.After {
		t.Fatalf("%+v %v", w, err)
	}
	before := e.l.Stats().Cmdlets["Set-OrganizationConfig"]
	w, err = e.c.SetMapiHttpEnabledWhereDifferent(e.ctx, true)
	if err != nil || !w.Before || w.Changed || e.l.Stats().Cmdlets["Set-OrganizationConfig"] != before {
		t.Fatalf("again: %+v %v", w, err)
	}
}
