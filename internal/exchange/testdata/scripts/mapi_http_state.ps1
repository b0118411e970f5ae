$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$o = Get-OrganizationConfig
$off = @(Get-CASMailbox -ResultSize Unlimited | Where-Object { $_.MapiHttpEnabled -eq $false } | ForEach-Object { $_.Guid.ToString() })
$m = @()
if ($off.Count -gt 0) {
    $types = @('UserMailbox')
    $m = @(Get-Mailbox -RecipientTypeDetails $types -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='a';e={[string]$_.Alias}})
}
$r = [pscustomobject]@{ MapiHttpEnabled = [bool]$o.MapiHttpEnabled; Off = $off; Mailboxes = $m }
