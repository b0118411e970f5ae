package pwsh

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"
)

func codePage(n int) *charmap.Charmap {
	switch n {
	case 437:
		return charmap.CodePage437
	case 850:
		return charmap.CodePage850
	}
	return nil
}

// oemWriter re-encodes UTF-8 text into an OEM code page, '?' for the
// characters the code page lacks. Writes must hold whole UTF-8 sequences
// (the session writes whole strings).
type oemWriter struct {
	w  io.Writer
	cm *charmap.Charmap
}

func (o *oemWriter) Write(p []byte) (int, error) {
	out := make([]byte, 0, len(p))
	for _, r := range string(p) {
		if r < 0x80 {
			out = append(out, byte(r))
			continue
		}
		if b, ok := o.cm.EncodeRune(r); ok {
			out = append(out, b)
		} else {
			out = append(out, '?')
		}
	}
	if _, err := o.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func cryptoRand(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; fall back to the clock
		binary.LittleEndian.PutUint64(b, uint64(time.Now().UnixNano()))
	}
	return b
}

// SplitCommandLine splits a Windows command line as the C runtime does:
// whitespace separates arguments, "..." groups, \" is a literal quote and
// backslashes are literal unless they precede a quote.
func SplitCommandLine(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\':
			n := 0
			for i < len(rs) && rs[i] == '\\' {
				n++
				i++
			}
			if i < len(rs) && rs[i] == '"' {
				cur.WriteString(strings.Repeat("\\", n/2))
				if n%2 == 1 {
					cur.WriteRune('"')
				} else {
					inQuote = !inQuote
				}
			} else {
				cur.WriteString(strings.Repeat("\\", n))
				i--
			}
			have = true
		case r == '"':
			if inQuote && i+1 < len(rs) && rs[i+1] == '"' {
				cur.WriteRune('"')
				i++
			} else {
				inQuote = !inQuote
			}
			have = true
		case (r == ' ' || r == '\t') && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// EncodeCommand returns the -EncodedCommand form of a script (base64 of UTF-16LE).
func EncodeCommand(script string) string {
	u := utf16.Encode([]rune(script))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// DecodeCommand reverses EncodeCommand.
func DecodeCommand(b64 string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(b)%2 != 0 {
		return "", fmt.Errorf("Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.")
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u)), nil
}

func isParamPrefix(arg string, full string, minLen int) bool {
	a := strings.ToLower(strings.TrimLeft(arg, "-/"))
	return len(a) >= minLen && strings.HasPrefix(strings.ToLower(full), a)
}

// RunCommandLine runs a WinRS command: commandLine (which may hold the whole
// line) followed by args. powershell[.exe] runs the script given by
// -EncodedCommand or -Command; any other program fails as cmd.exe does.
// Each PowerShell start counts one launch in Stats. It returns the exit code.
func (h *Host) RunCommandLine(ctx context.Context, commandLine string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	argv := append(SplitCommandLine(commandLine), args...)
	if len(argv) == 0 {
		return 0
	}
	exe := argv[0]
	base := exe
	if i := strings.LastIndexAny(base, `\/`); i >= 0 {
		base = base[i+1:]
	}
	lb := strings.ToLower(base)
	if lb != "powershell" && lb != "powershell.exe" {
		io.WriteString(stderr, fmt.Sprintf("'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", exe))
		return 1
	}
	if h.opts.Stats != nil {
		h.opts.Stats.PowerShellLaunches.Add(1)
	}
	var script string
	haveScript := false
	rest := argv[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "/") {
			script = strings.Join(rest[i:], " ")
			haveScript = true
			break
		}
		switch {
		case isParamPrefix(a, "encodedcommand", 1) && !isParamPrefix(a, "executionpolicy", 2) || strings.EqualFold(a, "-ec"):
			if i+1 >= len(rest) {
				io.WriteString(stderr, "Cannot process the command because -EncodedCommand requires an argument.\r\n")
				return 1
			}
			s, err := DecodeCommand(rest[i+1])
			if err != nil {
				io.WriteString(stderr, err.Error()+"\r\n")
				return 1
			}
			script, haveScript = s, true
			i++
		case isParamPrefix(a, "command", 1):
			script = strings.Join(rest[i+1:], " ")
			haveScript = true
			i = len(rest)
		case isParamPrefix(a, "executionpolicy", 2) || strings.EqualFold(a, "-ep"),
			isParamPrefix(a, "inputformat", 2), isParamPrefix(a, "outputformat", 1), isParamPrefix(a, "windowstyle", 1),
			isParamPrefix(a, "configurationname", 4):
			i++
		case isParamPrefix(a, "noprofile", 3), isParamPrefix(a, "noninteractive", 4), isParamPrefix(a, "nologo", 3),
			isParamPrefix(a, "sta", 1), isParamPrefix(a, "mta", 1), isParamPrefix(a, "noexit", 3):
		default:
			script = strings.Join(rest[i:], " ")
			haveScript = true
			i = len(rest)
		}
	}
	if !haveScript {
		return 0
	}
	return h.RunScript(ctx, script, stdin, stdout, stderr)
}

