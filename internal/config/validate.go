package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Validate checks the whole configuration and returns every problem in
// one *Error, or nil. It reads no secret and touches no network; it does
// look at the files the config names (that they exist; that secret files
// have mode 0600 or stricter).
func (c *Config) Validate() error {
	var ps problems
	c.validate(&ps)
	return ps.err()
}

// The accepted values of the enumerated keys.
var (
	AuthMethods         = []string{"kerberos", "ntlm", "basic"}
	CertificateModes    = []string{"pfx", "thumbprint", "request", "acme"}
	CertificateServices = []string{"IIS", "SMTP", "POP", "IMAP", "UM", "UMCallRouter", "Federation"}
	PublicDNSModes      = append([]string{"rfc2136", "manual"}, PublicDNSAPIModes...)
	TSIGAlgorithms      = []string{"hmac-sha256", "hmac-sha1", "hmac-sha224", "hmac-sha384", "hmac-sha512"}
	RecipientTypes      = []string{"UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "LinkedMailbox", "LinkedRoomMailbox", "TeamMailbox", "SchedulingMailbox"}
)

func (c *Config) validate(ps *problems) {
	c.validateExchange(ps)
	c.validateNamespace(ps)
	c.validateCertificate(ps)
	c.validateAutodiscover(ps)
	c.validatePublicDNS(ps)
	c.validateInternalDNS(ps)
	c.validateMailboxes(ps)
}

func (c *Config) validateExchange(ps *problems) {
	e := c.Exchange
	auth := strings.ToLower(e.Auth)
	if !oneOf(ps, "exchange.auth", e.Auth, AuthMethods) {
		auth = ""
	}
	var u *url.URL
	const example = "http://ex01.contoso.com/PowerShell/"
	if e.Endpoint == "" {
		ps.add("exchange.endpoint", "missing; expected the Exchange endpoint such as %s", example)
	} else {
		var err error
		u, err = url.Parse(e.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
			ps.add("exchange.endpoint", "%q is not an http:// or https:// URL; expected the Exchange endpoint such as %s", e.Endpoint, example)
			u = nil
		} else if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				ps.add("exchange.endpoint", "%q has port %q; expected a port from 1 to 65535", e.Endpoint, p)
			}
		}
		if u != nil {
			path := strings.TrimRight(strings.ToLower(u.Path), "/")
			switch {
			case path == "/wsman":
				want := url.URL{Scheme: "http", Host: u.Hostname(), Path: "/PowerShell/"}
				ps.add("exchange.endpoint", "%q is the WinRM endpoint, which exrunbook no longer uses (its scripts loaded the Exchange snap-in, which is unsupported and fails in a domain); write Exchange's own endpoint instead: %s (or https://%s/PowerShell/)",
					e.Endpoint, want.String(), u.Hostname())
			case path != "" && path != "/powershell":
				ps.add("exchange.endpoint", "%q has the path %q; expected Exchange's remote PowerShell endpoint /PowerShell/, such as %s", e.Endpoint, u.Path, example)
			}
		}
	}
	if u != nil && u.Scheme == "http" && auth == "basic" {
		ps.add("exchange.auth", "\"basic\" over %q would send the password in clear text; use an https:// endpoint, or auth: kerberos or ntlm (which encrypt the messages over http)", e.Endpoint)
	}
	if e.AllowHTTPBasic {
		ps.add("exchange.allow_http_basic", "is no longer accepted: basic authentication is refused over http; use https, or auth: kerberos or ntlm")
	}
	if e.Concurrency < 0 || e.Concurrency > MaxConcurrency {
		ps.add("exchange.concurrency", "%d; expected 1 to %d (default %d)", e.Concurrency, MaxConcurrency, DefaultConcurrency)
	}
	if e.CertFile != "" || e.KeyFile != "" {
		ps.add("exchange.cert_file", "client certificates were WinRM's sign-in; the Exchange endpoint signs in with kerberos, ntlm or basic: remove exchange.cert_file and exchange.key_file")
	}
	switch auth {
	case "basic", "ntlm":
		if e.User == "" {
			ps.add("exchange.user", "missing; expected the account to sign in as, such as CONTOSO\\admin or admin@contoso.com")
		}
	case "kerberos":
		c.validateKerberos(ps, u)
	}
	if e.User != "" && strings.ContainsAny(e.User, "\r\n\t") {
		ps.add("exchange.user", "%q contains control characters; expected an account such as CONTOSO\\admin", e.User)
	}
	if e.PasswordFile != "" {
		secretFile(ps, "exchange.password_file", e.PasswordFile)
	}
	if e.CAFile != "" {
		fileExists(ps, "exchange.ca_file", e.CAFile)
	}
	seen := map[string]bool{}
	for i, s := range e.Servers {
		key := fmt.Sprintf("exchange.servers[%d]", i)
		if !serverNameRE.MatchString(s) {
			ps.add(key, "%q is not a server name; expected a NetBIOS or DNS name such as EX01", s)
		} else if seen[strings.ToUpper(s)] {
			ps.add(key, "%q is listed twice; expected each server once", s)
		}
		seen[strings.ToUpper(s)] = true
	}
	for _, name := range e.SortedServers() {
		key := "exchange.https." + name
		if !serverNameRE.MatchString(name) {
			ps.add(key, "%q is not a server name; expected a NetBIOS or DNS name such as EX01", name)
		}
		hostPort(ps, key, e.HTTPS[name], "ex01.contoso.com:443")
	}
}

