package exchange_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/generate"
)

// TestRunbookDoUndoOnGeneratedOrg drives the lab's generated organisation
// through the migration's changes (certificate, URLs, Outlook Anywhere,
// mailbox blocks) and their rollback with scripts shaped like the
// runbook's, and requires the canonical JSON to come back byte for byte.
func TestRunbookDoUndoOnGeneratedOrg(t *testing.T) {
	root, err := ca.New("Lab CA", now.AddDate(-1, 0, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := generate.Generate(generate.Options{Mailboxes: 60, Allow: 5, Servers: 2, Seed: 7, Now: now, CA: root})
	if err != nil {
		t.Fatal(err)
	}
	l := newLab(t, res.Org)
	initial := l.canonical()
	pfx, err := res.Ready.PFX("pfx-pass")
	if err != nil {
		t.Fatal(err)
	}
	ready, current := res.Ready.Thumbprint(), res.Current.Thumbprint()
	ext := res.External

	// Inventory: every CAS mailbox with its flags, and the allow group
	// expanded on the client (Get-DistributionGroupMember is not recursive).
	out := l.ok(`$r = @(Get-CASMailbox -ResultSize Unlimited | ForEach-Object { [pscustomobject]@{ Guid = $_.Guid.ToString(); Rpc = $_.MAPIBlockOutlookRpcHttp; Ext = $_.MAPIBlockOutlookExternalConnectivity; Name = $_.DisplayName } })
ConvertTo-Json -InputObject $r -Depth 3 -Compress`)
	var inv []struct {
		Guid, Name string
		Rpc, Ext   bool
	}
	if err := json.Unmarshal([]byte(out), &inv); err != nil || len(inv) != 60 {
		t.Fatalf("inventory: %v (%d)", err, len(inv))
	}
	allow := map[string]bool{}
	queue := []string{generate.AllowGroup}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		out := l.ok("ConvertTo-Json -Compress -InputObject @(Get-DistributionGroupMember -Identity " + quote(g) + " -ResultSize Unlimited | ForEach-Object { [pscustomobject]@{ G = $_.Guid.ToString(); T = [string]$_.RecipientTypeDetails } })")
		var ms []struct{ G, T string }
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("members of %s: %v: %s", g, err, out)
		}
		for _, m := range ms {
			if strings.HasPrefix(m.T, "Mail") && strings.HasSuffix(m.T, "Group") {
				queue = append(queue, m.G)
			} else {
				allow[m.G] = true
			}
		}
	}
	if len(allow) < 5 {
		t.Fatalf("allow set: %d", len(allow))
	}

	// Do.
	for _, s := range []string{"EX01", "EX02"} {
		if _, errs, code := l.run(prelude+importScript(pfx, s), "pfx-pass\n"); code != 0 {
			t.Fatalf("import: %s", errs)
		}
		l.ok("Enable-ExchangeCertificate -Server " + s + " -Thumbprint " + ready + " -Services IIS,SMTP -Force")
		for _, v := range []string{"Owa", "Ecp", "WebServices", "ActiveSync", "Oab"} {
			path := map[string]string{"Owa": "owa", "Ecp": "ecp", "WebServices": "EWS/Exchange.asmx", "ActiveSync": "Microsoft-Server-ActiveSync", "Oab": "OAB"}[v]
			l.ok(fmt.Sprintf("Get-%sVirtualDirectory -Server %s -ADPropertiesOnly | Set-%sVirtualDirectory -ExternalUrl 'https://%s/%s' -WarningAction SilentlyContinue", v, s, v, ext, path))
		}
		l.ok(fmt.Sprintf("$m = Get-MapiVirtualDirectory -Server %s; Set-MapiVirtualDirectory -Identity $m.Identity -ExternalUrl 'https://%s/mapi' -IISAuthenticationMethods $m.IISAuthenticationMethods", s, ext))
		l.ok(fmt.Sprintf("Set-OutlookAnywhere -Identity '%s\\Rpc (Default Web Site)' -ExternalHostname %s -ExternalClientsRequireSsl $true", s, ext))
	}
	var batch strings.Builder
	for _, m := range inv {
		if !allow[m.Guid] {
			fmt.Fprintf(&batch, "Set-CASMailbox -Identity '%s' -MAPIBlockOutlookExternalConnectivity $true -MAPIBlockOutlookRpcHttp $true\n", m.Guid)
		}
	}
	l.ok(batch.String())
	if bytes.Equal(initial, l.canonical()) {
		t.Fatal("the changes are not visible")
	}

	// Undo, from the inventory.
	batch.Reset()
	for _, m := range inv {
		fmt.Fprintf(&batch, "Set-CASMailbox -Identity '%s' -MAPIBlockOutlookExternalConnectivity $%t -MAPIBlockOutlookRpcHttp $%t\n", m.Guid, m.Ext, m.Rpc)
	}
	l.ok(batch.String())
	for _, s := range []string{"EX01", "EX02"} {
		l.ok(fmt.Sprintf("Set-OutlookAnywhere -Identity '%s\\Rpc (Default Web Site)' -ExternalHostname %s -ExternalClientsRequireSsl $true", s, res.Internal))
		for _, v := range []string{"Owa", "Ecp", "WebServices", "ActiveSync"} {
			path := map[string]string{"Owa": "owa", "Ecp": "ecp", "WebServices": "EWS/Exchange.asmx", "ActiveSync": "Microsoft-Server-ActiveSync"}[v]
			l.ok(fmt.Sprintf("Set-%sVirtualDirectory -Identity '%s\\%s' -ExternalUrl 'https://%s/%s' -WarningAction SilentlyContinue", v, s, map[string]string{"Owa": "owa", "Ecp": "ecp", "WebServices": "EWS", "ActiveSync": "Microsoft-Server-ActiveSync"}[v]+" (Default Web Site)", res.Internal, path))
		}
		l.ok(fmt.Sprintf("Set-OabVirtualDirectory -Identity '%s\\OAB (Default Web Site)' -ExternalUrl $null", s))
		l.ok(fmt.Sprintf("Set-MapiVirtualDirectory -Identity '%s\\mapi (Default Web Site)' -ExternalUrl 'https://%s/mapi' -IISAuthenticationMethods Ntlm,OAuth,Negotiate", s, res.Internal))
		l.ok("Enable-ExchangeCertificate -Server " + s + " -Thumbprint " + current + " -Services IIS,SMTP -Force")
		l.ok("Remove-ExchangeCertificate -Server " + s + " -Thumbprint " + ready + " -Confirm:$false")
	}
	if after := l.canonical(); !bytes.Equal(initial, after) {
		t.Fatalf("canonical JSON differs after rollback:\n%s", firstDiff(initial, after))
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			lo, hi := max(0, i-5), min(len(al), i+5)
			return strings.Join(al[lo:hi], "\n") + "\n--- after ---\n" + strings.Join(bl[lo:min(len(bl), hi)], "\n")
		}
	}
	return "(after is longer)"
}
