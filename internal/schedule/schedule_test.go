package schedule

import (
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/schedule -update)", err)
	}
	if string(want) != got {
		t.Fatalf("differs from %s (run with -update if intended):\n%s", path, got)
	}
}

func enforceJob() Job {
	return Job{
		Name: "exrunbook-enforce", Description: "exrunbook enforce: keep external Outlook blocked outside AllowExternalAccess",
		Executable: "/usr/local/bin/exrunbook",
		Args:       []string{"enforce", "--config", "/etc/exrunbook/exrunbook.yaml", "--state-dir", "/var/lib/exrunbook state", "--max-changes", "50"},
		StateDir:   "/var/lib/exrunbook state", WorkingDir: "/etc/exrunbook",
		Credentials: []Credential{{Name: "exchange-password", Path: "/etc/exrunbook/exchange.password", FileEnv: "EXRUNBOOK_EXCHANGE_PASSWORD_FILE"}},
	}
}

func TestSystemdGolden(t *testing.T) {
	got, err := Systemd(enforceJob())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"OnCalendar=*:0/15", "Persistent=true", "NoNewPrivileges=true", "ProtectSystem=strict",
		`ReadWritePaths="/var/lib/exrunbook state"`, "PrivateTmp=true", "LoadCredential=exchange-password:/etc/exrunbook/exchange.password",
		"Environment=EXRUNBOOK_EXCHANGE_PASSWORD_FILE=%d/exchange-password", `--state-dir "/var/lib/exrunbook state"`} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q", want)
		}
	}
	golden(t, "enforce.systemd.golden", got)
}

