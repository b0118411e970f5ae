$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
Set-OrganizationConfig -MapiHttpEnabled $true
$o = Get-OrganizationConfig
$r = [pscustomobject]@{ MapiHttpEnabled = [bool]$o.MapiHttpEnabled }
ConvertTo-Json -InputObject $r -Depth 2 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
