package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exrunbook/exrunbook/internal/config"
	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/lab"
	"github.com/exrunbook/exrunbook/internal/wsman"
)

// InitOptions are `exrunbook init`'s options.
type InitOptions struct {
	IO *IOStreams
	G  *GlobalOptions

	LabDir string
	Force  bool
}

func newInitCmd(io *IOStreams, g *GlobalOptions) *cobra.Command {
	o := &InitOptions{IO: io, G: g}
	cmd := &cobra.Command{
		Use:   "init [--lab DIR] [--force]",
		Short: "Write a commented exrunbook.yaml, by asking the essential questions or for a running lab",
		Long: `init writes ./exrunbook.yaml (or --config FILE) with a one-line comment on
every key. It asks the essential questions on the terminal, one per line,
with a default in brackets (enter keeps it). Secrets are never asked for
or written: the file names the files that hold them (*_file keys), and
each can also come from its environment variable.

With --lab DIR it writes the configuration of the lab running in DIR
(started by ` + "`exlab serve --dir DIR`" + `) without asking anything.

An existing file is kept unless --force is given.`,
		Args: usageArgs(cobra.NoArgs),
	}
	cmd.RunE = runE(func(ctx context.Context) error { return runInit(ctx, o) })
	f := cmd.Flags()
	f.StringVar(&o.LabDir, "lab", "", "write the configuration of the running lab in DIR")
	f.BoolVar(&o.Force, "force", false, "overwrite an existing file")
	return cmd
}

func runInit(ctx context.Context, o *InitOptions) error {
	path := o.G.ConfigFile
	if path == "" {
		path = "exrunbook.yaml"
	}
	if _, err := os.Stat(path); err == nil && !o.Force {
		return errkind.Usagef("%s exists: it is kept (--force overwrites it)", path)
	}
	var text string
	var err error
	if o.LabDir != "" {
		text, err = labConfig(o.LabDir)
	} else {
		if !o.IO.CanPrompt() {
			return errkind.Usagef("init asks questions on a terminal; without one, give --lab DIR or write the file by hand (the Configuration section of README.md lists every key)")
		}
		var a initAnswers
		a, err = askInit(ctx, o.IO, newLineReader(o.IO.In))
		if err == nil {
			text = a.render()
		}
	}
	if err != nil {
		return err
	}
	if err := validateConfigText(path, text); err != nil {
		return err
	}
	if err := writeConfigFile(path, []byte(text), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "wrote %s; next: exrunbook plan\n", path)
	return nil
}

// labConfig returns the configuration of the lab running in dir: the file
// the lab writes on every start, once endpoints.json says it is up.
func labConfig(dir string) (string, error) {
	var ep lab.Endpoints
	raw, err := os.ReadFile(filepath.Join(dir, lab.FileEndpoints))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", errkind.Usagef("no lab is running in %s (%s is missing; start it with `exlab serve --dir %s`)", dir, lab.FileEndpoints, shellQuote(dir))
		}
		return "", err
	}
	if err := json.Unmarshal(raw, &ep); err != nil {
		return "", errkind.Usagef("%s: %v", filepath.Join(dir, lab.FileEndpoints), err)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, lab.FileConfig))
	if err != nil {
		return "", errkind.Usagef("the lab in %s wrote no %s: %v", dir, lab.FileConfig, err)
	}
	return string(cfg), nil
}

// validateConfigText loads text as the config file at path would be loaded,
// so that nothing invalid is written.
func validateConfigText(path, text string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".exrunbook-init-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if _, err := config.Load(config.LoadOptions{File: tmp.Name()}); err != nil {
		msg := strings.ReplaceAll(err.Error(), tmp.Name(), path)
		return errkind.Usagef("the configuration would not be valid, nothing was written: %s", msg)
	}
	return nil
}

