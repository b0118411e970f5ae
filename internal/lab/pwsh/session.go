package pwsh

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// psThrow carries a terminating error up the Go call stack.
type psThrow struct {
	rec *ErrorRecord
	// script terminates the whole script when uncaught (throw, -ErrorAction
	// Stop); otherwise only the statement ends.
	script bool
}

func (t *psThrow) Error() string { return t.rec.Err.Message }

// Control flow signals.
type (
	breakSignal    struct{}
	continueSignal struct{}
	returnSignal   struct{}
	exitSignal     struct{ code int }
	stopUpstream   struct{ stage *cmdStage }
)

func (breakSignal) Error() string    { return "break" }
func (continueSignal) Error() string { return "continue" }
func (returnSignal) Error() string   { return "return" }
func (e exitSignal) Error() string   { return fmt.Sprintf("exit %d", e.code) }
func (stopUpstream) Error() string   { return "pipeline stopped" }

type variable struct {
	v     Value
	empty bool // AutomationNull: the result of a command that wrote nothing
}

// session is one runspace: one script run.
type session struct {
	host     *Host
	ctx      context.Context
	stdinRaw io.Reader
	stdin    *bufio.Reader
	out      *bufio.Writer
	errw     io.Writer
	clixml   bool
	vars     map[string]*variable
	snapins  map[string]bool
	lastOK   bool
	dollarQ  bool // $?: the status of the previous statement
	tryDepth int
	errors   []Value
	script   string // the script text (Write-Error's records name it)
	progress bool   // the first-use progress record was considered
	// pipelineInput is $_ for script blocks.
	dollarBar    Value
	hasDollarBar bool
	// inherited is the parent scope's variables while a child scope (a
	// delegate script block) runs in vars, a copy of them.
	inherited map[string]*variable
	// user is the account the session runs as (HostOptions.User, or
	// PipelineOptions.User for a command-list pipeline).
	user string
	// remote marks a command-list pipeline (Host.RunPipeline): a remote
	// runspace whose client host cannot prompt, whose error and warning
	// records go to errSink and warnSink instead of stderr.
	remote   bool
	errSink  func(*ErrorRecord) error
	warnSink func(string) error
	// runspace is the runspace's state (Call.Runspace).
	runspace *RunspaceState
}

func newSession(h *Host, ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) *session {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	s := &session{host: h, ctx: ctx, stdinRaw: stdin, out: bufio.NewWriterSize(stdout, 64<<10), errw: stderr,
		vars: map[string]*variable{}, snapins: map[string]bool{}, lastOK: true, dollarQ: true, user: h.opts.User,
		runspace: &RunspaceState{}}
	s.vars["erroractionpreference"] = &variable{v: "Continue"}
	s.vars["warningpreference"] = &variable{v: "Continue"}
	s.vars["progresspreference"] = &variable{v: "Continue"}
	s.vars["verbosepreference"] = &variable{v: "SilentlyContinue"}
	s.vars["ofs"] = &variable{v: " "}
	return s
}

func (s *session) stdinReader() *bufio.Reader {
	if s.stdin == nil {
		s.stdin = bufio.NewReader(s.stdinRaw)
	}
	return s.stdin
}

// readLine is [Console]::In.ReadLine(): one line without its terminator, $null at end of input.
func (s *session) readLine() Value {
	r := s.stdinReader()
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return nil
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	return line
}

func (s *session) eap() actionPref {
	v := s.getVar("ErrorActionPreference")
	ap, err := parseActionPref(v)
	if err != nil {
		return prefContinue
	}
	return ap
}

func (s *session) wap() actionPref {
	ap, err := parseActionPref(s.getVar("WarningPreference"))
	if err != nil {
		return prefContinue
	}
	return ap
}

func (s *session) getVar(name string) Value {
	if v, ok := s.vars[strings.ToLower(name)]; ok {
		return v.v
	}
	return nil
}

func (s *session) appendVar(name string, v Value) {
	name = strings.TrimPrefix(name, "+")
	key := strings.ToLower(name)
	cur, ok := s.vars[key]
	if !ok || cur.v == nil {
		s.vars[key] = &variable{v: &List{Items: []Value{v}}}
		return
	}
	if l, ok := cur.v.(*List); ok {
		if s.inherited[key] == cur {
			// the parent's variable: += makes a new local one
			s.vars[key] = &variable{v: &List{Items: append(append([]Value(nil), l.Items...), v)}}
			return
		}
		l.Items = append(l.Items, v)
		return
	}
	s.vars[key] = &variable{v: &List{Items: []Value{cur.v, v}}}
}

