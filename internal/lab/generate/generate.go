// Package generate builds the lab's first organisation from a seed: S
// Exchange servers in one DAG with their virtual directories, Outlook
// Anywhere, SCP and POP/IMAP settings, the current certificate (issued by
// the lab CA, bound to IIS and SMTP on every server, not covering the
// external name), a ready certificate for the runbook to import, N mailboxes
// with deterministic names (hostile ones included) and passwords, the allow
// group with nested groups, a few shared and room mailboxes, and the
// internal and public DNS zones; optionally (Options.Edge, ChildDomain,
// DynamicGroup) a forest: an Edge Transport server, a child domain's
// mailboxes and a dynamic distribution group in the allow group.
//
// The same Options (seed, sizes, domain, Now) and the same CA give the same
// organisation, byte for byte in canonical JSON: GUIDs are name-based,
// names and passwords come from a ChaCha8 stream keyed by the seed, and the
// certificates' keys are drawn from that stream too (lab-only keys; see
// package ca).
package generate

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

// Defaults of Options.
const (
	DefaultMailboxes = 50
	DefaultAllow     = 5
	DefaultServers   = 2
	DefaultDomain    = "contoso.test"
)

// Names of things the runbook and the lab's config refer to.
const (
	AllowGroup        = "AllowExternalAccess"
	NestedGroup       = "AllowExternalAccess-Nested"
	NestedNestedGroup = "AllowExternalAccess-Nested-Contractors"
	ExchangeVersion   = "Version 15.2 (Build 1544.4)" // Exchange 2019 CU14
)

// Addresses in the DNS zones (documentation ranges only).
const (
	InternalVIP = "192.0.2.25"
	InternalDNS = "192.0.2.53"
	PublicVIP   = "203.0.113.10"
	PublicMail  = "203.0.113.25"
	PublicNS1   = "203.0.113.53"
	PublicNS2   = "203.0.113.54"
	// PublicTTL is the TTL of the public outlook/autodiscover records: 2 s,
	// so that the runbook's "old TTL must have passed" wait is short in the
	// lab.
	PublicTTL = 2
	// DefaultTTL is every other record's TTL.
	DefaultTTL = 300
)

// Options say what to generate.
type Options struct {
	Mailboxes int    // total mailboxes, user mailboxes plus 2 shared and 1 room (when ≥ 20); default 50
	Allow     int    // direct user members of the allow group; default 5
	Servers   int    // Exchange servers EX01…; default 2
	Seed      int64  // the seed
	Domain    string // default "contoso.test"
	// Now is the moment of generation: creation times and certificate
	// validity derive from it. Required (pass a fixed time for
	// reproducible output).
	Now time.Time
	// CA issues the certificates. Required.
	CA *ca.CA

	// Edge adds an Edge Transport server, EDGE01: ServerRole Edge, no
	// client access virtual directories, no DAG, no mailboxes.
	Edge bool
	// ChildDomain, when set (e.g. "emea"), adds the child domain
	// <ChildDomain>.<Domain> holding ChildMailboxes user mailboxes, one of
	// them a direct member of the allow group.
	ChildDomain    string
	ChildMailboxes int // default 6 when ChildDomain is set
	// DynamicGroup adds the dynamic distribution group DynamicGroupName to
	// the allow group: its filter selects the mailboxes of the first
	// domain's Users container whose Department is DynamicDepartment and
	// CustomAttribute1 DynamicAttribute (DynamicMembers of them; one more
	// mailbox has the department but not the attribute).
	DynamicGroup bool
}

// The dynamic distribution group Options.DynamicGroup adds.
const (
	DynamicGroupName  = "AllowExternalAccess-Field"
	DynamicDepartment = "Field Engineering"
	DynamicAttribute  = "ExternalAccess"
	DynamicMembers    = 3
	// EdgeServer is the Edge Transport server's name.
	EdgeServer = "EDGE01"
)

// Result is the generated organisation and what the lab needs beside it.
type Result struct {
	Org *org.Org
	// Current is the certificate bound to IIS and SMTP on every server.
	Current *ca.Leaf
	// Ready is the certificate the runbook imports (DIR/new-cert.pfx): its
	// SANs cover the internal, external and autodiscover names.
	Ready *ca.Leaf
	// Names: the internal, external and autodiscover host names.
	Internal, External, Autodiscover string
	// ProbeAllowed and ProbeBlocked are the primary SMTP addresses of a
	// mailbox in the allow set and of one outside it.
	ProbeAllowed, ProbeBlocked string
}

