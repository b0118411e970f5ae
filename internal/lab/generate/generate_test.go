package generate

import (
	"bytes"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

var now = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

var (
	caOnce sync.Once
	labCA  *ca.CA
)

func testCA(t testing.TB) *ca.CA {
	caOnce.Do(func() {
		var err error
		labCA, err = ca.New("Contoso Lab CA", now, nil)
		if err != nil {
			t.Fatal(err)
		}
	})
	return labCA
}

func build(t testing.TB, o Options) *Result {
	t.Helper()
	o.CA = testCA(t)
	o.Now = now
	r, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a := org.Canonical(build(t, Options{Seed: 7}).Org)
	b := org.Canonical(build(t, Options{Seed: 7}).Org)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave two organisations")
	}
	c := org.Canonical(build(t, Options{Seed: 8}).Org)
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same organisation")
	}
	ra, rb := build(t, Options{Seed: 7}), build(t, Options{Seed: 7})
	if ra.Ready.Thumbprint() != rb.Ready.Thumbprint() || ra.Org.Mailboxes[20].Password != rb.Org.Mailboxes[20].Password {
		t.Error("the ready certificate or the passwords differ for one seed")
	}
}

func TestShape(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                     string
		opts                     Options
		servers, mailboxes, vdir int
	}{
		{"defaults", Options{Seed: 1}, 2, 50, 16},
		{"three servers", Options{Seed: 2, Servers: 3, Mailboxes: 200, Allow: 9}, 3, 200, 24},
		{"small", Options{Seed: 3, Servers: 1, Mailboxes: 12, Allow: 2}, 1, 12, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := build(t, tc.opts)
			o := r.Org
			if len(o.Servers) != tc.servers || len(o.Mailboxes) != tc.mailboxes || len(o.VirtualDirectories) != tc.vdir {
				t.Fatalf("servers %d mailboxes %d vdirs %d", len(o.Servers), len(o.Mailboxes), len(o.VirtualDirectories))
			}
			if tc.servers > 1 {
				for _, s := range o.Servers {
					if s.DatabaseAvailabilityGroup != "DAG01" {
						t.Errorf("%s not in the DAG", s.Name)
					}
				}
			}
			// One current certificate, bound to IIS and SMTP everywhere.
			thumbs := map[string]bool{}
			for _, s := range o.Servers {
				var bound []*org.Certificate
				for _, c := range o.ServerCertificates(s.Name) {
					if c.Services&org.ServiceIIS != 0 {
						bound = append(bound, c)
					}
				}
				if len(bound) != 1 || bound[0].Services&org.ServiceSMTP == 0 || bound[0].KeyPEM == "" {
					t.Fatalf("%s: IIS certificates %v", s.Name, bound)
				}
				thumbs[bound[0].Thumbprint] = true
				for _, want := range []string{r.Internal, r.Autodiscover, s.Fqdn} {
					if !contains(bound[0].CertificateDomains, want) {
						t.Errorf("%s: current certificate lacks %s", s.Name, want)
					}
				}
				if contains(bound[0].CertificateDomains, r.External) {
					t.Errorf("the current certificate already covers the external name")
				}
			}
			if len(thumbs) != 1 {
				t.Errorf("servers have different certificates: %v", thumbs)
			}
			pool := x509.NewCertPool()
			pool.AddCert(testCA(t).Cert)
			for _, name := range []string{r.Internal, r.External, r.Autodiscover} {
				if _, err := r.Ready.Cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now}); err != nil {
					t.Errorf("ready certificate for %s: %v", name, err)
				}
			}
			// URLs: the migration's starting point.
			for _, v := range o.VirtualDirectories {
				switch v.Kind {
				case org.KindAutodiscover:
					if v.InternalUrl != nil || v.ExternalUrl != nil {
						t.Errorf("%s has URLs", v.Identity())
					}
				case org.KindPowerShell:
					if v.ExternalUrl != nil || v.InternalUrl == nil {
						t.Errorf("%s URLs", v.Identity())
					}
				case org.KindOab:
					if v.ExternalUrl != nil || !strings.HasPrefix(*v.InternalUrl, "https://"+r.Internal+"/") {
						t.Errorf("%s URLs", v.Identity())
					}
				default:
					if v.InternalUrl == nil || v.ExternalUrl == nil || *v.InternalUrl != *v.ExternalUrl || !strings.HasPrefix(*v.InternalUrl, "https://"+r.Internal+"/") {
						t.Errorf("%s: %v %v", v.Identity(), v.InternalUrl, v.ExternalUrl)
					}
				}
			}
			for _, oa := range o.OutlookAnywhere {
				if *oa.InternalHostname != r.Internal || *oa.ExternalHostname != r.Internal {
					t.Errorf("%s: %v %v", oa.Identity(), *oa.InternalHostname, *oa.ExternalHostname)
				}
			}
			for _, c := range o.ClientAccess {
				if *c.AutoDiscoverServiceInternalUri != "https://"+r.Autodiscover+"/Autodiscover/Autodiscover.xml" {
					t.Errorf("SCP %s", *c.AutoDiscoverServiceInternalUri)
				}
			}
			if !o.Config.MapiHttpEnabled {
				t.Error("org MapiHttpEnabled is off")
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func TestMailboxesAndGroups(t *testing.T) {
	t.Parallel()
	r := build(t, Options{Seed: 42, Mailboxes: 300, Allow: 6})
	o := r.Org
	kinds := map[string]int{}
	mapiOff := 0
	for _, m := range o.Mailboxes {
		kinds[m.RecipientTypeDetails]++
		if m.MapiHttpEnabled != nil && !*m.MapiHttpEnabled {
			mapiOff++
		}
		for _, r := range m.Alias {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.') {
				t.Errorf("alias %q has %q", m.Alias, r)
				break
			}
		}
		if m.RecipientTypeDetails == org.UserMailbox && len(m.Password) < 12 {
			t.Errorf("%s: weak or no password", m.Alias)
		}
		// Every identity resolves to exactly this mailbox.
		for _, id := range []string{m.Alias, m.PrimarySmtpAddress, m.Name, m.DistinguishedName, m.Guid.String()} {
			got, err := o.FindMailbox(id)
			if err != nil || got != m {
				t.Errorf("FindMailbox(%q): %v", id, err)
			}
		}
	}
	if kinds[org.SharedMailbox] != 2 || kinds[org.RoomMailbox] != 1 || kinds[org.UserMailbox] != 297 {
		t.Errorf("kinds %v", kinds)
	}
	if mapiOff != 2 {
		t.Errorf("%d mailboxes with MapiHttpEnabled $false, want 2", mapiOff)
	}
	for i, name := range HostileNames {
		if o.Mailboxes[i].DisplayName != name {
			t.Errorf("mailbox %d display name %q, want %q", i, o.Mailboxes[i].DisplayName, name)
		}
	}
	all := strings.Join(func() []string {
		var s []string
		for _, m := range o.Mailboxes {
			s = append(s, m.DisplayName)
		}
		return s
	}(), "|")
	for _, must := range []string{"'", `"`, "‘", "’", "‚", "‛", "“", "”", "$(", "`", ";", "\n", "Zoë", "Ångström", "山田"} {
		if !strings.Contains(all, must) {
			t.Errorf("no display name contains %q", must)
		}
	}
	allow, err := o.FindGroup(AllowGroup)
	if err != nil {
		t.Fatal(err)
	}
	if allow.RecipientTypeDetails != org.MailUniversalSecurityGroup {
		t.Errorf("allow group type %s", allow.RecipientTypeDetails)
	}
	direct := 0
	var nested *org.Group
	for _, id := range allow.Members {
		switch x := o.RecipientByGuid(id).(type) {
		case *org.Mailbox:
			direct++
		case *org.Group:
			nested = x
		}
	}
	if direct != 6 || nested == nil || nested.Name != NestedGroup {
		t.Fatalf("direct %d nested %v", direct, nested)
	}
	depth2 := false
	for _, id := range nested.Members {
		if g, ok := o.RecipientByGuid(id).(*org.Group); ok && len(g.Members) > 0 {
			depth2 = true
		}
	}
	if !depth2 {
		t.Error("the nested group holds no second-level group")
	}
	for _, g := range o.Groups {
		if strings.ContainsAny(g.Alias+g.PrimarySmtpAddress+g.SamAccountName, " ;,\"\n") || len(g.SamAccountName) > 20 {
			t.Errorf("group %q: alias %q, address %q, sam %q", g.Name, g.Alias, g.PrimarySmtpAddress, g.SamAccountName)
		}
	}
	expanded := o.ExpandGroup(allow)
	if len(expanded) != 6+3+2 {
		t.Errorf("allow set has %d mailboxes, want 11", len(expanded))
	}
	inAllow := map[string]bool{}
	hostileIn := false
	for _, m := range expanded {
		inAllow[m.PrimarySmtpAddress] = true
		if m == o.Mailboxes[0] {
			hostileIn = true
		}
	}
	if !hostileIn {
		t.Error("no hostile name in the allow group")
	}
	if !inAllow[r.ProbeAllowed] || inAllow[r.ProbeBlocked] || r.ProbeBlocked == "" {
		t.Errorf("probe users allowed=%s blocked=%s", r.ProbeAllowed, r.ProbeBlocked)
	}
}

