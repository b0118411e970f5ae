package exchange

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestReadAllowListServersGolden(t *testing.T) {
	cases := []struct {
		file    string
		servers []string
	}{
		{"read_allow_list_servers.ps1", nil},
		{"read_allow_list_servers_named.ps1", []string{"EX01", "EX02"}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			f := &fakeRunner{}
			_, _ = New(f).ReadAllowListServers(context.Background(), "AllowExternalAccess", []string{"UserMailbox"}, tc.servers)
			s := oneScript(t, f)
			for _, part := range []string{"Get-ExchangeServer", "Get-DistributionGroupMember -Identity $g -ResultSize Unlimited", "Get-CASMailbox -ResultSize Unlimited", "Get-Mailbox -RecipientTypeDetails $types -ResultSize Unlimited"} {
				if !strings.Contains(s, part) {
					t.Errorf("script lacks %q", part)
				}
			}
			golden(t, tc.file, s, "$r", 5)
		})
	}
}

// Hostile group and server names stay literals and never change the
// script's shape.
func TestReadAllowListServersStructureIndependentOfValues(t *testing.T) {
	shape := func(v string) (string, []string) {
		f := &fakeRunner{}
		_, _ = New(f).ReadAllowListServers(context.Background(), "G-"+v, []string{"UserMailbox"}, []string{v})
		return skeleton(t, oneScript(t, f))
	}
	ref, _ := shape("x")
	for _, v := range hostileValues {
		sk, lits := shape(v)
		if sk != ref {
			t.Fatalf("value %q changed the script:\n%s", v, sk)
		}
		n, g := 0, 0
		for _, l := range lits {
			switch l {
			case v:
				n++
			case "G-" + v:
				g++
			}
		}
		if n != 1 || g != 1 {
			t.Fatalf("value %q appears %d times as a server literal and %d times in the group literal, want once each", v, n, g)
		}
	}
}

func TestReadAllowListServersParse(t *testing.T) {
	srv := `{"Name":"EX01","Fqdn":"ex01.contoso.test","Guid":"` + g1 + `","AdminDisplayVersion":"Version 15.2","ServerRole":"Mailbox"}`
	grpFound := `{"Found":true,"Error":null,"Name":"Allow","Guid":"` + g2 + `","Groups":[],"Members":[{"g":"` + g1 + `","n":"A","t":"UserMailbox","d":"UserMailbox"}]}`
	grpMissing := `{"Found":false,"Error":"couldn't be found","Name":"Allow","Guid":null,"Groups":[],"Members":[]}`
	m := `"m":[{"g":"` + g1 + `","a":"a","n":"A","s":"a@x","t":"UserMailbox"}],"c":[{"g":"` + g1 + `","r":true,"x":false,"h":null}]`
	cases := []struct {
		name, out string
		want      string
		notFound  bool
		servers   int
	}{
		{name: "one server (an object)", out: `{"sv":` + srv + `,"grp":` + grpFound + `,` + m + `}`, servers: 1},
		{name: "servers last", out: `{"grp":` + grpFound + `,` + m + `,"sv":[` + srv + `,` + strings.Replace(srv, "EX01", "EX02", 2) + `]}`, servers: 2},
		{name: "missing group keeps the rest", out: `{"sv":[` + srv + `],"grp":` + grpMissing + `,` + m + `}`, notFound: true, servers: 1},
		{name: "no server", out: `{"sv":null,"grp":` + grpFound + `,` + m + `}`, want: "no Exchange server found"},
		{name: "empty servers", out: `{"sv":[],"grp":` + grpFound + `,` + m + `}`, want: "no Exchange server found"},
		{name: "no sv", out: `{"grp":` + grpFound + `,` + m + `}`, want: "property sv is missing"},
		{name: "server without a name", out: `{"sv":[{"Fqdn":"x"}],"grp":` + grpFound + `,` + m + `}`, want: "Name"},
		{name: "no grp", out: `{"sv":[` + srv + `],` + m + `}`, want: "property grp is missing"},
		{name: "no mailboxes", out: `{"sv":[` + srv + `],"grp":` + grpFound + `}`, want: "property m or c is missing"},
		{name: "not json", out: `oops`, want: "expected a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(&fakeRunner{out: tc.out}).ReadAllowListServers(context.Background(), "Allow", []string{"UserMailbox"}, nil)
			switch {
			case tc.want != "":
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err %v, want %q", err, tc.want)
				}
				return
			case tc.notFound:
				if !errors.Is(err, ErrGroupNotFound) {
					t.Fatalf("err %v, want ErrGroupNotFound", err)
				}
			case err != nil:
				t.Fatal(err)
			}
			if len(r.Servers) != tc.servers || r.Servers[0].Name != "EX01" || len(r.Mailboxes) != 1 || !r.Mailboxes[0].MAPIBlockOutlookRpcHttp {
				t.Fatalf("read %+v", r)
			}
			if !tc.notFound && len(r.Group.Mailboxes) != 1 {
				t.Fatalf("group %+v", r.Group)
			}
		})
	}
	for _, bad := range []struct {
		group string
		types []string
	}{{" ", []string{"UserMailbox"}}, {"G", nil}} {
		if _, err := New(&fakeRunner{}).ReadAllowListServers(context.Background(), bad.group, bad.types, nil); err == nil {
			t.Fatalf("%q %v accepted", bad.group, bad.types)
		}
	}
}

