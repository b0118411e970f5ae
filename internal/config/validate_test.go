package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each case edits the valid fixture and expects one problem naming the key
// (with the file line where it is written) and saying what is expected.
func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name      string
		from, to  string // replacement in validYAML ("" from: append to)
		key, want string
		line      int // 0: do not check
	}{
		{"endpoint not a url", "https://ex01.contoso.com/PowerShell/", "ex01.contoso.com", "exchange.endpoint", "http:// or https:// URL", 2},
		{"endpoint ftp", "https://ex01.contoso.com/PowerShell/", "ftp://ex01/PowerShell/", "exchange.endpoint", `"ftp://ex01/PowerShell/"`, 2},
		{"endpoint bad port", "ex01.contoso.com/PowerShell/", "ex01.contoso.com:99999/PowerShell/", "exchange.endpoint", "", 2},
		{"endpoint is winrm", "https://ex01.contoso.com/PowerShell/", "https://ex01.contoso.com:5986/wsman", "exchange.endpoint", "is the WinRM endpoint, which exrunbook no longer uses (its scripts loaded the Exchange snap-in, which is unsupported and fails in a domain); write Exchange's own endpoint instead: http://ex01.contoso.com/PowerShell/", 2},
		{"endpoint other path", "https://ex01.contoso.com/PowerShell/", "https://ex01.contoso.com/owa", "exchange.endpoint", "expected Exchange's remote PowerShell endpoint /PowerShell/", 2},
		{"auth enum", "auth: ntlm", "auth: digest", "exchange.auth", "expected one of kerberos, ntlm, basic", 3},
		{"basic over http", "https://ex01.contoso.com/PowerShell/\n  auth: ntlm", "http://ex01.contoso.com/PowerShell/\n  auth: basic", "exchange.auth", "would send the password in clear text; use an https:// endpoint", 3},
		{"certificate auth refused", "auth: ntlm", "auth: certificate", "exchange.auth", "expected one of kerberos, ntlm, basic", 3},
		{"concurrency", "auth: ntlm", "auth: ntlm\n  concurrency: 40", "exchange.concurrency", "40; expected 1 to 16 (default 4)", 0},
		{"server name", "[EX01, EX02]", "[EX01, \"EX 02\"]", "exchange.servers[1]", `"EX 02" is not a server name`, 7},
		{"duplicate server", "[EX01, EX02]", "[EX01, ex01]", "exchange.servers[1]", "listed twice", 7},
		{"https host:port", `EX01: "ex01.contoso.com:443"`, `EX01: "ex01.contoso.com"`, "exchange.https.EX01", "not host:port", 8},
		{"https not a map", `https: {EX01: "ex01.contoso.com:443", Ex02: "127.0.0.1:8443"}`, `https: [a]`, "exchange.https", "expected a mapping", 8},
		{"internal is url", "internal: outlook.contoso.com", "internal: https://outlook.contoso.com/owa", "namespace.internal", "expected a hostname such as outlook.contoso.com, not a URL", 9},
		{"external is url", "external: outlook-ext.contoso.com", "external: https://outlook-ext.contoso.com", "namespace.external", "expected a hostname such as outlook-ext.contoso.com, not a URL", 9},
		{"external with port", "external: outlook-ext.contoso.com", "external: outlook-ext.contoso.com:443", "namespace.external", "without a port", 9},
		{"single label", "autodiscover: autodiscover.contoso.com", "autodiscover: autodiscover", "namespace.autodiscover", "fully qualified hostname", 9},
		{"external equals internal", "external: outlook-ext.contoso.com", "external: Outlook.contoso.com", "namespace.external", "same as namespace.internal", 9},
		{"outside zone", "external: outlook-ext.contoso.com", "external: outlook-ext.fabrikam.com", "namespace.external", `not inside public_dns.zone "contoso.com."`, 9},
		{"cert mode", "mode: pfx", "mode: pem", "certificate.mode", "expected one of pfx, thumbprint, request", 10},
		{"pfx needs file", "pfx_file: %[1]s/new.pfx, ", "", "certificate.pfx_file", "certificate.mode: pfx needs the PFX file", 0},
		{"pfx file missing", "%[1]s/new.pfx", "%[1]s/missing.pfx", "certificate.pfx_file", "no such file", 10},
		{"thumbprint mode", "mode: pfx", "mode: thumbprint, thumbprint: 12AB", "certificate.thumbprint", "40 hexadecimal digits", 10},
		{"services enum", "mode: pfx,", "services: [IIS, HTTP], mode: pfx,", "certificate.services[1]", `"HTTP" is not allowed`, 10},
		{"min_wait", "min_wait: 5s", "min_wait: 2 hours", "autodiscover.min_wait", "expected a number with a unit, such as 2h", 11},
		{"min_wait bare number", "min_wait: 5s", "min_wait: 7200", "autodiscover.min_wait", "has no unit", 11},
		{"probe user", "allowed_user: alice@contoso.com", "allowed_user: alice", "autodiscover.probe.allowed_user", "not an e-mail address", 11},
		{"dns mode", "mode: rfc2136", "mode: nsupdate", "public_dns.mode", "expected one of rfc2136, manual", 13},
		{"zone no dot", "zone: contoso.com.", "zone: contoso.com", "public_dns.zone", "trailing dot", 14},
		{"zone bad", "zone: contoso.com.", "zone: conto_so.com.", "public_dns.zone", "not a zone name", 14},
		{"server host:port", "server: ns1.provider.net:53", "server: ns1.provider.net", "public_dns.server", "not host:port", 15},
		{"nameserver port", `nameservers: ["127.0.0.1:5353"]`, `nameservers: ["127.0.0.1:0"]`, "public_dns.nameservers[0]", "port from 1 to 65535", 16},
		{"tsig name", "name: exrunbook-update.", "name: exrunbook-update", "public_dns.tsig.name", "ending in a dot", 17},
		{"tsig algorithm", "algorithm: hmac-sha256", "algorithm: hmac-md5", "public_dns.tsig.algorithm", "hmac-sha256", 17},
		{"public ip", "public_ip: 203.0.113.10", "public_ip: 203.0.113.300", "public_dns.public_ip", `"203.0.113.300" is not an IP address`, 18},
		{"ttl not a number", "ttl: 2", "ttl: two", "public_dns.ttl", `"two" is not a whole number`, 19},
		{"ttl zero", "ttl: 2", "ttl: 0", "public_dns.ttl", "not a positive number", 19},
		{"internal dns server", `server: "192.0.2.53:53"`, `server: "192.0.2.53"`, "internal_dns.server", "not host:port", 20},
		{"internal address", "addresses: [192.0.2.25]", "addresses: [192.0.2.25, mail]", "internal_dns.addresses[1]", `"mail" is not an IP address`, 20},
		{"mapi bool", "enable: true", "enable: maybe", "mapi_http.enable", "expected true or false", 21},
		{"allow group", "allow_group: AllowExternalAccess, ", "", "mailboxes.allow_group", "missing", 0},
		{"batch size", "batch_size: 100", "batch_size: -1", "mailboxes.batch_size", "not a positive number", 22},
		{"recipient type", "batch_size: 100", "batch_size: 100, recipient_types: [UserMailbox, Mailbox]", "mailboxes.recipient_types[1]", `"Mailbox" is not allowed`, 22},
		{"unknown key", "ttl: 2", "ttl: 2\n  publicip: 1.2.3.4", "public_dns.publicip", "did you mean public_dns.public_ip?", 20},
		{"unknown section", "mapi_http: {enable: true}", "mapihttp: {enable: true}", "mapihttp", "did you mean mapi_http?", 21},
		{"section not a map", "mapi_http: {enable: true}", "mapi_http: true", "mapi_http", "expected a mapping with the keys enable", 21},
		{"duplicate key", "ttl: 2", "ttl: 2\n  ttl: 3", "public_dns.ttl", "duplicate key (first set on line 19)", 20},
		{"list for a string", "user: CONTOSO\\admin", "user: [a, b]", "exchange.user", "expected a string, not a list", 4},
		{"password file mode", "", "", "exchange.password_file", "chmod 600", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, path := fixture(t)
			body := fmt.Sprintf(validYAML, dir)
			if c.from != "" {
				from, to := c.from, c.to
				if strings.Contains(from, "%[1]s") {
					from = fmt.Sprintf(from, dir)
				}
				if strings.Contains(to, "%[1]s") {
					to = fmt.Sprintf(to, dir)
				}
				if !strings.Contains(body, from) {
					t.Fatalf("fixture lacks %q", from)
				}
				body = strings.Replace(body, from, to, 1)
			} else if err := os.Chmod(filepath.Join(dir, "exchange.password"), 0o604); err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, body)
			_, err := Load(LoadOptions{File: path})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("want *config.Error, got %v", err)
			}
			var hit *Problem
			for i := range ce.Problems {
				if ce.Problems[i].Key == c.key {
					hit = &ce.Problems[i]
				}
			}
			if hit == nil {
				t.Fatalf("no problem for key %s in:\n%v", c.key, err)
			}
			if !strings.Contains(hit.String(), c.want) {
				t.Errorf("problem %q lacks %q", hit, c.want)
			}
			if c.line > 0 && hit.Source != fmt.Sprintf("%s:%d", path, c.line) {
				t.Errorf("source = %q, want %s:%d", hit.Source, path, c.line)
			}
			if !strings.Contains(err.Error(), c.key+": ") {
				t.Errorf("Error() does not name %s: %v", c.key, err)
			}
		})
	}
}

