package acme

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestParseDirectoryRenewalInfo(t *testing.T) {
	for _, tc := range []struct {
		name, body, want, err string
	}{
		{"ari", `{"newOrder":"https://ca/new","renewalInfo":"https://ca/ari"}`, "https://ca/ari", ""},
		{"no ari", `{"newOrder":"https://ca/new"}`, "", ""},
		{"null", `{"renewalInfo":null}`, "", ""},
		{"number", `{"renewalInfo":5}`, "", "not a string"},
		{"http", `{"renewalInfo":"http://ca/ari"}`, "", "not an https URL"},
		{"relative", `{"renewalInfo":"/ari"}`, "", "not an https URL"},
		{"array", `[1,2]`, "", "not a JSON object"},
		{"garbage", `<html>`, "", "not a JSON object"},
		{"empty", ``, "", "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDirectoryRenewalInfo([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestParseRenewalInfo(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		start, end string
		expl       string
		err        string
	}{
		{"window", `{"suggestedWindow":{"start":"2027-01-01T00:00:00Z","end":"2027-01-03T00:00:00Z"}}`, "2027-01-01T00:00:00Z", "2027-01-03T00:00:00Z", "", ""},
		{"explanation", `{"suggestedWindow":{"start":"2027-01-01T00:00:00Z","end":"2027-01-03T00:00:00+02:00"},"explanationURL":"https://ca/why"}`, "2027-01-01T00:00:00Z", "2027-01-02T22:00:00Z", "https://ca/why", ""},
		{"bad explanation dropped", `{"suggestedWindow":{"start":"2027-01-01T00:00:00Z","end":"2027-01-03T00:00:00Z"},"explanationURL":"javascript:x"}`, "2027-01-01T00:00:00Z", "2027-01-03T00:00:00Z", "", ""},
		{"reversed", `{"suggestedWindow":{"start":"2027-01-03T00:00:00Z","end":"2027-01-01T00:00:00Z"}}`, "", "", "", "ends"},
		{"equal", `{"suggestedWindow":{"start":"2027-01-01T00:00:00Z","end":"2027-01-01T00:00:00Z"}}`, "", "", "", "ends"},
		{"no window", `{}`, "", "", "", "no suggestedWindow"},
		{"no end", `{"suggestedWindow":{"start":"2027-01-01T00:00:00Z"}}`, "", "", "", "no suggestedWindow"},
		{"bad time", `{"suggestedWindow":{"start":"tomorrow","end":"2027-01-01T00:00:00Z"}}`, "", "", "", "not an RFC 3339 time"},
		{"wrong type", `{"suggestedWindow":"soon"}`, "", "", "", "not the expected JSON"},
		{"garbage", `renew now!`, "", "", "", "not the expected JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ri, err := ParseRenewalInfo([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ri.Start.UTC().Format(time.RFC3339); got != tc.start {
				t.Errorf("start %s, want %s", got, tc.start)
			}
			if got := ri.End.UTC().Format(time.RFC3339); got != tc.end {
				t.Errorf("end %s, want %s", got, tc.end)
			}
			if ri.ExplanationURL != tc.expl {
				t.Errorf("explanation %q, want %q", ri.ExplanationURL, tc.expl)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"21600": 6 * time.Hour, " 60 ": time.Minute, "": 0, "-5": 0, "soon": 0, "99999999999": 0,
		"Fri, 01 Jan 2027 01:00:00 GMT": time.Hour, "Thu, 31 Dec 2026 23:00:00 GMT": 0,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCertID(t *testing.T) {
	// RFC 9773 appendix A's example: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
	// serial 00:87:65:43:21.
	aki := []byte{0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3, 0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4}
	c := &x509.Certificate{AuthorityKeyId: aki, SerialNumber: big.NewInt(0x87654321)}
	got, err := CertID(c)
	if err != nil || got != "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE" {
		t.Fatalf("CertID = %q, %v", got, err)
	}
	if _, err := CertID(&x509.Certificate{SerialNumber: big.NewInt(1)}); err == nil {
		t.Error("no AKI accepted")
	}
	if _, err := CertID(&x509.Certificate{AuthorityKeyId: aki, SerialNumber: big.NewInt(0)}); err == nil {
		t.Error("zero serial accepted")
	}
}

func TestProblemDetail(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"urn:ietf:params:acme:error:unauthorized","detail":"Correct value not found"}`: "unauthorized: Correct value not found",
		`<html>oops</html>`:      "<html>oops</html>",
		strings.Repeat("x", 300): strings.Repeat("x", 200) + "…",
	} {
		if got := ProblemDetail([]byte(in)); got != want {
			t.Errorf("ProblemDetail(%.20q) = %q, want %q", in, got, want)
		}
	}
}

func TestChallengeFQDNAndValue(t *testing.T) {
	for in, want := range map[string]string{
		"outlook.contoso.com": "_acme-challenge.outlook.contoso.com.", "*.contoso.com": "_acme-challenge.contoso.com.",
		"Outlook.Contoso.COM.": "_acme-challenge.outlook.contoso.com.",
	} {
		if got := ChallengeFQDN(in); got != want {
			t.Errorf("ChallengeFQDN(%q) = %q, want %q", in, got, want)
		}
	}
	for v, ok := range map[string]bool{"ti232U_jUxsD7Uhr4sI1Jh_Z0HN2RzoUP6_fxMK6nDs": true, "": false, `a" b`: false, "a;b": false, strings.Repeat("a", 256): false} {
		if err := checkValue(v); (err == nil) != ok {
			t.Errorf("checkValue(%.20q) = %v", v, err)
		}
	}
}

// selfChain makes a root → leaf chain for ParseChain.
func selfChain(t *testing.T, names []string, notAfter time.Time) (leafKey *rsa.PrivateKey, der [][]byte) {
	t.Helper()
	rootKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	root := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: notAfter.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ = x509.ParseCertificate(rootDER)
	leafKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return leafKey, [][]byte{leafDER, rootDER}
}

func TestParseChain(t *testing.T) {
	names := []string{"outlook-ext.contoso.test", "outlook.contoso.test"}
	key, der := selfChain(t, names, time.Now().Add(90*24*time.Hour))
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	if chain, err := ParseChain(der, key, names, now); err != nil || len(chain) != 2 {
		t.Fatalf("good chain: %v", err)
	}
	for _, tc := range []struct {
		name  string
		der   [][]byte
		key   *rsa.PrivateKey
		names []string
		now   time.Time
		err   string
	}{
		{"empty", nil, key, names, now, "no certificate"},
		{"garbage", [][]byte{[]byte("nope")}, key, names, now, "certificate 1 of the chain"},
		{"other key", der, other, names, now, "does not certify the key"},
		{"name missing", der, key, append(names, "autodiscover.contoso.test"), now, "does not cover autodiscover.contoso.test"},
		{"expired", der, key, names, now.Add(100 * 24 * time.Hour), "not now"},
		{"reversed", [][]byte{der[0], der[0]}, key, names, now, "is not signed by"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseChain(tc.der, tc.key, tc.names, tc.now)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

func FuzzParseRenewalInfo(f *testing.F) {
	f.Add([]byte(`{"suggestedWindow":{"start":"2027-01-01T00:00:00Z","end":"2027-01-03T00:00:00Z"},"explanationURL":"https://x"}`))
	f.Add([]byte(`{"suggestedWindow":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ri, err := ParseRenewalInfo(b)
		if err == nil && !ri.End.After(ri.Start) {
			t.Fatalf("accepted a window that does not end after it starts: %+v", ri)
		}
	})
}

func FuzzParseDirectoryRenewalInfo(f *testing.F) {
	f.Add([]byte(`{"renewalInfo":"https://ca/ari"}`))
	f.Add([]byte(`{"renewalInfo":"http://ca/ari"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseDirectoryRenewalInfo(b)
		if err == nil && u != "" && !strings.HasPrefix(u, "https://") {
			t.Fatalf("accepted %q", u)
		}
	})
}

func FuzzParseChain(f *testing.F) {
	f.Add([]byte("nope"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseChain([][]byte{b}, nil, []string{"a.test"}, time.Now()); err == nil {
			// Random bytes are no certificate for a.test valid now.
			t.Fatalf("accepted %x", b)
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Fri, 01 Jan 2027 01:00:00 GMT")
	f.Fuzz(func(t *testing.T, s string) {
		if d := ParseRetryAfter(s, time.Now()); d < 0 {
			t.Fatalf("negative %s", d)
		}
	})
}

func TestParseDirectory(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       DirectoryInfo
		err        string
	}{
		{"pebble", `{"newOrder":"https://ca/order-plz","renewalInfo":"https://ca/ari","meta":{"externalAccountRequired":true,"termsOfService":"data:text/plain,Do what thou wilt"}}`,
			DirectoryInfo{NewOrder: "https://ca/order-plz", RenewalInfo: "https://ca/ari", EABRequired: true, TermsOfService: "data:text/plain,Do what thou wilt"}, ""},
		{"minimal", `{"newOrder":"https://ca/new"}`, DirectoryInfo{NewOrder: "https://ca/new"}, ""},
		{"no newOrder", `{"newNonce":"https://ca/nonce"}`, DirectoryInfo{}, "has no newOrder"},
		{"http newOrder", `{"newOrder":"http://ca/new"}`, DirectoryInfo{}, "not an https URL"},
		{"eab not bool", `{"newOrder":"https://ca/new","meta":{"externalAccountRequired":"yes"}}`, DirectoryInfo{}, "not an ACME directory"},
		{"bad ari", `{"newOrder":"https://ca/new","renewalInfo":"ftp://x"}`, DirectoryInfo{}, "not an https URL"},
		{"html", `<html>login</html>`, DirectoryInfo{}, "not an ACME directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDirectory([]byte(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseDirectory(f *testing.F) {
	f.Add([]byte(`{"newOrder":"https://ca/new","renewalInfo":"https://ca/ari","meta":{"externalAccountRequired":true}}`))
	f.Add([]byte(`{"newOrder":5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDirectory(b)
		if err == nil && !strings.HasPrefix(d.NewOrder, "https://") {
			t.Fatalf("accepted newOrder %q", d.NewOrder)
		}
	})
}
