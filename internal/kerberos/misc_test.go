package kerberos

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

func TestChooseScheme(t *testing.T) {
	tests := []struct {
		offers []string
		want   Scheme
		ok     bool
	}{
		{[]string{"Negotiate", "Kerberos"}, SchemeNegotiate, true},
		{[]string{"Kerberos"}, SchemeKerberos, true},
		{[]string{"Basic realm=\"x\", kerberos"}, SchemeKerberos, true},
		{[]string{"NEGOTIATE"}, SchemeNegotiate, true},
		{[]string{"Basic realm=\"WSMAN\"", "NTLM"}, "", false},
		{nil, "", false},
	}
	for _, tt := range tests {
		got, ok := ChooseScheme(tt.offers)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ChooseScheme(%q) = %q, %v; want %q, %v", tt.offers, got, ok, tt.want, tt.ok)
		}
	}
	if SchemeKerberos.Protocol() != ProtocolKerberos || SchemeNegotiate.Protocol() != ProtocolSPNEGO {
		t.Fatal("Scheme.Protocol")
	}
}

func TestTokenFromHeader(t *testing.T) {
	tests := []struct {
		values      []string
		scheme      Scheme
		token       string
		found, fail bool
	}{
		{[]string{"Negotiate aGVsbG8="}, SchemeNegotiate, "hello", true, false},
		{[]string{"Basic x", "negotiate aGVsbG8="}, SchemeNegotiate, "hello", true, false},
		{[]string{"Kerberos aGVsbG8=, Negotiate"}, SchemeNegotiate, "", true, false},
		{[]string{"Kerberos aGVsbG8=, Negotiate"}, SchemeKerberos, "hello", true, false},
		{[]string{"Negotiate"}, SchemeKerberos, "", false, false},
		{[]string{"Negotiate !!!"}, SchemeNegotiate, "", true, true},
		{[]string{"Negotiate " + strings.Repeat("A", maxHeaderToken+4)}, SchemeNegotiate, "", true, true},
	}
	for _, tt := range tests {
		tok, found, err := TokenFromHeader(tt.values, tt.scheme)
		if string(tok) != tt.token || found != tt.found || (err != nil) != tt.fail {
			t.Errorf("TokenFromHeader(%.40q, %s) = %q, %v, %v", tt.values, tt.scheme, tok, found, err)
		}
	}
	if got := AuthHeader(SchemeKerberos, []byte("hello")); got != "Kerberos aGVsbG8=" {
		t.Fatalf("AuthHeader = %q", got)
	}
}

func TestSPNForURL(t *testing.T) {
	tests := []struct{ url, want, err string }{
		{"http://Ex01.Contoso.com/PowerShell/", "HTTP/ex01.contoso.com", ""},
		{"http://ex01.contoso.com:8080/wsman", "HTTP/ex01.contoso.com", ""},
		{"http://127.0.0.1:5985/wsman", "", "IP address"},
		{"http://[::1]/wsman", "", "IP address"},
		{"/PowerShell/", "", "has no host"},
	}
	for _, tt := range tests {
		got, err := SPNForURL(tt.url)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && (!strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), KeySPN)) {
			t.Errorf("SPNForURL(%q) = %q, %v", tt.url, got, err)
		}
	}
}

func TestSplitUser(t *testing.T) {
	withRealm := config.New()
	withRealm.LibDefaults.DefaultRealm = "LAB.TEST"
	none := config.New()
	tests := []struct {
		user, realm string
		cfg         *config.Config
		name, want  string
		fail        bool
	}{
		{"alice", "", withRealm, "alice", "LAB.TEST", false},
		{"alice@contoso.test", "", withRealm, "alice", "CONTOSO.TEST", false},
		{`CONTOSO\alice`, "", withRealm, "alice", "LAB.TEST", false},
		{`CONTOSO\alice`, "", none, "alice", "CONTOSO", false},
		{"alice", "other.test", withRealm, "alice", "OTHER.TEST", false},
		{"alice", "", none, "", "", true},
		{"", "", withRealm, "", "", true},
	}
	for _, tt := range tests {
		name, realm, err := splitUser(tt.user, tt.realm, tt.cfg, "/etc/krb5.conf")
		if name != tt.name || realm != tt.want || (err != nil) != tt.fail {
			t.Errorf("splitUser(%q, %q) = %q, %q, %v", tt.user, tt.realm, name, realm, err)
		}
		if err != nil && (KindOf(err) != KindConfig || !strings.Contains(err.Error(), KeyUser)) {
			t.Errorf("splitUser(%q): error %v does not name %s", tt.user, err, KeyUser)
		}
	}
}

