package exchange

import (
	"strings"
	"testing"
)

func TestFilterEval(t *testing.T) {
	props := map[string]any{
		"Name": "O'Brien", "Alias": "hostile0", "RecipientTypeDetails": "UserMailbox", "OWAEnabled": true,
		"EmailAddresses": []string{"SMTP:a@contoso.test", "smtp:b@contoso.test"}, "Database": "",
	}
	get := func(p string) (any, bool) { v, ok := props[p]; return v, ok }
	cases := []struct {
		f    string
		want bool
	}{
		{`Alias -eq 'hostile0'`, true},
		{`alias -eq "HOSTILE0"`, true},
		{`Alias -ne 'hostile0'`, false},
		{`Name -eq 'O''Brien'`, true},
		{"Name -eq ‘O''Brien’", true},
		{`Alias -like 'host*'`, true},
		{`Alias -notlike '*0'`, false},
		{`OWAEnabled -eq $true`, true},
		{`OWAEnabled -eq $false`, false},
		{`OWAEnabled -eq 'True'`, true},
		{`Database -eq $null`, true},
		{`EmailAddresses -eq 'smtp:b@contoso.test'`, true},
		{`EmailAddresses -like '*@fabrikam.test'`, false},
		{`{Alias -eq 'x' -or (RecipientTypeDetails -eq 'UserMailbox' -and -not (OWAEnabled -eq $false))}`, true},
		{`Alias -eq 'x' -or Alias -eq 'y'`, false},
		{`!(Alias -eq 'x')`, true},
	}
	allowed, list := propSet("Name", "Alias", "RecipientTypeDetails", "OWAEnabled", "EmailAddresses", "Database")
	for _, c := range cases {
		n, err := parseFilter(c.f, allowed, list)
		if err != nil {
			t.Errorf("%s: %v", c.f, err)
			continue
		}
		if got := n.eval(get); got != c.want {
			t.Errorf("%s = %v, want %v", c.f, got, c.want)
		}
	}
}

func TestFilterErrors(t *testing.T) {
	_, err := parseFilter(`MAPIBlockOutlookRpcHttp -eq $true`, casFilterable, casFilterableList)
	if err == nil || !strings.HasPrefix(err.Error(), `Cannot bind parameter 'Filter' to the target. Exception setting "Filter": ""MAPIBlockOutlookRpcHttp" is not a recognized filterable property. Valid property names are: `) {
		t.Errorf("unfilterable: %v", err)
	}
	for _, f := range []string{`Alias -eq`, `Alias 'x'`, `(Alias -eq 'x'`, `Alias -eq 'x`, `Alias -gt 'x'`, `Alias -eq 'x' Name`, `Alias -eq $foo`} {
		if _, err := parseFilter(f, recipientFilterable, recipientFilterableList); err == nil || !strings.Contains(err.Error(), "Invalid filter syntax") {
			t.Errorf("%q: %v", f, err)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`Alias -eq 'x'`, `{Name -like "a*" -and -not (Alias -eq $null)}`, "Name -eq ‘x’’y’", `((`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseFilter(s, recipientFilterable, recipientFilterableList)
		if err == nil {
			n.eval(func(string) (any, bool) { return "v", true })
		}
	})
}

func TestWildcardMatch(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{{"*", "", true}, {"a*c", "abc", true}, {"a*c", "abd", false}, {"*@contoso.test", "X@CONTOSO.TEST", true}, {"a", "ab", false}} {
		if got := wildcardMatch(c.p, c.s); got != c.want {
			t.Errorf("%q %q = %v", c.p, c.s, got)
		}
	}
}

func FuzzParseX500(f *testing.F) {
	for _, s := range []string{"CN=outlook.contoso.test, O=Contoso, C=US", "CN=a;OU=b", `CN=O\, Brien`, "X=1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseX500(s)
		if err == nil && n.CommonName == "" && len(n.Organization) == 0 {
			t.Fatalf("%q parsed to an empty name", s)
		}
	})
}

func FuzzParseCertificates(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("PFX bytes\x00\xff"))
	f.Add([]byte{0x30, 0x82, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range parseCertificates(b) {
			if c == nil || len(c.Raw) == 0 {
				t.Fatal("nil certificate")
			}
		}
	})
}

func TestParseX500(t *testing.T) {
	n, err := parseX500("CN=outlook-ext.contoso.test, O=Contoso; C=US")
	if err != nil || n.CommonName != "outlook-ext.contoso.test" || n.Organization[0] != "Contoso" || n.Country[0] != "US" {
		t.Fatalf("%+v %v", n, err)
	}
	if _, err := parseX500("DC=x"); err == nil {
		t.Fatal("DC accepted")
	}
}

func TestLdapFilter(t *testing.T) {
	for _, c := range []struct{ opath, ldap string }{
		{"((Department -eq 'Field') -and (CustomAttribute1 -eq 'External'))", "(&(department=Field)(extensionAttribute1=External))"},
		{"Alias -like 'sales*' -or Name -ne 'x(1)'", "(|(mailNickname=sales*)(!(name=x\\281\\29)))"},
		{"-not (Department -eq $null)", "(!(!(department=*)))"},
		{"Department -ne $null", "(department=*)"},
		{"HiddenFromAddressListsEnabled -eq $true", "(hiddenFromAddressListsEnabled=TRUE)"},
		{"Name -eq 'a*b'", "(name=a\\2ab)"},
		{"Name -eq", ""},
	} {
		if got := ldapFilter(c.opath); got != c.ldap {
			t.Errorf("%s → %q, want %q", c.opath, got, c.ldap)
		}
	}
}
