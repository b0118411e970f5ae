package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validYAML is a complete, valid configuration; %s is the directory that
// holds the files it names.
const validYAML = `exchange:
  endpoint: https://ex01.contoso.com/PowerShell/
  auth: ntlm
  user: CONTOSO\admin
  password_file: %[1]s/exchange.password
  ca_file: %[1]s/ca.pem
  servers: [EX01, EX02]
  https: {EX01: "ex01.contoso.com:443", Ex02: "127.0.0.1:8443"}
namespace: {internal: outlook.contoso.com, external: outlook-ext.contoso.com, autodiscover: autodiscover.contoso.com}
certificate: {mode: pfx, pfx_file: %[1]s/new.pfx, pfx_password_file: %[1]s/pfx.password}
autodiscover: {min_wait: 5s, probe: {allowed_user: alice@contoso.com, blocked_user: bob@contoso.com, password_file: %[1]s/probe.password}}
public_dns:
  mode: rfc2136
  zone: contoso.com.
  server: ns1.provider.net:53
  nameservers: ["127.0.0.1:5353"]
  tsig: {name: exrunbook-update., algorithm: hmac-sha256, secret_file: %[1]s/tsig.secret}
  public_ip: 203.0.113.10
  ttl: 2
internal_dns: {server: "192.0.2.53:53", addresses: [192.0.2.25]}
mapi_http: {enable: true}
mailboxes: {allow_group: AllowExternalAccess, batch_size: 100}
`

// Secret values used by the tests; no output may contain them.
const (
	secretExchange = "Ex-Pa55w0rd-7f3a"
	secretTSIG     = "c2VjcmV0LXRzaWcta2V5LTlkMmM=" // base64
	secretPFX      = "pfx-pa55-91c0"
	secretProbe    = "probe-pa55-e41b"
)

// fixture writes validYAML and the files it names into a temp dir and
// returns the config path.
func fixture(t *testing.T) (dir, path string) {
	t.Helper()
	clearEnv(t)
	dir = t.TempDir()
	files := map[string]struct {
		data string
		mode os.FileMode
	}{
		"exchange.password": {secretExchange + "\n", 0o600},
		"tsig.secret":       {secretTSIG + "\n", 0o600},
		"pfx.password":      {secretPFX, 0o400},
		"probe.password":    {secretProbe + "\r\n", 0o600},
		"ca.pem":            {"-----BEGIN CERTIFICATE-----\n", 0o644},
		"new.pfx":           {"pfx", 0o644},
	}
	for name, f := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	path = filepath.Join(dir, "exrunbook.yaml")
	writeFile(t, path, fmt.Sprintf(validYAML, dir))
	return dir, path
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// clearEnv unsets every EXRUNBOOK_ variable for the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "EXRUNBOOK_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func TestLoadValid(t *testing.T) {
	dir, path := fixture(t)
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Exchange{
		Endpoint: "https://ex01.contoso.com/PowerShell/", Auth: "ntlm", Concurrency: DefaultConcurrency, User: `CONTOSO\admin`,
		PasswordFile: dir + "/exchange.password", CAFile: dir + "/ca.pem",
		Servers: []string{"EX01", "EX02"},
		HTTPS:   map[string]string{"EX01": "ex01.contoso.com:443", "Ex02": "127.0.0.1:8443"},
	}
	if !reflect.DeepEqual(cfg.Exchange, want) {
		t.Errorf("exchange = %+v\nwant %+v", cfg.Exchange, want)
	}
	if a, ok := cfg.Exchange.HTTPSAddress("ex02"); !ok || a != "127.0.0.1:8443" {
		t.Errorf("HTTPSAddress(ex02) = %q, %v", a, ok)
	}
	if cfg.Autodiscover.MinWait.D() != 5*time.Second {
		t.Errorf("min_wait = %v", cfg.Autodiscover.MinWait)
	}
	if cfg.PublicDNS.TTL != 2 || cfg.Mailboxes.BatchSize != 100 || !cfg.MapiHTTP.Enable {
		t.Errorf("ttl/batch/mapi = %d/%d/%v", cfg.PublicDNS.TTL, cfg.Mailboxes.BatchSize, cfg.MapiHTTP.Enable)
	}
	// Defaults fill what the file leaves out.
	if cfg.Mailboxes.MaxChanges != 50 || !reflect.DeepEqual(cfg.Mailboxes.RecipientTypes, []string{"UserMailbox"}) ||
		!reflect.DeepEqual(cfg.Certificate.Services, []string{"IIS", "SMTP"}) {
		t.Errorf("defaults: max_changes=%d recipient_types=%v services=%v", cfg.Mailboxes.MaxChanges, cfg.Mailboxes.RecipientTypes, cfg.Certificate.Services)
	}
	if cfg.File != path {
		t.Errorf("File = %q", cfg.File)
	}
}

func TestDefaults(t *testing.T) {
	d := Default()
	checks := map[string]bool{
		"min_wait 2h":          d.Autodiscover.MinWait.D() == 2*time.Hour,
		"ttl 300":              d.PublicDNS.TTL == 300,
		"batch_size 500":       d.Mailboxes.BatchSize == 500,
		"max_changes 50":       d.Mailboxes.MaxChanges == 50,
		"recipient_types":      reflect.DeepEqual(d.Mailboxes.RecipientTypes, []string{"UserMailbox"}),
		"services IIS,SMTP":    reflect.DeepEqual(d.Certificate.Services, []string{"IIS", "SMTP"}),
		"auth kerberos":        d.Exchange.Auth == "kerberos",
		"concurrency 4":        d.Exchange.Concurrency == 4,
		"mode rfc2136":         d.PublicDNS.Mode == "rfc2136",
		"algorithm hmacsha256": d.PublicDNS.TSIG.Algorithm == "hmac-sha256",
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("default %s not set", name)
		}
	}
}

func TestEnvOverridesNestedKeys(t *testing.T) {
	_, path := fixture(t)
	env := map[string]string{
		"EXRUNBOOK_PUBLIC_DNS_TSIG_NAME":            "other-key.",
		"EXRUNBOOK_EXCHANGE_ENDPOINT":               "https://ex02.contoso.com/PowerShell/",
		"EXRUNBOOK_EXCHANGE_SERVERS":                "EX03, EX04",
		"EXRUNBOOK_EXCHANGE_HTTPS":                  "EX03=127.0.0.1:1443,ex04=127.0.0.1:2443",
		"EXRUNBOOK_AUTODISCOVER_MIN_WAIT":           "90m",
		"EXRUNBOOK_AUTODISCOVER_PROBE_BLOCKED_USER": "carol@contoso.com",
		"EXRUNBOOK_MAILBOXES_BATCH_SIZE":            "250",
		"EXRUNBOOK_MAPI_HTTP_ENABLE":                "false",
		"EXRUNBOOK_INTERNAL_DNS_ADDRESSES":          "192.0.2.26,192.0.2.27",
		"EXRUNBOOK_CERTIFICATE_REQUEST_KEY_SIZE":    "4096",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	got := []any{cfg.PublicDNS.TSIG.Name, cfg.Exchange.Endpoint, cfg.Exchange.Servers, cfg.Exchange.HTTPS,
		cfg.Autodiscover.MinWait.D(), cfg.Autodiscover.Probe.BlockedUser, cfg.Mailboxes.BatchSize, cfg.MapiHTTP.Enable,
		cfg.InternalDNS.Addresses, cfg.Certificate.Request.KeySize}
	want := []any{"other-key.", "https://ex02.contoso.com/PowerShell/", []string{"EX03", "EX04"},
		map[string]string{"EX03": "127.0.0.1:1443", "ex04": "127.0.0.1:2443"}, 90 * time.Minute, "carol@contoso.com", 250, false,
		[]string{"192.0.2.26", "192.0.2.27"}, 4096}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("override %d: got %#v, want %#v", i, got[i], want[i])
		}
	}
}

