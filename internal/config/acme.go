package config

// The certificate.acme block (issue 13): the ACME CA, the account, when
// to renew, and exchange.smtp for the renewal's STARTTLS proof. Kept in
// one file to ease merging; the other files only hook it in.

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LetsEncryptProduction and LetsEncryptStaging are Let's Encrypt's ACME
// directories.
const (
	LetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"
	LetsEncryptStaging    = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// EnvACMEEABHMAC carries the external account binding's HMAC key.
const EnvACMEEABHMAC = "EXRUNBOOK_CERTIFICATE_ACME_EAB_HMAC"

// DefaultRenewBefore is certificate.acme.renew_before's default.
const DefaultRenewBefore = Duration(30 * 24 * time.Hour)

// CertificateACME configures certificate.mode: acme and `certificate renew`.
type CertificateACME struct {
	// Directory is the CA's ACME directory URL (default Let's Encrypt production).
	Directory string `yaml:"directory" json:"directory"`
	// Email is the account's contact address (optional).
	Email string `yaml:"email" json:"email"`
	// RenewBefore: renew when the certificate expires within this
	// (default 30d), or earlier when the CA's renewal information says so.
	RenewBefore Duration `yaml:"renew_before" json:"renew_before"`
	// CAFile is a PEM bundle of extra roots: it verifies the ACME server's
	// HTTPS and the certificates it issues (a private ACME CA).
	CAFile string `yaml:"ca_file" json:"ca_file"`
	// EABKID is the external account binding's key identifier (commercial
	// CAs); its HMAC key comes from EXRUNBOOK_CERTIFICATE_ACME_EAB_HMAC or
	// EABHMACFile (0600).
	EABKID      string `yaml:"eab_kid" json:"eab_kid"`
	EABHMACFile string `yaml:"eab_hmac_file" json:"eab_hmac_file"`
	// ChallengeDNS is write access to the zone that delegated challenges
	// land in: when _acme-challenge.<name> is a CNAME into a zone other
	// than public_dns.zone, the TXT record is written at the CNAME's
	// target through this access (same keys and modes as public_dns;
	// secrets from EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_* or 0600
	// files). Unset: challenges are written in public_dns.zone only.
	ChallengeDNS DNSAccess `yaml:"challenge_dns" json:"challenge_dns"`
}

var specACMEEABHMAC = secretSpec{"ACME external account binding HMAC key", EnvACMEEABHMAC, "certificate.acme.eab_hmac_file", func(c *Config) string { return c.Certificate.ACME.EABHMACFile }}

// ACMEEABHMAC returns the external account binding's HMAC key (base64url
// as the CA printed it), from EXRUNBOOK_CERTIFICATE_ACME_EAB_HMAC,
// certificate.acme.eab_hmac_file or the prompt.
func (x Secrets) ACMEEABHMAC() (string, error) { return reveal(x.secret(specACMEEABHMAC)) }

// SMTPAddress returns where the SMTP STARTTLS check connects for server
// (exchange.smtp), matching the name case-insensitively.
func (e Exchange) SMTPAddress(server string) (string, bool) {
	if a, ok := e.SMTP[server]; ok {
		return a, true
	}
	for k, a := range e.SMTP {
		if strings.EqualFold(k, server) {
			return a, true
		}
	}
	return "", false
}

// ParseDuration is time.ParseDuration that also takes days ("30d",
// "1d12h"): renewal periods are written in days.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("%q: bad number of days", s)
		}
		rest := time.Duration(0)
		if s[i+1:] != "" {
			if rest, err = time.ParseDuration(s[i+1:]); err != nil {
				return 0, err
			}
		}
		return time.Duration(n)*24*time.Hour + rest, nil
	}
	return time.ParseDuration(s)
}

func (c *Config) validateACME(ps *problems) {
	a := c.Certificate.ACME
	if a.Directory == "" {
		ps.add("certificate.acme.directory", "missing; expected the CA's ACME directory URL such as %s (staging: %s)", LetsEncryptProduction, LetsEncryptStaging)
	} else if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		ps.add("certificate.acme.directory", "%q is not an https:// URL; expected the CA's ACME directory URL such as %s", a.Directory, LetsEncryptProduction)
	}
	if a.Email != "" && !emailRE.MatchString(a.Email) {
		ps.add("certificate.acme.email", "%q is not an e-mail address; expected the account's contact such as hostmaster@contoso.com", a.Email)
	}
	if a.RenewBefore <= 0 {
		ps.add("certificate.acme.renew_before", "%q is not a positive duration; expected such as 30d", a.RenewBefore.String())
	}
	if a.CAFile != "" {
		fileExists(ps, "certificate.acme.ca_file", a.CAFile)
	}
	if a.EABHMACFile != "" {
		secretFile(ps, "certificate.acme.eab_hmac_file", a.EABHMACFile)
		if a.EABKID == "" {
			ps.add("certificate.acme.eab_kid", "missing; certificate.acme.eab_hmac_file is set, and the binding needs the key identifier the CA gave with it")
		}
	}
	if strings.EqualFold(c.PublicDNS.Mode, "manual") && c.PublicDNS.Server == "" && len(c.PublicDNS.Nameservers) == 0 {
		ps.add("public_dns.server", "missing; certificate.mode: acme checks the challenge records on the zone's servers: set public_dns.server or public_dns.nameservers")
	}
	if cd := a.ChallengeDNS; cd.Configured() {
		key := string(ChallengeDNSKey)
		mode := validateDNSAccess(ps, ChallengeDNSKey, cd)
		if mode == "manual" && cd.Server == "" && len(cd.Nameservers) == 0 {
			ps.add(key+".server", "missing; %s.mode: manual reads the challenge records from the zone's servers: set %s.server or %s.nameservers", key, key, key)
		}
		if cd.Zone != "" && strings.EqualFold(strings.TrimSuffix(cd.Zone, "."), strings.TrimSuffix(c.PublicDNS.Zone, ".")) {
			ps.add(key+".zone", "%q is public_dns.zone; expected the other zone that the _acme-challenge CNAMEs point into, such as acme.contoso.net.", cd.Zone)
		}
	}
	for s, addr := range c.Exchange.SMTP {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			ps.add("exchange.smtp."+s, "%q is not host:port; expected where SMTP listens such as ex01.contoso.com:25", addr)
		}
	}
}