// validateKerberos checks auth: kerberos. The credentials are a password
// (exchange.password_file or EXRUNBOOK_EXCHANGE_PASSWORD) or a keytab for
// exchange.user, else the ticket cache (KRB5CCNAME, else the default
// cache), which names its own user and realm: only a password or a keytab
// needs exchange.user and a realm.
func (c *Config) validateKerberos(ps *problems, u *url.URL) {
	e := c.Exchange
	if e.User == "" && (e.PasswordFile != "" || e.Kerberos.KeytabFile != "") {
		key := "exchange.password_file"
		if e.Kerberos.KeytabFile != "" {
			key = "exchange.kerberos.keytab_file"
		}
		ps.add("exchange.user", "missing; %s signs in as an account, such as admin@contoso.com (only the ticket cache names its own user: leave %s empty and run kinit)", key, key)
	}
	switch realm := e.KerberosRealm(); {
	case realm == "" && e.User != "":
		ps.add("exchange.kerberos.realm", "missing; expected the realm such as CONTOSO.COM (or give exchange.user as admin@contoso.com)")
	case strings.ContainsAny(realm, " \t\r\n/@"):
		ps.add("exchange.kerberos.realm", "%q is not a realm; expected a name such as CONTOSO.COM", e.Kerberos.Realm)
	}
	if e.Kerberos.Krb5ConfFile != "" {
		fileExists(ps, "exchange.kerberos.krb5_conf_file", e.Kerberos.Krb5ConfFile)
	} else if env := os.Getenv("KRB5_CONFIG"); env != "" {
		fileExists(ps, "exchange.kerberos.krb5_conf_file (empty: KRB5_CONFIG)", env)
	} else {
		fileExists(ps, "exchange.kerberos.krb5_conf_file (empty: /etc/krb5.conf)", DefaultKrb5Conf)
	}
	if e.Kerberos.KeytabFile != "" {
		secretFile(ps, "exchange.kerberos.keytab_file", e.Kerberos.KeytabFile)
	}
	spn := e.Kerberos.SPN
	switch {
	case spn != "":
		if service, host, ok := strings.Cut(spn, "/"); !ok || service == "" || host == "" || strings.ContainsAny(spn, " \t\r\n") {
			ps.add("exchange.kerberos.spn", "%q is not a service principal; expected HTTP/<the server's DNS name>, such as HTTP/ex01.contoso.com", spn)
		}
	case u != nil && net.ParseIP(u.Hostname()) != nil:
		ps.add("exchange.kerberos.spn", "missing, and exchange.endpoint %q names the server by its address, which no SPN has: set exchange.kerberos.spn to HTTP/<the server's DNS name>, such as HTTP/ex01.contoso.com, or write that name in exchange.endpoint", e.Endpoint)
	}
}

var serverNameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

func (c *Config) validateNamespace(ps *problems) {
	n := c.Namespace
	okInt := hostname(ps, "namespace.internal", n.Internal, "outlook.contoso.com")
	okExt := hostname(ps, "namespace.external", n.External, "outlook-ext.contoso.com")
	hostname(ps, "namespace.autodiscover", n.Autodiscover, "autodiscover.contoso.com")
	if okInt && okExt && strings.EqualFold(n.Internal, n.External) {
		ps.add("namespace.external", "%q is the same as namespace.internal; expected a different name such as outlook-ext.contoso.com: the split only works when the external name differs from the internal one", n.External)
	}
}

