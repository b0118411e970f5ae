$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$types = @('UserMailbox', 'SharedMailbox')
$m = @(Get-Mailbox -RecipientTypeDetails $types -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='a';e={[string]$_.Alias}}, @{n='n';e={[string]$_.Name}}, @{n='s';e={[string]$_.PrimarySmtpAddress}}, @{n='t';e={[string]$_.RecipientTypeDetails}})
$c = @(Get-CASMailbox -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='r';e={[bool]$_.MAPIBlockOutlookRpcHttp}}, @{n='x';e={[bool]$_.MAPIBlockOutlookExternalConnectivity}}, @{n='h';e={$_.MapiHttpEnabled}})
$r = [pscustomobject]@{ m = $m; c = $c }
ConvertTo-Json -InputObject $r -Depth 3 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
