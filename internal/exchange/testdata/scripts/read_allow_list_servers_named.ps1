$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
$servers = foreach ($n in @('EX01', 'EX02')) { Get-ExchangeServer -Identity $n }
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
$name = 'AllowExternalAccess'
$root = $null
$missing = $null
try {
    $root = Get-DistributionGroup -Identity $name
} catch {
    $missing = $_.Exception.Message
}
if ($null -eq $root) {
    $r = [pscustomobject]@{ Found = $false; Error = $missing; Name = $name; Guid = $null; Groups = @(); Members = @() }
} else {
    $rootId = $root.Guid.ToString()
    $visited = New-Object System.Collections.Generic.List[object]
    $visited.Add($rootId)
    $groups = New-Object System.Collections.Generic.List[object]
    $members = New-Object System.Collections.Generic.List[object]
    $level = @($rootId)
    while ($level.Count -gt 0) {
        $next = New-Object System.Collections.Generic.List[object]
        foreach ($g in $level) {
            foreach ($m in Get-DistributionGroupMember -Identity $g -ResultSize Unlimited) {
                $id = $m.Guid.ToString()
                $t = [string]$m.RecipientType
                if ($t -like 'Mail*Group') {
                    if ($visited -notcontains $id) {
                        $visited.Add($id)
                        $next.Add($id)
                        $groups.Add([pscustomobject]@{ g = $id; n = [string]$m.Name })
                    }
                } else {
                    $members.Add([pscustomobject]@{ g = $id; n = [string]$m.Name; t = $t; d = [string]$m.RecipientTypeDetails })
                }
            }
        }
        $level = @($next)
    }
    $r = [pscustomobject]@{ Found = $true; Error = $null; Name = [string]$root.Name; Guid = $rootId; Groups = @($groups); Members = @($members) }
}
$grp = $r
$types = @('UserMailbox')
$m = @(Get-Mailbox -RecipientTypeDetails $types -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='a';e={[string]$_.Alias}}, @{n='n';e={[string]$_.Name}}, @{n='s';e={[string]$_.PrimarySmtpAddress}}, @{n='t';e={[string]$_.RecipientTypeDetails}})
$c = @(Get-CASMailbox -ResultSize Unlimited | Select-Object @{n='g';e={$_.Guid.ToString()}}, @{n='r';e={[bool]$_.MAPIBlockOutlookRpcHttp}}, @{n='x';e={[bool]$_.MAPIBlockOutlookExternalConnectivity}}, @{n='h';e={$_.MapiHttpEnabled}})
$r = [pscustomobject]@{ sv = $sv; grp = $grp; m = $m; c = $c }
