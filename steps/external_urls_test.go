package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/engine"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/exchange"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/psrp"
)

func sp(s string) *string { return &s }

func TestDesiredExternalURL(t *testing.T) {
	const ext = "outlook-ext.contoso.test"
	cases := []struct {
		name          string
		kind          exchange.VDirKind
		external      string
		extURL, inURL *string
		want          string
	}{
		{"owa", exchange.KindOWA, ext, sp("https://outlook.contoso.test/owa"), sp("https://outlook.contoso.test/owa"), "https://outlook-ext.contoso.test/owa"},
		{"ews keeps its path and casing", exchange.KindEWS, ext, sp("https://outlook.contoso.test/EWS/Exchange.asmx"), nil, "https://outlook-ext.contoso.test/EWS/Exchange.asmx"},
		{"odd casing of scheme and host", exchange.KindOWA, ext, sp("HTTPS://OUTLOOK.Contoso.TEST/OWA"), nil, "https://outlook-ext.contoso.test/OWA"},
		{"port dropped", exchange.KindMAPI, ext, sp("https://outlook.contoso.test:8443/mapi"), nil, "https://outlook-ext.contoso.test/mapi"},
		{"http and query dropped", exchange.KindActiveSync, ext, sp("http://mail.contoso.test/Microsoft-Server-ActiveSync?x=1#f"), nil, "https://outlook-ext.contoso.test/Microsoft-Server-ActiveSync"},
		{"trailing slash kept", exchange.KindOAB, ext, sp("https://outlook.contoso.test/OAB/"), nil, "https://outlook-ext.contoso.test/OAB/"},
		{"$null external: path from internal", exchange.KindOAB, ext, nil, sp("https://ex01.contoso.test/oab"), "https://outlook-ext.contoso.test/oab"},
		{"both $null: default path", exchange.KindEWS, ext, nil, nil, "https://outlook-ext.contoso.test/EWS/Exchange.asmx"},
		{"root only: default path", exchange.KindECP, ext, sp("https://outlook.contoso.test/"), sp("https://x/"), "https://outlook-ext.contoso.test/ecp"},
		{"unparseable: from internal", exchange.KindECP, ext, sp("::not a url"), sp("https://outlook.contoso.test/ecp"), "https://outlook-ext.contoso.test/ecp"},
		{"empty string: default", exchange.KindActiveSync, ext, sp(""), nil, "https://outlook-ext.contoso.test/Microsoft-Server-ActiveSync"},
		{"escaped path kept", exchange.KindOWA, ext, sp("https://outlook.contoso.test/my%20owa"), nil, "https://outlook-ext.contoso.test/my%20owa"},
		{"external normalised", exchange.KindOWA, " Outlook-EXT.contoso.test. ", sp("https://a/owa"), nil, "https://outlook-ext.contoso.test/owa"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := DesiredExternalURL(c.kind, c.external, c.extURL, c.inURL); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
		})
	}
}

func FuzzDesiredExternalURL(f *testing.F) {
	f.Add("https://outlook.contoso.test/owa", "https://x/owa", true)
	f.Add("HTTPS://A:1/b/c?d#e", "", false)
	f.Add("::", "http://[::1]/x", true)
	f.Add("https://a/%zz", "https://b/ok", true)
	f.Fuzz(func(t *testing.T, ext, in string, nullExt bool) {
		var e *string
		if !nullExt {
			e = &ext
		}
		got := DesiredExternalURL(exchange.KindMAPI, "outlook-ext.contoso.test", e, &in)
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("%q does not parse: %v", got, err)
		}
		if u.Scheme != "https" || u.Host != "outlook-ext.contoso.test" || u.Path == "" || u.Path == "/" || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("%q: not https://outlook-ext.contoso.test/<path>", got)
		}
		// Rewriting the result again gives the result.
		if again := DesiredExternalURL(exchange.KindMAPI, "outlook-ext.contoso.test", &got, nil); again != got {
			t.Fatalf("not stable: %q then %q", got, again)
		}
	})
}

