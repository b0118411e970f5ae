package pwsh

import (
	"testing"
	"time"
)

// TestExchangeStyleScript runs a script written the way internal/exchange's
// scripts are against fake objects with the awkward property types.
func TestExchangeStyleScript(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	internal, _ := NewUri("https://Mail.Contoso.Test/owa")
	err := h.Register(CmdletDef{
		Name:           "Get-OwaVirtualDirectory",
		RequiresSnapin: ExchangeSnapin,
		Params:         []ParamDef{{Name: "Server", Type: TString}},
		Process: func(c *Call) error {
			for i, srv := range []string{"EX01", "EX02"} {
				var ext *Uri
				if i == 0 {
					ext, _ = NewUri("https://outlook.contoso.test/owa/")
				}
				o := NewObject("Microsoft.Exchange.Data.Directory.SystemConfiguration.ADOwaVirtualDirectory",
					"Server", srv, "Identity", srv+`\owa (Default Web Site)`, "InternalUrl", internal, "ExternalUrl", ext,
					"InternalAuthenticationMethods", NewArray(&Flags{Type: "AuthenticationMethod", Names: []string{"Basic"}, Value: 1}, &Flags{Type: "AuthenticationMethod", Names: []string{"Fba"}, Value: 4}),
					"ExternalAuthenticationMethods", NewArray(),
					"WhenChanged", time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC))
				if ext == nil {
					o.Set("ExternalUrl", nil)
				}
				if err := c.WriteObject(o); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	script := `$ErrorActionPreference = 'Stop'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = foreach ($v in Get-OwaVirtualDirectory) {
    [pscustomobject]@{
        Server = [string]$v.Server
        Identity = [string]$v.Identity
        InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null })
        ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null })
        InternalAuth = @($v.InternalAuthenticationMethods | ForEach-Object { [string]$_ })
        ExternalAuth = @($v.ExternalAuthenticationMethods | ForEach-Object { [string]$_ })
        WhenChanged = $v.WhenChanged.ToUniversalTime().ToString('o')
    }
}
ConvertTo-Json -InputObject @($r) -Depth 4 -Compress
`
	r := run(h, script, "")
	want := `[{"Server":"EX01","Identity":"EX01\\owa (Default Web Site)","InternalUrl":"https://mail.contoso.test/owa","ExternalUrl":"https://outlook.contoso.test/owa/","InternalAuth":["Basic","Fba"],"ExternalAuth":[],"WhenChanged":"2026-01-02T03:04:05.6000000Z"},` +
		`{"Server":"EX02","Identity":"EX02\\owa (Default Web Site)","InternalUrl":"https://mail.contoso.test/owa","ExternalUrl":null,"InternalAuth":["Basic","Fba"],"ExternalAuth":[],"WhenChanged":"2026-01-02T03:04:05.6000000Z"}]`
	if norm(r.out) != want || r.code != 0 || r.err != "" {
		t.Errorf("code %d\n got: %s\nwant: %s\nerr: %s", r.code, r.out, want, clixmlText(r.err, "Error"))
	}
	// Without the snap-in the same script fails the way Exchange's does.
	r = run(h, "$ErrorActionPreference = 'Stop'\nGet-OwaVirtualDirectory | ConvertTo-Json", "")
	if r.code != 1 || r.out != "" || clixmlText(r.err, "Error") == "" {
		t.Errorf("no snap-in: code %d out %q", r.code, r.out)
	}
}
