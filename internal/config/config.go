// Package config loads exrunbook's configuration: a YAML file read with
// viper, overridden by EXRUNBOOK_SECTION_KEY environment variables and by
// command-line flags, unmarshalled once into the typed Config and validated
// as a whole. Every validation error names the key, the bad value and what
// is expected; all of them are collected into one *Error.
//
// Secrets (the Exchange password, the TSIG secret, the PFX password and the
// probe password) are never read from the YAML file. They come from the
// environment, from files named by the *_file keys (which must have mode
// 0600 or stricter), or from a Prompter the caller passes to
// Config.Secrets, and are read lazily by the Secrets methods.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is the whole configuration. Its fields mirror the keys of
// exrunbook.yaml exactly (README.md, "Configuration", lists them); the yaml
// tags are the key names.
type Config struct {
	Exchange     Exchange     `yaml:"exchange" json:"exchange"`
	Namespace    Namespace    `yaml:"namespace" json:"namespace"`
	Certificate  Certificate  `yaml:"certificate" json:"certificate"`
	Autodiscover Autodiscover `yaml:"autodiscover" json:"autodiscover"`
	PublicDNS    PublicDNS    `yaml:"public_dns" json:"public_dns"`
	InternalDNS  InternalDNS  `yaml:"internal_dns" json:"internal_dns"`
	MapiHTTP     MapiHTTP     `yaml:"mapi_http" json:"mapi_http"`
	Mailboxes    Mailboxes    `yaml:"mailboxes" json:"mailboxes"`

	// File is the config file the values were read from ("" when none).
	File string `yaml:"-" json:"-"`

	secrets *secretStore
}

// Exchange is how exrunbook reaches Exchange: its remote PowerShell
// endpoint (MS-PSRP over WS-Management, configuration Microsoft.Exchange).
type Exchange struct {
	// Endpoint is the Exchange endpoint, e.g.
	// http://ex01.contoso.com/PowerShell/.
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	// Auth is kerberos (default), ntlm or basic (https only).
	Auth string `yaml:"auth" json:"auth"`
	// Concurrency is how many pipelines run at once in the session
	// (independent write batches); default 4.
	Concurrency int `yaml:"concurrency" json:"concurrency"`
	// User is the account, e.g. CONTOSO\admin.
	User string `yaml:"user" json:"user"`
	// PasswordFile names a 0600 file holding the password
	// (or EXRUNBOOK_EXCHANGE_PASSWORD).
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// CertFile and KeyFile are the client certificate and its key for
	// auth: certificate (PEM). KeyFile must be 0600.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// Kerberos configures auth: kerberos.
	Kerberos Kerberos `yaml:"kerberos" json:"kerberos"`
	// CAFile is a PEM bundle to verify the endpoint's TLS certificate.
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// AllowHTTPBasic permits auth: basic over http:// (the password then
	// crosses the network in clear text).
	AllowHTTPBasic bool `yaml:"allow_http_basic" json:"allow_http_basic"`
	// Servers limits the scope; empty means every server from Get-ExchangeServer.
	Servers []string `yaml:"servers" json:"servers"`
	// HTTPS maps a server name to the host:port where TLS checks connect.
	HTTPS map[string]string `yaml:"https" json:"https"`
	// SMTP maps a server name to the host:port where the SMTP STARTTLS
	// check connects (see acme.go).
	SMTP map[string]string `yaml:"smtp" json:"smtp"`
}

// Kerberos is how exrunbook signs in with auth: kerberos: the realm, the
// krb5.conf that finds its KDCs, and either a keytab or the password.
type Kerberos struct {
	// Realm is the Kerberos realm, e.g. CONTOSO.COM. Empty: the upper-cased
	// domain of a user given as user@domain.
	Realm string `yaml:"realm" json:"realm"`
	// Krb5ConfFile is the krb5.conf (default /etc/krb5.conf).
	Krb5ConfFile string `yaml:"krb5_conf_file" json:"krb5_conf_file"`
	// KeytabFile (mode 0600) signs in without a password.
	KeytabFile string `yaml:"keytab_file" json:"keytab_file"`
	// SPN is the service principal; empty: HTTP/<endpoint host> (which
	// must then be a DNS name, not an address).
	SPN string `yaml:"spn" json:"spn"`
}

// KerberosRealm is the realm to sign in to: kerberos.realm, else the
// upper-cased domain of a user written as user@domain.
func (e Exchange) KerberosRealm() string {
	if e.Kerberos.Realm != "" {
		return e.Kerberos.Realm
	}
	if i := strings.LastIndexByte(e.User, '@'); i >= 0 && i < len(e.User)-1 {
		return strings.ToUpper(e.User[i+1:])
	}
	return ""
}

