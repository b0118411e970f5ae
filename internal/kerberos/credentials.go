package kerberos

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Source is where a client's credentials come from.
type Source int

// The credential sources, in the order NewCredentials prefers them.
const (
	SourcePassword Source = iota + 1
	SourceKeytab
	SourceCCache
)

func (s Source) String() string {
	switch s {
	case SourcePassword:
		return "password"
	case SourceKeytab:
		return "keytab"
	case SourceCCache:
		return "ticket cache"
	}
	return "unknown"
}

// DefaultKrb5Conf is krb5.conf's place when neither a path nor KRB5_CONFIG
// is given.
const DefaultKrb5Conf = "/etc/krb5.conf"

// Config says where a client's Kerberos credentials come from. With a
// Password, the client logs in with it; else with a KeytabFile; else it
// uses the ticket cache (CCacheFile, else KRB5CCNAME, else krb5.conf's
// default_ccache_name, else /tmp/krb5cc_<uid>) that kinit filled.
type Config struct {
	// User is the client principal: "alice", "alice@LAB.TEST" or
	// "LAB\alice" (the NetBIOS domain is then replaced by the realm).
	// Optional with a ticket cache (the cache names its principal).
	User string
	// Realm overrides the realm (default: User's @REALM, else krb5.conf's
	// default_realm).
	Realm string
	// Password is the user's password. Never logged.
	Password string
	// KeytabFile holds the user's keys.
	KeytabFile string
	// CCacheFile is the ticket cache (FILE: caches only).
	CCacheFile string
	// Krb5ConfFile is krb5.conf (default KRB5_CONFIG, else /etc/krb5.conf).
	Krb5ConfFile string
}

// Credentials is a logged-in Kerberos client: it holds the TGT and caches
// service tickets, and makes one Initiator per connection. Close it when
// done.
type Credentials struct {
	cl        *client.Client
	source    Source
	principal string
}

// Source is where the credentials came from.
func (c *Credentials) Source() Source { return c.source }

// Principal is the client principal, "user@REALM".
func (c *Credentials) Principal() string { return c.principal }

// Close forgets the tickets and stops the TGT renewal.
func (c *Credentials) Close() { c.cl.Destroy() }

// LoadKrb5Conf reads krb5.conf from path, else from KRB5_CONFIG's first
// existing file, else from /etc/krb5.conf.
func LoadKrb5Conf(path string) (*config.Config, string, error) {
	if path == "" {
		for _, p := range filepath.SplitList(os.Getenv("KRB5_CONFIG")) {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		path = DefaultKrb5Conf
	}
	cfg, err := config.Load(path)
	if err != nil {
		var ud config.UnsupportedDirective
		if !errors.As(err, &ud) {
			return nil, path, newError(KindConfig, "read krb5.conf "+path, KeyKrb5Conf, "", 0, err)
		}
	}
	return cfg, path, nil
}

// NewCredentials loads krb5.conf and the credentials cfg names, and logs
// in (an AS exchange with the KDC) for a password or a keytab; for a ticket
// cache it checks that the cache holds an unexpired TGT.
func NewCredentials(cfg Config) (*Credentials, error) {
	kc, kpath, err := LoadKrb5Conf(cfg.Krb5ConfFile)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.Password != "":
		user, realm, err := splitUser(cfg.User, cfg.Realm, kc, kpath)
		if err != nil {
			return nil, err
		}
		cl := client.NewWithPassword(user, realm, cfg.Password, kc, client.DisablePAFXFAST(true))
		return login(cl, SourcePassword, user+"@"+realm)
	case cfg.KeytabFile != "":
		user, realm, err := splitUser(cfg.User, cfg.Realm, kc, kpath)
		if err != nil {
			return nil, err
		}
		kt, err := keytab.Load(cfg.KeytabFile)
		if err != nil {
			return nil, newError(KindConfig, "read keytab "+cfg.KeytabFile, KeyKeytab, "", 0, err)
		}
		cl := client.NewWithKeytab(user, realm, kt, kc, client.DisablePAFXFAST(true))
		return login(cl, SourceKeytab, user+"@"+realm)
	}
	return fromCCache(cfg, kc, kpath)
}

func login(cl *client.Client, src Source, principal string) (*Credentials, error) {
	if err := cl.Login(); err != nil {
		cl.Destroy()
		return nil, classifyKDC(err, "log in as "+principal+" with a "+src.String(), src, "")
	}
	return &Credentials{cl: cl, source: src, principal: principal}, nil
}

