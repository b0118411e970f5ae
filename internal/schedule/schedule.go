// Package schedule renders the definitions that run a command
// periodically: a systemd service with its timer, or a Windows Task
// Scheduler task. `exrunbook enforce --print-schedule` prints them. Secrets
// never appear in them: the command reads them from files (the config's
// *_file keys, or systemd credentials).
package schedule

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// DefaultInterval is how often the job runs when Job.Interval is zero.
const DefaultInterval = 15 * time.Minute

// Job is one command to run on a schedule.
type Job struct {
	// Name names the unit or task, e.g. "exrunbook-enforce".
	Name        string
	Description string
	// Executable is the absolute path of the program; Args its arguments.
	Executable string
	Args       []string
	// StateDir is the one directory the job writes (systemd:
	// ReadWritePaths under ProtectSystem=strict).
	StateDir string
	// WorkingDir is where the job runs (optional).
	WorkingDir string
	// Interval between runs (default 15 min); whole minutes.
	Interval time.Duration
	// User runs the job (systemd User=, Task Scheduler UserId); empty:
	// systemd's default (root) and, on Windows, a placeholder the
	// administrator replaces.
	User string
	// Credentials are secrets the program reads from files, handed over
	// as systemd credentials.
	Credentials []Credential
}

// Credential is a secret file handed to the job: systemd copies Path into
// the job's credentials directory as Name, and the job finds it through
// the environment variable FileEnv (e.g. EXRUNBOOK_EXCHANGE_PASSWORD_FILE).
type Credential struct {
	Name    string
	Path    string
	FileEnv string
}

func (j Job) interval() (time.Duration, error) {
	iv := j.Interval
	if iv == 0 {
		iv = DefaultInterval
	}
	if iv < time.Minute || iv%time.Minute != 0 || iv > 24*time.Hour {
		return 0, fmt.Errorf("schedule: interval %s: expected whole minutes between 1m and 24h", iv)
	}
	return iv, nil
}

func (j Job) check() error {
	switch {
	case j.Name == "" || strings.ContainsAny(j.Name, "/\\ \t\n\"'%$"):
		return fmt.Errorf("schedule: name %q: expected a plain unit name such as exrunbook-enforce", j.Name)
	case j.Executable == "":
		return errors.New("schedule: no executable")
	}
	for _, c := range j.Credentials {
		if c.Name == "" || strings.ContainsAny(c.Name, ":/ \t\n%") || c.Path == "" || !envName(c.FileEnv) {
			return fmt.Errorf("schedule: credential %+v: expected a name, a path and an environment variable", c)
		}
	}
	return nil
}

// envName accepts an environment variable name: A-Z, 0-9 and _.
func envName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// onCalendar turns an interval into a systemd calendar expression.
func onCalendar(iv time.Duration) string {
	m := int(iv / time.Minute)
	switch {
	case m < 60 && 60%m == 0:
		return fmt.Sprintf("*:0/%d", m)
	case m%60 == 0 && 24%(m/60) == 0:
		return fmt.Sprintf("0/%d:00", m/60)
	}
	return ""
}

