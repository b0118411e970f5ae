$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = New-Object System.Collections.Generic.List[object]
try {
    Set-PopSettings -Server 'EX01' -X509CertificateName 'mail.contoso.com'
    $r.Add([pscustomobject]@{ Id = 'EX01/pop'; Ok = $true; Error = $null })
} catch {
    $r.Add([pscustomobject]@{ Id = 'EX01/pop'; Ok = $false; Error = $_.Exception.Message })
}
try {
    Set-ImapSettings -Server 'EX01' -X509CertificateName $null
    $r.Add([pscustomobject]@{ Id = 'EX01/imap'; Ok = $true; Error = $null })
} catch {
    $r.Add([pscustomobject]@{ Id = 'EX01/imap'; Ok = $false; Error = $_.Exception.Message })
}
ConvertTo-Json -InputObject @($r) -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