// DefaultKrb5Conf is the krb5.conf read when exchange.kerberos.krb5_conf_file
// and KRB5_CONFIG are both empty.
const DefaultKrb5Conf = "/etc/krb5.conf"

// Krb5Conf is kerberos.krb5_conf_file as given (resolved against the
// config's directory), or "" when unset: the Kerberos client then reads
// KRB5_CONFIG, else /etc/krb5.conf, as kinit does.
func (e Exchange) Krb5Conf() string { return e.Kerberos.Krb5ConfFile }

// KerberosSPN is the service principal tickets are asked for:
// kerberos.spn, else HTTP/<endpoint host>; "" when the endpoint is not a
// URL or names its server by address (no SPN names an address).
func (e Exchange) KerberosSPN() string {
	if e.Kerberos.SPN != "" {
		return e.Kerberos.SPN
	}
	u, err := url.Parse(e.Endpoint)
	if err != nil || u.Hostname() == "" || net.ParseIP(u.Hostname()) != nil {
		return ""
	}
	return "HTTP/" + u.Hostname()
}

// HTTPSAddress returns where TLS checks connect for server, matching the
// server name case-insensitively as Exchange does.
func (e Exchange) HTTPSAddress(server string) (string, bool) {
	if a, ok := e.HTTPS[server]; ok {
		return a, true
	}
	for k, a := range e.HTTPS {
		if strings.EqualFold(k, server) {
			return a, true
		}
	}
	return "", false
}

// Namespace holds the three client-facing names.
type Namespace struct {
	Internal     string `yaml:"internal" json:"internal"`
	External     string `yaml:"external" json:"external"`
	Autodiscover string `yaml:"autodiscover" json:"autodiscover"`
}

// Certificate configures the certificate step.
type Certificate struct {
	// Mode is pfx, thumbprint or request.
	Mode            string `yaml:"mode" json:"mode"`
	PFXFile         string `yaml:"pfx_file" json:"pfx_file"`
	PFXPasswordFile string `yaml:"pfx_password_file" json:"pfx_password_file"`
	// Thumbprint is the SHA-1 thumbprint (40 hex digits) in thumbprint mode.
	Thumbprint string `yaml:"thumbprint" json:"thumbprint"`
	// Services are bound by bind-certificate (default IIS, SMTP).
	Services []string `yaml:"services" json:"services"`
	// PopImap also binds POP and IMAP.
	PopImap bool `yaml:"pop_imap" json:"pop_imap"`
	// Request configures request mode.
	Request CertificateRequest `yaml:"request" json:"request"`
	// ACME configures acme mode and `certificate renew` (see acme.go).
	ACME CertificateACME `yaml:"acme" json:"acme"`
}

// CertificateRequest configures New-ExchangeCertificate -GenerateRequest.
type CertificateRequest struct {
	// Subject is the subject name, e.g. "CN=outlook.contoso.com"; empty
	// means CN=<namespace.external>.
	Subject string `yaml:"subject" json:"subject"`
	// KeySize is 2048, 3072 or 4096 (default 2048).
	KeySize int `yaml:"key_size" json:"key_size"`
	// Server is where the request is generated; empty means the first server in scope.
	Server string `yaml:"server" json:"server"`
	// CSRFile is where the CSR is written locally (default exrunbook.csr).
	CSRFile string `yaml:"csr_file" json:"csr_file"`
}

// Autodiscover configures the autodiscover-wait step.
type Autodiscover struct {
	// MinWait is how long after external-urls the step waits (default 2h).
	MinWait Duration `yaml:"min_wait" json:"min_wait"`
	Probe   Probe    `yaml:"probe" json:"probe"`
}

// Probe names the mailbox users the autodiscover check signs in as.
type Probe struct {
	AllowedUser  string `yaml:"allowed_user" json:"allowed_user"`
	BlockedUser  string `yaml:"blocked_user" json:"blocked_user"`
	PasswordFile string `yaml:"password_file" json:"password_file"`
}

// Enabled reports whether probe credentials are configured.
func (p Probe) Enabled() bool { return p.AllowedUser != "" || p.BlockedUser != "" }

// PublicDNS configures the public-dns step: the public zone's write
// access (the keys it shares with certificate.acme.challenge_dns) and
// the step's own keys.
type PublicDNS struct {
	DNSAccess `yaml:",inline"`
	// PublicIP is the address the external name gets.
	PublicIP string `yaml:"public_ip" json:"public_ip"`
	// TTL of the new record, in seconds (default 300).
	TTL int `yaml:"ttl" json:"ttl"`
}

