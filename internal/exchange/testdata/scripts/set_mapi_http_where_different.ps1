$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$o = Get-OrganizationConfig
$before = [bool]$o.MapiHttpEnabled
$changed = $false
if ($before -ne $true) {
    Set-OrganizationConfig -MapiHttpEnabled $true
    $changed = $true
}
$o2 = Get-OrganizationConfig
$r = [pscustomobject]@{ Before = $before; Changed = $changed; After = [bool]$o2.MapiHttpEnabled }
