package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Secret is a secret value that never prints itself: String, GoString,
// every fmt verb, JSON and text marshalling all give "[redacted]". Reveal
// returns the value for the one place that needs it.
type Secret struct{ v string }

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{v} }

const redacted = "[redacted]"

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.v == "" }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON writes "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText writes "[redacted]".
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Prompter asks the operator for a secret; name says which one (e.g.
// "Exchange password for CONTOSO\admin").
type Prompter func(name string) (string, error)

// Secrets resolves the configuration's secrets: each from its environment
// variable, else from the file its *_file key names, else by asking the
// Prompter (when there is one), in that order. A value, once read, is kept
// by the Config for the rest of the process, so nobody is asked twice.
type Secrets struct {
	c      *Config
	prompt Prompter
}

// Secrets returns the resolver of c's secrets that asks p for a secret
// that is neither in the environment nor in a file; with p nil such a
// secret is an error naming where it could be set.
func (c *Config) Secrets(p Prompter) Secrets { return Secrets{c: c, prompt: p} }

// The environment variables that carry secrets.
const (
	EnvExchangePassword = "EXRUNBOOK_EXCHANGE_PASSWORD"
	EnvTSIGSecret       = "EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET"
	EnvPFXPassword      = "EXRUNBOOK_CERTIFICATE_PFX_PASSWORD"
	EnvProbePassword    = "EXRUNBOOK_PROBE_PASSWORD"
)

// secretSpec describes where one secret comes from.
type secretSpec struct {
	name    string // shown to the operator
	env     string
	fileKey string
	file    func(*Config) string
}

var (
	specExchangePassword = secretSpec{"Exchange password", EnvExchangePassword, "exchange.password_file", func(c *Config) string { return c.Exchange.PasswordFile }}
	specTSIGSecret       = tsigSpec(PublicDNSKey)
	specPFXPassword      = secretSpec{"PFX password", EnvPFXPassword, "certificate.pfx_password_file", func(c *Config) string { return c.Certificate.PFXPasswordFile }}
	specProbePassword    = secretSpec{"Autodiscover probe password", EnvProbePassword, "autodiscover.probe.password_file", func(c *Config) string { return c.Autodiscover.Probe.PasswordFile }}
)

// secretStore caches secrets once read.
type secretStore struct {
	mu     sync.Mutex
	env    func(string) (string, bool)
	values map[string]Secret
}

func newSecretStore(env func(string) (string, bool)) *secretStore {
	if env == nil {
		env = os.LookupEnv
	}
	return &secretStore{env: env, values: map[string]Secret{}}
}

// ErrNoSecret is wrapped by the error returned when a secret is nowhere to
// be found (no environment variable, no file, no prompt).
var ErrNoSecret = errors.New("secret not configured")

func (x Secrets) secret(spec secretSpec) (Secret, error) {
	c := x.c
	if c.secrets == nil {
		c.secrets = newSecretStore(nil)
	}
	st := c.secrets
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.values[spec.env]; ok {
		return s, nil
	}
	var s Secret
	if v, ok := st.env(spec.env); ok && v != "" {
		s = Secret{v}
	} else if f := spec.file(c); f != "" {
		v, err := ReadSecretFile(spec.fileKey, f)
		if err != nil {
			return Secret{}, err
		}
		s = Secret{v}
	} else if x.prompt != nil {
		v, err := x.prompt(spec.name)
		if err != nil {
			return Secret{}, fmt.Errorf("%s: %w", spec.name, err)
		}
		if v == "" {
			return Secret{}, fmt.Errorf("%s: %w: nothing was entered", spec.name, ErrNoSecret)
		}
		s = Secret{v}
	} else {
		return Secret{}, fmt.Errorf("%s: %w: set %s, or name a file with mode 0600 in %s", spec.name, ErrNoSecret, spec.env, spec.fileKey)
	}
	st.values[spec.env] = s
	return s, nil
}

func reveal(s Secret, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return s.v, nil
}

// ExchangePassword returns the WinRM password, from EXRUNBOOK_EXCHANGE_PASSWORD,
// exchange.password_file or the prompt, in that order.
func (x Secrets) ExchangePassword() (string, error) { return reveal(x.secret(specExchangePassword)) }

// TSIGSecret returns the base64 TSIG secret, from
// EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET, public_dns.tsig.secret_file or the prompt.
func (x Secrets) TSIGSecret() (string, error) { return x.DNSAccessTSIGSecret(PublicDNSKey) }

// DNSAccessTSIGSecret returns the base64 TSIG secret of block k, from its
// environment variable (EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET,
// EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET), its
// tsig.secret_file or the prompt.
func (x Secrets) DNSAccessTSIGSecret(k DNSAccessKey) (string, error) {
	spec := tsigSpec(k)
	s, err := x.secret(spec)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(s.v)
	if _, err := base64.StdEncoding.DecodeString(v); err != nil {
		return "", fmt.Errorf("%s (from %s or %s) is not valid base64; expected a key such as `tsig-keygen` writes", spec.name, spec.env, spec.fileKey)
	}
	return v, nil
}

// PFXPassword returns the PFX password, from EXRUNBOOK_CERTIFICATE_PFX_PASSWORD,
// certificate.pfx_password_file or the prompt.
func (x Secrets) PFXPassword() (string, error) { return reveal(x.secret(specPFXPassword)) }

// ProbePassword returns the Autodiscover probe users' password, from
// EXRUNBOOK_PROBE_PASSWORD, autodiscover.probe.password_file or the prompt.
func (x Secrets) ProbePassword() (string, error) { return reveal(x.secret(specProbePassword)) }

// HasProbePassword reports whether a probe password is available without
// prompting (environment or file).
func (c *Config) HasProbePassword() bool {
	if c.Autodiscover.Probe.PasswordFile != "" {
		return true
	}
	env := os.LookupEnv
	if c.secrets != nil {
		env = c.secrets.env
	}
	v, ok := env(EnvProbePassword)
	return ok && v != ""
}

// ReadSecretFile reads a secret from path, refusing a file that group or
// others may read. key names the config key for the messages. A trailing
// newline is removed.
func ReadSecretFile(key, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: cannot read secret file %q: %v", key, path, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: cannot stat secret file %q: %v", key, path, unwrapPath(err))
	}
	if err := checkSecretMode(key, path, fi); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return "", fmt.Errorf("%s: cannot read secret file %q: %v", key, path, unwrapPath(err))
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s: secret file %q is empty; expected the secret on its first line", key, path)
	}
	return v, nil
}