func TestCCachePath(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	os.WriteFile(conf, []byte("[libdefaults]\n default_realm = LAB.TEST\n default_ccache_name = FILE:/tmp/cc_%{uid}\n[realms]\n"), 0o644)
	plain := filepath.Join(dir, "plain.conf")
	os.WriteFile(plain, []byte("[libdefaults]\n default_realm = LAB.TEST\n"), 0o644)
	uid := strconv.Itoa(os.Getuid())
	tests := []struct {
		env, conf, want, err string
	}{
		{"FILE:/x/cc", conf, "/x/cc", ""},
		{"/y/cc", conf, "/y/cc", ""},
		{"", conf, "/tmp/cc_" + uid, ""},
		{"", plain, "/tmp/krb5cc_" + uid, ""},
		{"KEYRING:persistent:0", conf, "", "only FILE: caches"},
		{"KCM:", conf, "", "KRB5CCNAME"},
	}
	for _, tt := range tests {
		t.Setenv("KRB5CCNAME", tt.env)
		got, err := CCachePath(tt.conf)
		if got != tt.want || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("KRB5CCNAME=%q: CCachePath = %q, %v", tt.env, got, err)
		}
	}
}

func TestClassifyKDC(t *testing.T) {
	krbErr := func(code int32) error {
		ke := messages.NewKRBError(types.PrincipalName{}, "LAB.TEST", code, "")
		// As gokrb5 returns them: flattened into a Krberror's text.
		return krberror.Errorf(ke, krberror.KDCError, "AS Exchange Error: kerberos error response from KDC")
	}
	tests := []struct {
		name      string
		err       error
		source    Source
		kind      Kind
		transient bool
		key       string
	}{
		{"preauth failed", krbErr(errorcode.KDC_ERR_PREAUTH_FAILED), SourcePassword, KindWrongPassword, false, KeyPassword},
		{"preauth failed, keytab", krbErr(errorcode.KDC_ERR_PREAUTH_FAILED), SourceKeytab, KindWrongPassword, false, KeyKeytab},
		{"AS-REP does not decrypt", errors.New("[Root cause: Decrypting_Error] AS_REP is not valid or client password/keytab incorrect"), SourcePassword, KindWrongPassword, false, KeyPassword},
		{"unknown client", krbErr(errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN), SourcePassword, KindUnknownUser, false, KeyUser},
		{"password expired", krbErr(errorcode.KDC_ERR_KEY_EXPIRED), SourcePassword, KindUnknownUser, false, KeyPassword},
		{"revoked", krbErr(errorcode.KDC_ERR_CLIENT_REVOKED), SourcePassword, KindUnknownUser, false, KeyUser},
		{"unknown server", krbErr(errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN), SourceCCache, KindUnknownSPN, false, KeySPN},
		{"skew", krbErr(errorcode.KRB_AP_ERR_SKEW), SourcePassword, KindClockSkew, false, KeyClock},
		{"TGT expired", krbErr(errorcode.KRB_AP_ERR_TKT_EXPIRED), SourceCCache, KindNoTicket, false, KeyCCache},
		{"no common enctype", krbErr(errorcode.KDC_ERR_ETYPE_NOSUPP), SourcePassword, KindConfig, false, KeyKrb5Conf},
		{"other KDC error", krbErr(errorcode.KDC_ERR_BADOPTION), SourcePassword, KindKDC, false, KeyKrb5Conf},
		{"unreachable", errors.New("[Root cause: Networking_Error] AS Exchange Error: failed sending AS_REQ to KDC: failed to communicate with KDC"), SourcePassword, KindKDCUnreachable, true, KeyKrb5Conf},
		{"no KDC configured", errors.New("[Root cause: Configuration_Error] no KDC defined in configuration for realm LAB.TEST"), SourcePassword, KindConfig, false, KeyKrb5Conf},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classifyKDC(tt.err, "log in as alice@LAB.TEST", tt.source, "HTTP/ex01")
			var e *Error
			if !errors.As(err, &e) || e.Kind != tt.kind || e.Key != tt.key || errkind.IsTransient(err) != tt.transient {
				t.Fatalf("classifyKDC = %#v (transient %v)", err, errkind.IsTransient(err))
			}
			if !strings.Contains(err.Error(), tt.err.Error()) {
				t.Fatalf("the KDC's error is lost: %v", err)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	err := newError(KindUnknownSPN, "get a service ticket for HTTP/ex01", KeySPN, "register it", 7, errors.New("KDC says no"))
	want := "kerberos: get a service ticket for HTTP/ex01: unknown service principal: register it (check exchange.kerberos.spn): KDC says no"
	if err.Error() != want {
		t.Fatalf("got  %q\nwant %q", err.Error(), want)
	}
}