// HostileNames are the display names of the first mailboxes: quotes of
// both kinds, Unicode quotes, subexpressions, backticks, semicolons, a
// newline and non-ASCII. Name is the same without the newline.
var HostileNames = []string{
	"Seán O'Brien",
	`Dwayne "The Rock" Jones`,
	"‘Single’ ‚Low‛ Quotes",
	"“Double” Quotes",
	"$(Stop-Computer -Force) Admin",
	"Back`tick `$env:USERNAME",
	"Semi;colon; Remove-Mailbox",
	"Line\nBreak",
	"Zoë Ångström",
	"山田 太郎",
	`Mixed 'single' "double" ‘curly’ & <xml/>`,
	"${x} @(1) #hash -and %{}",
}

var hostileAliases = []string{
	"sobrien", "djones", "squotes", "dquotes", "subexpr", "backtick", "semicolon", "linebreak", "zangstrom", "yamada", "mixedquotes", "sigils",
}

var firstNames = []string{
	"Alex", "Blake", "Casey", "Dana", "Eli", "Frankie", "Gale", "Harper", "Indy", "Jordan", "Kai", "Logan", "Morgan", "Noel",
	"Oakley", "Parker", "Quinn", "Riley", "Sage", "Taylor", "Uma", "Val", "Wren", "Xen", "Yael", "Zion", "Amélie", "Björn",
	"Chloé", "Dmitri", "Élodie", "Fátima", "Günther", "Håkon", "Ines", "José", "Kirsi", "Lærke", "Marta", "Nuño",
}

var lastNames = []string{
	"Adams", "Brown", "Clark", "Davis", "Evans", "Fisher", "Garcia", "Hughes", "Iverson", "Jensen", "King", "Lopez", "Miller",
	"Nguyen", "Olsen", "Patel", "Quiroga", "Roberts", "Smith", "Turner", "Underwood", "Vance", "Walker", "Xu", "Young", "Zimmer",
	"Müller", "Søndergaard", "Černý", "Østergaard", "Nuñez", "Dubois",
}

// asciiFold maps the accented letters used above to ASCII for aliases.
var asciiFold = strings.NewReplacer("é", "e", "ö", "o", "ø", "o", "Ø", "o", "å", "a", "Å", "a", "æ", "ae", "ü", "u", "ñ", "n", "á", "a",
	"č", "c", "Č", "c", "ý", "y", "É", "e", "Á", "a", "Ü", "u", "Ö", "o", "ë", "e")

// gen holds the state of one generation.
type gen struct {
	opts   Options
	rng    *rand.Rand
	stream *rand.ChaCha8
	ns     uuid.UUID
	o      *org.Org
	domain string
	dc     string // "DC=contoso,DC=test"
}

// id is a name-based GUID: the same seed and label give the same GUID.
func (g *gen) id(label string) uuid.UUID { return uuid.NewSHA1(g.ns, []byte(label)) }

func ptr(s string) *string { return &s }

