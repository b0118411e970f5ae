$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = New-Object System.Collections.Generic.List[object]
$vd = @(
    [pscustomobject]@{ K = 'owa'; G = '0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e'; U = 'https://outlook-ext.contoso.test/owa' }
    [pscustomobject]@{ K = 'mapi'; G = '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d'; U = $null }
)
$oa = @(
    [pscustomobject]@{ G = '11111111-2222-4333-8444-555555555555'; H = 'outlook-ext.contoso.test'; S = $true; A = 'Negotiate' }
)
foreach ($i in $vd) {
    try {
        $c = $false
        $g = $i.G
        $want = $i.U
        if ($i.K -eq 'owa') { $v = Get-OwaVirtualDirectory -Identity $g -ADPropertiesOnly }
        elseif ($i.K -eq 'ecp') { $v = Get-EcpVirtualDirectory -Identity $g -ADPropertiesOnly }
        elseif ($i.K -eq 'mapi') { $v = Get-MapiVirtualDirectory -Identity $g }
        elseif ($i.K -eq 'ews') { $v = Get-WebServicesVirtualDirectory -Identity $g -ADPropertiesOnly }
        elseif ($i.K -eq 'activesync') { $v = Get-ActiveSyncVirtualDirectory -Identity $g -ADPropertiesOnly }
        elseif ($i.K -eq 'oab') { $v = Get-OabVirtualDirectory -Identity $g -ADPropertiesOnly }
        else { throw ('unknown kind ' + $i.K) }
        $cur = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null })
        if ($null -eq $want) { $c = $null -ne $cur } elseif ($null -eq $cur) { $c = $true } else { $c = $cur -ne $want }
        if ($c) {
            if ($i.K -eq 'owa') { Set-OwaVirtualDirectory -Identity $g -ExternalUrl $want }
            elseif ($i.K -eq 'ecp') { Set-EcpVirtualDirectory -Identity $g -ExternalUrl $want }
            elseif ($i.K -eq 'mapi') { Set-MapiVirtualDirectory -Identity $g -ExternalUrl $want -IISAuthenticationMethods $v.IISAuthenticationMethods }
            elseif ($i.K -eq 'ews') { Set-WebServicesVirtualDirectory -Identity $g -ExternalUrl $want }
            elseif ($i.K -eq 'activesync') { Set-ActiveSyncVirtualDirectory -Identity $g -ExternalUrl $want }
            elseif ($i.K -eq 'oab') { Set-OabVirtualDirectory -Identity $g -ExternalUrl $want }
        }
        $r.Add([pscustomobject]@{ Id = $g; Changed = $c; Ok = $true; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Id = $i.G; Changed = $false; Ok = $false; Error = $_.Exception.Message })
    }
}
foreach ($i in $oa) {
    try {
        $c = $false
        $g = $i.G
        $want = $i.H
        $o = Get-OutlookAnywhere -Identity $g -ADPropertiesOnly
        $cur = $(if ($null -ne $o.ExternalHostname) { [string]$o.ExternalHostname } else { $null })
        if ($null -eq $want) { $c = $null -ne $cur } elseif ($null -eq $cur) { $c = $true } else { $c = $cur -ne $want }
        if (-not $c) { $c = [bool]$o.ExternalClientsRequireSsl -ne $i.S }
        if ($c) {
            if ($i.A) { Set-OutlookAnywhere -Identity $g -ExternalHostname $want -ExternalClientsRequireSsl $i.S -ExternalClientAuthenticationMethod $i.A }
            else { Set-OutlookAnywhere -Identity $g -ExternalHostname $want -ExternalClientsRequireSsl $i.S }
        }
        $r.Add([pscustomobject]@{ Id = $g; Changed = $c; Ok = $true; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Id = $i.G; Changed = $false; Ok = $false; Error = $_.Exception.Message })
    }
}