// Every key, however deeply nested, is bound to its environment variable.
func TestEveryKeyBoundToEnv(t *testing.T) {
	clearEnv(t)
	t.Chdir(t.TempDir())
	loadKeys() // keyList is filled on first use; this test may run first
	for _, k := range keyList {
		var val string
		switch k.Kind {
		case kindString, kindList:
			val = "v-" + strings.ReplaceAll(k.Path, ".", "-")
		case kindBool:
			val = "true"
		case kindInt:
			val = "4242"
		case kindDuration:
			val = "42s"
		case kindMap:
			val = "EX09=127.0.0.1:9"
		}
		t.Setenv(EnvName(k.Path), val)
	}
	cfg, _, _ := decode(LoadOptions{})
	cv := reflect.ValueOf(cfg).Elem()
	for _, k := range keyList {
		f := cv.FieldByIndex(k.Index).Interface()
		ok := false
		switch k.Kind {
		case kindString:
			ok = f == "v-"+strings.ReplaceAll(k.Path, ".", "-")
		case kindList:
			ok = reflect.DeepEqual(f, []string{"v-" + strings.ReplaceAll(k.Path, ".", "-")})
		case kindBool:
			ok = f == true
		case kindInt:
			ok = f == 4242
		case kindDuration:
			ok = f == Duration(42*time.Second)
		case kindMap:
			ok = reflect.DeepEqual(f, map[string]string{"EX09": "127.0.0.1:9"})
		}
		if !ok {
			t.Errorf("%s: %s did not set it (got %#v)", k.Path, EnvName(k.Path), f)
		}
	}
	if len(keyList) < 35 {
		t.Errorf("only %d keys found", len(keyList))
	}
}

