package steps

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/acme"
	"github.com/exrunbook/exrunbook/internal/acme/pebbletest"
	"github.com/exrunbook/exrunbook/internal/clients"
	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/dnsupdate"
	"github.com/exrunbook/exrunbook/internal/dnsupdate/bindtest"
	"github.com/exrunbook/exrunbook/internal/engine"
	cffake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/cloudflare"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

// acmeObtain orders the certificate for cfg's names as the certificate
// step does: the ACME client from certificate.acme, the challenge writer
// and propagation check from ACMEChallengeDNS.
func acmeObtain(t *testing.T, d *Deps, p *pebbletest.Server) (*acme.Certificate, []acme.TXTRecord, error) {
	t.Helper()
	d.Config.Certificate.Mode = CertModeACME
	d.Config.Certificate.ACME.Directory = p.DirectoryURL
	d.Config.Certificate.ACME.CAFile = p.CAFile
	c, err := ACMEClient(d.Clients, filepath.Join(t.TempDir(), "state"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	c.PollInterval = 100 * time.Millisecond
	w, prop, err := ACMEChallengeDNS(d, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var presented []acme.TXTRecord
	cert, err := c.Obtain(ctx, ACMENames(d.Config), w, prop, acme.Hooks{Presenting: func(r []acme.TXTRecord) error { presented = r; return nil }})
	return cert, presented, err
}

func checkIssued(t *testing.T, p *pebbletest.Server, cert *acme.Certificate, names []string) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(p.Root())
	inter := x509.NewCertPool()
	for _, c := range cert.Chain[1:] {
		inter.AddCert(c)
	}
	for _, n := range names {
		if _, err := cert.Leaf().Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: n}); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

// obtainThroughAPILab obtains the certificate with Pebble validating
// against the lab's DNS, the TXT records written through the provider
// fake f into the lab's public zone; it checks the certificate, that one
// record was presented per name and that the zone ends as it began, and
// returns the lab and the names.
func obtainThroughAPILab(t *testing.T, f pdnsAPIFake) (*pdnsAPILab, []string) {
	t.Helper()
	l := startAPILab(t, f, "good.token")
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: l.dns.Addr()})
	cert, presented, err := acmeObtain(t, l.deps, p)
	if err != nil {
		t.Fatal(err)
	}
	names := ACMENames(l.cfg)
	checkIssued(t, p, cert, names)
	if len(presented) != len(names) {
		t.Errorf("presented %v for %v", presented, names)
	}
	if got := l.text(t); got != l.initial {
		t.Fatalf("the zone after the order:\n%s\nwant:\n%s", got, l.initial)
	}
	return l, names
}

// Issue 13/15 acceptance: public_dns.mode cloudflare, the TXT records
// written through the Cloudflare fake into the lab's public zone, every
// authoritative server checked, Pebble validating against the lab's DNS;
// the zone ends as it began.
func TestACMEDNS01CloudflareLab(t *testing.T) {
	l, names := obtainThroughAPILab(t, pdnsAPIFakes[0])
	reqs := strings.Join(l.fake.(*cffake.Fake).Requests(), "\n")
	if n := strings.Count(reqs, "POST /client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/dns_records"); n != len(names) {
		t.Errorf("%d records created through the API, want %d:\n%s", n, len(names), reqs)
	}
	if n := strings.Count(reqs, "DELETE /client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/dns_records/"); n != len(names) {
		t.Errorf("%d records deleted through the API, want %d:\n%s", n, len(names), reqs)
	}
}

// A failed validation still removes the records: the fake's token may
// write, but Pebble is asked about a name whose record is never served
// (the lab's DNS is not where Pebble looks), so the order fails; the zone
// ends as it began.
func TestACMEDNS01CloudflareCleanupAfterFailure(t *testing.T) {
	l := startAPILab(t, pdnsAPIFakes[0], "good.token")
	empty := startEmptyDNS(t)
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: empty})
	_, _, err := acmeObtain(t, l.deps, p)
	if err == nil || !strings.Contains(err.Error(), "did not validate") {
		t.Fatalf("error = %v", err)
	}
	if got := l.text(t); got != l.initial {
		t.Fatalf("the zone after a failed order:\n%s\nwant:\n%s", got, l.initial)
	}
}

// startEmptyDNS answers every query with NXDOMAIN, authoritatively.
func startEmptyDNS(t *testing.T) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		m.Authoritative = true
		w.WriteMsg(m)
	})
	return startResolver(t, h)
}

