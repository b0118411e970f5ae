package lab

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/exrunbook/exrunbook/internal/lab/generate"

	"github.com/exrunbook/exrunbook/internal/lab/atomicfile"
)

// q quotes a string as a YAML double-quoted scalar, escaping the
// backslash, the quote and every character YAML does not allow raw
// (controls, DEL, C1, the BOM, non-characters, line separators).
func q(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r >= 0x7f && r <= 0x9f || r == 0xFEFF || r == 0x2028 || r == 0x2029 || r >= 0xFFFE && r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Config renders DIR/exrunbook.yaml: a ready, commented exrunbook config
// for this lab, every secret in a 0600 file.
func (l *Lab) Config() []byte {
	ep := l.ep
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	var servers []string
	for s := range ep.Servers {
		servers = append(servers, s)
	}
	sort.Strings(servers)
	w("# exrunbook configuration for the lab in %s.\n", l.dir)
	w("# Written by `exlab serve` on every start (the ports can change); edit a copy.\n")
	w("# Secrets are not in this file: each *_file below is a mode-0600 file.\n\n")
	w("exchange:\n")
	w("  # The Exchange remote PowerShell endpoint (MS-PSRP, configuration Microsoft.Exchange)\n")
	if k := ep.Kerberos; k != nil {
		// Kerberos: the ticket cache signs in (kinit as a lab user of
		// the realm first); the endpoint is an address, so the SPN is
		// named.
		w("  # of EX01 over http, every message sealed by Kerberos; over https it is %s.\n", ep.PowerShell.HTTPS)
		w("  endpoint: %s\n", q(ep.PowerShell.HTTP))
		w("  auth: kerberos          # kerberos | ntlm | basic (https only)\n")
		w("  concurrency: 4          # pipelines at once in the session\n")
		w("  # No user and no password: the ticket cache (KRB5CCNAME, else the default)\n")
		w("  # signs in; first: KRB5_CONFIG=%s kinit administrator@%s\n", k.Krb5Conf, k.Realm)
		w("  kerberos:\n")
		w("    realm: %s\n", q(k.Realm))
		w("    krb5_conf_file: %s\n", q(k.Krb5Conf))
		w("    spn: %s   # the endpoint is an address: the SPN of the service keytab\n", q(k.SPN))
	} else {
		w("  # of EX01 over http, every message sealed by NTLM; over https it is %s.\n", ep.PowerShell.HTTPS)
		w("  endpoint: %s\n", q(ep.PowerShell.HTTP))
		w("  auth: ntlm              # kerberos | ntlm | basic (https only)\n")
		w("  concurrency: 4          # pipelines at once in the session\n")
		w("  user: %s\n", q(ep.Admin.User))
		w("  password_file: %s\n", q(ep.Admin.PasswordFile))
	}
	w("  ca_file: %s\n", q(ep.CAFile))
	w("  servers: []             # empty: every server from Get-ExchangeServer\n")
	w("  https:                  # where TLS checks connect, per server (SNI is the name under test)\n")
	for _, s := range servers {
		w("    %s: %s\n", s, q(ep.Servers[s].HTTPS))
	}
	w("  smtp:                   # where the SMTP STARTTLS checks connect, per server\n")
	for _, s := range servers {
		w("    %s: %s\n", s, q(ep.Servers[s].SMTP))
	}
	w("\nnamespace:\n")
	w("  internal: %s\n", q(ep.Names.Internal))
	w("  external: %s\n", q(ep.Names.External))
	w("  autodiscover: %s\n", q(ep.Names.Autodiscover))
	w("\ncertificate:\n")
	w("  # pfx: import the lab's ready certificate (SANs: internal, external, autodiscover).\n")
	w("  # request: New-ExchangeCertificate -GenerateRequest; answer the CSR with\n")
	w("  #   exlab sign-csr --dir %s CSRFILE > cert.cer   (or POST %s/ca/sign)\n", l.dir, ep.Control)
	w("  # then: exrunbook certificate complete cert.cer\n")
	w("  mode: pfx\n")
	w("  pfx_file: %s\n", q(ep.PFX.File))
	w("  pfx_password_file: %s\n", q(ep.PFX.PasswordFile))
	w("  thumbprint: \"\"\n")
	w("  services: [IIS, SMTP]\n")
	w("  pop_imap: false\n")
	w("\nautodiscover:\n")
	w("  min_wait: 5s            # the lab shortens the 2h production wait\n")
	w("  probe:\n")
	w("    allowed_user: %s\n", q(ep.Probe.Allowed))
	w("    blocked_user: %s\n", q(ep.Probe.Blocked))
	w("    password_file: %s\n", q(ep.Probe.PasswordFile))
	w("\npublic_dns:\n")
	w("  mode: rfc2136\n")
	w("  zone: %s\n", q(ep.DNS.Zone))
	w("  server: %s   # the lab's public authoritative server\n", q(ep.DNS.Public))
	w("  nameservers: [%s]\n", q(ep.DNS.Public))
	w("  tsig:\n")
	w("    name: %s\n", q(ep.DNS.TSIG.Name))
	w("    algorithm: %s\n", q(ep.DNS.TSIG.Algorithm))
	w("    secret_file: %s\n", q(ep.DNS.TSIG.SecretFile))
	w("  public_ip: %s\n", q(generate.PublicVIP))
	w("  ttl: %d                  # the lab's public records have a 2 s TTL\n", generate.PublicTTL)
	w("\ninternal_dns:\n")
	w("  server: %s\n", q(ep.DNS.Internal))
	w("  addresses: [%s]\n", q(generate.InternalVIP))
	w("\nmapi_http:\n")
	w("  enable: false\n")
	w("\nmailboxes:\n")
	w("  allow_group: %s\n", q(ep.AllowGroup))
	w("  recipient_types: [UserMailbox]\n")
	w("  batch_size: 500\n")
	w("  max_changes: 50\n")
	return []byte(b.String())
}

// writeFiles writes DIR/exrunbook.yaml and then, last, DIR/endpoints.json:
// its presence means every listener is up.
func (l *Lab) writeFiles() error {
	if err := atomicfile.Write(filepath.Join(l.dir, FileConfig), l.Config(), 0o644); err != nil {
		return err
	}
	b, err := json.MarshalIndent(l.ep, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(l.dir, FileEndpoints), append(b, '\n'), 0o644)
}