// writeConfigFile writes data to path through a temporary file and a rename.
func writeConfigFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".exrunbook-init-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// initAnswers are the answers to init's questions.
type initAnswers struct {
	Endpoint, Auth, User, PasswordFile, CAFile string
	Krb5Conf, Concurrency                      string
	// SPN is asked only when the endpoint names an address.
	SPN string
	// CachePrincipal is whose valid TGT the ticket cache held when init
	// started ("" for none).
	CachePrincipal                     string
	Internal, External, Autodiscover   string
	AllowGroup                         string
	CertMode, PFXFile, PFXPasswordFile string
	Thumbprint                         string
	DNSMode, Zone, DNSServer, TSIGName string
	TSIGSecretFile, PublicIP           string
	DNSNameservers                     string
	Route53KeyID, Route53ZoneID        string
	AzureTenant, AzureClient           string
	AzureSubscription, AzureGroup      string
	// DNSTokenFiles holds, per provider API mode, the token file.
	DNSTokenFiles                      map[string]*string
	InternalDNSServer, InternalAddress string
}

// question is one line of init's dialogue.
type question struct {
	prompt string
	def    string
	check  func(string) error
	dest   *string
	// when: asked only if it returns true (nil: always).
	when func() bool
}

func askInit(ctx context.Context, s *IOStreams, lines *lineReader) (initAnswers, error) {
	a := initAnswers{DNSTokenFiles: map[string]*string{}}
	// The ticket cache first: a valid TGT (kinit, or a domain logon) signs
	// in with no password to store.
	authDef, userDef, authPrompt := "kerberos", `administrator@contoso.com`, "Authentication (kerberos, ntlm, basic over https only)"
	if p, err := wsman.KerberosTicketCache(""); err == nil && p != "" {
		a.CachePrincipal = p
		userDef = p
		authPrompt = "Authentication (kerberos: the ticket cache of " + p + ", no password stored; ntlm; basic over https only)"
		fmt.Fprintf(s.ErrOut, "The Kerberos ticket cache holds a valid ticket of %s: with auth kerberos exrunbook signs in with it, and no password is written.\n", p)
	}
	fromCache := func() bool {
		return a.Auth == "kerberos" && a.CachePrincipal != "" && strings.EqualFold(a.User, a.CachePrincipal)
	}
	krb5Def := os.Getenv("KRB5_CONFIG")
	if krb5Def == "" {
		krb5Def = config.DefaultKrb5Conf
	}
	qs := []question{
		{prompt: "Exchange remote PowerShell endpoint URL", def: "http://ex01.contoso.com/PowerShell/", check: checkEndpoint, dest: &a.Endpoint},
		{prompt: authPrompt, def: authDef, check: oneOf("kerberos", "ntlm", "basic"), dest: &a.Auth},
		{prompt: `User (user@domain or DOMAIN\user)`, def: userDef, check: nonEmpty, dest: &a.User},
		{prompt: "File holding the password (or leave empty and set EXRUNBOOK_EXCHANGE_PASSWORD)", def: "", check: optionalFile, dest: &a.PasswordFile, when: func() bool { return !fromCache() }},
		{prompt: "krb5.conf file", def: krb5Def, check: existingFile, dest: &a.Krb5Conf, when: func() bool { return a.Auth == "kerberos" }},
		{prompt: "Service principal of the endpoint (its URL names an address: HTTP/<the server's DNS name>)", def: "", check: checkSPN, dest: &a.SPN,
			when: func() bool { return a.Auth == "kerberos" && endpointIsAddress(a.Endpoint) }},
		{prompt: "Pipelines at once in the Exchange session (1-16)", def: "4", check: checkConcurrency, dest: &a.Concurrency},
		{prompt: "CA file to verify the endpoint's certificate (empty: the system's CAs)", def: "", check: optionalFile, dest: &a.CAFile},
		{prompt: "Internal name (today's Outlook name)", def: "outlook.contoso.com", check: checkHostname, dest: &a.Internal},
		{prompt: "New external name", def: "outlook-ext.contoso.com", check: checkHostname, dest: &a.External},
		{prompt: "Autodiscover name", def: "autodiscover.contoso.com", check: checkHostname, dest: &a.Autodiscover},
		{prompt: "Allow group (mailboxes that keep external Outlook)", def: "AllowExternalAccess", check: nonEmpty, dest: &a.AllowGroup},
		{prompt: "Certificate mode (pfx, request, thumbprint)", def: "pfx", check: oneOf("pfx", "request", "thumbprint"), dest: &a.CertMode},
		{prompt: "PFX file", def: "new-cert.pfx", check: existingFile, dest: &a.PFXFile, when: func() bool { return a.CertMode == "pfx" }},
		{prompt: "File holding the PFX password (or leave empty and set EXRUNBOOK_CERTIFICATE_PFX_PASSWORD)", def: "", check: optionalFile, dest: &a.PFXPasswordFile, when: func() bool { return a.CertMode == "pfx" }},
		{prompt: "Thumbprint of the certificate already installed", def: "", check: checkThumbprint, dest: &a.Thumbprint, when: func() bool { return a.CertMode == "thumbprint" }},
		{prompt: "Public DNS (" + strings.Join(config.PublicDNSModes, ", ") + ")", def: "manual", check: oneOf(config.PublicDNSModes...), dest: &a.DNSMode},
		{prompt: "Public DNS zone", def: "contoso.com.", check: checkHostname, dest: &a.Zone},
		{prompt: "Authoritative nameservers of the zone, where the change is verified (host:port, comma-separated)", def: "", check: checkHostPortList, dest: &a.DNSNameservers, when: func() bool { return isAPIMode(a.DNSMode) }},
		{prompt: "Public DNS primary server (host:port)", def: "", check: checkHostPort, dest: &a.DNSServer, when: func() bool { return a.DNSMode == "rfc2136" }},
		{prompt: "TSIG key name", def: "exrunbook-update.", check: nonEmpty, dest: &a.TSIGName, when: func() bool { return a.DNSMode == "rfc2136" }},
		{prompt: "File holding the TSIG secret (or leave empty and set EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET)", def: "", check: optionalFile, dest: &a.TSIGSecretFile, when: func() bool { return a.DNSMode == "rfc2136" }},
	}
	qs = append(qs,
		question{prompt: "Route 53 access key ID of the IAM user (the secret key is asked for as its token)", def: "", check: nonEmpty, dest: &a.Route53KeyID, when: func() bool { return a.DNSMode == "route53" }},
		question{prompt: "Route 53 hosted zone ID (empty: found by the zone's name)", def: "", check: func(string) error { return nil }, dest: &a.Route53ZoneID, when: func() bool { return a.DNSMode == "route53" }},
		question{prompt: "Azure directory (tenant) ID of the service principal", def: "", check: checkAzureTenant, dest: &a.AzureTenant, when: func() bool { return a.DNSMode == "azure" }},
		question{prompt: "Azure application (client) ID of the service principal (its secret is asked for as its token)", def: "", check: checkGUID, dest: &a.AzureClient, when: func() bool { return a.DNSMode == "azure" }},
		question{prompt: "Azure subscription ID that holds the zone", def: "", check: checkGUID, dest: &a.AzureSubscription, when: func() bool { return a.DNSMode == "azure" }},
		question{prompt: "Azure resource group that holds the zone", def: "", check: nonEmpty, dest: &a.AzureGroup, when: func() bool { return a.DNSMode == "azure" }},
	)
	for _, m := range config.PublicDNSAPIModes {
		f := new(string)
		a.DNSTokenFiles[m] = f
		qs = append(qs, question{prompt: fmt.Sprintf("File holding the %s, mode 0600 (or leave empty and set %s)", apiTokenWhat(m), apiTokenEnv(m)), def: "", check: optionalFile, dest: f,
			when: func() bool { return a.DNSMode == m }})
	}
	qs = append(qs, []question{
		{prompt: "Public IP address of the external name", def: "", check: checkIP, dest: &a.PublicIP},
		{prompt: "Internal DNS server (host:port)", def: "", check: checkHostPort, dest: &a.InternalDNSServer},
		{prompt: "Internal address of the Exchange servers (load balancer)", def: "", check: checkIP, dest: &a.InternalAddress},
	}...)
	for _, q := range qs {
		if q.when != nil && !q.when() {
			continue
		}
		for {
			if q.def != "" {
				fmt.Fprintf(s.ErrOut, "%s [%s]: ", q.prompt, q.def)
			} else {
				fmt.Fprintf(s.ErrOut, "%s: ", q.prompt)
			}
			line, err := lines.next(ctx)
			if err != nil && !errors.Is(err, io.EOF) {
				return a, err
			}
			v := strings.TrimSpace(line)
			if v == "" {
				v = q.def
			}
			if cerr := q.check(v); cerr != nil {
				if errors.Is(err, io.EOF) {
					return a, errkind.Usagef("%s: %v (no more answers)", q.prompt, cerr)
				}
				fmt.Fprintf(s.ErrOut, "  %v\n", cerr)
				continue
			}
			*q.dest = v
			break
		}
	}
	return a, nil
}