// All problems are reported at once, not just the first.
func TestAllProblemsCollected(t *testing.T) {
	dir, path := fixture(t)
	body := fmt.Sprintf(validYAML, dir)
	for from, to := range map[string]string{
		"auth: ntlm": "auth: digest", "ttl: 2": "ttl: 0", "public_ip: 203.0.113.10": "public_ip: x",
		"zone: contoso.com.": "zone: contoso.com", "min_wait: 5s": "min_wait: soon",
	} {
		body = strings.Replace(body, from, to, 1)
	}
	writeFile(t, path, body)
	_, err := Load(LoadOptions{File: path})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, p := range ce.Problems {
		keys[p.Key] = true
	}
	for _, k := range []string{"exchange.auth", "public_dns.ttl", "public_dns.public_ip", "public_dns.zone", "autodiscover.min_wait"} {
		if !keys[k] {
			t.Errorf("no problem for %s in %v", k, err)
		}
	}
}

func TestEnvProblemNamesVariable(t *testing.T) {
	_, path := fixture(t)
	t.Setenv("EXRUNBOOK_PUBLIC_DNS_TTL", "soon")
	_, err := Load(LoadOptions{File: path})
	if err == nil || !strings.Contains(err.Error(), "environment variable EXRUNBOOK_PUBLIC_DNS_TTL: public_dns.ttl: \"soon\"") {
		t.Errorf("error: %v", err)
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	clearEnv(t)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, "exchange:\n  endpoint: [unclosed\n")
	_, err := Load(LoadOptions{File: path})
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), path+":") || !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("error: %v", err)
	}
	writeFile(t, path, "- a\n- b\n")
	if _, err := Load(LoadOptions{File: path}); err == nil || !strings.Contains(err.Error(), "mapping of sections") {
		t.Errorf("list document: %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(validYAML, "/nonexistent")))
	f.Add([]byte("exchange: {endpoint: 'http://x', auth: basic}\n"))
	f.Add([]byte("namespace:\n  internal: a\n  internal: b\n"))
	f.Add([]byte("public_dns: {ttl: 1e99, tsig: [1]}\nx: &a [*a]\n"))
	f.Add([]byte("exchange:\n  https: {EX01: {a: b}}\n"))
	f.Add([]byte("\t- :\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(LoadOptions{File: path})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error is not a *config.Error with problems: %v", err)
			}
			return
		}
		if cfg.Validate() != nil {
			t.Fatal("Load accepted a config that Validate rejects")
		}
	})
}