// TSIG is the key that signs the RFC 2136 UPDATE.
type TSIG struct {
	Name       string `yaml:"name" json:"name"`
	Algorithm  string `yaml:"algorithm" json:"algorithm"`
	SecretFile string `yaml:"secret_file" json:"secret_file"`
}

// InternalDNS is where internal resolution is checked.
type InternalDNS struct {
	// Server is an internal resolver, host:port.
	Server string `yaml:"server" json:"server"`
	// Addresses are the internal addresses the internal name must resolve to.
	Addresses []string `yaml:"addresses" json:"addresses"`
}

// MapiHTTP configures the mapi-http step.
type MapiHTTP struct {
	// Enable sets MapiHttpEnabled on the organization instead of failing.
	Enable bool `yaml:"enable" json:"enable"`
}

// Mailboxes configures block-mailboxes and enforce.
type Mailboxes struct {
	AllowGroup     string   `yaml:"allow_group" json:"allow_group"`
	RecipientTypes []string `yaml:"recipient_types" json:"recipient_types"`
	BatchSize      int      `yaml:"batch_size" json:"batch_size"`
	MaxChanges     int      `yaml:"max_changes" json:"max_changes"`
}

// Duration is a time.Duration written as "2h", "90m" or "5s".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration as Go does ("2h0m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes the duration as a string such as "2h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConcurrency is exchange.concurrency when not set.
const DefaultConcurrency = 4

// MaxConcurrency bounds exchange.concurrency: Exchange's throttling
// policy limits the runspaces and cmdlets of one user.
const MaxConcurrency = 16

// Default returns a Config holding only the documented defaults.
func Default() *Config {
	return &Config{
		Exchange: Exchange{Auth: "kerberos", Concurrency: DefaultConcurrency},
		Certificate: Certificate{Services: []string{"IIS", "SMTP"}, Request: CertificateRequest{KeySize: 2048, CSRFile: "exrunbook.csr"},
			ACME: CertificateACME{Directory: LetsEncryptProduction, RenewBefore: DefaultRenewBefore,
				ChallengeDNS: DNSAccess{TSIG: TSIG{Algorithm: "hmac-sha256"}}}},
		Autodiscover: Autodiscover{MinWait: Duration(2 * time.Hour)},
		PublicDNS:    PublicDNS{DNSAccess: DNSAccess{Mode: "rfc2136", TSIG: TSIG{Algorithm: "hmac-sha256"}}, TTL: 300},
		Mailboxes:    Mailboxes{RecipientTypes: []string{"UserMailbox"}, BatchSize: 500, MaxChanges: 50},
		secrets:      newSecretStore(nil),
	}
}

// Hash is a stable digest of the configuration: the same settings give the
// same hash whatever their order or source. It covers the names of secret
// files, never secret values. The engine stores it to refuse a resume under
// a changed configuration.
func (c *Config) Hash() string {
	b, err := json.Marshal(c.normalized())
	if err != nil {
		// Config holds only strings, ints, bools, slices and maps: Marshal
		// cannot fail on it.
		panic(err)
	}
	sum := sha256.Sum256(append([]byte("exrunbook-config-v1\n"), b...))
	return hex.EncodeToString(sum[:])
}

func (c *Config) normalized() Config {
	n := *c
	n.secrets = nil
	n.File = ""
	low := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	n.Namespace = Namespace{low(c.Namespace.Internal), low(c.Namespace.External), low(c.Namespace.Autodiscover)}
	n.PublicDNS.Zone = low(c.PublicDNS.Zone)
	n.PublicDNS.TSIG.Name = low(c.PublicDNS.TSIG.Name)
	n.Certificate.ACME.ChallengeDNS.Zone = low(c.Certificate.ACME.ChallengeDNS.Zone)
	n.Certificate.ACME.ChallengeDNS.TSIG.Name = low(c.Certificate.ACME.ChallengeDNS.TSIG.Name)
	if len(c.Exchange.HTTPS) > 0 {
		n.Exchange.HTTPS = make(map[string]string, len(c.Exchange.HTTPS))
		for k, v := range c.Exchange.HTTPS {
			n.Exchange.HTTPS[strings.ToUpper(k)] = v
		}
	}
	if len(c.Exchange.SMTP) > 0 {
		n.Exchange.SMTP = make(map[string]string, len(c.Exchange.SMTP))
		for k, v := range c.Exchange.SMTP {
			n.Exchange.SMTP[strings.ToUpper(k)] = v
		}
	}
	return n
}

// String renders the configuration as JSON. It holds no secret values:
// only the names of the files they are read from.
func (c *Config) String() string {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return string(b)
}