func (c *Config) validateCertificate(ps *problems) {
	ct := c.Certificate
	mode := strings.ToLower(ct.Mode)
	if ct.Mode == "" {
		ps.add("certificate.mode", "missing; expected one of %s", strings.Join(CertificateModes, ", "))
	} else if !oneOf(ps, "certificate.mode", ct.Mode, CertificateModes) {
		mode = ""
	}
	switch mode {
	case "pfx":
		if ct.PFXFile == "" {
			ps.add("certificate.pfx_file", "missing; certificate.mode: pfx needs the PFX file to import, such as /etc/exrunbook/new.pfx")
		} else {
			fileExists(ps, "certificate.pfx_file", ct.PFXFile)
		}
	case "thumbprint":
		if !thumbprintRE.MatchString(ct.Thumbprint) {
			ps.add("certificate.thumbprint", "%q is not a thumbprint; certificate.mode: thumbprint needs the certificate's SHA-1 thumbprint, 40 hexadecimal digits such as 5113AE0233A72FCCB75E1D6D2D9B2E2A5A7F3C9D", ct.Thumbprint)
		}
	case "acme":
		c.validateACME(ps)
	case "request":
		if ct.Request.Subject != "" && !strings.Contains(ct.Request.Subject, "=") {
			ps.add("certificate.request.subject", "%q is not a distinguished name; expected such as CN=outlook.contoso.com", ct.Request.Subject)
		}
		if ct.Request.Server != "" && !serverNameRE.MatchString(ct.Request.Server) {
			ps.add("certificate.request.server", "%q is not a server name; expected such as EX01", ct.Request.Server)
		}
	}
	if mode != "thumbprint" && ct.Thumbprint != "" && !thumbprintRE.MatchString(ct.Thumbprint) {
		ps.add("certificate.thumbprint", "%q is not a thumbprint; expected 40 hexadecimal digits", ct.Thumbprint)
	}
	switch ct.Request.KeySize {
	case 2048, 3072, 4096:
	default:
		ps.add("certificate.request.key_size", "%d is not a supported key size; expected 2048, 3072 or 4096", ct.Request.KeySize)
	}
	if ct.PFXPasswordFile != "" {
		secretFile(ps, "certificate.pfx_password_file", ct.PFXPasswordFile)
	}
	if len(ct.Services) == 0 {
		ps.add("certificate.services", "empty; expected a list of services such as [IIS, SMTP]")
	}
	for i, s := range ct.Services {
		oneOf(ps, fmt.Sprintf("certificate.services[%d]", i), s, CertificateServices)
	}
}

var thumbprintRE = regexp.MustCompile(`^[0-9A-Fa-f]{40}$`)

