$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = New-Object System.Collections.Generic.List[object]
$bd = @(
    [pscustomobject]@{ S = 'EX01'; T = '0123456789ABCDEF0123456789ABCDEF01234567'; V = @('IIS', 'SMTP') }
)
$pi = @(
    [pscustomobject]@{ S = 'EX01'; P = 'pop'; N = 'mail.contoso.test' }
    [pscustomobject]@{ S = 'EX01'; P = 'imap'; N = $null }
)
foreach ($i in $bd) {
    $id = $i.S + '/' + $i.T
    try {
        $c = $false
        $x = Get-ExchangeCertificate -Server $i.S -Thumbprint $i.T
        $have = @(([string]$x.Services).Split(',') | ForEach-Object { $_.Trim() })
        $miss = @($i.V | Where-Object { $have -notcontains $_ })
        if ($miss.Count -gt 0) {
            Enable-ExchangeCertificate -Server $i.S -Thumbprint $i.T -Services $i.V -Force
            $c = $true
            $x = Get-ExchangeCertificate -Server $i.S -Thumbprint $i.T
        }
        $r.Add([pscustomobject]@{ Id = $id; Changed = $c; Ok = $true; Services = [string]$x.Services; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Id = $id; Changed = $false; Ok = $false; Services = $null; Error = $_.Exception.Message })
    }
}
foreach ($i in $pi) {
    $id = $i.S + '/' + $i.P
    try {
        $c = $false
        $want = $i.N
        if ($i.P -eq 'pop') { $o = Get-PopSettings -Server $i.S } else { $o = Get-ImapSettings -Server $i.S }
        $cur = $(if ($null -ne $o.X509CertificateName) { [string]$o.X509CertificateName } else { $null })
        if ($null -eq $want) { $c = $null -ne $cur } elseif ($null -eq $cur) { $c = $true } else { $c = $cur -ne $want }
        if ($c) {
            if ($i.P -eq 'pop') { Set-PopSettings -Server $i.S -X509CertificateName $want }
            else { Set-ImapSettings -Server $i.S -X509CertificateName $want }
        }
        $r.Add([pscustomobject]@{ Id = $id; Changed = $c; Ok = $true; Services = $null; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Id = $id; Changed = $false; Ok = $false; Services = $null; Error = $_.Exception.Message })
    }
}