// Generate builds the organisation.
func Generate(opts Options) (*Result, error) {
	if opts.CA == nil {
		return nil, errors.New("generate: a CA is required")
	}
	if opts.Now.IsZero() {
		return nil, errors.New("generate: Now is required")
	}
	if opts.Mailboxes == 0 {
		opts.Mailboxes = DefaultMailboxes
	}
	if opts.Allow == 0 {
		opts.Allow = DefaultAllow
	}
	if opts.Servers == 0 {
		opts.Servers = DefaultServers
	}
	if opts.Domain == "" {
		opts.Domain = DefaultDomain
	}
	if opts.ChildDomain != "" && opts.ChildMailboxes == 0 {
		opts.ChildMailboxes = 6
	}
	switch {
	case opts.Mailboxes < 4:
		return nil, fmt.Errorf("generate: at least 4 mailboxes are needed, not %d", opts.Mailboxes)
	case opts.Servers < 1 || opts.Servers > 99:
		return nil, fmt.Errorf("generate: servers must be between 1 and 99, not %d", opts.Servers)
	case opts.Allow < 1:
		return nil, fmt.Errorf("generate: the allow group needs at least 1 direct member, not %d", opts.Allow)
	case opts.ChildDomain != "" && (strings.Contains(opts.ChildDomain, ".") || opts.ChildMailboxes < 2):
		return nil, fmt.Errorf("generate: the child domain must be one DNS label with at least 2 mailboxes, not %q with %d", opts.ChildDomain, opts.ChildMailboxes)
	}
	opts.Domain = strings.ToLower(strings.TrimSuffix(opts.Domain, "."))
	labels := strings.Split(opts.Domain, ".")
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(opts.Seed))
	copy(seed[8:], "exrunbook-lab-generate/")
	g := &gen{opts: opts, domain: opts.Domain}
	g.stream = rand.NewChaCha8(seed)
	g.rng = rand.New(rand.NewChaCha8(sha256.Sum256(seed[:])))
	g.ns = uuid.NewSHA1(uuid.NameSpaceOID, []byte(fmt.Sprintf("exrunbook-lab/%d/%s", opts.Seed, opts.Domain)))
	g.dc = "DC=" + strings.Join(labels, ",DC=")
	title := strings.ToUpper(labels[0][:1]) + labels[0][1:]
	g.o = &org.Org{
		Name:             title,
		Domain:           opts.Domain,
		NetBIOS:          strings.ToUpper(labels[0]),
		DomainController: "DC01." + opts.Domain,
	}
	g.o.Config = org.OrganizationConfig{Name: title, Guid: g.id("organization"), MapiHttpEnabled: true}
	res := &Result{
		Org:          g.o,
		Internal:     "outlook." + opts.Domain,
		External:     "outlook-ext." + opts.Domain,
		Autodiscover: "autodiscover." + opts.Domain,
	}
	g.servers()
	if err := g.certificates(res); err != nil {
		return nil, err
	}
	g.mailboxes()
	g.groups(res)
	// The forest additions come last, so that without them the
	// organisation is what it always was.
	if opts.ChildDomain != "" {
		g.childDomain()
	}
	if opts.DynamicGroup {
		if err := g.dynamicGroup(); err != nil {
			return nil, err
		}
	}
	if opts.Edge {
		g.edge()
	}
	g.zones()
	g.o.InvalidateIndex()
	return res, nil
}

func (g *gen) created(daysAgoMax int) time.Time {
	d := g.rng.IntN(daysAgoMax) + 1
	return g.opts.Now.UTC().Truncate(time.Second).AddDate(0, 0, -d)
}

func (g *gen) servers() {
	epoch := g.opts.Now.UTC().Truncate(time.Second).AddDate(-3, 0, 0)
	for i := 1; i <= g.opts.Servers; i++ {
		name := fmt.Sprintf("EX%02d", i)
		fqdn := strings.ToLower(name) + "." + g.domain
		s := &org.Server{
			Name: name, Fqdn: fqdn, Guid: g.id("server/" + name),
			AdminDisplayVersion: ExchangeVersion, Edition: "Enterprise", ServerRole: "Mailbox",
			Site:        g.domain + "/Configuration/Sites/Default-First-Site-Name",
			WhenCreated: epoch,
		}
		if g.opts.Servers > 1 {
			s.DatabaseAvailabilityGroup = "DAG01"
		}
		g.o.Servers = append(g.o.Servers, s)
		g.vdirs(name, fqdn, epoch)
		g.o.OutlookAnywhere = append(g.o.OutlookAnywhere, &org.OutlookAnywhere{
			Server: name, Name: "Rpc (Default Web Site)", Guid: g.id("rpc/" + name),
			InternalHostname: ptr("outlook." + g.domain), ExternalHostname: ptr("outlook." + g.domain),
			InternalClientsRequireSsl: true, ExternalClientsRequireSsl: true,
			InternalClientAuthenticationMethod: "Ntlm", ExternalClientAuthenticationMethod: "Negotiate",
			IISAuthenticationMethods:        []string{"Basic", "Ntlm", "Negotiate"},
			ExtendedProtectionTokenChecking: "None", WhenCreated: epoch,
		})
		g.o.ClientAccess = append(g.o.ClientAccess, &org.ClientAccessService{
			Server: name, Guid: g.id("cas/" + name),
			AutoDiscoverServiceInternalUri: ptr("https://autodiscover." + g.domain + "/Autodiscover/Autodiscover.xml"),
			AutoDiscoverSiteScope:          []string{"Default-First-Site-Name"},
		})
		g.o.PopSettings = append(g.o.PopSettings, &org.ProtocolSettings{
			Server: name, X509CertificateName: ptr(fqdn), LoginType: "SecureLogin",
			InternalConnectionSettings: []string{fqdn + ":995:SSL", fqdn + ":110:TLS"},
			SSLBindings:                []string{"[::]:995", "0.0.0.0:995"},
			UnencryptedOrTLSBindings:   []string{"[::]:110", "0.0.0.0:110"},
		})
		g.o.ImapSettings = append(g.o.ImapSettings, &org.ProtocolSettings{
			Server: name, X509CertificateName: ptr(fqdn), LoginType: "SecureLogin",
			InternalConnectionSettings: []string{fqdn + ":993:SSL", fqdn + ":143:TLS"},
			SSLBindings:                []string{"[::]:993", "0.0.0.0:993"},
			UnencryptedOrTLSBindings:   []string{"[::]:143", "0.0.0.0:143"},
		})
	}
}

