$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn
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
ConvertTo-Json -InputObject $r -Depth 4 -Compress | ForEach-Object { [regex]::Replace($_, '[^\x00-\x7E]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }) }
