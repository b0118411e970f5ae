$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
Enable-ExchangeCertificate -Server 'EX01' -Thumbprint 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678' -Services @('IIS', 'SMTP') -Force
$c = Get-ExchangeCertificate -Server 'EX01' -Thumbprint 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678'
$r = [pscustomobject]@{ Thumbprint = [string]$c.Thumbprint; Services = [string]$c.Services }
ConvertTo-Json -InputObject $r -Depth 2 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
