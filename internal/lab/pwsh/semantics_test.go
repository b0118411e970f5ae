package pwsh

import (
	"strings"
	"testing"
)

// semanticsCase is a snippet and the stdout Windows PowerShell 5.1 prints for
// it (lines joined with \n). In scripts, § stands for a backtick.
type semanticsCase struct {
	script string
	want   string
}

var semanticsCases = []semanticsCase{
	// --- quoting ---
	{`'it''s'`, `it's`},                                // '' inside single quotes is one '
	{`"say ""hi"""`, `say "hi"`},                       // "" inside double quotes is one "
	{"'a\u2018\u2019b'", "a\u2019b"},                   // two Unicode single quotes escape: the second is kept
	{"\u2018abc\u2019", `abc`},                         // ‘ ’ delimit like '
	{"\u201Ax\u201B", `x`},                             // ‚ ‛ delimit like '
	{"'x\u2019", `x`},                                  // mixed ASCII/Unicode single quotes pair up
	{"'a\u2018\u2018b'", "a\u2018b"},                   // doubled ‘ is one ‘
	{"$a='w'; \u201Chello $a\u201D", `hello w`},        // “ ” delimit an expandable string
	{"\u201Ex\u201C", `x`},                             // „ opens, “ closes
	{"\"a\u201C\u201Cb\"", "a\u201Cb"},                 // doubled “ inside "..." is one “
	{`"a§tb"`, "a\tb"},                                 // backtick-t is a tab
	{`$a = 1; "§$a"`, `$a`},                            // backtick-$ is a literal dollar
	{`$a = 1; '$a'`, `$a`},                             // no expansion in single quotes
	{`"$(1+2)"`, `3`},                                  // subexpression in double quotes
	{`'$(1+2)'`, `$(1+2)`},                             // no subexpression in single quotes
	{`"§§"`, "`"},                                      // double backtick is one backtick
	{`"a§nb"`, "a\nb"},                                 // backtick-n is a newline
	{`"§""`, `"`},                                      // backtick-quote is a quote
	{"@'\nline1\n'line2' $x\n'@", "line1\n'line2' $x"}, // single-quoted here-string is literal
	{"$x = 'X'\n@\"\nv=$x\n\"q\"\n\"@", "v=X\n\"q\""},  // double-quoted here-string expands
	{`$a = 'abc'; "$a.Length"`, `abc.Length`},          // only $var expands, not $var.Prop
	{`$a = 'abc'; "$($a.Length)"`, `3`},                // $( ) for member access
	{`$a = 'abc'; "${a}x"`, `abcx`},                    // ${name} delimits the name
	{`$arr = 1,2,3; "$arr"`, `1 2 3`},                  // arrays join with $OFS (space)
	{`$s = 'x'; "$s's"`, `x's`},                        // ' ends a variable name
	{`"it's $null."`, `it's .`},                        // $null expands to nothing
	{`"5" + 5`, `55`},                                  // string on the left: concatenation
	{`5 + "5"`, `10`},                                  // number on the left: numeric addition
	{`'a' + $null`, `a`},                               // $null concatenates as ''
	{`"a$('$')b"`, `a$b`},                              // literal string inside a subexpression
	{`'semi;colon' + "|pipe|"`, `semi;colon|pipe|`},    // separators inside strings are text
	{`"§$(1+1)"`, `$(1+1)`},                            // escaped $ prevents the subexpression
	{`'a # not a comment'`, `a # not a comment`},       // # inside quotes is text
	{`'x' # trailing comment`, `x`},                    // # starts a comment
	{"<# block\ncomment #> 'y'", `y`},                  // block comment
	{"'a' +§\n'b'", `ab`},                              // backtick line continuation
	{`Write-Output 'it''s' "x""y"`, "it's\nx\"y"},      // quoting in command arguments
	{`Write-Output abc$('d')`, `abcd`},                 // bare word arguments expand
	{`Write-Output a,b`, "a\nb"},                       // comma in argument mode makes an array
	{`Write-Output -1`, `-1`},                          // -1 is a number argument, not a parameter
	{`"$('it''s')"`, `it's`},                           // single quotes inside $() inside "..."
	{"5 \u2013gt 3", `True`},                           // en dash works as '-'
	{`'a' -eq 'A'`, `True`},                            // comparison is case-insensitive
	{`"tab§there" | ConvertTo-Json`, `"tab\there"`},    // JSON escapes tab
	{`'<a href=''x''>&' | ConvertTo-Json`, `"\u003ca href=\u0027x\u0027\u003e\u0026"`}, // JavaScriptSerializer escapes < > ' &
	{`'\' | ConvertTo-Json`, `"\\"`},          // backslash escaped
	{`'é ü' | ConvertTo-Json`, `"é ü"`},       // non-ASCII is not escaped
	{`"a§0b" | ConvertTo-Json`, `"a\u0000b"`}, // control characters as \u00XX

	// --- arrays and collections ---
	{`@(1,2,3).Count`, `3`},                      // array literal count
	{`@().Count`, `0`},                           // empty array
	{`(1,2,3)[0]`, `1`},                          // indexing
	{`(1,2,3)[-1]`, `3`},                         // negative index from the end
	{`$a = 1,2,3; $a[5]; 'end'`, `end`},          // out of range index is $null
	{`$a = 1,2,3; $a[0,2] -join ','`, `1,3`},     // index with an array
	{`@(@(1,2)).Count`, `2`},                     // @() does not nest arrays
	{`@(,@(1,2)).Count`, `1`},                    // unary comma wraps an array
	{`(,@(1,2)).Count`, `1`},                     // unary comma outside @()
	{`$x = 'a'; $x.Count`, `1`},                  // scalars have Count 1
	{`$null.Count`, `0`},                         // $null has Count 0
	{`$a = 1,2; $a += 3; $a -join ','`, `1,2,3`}, // += appends to arrays
	{`$a = @(); $a += 'x'; $a.Count`, `1`},       // += on an empty array
	{`@(1,2,3) -contains 2`, `True`},             // -contains
	{`@(1,2,3) -notcontains 5`, `True`},          // -notcontains
	{`2 -in 1,2,3`, `True`},                      // -in
	{`'b' -notin 'a','c'`, `True`},               // -notin
	{`1,2,3,2 -eq 2`, "2\n2"},                    // an array on the left filters
	{`(@(1,2,3,2) -eq 2).Count`, `2`},            // filtered result is an array
	{`@('apple','banana') -like 'a*'`, `apple`},  // -like filters arrays
	{`(@(1,2,3) -ne 2) -join ','`, `1,3`},        // -ne filters
	{`(@(1) -eq 5).Count`, `0`},                  // no match gives an empty array
	{`@($null).Count`, `1`},                      // $null is an element
	{`$x = Get-Nothing; @($x).Count`, `0`},       // AutomationNull enumerates as nothing
	{`@(Get-Nothing).Count`, `0`},                // no output, empty array
	{`$x = $null; @($x).Count`, `1`},             // real $null is one element
	{`$l = New-Object System.Collections.Generic.List[object]; $l.Add(1); $l.Add('b'); $l.Count`, `2`},                        // List.Add returns void
	{`$l = New-Object System.Collections.Generic.List[object]; $l.Add(1); $l.Add(2); $l | ConvertTo-Json -Compress`, `[1,2]`}, // lists enumerate
	{`$o = @([pscustomobject]@{A=1},[pscustomobject]@{A=2}); $o.A -join ','`, `1,2`},                                          // member enumeration
	{`@([pscustomobject]@{A=1}).A`, `1`},             // member enumeration of one item is scalar
	{`$a = 'x','y'; $a.Length`, `2`},                 // Length on arrays
	{`'abc'.Length`, `3`},                            // Length on strings
	{`$a = 1,2,3; $a[1] = 9; $a -join ','`, `1,9,3`}, // index assignment

	// --- hashtables and objects ---
	{`$h = @{a=1}; $h.a`, `1`},                                                  // member access on hashtable keys
	{`$h = @{a=1}; $h['A']`, `1`},                                               // keys are case-insensitive
	{`$h = [ordered]@{z=1; a=2}; $h.Keys -join ','`, `z,a`},                     // [ordered] keeps order
	{`[pscustomobject]@{b=1; a=2} | ConvertTo-Json -Compress`, `{"b":1,"a":2}`}, // [pscustomobject] keeps key order
	{`$h = @{}; $h.x = 5; $h.x`, `5`},                                           // adding keys by member assignment
	{`$h = @{}; $h['k'] = 'v'; $h.Count`, `1`},                                  // index assignment on hashtables
	{`@{a=1}.ContainsKey('A')`, `True`},                                         // ContainsKey is case-insensitive
	{`$h = @{a=1}; $h += @{b=2}; $h.Count`, `2`},                                // hashtable addition
	{`$o = [pscustomobject]@{a=1}; $o.a = 5; $o.a`, `5`},                        // property assignment
	{`$p = @{Name='x'}; ([pscustomobject]$p).Name`, `x`},                        // cast a hashtable variable
	{"$h = @{\n  a = 1\n  'b c' = 'x'\n}\n$h.'b c'", `x`},                       // newline-separated entries, quoted key
	{`$o = [pscustomobject]@{n=@(1,2)}; $o.n.Count`, `2`},                       // arrays as property values
	{`([pscustomobject]@{a=1}).ToString()`, `@{a=1}`},                           // PSCustomObject ToString
	{`"$([pscustomobject]@{a=1; b='x'})"`, `@{a=1; b=x}`},                       // PSCustomObject in a string
	{`$o = [pscustomobject]@{a=$null}; $null -eq $o.a`, `True`},                 // $null property
	{`$o = [pscustomobject]@{a=1}; $null -eq $o.missing`, `True`},               // missing property is $null

	// --- comparison and operators ---
	{`'abc' -ceq 'ABC'`, `False`},                // -ceq is case-sensitive
	{`'10' -eq 10`, `True`},                      // right converted to the left's type
	{`10 -eq '10.0'`, `True`},                    // numeric comparison
	{`'2' -gt 10`, `True`},                       // string comparison on the left
	{`2 -gt '10'`, `False`},                      // numeric comparison on the left
	{`$null -eq $null`, `True`},                  // $null equals $null
	{`$null -eq 0`, `False`},                     // $null is not 0
	{`0 -eq $null`, `False`},                     // 0 is not $null
	{`$true -eq 'false'`, `True`},                // non-empty string is $true
	{`'abc' -like 'a*'`, `True`},                 // wildcard *
	{`'abc' -like 'A?C'`, `True`},                // wildcard ? case-insensitive
	{`'a[b' -like 'a§[b'`, `True`},               // escaped [ in wildcard
	{`'ab' -like 'a[a-c]'`, `True`},              // character range
	{`'abc' -notlike '*d'`, `True`},              // -notlike
	{`'abc' -clike 'A*'`, `False`},               // -clike is case-sensitive
	{`'abc' -match 'B'; $Matches[0]`, "True\nb"}, // -match sets $Matches
	{`$null = 'key=value' -match '(?<k>\w+)=(?<v>\w+)'; $Matches.v`, `value`}, // named groups
	{`'abc' -notmatch '^x'`, `True`},                                          // -notmatch
	{`('a1b2' -split '\d') -join '|'`, `a|b|`},                                // -split with a regex keeps empty trailing
	{`('a,b,c' -split ',').Count`, `3`},                                       // -split count
	{`(-split ' a  b ') -join '|'`, `a|b`},                                    // unary -split on whitespace
	{`(1,2,3) -join '-'`, `1-2-3`},                                            // -join
	{`-join ('a','b')`, `ab`},                                                 // unary -join
	{`'abc' -is [string]`, `True`},                                            // -is
	{`5 -is [int]`, `True`},                                                   // integer literal is Int32
	{`@() -is [array]`, `True`},                                               // arrays
	{`'5' -is [int]`, `False`},                                                // no conversion for -is
	{`$null -is [object]`, `False`},                                           // $null is not an object
	{`5 -isnot [string]`, `True`},                                             // -isnot
	{`!$true`, `False`},                                                       // !
	{`-not 0`, `True`},                                                        // -not
	{`!''`, `True`},                                                           // empty string is false
	{`-not @()`, `True`},                                                      // empty array is false
	{`!@(0)`, `True`},                                                         // one-element array: its element's truth
	{`[bool]@(0,0)`, `True`},                                                  // two elements are true
	{`$true -and $false`, `False`},                                            // -and
	{`$false -or 1`, `True`},                                                  // -or
	{`1 -and 0 -or 1`, `True`},                                                // -and/-or same precedence, left to right
	{`7 / 2`, `3.5`},                                                          // division gives double when inexact
	{`6 / 2`, `3`},                                                            // exact division stays integer
	{`7 % 3`, `1`},                                                            // modulo
	{`2 + 3 * 2`, `8`},                                                        // precedence
	{`(2 + 3) * 2`, `10`},                                                     // parentheses
	{`'ab' * 3`, `ababab`},                                                    // string repetition
	{`(@(1,2) * 2) -join ','`, `1,2,1,2`},                                     // array repetition
	{`-5 + 2`, `-3`},                                                          // negative literal
	{`10 - -2`, `12`},                                                         // binary minus and negative number
	{`0.1 + 0.2`, `0.3`},                                                      // doubles print with 15 digits
	{`1e3`, `1000`},                                                           // exponent literal is a double
	{`0x10`, `16`},                                                            // hex literal
	{`$z = 0; try { 1 / $z } catch { $_.Exception.Message }`, `Attempted to divide by zero.`}, // division by zero
	{`$x = 5; $x++; $x`, `6`},         // ++ statement
	{`$x = 1; $x += 2; $x`, `3`},      // += on numbers
	{`$s = 'a'; $s += 'b'; $s`, `ab`}, // += on strings

	// --- casts ---
	{`[int]'42' + 1`, `43`},          // [int] from string
	{`[int]2.5`, `2`},                // banker's rounding
	{`[int]3.5`, `4`},                // banker's rounding
	{`[string]$null -eq ''`, `True`}, // [string]$null is ''
	{`[string]@(1,2)`, `1 2`},        // [string] joins arrays
	{`[bool]'false'`, `True`},        // non-empty string
	{`[bool]0`, `False`},             // zero
	{`try { [int]'abc' } catch { $_.Exception.Message }`, `Cannot convert value "abc" to type "System.Int32". Error: "Input string was not in a correct format."`}, // cast error text
	{`[guid]'0F8FAD5B-D9CB-469F-A165-70867728950E'`, `0f8fad5b-d9cb-469f-a165-70867728950e`},                                                                       // [guid] normalises
	{`[guid]::Empty`, `00000000-0000-0000-0000-000000000000`},                                                                                                      // static member
	{`([guid]'0f8fad5b-d9cb-469f-a165-70867728950e').ToString()`, `0f8fad5b-d9cb-469f-a165-70867728950e`},                                                          // Guid.ToString()
	{`[string[]]@(1,2) | ConvertTo-Json -Compress`, `["1","2"]`},                                                                                                   // [string[]]
	{`[array]'x' | ConvertTo-Json -Compress`, `"x"`},                                                                                                               // the pipeline unrolls a one-element array
	{`ConvertTo-Json -InputObject ([array]'x') -Compress`, `["x"]`},                                                                                                // -InputObject keeps the array
	{`[long]5 + 1`, `6`},         // [long]
	{`[double]'1.5' * 2`, `3`},   // [double]
	{`[string]1.5`, `1.5`},       // double to string
	{`(1).ToString()`, `1`},      // ToString on numbers
	{`$true.ToString()`, `True`}, // ToString on bool

	// --- $null and AutomationNull ---
	{`if ($null) { 'y' } else { 'n' }`, `n`},                            // $null is false
	{`if (@()) { 'y' } else { 'n' }`, `n`},                              // empty array is false
	{`if (@($null)) { 'y' } else { 'n' }`, `n`},                         // one $null element is false
	{`if (@(1,2)) { 'y' }`, `y`},                                        // non-empty array is true
	{`if ('False') { 'y' }`, `y`},                                       // the string 'False' is true
	{`$null | ForEach-Object { 'ran' }`, `ran`},                         // $null flows through a pipeline
	{`foreach ($i in $null) { 'ran' }; 'done'`, `done`},                 // foreach skips $null
	{`$x = Get-Nothing; $x | ForEach-Object { 'ran' }; 'done'`, `done`}, // AutomationNull does not flow
	{`$null -eq $undefinedVariable`, `True`},                            // undefined variables are $null
	{`$null.Foo; 'ok'`, `ok`},                                           // member access on $null is $null

	// --- control flow and statements as values ---
	{`$x = 2; if ($x -eq 1) { 'one' } elseif ($x -eq 2) { 'two' } else { 'other' }`, `two`},                         // elseif
	{"if ($false) {\n 'a'\n}\nelse {\n 'b'\n}", `b`},                                                                // else on the next line
	{`foreach ($i in 1,2,3,4) { if ($i -eq 2) { continue }; if ($i -eq 4) { break }; $i }`, "1\n3"},                 // continue and break
	{`for ($i = 0; $i -lt 3; $i++) { $i }`, "0\n1\n2"},                                                              // for loop
	{`$i = 0; while ($i -lt 2) { $i; $i++ }`, "0\n1"},                                                               // while loop
	{`$r = foreach ($i in 1,2,3) { $i * 2 }; $r -join ','`, `2,4,6`},                                                // foreach as a value
	{`$r = if ($true) { 'a' } else { 'b' }; $r`, `a`},                                                               // if as a value
	{`$v = $(if ($false) { 1 } else { 2 }); $v`, `2`},                                                               // $( ) around a statement
	{`'a'; return; 'b'`, `a`},                                                                                       // return ends the script
	{`try { 'in' } finally { 'fin' }`, "in\nfin"},                                                                   // finally runs
	{`try { throw 'x' } catch { 'c' } finally { 'f' }`, "c\nf"},                                                     // catch then finally
	{`try { try { throw 'inner' } catch { throw } } catch { $_.Exception.Message }`, `inner`},                       // rethrow with bare throw
	{`try { throw 'boom' } catch { $_.ToString() }`, `boom`},                                                        // ErrorRecord ToString
	{`try { throw 'boom' } catch [System.Exception] { 'typed' }`, `typed`},                                          // typed catch
	{`try { $null.Foo() } catch { $_.Exception.Message }`, `You cannot call a method on a null-valued expression.`}, // method on $null
	{`try { 'a'.NoSuch() } catch { $_.Exception.Message }`, `Method invocation failed because [System.String] does not contain a method named 'NoSuch'.`}, // unknown method
	{`try { throw 'x' } catch { $_.FullyQualifiedErrorId }`, `x`},                                                                                         // throw's error id is the message
	{`try { Get-Foo -Bogus } catch { $_.FullyQualifiedErrorId }`, `NamedParameterNotFound,Get-Foo`},                                                       // binding errors are catchable
	{`try { Get-Foo -Fail } catch { $_.Exception.Message }`, `Foo failed hard.`},                                                                          // cmdlet terminating error
	{`$ErrorActionPreference = 'Stop'; try { Write-Error 'e1' } catch { 'caught ' + $_ }`, `caught e1`},                                                   // EAP Stop makes errors terminating
	{`try { Write-Error 'e1' -ErrorAction Stop } catch { $_.Exception.Message }`, `e1`},                                                                   // -ErrorAction Stop
	{`try { Write-Error 'e1' -ErrorAction SilentlyContinue } catch { 'caught' }; 'after'`, `after`},                                                       // silenced error is not caught
	{`Write-Error 'x' -ErrorAction SilentlyContinue; $?`, `False`},                                                                                        // $? after an error
	{`Write-Error 'x' -ErrorAction SilentlyContinue -ErrorVariable ev; $ev.Count`, `1`},                                                                   // -ErrorVariable
	{`$ErrorActionPreference = 'SilentlyContinue'; Write-Error 'x'; 'ok'`, `ok`},                                                                          // EAP SilentlyContinue
	{`Write-Error 'x' -ea 0; 'numeric ea'`, `numeric ea`},                                                                                                 // -ea alias with a numeric ActionPreference
	{`$r = foreach ($i in 1,2,3) { try { if ($i -eq 2) { throw "bad $i" }; [pscustomobject]@{ Id = $i; Ok = $true; Error = $null } } catch { [pscustomobject]@{ Id = $i; Ok = $false; Error = $_.Exception.Message } } }; ConvertTo-Json -InputObject @($r) -Compress`,
		`[{"Id":1,"Ok":true,"Error":null},{"Id":2,"Ok":false,"Error":"bad 2"},{"Id":3,"Ok":true,"Error":null}]`}, // batched writes with per-item try/catch
	{`$x = 1; $x = $x + 1; exit 0`, ``}, // exit ends silently

	// --- generic cmdlets ---
	{`1,2,3 | Where-Object { $_ -gt 1 } | ForEach-Object { $_ * 10 }`, "20\n30"},                                    // where + foreach
	{`1,2,3 | ? { $_ -ne 2 } | % { $_ }`, "1\n3"},                                                                   // ? and % aliases
	{`1 | % { $PSItem + 1 }`, `2`},                                                                                  // $PSItem
	{`@(3,1,2) | Sort-Object`, "1\n2\n3"},                                                                           // sort
	{`@(3,1,2) | sort -Descending`, "3\n2\n1"},                                                                      // sort descending
	{`'b','a','B' | Sort-Object -Unique`, "a\nb"},                                                                   // sort -Unique is case-insensitive
	{`'x','y','x' | Select-Object -Unique`, "x\ny"},                                                                 // select -Unique
	{`1,2,3,4 | Select-Object -First 2`, "1\n2"},                                                                    // -First
	{`1,2,3,4 | Select-Object -Last 2`, "3\n4"},                                                                     // -Last
	{`1,2,3,4 | Select-Object -Skip 1 -First 2`, "2\n3"},                                                            // -Skip
	{`Get-Many 1000000 | Select-Object -First 3`, "0\n1\n2"},                                                        // -First stops the upstream cmdlet
	{`[pscustomobject]@{a=1;b=2;c=3} | Select-Object a,c | ConvertTo-Json -Compress`, `{"a":1,"c":3}`},              // -Property
	{`[pscustomobject]@{Alias='x';b=2} | select alias | ConvertTo-Json -Compress`, `{"Alias":"x"}`},                 // property names keep the object's casing
	{`[pscustomobject]@{a=1} | Select-Object -ExpandProperty a`, `1`},                                               // -ExpandProperty
	{`[pscustomobject]@{a=1;b=2} | Select-Object @{n='sum';e={$_.a+$_.b}} | ConvertTo-Json -Compress`, `{"sum":3}`}, // calculated property
	{`[pscustomobject]@{a=1} | Select-Object @{Name='x';Expression='a'} | ConvertTo-Json -Compress`, `{"x":1}`},     // calculated property by name
	{`[pscustomobject]@{a=1} | Select-Object a,missing | ConvertTo-Json -Compress`, `{"a":1,"missing":null}`},       // missing property is $null
	{`1,2,3 | Measure-Object -Sum | Select-Object -ExpandProperty Sum`, `6`},                                        // Measure-Object -Sum
	{`(1,2,3 | Measure-Object).Count`, `3`},                                                                         // Measure-Object count
	{`'a','b','a' | Group-Object | ForEach-Object { "$($_.Name)=$($_.Count)" }`, "a=2\nb=1"},                        // Group-Object
	{`'a','b' | ForEach-Object -MemberName ToUpper`, "A\nB"},                                                        // -MemberName method
	{`[pscustomobject]@{n='x'} | ForEach-Object n`, `x`},                                                            // member name positional
	{`1,2 | ForEach-Object -Begin { 'b' } -Process { $_ } -End { 'e' }`, "b\n1\n2\ne"},                              // begin/process/end
	{`$sum = 0; 1,2,3 | % { $sum += $_ }; $sum`, `6`},                                                               // script blocks run in the caller's scope
	{`Write-Output 1,2 | Measure-Object | % Count`, `2`},                                                            // Write-Output enumerates
	{`Write-Host 'hi' 'there'`, `hi there`},                                                                         // Write-Host joins with spaces
	{`Write-Host -NoNewline 'a'; Write-Host 'b'`, `ab`},                                                             // -NoNewline
	{`Write-Output 'x' | Out-Null; 'done'`, `done`},                                                                 // Out-Null
	{`echo hi`, `hi`}, // echo alias
	{`Where-Object -InputObject 5 { $_ -gt 1 }`, `5`},                                                                     // -InputObject without a pipeline
	{`[pscustomobject]@{a=1},[pscustomobject]@{a=2} | Where-Object a -EQ 2 | ConvertTo-Json -Compress`, `{"a":2}`},        // simple Where-Object form
	{`[pscustomobject]@{n='ab'},[pscustomobject]@{n='cd'} | Where-Object -Property n -Like 'c*' | % n`, `cd`},             // -Property -Like
	{`[pscustomobject]@{n=2},[pscustomobject]@{n=1} | Sort-Object n | % n`, "1\n2"},                                       // sort by property
	{`[pscustomobject]@{n=2},[pscustomobject]@{n=1} | Sort-Object -Property @{e={$_.n}; Descending=$true} | % n`, "2\n1"}, // sort by expression
	{`Start-Sleep -Milliseconds 1; 'slept'`, `slept`},                                                                     // Start-Sleep
	{`(ConvertTo-SecureString 'pw' -AsPlainText -Force).Length`, `2`},                                                     // ConvertTo-SecureString
	{`(Get-Date).ToUniversalTime().ToString('o')`, `2026-11-22T14:00:00.0000000Z`},                                        // Get-Date and round-trip format
	{`[Convert]::ToBase64String([Convert]::FromBase64String('aGk='))`, `aGk=`},                                            // base64 round trip
	{`[Convert]::FromBase64String('aGk=').Length`, `2`},                                                                   // byte array length
	{`try { [Convert]::FromBase64String('!') } catch { $_.Exception.Message }`, `Exception calling "FromBase64String" with "1" argument(s): "Invalid length for a Base-64 char array or string."`},                                                                                                         // method exception text
	{`Compare-Object @('a','b','c') @('b','c','d') -IncludeEqual | % { "$($_.InputObject)$($_.SideIndicator)" }`, "b==\nc==\nd=>\na<="},                                                                                                                                                                    // Compare-Object order
	{`Compare-Object -ReferenceObject 'dog','squirrel','bird' -DifferenceObject 'cat','bird','racoon' | % { $_.InputObject + $_.SideIndicator }`, "cat=>\nracoon=>\ndog<=\nsquirrel<="},                                                                                                                    // the documented Compare-Object example
	{`Compare-Object -IncludeEqual @([pscustomobject]@{Name='a1'},[pscustomobject]@{Name='a2'},[pscustomobject]@{Name='a3'}) @([pscustomobject]@{Name='a1'},[pscustomobject]@{Name='b2'},[pscustomobject]@{Name='b3'}) -Property Name | % { $_.Name + $_.SideIndicator }`, "a1==\nb2=>\nb3=>\na2<=\na3<="}, // equal first, then => then <=
	{`Compare-Object @('a') @('A')`, ``},                                        // Compare-Object is case-insensitive
	{`Compare-Object @('a') @('A') -CaseSensitive | % SideIndicator`, "=>\n<="}, // -CaseSensitive
	{`Compare-Object @([pscustomobject]@{Alias='a';X=1}) @([pscustomobject]@{Alias='b';X=1}) -Property Alias | ConvertTo-Json -Compress`, `[{"Alias":"b","SideIndicator":"=\u003e"},{"Alias":"a","SideIndicator":"\u003c="}]`}, // -Property output
	{`Compare-Object @([pscustomobject]@{Alias='a'}) @() -Property Alias -PassThru | % { $_.Alias + $_.SideIndicator }`, `a<=`},                                                                                                // -PassThru
	{`try { Compare-Object $null @(1) } catch { $_.Exception.Message }`, `Cannot bind argument to parameter 'ReferenceObject' because it is null.`},                                                                            // null reference
	{`'x' | Compare-Object -ReferenceObject 'y' | % SideIndicator`, "=>\n<="},                                                                                                                                                  // pipeline into DifferenceObject

	// --- string methods ---
	{`' x '.Trim()`, `x`},                           // Trim
	{`'xxaxx'.Trim('x')`, `a`},                      // Trim(chars)
	{`'Abc'.ToLower() + 'Abc'.ToUpper()`, `abcABC`}, // ToLower / ToUpper
	{`'abc'.Contains('b')`, `True`},                 // Contains
	{`'abc'.Contains('B')`, `False`},                // Contains is case-sensitive
	{`'a,b'.Split(',') -join '|'`, `a|b`},           // Split
	{`'a;b,c'.Split(';,').Count`, `3`},              // Split on each character of the argument
	{`'abc'.StartsWith('a')`, `True`},               // StartsWith
	{`'abc'.EndsWith('C')`, `False`},                // EndsWith is case-sensitive
	{`'aXa'.Replace('a','b')`, `bXb`},               // Replace
	{`'abc'.Substring(1)`, `bc`},                    // Substring
	{`"a‘b".Replace("‘", "‘‘")`, `a‘‘b`},            // Unicode single quotes are ordinary characters inside "..."

	// --- ConvertTo-Json / ConvertFrom-Json ---
	{`1,2 | ConvertTo-Json -Compress`, `[1,2]`},                  // several objects become an array
	{`@() | ConvertTo-Json; 'nothing before'`, `nothing before`}, // empty pipeline: no output
	{`,@() | ConvertTo-Json -Compress`, `[]`},                    // an empty array piped whole
	{`ConvertTo-Json -InputObject @() -Compress`, `[]`},          // -InputObject empty array
	{`,@(1) | ConvertTo-Json -Compress`, `[1]`},                  // a one-element array piped whole
	{`@(1) | ConvertTo-Json -Compress`, `1`},                     // one element is not wrapped
	{`$null | ConvertTo-Json`, `null`},                           // $null
	{`$true | ConvertTo-Json`, `true`},                           // bool
	{`1.5 | ConvertTo-Json`, `1.5`},                              // double
	{`@{a=@{b=@{c=@{d=1}}}} | ConvertTo-Json -Compress`, `{"a":{"b":{"c":"System.Collections.Hashtable"}}}`},                                                       // default depth 2
	{`@{a=@{b=@{c=1}}} | ConvertTo-Json -Depth 1 -Compress`, `{"a":{"b":"System.Collections.Hashtable"}}`},                                                         // -Depth 1
	{`[pscustomobject]@{a=[pscustomobject]@{b=[pscustomobject]@{c=[pscustomobject]@{d=1}}}} | ConvertTo-Json -Compress`, `{"a":{"b":{"c":"@{d=1}"}}}`},             // beyond depth: ToString
	{`@{a=@{b=@{c=@(1,2)}}} | ConvertTo-Json -Compress`, `{"a":{"b":{"c":"1 2"}}}`},                                                                                // arrays beyond depth
	{`@{a=1} | ConvertTo-Json`, "{\n    \"a\":  1\n}"},                                                                                                             // 5.1 indentation
	{`ConvertTo-Json @(1,2)`, "[\n    1,\n    2\n]"},                                                                                                               // array indentation
	{`@{} | ConvertTo-Json`, "{\n\n}"},                                                                                                                             // empty object
	{`[pscustomobject]@{a=@(1,2);b='x'} | ConvertTo-Json`, "{\n    \"a\":  [\n              1,\n              2\n          ],\n    \"b\":  \"x\"\n}"},              // nested array indentation
	{`Get-Foo -Uri 'HTTPS://Mail.Contoso.Test' | ConvertTo-Json -Compress`, `{"Url":"https://mail.contoso.test/","Services":12,"When":"\/Date(1798859045000)\/"}`}, // Uri as text, flags as number, DateTime
	{`$f = Get-Foo -Uri 'https://mail.contoso.test/owa'; $f.Url.AbsoluteUri; [string]$f.Services`, "https://mail.contoso.test/owa\nIIS, SMTP"},                     // Uri members, flags as text
	{`('{"a":1,"b":[1,2]}' | ConvertFrom-Json).b.Count`, `2`},                                                                                                      // ConvertFrom-Json arrays
	{`('{"a":"x"}' | ConvertFrom-Json).a`, `x`},                                                                                                                    // ConvertFrom-Json objects
	{`'[1,2,3]' | ConvertFrom-Json | Measure-Object | % Count`, `1`},                                                                                               // 5.1 writes a JSON array as one object
	{`'{"z":1,"a":2}' | ConvertFrom-Json | ConvertTo-Json -Compress`, `{"z":1,"a":2}`},                                                                             // round trip keeps order

	// --- admin one-liners on the fake Exchange cmdlets ---
	{`Get-Mailbox -ResultSize Unlimited | select alias | ConvertTo-Json -Compress`, `[{"Alias":"alice"},{"Alias":"bob"},{"Alias":"carol"}]`}, // select a property
	{`Get-Mailbox | Select-Object -ExpandProperty Alias`, "alice\nbob\ncarol"},                                                               // -ExpandProperty
	{`(Get-Mailbox).Count`, `3`},                                   // output collected into an array
	{`(Get-Mailbox -ResultSize 2).Count`, `2`},                     // -ResultSize number
	{`Get-Mailbox -Res Unlimited | Measure-Object | % Count`, `3`}, // unique prefix of a parameter
	{`$a = Get-Mailbox | select -ExpandProperty Alias; $b = @('alice','zed'); Compare-Object $a $b | where {$_.SideIndicator -eq "<="} | % { $_.InputObject }`, "bob\ncarol"},                        // compare two lists
	{`Compare-Object (Get-Mailbox) @([pscustomobject]@{Alias='bob'}) -Property Alias | % { $_.Alias + $_.SideIndicator }`, "alice<=\ncarol<="},                                                       // compare objects by property
	{`Get-Mailbox | foreach { $_.Alias.ToUpper() }`, "ALICE\nBOB\nCAROL"},                                                                                                                            // member access in foreach
	{`foreach ($m in Get-Mailbox) { "$($m.Alias):$($m.Guid)" }`, "alice:00000001-0000-4000-8000-000000000001\nbob:00000002-0000-4000-8000-000000000002\ncarol:00000003-0000-4000-8000-000000000003"}, // Guid in strings
	{`(Get-Mailbox bob).Guid.ToString()`, `00000002-0000-4000-8000-000000000002`},                                                                                                                    // positional Identity
	{`'alice','bob' | Get-Mailbox | % Name`, "Alice Smith\nBob O'Neil"},                                                                                                                              // pipeline by value
	{`[pscustomobject]@{Identity='carol'} | Get-Mailbox | % Alias`, `carol`},                                                                                                                         // pipeline by property name
	{`Get-Mailbox -Identity '00000001-0000-4000-8000-000000000001' | % Alias`, `alice`},                                                                                                              // identity by GUID text
	{`Get-Mailbox nosuch -ErrorAction SilentlyContinue; 'after'`, `after`},                                                                                                                           // non-terminating error silenced
	{`try { Get-Mailbox nosuch -ErrorAction Stop } catch { $_.Exception.Message }`, `The operation couldn't be performed because object 'nosuch' couldn't be found on 'dc01.contoso.test'.`},         // -ErrorAction Stop on a cmdlet error
	{`$m = Get-Mailbox nosuch -ErrorAction SilentlyContinue; @($m).Count`, `0`},                                                                                                                      // failed Get- gives an empty result
	{`Get-Mailbox | ? { $_.Name -like '*o*' } | % Alias`, "bob\ncarol"},                                                                                                                              // wildcard filter
	{`Get-Mailbox | Where-Object { $_.Name -match "‘Q’" } | % Alias`, `carol`},                                                                                                                       // Unicode quotes inside a double-quoted regex
	{`$p = @{Identity='alice'; Enabled=$true}; Set-Thing @p`, `id=alice;enabled=True`},                                                                                                               // splatting
	{`Set-Thing -Identity alice -Enabled:$false -Force:$false`, `id=alice;enabled=False;force=False`},                                                                                                // -Name:value
	{`Set-Thing alice -Count '7' -Url 'https://x.contoso.test/ews/exchange.asmx'`, `id=alice;count=7;url=https://x.contoso.test/ews/exchange.asmx`},                                                  // type conversion when binding
	{`Set-Thing alice -Services 'IIS, smtp'`, `id=alice;services=IIS, SMTP`},                                                                                                                         // flags enum binding
	{`Set-Thing alice -Services IIS,POP`, `id=alice;services=IIS, POP`},                                                                                                                              // enum array binding
	{`Get-Mailbox bob | Set-Thing -WhatIf`, `id=obj:bob;whatif=True`},                                                                                                                                // object piped into Identity
	{"$pw = [Console]::In.ReadLine(); Set-Thing alice -Password (ConvertTo-SecureString $pw -AsPlainText -Force)", `id=alice;password=s3cr'et`},                                                      // secrets from stdin
	{`Get-Foo -N 'x'`, `foo:x`},                 // abbreviation of -Name
	{`Get-Foo -name:'y'`, `foo:y`},              // case-insensitive -name:value
	{`$PSVersionTable; 'no table'`, `no table`}, // unknown variables are $null
}

func TestSemantics(t *testing.T) {
	if len(semanticsCases) < 150 {
		t.Fatalf("only %d cases", len(semanticsCases))
	}
	h := testHost(t, 3, nil, nil)
	for _, c := range semanticsCases {
		script := strings.ReplaceAll(c.script, "§", "`")
		r := run(h, script, "s3cr'et\nsecond\n")
		if got := norm(r.out); got != c.want || r.err != "" {
			t.Errorf("%s\n got: %q\nwant: %q\nstderr: %s", script, got, c.want, clixmlText(r.err, "Error"))
		}
	}
}