func checkSecretMode(key, path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %q is not a regular file; expected a file holding the secret", key, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s: secret file %q has mode %04o, readable by group or others; expected 0600 or stricter: run chmod 600 %s", key, path, perm, path)
	}
	return nil
}

// unwrapPath drops the *PathError wrapper so the path is not repeated.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// SecretInfo describes a secret the configuration needs.
type SecretInfo struct {
	// Name is what the Prompter is asked for (its name argument).
	Name string
	// Env and FileKey are where the secret could come from instead.
	Env, FileKey string
}

// NeededSecrets lists the secrets this configuration uses: the Exchange
// password (with auth kerberos only when exchange.password_file or
// EXRUNBOOK_EXCHANGE_PASSWORD gives one and no keytab is set: otherwise
// the keytab or the ticket cache signs in), the TSIG
// secret in rfc2136 mode,
// the PFX password in pfx mode, the probe password when probe users are set.
func (c *Config) NeededSecrets() []SecretInfo {
	var specs []secretSpec
	if c.usesExchangePassword() {
		specs = append(specs, specExchangePassword)
	}
	if strings.EqualFold(c.PublicDNS.Mode, "rfc2136") {
		specs = append(specs, specTSIGSecret)
	}
	specs = append(specs, c.dnsProviderSecrets()...)
	if strings.EqualFold(c.Certificate.Mode, "pfx") {
		specs = append(specs, specPFXPassword)
	}
	if c.Autodiscover.Probe.Enabled() {
		specs = append(specs, specProbePassword)
	}
	if strings.EqualFold(c.Certificate.Mode, "acme") && c.Certificate.ACME.EABKID != "" {
		specs = append(specs, specACMEEABHMAC)
	}
	if strings.EqualFold(c.Certificate.Mode, "acme") && c.Certificate.ACME.ChallengeDNS.Configured() {
		specs = append(specs, c.dnsAccessSecrets(ChallengeDNSKey)...)
	}
	out := make([]SecretInfo, len(specs))
	for i, s := range specs {
		out[i] = SecretInfo{Name: s.name, Env: s.env, FileKey: s.fileKey}
	}
	return out
}

// usesExchangePassword: ntlm and basic always sign in with the password;
// kerberos only when one is given (exchange.password_file or
// EXRUNBOOK_EXCHANGE_PASSWORD) and no keytab is: else the keytab or the
// ticket cache serves, and nobody is asked for a password.
func (c *Config) usesExchangePassword() bool {
	if !strings.EqualFold(c.Exchange.Auth, "kerberos") {
		return true
	}
	if c.Exchange.Kerberos.KeytabFile != "" {
		return false
	}
	if c.Exchange.PasswordFile != "" {
		return true
	}
	env := os.LookupEnv
	if c.secrets != nil {
		env = c.secrets.env
	}
	v, ok := env(EnvExchangePassword)
	return ok && v != ""
}

// MissingSecrets lists the needed secrets that are neither in the
// environment nor named by a file key, so that a front end (the TUI) can
// ask for them all at the start; its Prompter then answers by Name.
func (c *Config) MissingSecrets() []SecretInfo {
	env := os.LookupEnv
	if c.secrets != nil {
		env = c.secrets.env
	}
	files := map[string]string{
		specExchangePassword.env: c.Exchange.PasswordFile,
		specTSIGSecret.env:       c.PublicDNS.TSIG.SecretFile,
		specPFXPassword.env:      c.Certificate.PFXPasswordFile,
		specProbePassword.env:    c.Autodiscover.Probe.PasswordFile,
		specACMEEABHMAC.env:      c.Certificate.ACME.EABHMACFile,
	}
	for _, s := range c.dnsProviderSecrets() {
		files[s.env] = s.file(c)
	}
	for _, s := range c.dnsAccessSecrets(ChallengeDNSKey) {
		files[s.env] = s.file(c)
	}
	var out []SecretInfo
	for _, s := range c.NeededSecrets() {
		if v, ok := env(s.Env); ok && v != "" {
			continue
		}
		if files[s.Env] != "" {
			continue
		}
		out = append(out, s)
	}
	return out
}