// existingFile: the answer names a file that exists (relative paths are
// relative to the working directory, where the config is written by default).
func existingFile(v string) error {
	if v == "" {
		return errors.New("an answer is needed")
	}
	st, err := os.Stat(v)
	if err != nil || st.IsDir() {
		return fmt.Errorf("%s: no such file", v)
	}
	return nil
}

func optionalFile(v string) error {
	if v == "" {
		return nil
	}
	return existingFile(v)
}

func nonEmpty(v string) error {
	if v == "" {
		return errors.New("an answer is needed")
	}
	return nil
}

func oneOf(choices ...string) func(string) error {
	return func(v string) error {
		for _, c := range choices {
			if v == c {
				return nil
			}
		}
		return fmt.Errorf("expected one of %s", strings.Join(choices, ", "))
	}
}

func checkEndpoint(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return errors.New("expected a URL like http://ex01.contoso.com/PowerShell/")
	}
	if p := strings.TrimRight(strings.ToLower(u.Path), "/"); p != "" && p != "/powershell" {
		return fmt.Errorf("expected Exchange's remote PowerShell endpoint, like http://%s/PowerShell/ (not the path %s)", u.Hostname(), u.Path)
	}
	return nil
}

// endpointIsAddress: the endpoint URL names its server by IP address,
// which no SPN does.
func endpointIsAddress(v string) bool {
	u, err := url.Parse(v)
	return err == nil && net.ParseIP(u.Hostname()) != nil
}