func TestZones(t *testing.T) {
	t.Parallel()
	o := build(t, Options{Seed: 5}).Org
	in, pub := o.Zone("internal"), o.Zone("public")
	if in == nil || pub == nil {
		t.Fatal("zones missing")
	}
	find := func(z *org.Zone, name, typ string) []org.Record {
		var out []org.Record
		for _, r := range z.Records {
			if r.Name == name && r.Type == typ {
				out = append(out, r)
			}
		}
		return out
	}
	cases := []struct {
		z         *org.Zone
		name, typ string
		data      string
		ttl       uint32
	}{
		{in, "outlook.contoso.test.", "A", InternalVIP, 300},
		{in, "autodiscover.contoso.test.", "A", InternalVIP, 300},
		{in, "ex01.contoso.test.", "A", "192.0.2.11", 300},
		{in, "ex02.contoso.test.", "A", "192.0.2.12", 300},
		{pub, "outlook.contoso.test.", "A", PublicVIP, 2},
		{pub, "autodiscover.contoso.test.", "A", PublicVIP, 2},
		{pub, "contoso.test.", "MX", "10 mail.contoso.test.", 300},
		{pub, "ns1.contoso.test.", "A", PublicNS1, 300},
		{pub, "ns2.contoso.test.", "A", PublicNS2, 300},
	}
	for _, tc := range cases {
		got := find(tc.z, tc.name, tc.typ)
		if len(got) != 1 || got[0].Data != tc.data || got[0].TTL != tc.ttl {
			t.Errorf("%s %s %s: %v", tc.z.View, tc.name, tc.typ, got)
		}
	}
	if len(find(pub, "outlook-ext.contoso.test.", "A")) != 0 {
		t.Error("the external name is already public")
	}
	for _, z := range o.Zones {
		for _, r := range z.Records {
			if r.Type == "A" && !strings.HasPrefix(r.Data, "192.0.2.") && !strings.HasPrefix(r.Data, "203.0.113.") {
				t.Errorf("%s: %s is outside the documentation ranges", z.View, r.Data)
			}
		}
		if z.SOA.Serial == 0 || len(z.NS) == 0 {
			t.Errorf("%s SOA/NS %v %v", z.View, z.SOA, z.NS)
		}
	}
}

