$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$r = foreach ($srv in @('EX01', 'EX02')) {
    foreach ($c in Get-ExchangeCertificate -Server $srv) {
        [pscustomobject]@{
            Server = $srv
            Thumbprint = [string]$c.Thumbprint
            Subject = [string]$c.Subject
            Issuer = [string]$c.Issuer
            FriendlyName = [string]$c.FriendlyName
            CertificateDomains = @($c.CertificateDomains | ForEach-Object { [string]$_ })
            NotBefore = $c.NotBefore.ToUniversalTime().ToString('o')
            NotAfter = $c.NotAfter.ToUniversalTime().ToString('o')
            Services = [string]$c.Services
            HasPrivateKey = [bool]$c.HasPrivateKey
            Status = [string]$c.Status
            PublicKeySize = [int]$c.PublicKeySize
            SignatureAlgorithm = $(if ($null -ne $c.SignatureAlgorithm.FriendlyName) { [string]$c.SignatureAlgorithm.FriendlyName } else { [string]$c.SignatureAlgorithm })
            IsSelfSigned = [bool]$c.IsSelfSigned
        }
    }
}
ConvertTo-Json -InputObject @($r) -Depth 4 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