func FuzzReadAllowListServersParse(f *testing.F) {
	f.Add(`{"sv":[],"grp":{"Found":true},"m":[],"c":[]}`)
	f.Add(`{"sv":null}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, out string) {
		r, err := New(&fakeRunner{out: out}).ReadAllowListServers(context.Background(), "Allow", []string{"UserMailbox"}, nil)
		if (err == nil || errors.Is(err, ErrGroupNotFound)) && len(r.Servers) == 0 {
			t.Fatalf("accepted a read without servers: %+v %v", r, err)
		}
	})
}

// Against the lab: one launch returns what ReadAllowList and
// GetExchangeServers return separately.
func TestLabReadAllowListServers(t *testing.T) {
	e := startLab(t, 20)
	types := []string{"UserMailbox"}
	e.l.Counters().Reset()
	r, err := e.c.ReadAllowListServers(e.ctx, e.ep.AllowGroup, types, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := e.l.Stats(); st.PowerShellLaunches != 0 || st.Shells != 0 || st.Cmdlets["Get-ExchangeServer"] != 1 {
		t.Fatalf("%d launches, %d shells, Get-ExchangeServer %d times; want 0, 0, 1", st.PowerShellLaunches, st.Shells, st.Cmdlets["Get-ExchangeServer"])
	}
	g, mbx, err := e.c.ReadAllowList(e.ctx, e.ep.AllowGroup, types)
	if err != nil {
		t.Fatal(err)
	}
	servers, err := e.c.GetExchangeServers(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Servers) != len(servers) || len(r.Servers) == 0 || len(r.Mailboxes) != len(mbx) || len(r.Group.Mailboxes) != len(g.Mailboxes) || r.Group.Guid != g.Guid {
		t.Fatalf("combined read differs: %d/%d servers, %d/%d mailboxes, %+v vs %+v", len(r.Servers), len(servers), len(r.Mailboxes), len(mbx), r.Group, g)
	}
	for i := 1; i < len(r.Servers); i++ {
		if strings.ToLower(r.Servers[i-1].Name) > strings.ToLower(r.Servers[i].Name) {
			t.Fatalf("servers not sorted: %+v", r.Servers)
		}
	}
	named, err := e.c.ReadAllowListServers(e.ctx, "No Such Group", types, []string{servers[0].Name})
	if !errors.Is(err, ErrGroupNotFound) || len(named.Servers) != 1 || named.Servers[0].Name != servers[0].Name || len(named.Mailboxes) != len(mbx) {
		t.Fatalf("named, missing group: %v %+v", err, named.Servers)
	}
	if _, err := e.c.ReadAllowListServers(e.ctx, e.ep.AllowGroup, types, []string{"NOSUCHSERVER"}); err == nil {
		t.Fatal("a server name that does not resolve was accepted")
	}
}
