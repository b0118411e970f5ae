$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$servers = @(Get-ExchangeServer)
$r = foreach ($s in $servers) {
    [pscustomobject]@{
        Name = [string]$s.Name
        Fqdn = [string]$s.Fqdn
        Guid = $s.Guid.ToString()
        AdminDisplayVersion = [string]$s.AdminDisplayVersion
        ServerRole = [string]$s.ServerRole
    }
}
$sv = @($r | Sort-Object -Property Name)
$names = @($sv | ForEach-Object { $_.Name })
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
$r = foreach ($srv in $names) {
    $p = Get-PopSettings -Server $srv
    $i = Get-ImapSettings -Server $srv
    [pscustomobject]@{
        Server = $srv
        Pop = $(if ($null -ne $p.X509CertificateName) { [string]$p.X509CertificateName } else { $null })
        Imap = $(if ($null -ne $i.X509CertificateName) { [string]$i.X509CertificateName } else { $null })
    }
}
$pi = @($r)
$state = [pscustomobject]@{ Servers = $sv; Certificates = $certs; PopImap = $pi }