// Systemd renders NAME.service and NAME.timer, each headed by the path
// it belongs in. The service is a hardened oneshot that may write only
// the state directory; the timer runs it every interval and catches up
// a run missed while the machine was off (Persistent=true).
func Systemd(j Job) (string, error) {
	if err := j.check(); err != nil {
		return "", err
	}
	iv, err := j.interval()
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(j.Executable) {
		return "", fmt.Errorf("schedule: executable %q: systemd needs an absolute path", j.Executable)
	}
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# /etc/systemd/system/%s.service", j.Name)
	w("[Unit]")
	w("Description=%s", systemdText(j.Description))
	w("Wants=network-online.target")
	w("After=network-online.target")
	w("")
	w("[Service]")
	w("Type=oneshot")
	if j.User != "" {
		w("User=%s", systemdText(j.User))
	}
	cmd := make([]string, 0, len(j.Args)+1)
	for _, a := range append([]string{j.Executable}, j.Args...) {
		cmd = append(cmd, SystemdQuote(a))
	}
	w("ExecStart=%s", strings.Join(cmd, " "))
	if j.WorkingDir != "" {
		w("WorkingDirectory=%s", SystemdQuote(j.WorkingDir))
	}
	for _, c := range j.Credentials {
		w("# %s is read from %s (mode 0600, owned by root); systemd hands it over, never the command line", c.Name, c.Path)
		w("LoadCredential=%s:%s", c.Name, systemdText(c.Path))
		w("Environment=%s=%%d/%s", c.FileEnv, c.Name) // %d: the credentials directory
	}
	w("UMask=0077")
	w("NoNewPrivileges=true")
	w("ProtectSystem=strict")
	if j.StateDir != "" {
		w("ReadWritePaths=%s", SystemdQuote(j.StateDir))
	}
	w("ProtectHome=read-only")
	w("PrivateTmp=true")
	w("PrivateDevices=true")
	w("ProtectKernelTunables=true")
	w("ProtectKernelModules=true")
	w("ProtectControlGroups=true")
	w("RestrictSUIDSGID=true")
	w("LockPersonality=true")
	w("RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX")
	w("CapabilityBoundingSet=")
	w("")
	w("# /etc/systemd/system/%s.timer", j.Name)
	w("[Unit]")
	w("Description=%s every %s", systemdText(j.Description), iv)
	w("")
	w("[Timer]")
	if cal := onCalendar(iv); cal != "" {
		w("OnCalendar=%s", cal)
	} else {
		w("OnBootSec=%dmin", int(iv/time.Minute))
		w("OnUnitActiveSec=%dmin", int(iv/time.Minute))
	}
	w("Persistent=true")
	w("RandomizedDelaySec=30s")
	w("Unit=%s.service", j.Name)
	w("")
	w("[Install]")
	w("WantedBy=timers.target")
	w("")
	w("# enable with: systemctl daemon-reload && systemctl enable --now %s.timer", j.Name)
	return b.String(), nil
}

// systemdText makes free text safe on one unit-file line: no line breaks,
// and % (a specifier) doubled.
func systemdText(s string) string {
	s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	return strings.ReplaceAll(s, "%", "%%")
}

// SystemdQuote quotes one word of an ExecStart= or Environment= line:
// double quotes with C-style escapes when needed, % doubled (specifiers)
// and $ doubled (variable expansion), so that systemd passes exactly s.
func SystemdQuote(s string) string {
	var b strings.Builder
	needQuotes := s == ""
	for _, r := range s {
		switch r {
		case ' ', '\t', '\'', ';':
			needQuotes = true
			b.WriteRune(r)
		case '"':
			needQuotes = true
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			needQuotes = true
			b.WriteString(`\n`)
		case '\r':
			needQuotes = true
			b.WriteString(`\r`)
		case '%':
			b.WriteString("%%")
		case '$':
			b.WriteString("$$")
		default:
			b.WriteRune(r)
		}
	}
	if needQuotes {
		return `"` + b.String() + `"`
	}
	return b.String()
}

