$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = foreach ($srv in @('EX01')) {
    foreach ($o in Get-OutlookAnywhere -Server $srv -ADPropertiesOnly) {
        [pscustomobject]@{
            Server = $srv
            Identity = [string]$o.Identity
            Guid = $o.Guid.ToString()
            ExternalHostname = $(if ($null -ne $o.ExternalHostname) { [string]$o.ExternalHostname } else { $null })
            InternalHostname = $(if ($null -ne $o.InternalHostname) { [string]$o.InternalHostname } else { $null })
            ExternalClientsRequireSsl = [bool]$o.ExternalClientsRequireSsl
            ExternalClientAuthenticationMethod = [string]$o.ExternalClientAuthenticationMethod
        }
    }
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