// splitUser turns "alice", "alice@REALM" or "DOMAIN\alice" into a user
// name and a realm.
func splitUser(user, realm string, kc *config.Config, kpath string) (string, string, error) {
	if user == "" {
		return "", "", newError(KindConfig, "log in", KeyUser, "a user name is needed with a password or a keytab", 0, nil)
	}
	name := user
	if i := strings.LastIndex(name, `\`); i >= 0 {
		name = name[i+1:]
	}
	if i := strings.LastIndex(name, "@"); i >= 0 {
		if realm == "" {
			realm = name[i+1:]
		}
		name = name[:i]
	}
	if realm == "" {
		realm = kc.LibDefaults.DefaultRealm
	}
	if realm == "" && strings.Contains(user, `\`) {
		realm = strings.ToUpper(user[:strings.LastIndex(user, `\`)])
	}
	if name == "" || realm == "" {
		return "", "", newError(KindConfig, "log in as "+user, KeyUser,
			"no realm: write the user as user@REALM, or set default_realm in "+kpath, 0, nil)
	}
	return name, strings.ToUpper(realm), nil
}

// CCachePath is the ticket cache the client uses when configured with
// none: KRB5CCNAME, else krb5.conf's default_ccache_name, else
// /tmp/krb5cc_<uid>. Only FILE: caches can be read.
func CCachePath(krb5ConfPath string) (string, error) {
	name := os.Getenv("KRB5CCNAME")
	if name == "" && krb5ConfPath != "" {
		name = defaultCCacheName(krb5ConfPath)
	}
	if name == "" {
		name = "/tmp/krb5cc_" + strconv.Itoa(os.Getuid())
	}
	typ, rest, ok := strings.Cut(name, ":")
	if ok && !strings.Contains(typ, "/") {
		if !strings.EqualFold(typ, "FILE") {
			return "", newError(KindConfig, "find the ticket cache", KeyCCache,
				fmt.Sprintf("the ticket cache %q is of type %s; only FILE: caches can be read (set KRB5CCNAME=FILE:/path and run kinit)", name, typ), 0, nil)
		}
		name = rest
	}
	return expandCCacheName(name), nil
}

// defaultCCacheName reads [libdefaults] default_ccache_name from krb5.conf
// (gokrb5's parser ignores it).
func defaultCCacheName(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = strings.Trim(line, "[] ")
			continue
		}
		if section != "libdefaults" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == "default_ccache_name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// expandCCacheName expands the %{uid}, %{euid} and %{TEMP} tokens MIT
// allows in default_ccache_name.
func expandCCacheName(s string) string {
	r := strings.NewReplacer(
		"%{uid}", strconv.Itoa(os.Getuid()),
		"%{euid}", strconv.Itoa(os.Geteuid()),
		"%{TEMP}", os.TempDir(),
	)
	return r.Replace(s)
}

func fromCCache(cfg Config, kc *config.Config, kpath string) (*Credentials, error) {
	path := cfg.CCacheFile
	if path == "" {
		p, err := CCachePath(kpath)
		if err != nil {
			return nil, err
		}
		path = p
	} else {
		path = strings.TrimPrefix(path, "FILE:")
	}
	op := "use the ticket cache " + path
	cc, err := credentials.LoadCCache(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, newError(KindNoTicket, op, KeyCCache,
				"there is no ticket cache and no password or keytab is configured: run kinit, or set "+KeyPassword+" or "+KeyKeytab, 0, err)
		}
		return nil, newError(KindConfig, op, KeyCCache, "the ticket cache cannot be read", 0, err)
	}
	principal := strings.Join(cc.DefaultPrincipal.PrincipalName.NameString, "/") + "@" + cc.DefaultPrincipal.Realm
	if cfg.User != "" {
		want, wantRealm, err := splitUser(cfg.User, cfg.Realm, kc, kpath)
		if err == nil && !strings.EqualFold(want+"@"+wantRealm, principal) {
			return nil, newError(KindConfig, op, KeyUser,
				fmt.Sprintf("the ticket cache holds tickets for %s, not %s: run kinit %s@%s", principal, cfg.User, want, wantRealm), 0, nil)
		}
	}
	tgtName := types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", cc.DefaultPrincipal.Realm}}
	tgt, ok := cc.GetEntry(tgtName)
	if !ok {
		return nil, newError(KindNoTicket, op, KeyCCache, "the ticket cache holds no TGT for "+principal+": run kinit", 0, nil)
	}
	if now := time.Now(); !tgt.EndTime.After(now) {
		return nil, newError(KindNoTicket, op, KeyCCache,
			fmt.Sprintf("the TGT of %s expired at %s: run kinit", principal, tgt.EndTime.UTC().Format(time.RFC3339)), 0, nil)
	}
	cl, err := client.NewFromCCache(cc, kc, client.DisablePAFXFAST(true))
	if err != nil {
		return nil, newError(KindConfig, op, KeyCCache, "", 0, err)
	}
	return &Credentials{cl: cl, source: SourceCCache, principal: principal}, nil
}