// euFixture is a one-server snapshot: the six URL kinds (OAB with a $null
// ExternalUrl), Autodiscover, PowerShell, Outlook Anywhere and the SCP.
func euFixture() ExternalURLsSnapshot {
	mk := func(kind exchange.VDirKind, name, path string, n int) exchange.VirtualDirectory {
		u := "https://outlook.contoso.test" + path
		v := exchange.VirtualDirectory{Kind: kind, Server: "EX01", Identity: `EX01\` + name + " (Default Web Site)",
			Guid: fmt.Sprintf("00000000-0000-0000-0000-%012d", n), InternalUrl: sp(u), ExternalUrl: sp(u), IISAuthenticationMethods: []string{}}
		if kind == exchange.KindMAPI {
			v.IISAuthenticationMethods = []string{"Ntlm", "OAuth", "Negotiate"}
		}
		return v
	}
	s := ExternalURLsSnapshot{Servers: []string{"EX01"}, External: "outlook-ext.contoso.test",
		VDirs: []exchange.VirtualDirectory{
			mk(exchange.KindOWA, "owa", "/owa", 1), mk(exchange.KindECP, "ecp", "/ecp", 2), mk(exchange.KindMAPI, "mapi", "/mapi", 3),
			mk(exchange.KindEWS, "EWS", "/EWS/Exchange.asmx", 4), mk(exchange.KindActiveSync, "Microsoft-Server-ActiveSync", "/Microsoft-Server-ActiveSync", 5),
			mk(exchange.KindOAB, "OAB", "/OAB", 6), mk(exchange.KindAutodiscover, "Autodiscover", "", 7), mk(exchange.KindPowerShell, "PowerShell", "/powershell", 8),
		},
		OutlookAnywhere: []exchange.OutlookAnywhere{{Server: "EX01", Identity: `EX01\Rpc (Default Web Site)`, Guid: "00000000-0000-0000-0000-000000000009",
			ExternalHostname: sp("outlook.contoso.test"), InternalHostname: sp("outlook.contoso.test"), ExternalClientsRequireSsl: false, ExternalClientAuthenticationMethod: "Negotiate"}},
		SCP: []exchange.ClientAccessService{{Name: "EX01", AutoDiscoverServiceInternalUri: sp("https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml")}},
	}
	s.VDirs[5].ExternalUrl = nil
	s.VDirs[6].InternalUrl, s.VDirs[6].ExternalUrl = nil, nil
	s.VDirs[7].ExternalUrl = nil
	return s
}

func planLines(p engine.Plan) string {
	var b strings.Builder
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "%s %s: %s -> %s\n", c.Target, c.Field, c.From, c.To)
	}
	return b.String()
}

func TestExternalURLsPlan(t *testing.T) {
	snap := euFixture()
	snap.VDirs[1].ExternalUrl = sp("https://OUTLOOK-EXT.contoso.test/ecp") // already there (other casing)
	p := ExternalURLsPlan(snap)
	want := `EX01\owa (Default Web Site) ExternalUrl: https://outlook.contoso.test/owa -> https://outlook-ext.contoso.test/owa
EX01\ecp (Default Web Site) ExternalUrl: https://OUTLOOK-EXT.contoso.test/ecp -> https://OUTLOOK-EXT.contoso.test/ecp
EX01\mapi (Default Web Site) ExternalUrl: https://outlook.contoso.test/mapi -> https://outlook-ext.contoso.test/mapi
EX01\EWS (Default Web Site) ExternalUrl: https://outlook.contoso.test/EWS/Exchange.asmx -> https://outlook-ext.contoso.test/EWS/Exchange.asmx
EX01\Microsoft-Server-ActiveSync (Default Web Site) ExternalUrl: https://outlook.contoso.test/Microsoft-Server-ActiveSync -> https://outlook-ext.contoso.test/Microsoft-Server-ActiveSync
EX01\OAB (Default Web Site) ExternalUrl: $null -> https://outlook-ext.contoso.test/OAB
EX01\Rpc (Default Web Site) ExternalHostname: outlook.contoso.test -> outlook-ext.contoso.test
EX01\Rpc (Default Web Site) ExternalClientsRequireSsl: False -> True
EX01\Rpc (Default Web Site) ExternalClientAuthenticationMethod: Negotiate -> Negotiate
`
	if got := planLines(p); got != want {
		t.Fatalf("plan:\n%s\nwant:\n%s", got, want)
	}
	if p.Pending() != 7 {
		t.Fatalf("pending %d, want 7", p.Pending())
	}
	if !strings.Contains(p.Summary, "https://outlook-ext.contoso.test/<same path>") || !strings.Contains(p.Summary, "SCP stay") {
		t.Fatalf("summary: %s", p.Summary)
	}
}

// ExternalURLWrites asks for every URL-bearing vdir and Outlook Anywhere
// (the server skips what is in place), keeps the Outlook Anywhere auth
// method and never touches Autodiscover or PowerShell;
// ExternalURLRestoreWrites asks for the captured values exactly, $null as
// $null.
func TestExternalURLWrites(t *testing.T) {
	snap := euFixture()
	snap.OutlookAnywhere[0].ExternalHostname = nil
	cases := []struct {
		name      string
		write     func(ExternalURLsSnapshot) ([]exchange.VDirURLChange, []exchange.OutlookAnywhereChange, map[string]string)
		owa, oab  string
		host, ssl string
	}{
		{"apply", ExternalURLWrites, "https://outlook-ext.contoso.test/owa", "https://outlook-ext.contoso.test/OAB", "outlook-ext.contoso.test", "True"},
		{"restore", ExternalURLRestoreWrites, "https://outlook.contoso.test/owa", "$null", "$null", "False"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, o, names := tc.write(snap)
			if len(v) != 6 || len(o) != 1 || len(names) != 7 {
				t.Fatalf("%d vdir and %d OA writes, %d names", len(v), len(o), len(names))
			}
			for _, c := range v {
				if c.Kind == exchange.KindAutodiscover || c.Kind == exchange.KindPowerShell {
					t.Fatalf("touches %s", c.Kind)
				}
			}
			if strOrNull(v[0].ExternalUrl) != tc.owa || v[5].Kind != exchange.KindOAB || strOrNull(v[5].ExternalUrl) != tc.oab {
				t.Fatalf("owa %s, oab %s", strOrNull(v[0].ExternalUrl), strOrNull(v[5].ExternalUrl))
			}
			if strOrNull(o[0].ExternalHostname) != tc.host || psBoolText(o[0].ExternalClientsRequireSsl) != tc.ssl || o[0].ExternalClientAuthenticationMethod != "Negotiate" {
				t.Fatalf("OA write %+v", o[0])
			}
			if names[strings.ToLower(o[0].Guid)] != `EX01\Rpc (Default Web Site)` {
				t.Fatalf("names %v", names)
			}
		})
	}
}

func TestUntouchedDifferences(t *testing.T) {
	snap := euFixture()
	if d, msg := UntouchedDifferences(snap, snap.VDirs, snap.OutlookAnywhere, snap.SCP); len(d) != 0 || !strings.Contains(msg, "EX01 SCP https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml") {
		t.Fatalf("%v %s", d, msg)
	}
	vd := append([]exchange.VirtualDirectory(nil), snap.VDirs...)
	vd[0].ExternalUrl = sp("https://elsewhere/owa") // allowed: the step's own change
	vd[1].InternalUrl = sp("https://outlook-ext.contoso.test/ecp")
	vd[6].ExternalUrl = sp("https://outlook-ext.contoso.test/autodiscover")
	scp := []exchange.ClientAccessService{{Name: "EX01", AutoDiscoverServiceInternalUri: sp("https://outlook-ext.contoso.test/Autodiscover/Autodiscover.xml")}}
	oa := append([]exchange.OutlookAnywhere(nil), snap.OutlookAnywhere...)
	oa[0].InternalHostname = nil
	d, _ := UntouchedDifferences(snap, vd, oa, scp)
	want := []string{
		`EX01 AutoDiscoverServiceInternalUri https://outlook-ext.contoso.test/Autodiscover/Autodiscover.xml (was https://autodiscover.contoso.test/Autodiscover/Autodiscover.xml)`,
		`EX01\Autodiscover (Default Web Site) ExternalUrl https://outlook-ext.contoso.test/autodiscover (was $null)`,
		`EX01\Rpc (Default Web Site) InternalHostname $null (was outlook.contoso.test)`,
		`EX01\ecp (Default Web Site) InternalUrl https://outlook-ext.contoso.test/ecp (was https://outlook.contoso.test/ecp)`,
	}
	if strings.Join(d, "\n") != strings.Join(want, "\n") {
		t.Fatalf("differences:\n%s", strings.Join(d, "\n"))
	}
}

// euRunner is a fake Exchange endpoint for one server: it answers the
// reads from vdirs/oa and the writes, failing the items in fail, and
// records every pipeline (writes separately).
type euRunner struct {
	mu     sync.Mutex
	vdirs  []exchange.VirtualDirectory
	oa     []exchange.OutlookAnywhere
	fail   map[string]string // GUID → Exchange's message
	sent   []string
	writes []string
}

func euObj(kv ...any) *psrp.Object {
	o := &psrp.Object{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Extended = append(o.Extended, psrp.Property{Name: kv[i].(string), Value: kv[i+1]})
	}
	return o
}

func euNullable(s *string) psrp.Value {
	if s == nil {
		return nil
	}
	return *s
}

func euParam(c psrp.Command, name string) (psrp.Value, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

var euNouns = map[string]exchange.VDirKind{
	"OwaVirtualDirectory": exchange.KindOWA, "EcpVirtualDirectory": exchange.KindECP, "MapiVirtualDirectory": exchange.KindMAPI,
	"WebServicesVirtualDirectory": exchange.KindEWS, "ActiveSyncVirtualDirectory": exchange.KindActiveSync, "OabVirtualDirectory": exchange.KindOAB,
	"AutodiscoverVirtualDirectory": exchange.KindAutodiscover, "PowerShellVirtualDirectory": exchange.KindPowerShell,
}

func (r *euRunner) Run(_ context.Context, pl psrp.Pipeline, _ []psrp.Value) (*psrp.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res, ok := fakeGetCommand(pl); ok {
		return res, nil
	}
	c := pl.Commands[0]
	r.sent = append(r.sent, pl.String())
	id, hasID := euParam(c, "Identity")
	verb, noun, _ := strings.Cut(c.Name, "-")
	res := &psrp.Result{}
	switch {
	case c.Name == "Get-ExchangeServer":
		res.Output = []psrp.Value{euObj("Name", "EX01", "Fqdn", "ex01.contoso.test", "Guid", "5f0c3b8e-2f55-4c1e-9d0a-6c1f7a3e8b21", "AdminDisplayVersion", "Version 15.2", "ServerRole", "Mailbox", "IsEdgeServer", false)}
	case c.Name == "Get-ClientAccessService", c.Name == "Get-ExchangeCertificate":
	case c.Name == "Get-OutlookAnywhere":
		for _, o := range r.oa {
			if !hasID || strings.EqualFold(o.Guid, id.(string)) {
				res.Output = append(res.Output, euObj("Server", o.Server, "Identity", o.Identity, "Guid", o.Guid, "ExternalHostname", euNullable(o.ExternalHostname),
					"InternalHostname", euNullable(o.InternalHostname), "ExternalClientsRequireSsl", o.ExternalClientsRequireSsl, "ExternalClientAuthenticationMethod", o.ExternalClientAuthenticationMethod))
			}
		}
	case c.Name == "Set-OutlookAnywhere":
		r.writes = append(r.writes, pl.String())
		if msg, bad := r.fail[id.(string)]; bad {
			res.Errors = []*psrp.ErrorRecord{{Message: msg}}
			break
		}
		h, _ := euParam(c, "ExternalHostname")
		ssl, _ := euParam(c, "ExternalClientsRequireSsl")
		for i, o := range r.oa {
			if strings.EqualFold(o.Guid, id.(string)) {
				r.oa[i].ExternalHostname, r.oa[i].ExternalClientsRequireSsl = euStr(h), ssl.(bool)
			}
		}
	case euNouns[noun] != "" && verb == "Get":
		for _, v := range r.vdirs {
			if v.Kind == euNouns[noun] && (!hasID || strings.EqualFold(v.Guid, id.(string))) {
				o := euObj("Server", v.Server, "Identity", v.Identity, "Guid", v.Guid, "InternalUrl", euNullable(v.InternalUrl), "ExternalUrl", euNullable(v.ExternalUrl))
				if v.Kind == exchange.KindMAPI {
					o.Extended = append(o.Extended, psrp.Property{Name: "IISAuthenticationMethods", Value: psrp.NewList("Ntlm", "OAuth", "Negotiate")})
				}
				res.Output = append(res.Output, o)
			}
		}
	case euNouns[noun] != "" && verb == "Set":
		r.writes = append(r.writes, pl.String())
		if msg, bad := r.fail[id.(string)]; bad {
			res.Errors = []*psrp.ErrorRecord{{Message: msg}}
			break
		}
		u, _ := euParam(c, "ExternalUrl")
		for i, v := range r.vdirs {
			if strings.EqualFold(v.Guid, id.(string)) {
				r.vdirs[i].ExternalUrl = euStr(u)
			}
		}
	default:
		return nil, fmt.Errorf("unexpected pipeline: %s", pl)
	}
	return res, nil
}

func euStr(v psrp.Value) *string {
	if v == nil {
		return nil
	}
	s := v.(string)
	return &s
}

// euEnv is an Env whose outputs are keyed like the engine's: step/key.
type euEnv struct {
	pdnsEnv
	id string
}

func (e *euEnv) SetOutput(key string, v any) error { return e.pdnsEnv.SetOutput(e.id+"/"+key, v) }

func euConfig() *config.Config {
	cfg := config.Default()
	cfg.Namespace.External = "outlook-ext.contoso.test"
	return cfg
}

// An item failure fails the apply naming the vdir and Exchange's words,
// and applied_at is not recorded; an apply with everything in place
// writes nothing and records applied_at once.
func TestExternalURLsApplyFake(t *testing.T) {
	snap := euFixture()
	snap.OutlookAnywhere[0].ExternalHostname, snap.OutlookAnywhere[0].ExternalClientsRequireSsl = sp("outlook-ext.contoso.test"), true
	raw, _ := json.Marshal(snap)
	cur := append([]exchange.VirtualDirectory(nil), snap.VDirs...)
	for i := range cur[2:6] {
		u := DesiredExternalURL(cur[i+2].Kind, snap.External, cur[i+2].ExternalUrl, cur[i+2].InternalUrl)
		cur[i+2].ExternalUrl = &u
	}
	r := &euRunner{vdirs: cur, oa: snap.OutlookAnywhere, fail: map[string]string{snap.VDirs[0].Guid: "The virtual directory is locked by IIS."}}
	st, err := newExternalURLs("external-urls", nil, testDeps(euConfig(), clients.Options{Runner: r}))
	if err != nil {
		t.Fatal(err)
	}
	env := &euEnv{pdnsEnv: pdnsEnv{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}, id: "external-urls"}
	_, err = st.Apply(context.Background(), env, raw)
	if err == nil || !strings.Contains(err.Error(), `EX01\owa (Default Web Site): The virtual directory is locked by IIS.`) || strings.Contains(err.Error(), "ecp (Default") {
		t.Fatalf("apply: %v", err)
	}
	if _, ok := env.outputs["external-urls/applied_at"]; ok {
		t.Fatal("applied_at recorded although the write failed")
	}
	// Writes only for OWA and ECP (read by GUID, compared in Go), the
	// ECP write done, OA and the vdirs already right left alone.
	if len(r.writes) != 2 || !strings.Contains(r.writes[0], "Set-OwaVirtualDirectory -Identity '"+snap.VDirs[0].Guid) || !strings.Contains(r.writes[1], "Set-EcpVirtualDirectory -Identity '"+snap.VDirs[1].Guid) {
		t.Fatalf("%d writes:\n%s", len(r.writes), strings.Join(r.writes, "\n"))
	}
	if strOrNull(r.vdirs[1].ExternalUrl) != "https://outlook-ext.contoso.test/ecp" || strOrNull(r.vdirs[0].ExternalUrl) != "https://outlook.contoso.test/owa" {
		t.Fatalf("after the write: owa %s ecp %s", strOrNull(r.vdirs[0].ExternalUrl), strOrNull(r.vdirs[1].ExternalUrl))
	}

	// Everything in place (other casing for OWA): one launch per apply
	// that writes nothing, applied_at recorded, and kept by a later apply.
	cur = append([]exchange.VirtualDirectory(nil), r.vdirs...)
	cur[0].ExternalUrl = sp("HTTPS://OUTLOOK-EXT.contoso.test/owa")
	r2 := &euRunner{vdirs: cur, oa: snap.OutlookAnywhere}
	st2, _ := newExternalURLs("external-urls", nil, testDeps(euConfig(), clients.Options{Runner: r2}))
	for i := 0; i < 2; i++ {
		if _, err := st2.Apply(context.Background(), env, raw); err != nil {
			t.Fatal(err)
		}
		env.now = env.now.Add(time.Hour)
	}
	if len(r2.writes) != 0 || strOrNull(r2.vdirs[0].ExternalUrl) != "HTTPS://OUTLOOK-EXT.contoso.test/owa" {
		t.Fatalf("%d writes, owa %s; want no write", len(r2.writes), strOrNull(r2.vdirs[0].ExternalUrl))
	}
	// Rollback restores exactly: the casing, and $null for the OAB.
	if err := st2.Rollback(context.Background(), env, raw); err != nil {
		t.Fatal(err)
	}
	if len(r2.writes) == 0 || !reflect.DeepEqual(r2.vdirs, snap.VDirs) || strOrNull(r2.vdirs[5].ExternalUrl) != "$null" {
		t.Fatalf("after rollback (%d writes): %+v", len(r2.writes), r2.vdirs)
	}
	var at time.Time
	if ok, err := env.Output("external-urls", "applied_at", &at); !ok || err != nil || !at.Equal(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("applied_at %v %v %v, want the first apply's time", at, ok, err)
	}
}

func TestExternalURLsFactory(t *testing.T) {
	if _, err := newExternalURLs("external-urls", map[string]any{"x": 1}, testDeps(euConfig(), clients.Options{})); err == nil {
		t.Fatal("accepted a parameter")
	}
	if _, err := newExternalURLs("external-urls", nil, nil); err == nil {
		t.Fatal("accepted no config")
	}
	cfg := euConfig()
	cfg.Namespace.External = " "
	if _, err := newExternalURLs("external-urls", nil, testDeps(cfg, clients.Options{})); err == nil || !strings.Contains(err.Error(), "namespace.external") {
		t.Fatalf("empty external: %v", err)
	}
	if _, ok := Lookup("external-urls"); !ok {
		t.Fatal("external-urls is not registered")
	}
}

// labURLs reads the lab's URL settings: vdir identity → "internal|external",
// OA server → external hostname, SCP server → URI.
type labURLs struct {
	vdirs map[string][2]*string
	oa    map[string]*org.OutlookAnywhere
	scp   map[string]*string
}

func readLabURLs(t *testing.T, cl *certLab) labURLs {
	t.Helper()
	out := labURLs{vdirs: map[string][2]*string{}, oa: map[string]*org.OutlookAnywhere{}, scp: map[string]*string{}}
	cl.lab.Store().Read(func(o *org.Org) {
		for _, v := range o.VirtualDirectories {
			out.vdirs[v.Server+"/"+v.Kind] = [2]*string{v.InternalUrl, v.ExternalUrl}
		}
		for _, a := range o.OutlookAnywhere {
			c := *a
			out.oa[a.Server] = &c
		}
		for _, c := range o.ClientAccess {
			out.scp[c.Server] = c.AutoDiscoverServiceInternalUri
		}
	})
	return out
}

// The whole step against the lab, after the certificate is bound: every
// external URL and Outlook Anywhere use the external name, InternalUrls,
// Autodiscover, PowerShell and the SCP are untouched, the $null OAB URL
// gets the new name and is $null again after rollback, and rolling back
// everything restores org.initial.json byte for byte. Launches are counted.
func TestExternalURLsLab(t *testing.T) {
	cl := startCertLab(t)
	ext := cl.cfg.Namespace.External
	before := readLabURLs(t, cl)
	nullOAB := 0
	for k, v := range before.vdirs {
		if strings.HasSuffix(k, "/"+org.KindOab) && v[1] == nil {
			nullOAB++
		}
	}
	if nullOAB == 0 {
		t.Fatal("the lab has no OAB vdir with a $null ExternalUrl to test with")
	}
	eng, deps, sink := cl.open(t, "certificate", "bind-certificate", "external-urls", "autodiscover-wait")
	ctx := context.Background()
	if err := eng.Run(ctx, engine.RunOptions{Yes: true, Unattended: true, Until: "bind-certificate"}); err != nil {
		t.Fatalf("certificate: %v\n%s", err, sink.logs())
	}
	s0 := cl.lab.Stats()
	if err := eng.Run(ctx, engine.RunOptions{Yes: true, Unattended: true, Until: "external-urls"}); err != nil {
		t.Fatalf("external-urls: %v\n%s", err, sink.logs())
	}
	s1 := cl.lab.Stats()
	// Issue 4's budget: capture 1 (the consistency pre-check judges its
	// read) + apply 1 (compare-and-set on the server) + post-checks 1; the
	// servers were read by the earlier steps.
	if n := launches(s1) - launches(s0); n != 0 {
		t.Errorf("external-urls took %d PowerShell launches or shells, want 0", n)
	}
	if n := callCount(s1, "Set-OutlookAnywhere") - callCount(s0, "Set-OutlookAnywhere"); n != 2 {
		t.Errorf("Set-OutlookAnywhere called %d times, want 2 (one per server)", n)
	}
	for _, c := range []string{"Set-AutodiscoverVirtualDirectory", "Set-PowerShellVirtualDirectory", "Set-ClientAccessService"} {
		if n := callCount(s1, c) - callCount(s0, c); n != 0 {
			t.Errorf("%s called %d times", c, n)
		}
	}
	after := readLabURLs(t, cl)
	for k, v := range before.vdirs {
		now := after.vdirs[k]
		if strOrNull(now[0]) != strOrNull(v[0]) {
			t.Errorf("%s InternalUrl %s, was %s", k, strOrNull(now[0]), strOrNull(v[0]))
		}
		kind := k[strings.Index(k, "/")+1:]
		if kind == org.KindAutodiscover || kind == org.KindPowerShell {
			if strOrNull(now[1]) != strOrNull(v[1]) {
				t.Errorf("%s ExternalUrl %s, was %s", k, strOrNull(now[1]), strOrNull(v[1]))
			}
			continue
		}
		u, err := url.Parse(strOrNull(now[1]))
		if err != nil || u.Host != ext || u.Scheme != "https" {
			t.Errorf("%s ExternalUrl %s does not use %s", k, strOrNull(now[1]), ext)
		}
	}
	for s, o := range after.oa {
		was := before.oa[s]
		if strOrNull(o.ExternalHostname) != ext || !o.ExternalClientsRequireSsl || o.ExternalClientAuthenticationMethod != was.ExternalClientAuthenticationMethod ||
			strOrNull(o.InternalHostname) != strOrNull(was.InternalHostname) {
			t.Errorf("%s Outlook Anywhere: %+v (was %+v)", s, o, was)
		}
	}
	for s, u := range after.scp {
		if strOrNull(u) != strOrNull(before.scp[s]) {
			t.Errorf("%s SCP %s, was %s", s, strOrNull(u), strOrNull(before.scp[s]))
		}
	}
	var mapiAuth []string
	cl.lab.Store().Read(func(o *org.Org) { mapiAuth = o.ServerVDirs(org.KindMapi, "EX01")[0].IISAuthenticationMethods })
	if strings.Join(mapiAuth, ",") != "Ntlm,OAuth,Negotiate" {
		t.Errorf("MAPI IISAuthenticationMethods %v after the change", mapiAuth)
	}
	v := stepChecks(t, eng, "external-urls")
	for _, name := range []string{"servers-consistent", "tls-external-name"} {
		if r := findResult(t, v.PreChecks, name); r.Status != engine.CheckPass {
			t.Errorf("pre-check %s: %+v", name, r)
		}
	}
	if r := findResult(t, v.PostChecks, "external-urls-set"); r.Status != engine.CheckPass || len(r.Evidence) != 14 {
		t.Errorf("external-urls-set: %+v", r)
	}
	if r := findResult(t, v.PostChecks, "internal-urls-untouched"); r.Status != engine.CheckPass || !strings.Contains(r.Message, "SCP https://autodiscover.") {
		t.Errorf("internal-urls-untouched: %+v", r)
	}
	var appliedAt time.Time
	if err := json.Unmarshal(v.Outputs["applied_at"], &appliedAt); err != nil || appliedAt.IsZero() {
		t.Errorf("applied_at %s: %v", v.Outputs["applied_at"], err)
	}
	// autodiscover-wait reads it: it waits until applied_at + min_wait.
	plans, err := eng.PlanSteps(ctx)
	if err != nil || len(plans) != 1 || plans[0].ID != "autodiscover-wait" ||
		plans[0].Plan.Changes[0].To != appliedAt.Add(cl.cfg.Autodiscover.MinWait.D()).UTC().Format(time.RFC3339) {
		t.Fatalf("autodiscover-wait plan: %v %+v (applied_at %s)", err, plans, appliedAt)
	}

	// Drift: someone sets EX02's owa back; the post-check names it.
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		o.ServerVDirs(org.KindOwa, "EX02")[0].ExternalUrl = sp("https://outlook.contoso.test/owa")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Checks(ctx, []string{"external-urls"})
	if err != nil || len(res) != 1 || !res[0].Failed() || !strings.Contains(findResult(t, res[0].Results, "external-urls-set").Message, `EX02\owa (Default Web Site) ExternalUrl https://outlook.contoso.test/owa`) {
		t.Fatalf("drift check: %+v %v", res, err)
	}
	// The step's apply again: one write (the drifted owa), two reads.
	st, _ := newExternalURLs("external-urls", nil, deps)
	env := &euEnv{pdnsEnv: pdnsEnv{now: time.Now()}, id: "external-urls"}
	sc := cl.lab.Stats()
	snap, err := st.Capture(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	s2 := cl.lab.Stats()
	if n := launches(s2) - launches(sc); n != 0 {
		t.Errorf("capture took %d launches, want 0", n)
	}
	if _, err := st.Apply(ctx, env, snap); err != nil {
		t.Fatal(err)
	}
	s3 := cl.lab.Stats()
	if n := launches(s3) - launches(s2); n != 0 {
		t.Errorf("repair apply took %d launches, want 0", n)
	}
	if n := callCount(s3, "Set-OwaVirtualDirectory") - callCount(s2, "Set-OwaVirtualDirectory"); n != 1 {
		t.Errorf("repair wrote owa %d times, want 1", n)
	}
	if n := int(s3.VdirChanges - s2.VdirChanges); n != 1 {
		t.Errorf("repair changed %d vdirs, want 1", n)
	}
	s4 := cl.lab.Stats()
	if _, err := st.Apply(ctx, env, snap); err != nil {
		t.Fatal(err)
	}
	if n := launches(cl.lab.Stats()) - launches(s4); n != 0 {
		t.Errorf("an apply with nothing to do took %d launches, want 0", n)
	}
	s5 := cl.lab.Stats()
	for _, r := range (&externalURLs{id: "external-urls", deps: deps}).PostChecks(env, snap) {
		if res := r.Run(ctx, env); res.Status != engine.CheckPass {
			t.Errorf("%s after the repair: %+v", r.Name(), res)
		}
	}
	if n := launches(cl.lab.Stats()) - launches(s5); n != 0 {
		t.Errorf("the post-checks took %d launches, want 0", n)
	}

	// Rollback of this step alone: the OAB ExternalUrls are $null again.
	if err := eng.Rollback(ctx, "external-urls", false); err != nil {
		t.Fatalf("rollback: %v\n%s", err, sink.logs())
	}
	var oabNull int
	cl.lab.Store().Read(func(o *org.Org) {
		for _, s := range []string{"EX01", "EX02"} {
			if o.ServerVDirs(org.KindOab, s)[0].ExternalUrl == nil {
				oabNull++
			}
		}
	})
	if oabNull != nullOAB {
		t.Fatalf("%d OAB vdirs with a $null ExternalUrl after rollback, want %d", oabNull, nullOAB)
	}
	var canon struct {
		VirtualDirectories []map[string]json.RawMessage
	}
	if err := json.Unmarshal(cl.lab.Org(), &canon); err != nil {
		t.Fatal(err)
	}
	for _, v := range canon.VirtualDirectories {
		if string(v["Kind"]) == `"`+org.KindOab+`"` && string(v["ExternalUrl"]) != "null" {
			t.Fatalf("OAB ExternalUrl in the canonical org: %s, want null", v["ExternalUrl"])
		}
	}
	if err := eng.RollbackAll(ctx); err != nil {
		t.Fatalf("rollback --all: %v\n%s", err, sink.logs())
	}
	if !bytes.Equal(cl.initial(t), cl.lab.Org()) {
		t.Fatal("rollback --all did not restore org.initial.json")
	}

	// Servers that disagree stop the step before any change: the
	// pre-check names the server, the setting and both values.
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		o.ServerVDirs(org.KindOwa, "EX02")[0].ExternalUrl = sp("https://elsewhere.contoso.test/owa")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	env = &euEnv{pdnsEnv: pdnsEnv{now: time.Now()}, id: "external-urls"}
	if snap, err = st.Capture(ctx, env); err != nil {
		t.Fatal(err)
	}
	// Right after the capture the check judges the capture's read (no
	// launch); asked again (a rerun with the stored snapshot) it reads
	// once, and both see the same.
	for i, want := range []int64{0, 1} {
		s6 := cl.lab.Stats()
		r := st.PreChecks(env, snap)[0].Run(ctx, env)
		if r.Status != engine.CheckFail || len(r.Evidence) != 1 || r.Evidence[0] != "EX02 owa ExternalUrl https://elsewhere.contoso.test/owa (EX01: https://outlook.contoso.test/owa)" {
			t.Fatalf("consistency with EX02 different (%d): %+v", i, r)
		}
		if n := cl.lab.Stats().Pipelines - s6.Pipelines; (n == 0) != (want == 0) {
			t.Errorf("the consistency check (%d) sent %d pipelines, want %s", i, n, map[bool]string{true: "none (the capture's read)", false: "a read"}[want == 0])
		}
	}
}

// A write that fails half-way (Set-OutlookAnywhere refused by Exchange
// after the vdirs were changed) fails the step naming the object and
// Exchange's words; the next run finishes only what is left, and rolling
// back still restores the organisation as it was before the first run
// (the snapshot was not captured again from the half-changed state).
func TestExternalURLsPartialFailureLab(t *testing.T) {
	cl := startCertLab(t)
	eng, _, sink := cl.open(t, "certificate", "bind-certificate", "external-urls")
	ctx := context.Background()
	if err := eng.Run(ctx, engine.RunOptions{Yes: true, Unattended: true, Until: "bind-certificate"}); err != nil {
		t.Fatalf("certificate: %v\n%s", err, sink.logs())
	}
	before := readLabURLs(t, cl)
	spec, err := faults.Parse("error:Set-OutlookAnywhere=1")
	if err != nil {
		t.Fatal(err)
	}
	cl.lab.Faults().Set(spec)
	err = eng.Run(ctx, pdnsRun)
	if err == nil || !strings.Contains(err.Error(), `Set-OutlookAnywhere failed for EX01\Rpc (Default Web Site): The operation couldn't be performed because of a transient server error.`) {
		t.Fatalf("run with Set-OutlookAnywhere failing: %v", err)
	}
	half := readLabURLs(t, cl)
	if strOrNull(half.oa["EX01"].ExternalHostname) != strOrNull(before.oa["EX01"].ExternalHostname) {
		t.Fatal("Outlook Anywhere changed although the cmdlet failed")
	}
	if u := strOrNull(half.vdirs["EX01/"+org.KindOwa][1]); !strings.Contains(u, cl.cfg.Namespace.External) {
		t.Fatalf("owa ExternalUrl %s: the vdir script did not run first", u)
	}
	if v := stepChecks(t, eng, "external-urls"); v.Status != engine.StatusFailed || len(v.Outputs["applied_at"]) != 0 {
		t.Fatalf("after the failure: %s, applied_at %s", v.Status, v.Outputs["applied_at"])
	}
	// As if EX02's owa had failed too: EX01 has the new URL, EX02 the old
	// one. The rerun's consistency pre-check counts EX01's as before.
	if err := cl.lab.Store().UpdateRest(func(o *org.Org) error {
		o.ServerVDirs(org.KindOwa, "EX02")[0].ExternalUrl = before.vdirs["EX02/"+org.KindOwa][1]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cl.lab.Faults().Set(faults.Spec{})
	s0 := cl.lab.Stats()
	if err := eng.Run(ctx, pdnsRun); err != nil {
		t.Fatalf("second run: %v\n%s", err, sink.logs())
	}
	s1 := cl.lab.Stats()
	for _, c := range []string{"Set-EcpVirtualDirectory", "Set-MapiVirtualDirectory", "Set-OabVirtualDirectory"} {
		if n := callCount(s1, c) - callCount(s0, c); n != 0 {
			t.Errorf("the second run called %s %d times; the vdirs were already done", c, n)
		}
	}
	if n := callCount(s1, "Set-OwaVirtualDirectory") - callCount(s0, "Set-OwaVirtualDirectory"); n != 1 {
		t.Errorf("the second run called Set-OwaVirtualDirectory %d times, want 1 (EX02)", n)
	}
	if r := findResult(t, stepChecks(t, eng, "external-urls").PreChecks, "servers-consistent"); r.Status != engine.CheckPass || !strings.Contains(r.Message, "already set counted as before") {
		t.Errorf("rerun consistency: %+v", r)
	}
	if n := callCount(s1, "Set-OutlookAnywhere") - callCount(s0, "Set-OutlookAnywhere"); n != 2 {
		t.Errorf("the second run called Set-OutlookAnywhere %d times, want 2", n)
	}
	if err := eng.RollbackAll(ctx); err != nil {
		t.Fatalf("rollback --all: %v\n%s", err, sink.logs())
	}
	if !bytes.Equal(cl.initial(t), cl.lab.Org()) {
		t.Fatal("rollback --all did not restore org.initial.json")
	}
}

func TestChangeFailures(t *testing.T) {
	const g1, g2, g3 = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000009"
	names := map[string]string{g1: `EX01\owa (Default Web Site)`, g3: `EX01\Rpc (Default Web Site)`}
	f := func(res []exchange.ChangeResult, err error) error {
		return changeFailures(res, err, names, 2, "Set-*VirtualDirectory -ExternalUrl", "Set-OutlookAnywhere")
	}
	ok := exchange.ChangeResult{ID: g1, OK: true, Changed: true}
	bad := exchange.ChangeResult{ID: g1, Error: "locked"}
	unknown := exchange.ChangeResult{ID: g2, Error: "gone"}
	badOA := exchange.ChangeResult{ID: g3, Error: "The operation couldn't be performed because of a transient server error."}
	throttled := errkind.Transient(fmt.Errorf("throttled"))
	cases := []struct {
		name      string
		res       []exchange.ChangeResult
		err       error
		want      string
		transient bool
	}{
		{name: "all ok", res: []exchange.ChangeResult{ok}},
		{name: "nothing", res: nil},
		{name: "vdirs", res: []exchange.ChangeResult{bad, unknown}, want: `Set-*VirtualDirectory -ExternalUrl failed for EX01\owa (Default Web Site): locked; 00000000-0000-0000-0000-000000000002: gone`},
		{name: "vdir and OA", res: []exchange.ChangeResult{bad, ok, badOA}, want: `Set-*VirtualDirectory -ExternalUrl failed for EX01\owa (Default Web Site): locked; Set-OutlookAnywhere failed for EX01\Rpc (Default Web Site): The operation couldn't be performed because of a transient server error.`},
		{name: "throttled keeps transient", res: []exchange.ChangeResult{ok, ok, badOA}, err: throttled, want: `Set-OutlookAnywhere failed for EX01\Rpc (Default Web Site): The operation couldn't be performed because of a transient server error.: throttled`, transient: true},
		{name: "operation error", err: throttled, want: "throttled", transient: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := f(tc.res, tc.err)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.want || errkind.IsTransient(err) != tc.transient {
				t.Fatalf("%v (transient %t), want %q", err, errkind.IsTransient(err), tc.want)
			}
		})
	}
}

func TestAsBeforeStep(t *testing.T) {
	snap := euFixture()
	cur := append([]exchange.VirtualDirectory(nil), snap.VDirs...)
	cur[0].ExternalUrl = sp("https://outlook-ext.contoso.test/owa")          // set by the step
	cur[1].ExternalUrl = sp("https://elsewhere.contoso.test/ecp")            // changed by someone else
	cur[5].ExternalUrl = sp("https://OUTLOOK-EXT.contoso.test/OAB")          // set by the step ($null before)
	cur[6].ExternalUrl = sp("https://outlook-ext.contoso.test/autodiscover") // not the step's
	oa := append([]exchange.OutlookAnywhere(nil), snap.OutlookAnywhere...)
	oa[0].ExternalHostname, oa[0].ExternalClientsRequireSsl = sp("outlook-ext.contoso.test"), true
	v, o, n := AsBeforeStep(snap, cur, oa)
	if n != 3 {
		t.Fatalf("%d values undone, want 3", n)
	}
	if strOrNull(v[0].ExternalUrl) != "https://outlook.contoso.test/owa" || v[5].ExternalUrl != nil ||
		strOrNull(v[1].ExternalUrl) != "https://elsewhere.contoso.test/ecp" || strOrNull(v[6].ExternalUrl) != "https://outlook-ext.contoso.test/autodiscover" {
		t.Fatalf("vdirs: %s %s %s %s", strOrNull(v[0].ExternalUrl), strOrNull(v[1].ExternalUrl), strOrNull(v[5].ExternalUrl), strOrNull(v[6].ExternalUrl))
	}
	if strOrNull(o[0].ExternalHostname) != "outlook.contoso.test" || o[0].ExternalClientsRequireSsl {
		t.Fatalf("OA: %+v", o[0])
	}
	if strOrNull(cur[0].ExternalUrl) != "https://outlook-ext.contoso.test/owa" || strOrNull(oa[0].ExternalHostname) != "outlook-ext.contoso.test" {
		t.Fatal("the inputs were modified")
	}
	// Nothing set yet: unchanged.
	if _, _, n := AsBeforeStep(snap, snap.VDirs, snap.OutlookAnywhere); n != 0 {
		t.Fatalf("%d undone on the captured state", n)
	}
}