// WindowsQuote quotes one argument so that CommandLineToArgvW (and the
// Go and C runtimes) read back exactly s.
func WindowsQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n\v\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, 2*slashes+1))
			b.WriteByte('"')
			slashes = 0
			continue
		default:
			b.WriteString(strings.Repeat(`\`, slashes))
			slashes = 0
			b.WriteByte(c)
			continue
		}
	}
	b.WriteString(strings.Repeat(`\`, 2*slashes))
	b.WriteByte('"')
	return b.String()
}

// The Task Scheduler schema (version 1.2, Windows 7 / Server 2008 R2 on).
type task struct {
	XMLName   xml.Name     `xml:"Task"`
	Version   string       `xml:"version,attr"`
	Xmlns     string       `xml:"xmlns,attr"`
	Info      taskInfo     `xml:"RegistrationInfo"`
	Triggers  taskTriggers `xml:"Triggers"`
	Principal taskPrincs   `xml:"Principals"`
	Settings  taskSettings `xml:"Settings"`
	Actions   taskActions  `xml:"Actions"`
}

type taskInfo struct {
	Description string `xml:"Description"`
	URI         string `xml:"URI"`
}

type taskTriggers struct {
	TimeTrigger timeTrigger `xml:"TimeTrigger"`
}

// timeTrigger's elements are a sequence in the schema: in this order.
type timeTrigger struct {
	Enabled       bool       `xml:"Enabled"`
	StartBoundary string     `xml:"StartBoundary"`
	Repetition    repetition `xml:"Repetition"`
}

type repetition struct {
	Interval          string `xml:"Interval"`
	StopAtDurationEnd bool   `xml:"StopAtDurationEnd"`
}

type taskPrincs struct {
	Principal taskPrincipal `xml:"Principal"`
}

type taskPrincipal struct {
	ID        string `xml:"id,attr"`
	UserID    string `xml:"UserId"`
	LogonType string `xml:"LogonType"`
	RunLevel  string `xml:"RunLevel"`
}

type taskSettings struct {
	MultipleInstancesPolicy    string `xml:"MultipleInstancesPolicy"`
	DisallowStartIfOnBatteries bool   `xml:"DisallowStartIfOnBatteries"`
	StopIfGoingOnBatteries     bool   `xml:"StopIfGoingOnBatteries"`
	StartWhenAvailable         bool   `xml:"StartWhenAvailable"`
	RunOnlyIfNetworkAvailable  bool   `xml:"RunOnlyIfNetworkAvailable"`
	ExecutionTimeLimit         string `xml:"ExecutionTimeLimit"`
	Enabled                    bool   `xml:"Enabled"`
}

type taskActions struct {
	Context string   `xml:"Context,attr"`
	Exec    taskExec `xml:"Exec"`
}

type taskExec struct {
	Command          string `xml:"Command"`
	Arguments        string `xml:"Arguments"`
	WorkingDirectory string `xml:"WorkingDirectory,omitempty"`
}

// windowsStart is the first run's boundary: a fixed past instant, so that
// the output does not depend on when it was printed.
const windowsStart = "2025-01-01T00:00:00"

// Windows renders a Task Scheduler task: a time trigger repeating every
// interval indefinitely, one Exec action, running as a service account
// with a stored password (LogonType Password: S4U cannot reach the
// network with the account's credentials), least privilege, never two
// runs at once. Import it with
// Register-ScheduledTask -TaskName NAME -Xml (Get-Content -Raw FILE) -User U -Password P.
func Windows(j Job) (string, error) {
	if err := j.check(); err != nil {
		return "", err
	}
	iv, err := j.interval()
	if err != nil {
		return "", err
	}
	args := make([]string, len(j.Args))
	for i, a := range j.Args {
		args[i] = WindowsQuote(a)
	}
	user := j.User
	if user == "" {
		user = `CONTOSO\svc-exrunbook`
	}
	t := task{
		Version: "1.2", Xmlns: "http://schemas.microsoft.com/windows/2004/02/mit/task",
		Info:      taskInfo{Description: j.Description, URI: `\` + j.Name},
		Triggers:  taskTriggers{TimeTrigger: timeTrigger{Repetition: repetition{Interval: fmt.Sprintf("PT%dM", int(iv/time.Minute))}, StartBoundary: windowsStart, Enabled: true}},
		Principal: taskPrincs{Principal: taskPrincipal{ID: "Author", UserID: user, LogonType: "Password", RunLevel: "LeastPrivilege"}},
		Settings: taskSettings{MultipleInstancesPolicy: "IgnoreNew", StartWhenAvailable: true, RunOnlyIfNetworkAvailable: true,
			ExecutionTimeLimit: "PT1H", Enabled: true},
		Actions: taskActions{Context: "Author", Exec: taskExec{Command: j.Executable, Arguments: strings.Join(args, " "), WorkingDirectory: j.WorkingDir}},
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	for _, c := range j.Credentials {
		fmt.Fprintf(&b, "<!-- %s: set the config's *_file key to a file only the task's account can read (Task Scheduler has no credential store for it) -->\n", xmlComment(c.Name))
	}
	fmt.Fprintf(&b, "<!-- import: Register-ScheduledTask -TaskName %s -Xml (Get-Content -Raw %s.xml) -User %s -Password <the account's password> -->\n", xmlComment(j.Name), xmlComment(j.Name), xmlComment(user))
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(t); err != nil {
		return "", fmt.Errorf("schedule: %w", err)
	}
	b.WriteByte('\n')
	return b.String(), nil
}

func xmlComment(s string) string { return strings.ReplaceAll(s, "--", "- -") }