func (g *gen) vdirs(server, fqdn string, epoch time.Time) {
	base := "https://outlook." + g.domain + "/"
	type spec struct {
		kind, name, path string
		set              func(v *org.VDir)
	}
	specs := []spec{
		{org.KindOwa, "owa", "owa", func(v *org.VDir) {
			v.InternalAuthenticationMethods = []string{"Basic", "Fba"}
			v.ExternalAuthenticationMethods = []string{"Fba"}
			v.BasicAuthentication, v.FormsAuthentication = true, true
		}},
		{org.KindEcp, "ecp", "ecp", func(v *org.VDir) {
			v.InternalAuthenticationMethods = []string{"Basic", "Fba"}
			v.ExternalAuthenticationMethods = []string{"Fba"}
			v.BasicAuthentication, v.FormsAuthentication = true, true
		}},
		{org.KindMapi, "mapi", "mapi", func(v *org.VDir) {
			v.IISAuthenticationMethods = []string{"Ntlm", "OAuth", "Negotiate"}
			v.InternalAuthenticationMethods = []string{"Ntlm", "OAuth", "Negotiate"}
			v.ExternalAuthenticationMethods = []string{"Ntlm", "OAuth", "Negotiate"}
			v.WindowsAuthentication, v.OAuthAuthentication = true, true
		}},
		{org.KindWebServices, "EWS", "EWS/Exchange.asmx", func(v *org.VDir) {
			v.InternalAuthenticationMethods = []string{"Ntlm", "WindowsIntegrated", "WSSecurity", "OAuth"}
			v.ExternalAuthenticationMethods = []string{"Ntlm", "WindowsIntegrated", "WSSecurity", "OAuth"}
			v.WindowsAuthentication, v.OAuthAuthentication = true, true
		}},
		{org.KindActiveSync, "Microsoft-Server-ActiveSync", "Microsoft-Server-ActiveSync", func(v *org.VDir) {
			v.InternalAuthenticationMethods = []string{"Basic"}
			v.ExternalAuthenticationMethods = []string{"Basic"}
			v.BasicAuthentication = true
		}},
		{org.KindOab, "OAB", "OAB", func(v *org.VDir) {
			v.InternalAuthenticationMethods = []string{"WindowsIntegrated", "OAuth"}
			v.ExternalAuthenticationMethods = []string{"WindowsIntegrated", "OAuth"}
			v.WindowsAuthentication, v.OAuthAuthentication = true, true
			// Never published externally so far: $null, which a
			// rollback must restore as $null.
			v.ExternalUrl = nil
		}},
		{org.KindAutodiscover, "Autodiscover", "", func(v *org.VDir) {
			v.InternalAuthenticationMethods = []string{"Basic", "Ntlm", "WindowsIntegrated", "WSSecurity", "OAuth"}
			v.BasicAuthentication, v.WindowsAuthentication, v.OAuthAuthentication = true, true, true
			v.InternalUrl, v.ExternalUrl = nil, nil
		}},
		{org.KindPowerShell, "PowerShell", "", func(v *org.VDir) {
			v.InternalAuthenticationMethods = []string{"Kerberos"}
			v.InternalUrl, v.ExternalUrl = ptr("http://"+fqdn+"/powershell"), nil
			v.RequireSSL = false
		}},
	}
	for _, s := range specs {
		v := &org.VDir{
			Kind: s.kind, Server: server, Name: s.name + " (Default Web Site)", Guid: g.id("vdir/" + server + "/" + s.kind),
			InternalUrl: ptr(base + s.path), ExternalUrl: ptr(base + s.path),
			RequireSSL: true, ExtendedProtectionTokenChecking: "None", WhenCreated: epoch,
		}
		s.set(v)
		g.o.VirtualDirectories = append(g.o.VirtualDirectories, v)
	}
}

