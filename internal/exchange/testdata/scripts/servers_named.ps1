$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$servers = foreach ($n in @('EX01', 'EX02')) { Get-ExchangeServer -Identity $n }
$r = foreach ($s in $servers) {
    [pscustomobject]@{
        Name = [string]$s.Name
        Fqdn = [string]$s.Fqdn
        Guid = $s.Guid.ToString()
        AdminDisplayVersion = [string]$s.AdminDisplayVersion
        ServerRole = [string]$s.ServerRole
    }
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
