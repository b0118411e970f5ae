$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$cas = foreach ($n in @('EX01')) { Get-ClientAccessService -Identity $n }
$r = foreach ($s in $cas) {
    [pscustomobject]@{
        Name = [string]$s.Name
        AutoDiscoverServiceInternalUri = $(if ($null -ne $s.AutoDiscoverServiceInternalUri) { $s.AutoDiscoverServiceInternalUri.AbsoluteUri } else { $null })
    }
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
