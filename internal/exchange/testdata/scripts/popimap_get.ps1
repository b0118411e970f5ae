$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = foreach ($srv in @('EX01', 'EX02')) {
    $p = Get-PopSettings -Server $srv
    $i = Get-ImapSettings -Server $srv
    [pscustomobject]@{
        Server = $srv
        Pop = $(if ($null -ne $p.X509CertificateName) { [string]$p.X509CertificateName } else { $null })
        Imap = $(if ($null -ne $i.X509CertificateName) { [string]$i.X509CertificateName } else { $null })
    }
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
