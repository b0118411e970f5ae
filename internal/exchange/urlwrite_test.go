package exchange

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/org"
)

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
