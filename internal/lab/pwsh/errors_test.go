package pwsh

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
)

func TestUnknownParameterCLIXML(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	r := run(h, "Get-Foo -Bogus", "")
	want := "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
		`<S S="Error">Get-Foo : A parameter cannot be found that matches parameter name 'Bogus'._x000D__x000A_</S>` +
		`<S S="Error">At line:1 char:9_x000D__x000A_</S>` +
		`<S S="Error">+ Get-Foo -Bogus_x000D__x000A_</S>` +
		`<S S="Error">+         ~~~~~~_x000D__x000A_</S>` +
		`<S S="Error">    + CategoryInfo          : InvalidArgument: (:) [Get-Foo], ParameterBindingException_x000D__x000A_</S>` +
		`<S S="Error">    + FullyQualifiedErrorId : NamedParameterNotFound,Get-Foo_x000D__x000A_</S>` +
		`<S S="Error"> _x000D__x000A_</S></Objs>`
	if r.err != want {
		t.Errorf("stderr\n got: %q\nwant: %q", r.err, want)
	}
	if r.code != 1 || r.out != "" {
		t.Errorf("code %d out %q", r.code, r.out)
	}
}

func TestErrorTexts(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	cases := []struct {
		script string
		stderr []string // lines expected in the decoded error stream
		stdout string
		code   int
	}{
		{`Get-Mailbox -R 5`, []string{"Get-Mailbox : Parameter cannot be processed because the parameter name 'R' is ambiguous. Possible matches include: -ResultSize -RecipientTypeDetails.",
			"    + FullyQualifiedErrorId : AmbiguousParameter,Get-Mailbox"}, "", 1},
		{`Get-Mailbox -ResultSize abc`, []string{"Get-Mailbox : Cannot bind parameter 'ResultSize'. Cannot convert value \"abc\" to type \"Microsoft.Exchange.Data.Unlimited`1[System.UInt32]\". Error: \"Input string was not in a correct format.\""}, "", 1},
		{`Set-Thing alice -Count abc`, []string{"Set-Thing : Cannot bind parameter 'Count'. Cannot convert value \"abc\" to type \"System.Int32\". Error: \"Input string was not in a correct format.\"",
			"    + CategoryInfo          : InvalidArgument: (:) [Set-Thing], ParameterBindingException",
			"    + FullyQualifiedErrorId : CannotConvertArgumentNoMessage,Set-Thing"}, "", 1},
		{`Set-Thing alice -Enabled 'yes'`, []string{"Set-Thing : Cannot process argument transformation on parameter 'Enabled'. Cannot convert value \"System.String\" to type \"System.Boolean\". Boolean parameters accept only Boolean values and numbers, such as $True, $False, 1 or 0.",
			"    + CategoryInfo          : InvalidData: (:) [Set-Thing], ParameterBindingException"}, "", 1},
		{`Set-Thing -Enabled $true`, []string{"Set-Thing : Cannot process command because of one or more missing mandatory parameters: Identity.",
			"    + FullyQualifiedErrorId : MissingMandatoryParameter,Set-Thing"}, "", 1},
		{`Set-Thing -Identity $null`, []string{"Set-Thing : Cannot bind argument to parameter 'Identity' because it is null.",
			"    + CategoryInfo          : InvalidData: (:) [Set-Thing], ParameterBindingValidationException",
			"    + FullyQualifiedErrorId : ParameterArgumentValidationErrorNullNotAllowed,Set-Thing"}, "", 1},
		{`Set-Thing ''`, []string{"Set-Thing : Cannot bind argument to parameter 'Identity' because it is an empty string."}, "", 1},
		{`Get-Foo a b`, []string{"Get-Foo : A positional parameter cannot be found that accepts argument 'b'."}, "", 1},
		{`Get-Foo -Name`, []string{"Get-Foo : Missing an argument for parameter 'Name'. Specify a parameter of type 'System.String' and try again."}, "", 1},
		{`Set-Thing alice -Force -Force`, []string{"Set-Thing : Cannot bind parameter because parameter 'Force' is specified more than once. To provide multiple values to parameters that can accept multiple values, use the array syntax. For example, \"-parameter value1,value2,value3\"."}, "", 1},
		{`throw 'boom'`, []string{"boom", "At line:1 char:1", "+ throw 'boom'", "+ ~~~~~~~~~~~~",
			"    + CategoryInfo          : OperationStopped: (boom:String) [], RuntimeException", "    + FullyQualifiedErrorId : boom"}, "", 1},
		{"'one'\n  throw 'two'\n'three'", []string{"At line:2 char:3", "+   throw 'two'", "+   ~~~~~~~~~~~"}, "one", 1},
		{`$ErrorActionPreference = 'Stop'; Get-Mailbox nosuch; 'not reached'`, []string{"Get-Mailbox : The operation couldn't be performed because object 'nosuch' couldn't be found on 'dc01.contoso.test'.",
			"    + CategoryInfo          : NotSpecified: (nosuch:String) [Get-Mailbox], ManagementObjectNotFoundException",
			"    + FullyQualifiedErrorId : 7C5CBDB5,Get-Mailbox"}, "", 1},
		{`Get-Mailbox nosuch; 'after'`, []string{"Get-Mailbox : The operation couldn't be performed because object 'nosuch' couldn't be found on 'dc01.contoso.test'."}, "after", 0},
		{`Get-Mailbox nosuch`, []string{"At line:1 char:1", "+ Get-Mailbox nosuch", "+ ~~~~~~~~~~~~~~~~~~"}, "", 1},
		{`Get-Foo -Bogus; 'after'`, []string{"Get-Foo : A parameter cannot be found that matches parameter name 'Bogus'."}, "after", 0},
		{`$ErrorActionPreference = 'Stop'; Get-Foo -Bogus; 'after'`, []string{"Get-Foo : A parameter cannot be found that matches parameter name 'Bogus'."}, "", 1},
		{`Get-Foo -Fail; 'after'`, []string{"Get-Foo : Foo failed hard.", "    + CategoryInfo          : InvalidOperation: (:) [Get-Foo], InvalidOperationException",
			"    + FullyQualifiedErrorId : InvalidOperationException,Get-Foo"}, "after", 0},
		{`'x'; exit 7`, nil, "x", 7},
		{`Get-Nope`, []string{"Get-Nope : The term 'Get-Nope' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
			"    + CategoryInfo          : ObjectNotFound: (Get-Nope:String) [], CommandNotFoundException", "    + FullyQualifiedErrorId : CommandNotFoundException"}, "", 1},
		{`Get-ExchangeThing`, []string{"Get-ExchangeThing : The term 'Get-ExchangeThing' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."}, "", 1},
		{`Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; Get-ExchangeThing`, nil, "exchange", 0},
		{`Add-PSSnapin Nope.SnapIn`, []string{"Add-PSSnapin : The Windows PowerShell snap-in 'Nope.SnapIn' is not installed on this computer.",
			"    + CategoryInfo          : InvalidArgument: (Nope.SnapIn:String) [Add-PSSnapin], PSArgumentException"}, "", 1},
		{`'a'.NoSuch(); 'after'`, []string{"Method invocation failed because [System.String] does not contain a method named 'NoSuch'.",
			"    + CategoryInfo          : InvalidOperation: (:) [], RuntimeException", "    + FullyQualifiedErrorId : MethodNotFound"}, "after", 0},
		{`$true = 1`, []string{"Cannot overwrite variable true because it is read-only or constant."}, "", 1},
		{`Write-Warning 'careful'; 'ok'`, nil, "ok", 0},
	}
	for _, c := range cases {
		r := run(h, c.script, "")
		text := clixmlText(r.err, "Error")
		for _, l := range c.stderr {
			if !strings.Contains(text, l+"\n") {
				t.Errorf("%s: stderr lacks %q:\n%s", c.script, l, text)
			}
		}
		if len(c.stderr) == 0 && text != "" {
			t.Errorf("%s: unexpected error output:\n%s", c.script, text)
		}
		if norm(r.out) != c.stdout || r.code != c.code {
			t.Errorf("%s: got out %q code %d, want %q %d", c.script, norm(r.out), r.code, c.stdout, c.code)
		}
	}
}

