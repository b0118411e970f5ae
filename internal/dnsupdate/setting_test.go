package dnsupdate

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A client of another configuration block names that block's keys and
// variables in its errors; errors.Is still sees the cause.
func TestSettingRenamesMessages(t *testing.T) {
	for _, tc := range []struct {
		setting string
		tsig    TSIG
		want    string
	}{
		{"", TSIG{Name: "k.", Secret: ""}, "the secret of TSIG key 'k.' is empty: set EXRUNBOOK_PUBLIC_DNS_TSIG_SECRET or public_dns.tsig.secret_file"},
		{"certificate.acme.challenge_dns", TSIG{Name: "k.", Secret: ""}, "the secret of TSIG key 'k.' is empty: set EXRUNBOOK_CERTIFICATE_ACME_CHALLENGE_DNS_TSIG_SECRET or certificate.acme.challenge_dns.tsig.secret_file"},
		{"certificate.acme.challenge_dns", TSIG{Name: "k.", Algorithm: "hmac-md5", Secret: "c2VjcmV0"}, "(certificate.acme.challenge_dns.tsig.algorithm)"},
	} {
		c := &Client{Server: "127.0.0.1:1", Zone: "acme.fabrikam.test.", TSIG: tc.tsig, Setting: tc.setting}
		err := c.Update(context.Background(), Update{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.setting, err, tc.want)
		}
	}
	c := &Client{Server: "127.0.0.1:1", Zone: "acme.fabrikam.test.", Setting: "certificate.acme.challenge_dns"}
	if err := c.Update(context.Background(), Update{}); !errors.Is(err, ErrNoTSIG) {
		t.Errorf("without a key: %v, want ErrNoTSIG", err)
	}
}