// nonTerminating handles a non-terminating error according to the action preference.
func (s *session) nonTerminating(rec *ErrorRecord, ap actionPref, inv *invocation) error {
	if inv != nil {
		inv.hadError = true
		if inv.errVar != "" {
			s.appendVar(inv.errVar, rec)
		}
	}
	s.lastOK = false
	switch ap {
	case prefIgnore:
		return nil
	case prefStop:
		return &psThrow{rec: rec, script: true}
	case prefSilentlyContinue:
		s.recordError(rec)
		return nil
	}
	s.recordError(rec)
	if s.errSink != nil {
		return s.errSink(rec)
	}
	s.writeErrorRecord(rec)
	return nil
}

func (s *session) recordError(rec *ErrorRecord) {
	s.errors = append([]Value{rec}, s.errors...)
	if len(s.errors) > 256 {
		s.errors = s.errors[:256]
	}
}

func (s *session) startCLIXML() {
	if s.clixml {
		return
	}
	s.clixml = true
	io.WriteString(s.errw, "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">")
}

func (s *session) finishCLIXML() {
	if s.clixml {
		io.WriteString(s.errw, "</Objs>")
	}
}

// errorLines renders an error record as PowerShell's default error view.
func errorLines(rec *ErrorRecord) []string {
	var lines []string
	msg := rec.Err.Message
	head := msg
	if rec.Command != "" {
		head = rec.Command + " : " + msg
	}
	pos := []string{}
	if rec.Line > 0 {
		pos = append(pos, fmt.Sprintf("At line:%d char:%d", rec.Line, rec.Column))
		lt := strings.TrimRight(rec.LineText, "\r")
		pos = append(pos, "+ "+lt)
		width := rec.posExt.end - rec.posExt.start
		lineRunes := []rune(lt)
		if rec.Column-1+width > len(lineRunes) {
			width = len(lineRunes) - (rec.Column - 1)
		}
		if width < 1 {
			width = 1
		}
		pos = append(pos, "+ "+strings.Repeat(" ", rec.Column-1)+strings.Repeat("~", width))
	}
	if rec.parseError {
		lines = append(lines, pos...)
		lines = append(lines, strings.Split(msg, "\n")...)
	} else {
		lines = append(lines, strings.Split(head, "\n")...)
		lines = append(lines, pos...)
	}
	lines = append(lines, "    + CategoryInfo          : "+categoryInfo(rec))
	lines = append(lines, "    + FullyQualifiedErrorId : "+rec.FullyQualifiedErrorId)
	lines = append(lines, " ")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], "\r")
	}
	return lines
}

func categoryInfo(rec *ErrorRecord) string {
	if rec.parseError {
		return "ParserError: (:) [], ParentContainsErrorRecordException"
	}
	tn, tt := "", ""
	if t := rec.Err.TargetObject; t != nil {
		tn = ToString(t)
		tt = shortType(typeOfName(t))
		if utf8.RuneCountInString(tn) > 40 {
			r := []rune(tn)
			tn = string(r[:37]) + "..."
		}
	}
	act := rec.Command
	if rec.activity != "" {
		act = rec.activity
	}
	if rec.noActivity {
		act = ""
	}
	if act != "" {
		act = "[" + act + "]"
	} else {
		act = "[]"
	}
	return fmt.Sprintf("%s: (%s:%s) %s, %s", rec.Err.Category, tn, tt, act, shortType(rec.Err.exceptionType()))
}

func (s *session) writeErrorRecord(rec *ErrorRecord) {
	s.out.Flush()
	s.startCLIXML()
	var b strings.Builder
	for _, l := range errorLines(rec) {
		b.WriteString(`<S S="Error">`)
		b.WriteString(clixmlEscape(l + "\r\n"))
		b.WriteString(`</S>`)
	}
	io.WriteString(s.errw, b.String())
}

// firstUseProgressXML is the progress record Windows PowerShell writes when
// it first loads modules in a process.
const firstUseProgressXML = `<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR></MS></Obj>`

func (s *session) firstUseProgress() {
	if s.progress || !s.host.opts.FirstUseProgress {
		return
	}
	s.progress = true
	if ap, err := parseActionPref(s.getVar("ProgressPreference")); err == nil && (ap == prefSilentlyContinue || ap == prefIgnore) {
		return
	}
	s.out.Flush()
	s.startCLIXML()
	io.WriteString(s.errw, firstUseProgressXML)
}

func (s *session) warning(text string) {
	s.out.Flush()
	s.startCLIXML()
	io.WriteString(s.errw, `<S S="warning">`+clixmlEscape(text+"\r\n")+`</S>`)
}

// clixmlEscape escapes text for a CLIXML <S> element: XML escapes and the
// _xHHHH_ convention for control characters and a literal "_x".
func clixmlEscape(s string) string {
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '_' && i+1 < len(rs) && (rs[i+1] == 'x' || rs[i+1] == 'X'):
			b.WriteString("_x005F_")
		case r < 0x20 || (r >= 0x7F && r <= 0x9F) || r == 0xFFFE || r == 0xFFFF:
			fmt.Fprintf(&b, "_x%04X_", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
