$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = New-Object System.Collections.Generic.List[object]
try {
    Set-OutlookAnywhere -Identity '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e' -ExternalHostname 'outlook-ext.contoso.com' -ExternalClientsRequireSsl $true -ExternalClientAuthenticationMethod 'Negotiate'
    $r.Add([pscustomobject]@{ Id = '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e'; Ok = $true; Error = $null })
} catch {
    $r.Add([pscustomobject]@{ Id = '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e'; Ok = $false; Error = $_.Exception.Message })
}
try {
    Set-OutlookAnywhere -Identity '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d' -ExternalHostname $null -ExternalClientsRequireSsl $false
    $r.Add([pscustomobject]@{ Id = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'; Ok = $true; Error = $null })
} catch {
    $r.Add([pscustomobject]@{ Id = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'; Ok = $false; Error = $_.Exception.Message })
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