// startResolver serves h on one 127.0.0.1 port, UDP and TCP.
func startResolver(t *testing.T, h dns.Handler) string {
	t.Helper()
	tcp := &dns.Server{Addr: "127.0.0.1:0", Net: "tcp", Handler: h}
	started := make(chan struct{})
	tcp.NotifyStartedFunc = func() { close(started) }
	go tcp.ListenAndServe()
	<-started
	addr := tcp.Listener.Addr().String()
	udp := &dns.Server{Addr: addr, Net: "udp", Handler: h}
	ustarted := make(chan struct{})
	udp.NotifyStartedFunc = func() { close(ustarted) }
	go udp.ListenAndServe()
	<-ustarted
	t.Cleanup(func() { tcp.Shutdown(); udp.Shutdown() })
	return addr
}

// chasingResolver answers as the CA's recursive resolver would: it asks
// the authoritative server of the zone the question lies in, and when
// the answer is a CNAME into another zone, asks that zone's server and
// returns the whole chain.
func chasingResolver(t *testing.T, servers map[string]string) string {
	t.Helper()
	serverOf := func(name string) string {
		best, addr := "", ""
		for z, a := range servers {
			if dns.IsSubDomain(z, name) && len(z) > len(best) {
				best, addr = z, a
			}
		}
		return addr
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		out := new(dns.Msg)
		out.SetReply(r)
		out.RecursionAvailable = true
		q := r.Question[0]
		name := q.Name
		c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
		for hop := 0; hop < 8; hop++ {
			addr := serverOf(dns.CanonicalName(name))
			if addr == "" {
				break
			}
			m := new(dns.Msg)
			m.SetQuestion(name, q.Qtype)
			in, _, err := c.Exchange(m, addr)
			if err != nil {
				out.Rcode = dns.RcodeServerFailure
				break
			}
			out.Rcode = in.Rcode
			out.Answer = append(out.Answer, in.Answer...)
			next := ""
			for _, rr := range in.Answer {
				if cn, ok := rr.(*dns.CNAME); ok && q.Qtype != dns.TypeCNAME && dns.CanonicalName(cn.Hdr.Name) == dns.CanonicalName(name) {
					next = cn.Target
				}
				if rr.Header().Rrtype == q.Qtype {
					next = ""
					break
				}
			}
			if next == "" {
				break
			}
			name = next
		}
		w.WriteMsg(out)
	})
	return startResolver(t, h)
}