// windowsName renders a subject as Windows does: CN first, ", " between.
func windowsName(n pkix.Name) string {
	var parts []string
	if n.CommonName != "" {
		parts = append(parts, "CN="+n.CommonName)
	}
	for _, ou := range n.OrganizationalUnit {
		parts = append(parts, "OU="+ou)
	}
	for _, o := range n.Organization {
		parts = append(parts, "O="+o)
	}
	for _, c := range n.Country {
		parts = append(parts, "C="+c)
	}
	return strings.Join(parts, ", ")
}

// OrgCertificate describes an issued certificate as the organisation
// records it on one server.
func OrgCertificate(server string, l *ca.Leaf, friendly string, services org.Services, exportable bool) *org.Certificate {
	key, err := x509.MarshalPKCS8PrivateKey(l.Key)
	if err != nil {
		// An *rsa.PrivateKey always marshals.
		panic(err)
	}
	return &org.Certificate{
		Server:               server,
		Thumbprint:           l.Thumbprint(),
		Subject:              windowsName(l.Cert.Subject),
		Issuer:               windowsName(l.Cert.Issuer),
		SerialNumber:         strings.ToUpper(l.Cert.SerialNumber.Text(16)),
		FriendlyName:         friendly,
		CertificateDomains:   append([]string(nil), l.Cert.DNSNames...),
		NotBefore:            l.Cert.NotBefore.UTC(),
		NotAfter:             l.Cert.NotAfter.UTC(),
		Services:             services,
		HasPrivateKey:        true,
		PrivateKeyExportable: exportable,
		IsSelfSigned:         l.Cert.CheckSignatureFrom(l.Cert) == nil,
		KeySize:              l.Key.N.BitLen(),
		SignatureAlgorithm:   "sha256RSA",
		Status:               org.CertValid,
		CertPEM:              string(l.CertPEM()),
		KeyPEM:               string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})),
	}
}

func (g *gen) certificates(res *Result) error {
	now := g.opts.Now.UTC().Truncate(time.Second)
	sans := []string{res.Internal, res.Autodiscover}
	for _, s := range g.o.Servers {
		sans = append(sans, s.Fqdn)
	}
	cur, err := g.opts.CA.Issue(res.Internal, sans, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0), g.stream)
	if err != nil {
		return err
	}
	ready, err := g.opts.CA.Issue(res.Internal, []string{res.Internal, res.External, res.Autodiscover}, now.Add(-time.Hour), now.AddDate(2, 0, 0), g.stream)
	if err != nil {
		return err
	}
	res.Current, res.Ready = cur, ready
	friendly := fmt.Sprintf("%s %d", g.o.Name, cur.Cert.NotBefore.Year())
	for _, s := range g.o.Servers {
		g.o.Certificates = append(g.o.Certificates, OrgCertificate(s.Name, cur, friendly, org.ServiceIIS|org.ServiceSMTP, true))
	}
	return nil
}

// mailboxes makes the mailboxes: the hostile names first, then generated
// "First Last" users, then two shared mailboxes and a room.
func (g *gen) mailboxes() {
	n := g.opts.Mailboxes
	others := []struct{ name, alias, kind string }{}
	if n >= 20 {
		others = append(others,
			struct{ name, alias, kind string }{"Sales Team", "sales", org.SharedMailbox},
			struct{ name, alias, kind string }{"Help Desk", "helpdesk", org.SharedMailbox},
			struct{ name, alias, kind string }{"Room 101 – Board", "room101", org.RoomMailbox},
		)
	}
	users := n - len(others)
	used := map[string]bool{}
	for i := 0; i < users; i++ {
		var display, alias string
		if i < len(HostileNames) {
			display, alias = HostileNames[i], hostileAliases[i]
		} else {
			first := firstNames[g.rng.IntN(len(firstNames))]
			last := lastNames[g.rng.IntN(len(lastNames))]
			display = first + " " + last
			alias = strings.ToLower(asciiFold.Replace(first) + "." + asciiFold.Replace(last))
		}
		base, k := alias, 2
		for used[alias] {
			alias = fmt.Sprintf("%s%d", base, k)
			k++
		}
		used[alias] = true
		if alias != base {
			display = fmt.Sprintf("%s (%s)", display, alias)
		}
		g.mailbox(display, alias, org.UserMailbox, i)
	}
	for j, x := range others {
		used[x.alias] = true
		g.mailbox(x.name, x.alias, x.kind, users+j)
	}
	// Two user mailboxes that MAPI over HTTP is turned off for (they use
	// RPC/HTTP only), and one with it explicitly on.
	f, t := false, true
	pick := g.plainUsers()
	if len(pick) >= 3 {
		g.o.Mailboxes[pick[0]].MapiHttpEnabled = &f
		g.o.Mailboxes[pick[1]].MapiHttpEnabled = &f
		g.o.Mailboxes[pick[2]].MapiHttpEnabled = &t
	}
}

