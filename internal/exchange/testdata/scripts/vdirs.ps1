$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = New-Object System.Collections.Generic.List[object]
foreach ($srv in @('EX01', 'EX02')) {
    foreach ($v in Get-OwaVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'owa'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-EcpVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'ecp'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-MapiVirtualDirectory -Server $srv) {
        $r.Add([pscustomobject]@{ Kind = 'mapi'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @($v.IISAuthenticationMethods | ForEach-Object { [string]$_ }) })
    }
    foreach ($v in Get-WebServicesVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'ews'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-ActiveSyncVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'activesync'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-OabVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'oab'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-AutodiscoverVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'autodiscover'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-PowerShellVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'powershell'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
