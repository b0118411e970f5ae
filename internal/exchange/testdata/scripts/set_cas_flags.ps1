$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$items = @('0b7c4f0e-1d2a-4c39-9d7e-3f2a1b0c9d8e|1|1', '5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d|0|0')
$r = foreach ($i in $items) {
    $p = $i.Split('|')
    $rpc = $p[1] -eq '1'
    $ext = $p[2] -eq '1'
    try {
        Set-CASMailbox -Identity $p[0] -MAPIBlockOutlookRpcHttp $rpc -MAPIBlockOutlookExternalConnectivity $ext
        [pscustomobject]@{ Id = $p[0]; Ok = $true; Error = $null }
    } catch {
        [pscustomobject]@{ Id = $p[0]; Ok = $false; Error = $_.Exception.Message }
    }
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