func TestOtherDomain(t *testing.T) {
	t.Parallel()
	r := build(t, Options{Seed: 1, Domain: "Fabrikam.Test.", Mailboxes: 20})
	o := r.Org
	if o.Domain != "fabrikam.test" || o.NetBIOS != "FABRIKAM" || o.Name != "Fabrikam" || r.External != "outlook-ext.fabrikam.test" {
		t.Fatalf("names %s %s %s %s", o.Domain, o.NetBIOS, o.Name, r.External)
	}
	for _, z := range o.Zones {
		if z.Name != "fabrikam.test." {
			t.Errorf("zone %s", z.Name)
		}
		for _, rec := range z.Records {
			if !strings.HasSuffix(rec.Name, ".fabrikam.test.") && rec.Name != "fabrikam.test." {
				t.Errorf("record %s outside the domain", rec.Name)
			}
		}
	}
	for _, m := range o.Mailboxes {
		if !strings.HasSuffix(m.PrimarySmtpAddress, "@fabrikam.test") || !strings.HasSuffix(m.DistinguishedName, ",DC=fabrikam,DC=test") {
			t.Errorf("mailbox %s %s", m.PrimarySmtpAddress, m.DistinguishedName)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	for _, o := range []Options{{Mailboxes: 2}, {Servers: 100}, {Allow: -1}} {
		o.CA, o.Now = testCA(t), now
		if _, err := Generate(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if _, err := Generate(Options{Now: now}); err == nil {
		t.Error("no CA accepted")
	}
}

func BenchmarkGenerate100k(b *testing.B) {
	c := testCA(b)
	for b.Loop() {
		if _, err := Generate(Options{Seed: 1, Mailboxes: 100000, CA: c, Now: now}); err != nil {
			b.Fatal(err)
		}
	}
}