// plainUsers lists the indexes of non-hostile user mailboxes in a seeded
// order.
func (g *gen) plainUsers() []int {
	var idx []int
	for i, m := range g.o.Mailboxes {
		if m.RecipientTypeDetails == org.UserMailbox && i >= len(HostileNames) {
			idx = append(idx, i)
		}
	}
	g.rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
	return idx
}

func (g *gen) password() string {
	const letters = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	const special = "!#%+-=?@_"
	b := make([]byte, 0, 16)
	for len(b) < 14 {
		b = append(b, letters[g.rng.IntN(len(letters))])
	}
	b = append(b, special[g.rng.IntN(len(special))], byte('0'+g.rng.IntN(10)))
	return string(b)
}

func (g *gen) mailbox(display, alias, kind string, i int) {
	g.mailboxIn(g.domain, g.dc, display, alias, kind, i)
}

func (g *gen) mailboxIn(domain, dc, display, alias, kind string, i int) {
	name := strings.ReplaceAll(display, "\n", " ")
	srv := g.o.Servers[i%len(g.o.Servers)]
	smtp := alias + "@" + domain
	ou := "OU=Users"
	if kind != org.UserMailbox {
		ou = "OU=Resources"
	}
	sam := alias
	if len(sam) > 20 {
		sam = sam[:20]
	}
	guid := g.id("mailbox/" + alias)
	m := &org.Mailbox{
		Guid: guid, ExchangeGuid: g.id("mailbox-store/" + alias),
		Name: name, Alias: alias, DisplayName: display,
		PrimarySmtpAddress: smtp, EmailAddresses: []string{"SMTP:" + smtp},
		SamAccountName:       sam,
		DistinguishedName:    "CN=" + org.EscapeRDN(name) + "," + ou + "," + dc,
		UserPrincipalName:    smtp,
		LegacyExchangeDN:     fmt.Sprintf("/o=%s/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=%s-%s", g.o.Name, strings.ReplaceAll(guid.String(), "-", "")[:32], alias),
		RecipientTypeDetails: kind,
		ServerName:           strings.ToLower(srv.Name),
		Database:             fmt.Sprintf("DB%02d", i%len(g.o.Servers)+1),
		WhenCreated:          g.created(900),
		ActiveSyncEnabled:    true, OWAEnabled: true, OWAforDevicesEnabled: true, ECPEnabled: true, EwsEnabled: true,
		PopEnabled: true, ImapEnabled: true, MAPIEnabled: true,
	}
	if kind == org.UserMailbox {
		m.Password = g.password()
	}
	g.o.Mailboxes = append(g.o.Mailboxes, m)
}

func (g *gen) group(name string, members []uuid.UUID) *org.Group {
	alias := strings.ReplaceAll(name, " ", "")
	sam := alias
	if len(sam) > 20 {
		sam = sam[:20]
	}
	gr := &org.Group{
		Guid: g.id("group/" + name), Name: name, Alias: alias, DisplayName: name,
		DistinguishedName:    "CN=" + org.EscapeRDN(name) + ",OU=Groups," + g.dc,
		PrimarySmtpAddress:   alias + "@" + g.domain,
		SamAccountName:       sam,
		LegacyExchangeDN:     fmt.Sprintf("/o=%s/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=%s", g.o.Name, alias),
		RecipientTypeDetails: org.MailUniversalSecurityGroup,
		Members:              members,
		WhenCreated:          g.created(700),
	}
	g.o.Groups = append(g.o.Groups, gr)
	return gr
}