func (c *Config) validateAutodiscover(ps *problems) {
	a := c.Autodiscover
	if a.MinWait < 0 {
		ps.add("autodiscover.min_wait", "%q is negative; expected a duration such as 2h", a.MinWait.String())
	}
	p := a.Probe
	for _, k := range []struct{ key, v string }{{"autodiscover.probe.allowed_user", p.AllowedUser}, {"autodiscover.probe.blocked_user", p.BlockedUser}} {
		if k.v != "" && !emailRE.MatchString(k.v) {
			ps.add(k.key, "%q is not an e-mail address; expected the probe mailbox's address such as alice@contoso.com (Autodiscover is asked by address)", k.v)
		}
	}
	if (p.AllowedUser == "") != (p.BlockedUser == "") {
		missing := "autodiscover.probe.blocked_user"
		if p.AllowedUser == "" {
			missing = "autodiscover.probe.allowed_user"
		}
		ps.add(missing, "missing; the probe needs both an allowed and a blocked user, or neither")
	}
	if p.PasswordFile != "" {
		secretFile(ps, "autodiscover.probe.password_file", p.PasswordFile)
	}
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$`)

func (c *Config) validatePublicDNS(ps *problems) {
	d := c.PublicDNS
	validateDNSAccess(ps, PublicDNSKey, d.DNSAccess)
	if d.Zone != "" && strings.HasSuffix(d.Zone, ".") && isHostname(strings.TrimSuffix(d.Zone, ".")) {
		zone := strings.ToLower(strings.TrimSuffix(d.Zone, "."))
		for _, k := range []struct{ key, v string }{{"namespace.internal", c.Namespace.Internal}, {"namespace.external", c.Namespace.External}} {
			name := strings.ToLower(k.v)
			if name != "" && isHostname(name) && name != zone && !strings.HasSuffix(name, "."+zone) {
				ps.add(k.key, "%q is not inside public_dns.zone %q; expected a name under the zone, such as outlook.%s", k.v, d.Zone, zone)
			}
		}
	}
	if d.PublicIP == "" {
		ps.add("public_dns.public_ip", "missing; expected the public address the external name gets, such as 203.0.113.10")
	} else if _, err := netip.ParseAddr(d.PublicIP); err != nil || strings.Contains(d.PublicIP, "%") {
		ps.add("public_dns.public_ip", "%q is not an IP address; expected an address such as 203.0.113.10", d.PublicIP)
	}
	if d.TTL < 1 || d.TTL > 2147483647 {
		ps.add("public_dns.ttl", "%d is not a positive number of seconds; expected such as 300", d.TTL)
	}
}

func (c *Config) validateInternalDNS(ps *problems) {
	d := c.InternalDNS
	if d.Server != "" {
		hostPort(ps, "internal_dns.server", d.Server, "192.0.2.53:53")
	}
	for i, a := range d.Addresses {
		if _, err := netip.ParseAddr(a); err != nil || strings.Contains(a, "%") {
			ps.add(fmt.Sprintf("internal_dns.addresses[%d]", i), "%q is not an IP address; expected an address such as 192.0.2.25", a)
		}
	}
}

func (c *Config) validateMailboxes(ps *problems) {
	m := c.Mailboxes
	if strings.TrimSpace(m.AllowGroup) == "" {
		ps.add("mailboxes.allow_group", "missing; expected the group whose members keep external access, such as AllowExternalAccess")
	}
	if len(m.RecipientTypes) == 0 {
		ps.add("mailboxes.recipient_types", "empty; expected a list such as [UserMailbox]")
	}
	for i, t := range m.RecipientTypes {
		oneOf(ps, fmt.Sprintf("mailboxes.recipient_types[%d]", i), t, RecipientTypes)
	}
	if m.BatchSize < 1 {
		ps.add("mailboxes.batch_size", "%d is not a positive number; expected such as 500", m.BatchSize)
	}
	if m.MaxChanges < 1 {
		ps.add("mailboxes.max_changes", "%d is not a positive number; expected such as 50", m.MaxChanges)
	}
}

// oneOf checks an enumerated value, case-insensitively as PowerShell does.
func oneOf(ps *problems, key, v string, allowed []string) bool {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return true
		}
	}
	ps.add(key, "%q is not allowed; expected one of %s", v, strings.Join(allowed, ", "))
	return false
}

// hostname checks a required DNS host name (not a URL, no port, no
// trailing dot).
func hostname(ps *problems, key, v, example string) bool {
	switch {
	case v == "":
		ps.add(key, "missing; expected a hostname such as %s", example)
		return false
	case strings.Contains(v, "://") || strings.Contains(v, "/"):
		ps.add(key, "%q is a URL; expected a hostname such as %s, not a URL", v, example)
		return false
	case strings.Contains(v, ":"):
		ps.add(key, "%q has a port; expected a hostname such as %s, without a port", v, example)
		return false
	case strings.HasSuffix(v, "."):
		ps.add(key, "%q ends in a dot; expected a hostname such as %s", v, example)
		return false
	case !isHostname(v) || !strings.Contains(v, "."):
		ps.add(key, "%q is not a fully qualified hostname; expected a hostname such as %s", v, example)
		return false
	}
	return true
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

func isHostname(v string) bool {
	if v == "" || len(v) > 253 {
		return false
	}
	for _, l := range strings.Split(v, ".") {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return true
}

// hostPort checks host:port with a port from 1 to 65535.
func hostPort(ps *problems, key, v, example string) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		ps.add(key, "%q is not host:port; expected such as %s", v, example)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		ps.add(key, "%q has port %q; expected host:port with a port from 1 to 65535, such as %s", v, port, example)
		return
	}
	if _, err := netip.ParseAddr(host); err != nil && !isHostname(strings.TrimSuffix(host, ".")) {
		ps.add(key, "%q has host %q, which is neither an IP address nor a hostname; expected such as %s", v, host, example)
	}
}

func fileExists(ps *problems, key, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		ps.add(key, "%q: %v; expected an existing file", path, unwrapPath(err))
		return
	}
	if !fi.Mode().IsRegular() {
		ps.add(key, "%q is not a regular file; expected a file", path)
	}
}

// secretFile checks that a secret file exists and that group and others
// cannot read it. It does not read the secret.
func secretFile(ps *problems, key, path string) {
	fi, err := os.Stat(path)
	if err != nil {
		ps.add(key, "%q: %v; expected an existing file with mode 0600", path, unwrapPath(err))
		return
	}
	if err := checkSecretMode(key, path, fi); err != nil {
		ps.add(key, "%s", strings.TrimPrefix(err.Error(), key+": "))
	}
}