// Issue 15 acceptance: _acme-challenge.<name> is a CNAME in the lab's
// public zone (written through the Cloudflare fake) into a second zone on
// a real BIND 9, which certificate.acme.challenge_dns writes with RFC 2136
// (TSIG). The delegated names' TXT records land in BIND's zone and never
// in the public zone, the name without a CNAME is written in the public
// zone, each zone is verified on its own nameservers, Pebble validates
// every name through a resolver that follows the CNAME, and both zones
// end as they began.
func TestACMEDelegatedChallengeRFC2136(t *testing.T) {
	bind := bindtest.Start(t, bindtest.Options{Zone: "acme.fabrikam.test.", ZoneText: `$TTL 300
@ IN SOA ns1.acme.fabrikam.test. hostmaster.fabrikam.test. 1 3600 600 86400 60
@ IN NS ns1.acme.fabrikam.test.
ns1 IN A 127.0.0.1
`, KeyName: "acme-update."})
	l := startAPILab(t, pdnsAPIFakes[0], "good.token")
	ctx := context.Background()
	pub, err := l.deps.Clients.PublicDNSRecordSet(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	delegated := map[string]string{
		"outlook-ext.contoso.test":  "outlook-ext.acme.fabrikam.test.",
		"autodiscover.contoso.test": "autodiscover.acme.fabrikam.test.",
	}
	for n, target := range delegated {
		if err := pub.SetRRset(ctx, "contoso.test.", recordset.RRset{Name: acme.ChallengeFQDN(n), Type: dns.TypeCNAME, TTL: 300, Data: []string{target}}); err != nil {
			t.Fatal(err)
		}
	}
	l.initial = l.text(t)
	bindClient := &dnsupdate.Client{Server: bind.Addr, Zone: bind.Zone}
	serial := func() uint32 {
		m := new(dns.Msg)
		m.SetQuestion(bind.Zone, dns.TypeSOA)
		in, err := dns.Exchange(m, bind.Addr)
		if err != nil || len(in.Answer) == 0 {
			t.Fatalf("SOA of %s: %v", bind.Zone, err)
		}
		return in.Answer[0].(*dns.SOA).Serial
	}
	before := serial()

	t.Setenv("EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET", bind.Secret)
	l.cfg.Certificate.ACME.ChallengeDNS = config.DNSAccess{Mode: "rfc2136", Zone: "acme.fabrikam.test.", Server: bind.Addr,
		Nameservers: []string{bind.Addr}, TSIG: config.TSIG{Name: bind.KeyName, Algorithm: bind.Algorithm}}
	resolver := chasingResolver(t, map[string]string{"contoso.test.": l.dns.Addr(), "acme.fabrikam.test.": bind.Addr})
	p := pebbletest.Start(t, pebbletest.Options{DNSServer: resolver})

	// Where each record goes, as the writer sees it.
	w, _, err := ACMEChallengeDNS(l.deps, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	for n, target := range delegated {
		got, acc, err := w.(*acme.RecordSetDNS).Writer.Target(ctx, acme.ChallengeFQDN(n))
		if err != nil || got != target || acc.Zone != "acme.fabrikam.test." {
			t.Fatalf("target of %s = %s in %s, %v; want %s", n, got, acc.Zone, err, target)
		}
	}

	// The plan's pre-check reads where each record goes.
	res := acmeNamesCheck{cfg: l.cfg, deps: l.deps}.Run(ctx, nil)
	ev := strings.Join(res.Evidence, "\n")
	if res.Status != engine.CheckPass || !strings.Contains(ev, "_acme-challenge.outlook-ext.contoso.test. is a CNAME: TXT at outlook-ext.acme.fabrikam.test. in zone acme.fabrikam.test.") ||
		!strings.Contains(ev, "_acme-challenge.outlook.contoso.test. TXT in zone contoso.test.") || !strings.Contains(res.Message, "2 zone(s)") {
		t.Fatalf("acme-names: %s %s\n%s", res.Status, res.Message, ev)
	}
	// Without challenge_dns, the delegated names cannot be answered: the
	// plan says so, naming the key.
	bare := config.Default()
	bare.Namespace, bare.PublicDNS = l.cfg.Namespace, l.cfg.PublicDNS
	res = acmeNamesCheck{cfg: bare, deps: testDeps(bare, clients.Options{DNSAPITransport: l.transport})}.Run(ctx, nil)
	if res.Status != engine.CheckFail || !strings.Contains(res.Message, "is a CNAME to outlook-ext.acme.fabrikam.test., which is in none of the zones exrunbook may write (contoso.test.): configure certificate.acme.challenge_dns") {
		t.Fatalf("acme-names without challenge_dns: %s %s", res.Status, res.Message)
	}

	cert, presented, err := acmeObtain(t, l.deps, p)
	if err != nil {
		t.Fatalf("%v\nnamed log:\n%s", err, bind.Log())
	}
	checkIssued(t, p, cert, ACMENames(l.cfg))
	if len(presented) != 3 {
		t.Errorf("presented %v", presented)
	}
	// BIND's zone was written (adds and removes raise its serial) and
	// holds no challenge record now.
	if after := serial(); after <= before {
		t.Errorf("serial of %s %d -> %d: the delegated records were not written there", bind.Zone, before, after)
	}
	for _, target := range delegated {
		if s, err := bindClient.Query(ctx, target, dns.TypeTXT); err != nil || s.Exists() {
			t.Errorf("left at %s: %s %v", target, s, err)
		}
	}
	// The public zone got only the record of the name without a CNAME.
	if got := l.text(t); got != l.initial {
		t.Fatalf("the public zone after the order:\n%s\nwant:\n%s", got, l.initial)
	}
	reqs := l.fake.(*cffake.Fake).Requests()
	posts := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, "POST ") {
			posts++
		}
	}
	if posts != len(delegated)+1 { // the two CNAMEs of the setup, and outlook.contoso.test's TXT
		t.Errorf("%d records created through the API, want %d:\n%s", posts, len(delegated)+1, strings.Join(reqs, "\n"))
	}

	// A key the challenge zone's server does not know: BIND's refusal,
	// naming certificate.acme.challenge_dns's keys, not public_dns's.
	t.Setenv("EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET", bindtest.RandomSecret())
	fresh := config.Default()
	fresh.Namespace, fresh.PublicDNS, fresh.Certificate = l.cfg.Namespace, l.cfg.PublicDNS, l.cfg.Certificate
	w, _, err = ACMEChallengeDNS(testDeps(fresh, clients.Options{DNSAPITransport: l.transport}), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Present(ctx, acme.ChallengeFQDN("outlook-ext.contoso.test"), "digest")
	if err == nil || !strings.Contains(err.Error(), "rejected the TSIG key 'acme-update.'") || !strings.Contains(err.Error(), "check certificate.acme.challenge_dns.tsig") {
		t.Fatalf("a wrong key: %v", err)
	}
	t.Log(err)
}