// groups makes the allow group: Allow direct members (one hostile name
// among them), the nested group with about half as many more and, inside
// it, a second level with two more; and a distribution group that is not
// part of the allow set.
func (g *gen) groups(res *Result) {
	var users []int
	for i, m := range g.o.Mailboxes {
		if m.RecipientTypeDetails == org.UserMailbox && m.MapiHttpEnabled == nil {
			users = append(users, i)
		}
	}
	g.rng.Shuffle(len(users), func(a, b int) { users[a], users[b] = users[b], users[a] })
	take := func(k int) []uuid.UUID {
		var out []uuid.UUID
		for ; k > 0 && len(users) > 0; k-- {
			out = append(out, g.o.Mailboxes[users[0]].Guid)
			users = users[1:]
		}
		return out
	}
	// A hostile name is always a direct member; the probe's allowed user
	// is a plain one.
	hostile := g.o.Mailboxes[0].Guid
	for i, u := range users {
		if g.o.Mailboxes[u].Guid == hostile {
			users = append(users[:i], users[i+1:]...)
			break
		}
	}
	direct := append(take(g.opts.Allow-1), hostile)
	nested2 := g.group(NestedNestedGroup, take(2))
	nestedMembers := append(take(max(1, g.opts.Allow/2)), nested2.Guid)
	nested := g.group(NestedGroup, nestedMembers)
	allow := g.group(AllowGroup, append(direct, nested.Guid))
	all := g.group("All Staff", take(min(10, len(users))))
	all.RecipientTypeDetails = org.MailUniversalDistributionGroup
	g.o.Groups = []*org.Group{allow, nested, nested2, all}

	res.ProbeAllowed = g.o.MailboxByGuid(direct[0]).PrimarySmtpAddress
	if len(users) > 0 {
		res.ProbeBlocked = g.o.Mailboxes[users[len(users)-1]].PrimarySmtpAddress
	} else {
		for _, m := range all.Members {
			res.ProbeBlocked = g.o.MailboxByGuid(m).PrimarySmtpAddress
		}
	}
	g.o.InvalidateIndex()
}

func (g *gen) zones() {
	now := g.opts.Now.UTC()
	serial := uint32(now.Year()*1000000 + int(now.Month())*10000 + now.Day()*100 + 1)
	zone := g.domain + "."
	internal := &org.Zone{
		View: "internal", Name: zone,
		SOA: org.SOA{MName: "dc01." + zone, RName: "hostmaster." + zone, Serial: serial, Refresh: 900, Retry: 600, Expire: 86400, Minimum: DefaultTTL, TTL: DefaultTTL},
		NS:  []string{"dc01." + zone},
		Records: []org.Record{
			{Name: "dc01." + zone, Type: "A", TTL: DefaultTTL, Data: InternalDNS},
			{Name: "outlook." + zone, Type: "A", TTL: DefaultTTL, Data: InternalVIP},
			{Name: "autodiscover." + zone, Type: "A", TTL: DefaultTTL, Data: InternalVIP},
		},
	}
	for i, s := range g.o.Servers {
		internal.Records = append(internal.Records, org.Record{Name: s.Fqdn + ".", Type: "A", TTL: DefaultTTL, Data: fmt.Sprintf("192.0.2.%d", 11+i)})
	}
	public := &org.Zone{
		View: "public", Name: zone,
		SOA: org.SOA{MName: "ns1." + zone, RName: "hostmaster." + zone, Serial: serial, Refresh: 3600, Retry: 600, Expire: 1209600, Minimum: PublicTTL, TTL: DefaultTTL},
		NS:  []string{"ns1." + zone, "ns2." + zone},
		Records: []org.Record{
			{Name: zone, Type: "MX", TTL: DefaultTTL, Data: "10 mail." + zone},
			{Name: zone, Type: "TXT", TTL: DefaultTTL, Data: `"v=spf1 mx -all"`},
			{Name: "ns1." + zone, Type: "A", TTL: DefaultTTL, Data: PublicNS1},
			{Name: "ns2." + zone, Type: "A", TTL: DefaultTTL, Data: PublicNS2},
			{Name: "mail." + zone, Type: "A", TTL: DefaultTTL, Data: PublicMail},
			{Name: "outlook." + zone, Type: "A", TTL: PublicTTL, Data: PublicVIP},
			{Name: "autodiscover." + zone, Type: "A", TTL: PublicTTL, Data: PublicVIP},
		},
	}
	g.o.Zones = []*org.Zone{internal, public}
}

