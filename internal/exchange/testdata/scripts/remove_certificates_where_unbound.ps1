$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$it = @(
    [pscustomobject]@{ S = 'EX01'; T = '0123456789ABCDEF0123456789ABCDEF01234567' }
    [pscustomobject]@{ S = 'EX02'; T = '89ABCDEF0123456789ABCDEF0123456789ABCDEF' }
)
$st = New-Object System.Collections.Generic.List[object]
$block = $false
foreach ($i in $it) {
    try {
        $have = @(Get-ExchangeCertificate -Server $i.S | Where-Object { $_.Thumbprint -eq $i.T })
        if ($have.Count -gt 0) {
            $sv = [string]$have[0].Services
            $b = @($sv.Split(',') | ForEach-Object { $_.Trim() })
            if (($b -contains 'IIS') -or ($b -contains 'SMTP')) { $block = $true }
            $st.Add([pscustomobject]@{ S = $i.S; T = $i.T; P = $true; V = $sv; E = $null })
        } else {
            $st.Add([pscustomobject]@{ S = $i.S; T = $i.T; P = $false; V = $null; E = $null })
        }
    } catch {
        $block = $true
        $st.Add([pscustomobject]@{ S = $i.S; T = $i.T; P = $false; V = $null; E = $_.Exception.Message })
    }
}
$r = New-Object System.Collections.Generic.List[object]
foreach ($s in $st) {
    $c = $false
    $ok = $null -eq $s.E
    $e = $s.E
    if ($ok -and $s.P -and (-not $block)) {
        try {
            Remove-ExchangeCertificate -Server $s.S -Thumbprint $s.T -Confirm:$false
            $c = $true
        } catch {
            $ok = $false
            $e = $_.Exception.Message
        }
    }
    $r.Add([pscustomobject]@{ Server = $s.S; Thumbprint = $s.T; Present = $s.P; Removed = $c; Ok = $ok; Services = $s.V; Error = $e })
}
