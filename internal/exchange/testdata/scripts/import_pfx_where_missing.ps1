$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$pw = ConvertTo-SecureString -String ([Console]::In.ReadLine()) -AsPlainText -Force
$data = [Convert]::FromBase64String('cGZ4IGJ5dGVz')
$t = '0123456789ABCDEF0123456789ABCDEF01234567'
$r = New-Object System.Collections.Generic.List[object]
foreach ($srv in @('EX01', 'EX02')) {
    try {
        $c = $false
        $got = $t
        $have = @(Get-ExchangeCertificate -Server $srv | Where-Object { $_.Thumbprint -eq $t })
        if ($have.Count -eq 0) {
            $n = Import-ExchangeCertificate -Server $srv -FileData $data -Password $pw
            $c = $true
            $got = [string]$n.Thumbprint
        }
        $r.Add([pscustomobject]@{ Server = $srv; Changed = $c; Ok = $true; Thumbprint = $got; Error = $null })
    } catch {
        $r.Add([pscustomobject]@{ Server = $srv; Changed = $false; Ok = $false; Thumbprint = $null; Error = $_.Exception.Message })
    }
}