// childDomain adds the child domain's user mailboxes (on the first
// domain's servers, as a forest's Exchange servers host every domain's
// mailboxes) and makes the first of them a direct member of the allow
// group.
func (g *gen) childDomain() {
	domain := g.opts.ChildDomain + "." + g.domain
	dc := "DC=" + g.opts.ChildDomain + "," + g.dc
	first := len(g.o.Mailboxes)
	for i := 0; i < g.opts.ChildMailboxes; i++ {
		fn := firstNames[g.rng.IntN(len(firstNames))]
		ln := lastNames[g.rng.IntN(len(lastNames))]
		alias := fmt.Sprintf("%s-%d", g.opts.ChildDomain, i+1)
		g.mailboxIn(domain, dc, fmt.Sprintf("%s %s (%s)", fn, ln, strings.ToUpper(g.opts.ChildDomain)), alias, org.UserMailbox, first+i)
	}
	if allow := g.findGroup(AllowGroup); allow != nil {
		allow.Members = append(allow.Members, g.o.Mailboxes[first].Guid)
	}
	g.o.InvalidateIndex()
}

func (g *gen) findGroup(name string) *org.Group {
	for _, gr := range g.o.Groups {
		if gr.Name == name {
			return gr
		}
	}
	return nil
}

// dynamicGroup adds the dynamic distribution group to the allow group:
// DynamicMembers first-domain user mailboxes outside the allow set get its
// department and attribute, one more only the department.
func (g *gen) dynamicGroup() error {
	allowed := map[uuid.UUID]bool{}
	if allow := g.findGroup(AllowGroup); allow != nil {
		g.o.InvalidateIndex()
		for _, m := range g.o.ExpandGroup(allow) {
			allowed[m.Guid] = true
		}
	}
	var pick []*org.Mailbox
	for _, i := range g.plainUsers() {
		m := g.o.Mailboxes[i]
		if !allowed[m.Guid] && m.MapiHttpEnabled == nil && org.DomainOf(m.DistinguishedName) == g.domain {
			pick = append(pick, m)
		}
	}
	if len(pick) < DynamicMembers+1 {
		return fmt.Errorf("generate: a dynamic group needs %d user mailboxes outside the allow group, there are %d", DynamicMembers+1, len(pick))
	}
	for _, m := range pick[:DynamicMembers] {
		m.Department, m.CustomAttribute1 = DynamicDepartment, DynamicAttribute
	}
	pick[DynamicMembers].Department = DynamicDepartment
	name := DynamicGroupName
	alias := strings.ReplaceAll(name, " ", "")
	d := &org.DynamicGroup{
		Guid: g.id("dynamic-group/" + name), Name: name, Alias: alias, DisplayName: name,
		DistinguishedName:  "CN=" + org.EscapeRDN(name) + ",OU=Groups," + g.dc,
		PrimarySmtpAddress: alias + "@" + g.domain,
		LegacyExchangeDN:   fmt.Sprintf("/o=%s/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=%s", g.o.Name, alias),
		RecipientFilter:    fmt.Sprintf("((Department -eq '%s') -and (CustomAttribute1 -eq '%s'))", DynamicDepartment, DynamicAttribute),
		RecipientContainer: "OU=Users," + g.dc,
		WhenCreated:        g.created(700),
	}
	g.o.DynamicGroups = append(g.o.DynamicGroups, d)
	if allow := g.findGroup(AllowGroup); allow != nil {
		allow.Members = append(allow.Members, d.Guid)
	}
	g.o.InvalidateIndex()
	return nil
}

// edge adds the Edge Transport server: in the perimeter, outside the
// domain and the DAG, without client access services or mailboxes.
func (g *gen) edge() {
	fqdn := strings.ToLower(EdgeServer) + "." + g.domain
	g.o.Servers = append(g.o.Servers, &org.Server{
		Name: EdgeServer, Fqdn: fqdn, Guid: g.id("server/" + EdgeServer),
		AdminDisplayVersion: ExchangeVersion, Edition: "Standard", ServerRole: org.RoleEdge,
		WhenCreated: g.created(900),
	})
}