// RunScript runs script text in a fresh runspace and returns the exit code
// (powershell.exe -Command semantics: `exit N`, or 1 when the script ended in
// a terminating error or its last statement failed, else 0).
func (h *Host) RunScript(ctx context.Context, script string, stdin io.Reader, stdout, stderr io.Writer) int {
	if cm := codePage(h.opts.CodePage); cm != nil {
		stdout, stderr = &oemWriter{w: stdout, cm: cm}, &oemWriter{w: stderr, cm: cm}
	}
	s := newSession(h, ctx, stdin, stdout, stderr)
	s.script = script
	defer s.finishCLIXML()
	defer s.out.Flush()
	body, err := parseScript(script)
	if err != nil {
		pe, ok := err.(*ParseError)
		if !ok {
			pe = &ParseError{Message: err.Error(), ID: "ParseException"}
		}
		rec := &ErrorRecord{Err: &Error{Message: pe.Message, Category: CatParserError, ExceptionType: "System.Management.Automation.ParseException"},
			FullyQualifiedErrorId: pe.ID, Line: pe.Ext.line, Column: pe.Ext.col, LineText: pe.Ext.lineText, posExt: pe.Ext, parseError: true}
		s.writeErrorRecord(rec)
		return 1
	}
	err = s.runBody(body, s.outDefault)
	switch e := err.(type) {
	case nil:
	case *psThrow:
		s.recordError(e.rec)
		s.writeErrorRecord(e.rec)
		return 1
	case exitSignal:
		return e.code
	case returnSignal, breakSignal, continueSignal:
		return 0
	default:
		if ctx.Err() != nil {
			rec := &ErrorRecord{Err: &Error{Message: "The pipeline has been stopped.", Category: CatOperationStopped, ExceptionType: "System.Management.Automation.PipelineStoppedException"},
				FullyQualifiedErrorId: "PipelineStopped"}
			s.writeErrorRecord(rec)
			return 1
		}
		rec := &ErrorRecord{Err: &Error{Message: e.Error(), Category: CatNotSpecified}, FullyQualifiedErrorId: "RuntimeException"}
		s.writeErrorRecord(rec)
		return 1
	}
	if !s.lastOK {
		return 1
	}
	return 0
}

// outDefault renders pipeline output as text on stdout (Out-Default).
func (s *session) outDefault(v Value) error {
	v = Normalize(v)
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		s.out.WriteString(x)
		s.out.WriteString("\r\n")
	case *Object:
		if x.Str != nil || len(x.Props()) == 0 {
			if len(x.Props()) == 0 {
				s.out.WriteString(x.ToString() + "\r\n")
				return nil
			}
		}
		width := 0
		for _, p := range x.Props() {
			if n := len([]rune(p.Name)); n > width {
				width = n
			}
		}
		s.out.WriteString("\r\n")
		for _, p := range x.Props() {
			s.out.WriteString(p.Name + strings.Repeat(" ", width-len([]rune(p.Name))) + " : " + displayValue(p.Value) + "\r\n")
		}
		s.out.WriteString("\r\n")
	case *Hashtable:
		width := 4
		for _, e := range x.Entries() {
			if n := len([]rune(e.Name)); n > width {
				width = n
			}
		}
		s.out.WriteString("\r\nName" + strings.Repeat(" ", width-4) + " Value\r\n")
		s.out.WriteString("----" + strings.Repeat(" ", width-4) + " -----\r\n")
		for _, e := range x.Entries() {
			s.out.WriteString(e.Name + strings.Repeat(" ", width-len([]rune(e.Name))) + " " + displayValue(e.Value) + "\r\n")
		}
		s.out.WriteString("\r\n")
	case *ErrorRecord:
		s.writeErrorRecord(x)
	case float64:
		s.out.WriteString(formatDouble(x) + "\r\n")
	case []byte:
		for _, b := range x {
			fmt.Fprintf(s.out, "%d\r\n", b)
		}
	default:
		s.out.WriteString(ToString(v) + "\r\n")
	}
	if s.out.Buffered() > 32<<10 {
		return s.out.Flush()
	}
	return nil
}

func displayValue(v Value) string {
	switch x := v.(type) {
	case *Array:
		parts := make([]string, len(x.Items))
		for i, it := range x.Items {
			parts[i] = ToString(it)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return ToString(v)
}