func checkSPN(v string) error {
	service, host, ok := strings.Cut(v, "/")
	if !ok || service == "" || host == "" || strings.ContainsAny(v, " \t") {
		return errors.New("expected HTTP/<the server's DNS name>, such as HTTP/ex01.contoso.com")
	}
	return nil
}

func checkConcurrency(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > config.MaxConcurrency {
		return fmt.Errorf("expected a number from 1 to %d", config.MaxConcurrency)
	}
	return nil
}

func checkHostname(v string) error {
	name := strings.TrimSuffix(v, ".")
	if name == "" || strings.ContainsAny(name, " /:@") || !strings.Contains(name, ".") {
		return errors.New("expected a DNS name like outlook.contoso.com")
	}
	return nil
}

func checkHostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil || host == "" {
		return errors.New("expected host:port, like 192.0.2.53:53")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("expected a port between 1 and 65535")
	}
	return nil
}

func checkIP(v string) error {
	if net.ParseIP(v) == nil {
		return errors.New("expected an IP address")
	}
	return nil
}

func checkThumbprint(v string) error {
	if len(v) != 40 || strings.Trim(strings.ToUpper(v), "0123456789ABCDEF") != "" {
		return errors.New("expected 40 hexadecimal digits")
	}
	return nil
}

// yamlString quotes v as a YAML double-quoted scalar.
func yamlString(v string) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// render writes the answers as a commented configuration file.
func (a initAnswers) render() string {
	var b strings.Builder
	q := yamlString
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# exrunbook configuration, written by `exrunbook init`.")
	w("# Secrets are never in this file: each *_file key names a file that holds one")
	w("# (mode 0600), or the secret comes from its environment variable (EXRUNBOOK_...).")
	w("")
	w("exchange:")
	w("  endpoint: %s   # Exchange's remote PowerShell endpoint (configuration Microsoft.Exchange)", q(a.Endpoint))
	w("  auth: %s   # kerberos | ntlm | basic (https only)", a.Auth)
	w("  user: %s   # the account whose RBAC roles run the cmdlets (see `exrunbook permissions`)", q(a.User))
	if a.Auth == "kerberos" && a.PasswordFile == "" {
		w("  password_file: \"\"   # empty, and no EXRUNBOOK_EXCHANGE_PASSWORD: the ticket cache signs in (KRB5CCNAME; run kinit first)")
	} else {
		w("  password_file: %s   # file with the password; or EXRUNBOOK_EXCHANGE_PASSWORD", q(a.PasswordFile))
	}
	w("  concurrency: %s   # pipelines at once in the one session", a.Concurrency)
	if a.Auth == "kerberos" {
		w("  kerberos:")
		w("    realm: \"\"   # empty: the upper-cased domain of user (user@DOMAIN)")
		w("    krb5_conf_file: %s   # the Kerberos configuration (KDCs)", q(a.Krb5Conf))
		w("    spn: %s   # empty: HTTP/<the endpoint's host>", q(a.SPN))
	}
	w("  ca_file: %s   # CA that issued the endpoint's certificate (empty: system CAs)", q(a.CAFile))
	w("  servers: []   # empty: every server from Get-ExchangeServer")
	w("")
	w("namespace:")
	w("  internal: %s   # the name Outlook uses inside today", q(a.Internal))
	w("  external: %s   # the new external name", q(a.External))
	w("  autodiscover: %s   # the Autodiscover name", q(a.Autodiscover))
	w("")
	w("certificate:")
	w("  mode: %s   # pfx: import a file | request: CSR for your CA | thumbprint: already installed", a.CertMode)
	w("  pfx_file: %s   # the PFX to import (mode pfx)", q(a.PFXFile))
	w("  pfx_password_file: %s   # file with the PFX password; or EXRUNBOOK_CERTIFICATE_PFX_PASSWORD", q(a.PFXPasswordFile))
	w("  thumbprint: %s   # the installed certificate (mode thumbprint)", q(a.Thumbprint))
	w("  services: [IIS, SMTP]   # Exchange services the certificate is enabled for")
	w("  pop_imap: false   # also set POP/IMAP's X509CertificateName")
	w("")
	w("autodiscover:")
	w("  min_wait: 2h   # how long Autodiscover answers stay cached by clients")
	w("")
	w("public_dns:")
	w("  mode: %s   # rfc2136: dynamic update with TSIG | manual: you change it, exrunbook verifies | %s: the provider's API", a.DNSMode, strings.Join(config.PublicDNSAPIModes, ", "))
	w("  zone: %s   # the public zone of the external name", q(dotted(a.Zone)))
	w("  server: %s   # primary server that takes updates (mode rfc2136)", q(a.DNSServer))
	w("  tsig:")
	w("    name: %s   # TSIG key name", q(a.TSIGName))
	w("    algorithm: hmac-sha256   # TSIG algorithm")
	w("    secret_file: %s   # file with the base64 TSIG secret; or EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET", q(a.TSIGSecretFile))
	w("  nameservers: [%s]   # authoritative servers that must serve the change (empty: the zone's NS records; needed with a provider's API)", nameserverList(a.DNSNameservers, q))
	for _, m := range config.PublicDNSAPIModes {
		file := ""
		if f := a.DNSTokenFiles[m]; f != nil {
			file = *f
		}
		w("  %s:", m)
		if m == "route53" {
			w("    access_key_id: %s   # the IAM user's access key ID", q(a.Route53KeyID))
			w("    hosted_zone_id: %s   # empty: found by the zone's name", q(a.Route53ZoneID))
		}
		if m == "azure" {
			w("    tenant_id: %s   # the directory (tenant) ID of the service principal", q(a.AzureTenant))
			w("    client_id: %s   # its application (client) ID", q(a.AzureClient))
			w("    subscription_id: %s   # the subscription that holds the zone", q(a.AzureSubscription))
			w("    resource_group: %s   # the resource group that holds the zone", q(a.AzureGroup))
		}
		w("    api_token_file: %s   # file (mode 0600) with the %s; or %s", q(file), apiTokenWhat(m), apiTokenEnv(m))
	}
	w("  public_ip: %s   # the address the external name points to", q(a.PublicIP))
	w("  ttl: 300   # TTL of the record written")
	w("")
	w("internal_dns:")
	w("  server: %s   # internal DNS server that answers for the internal name", q(a.InternalDNSServer))
	w("  addresses: [%s]   # the internal name's expected addresses", q(a.InternalAddress))
	w("")
	w("mapi_http:")
	w("  enable: false   # true: the mapi-http step may enable MAPI over HTTP org-wide")
	w("")
	w("mailboxes:")
	w("  allow_group: %s   # mailboxes in this group (nested too) keep external Outlook", q(a.AllowGroup))
	w("  recipient_types: [UserMailbox]   # which mailboxes block-mailboxes considers")
	w("  batch_size: 500   # mailboxes written per PowerShell launch")
	w("  max_changes: 50   # safety limit: refuse a run that would change more mailboxes than this")
	return b.String()
}

