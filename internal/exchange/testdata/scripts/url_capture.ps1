$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$sv = @()
$names = @('EX01', 'EX02')
$r = New-Object System.Collections.Generic.List[object]
foreach ($srv in $names) {
    foreach ($v in Get-OwaVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'owa'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-EcpVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'ecp'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-MapiVirtualDirectory -Server $srv) {
        $r.Add([pscustomobject]@{ Kind = 'mapi'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @($v.IISAuthenticationMethods | ForEach-Object { [string]$_ }) })
    }
    foreach ($v in Get-WebServicesVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'ews'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-ActiveSyncVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'activesync'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-OabVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'oab'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-AutodiscoverVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'autodiscover'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
    foreach ($v in Get-PowerShellVirtualDirectory -Server $srv -ADPropertiesOnly) {
        $r.Add([pscustomobject]@{ Kind = 'powershell'; Server = $srv; Identity = [string]$v.Identity; Guid = $v.Guid.ToString(); InternalUrl = $(if ($null -ne $v.InternalUrl) { $v.InternalUrl.AbsoluteUri } else { $null }); ExternalUrl = $(if ($null -ne $v.ExternalUrl) { $v.ExternalUrl.AbsoluteUri } else { $null }); IISAuthenticationMethods = @() })
    }
}
$vd = @($r)
$r = foreach ($srv in $names) {
    foreach ($o in Get-OutlookAnywhere -Server $srv -ADPropertiesOnly) {
        [pscustomobject]@{
            Server = $srv
            Identity = [string]$o.Identity
            Guid = $o.Guid.ToString()
            ExternalHostname = $(if ($null -ne $o.ExternalHostname) { [string]$o.ExternalHostname } else { $null })
            InternalHostname = $(if ($null -ne $o.InternalHostname) { [string]$o.InternalHostname } else { $null })
            ExternalClientsRequireSsl = [bool]$o.ExternalClientsRequireSsl
            ExternalClientAuthenticationMethod = [string]$o.ExternalClientAuthenticationMethod
        }
    }
}
$oa = @($r)
$cas = foreach ($n in $names) { Get-ClientAccessService -Identity $n }
$r = foreach ($s in $cas) {
    [pscustomobject]@{
        Name = [string]$s.Name
        AutoDiscoverServiceInternalUri = $(if ($null -ne $s.AutoDiscoverServiceInternalUri) { $s.AutoDiscoverServiceInternalUri.AbsoluteUri } else { $null })
    }
}
$scp = @($r)
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
$state = [pscustomobject]@{ Servers = $sv; VDirs = $vd; OutlookAnywhere = $oa; SCP = $scp; Certificates = $certs }
