package winrm

import (
	"encoding/xml"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrorText is PowerShell's error stream in readable form.
type ErrorText struct {
	// Lines are every non-empty error line, in order.
	Lines []string
	// Message is the headline: the error lines without the position
	// ("At line:…", "+ …") and CategoryInfo/FullyQualifiedErrorId lines.
	Message string
	// Details are the lines left out of Message.
	Details []string
}

const clixmlMarker = "#< CLIXML"

// DecodeCLIXML turns what powershell.exe wrote to stderr into readable
// error lines and warnings. Real PowerShell (and the lab) write CLIXML:
// a "#< CLIXML" line, then <Objs> holding <S S="Error"> and
// <S S="warning"> strings whose control characters are escaped as
// _xHHHH_. Text outside CLIXML counts as error text. Malformed XML is
// decoded as far as it goes; the rest is kept as raw text.
func DecodeCLIXML(stderr string) (ErrorText, []string) {
	var errText strings.Builder
	var warnings []string
	rest := stderr
	for {
		i := strings.Index(rest, clixmlMarker)
		if i < 0 {
			// plain text, before or between CLIXML blocks, is error text
			errText.WriteString(rest)
			break
		}
		errText.WriteString(rest[:i])
		rest = rest[i+len(clixmlMarker):]
		end := strings.Index(rest, clixmlMarker)
		block := rest
		if end >= 0 {
			block, rest = rest[:end], rest[end:]
		} else {
			rest = ""
		}
		e, w, tail := decodeObjs(block)
		errText.WriteString(e)
		warnings = append(warnings, w...)
		errText.WriteString(tail)
	}
	return splitErrorText(errText.String()), warnings
}

// decodeObjs reads one <Objs> block. It returns the error text, the
// warnings, and whatever could not be parsed as XML.
func decodeObjs(block string) (string, []string, string) {
	dec := xml.NewDecoder(strings.NewReader(block))
	dec.Strict = false
	var errs strings.Builder
	var warns []string
	var stream string // "error", "warning", other non-empty: ignored
	var cur strings.Builder
	depth := 0
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			if stream == "error" {
				// truncated inside an error string: keep what arrived
				errs.WriteString(decodeEscapes(cur.String()))
				errs.WriteByte('\n')
			}
			if depth > 0 || stream != "" {
				// truncated: keep the unparsed remainder visible
				return errs.String(), warns, strings.TrimSpace(block[off:])
			}
			tail := strings.TrimSpace(block[off:])
			if strings.HasPrefix(tail, "<") {
				tail = ""
			}
			return errs.String(), warns, tail
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Local == "S" && stream == "" {
				s := "other"
				for _, a := range t.Attr {
					if a.Name.Local == "S" {
						s = strings.ToLower(a.Value)
					}
				}
				stream = s
				cur.Reset()
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "S" && stream != "" {
				text := decodeEscapes(cur.String())
				switch stream {
				case "error":
					errs.WriteString(text)
					if !strings.HasSuffix(text, "\n") {
						errs.WriteByte('\n')
					}
				case "warning":
					w := strings.TrimSpace(text)
					w = strings.TrimPrefix(w, "WARNING: ")
					if w != "" {
						warns = append(warns, w)
					}
				}
				stream = ""
			}
		case xml.CharData:
			if stream != "" {
				cur.Write(t)
			}
		}
	}
}

// decodeEscapes undoes PowerShell's _xHHHH_ escaping (UTF-16 code units,
// so surrogate pairs come as two escapes).
func decodeEscapes(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var b strings.Builder
	var units []uint16
	flush := func() {
		if len(units) > 0 {
			for _, r := range utf16.Decode(units) {
				b.WriteRune(r)
			}
			units = units[:0]
		}
	}
	for i := 0; i < len(s); {
		if i+7 <= len(s) && s[i] == '_' && s[i+1] == 'x' && s[i+6] == '_' {
			if v, err := strconv.ParseUint(s[i+2:i+6], 16, 16); err == nil {
				units = append(units, uint16(v))
				i += 7
				continue
			}
		}
		flush()
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	flush()
	return b.String()
}

// splitErrorText separates the headline from the position and category
// lines PowerShell appends to an error record.
func splitErrorText(s string) ErrorText {
	var et ErrorText
	var msg []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, "\r \t")
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		et.Lines = append(et.Lines, line)
		if isDetailLine(t) {
			et.Details = append(et.Details, t)
			continue
		}
		msg = append(msg, t)
	}
	et.Message = strings.Join(msg, "\n")
	if et.Message == "" && len(et.Details) > 0 {
		// nothing but details: better those than nothing
		et.Message = strings.Join(et.Details, "\n")
	}
	return et
}

func isDetailLine(t string) bool {
	switch {
	case strings.HasPrefix(t, "At line:"), strings.HasPrefix(t, "At char:"):
		return true
	case strings.HasPrefix(t, "At ") && strings.Contains(t, " char:"):
		return true
	case t == "+" || strings.HasPrefix(t, "+ "):
		return true
	case strings.HasPrefix(t, "CategoryInfo"), strings.HasPrefix(t, "FullyQualifiedErrorId"):
		return true
	}
	return false
}
