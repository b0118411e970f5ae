$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$sv = @()
$names = @('EX01', 'EX02')
$r = foreach ($srv in $names) {
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
$certs = @($r)
$pi = @()
$state = [pscustomobject]@{ Servers = $sv; Certificates = $certs; PopImap = $pi }