func TestFlagOverridesEnvAndFile(t *testing.T) {
	_, path := fixture(t)
	t.Setenv("EXRUNBOOK_MAILBOXES_MAX_CHANGES", "7")
	cfg, err := Load(LoadOptions{File: path, Set: map[string]string{"mailboxes.max_changes": "9"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mailboxes.MaxChanges != 9 {
		t.Errorf("max_changes = %d, want the flag's 9", cfg.Mailboxes.MaxChanges)
	}
	_, err = Load(LoadOptions{File: path, Set: map[string]string{"mailboxes.max_change": "9"}})
	if err == nil || !strings.Contains(err.Error(), "mailboxes.max_changes") {
		t.Errorf("unknown flag key: %v", err)
	}
}

func TestSecretsFromEnvAndFiles(t *testing.T) {
	_, path := fixture(t)
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() (string, error){
		secretExchange: cfg.Secrets(nil).ExchangePassword, secretTSIG: cfg.Secrets(nil).TSIGSecret,
		secretPFX: cfg.Secrets(nil).PFXPassword, secretProbe: cfg.Secrets(nil).ProbePassword,
	} {
		got, err := f()
		if err != nil || got != name {
			t.Errorf("from file: got %q, %v; want %q", got, err, name)
		}
	}
	// The environment wins over the file.
	t.Setenv(EnvExchangePassword, "from-env-1")
	t.Setenv(EnvTSIGSecret, "ZW52LXRzaWc=")
	t.Setenv(EnvPFXPassword, "from-env-3")
	t.Setenv(EnvProbePassword, "from-env-4")
	cfg, err = Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	for want, f := range map[string]func() (string, error){
		"from-env-1": cfg.Secrets(nil).ExchangePassword, "ZW52LXRzaWc=": cfg.Secrets(nil).TSIGSecret,
		"from-env-3": cfg.Secrets(nil).PFXPassword, "from-env-4": cfg.Secrets(nil).ProbePassword,
	} {
		got, err := f()
		if err != nil || got != want {
			t.Errorf("from env: got %q, %v; want %q", got, err, want)
		}
	}
}

func TestSecretMissingAndPrompter(t *testing.T) {
	_, path := fixture(t)
	t.Setenv("EXRUNBOOK_EXCHANGE_PASSWORD_FILE", "")
	data, _ := os.ReadFile(path)
	writeFile(t, path, strings.Replace(string(data), "  password_file:", "  # password_file:", 1))
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Secrets(nil).ExchangePassword()
	if !errors.Is(err, ErrNoSecret) || !strings.Contains(err.Error(), EnvExchangePassword) || !strings.Contains(err.Error(), "exchange.password_file") {
		t.Errorf("missing secret: %v", err)
	}
	asked := ""
	prompted := cfg.Secrets(func(name string) (string, error) { asked = name; return "typed-secret", nil })
	got, err := prompted.ExchangePassword()
	if err != nil || got != "typed-secret" || asked != "Exchange password" {
		t.Errorf("prompted: %q, %v (asked %q)", got, err, asked)
	}
	// Cached: the prompt is not repeated, with or without a Prompter.
	asked = ""
	if got, _ := prompted.ExchangePassword(); got != "typed-secret" || asked != "" {
		t.Errorf("second call prompted again (%q) or lost the value (%q)", asked, got)
	}
	if got, _ := cfg.Secrets(nil).ExchangePassword(); got != "typed-secret" || asked != "" {
		t.Errorf("a call without a Prompter prompted (%q) or lost the value (%q)", asked, got)
	}
}

func TestSecretFileModeRefused(t *testing.T) {
	dir, path := fixture(t)
	sec := filepath.Join(dir, "exchange.password")
	if err := os.Chmod(sec, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(LoadOptions{File: path})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"exchange.password_file", sec, "0644", "chmod 600 " + sec} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, secretExchange) {
		t.Errorf("error reveals the secret: %s", msg)
	}
	// ReadSecretFile refuses too (a mode changed after Load).
	if _, err := ReadSecretFile("exchange.password_file", sec); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ReadSecretFile on 0644: %v", err)
	}
	if err := os.Chmod(sec, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile("k", sec); err == nil {
		t.Error("ReadSecretFile accepted a group-readable file")
	}
}

func TestSecretsInYAMLRefused(t *testing.T) {
	cases := []struct{ yaml, key, where string }{
		{"exchange:\n  password: hunter2-secret\n", "exchange.password", "EXRUNBOOK_EXCHANGE_PASSWORD"},
		{"public_dns:\n  tsig:\n    secret: hunter2-secret\n", "public_dns.tsig.secret", "EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET"},
		{"certificate:\n  pfx_password: hunter2-secret\n", "certificate.pfx_password", "EXRUNBOOK_CERTIFICATE_PFX_PASSWORD"},
		{"autodiscover:\n  probe:\n    password: hunter2-secret\n", "autodiscover.probe.password", "EXRUNBOOK_PROBE_PASSWORD"},
		{"mailboxes:\n  api_token: hunter2-secret\n", "mailboxes.api_token", "*_file"},
	}
	for _, c := range cases {
		t.Run(c.key, func(t *testing.T) {
			clearEnv(t)
			path := filepath.Join(t.TempDir(), "c.yaml")
			writeFile(t, path, c.yaml)
			_, err := Load(LoadOptions{File: path})
			if err == nil {
				t.Fatal("accepted a secret in the YAML")
			}
			msg := err.Error()
			for _, want := range []string{c.key, c.where, path + ":"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error lacks %q: %s", want, msg)
				}
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error reveals the secret: %s", msg)
			}
		})
	}
}

// No secret value appears in any error, String(), JSON or fmt output.
func TestSecretValuesNeverPrinted(t *testing.T) {
	_, path := fixture(t)
	t.Setenv(EnvProbePassword, "env-probe-secret-55")
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, f := range []func() (string, error){cfg.Secrets(nil).ExchangePassword, cfg.Secrets(nil).TSIGSecret, cfg.Secrets(nil).PFXPassword, cfg.Secrets(nil).ProbePassword} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
	j, _ := json.Marshal(cfg)
	outs = append(outs, cfg.String(), string(j), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), fmt.Sprintf("%+v", *cfg))
	s := NewSecret(secretExchange)
	sj, _ := json.Marshal(struct{ S Secret }{s})
	st, _ := s.MarshalText()
	outs = append(outs, fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s), string(sj), string(st), s.String(), s.GoString())
	if s.Reveal() != secretExchange {
		t.Error("Reveal lost the value")
	}
	// Errors: a bad TSIG secret, a bad config with secret files present.
	t.Setenv(EnvTSIGSecret, "not base64 !!! "+secretTSIG)
	cfg2, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg2.Secrets(nil).TSIGSecret(); err == nil {
		t.Error("bad base64 TSIG secret accepted")
	} else {
		outs = append(outs, err.Error())
	}
	for _, o := range outs {
		for _, sec := range []string{secretExchange, secretTSIG, secretPFX, secretProbe, "env-probe-secret-55"} {
			if strings.Contains(o, sec) {
				t.Errorf("output reveals secret %q: %s", sec, o)
			}
		}
	}
}

