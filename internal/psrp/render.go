package psrp

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// String renders the pipeline as PowerShell would show it:
// "Get-CASMailbox -ResultSize Unlimited | Select-Object -Property Guid,Name".
// Byte arrays and SecureStrings are shown as placeholders, never their
// content.
func (p Pipeline) String() string {
	parts := make([]string, len(p.Commands))
	for i, c := range p.Commands {
		parts[i] = c.String()
	}
	return strings.Join(parts, " | ")
}

// String renders the command and its parameters: a switch as -Force, a
// false switch as -Confirm:$false, a [bool] parameter (Parameter.Bool) as
// -Name:$true or -Name:$false, strings single-quoted when they need
// it, $true/$false/$null, lists as a,b and hashtables as @{k=v; …}.
func (c Command) String() string {
	var b strings.Builder
	if c.IsScript {
		b.WriteString("{ ")
		b.WriteString(c.Name)
		b.WriteString(" }")
	} else {
		b.WriteString(c.Name)
	}
	for _, p := range c.Params {
		b.WriteByte(' ')
		if p.Name == "" {
			b.WriteString(renderValue(p.Value, 0))
			continue
		}
		b.WriteByte('-')
		b.WriteString(p.Name)
		if v, ok := p.Value.(bool); ok {
			if !v || p.Bool {
				b.WriteByte(':')
				b.WriteString(renderValue(v, 0))
			}
			continue
		}
		b.WriteByte(' ')
		b.WriteString(renderValue(p.Value, 0))
	}
	return b.String()
}

func renderValue(v Value, depth int) string {
	if depth > 8 {
		return "…"
	}
	switch x := v.(type) {
	case nil:
		return "$null"
	case bool:
		if x {
			return "$true"
		}
		return "$false"
	case string:
		return quoteArg(x)
	case int8, uint8, int16, uint16, int32, uint32, int64, uint64, int:
		return fmt.Sprint(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'G', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'G', -1, 64)
	case Decimal:
		return string(x)
	case Char:
		return quoteArg(string(rune(x)))
	case time.Time:
		return quoteArg(string(appendDateTime(nil, x)))
	case time.Duration:
		return quoteArg(string(appendDuration(nil, x)))
	case uuid.UUID:
		return x.String()
	case []byte:
		return fmt.Sprintf("<byte[%d]>", len(x))
	case *SecureString:
		return "<SecureString>"
	case Version:
		return quoteArg(string(x))
	case URI:
		return quoteArg(string(x))
	case XMLDocument:
		return "<xml>"
	case ScriptBlock:
		return "{" + string(x) + "}"
	case *Object:
		if x == nil {
			return "$null"
		}
		switch x.Kind {
		case ListContainer, EnumContainer, StackContainer, QueueContainer:
			if len(x.Items) == 0 {
				return "@()"
			}
			items := make([]string, len(x.Items))
			for i, it := range x.Items {
				items[i] = renderValue(it, depth+1)
			}
			return strings.Join(items, ",")
		case DictContainer:
			entries := make([]string, len(x.Entries))
			for i, en := range x.Entries {
				k := renderValue(en.Key, depth+1)
				entries[i] = k + "=" + renderValue(en.Value, depth+1)
			}
			return "@{" + strings.Join(entries, "; ") + "}"
		}
		if x.Primitive != nil && x.ToString != "" {
			return quoteArg(x.ToString)
		}
		if x.Primitive != nil {
			return renderValue(x.Primitive, depth+1)
		}
		if x.ToString != "" {
			return quoteArg(x.ToString)
		}
		if len(x.TypeNames) > 0 {
			return "<" + x.TypeNames[0] + ">"
		}
		return "<object>"
	}
	return fmt.Sprintf("<%T>", v)
}

// quoteArg returns s bare when PowerShell reads it as the same string in
// argument mode, else in single quotes (a quote doubled).
func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s[:1], "-@$#<>'\"0123456789") && bareSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func bareSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(`._-\/:@+`, r):
		default:
			return false
		}
	}
	return true
}