// FuzzEnvValues feeds arbitrary environment values to keys of every kind:
// Load must report a *config.Error or accept a config that validates.
func FuzzEnvValues(f *testing.F) {
	f.Add("EX01=127.0.0.1:443,EX02=h:1", "2h", "300", "true", "IIS, SMTP")
	f.Add("=,,=", "-1s", "1e3", "maybe", ",")
	f.Add("EX01", "5", "99999999999", "", "IIS,,POP")
	f.Fuzz(func(t *testing.T, https, dur, num, boolean, list string) {
		_, path := fixture(t)
		for k, v := range map[string]string{
			"EXRUNBOOK_EXCHANGE_HTTPS":            https,
			"EXRUNBOOK_AUTODISCOVER_MIN_WAIT":     dur,
			"EXRUNBOOK_PUBLIC_DNS_TTL":            num,
			"EXRUNBOOK_MAPI_HTTP_ENABLE":          boolean,
			"EXRUNBOOK_CERTIFICATE_SERVICES":      list,
			"EXRUNBOOK_EXCHANGE_ALLOW_HTTP_BASIC": boolean,
		} {
			if strings.ContainsRune(v, 0) {
				return
			}
			t.Setenv(k, v)
		}
		cfg, err := Load(LoadOptions{File: path})
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("not a *config.Error: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted what Validate rejects: %v", err)
		}
	})
}