func TestHash(t *testing.T) {
	dir, path := fixture(t)
	a, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	// Same settings in another order, by another route, give the same hash.
	reordered := filepath.Join(dir, "b.yaml")
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	// Move the mailboxes line (second to last) to the top.
	body := lines[len(lines)-2] + strings.Join(lines[:len(lines)-2], "") + lines[len(lines)-1]
	writeFile(t, reordered, strings.Replace(body, "ttl: 2", "ttl: 2 # seconds", 1))
	b, err := Load(LoadOptions{File: reordered})
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash() != b.Hash() || len(a.Hash()) != 64 {
		t.Errorf("hash differs for equal settings: %s vs %s", a.Hash(), b.Hash())
	}
	// Secret values do not change the hash; a setting does.
	t.Setenv(EnvExchangePassword, "another password")
	c, _ := Load(LoadOptions{File: path})
	if c.Hash() != a.Hash() {
		t.Error("a secret value changed the hash")
	}
	t.Setenv("EXRUNBOOK_PUBLIC_DNS_TTL", "3")
	d, _ := Load(LoadOptions{File: path})
	if d.Hash() == a.Hash() {
		t.Error("a changed ttl kept the hash")
	}
}

func TestMissingDefaultFileIsNoted(t *testing.T) {
	clearEnv(t)
	t.Chdir(t.TempDir())
	_, err := Load(LoadOptions{})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %v", err)
	}
	if !strings.Contains(err.Error(), "no config file exrunbook.yaml") || !strings.Contains(err.Error(), "exchange.endpoint: missing") {
		t.Errorf("error: %s", err)
	}
	if ce.NoFile != DefaultFile {
		t.Errorf("NoFile = %q, want %q", ce.NoFile, DefaultFile)
	}
	_, err = Load(LoadOptions{File: "nope.yaml"})
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "nope.yaml") || ce.NoFile != "" {
		t.Errorf("explicit missing file: %v", err)
	}
}

// A config made entirely of environment variables is valid.
func TestLoadFromEnvironmentOnly(t *testing.T) {
	clearEnv(t)
	t.Chdir(t.TempDir())
	for k, v := range map[string]string{
		"EXRUNBOOK_EXCHANGE_ENDPOINT":      "https://ex01.contoso.com/PowerShell/",
		"EXRUNBOOK_EXCHANGE_USER":          "CONTOSO\\admin",
		"EXRUNBOOK_EXCHANGE_AUTH":          "ntlm",
		"EXRUNBOOK_NAMESPACE_INTERNAL":     "outlook.contoso.com",
		"EXRUNBOOK_NAMESPACE_EXTERNAL":     "outlook-ext.contoso.com",
		"EXRUNBOOK_NAMESPACE_AUTODISCOVER": "autodiscover.contoso.com",
		"EXRUNBOOK_CERTIFICATE_MODE":       "thumbprint",
		"EXRUNBOOK_CERTIFICATE_THUMBPRINT": "5113AE0233A72FCCB75E1D6D2D9B2E2A5A7F3C9D",
		"EXRUNBOOK_PUBLIC_DNS_MODE":        "manual",
		"EXRUNBOOK_PUBLIC_DNS_ZONE":        "contoso.com.",
		"EXRUNBOOK_PUBLIC_DNS_PUBLIC_IP":   "203.0.113.10",
		"EXRUNBOOK_MAILBOXES_ALLOW_GROUP":  "AllowExternalAccess",
	} {
		t.Setenv(k, v)
	}
	cfg, err := Load(LoadOptions{})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.File != "" || cfg.Certificate.Mode != "thumbprint" || cfg.PublicDNS.Mode != "manual" {
		t.Errorf("cfg = %+v", cfg)
	}
}