func TestUnsupportedConstructs(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	cases := []struct{ script, msg string }{
		{`'before'; class Foo { }`, "The 'class' keyword is not supported in the exrunbook lab."},
		{`function f { 1 }`, "The 'function' keyword is not supported in the exrunbook lab."},
		{`switch (1) { 1 { 'a' } }`, "The 'switch' keyword is not supported in the exrunbook lab."},
		{`do { 1 } while ($false)`, "The 'do' keyword is not supported in the exrunbook lab."},
		{`param($x)`, "The 'param' keyword is not supported in the exrunbook lab."},
		{`trap { 'x' }`, "The 'trap' keyword is not supported in the exrunbook lab."},
		{`& 'Get-Foo'`, "The '&' call operator is not supported in the exrunbook lab."},
		{`. $x`, "The '.' call operator is not supported in the exrunbook lab."},
		{`'a' -replace 'a','b'`, "The '-replace' operator is not supported in the exrunbook lab."},
		{`'{0:N2}' -f 1`, "The format specifier ':N2' of the -f operator is not supported in the exrunbook lab."},
		{`"{0}$('!')" -f 1`, "The '-f' operator with a format string that is not a string literal is not supported in the exrunbook lab."},
		{`$f = '{0}'; $f -f 1`, "The '-f' operator with a format string that is not a string literal is not supported in the exrunbook lab."},
		{`1 | ForEach-Object { param($x) $x }`, "A param block outside a [regex]::Replace MatchEvaluator script block is not supported in the exrunbook lab."},
		{`[regex]::Replace('a', 'a', 'b')`, "[regex]::Replace other than with three arguments (input, pattern, a script block MatchEvaluator) is not supported in the exrunbook lab."},
		{`[regex]::Replace('a', 'a', { param([string]$m) $m })`, "A param block entry other than a plain $variable (types, attributes, default values) is not supported in the exrunbook lab."},
		{`[regex]::Replace('a', 'a', { param($m = 1) $m })`, "A param block entry other than a plain $variable (types, attributes, default values) is not supported in the exrunbook lab."},
		{`[regex]::Replace`, "[regex]::Replace other than with three arguments (input, pattern, a script block MatchEvaluator) is not supported in the exrunbook lab."},
		{`[regex]::Match('a', 'a')`, "The static member '[regex]::Match' is not supported in the exrunbook lab."},
		{`[regex]'a'`, "The type '[regex]' other than in [regex]::Replace is not supported in the exrunbook lab."},
		{`[char[]]'ab'`, "The type '[char[]]' is not supported in the exrunbook lab."},
		{`[xml]'<a/>'`, "The type '[xml]' is not supported in the exrunbook lab."},
		{`$env:PATH`, "The variable scope or drive 'env:' is not supported in the exrunbook lab."},
		{`'x' > out.txt`, "Output redirection is not supported in the exrunbook lab."},
		{`Get-Foo 2>&1`, "Output redirection is not supported in the exrunbook lab."},
		{`[IO.File]::ReadAllText('x')`, "The type '[IO.File]' is not supported in the exrunbook lab."},
		{`[Console]::WriteLine('x')`, "The static member '[console]::WriteLine' is not supported in the exrunbook lab."},
		{`$x -= 1`, "The '-=' operator is not supported in the exrunbook lab."},
		{`Get-Foo && 'x'`, "The token '&&' is not a valid statement separator in this version."},
		{`Get-Mailbox | Format-Table`, "The command 'Format-Table' is not supported in the exrunbook lab."},
		{`gci C:\`, "The command 'gci' is not supported in the exrunbook lab."},
		{`Invoke-Expression 'Get-Foo'`, "The command 'Invoke-Expression' is not supported in the exrunbook lab."},
		{`'unterminated`, "The string is missing the terminator: '."},
		{`if ($x) { 'a'`, "Missing closing '}' in statement block or type definition."},
		{`$(1 + 2`, "Missing closing ')' in subexpression."},
		{`$x = `, "You must provide a value expression following the '=' operator."},
		{`1..3`, "Unexpected token '..3' in expression or statement."},
		{`"$a:"`, "Variable reference is not valid. ':' was not followed by a valid variable name character. Consider using ${} to delimit the name."},
	}
	for _, c := range cases {
		r := run(h, c.script, "")
		text := clixmlText(r.err, "Error")
		if !strings.Contains(text, c.msg+"\n") || !strings.Contains(text, "    + CategoryInfo          : ParserError: (:) [], ParentContainsErrorRecordException\n") {
			t.Errorf("%s: want ParserError %q, got:\n%s", c.script, c.msg, text)
		}
		if r.out != "" || r.code != 1 {
			t.Errorf("%s: a rejected script must not run: out %q code %d", c.script, r.out, r.code)
		}
		if !strings.HasPrefix(text, "At line:") {
			t.Errorf("%s: parse errors start with the position: %q", c.script, text)
		}
	}
}

func TestResultSizeWarning(t *testing.T) {
	h := testHost(t, 1005, nil, nil)
	r := run(h, `(Get-Mailbox).Count`, "")
	if norm(r.out) != "1000" {
		t.Errorf("count %q", r.out)
	}
	if w := clixmlText(r.err, "warning"); w != resultSizeWarning+"\n" {
		t.Errorf("warning %q", w)
	}
	for _, script := range []string{`(Get-Mailbox -ResultSize Unlimited).Count`, `(Get-Mailbox -ResultSize unlimited -WarningAction SilentlyContinue).Count`} {
		r = run(h, script, "")
		if norm(r.out) != "1005" || r.err != "" {
			t.Errorf("%s: out %q err %q", script, r.out, r.err)
		}
	}
	r = run(h, `$WarningPreference = 'SilentlyContinue'; (Get-Mailbox).Count`, "")
	if norm(r.out) != "1000" || r.err != "" {
		t.Errorf("WarningPreference: out %q err %q", r.out, r.err)
	}
	r = run(h, `try { Get-Mailbox -WarningAction Stop | Out-Null } catch { 'stopped' }`, "")
	if norm(r.out) != "stopped" {
		t.Errorf("WarningAction Stop: out %q err %q", r.out, r.err)
	}
}

func TestStatsAndHostileValues(t *testing.T) {
	stats := &labstats.Counters{}
	stats.KeepCalls(10)
	h := testHost(t, 3, stats, nil)
	hostile := "a'$(Get-Foo)`;\"b\u2019c"
	quoted := "'" + strings.NewReplacer("'", "''", "\u2019", "\u2019\u2019").Replace(hostile) + "'"
	r := run(h, "Set-Thing -Identity "+quoted+" -Enabled $true; Get-Mailbox -ResultSize 1 | Out-Null", "")
	if r.code != 0 || !strings.Contains(r.out, "id="+hostile) {
		t.Fatalf("out %q err %q", r.out, clixmlText(r.err, "Error"))
	}
	calls := stats.Calls()
	if len(calls) != 3 {
		t.Fatalf("calls %+v", calls)
	}
	if calls[0].Cmdlet != "Set-Thing" || calls[0].Params["Identity"] != hostile || calls[0].Params["Enabled"] != "True" {
		t.Errorf("call 0 %+v", calls[0])
	}
	if calls[1].Cmdlet != "Get-Mailbox" || calls[1].Params["ResultSize"] != "1" || calls[2].Cmdlet != "Out-Null" {
		t.Errorf("calls %+v", calls[1:])
	}
	snap := stats.Snapshot()
	if snap.Cmdlets["Get-Foo"] != 0 || snap.Cmdlets["Set-Thing"] != 1 {
		t.Errorf("a value became code: %+v", snap.Cmdlets)
	}
}

func TestFaults(t *testing.T) {
	throttle := faults.New(faults.Spec{Throttle: map[string]float64{"get-mailbox": 1}})
	h := testHost(t, 3, nil, throttle)
	r := run(h, `try { Get-Mailbox -ErrorAction Stop } catch { $_.Exception.Message }`, "")
	want := `The user "CONTOSO\Administrator" has exceeded the throttling budget for PowerShell. Policy part: PowerShellMaxCmdlets; Policy value: 50; Budget type: PowerShell. Please wait and try again later.`
	if norm(r.out) != want {
		t.Errorf("throttle: %q", r.out)
	}
	r = run(h, `Get-Mailbox; 'after'`, "")
	if norm(r.out) != "after" || !strings.Contains(clixmlText(r.err, "Error"), "Get-Mailbox : "+want+"\n") {
		t.Errorf("throttle uncaught: out %q err %q", r.out, clixmlText(r.err, "Error"))
	}
	transient := faults.New(faults.Spec{Errors: map[string]float64{"set-thing": 1}})
	h = testHost(t, 3, nil, transient)
	r = run(h, `$ErrorActionPreference = 'Stop'; try { Set-Thing alice } catch { $_.Exception.Message }; Get-Foo x`, "")
	if norm(r.out) != transientMessage+"\nfoo:x" {
		t.Errorf("transient: %q", r.out)
	}
}

func TestRunCommandLine(t *testing.T) {
	stats := &labstats.Counters{}
	h := testHost(t, 3, stats, nil)
	script := "$ProgressPreference = 'SilentlyContinue'; $pw = [Console]::In.ReadLine(); $second = [Console]::In.ReadLine(); \"$pw|$second|$([Console]::In.ReadLine() -eq $null)\"; Get-Mailbox alice | % Name"
	enc := EncodeCommand(script)
	if dec, err := DecodeCommand(enc); err != nil || dec != script {
		t.Fatalf("round trip %q %v", dec, err)
	}
	cases := []struct {
		cmd   string
		args  []string
		stdin string
		out   string
		err   string
		code  int
	}{
		{"powershell.exe -EncodedCommand " + enc, nil, "p'w\r\nline2\n", "p'w|line2|True\nAlice Smith", "", 0},
		{"powershell -encodedcommand " + enc, nil, "a\n", "a||True\nAlice Smith", "", 0},
		{`C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe`, []string{"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-enc", enc}, "x\ny\n", "x|y|True\nAlice Smith", "", 0},
		{"powershell", []string{"-e", EncodeCommand("exit 4")}, "", "", "", 4},
		{`powershell -NoProfile -Command "'a' + 'b'"`, nil, "", "ab", "", 0},
		{"powershell -EncodedCommand !!!", nil, "", "", "Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n", 1},
		{"cmd.exe /c dir", nil, "", "", "'cmd.exe' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1},
		{"pwsh", []string{"-c", "1"}, "", "", "'pwsh' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := h.RunCommandLine(context.Background(), c.cmd, c.args, strings.NewReader(c.stdin), &out, &errb)
		if norm(out.String()) != c.out || errb.String() != c.err || code != c.code {
			t.Errorf("%s %v: out %q err %q code %d", c.cmd, c.args, out.String(), errb.String(), code)
		}
	}
	if got := stats.PowerShellLaunches.Load(); got != 6 {
		t.Errorf("launches %d, want 6", got)
	}
}

func TestInputVariable(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	r := run(h, `$lines = @($input); $lines.Count; $lines[1]`, "l1\nl2\n")
	if norm(r.out) != "2\nl2" {
		t.Errorf("$input: %q", r.out)
	}
}

func TestSplitCommandLine(t *testing.T) {
	cases := map[string][]string{
		`powershell -Command "a b"`:        {"powershell", "-Command", "a b"},
		`a "b \"c\" d" e`:                  {"a", `b "c" d`, "e"},
		`a\\b "c\\" d`:                     {`a\\b`, `c\`, "d"},
		"  x\t y ":                         {"x", "y"},
		`"C:\Program Files\x.exe" -e abc=`: {`C:\Program Files\x.exe`, "-e", "abc="},
	}
	for in, want := range cases {
		got := SplitCommandLine(in)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q want %q", in, got, want)
		}
	}
}

func TestCancellation(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	code := h.RunScript(ctx, `while ($true) { }`, nil, &out, &errb)
	if code != 1 || !strings.Contains(clixmlText(errb.String(), "Error"), "The pipeline has been stopped.") {
		t.Errorf("code %d err %q", code, errb.String())
	}
}

// TestWriteErrorCLIXML matches what powershell.exe 5.1 writes for a script's
// Write-Error: the script text, " : ", the message, and no position lines.
func TestWriteErrorCLIXML(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	r := run(h, "Write-Error 'plain error test'", "")
	want := "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">" +
		`<S S="Error">Write-Error 'plain error test' : plain error test_x000D__x000A_</S>` +
		`<S S="Error">    + CategoryInfo          : NotSpecified: (:) [Write-Error], WriteErrorException_x000D__x000A_</S>` +
		`<S S="Error">    + FullyQualifiedErrorId : Microsoft.PowerShell.Commands.WriteErrorException_x000D__x000A_</S>` +
		`<S S="Error"> _x000D__x000A_</S></Objs>`
	if r.err != want || r.code != 1 {
		t.Errorf("code %d stderr\n got: %q\nwant: %q", r.code, r.err, want)
	}
	r = run(h, "$ProgressPreference = 'SilentlyContinue'\r\nWrite-Error 'not <there> & gone_x'\r\nexit 3", "")
	want = `<S S="Error">$ProgressPreference = 'SilentlyContinue'_x000D__x000A_</S><S S="Error">Write-Error 'not &lt;there&gt; &amp; gone_x005F_x'_x000D__x000A_</S><S S="Error">exit 3 : not &lt;there&gt; &amp; gone_x005F_x_x000D__x000A_</S>`
	if !strings.Contains(r.err, want) || r.code != 3 {
		t.Errorf("code %d stderr %q", r.code, r.err)
	}
}

func TestFirstUseProgress(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	h.opts.FirstUseProgress = true
	r := run(h, `Get-Foo x`, "")
	if norm(r.out) != "foo:x" || r.err != "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">"+firstUseProgressXML+"</Objs>" {
		t.Errorf("out %q err %q", r.out, r.err)
	}
	r = run(h, `$ProgressPreference = 'SilentlyContinue'; Get-Foo x; Get-Foo y`, "")
	if r.err != "" || norm(r.out) != "foo:x\nfoo:y" {
		t.Errorf("silenced: out %q err %q", r.out, r.err)
	}
}

func TestCodePage(t *testing.T) {
	h := testHost(t, 3, nil, nil)
	h.opts.CodePage = 437
	r := run(h, `"é ü ‘q’ ł"`, "")
	if r.out != "\x82 \x81 ?q? ?\r\n" {
		t.Errorf("cp437 output %q", r.out)
	}
}
