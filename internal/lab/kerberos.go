package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exrunbook/exrunbook/internal/kerberos"
	"github.com/exrunbook/exrunbook/internal/lab/atomicfile"
)

// FileKrb5Conf is the copy of the realm's krb5.conf in DIR, which
// endpoints.json names for clients.
const FileKrb5Conf = "krb5.conf"

// KerberosEndpoint is the "kerberos" key of endpoints.json: what a client
// needs to log in to /PowerShell/ with Kerberos.
type KerberosEndpoint struct {
	Realm    string `json:"realm"`
	Krb5Conf string `json:"krb5_conf"`
	SPN      string `json:"spn"`
}

// startKerberos loads the service keytab (Options.KerberosKeytab) into
// the acceptor every /PowerShell/ listener shares, copies krb5.conf into
// DIR, and says which SPN clients ask tickets for: HTTP/<first
// server>.<domain> when the keytab holds it, else the keytab's first HTTP
// service. The realm is that principal's.
func (l *Lab) startKerberos(servers []string, domain string) (*kerberos.Acceptor, *KerberosEndpoint, error) {
	o := l.opts
	if o.KerberosKeytab == "" && o.Krb5Conf == "" {
		return nil, nil, nil
	}
	if o.KerberosKeytab == "" || o.Krb5Conf == "" {
		return nil, nil, errors.New("lab: Kerberos needs both the service keytab (--kerberos-keytab) and the realm's krb5.conf (--krb5-conf)")
	}
	kt, err := keytab.Load(o.KerberosKeytab)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: the service keytab --kerberos-keytab %s: %w", o.KerberosKeytab, err)
	}
	want := ""
	if len(servers) > 0 {
		want = "http/" + strings.ToLower(servers[0]) + "." + strings.ToLower(domain)
	}
	var spn, realm string
	for _, e := range kt.Entries {
		name := strings.Join(e.Principal.Components, "/")
		if len(e.Principal.Components) != 2 || !strings.EqualFold(e.Principal.Components[0], "HTTP") {
			continue
		}
		if spn == "" || strings.EqualFold(name, want) {
			spn, realm = name, e.Principal.Realm
		}
	}
	if spn == "" {
		return nil, nil, fmt.Errorf("lab: the service keytab --kerberos-keytab %s holds no HTTP/<host> key", o.KerberosKeytab)
	}
	acc, err := kerberos.NewAcceptor(kerberos.AcceptorConfig{Keytab: kt, MaxClockSkew: o.KerberosMaxClockSkew})
	if err != nil {
		return nil, nil, fmt.Errorf("lab: %w", err)
	}
	text, err := os.ReadFile(o.Krb5Conf)
	if err != nil {
		return nil, nil, fmt.Errorf("lab: --krb5-conf: %w", err)
	}
	if _, _, err := kerberos.LoadKrb5Conf(o.Krb5Conf); err != nil {
		return nil, nil, fmt.Errorf("lab: --krb5-conf: %w", err)
	}
	path := filepath.Join(l.dir, FileKrb5Conf)
	if err := atomicfile.Write(path, text, 0o644); err != nil {
		return nil, nil, err
	}
	return acc, &KerberosEndpoint{Realm: realm, Krb5Conf: path, SPN: spn}, nil
}