func TestUnknownKeySuggestions(t *testing.T) {
	cases := map[string]string{
		"public_dns.publicip":  "public_dns.public_ip",
		"exchange.endpiont":    "exchange.endpoint",
		"exchange.zone":        "public_dns.zone",
		"mailboxes.allowgroup": "mailboxes.allow_group",
		"namespaces":           "namespace",
		"autodiscover.minwait": "autodiscover.min_wait",
		"public_dns.tsig.algo": "public_dns.tsig.algorithm",
	}
	for unknown, want := range cases {
		if got := nearestKey(unknown); got != want {
			t.Errorf("nearestKey(%q) = %q, want %q", unknown, got, want)
		}
	}
}

func TestNeededAndMissingSecrets(t *testing.T) {
	_, path := fixture(t)
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	names := func(list []SecretInfo) []string {
		var out []string
		for _, s := range list {
			out = append(out, s.Name)
		}
		return out
	}
	if got := names(cfg.NeededSecrets()); !reflect.DeepEqual(got, []string{"Exchange password", "TSIG secret", "PFX password", "Autodiscover probe password"}) {
		t.Errorf("needed = %v", got)
	}
	if got := cfg.MissingSecrets(); len(got) != 0 {
		t.Errorf("missing with every file set = %v", got)
	}
	cfg.Exchange.PasswordFile = ""
	cfg.Autodiscover.Probe.PasswordFile = ""
	t.Setenv(EnvProbePassword, "p")
	want := []SecretInfo{{Name: "Exchange password", Env: EnvExchangePassword, FileKey: "exchange.password_file"}}
	if got := cfg.MissingSecrets(); !reflect.DeepEqual(got, want) {
		t.Errorf("missing = %+v", got)
	}
	// The Prompter is asked by the same name.
	prompter := func(name string) (string, error) {
		if name != want[0].Name {
			return "", fmt.Errorf("asked for %q", name)
		}
		return "typed", nil
	}
	if got, err := cfg.Secrets(prompter).ExchangePassword(); err != nil || got != "typed" {
		t.Errorf("prompted: %q %v", got, err)
	}
	// Kerberos with neither a password file nor the variable: the ticket
	// cache signs in, and no password is needed.
	cfg.Exchange.Auth, cfg.Exchange.PasswordFile, cfg.PublicDNS.Mode, cfg.Certificate.Mode = "kerberos", "", "manual", "thumbprint"
	cfg.Autodiscover.Probe = Probe{}
	t.Setenv(EnvExchangePassword, "")
	if got := cfg.NeededSecrets(); len(got) != 0 {
		t.Errorf("needed with kerberos from the ticket cache, manual DNS, thumbprint, no probe = %v", got)
	}
}

// Relative *_file paths in the config file are relative to its directory.
func TestRelativeFilesResolvedAgainstConfigDir(t *testing.T) {
	dir, path := fixture(t)
	data, _ := os.ReadFile(path)
	body := strings.ReplaceAll(string(data), dir+"/", "")
	writeFile(t, path, body)
	t.Chdir(t.TempDir()) // elsewhere: the files are not in the working directory
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Certificate.PFXFile != filepath.Join(dir, "new.pfx") || cfg.Exchange.PasswordFile != filepath.Join(dir, "exchange.password") {
		t.Errorf("pfx_file = %q, password_file = %q", cfg.Certificate.PFXFile, cfg.Exchange.PasswordFile)
	}
	if got, err := cfg.Secrets(nil).ExchangePassword(); err != nil || got != secretExchange {
		t.Errorf("password from the resolved file: %q %v", got, err)
	}
	// From the environment, a relative path is relative to the working directory.
	t.Setenv("EXRUNBOOK_CERTIFICATE_PFX_FILE", "new.pfx")
	_, err = Load(LoadOptions{File: path})
	if err == nil || !strings.Contains(err.Error(), `certificate.pfx_file: "new.pfx": no such file`) {
		t.Errorf("env relative path: %v", err)
	}
}
