package lab

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/autodiscover"
	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/exchange"
	"github.com/exrunbook/exrunbook/internal/lab/generate"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/lab/pwsh"
	"github.com/exrunbook/exrunbook/internal/lab/rps"
	"github.com/exrunbook/exrunbook/internal/lab/runspace"
	"github.com/exrunbook/exrunbook/internal/lab/smtp"
	"github.com/exrunbook/exrunbook/internal/lab/wsman"
)

// listen binds addr's port on 127.0.0.1 when it is free, else any port.
func listen(prev string) (net.Listener, error) {
	if _, port, err := net.SplitHostPort(prev); err == nil && port != "0" {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+port); err == nil {
			return ln, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

func hostPort(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

func (l *Lab) serve(ln net.Listener, h http.Handler, tlsConf *tls.Config, configure func(*http.Server)) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if configure != nil {
		configure(srv)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	done := make(chan struct{})
	l.https = append(l.https, srv)
	l.httpDone = append(l.httpDone, done)
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
}

func (l *Lab) startListeners(prev Endpoints, secret map[string]string) error {
	var netbios, domain string
	var servers []string
	l.store.Read(func(o *org.Org) {
		netbios, domain = o.NetBIOS, o.Domain
		for _, s := range o.Servers {
			// An Edge Transport server, in the perimeter, offers no
			// remote PowerShell and no client access.
			if !s.IsEdge() {
				servers = append(servers, s.Name)
			}
		}
	})
	sort.Strings(servers)
	local := "EX01"
	if len(servers) > 0 {
		local = servers[0]
	}
	admin := netbios + `\Administrator`

	// WinRM: the PowerShell interpreter with the Exchange cmdlets. Its
	// stdout and stderr are in OEM code page 437, as powershell.exe's are
	// over WinRM on an en-US Windows Server (the usual Exchange install):
	// a script that writes raw non-ASCII text gets '?' here as it would
	// there. 437 rather than 850 because it lacks more characters (Õ, ã,
	// ø, ...), so the lab is the stricter of the two.
	host := pwsh.NewHost(pwsh.HostOptions{Stats: l.stats, Faults: l.faults, User: admin, CodePage: 437})
	if err := exchange.Register(host, l.store, exchange.Options{Stats: l.stats, LocalServer: local}); err != nil {
		return err
	}
	l.wsman = wsman.NewServer(wsman.Options{
		Executor: wsman.ExecutorFunc(func(ctx context.Context, req wsman.Command, stdin io.Reader, stdout, stderr io.Writer) int {
			return host.RunCommandLine(ctx, req.Line(), nil, stdin, stdout, stderr)
		}),
		Users:      map[string]string{admin: secret[SecretAdmin]},
		Domain:     netbios,
		DNSDomain:  domain,
		Computer:   local,
		AllowBasic: true,
		AllowNTLM:  true,
		Stats:      l.stats,
		Faults:     l.faults,
	})
	mux := http.NewServeMux()
	mux.Handle("/wsman", l.wsman)
	winrmCert, err := l.ca.Issue(strings.ToLower(local)+"."+domain, []string{strings.ToLower(local) + "." + domain, "localhost", "127.0.0.1"},
		time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0), nil)
	if err != nil {
		return err
	}
	tc, err := tls.X509KeyPair(winrmCert.CertPEM(), winrmCert.KeyPEM())
	if err != nil {
		return err
	}
	httpLn, err := listen(hostPort(prev.WinRM.HTTP))
	if err != nil {
		return err
	}
	l.serve(httpLn, mux, nil, l.wsman.ConfigureHTTPServer)
	httpsLn, err := listen(hostPort(prev.WinRM.HTTPS))
	if err != nil {
		return err
	}
	l.serve(httpsLn, mux, &tls.Config{Certificates: []tls.Certificate{tc}, MinVersion: tls.VersionTLS12}, l.wsman.ConfigureHTTPServer)

	// Per Exchange server: the HTTPS listener (IIS: Autodiscover and
	// /PowerShell/), a plain-HTTP listener for /PowerShell/, and SMTP.
	l.ep.Servers = map[string]ServerEndpoint{}
	users, accounts := l.accounts(netbios, secret)
	assignments := map[string][]string{}
	for _, a := range accounts {
		if len(a.Roles) > 0 {
			assignments[a.User] = a.Roles
		}
	}
	krb, krbEP, err := l.startKerberos(servers, domain)
	if err != nil {
		return err
	}
	l.ep.Kerberos = krbEP
	krbRealm := ""
	if krbEP != nil {
		krbRealm = krbEP.Realm
	}
	for _, s := range servers {
		p := prev.Servers[s]
		ex, err := rps.New(rps.Options{Host: host, Server: s, Assignments: assignments})
		if err != nil {
			return err
		}
		rs, err := runspace.New(runspace.Options{Endpoint: exchangeEndpoint{ex}, Stats: l.stats})
		if err != nil {
			return err
		}
		ps := wsman.NewServer(wsman.Options{
			Users:         users,
			Domain:        netbios,
			DNSDomain:     domain,
			Computer:      s,
			AllowBasic:    true, // over https only: /PowerShell/ refuses it over http
			AllowNTLM:     true,
			Kerberos:      krb,
			KerberosRealm: krbRealm,
			Logf:          l.opts.Logf,
			Stats:         l.stats,
			Faults:        l.faults,
			PSRP:          wsman.PSRPOptions{Host: rs},
		})
		l.psrp = append(l.psrp, ps)
		psMux := http.NewServeMux()
		psMux.Handle("/PowerShell/", ps.PowerShell())
		psMux.Handle("/powershell/", ps.PowerShell())
		a, err := autodiscover.Listen(autodiscover.Options{Store: l.store, Server: s, Addr: freeAddr(p.HTTPS),
			Other: psMux, ConnContext: ps.ConnContext})
		if err != nil {
			return err
		}
		l.ad = append(l.ad, a)
		plain, err := listen(p.HTTP)
		if err != nil {
			return err
		}
		l.serve(plain, psMux, nil, ps.ConfigureHTTPServer)
		sm, err := smtp.Listen(smtp.Options{Store: l.store, Server: s, Addr: freeAddr(p.SMTP)})
		if err != nil {
			return err
		}
		l.smtp = append(l.smtp, sm)
		l.ep.Servers[s] = ServerEndpoint{HTTPS: a.Addr(), HTTP: plain.Addr().String(), SMTP: sm.Addr(),
			PowerShell: URLs{HTTP: "http://" + plain.Addr().String() + "/PowerShell/", HTTPS: "https://" + a.Addr() + "/PowerShell/"}}
	}
	if len(servers) > 0 {
		l.ep.PowerShell = l.ep.Servers[servers[0]].PowerShell
	}
	l.ep.Users = map[string]Account{}
	for k, a := range accounts {
		l.ep.Users[k] = a
	}

	// DNS.
	dnsAddr := func(p string) string {
		if p == "" {
			return "127.0.0.1:0"
		}
		if c, err := net.ListenPacket("udp", p); err == nil {
			c.Close()
			if t, err := net.Listen("tcp", p); err == nil {
				t.Close()
				return p
			}
		}
		return "127.0.0.1:0"
	}
	in, err := dnsserver.Start(dnsserver.Options{Addr: dnsAddr(prev.DNS.Internal), Zone: zoneBackend{l.store, "internal"}})
	if err != nil {
		return err
	}
	l.dns = append(l.dns, in)
	pub, err := dnsserver.Start(dnsserver.Options{Addr: dnsAddr(prev.DNS.Public), Zone: zoneBackend{l.store, "public"},
		Key: &dnsserver.Key{Name: TSIGName, Secret: secret[SecretTSIG]}})
	if err != nil {
		return err
	}
	l.dns = append(l.dns, pub)

	// Control API.
	ctlLn, err := listen(hostPort(prev.Control))
	if err != nil {
		return err
	}
	l.serve(ctlLn, l.controlHandler(), nil, nil)

	ep := &l.ep
	ep.Control = "http://" + ctlLn.Addr().String()
	ep.WinRM.HTTP = "http://" + httpLn.Addr().String() + "/wsman"
	ep.WinRM.HTTPS = "https://" + httpsLn.Addr().String() + "/wsman"
	ep.CAFile = filepath.Join(l.dir, ca.CertFile)
	ep.Admin.User = admin
	ep.Admin.PasswordFile = filepath.Join(l.dir, SecretAdmin)
	ep.Names.Internal, ep.Names.External, ep.Names.Autodiscover = l.meta.Internal, l.meta.External, l.meta.Autodiscover
	ep.DNS.Internal, ep.DNS.Public = in.Addr(), pub.Addr()
	ep.DNS.Zone = domain + "."
	ep.DNS.TSIG.Name, ep.DNS.TSIG.Algorithm = TSIGName, TSIGAlgorithm
	ep.DNS.TSIG.SecretFile = filepath.Join(l.dir, SecretTSIG)
	ep.AllowGroup = generate.AllowGroup
	ep.PFX.File = filepath.Join(l.dir, FilePFX)
	ep.PFX.PasswordFile = filepath.Join(l.dir, SecretPFX)
	ep.Probe.Allowed, ep.Probe.Blocked = l.meta.ProbeAllowed, l.meta.ProbeBlocked
	ep.Probe.PasswordFile = filepath.Join(l.dir, SecretProbe)
	return nil
}

// freeAddr is prev when that address can be bound now, else any port on
// 127.0.0.1.
func freeAddr(prev string) string {
	if prev != "" {
		if free, err := net.Listen("tcp", prev); err == nil {
			free.Close()
			return prev
		}
	}
	return "127.0.0.1:0"
}