func TestWindowsGolden(t *testing.T) {
	j := enforceJob()
	j.Executable = `C:\Program Files\exrunbook\exrunbook.exe`
	j.Args = []string{"enforce", "--config", `C:\ProgramData\exrunbook\exrunbook.yaml`, "--state-dir", `C:\ProgramData\exrunbook\state dir\`}
	j.WorkingDir = `C:\ProgramData\exrunbook`
	got, err := Windows(j)
	if err != nil {
		t.Fatal(err)
	}
	// It is well-formed XML carrying the trigger, action and principal.
	var parsed task
	if err := xml.Unmarshal([]byte(got), &parsed); err != nil {
		t.Fatalf("not XML: %v\n%s", err, got)
	}
	if parsed.Triggers.TimeTrigger.Repetition.Interval != "PT15M" || parsed.Principal.Principal.LogonType != "Password" ||
		parsed.Principal.Principal.RunLevel != "LeastPrivilege" || parsed.Actions.Exec.Command != j.Executable ||
		parsed.Settings.MultipleInstancesPolicy != "IgnoreNew" {
		t.Fatalf("parsed %+v", parsed)
	}
	if args := parseWindowsArgs(parsed.Actions.Exec.Arguments); strings.Join(args, "\x00") != strings.Join(j.Args, "\x00") {
		t.Fatalf("arguments read back as %q", args)
	}
	golden(t, "enforce.windows.golden", got)
}

func TestIntervalsAndRefusals(t *testing.T) {
	cases := []struct {
		iv   time.Duration
		want string
	}{
		{15 * time.Minute, "OnCalendar=*:0/15"},
		{time.Minute, "OnCalendar=*:0/1"},
		{2 * time.Hour, "OnCalendar=0/2:00"},
		{7 * time.Minute, "OnUnitActiveSec=7min"},
	}
	for _, tc := range cases {
		j := enforceJob()
		j.Interval = tc.iv
		got, err := Systemd(j)
		if err != nil || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %v, lacks %q", tc.iv, err, tc.want)
		}
	}
	bad := []func(*Job){
		func(j *Job) { j.Interval = 30 * time.Second },
		func(j *Job) { j.Interval = 90 * time.Second },
		func(j *Job) { j.Name = "a b" },
		func(j *Job) { j.Executable = "" },
		func(j *Job) { j.Executable = "exrunbook" },
		func(j *Job) { j.Credentials[0].FileEnv = "X=1" },
		func(j *Job) { j.Credentials[0].Name = "a:b" },
	}
	for i, mut := range bad {
		j := enforceJob()
		mut(&j)
		if _, err := Systemd(j); err == nil {
			t.Errorf("case %d accepted", i)
		}
	}
}

func TestQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"plain":         "plain",
		"a b":           `"a b"`,
		"":              `""`,
		`say "hi"`:      `"say \"hi\""`,
		"100%":          "100%%",
		"$HOME":         "$$HOME",
		`C:\dir`:        `C:\\dir`,
		"line\nbreak":   `"line\nbreak"`,
		"o'brien; rm x": `"o'brien; rm x"`,
	} {
		if got := SystemdQuote(in); got != want {
			t.Errorf("SystemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"plain":        "plain",
		"a b":          `"a b"`,
		"":             `""`,
		`a"b`:          `"a\"b"`,
		`C:\dir\`:      `C:\dir\`,
		`C:\my dir\`:   `"C:\my dir\\"`,
		`back\\"quote`: `"back\\\\\"quote"`,
		`x\y z`:        `"x\y z"`,
	} {
		if got := WindowsQuote(in); got != want {
			t.Errorf("WindowsQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// parseWindowsArgs splits a command line as CommandLineToArgvW does (for
// arguments after the program name).
func parseWindowsArgs(s string) []string {
	var out []string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return out
		}
		var b strings.Builder
		inQuotes := false
		for i < len(s) {
			c := s[i]
			if (c == ' ' || c == '\t') && !inQuotes {
				break
			}
			if c == '\\' {
				n := 0
				for i < len(s) && s[i] == '\\' {
					n++
					i++
				}
				if i < len(s) && s[i] == '"' {
					b.WriteString(strings.Repeat(`\`, n/2))
					if n%2 == 1 {
						b.WriteByte('"')
						i++
					}
					continue
				}
				b.WriteString(strings.Repeat(`\`, n))
				continue
			}
			if c == '"' {
				if inQuotes && i+1 < len(s) && s[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				inQuotes = !inQuotes
				i++
				continue
			}
			b.WriteByte(c)
			i++
		}
		out = append(out, b.String())
	}
}

// unquoteSystemd reads one word as systemd does (C escapes, quotes, %%
// and $$), or reports that it would split into several words.
func unquoteSystemd(s string) (string, bool) {
	var b strings.Builder
	i := 0
	quoted := strings.HasPrefix(s, `"`)
	if quoted {
		if len(s) < 2 || !strings.HasSuffix(s, `"`) {
			return "", false
		}
		s = s[1 : len(s)-1]
	}
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			switch s[i+1] {
			case '\\':
				b.WriteByte('\\')
			case '"':
				b.WriteByte('"')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				return "", false
			}
			i += 2
		case c == '\\', c == '"' && !quoted:
			return "", false
		case c == '"':
			return "", false // an unescaped quote inside
		case (c == '%' || c == '$') && i+1 < len(s) && s[i+1] == c:
			b.WriteByte(c)
			i += 2
		case c == '%' || c == '$':
			return "", false // a specifier or variable
		case !quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\''):
			return "", false
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), true
}

func FuzzSystemdQuote(f *testing.F) {
	for _, s := range []string{"", "a b", `"q"`, "100%", "$x", `\`, "o'b;c", "tab\there", "ünï"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return
		}
		q := SystemdQuote(s)
		got, ok := unquoteSystemd(q)
		if !ok || got != s {
			t.Fatalf("%q quoted as %s reads back as %q (ok %v)", s, q, got, ok)
		}
	})
}

func FuzzWindowsQuote(f *testing.F) {
	for _, s := range []string{"", "a b", `a"b`, `C:\x\`, `C:\a b\`, `\\"`, "\t"} {
		f.Add(s, "second")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		line := WindowsQuote(a) + " " + WindowsQuote(b)
		got := parseWindowsArgs(line)
		if len(got) != 2 || got[0] != a || got[1] != b {
			t.Fatalf("%q %q → %s → %q", a, b, line, got)
		}
	})
}

// systemd's own checker accepts the units, when it is installed.
func TestSystemdAnalyzeVerify(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	j := enforceJob()
	j.Executable = "/bin/true"
	text, err := Systemd(j)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	service, timer, ok := strings.Cut(text, "# /etc/systemd/system/exrunbook-enforce.timer\n")
	if !ok {
		t.Fatalf("no timer section:\n%s", text)
	}
	sp, tp := filepath.Join(dir, "exrunbook-enforce.service"), filepath.Join(dir, "exrunbook-enforce.timer")
	if err := os.WriteFile(sp, []byte(service), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tp, []byte(timer), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", sp, tp).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
