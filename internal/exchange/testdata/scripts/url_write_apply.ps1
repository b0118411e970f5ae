$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = New-Object System.Collections.Generic.List[object]
try {
    $c = $false
    $v = Get-OwaVirtualDirectory -Identity '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e' -ADPropertiesOnly
    $cur = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null })
    $want = 'https://outlook-ext.contoso.test/owa'
    if ($null -eq $want) { $c = $null -ne $cur } elseif ($null -eq $cur) { $c = $true } else { $c = $cur -ne $want }
    if ($c) { Set-OwaVirtualDirectory -Identity '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e' -ExternalUrl 'https://outlook-ext.contoso.test/owa' }
    $r.Add([pscustomobject]@{ Id = '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e'; Changed = $c; Ok = $true; Error = $null })
} catch {
    $r.Add([pscustomobject]@{ Id = '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e'; Changed = $false; Ok = $false; Error = $_.Exception.Message })
}
try {
    $c = $false
    $v = Get-MapiVirtualDirectory -Identity '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'
    $cur = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null })
    $want = $null
    if ($null -eq $want) { $c = $null -ne $cur } elseif ($null -eq $cur) { $c = $true } else { $c = $cur -ne $want }
    if ($c) { Set-MapiVirtualDirectory -Identity '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d' -ExternalUrl $null -IISAuthenticationMethods $v.IISAuthenticationMethods }
    $r.Add([pscustomobject]@{ Id = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'; Changed = $c; Ok = $true; Error = $null })
} catch {
    $r.Add([pscustomobject]@{ Id = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'; Changed = $false; Ok = $false; Error = $_.Exception.Message })
}
try {
    $c = $false
    $o = Get-OutlookAnywhere -Identity '11111111-2222-4333-8444-555555555555' -ADPropertiesOnly
    $cur = $(if ($null -ne $o.ExternalHostname) { [string]$o.ExternalHostname } else { $null })
    $want = 'outlook-ext.contoso.test'
    if ($null -eq $want) { $c = $null -ne $cur } elseif ($null -eq $cur) { $c = $true } else { $c = $cur -ne $want }
    if (-not $c) { $c = [bool]$o.ExternalClientsRequireSsl -ne $true }
    if ($c) { Set-OutlookAnywhere -Identity '11111111-2222-4333-8444-555555555555' -ExternalHostname 'outlook-ext.contoso.test' -ExternalClientsRequireSsl $true -ExternalClientAuthenticationMethod 'Negotiate' }
    $r.Add([pscustomobject]@{ Id = '11111111-2222-4333-8444-555555555555'; Changed = $c; Ok = $true; Error = $null })
} catch {
    $r.Add([pscustomobject]@{ Id = '11111111-2222-4333-8444-555555555555'; Changed = $false; Ok = $false; Error = $_.Exception.Message })
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress
