package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// `exrunbook permissions` lists every step's cmdlets, parameters and
// roles, in text and in JSON, without a config.
func TestPermissions(t *testing.T) {
	r := cli(context.Background(), "", false, "permissions")
	if r.code != 0 {
		t.Fatalf("code %d: %s", r.code, r.errout)
	}
	for _, want := range []string{"bind-certificate:", "Enable-ExchangeCertificate", "-DoNotRequireSsl", "[Exchange Server Certificates]",
		"block-mailboxes:", "Set-CASMailbox", "-MAPIBlockOutlookExternalConnectivity", "[Mail Recipients]", "Set-ADServerSettings", "roles: "} {
		if !strings.Contains(r.out, want) {
			t.Errorf("permissions output lacks %q:\n%s", want, r.out)
		}
	}
	r = cli(context.Background(), "", false, "--output", "json", "permissions")
	var rows []permissionJSON
	if err := json.Unmarshal([]byte(r.out), &rows); err != nil || r.code != 0 || len(rows) < 20 {
		t.Fatalf("json: %d rows, %v, code %d", len(rows), err, r.code)
	}
}
