$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$req = New-ExchangeCertificate -Server 'EX01' -GenerateRequest -SubjectName 'CN=outlook.contoso.com' -DomainName @('outlook.contoso.com', 'outlook-ext.contoso.com', 'autodiscover.contoso.com')
$r = [pscustomobject]@{ Request = [string]$req }
ConvertTo-Json -InputObject $r -Depth 2 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
