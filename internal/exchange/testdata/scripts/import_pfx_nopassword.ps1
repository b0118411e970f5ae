$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$data = [Convert]::FromBase64String('UEZY')
$r = foreach ($srv in @('EX01')) {
    try {
        $c = Import-ExchangeCertificate -Server $srv -FileData $data
        [pscustomobject]@{ Server = $srv; Ok = $true; Thumbprint = [string]$c.Thumbprint; Error = $null }
    } catch {
        [pscustomobject]@{ Server = $srv; Ok = $false; Thumbprint = $null; Error = $_.Exception.Message }
    }
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