func dotted(zone string) string {
	if zone == "" || strings.HasSuffix(zone, ".") {
		return zone
	}
	return zone + "."
}

// isAPIMode reports whether mode writes through a DNS provider's API.
func isAPIMode(mode string) bool {
	for _, m := range config.PublicDNSAPIModes {
		if mode == m {
			return true
		}
	}
	return false
}

// apiTokenEnv is the environment variable of a provider's API token.
func apiTokenEnv(mode string) string {
	return "EXRUNBOOK_PUBLIC_DNS_" + strings.ToUpper(mode) + "_API_TOKEN"
}

// apiTokenWhat says what the token of provider mode is.
func apiTokenWhat(mode string) string {
	switch mode {
	case "azure":
		return "Azure client secret (its value, not its ID)"
	case "route53":
		return "Route 53 secret access key"
	}
	return mode + " API token"
}

// checkGUID accepts an ID such as 72f988bf-86f1-41af-91ab-2d7cd011db47.
func checkGUID(v string) error {
	if !guidPattern.MatchString(v) {
		return fmt.Errorf("expected a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47")
	}
	return nil
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// checkAzureTenant accepts a tenant ID or the tenant's domain.
func checkAzureTenant(v string) error {
	if checkGUID(v) == nil || (strings.Contains(v, ".") && checkHostname(v) == nil) {
		return nil
	}
	return fmt.Errorf("expected a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47, or the tenant's domain such as contoso.onmicrosoft.com")
}

// checkHostPortList accepts one or more host:port, comma-separated.
func checkHostPortList(v string) error {
	for _, p := range strings.Split(v, ",") {
		if err := checkHostPort(strings.TrimSpace(p)); err != nil {
			return err
		}
	}
	return nil
}

// nameserverList writes the comma-separated answer as a YAML flow list.
func nameserverList(v string, q func(string) string) string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, q(p))
		}
	}
	return strings.Join(out, ", ")
}
