package pwsh

import (
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Array is System.Object[] (also used for MultiValuedProperty values).
type Array struct{ Items []Value }

// NewArray returns an *Array holding items.
func NewArray(items ...Value) *Array { return &Array{Items: items} }

// List is System.Collections.Generic.List[object].
type List struct{ Items []Value }

// Prop is one property of an *Object or one entry of a *Hashtable.
type Prop struct {
	Name  string
	Value Value
}

// Hashtable is a PowerShell hashtable (keys compared case-insensitively).
// Entries keep insertion order; Ordered marks [ordered] (OrderedDictionary).
type Hashtable struct {
	Ordered bool
	entries []Prop
	index   map[string]int
}

// NewHashtable returns an empty hashtable.
func NewHashtable() *Hashtable { return &Hashtable{} }

// Get returns the value for key (case-insensitive).
func (h *Hashtable) Get(key string) (Value, bool) {
	if i := h.find(key); i >= 0 {
		return h.entries[i].Value, true
	}
	return nil, false
}

// Set adds or replaces key.
func (h *Hashtable) Set(key string, v Value) {
	if i := h.find(key); i >= 0 {
		h.entries[i].Value = v
		return
	}
	h.entries = append(h.entries, Prop{Name: key, Value: v})
	switch {
	case h.index != nil: // one entry more, not a rebuild: O(1) as in .NET
		h.index[strings.ToLower(key)] = len(h.entries) - 1
	case len(h.entries) > 16:
		h.reindex()
	}
}

// Entries returns the entries in order (do not modify).
func (h *Hashtable) Entries() []Prop { return h.entries }

// Len is the number of entries.
func (h *Hashtable) Len() int { return len(h.entries) }

func (h *Hashtable) reindex() {
	h.index = make(map[string]int, len(h.entries))
	for i, e := range h.entries {
		h.index[strings.ToLower(e.Name)] = i
	}
}

func (h *Hashtable) find(key string) int {
	if h.index != nil {
		if i, ok := h.index[strings.ToLower(key)]; ok {
			return i
		}
		return -1
	}
	for i, e := range h.entries {
		if strings.EqualFold(e.Name, key) {
			return i
		}
	}
	return -1
}

// Method is a script-callable method of an *Object.
type Method func(args []Value) (Value, error)

// Object is a PSObject: type names (most derived first), ordered properties
// looked up case-insensitively, an optional ToString and optional methods.
type Object struct {
	TypeNames []string
	props     []Prop
	index     map[string]int // lower-case name → position, for large objects
	indexed   int            // len(props) when index was last complete
	// Str overrides ToString() (default: PSCustomObject's "@{a=1; b=x}").
	Str func() string
	// Methods are callable as $o.Name(args) (names case-insensitive keys,
	// stored lower-case by AddMethod).
	Methods map[string]Method
}

// PSCustomObjectType is the type name of [pscustomobject]@{...}.
const PSCustomObjectType = "System.Management.Automation.PSCustomObject"

// NewObject returns an *Object of typeName with the properties given as
// name, value pairs.
func NewObject(typeName string, kv ...any) *Object {
	o := &Object{TypeNames: []string{typeName}}
	if len(kv) > 0 {
		o.props = make([]Prop, 0, len(kv)/2)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		name, _ := kv[i].(string)
		o.Set(name, kv[i+1])
	}
	return o
}

// Get returns a property's value (case-insensitive name).
func (o *Object) Get(name string) (Value, bool) {
	if i := o.find(name); i >= 0 {
		return o.props[i].Value, true
	}
	return nil, false
}

// find returns the index of a property. Objects with many properties (as
// Exchange's have) keep a lower-case name index, maintained by Set; reads
// never modify the object, so shared objects can be read concurrently.
func (o *Object) find(name string) int {
	if o.index != nil {
		i, ok := o.index[strings.ToLower(name)]
		if ok && i < len(o.props) && strings.EqualFold(o.props[i].Name, name) {
			return i
		}
		if !ok && o.indexed == len(o.props) {
			return -1
		}
	}
	for i := range o.props {
		if strings.EqualFold(o.props[i].Name, name) {
			return i
		}
	}
	return -1
}

// Set adds or replaces a property (values of Go int kinds are normalised).
func (o *Object) Set(name string, v Value) {
	v = Normalize(v)
	if i := o.find(name); i >= 0 {
		o.props[i].Value = v
		return
	}
	o.props = append(o.props, Prop{Name: name, Value: v})
	switch {
	case o.index != nil && o.indexed == len(o.props)-1:
		o.index[strings.ToLower(name)] = len(o.props) - 1
		o.indexed = len(o.props)
	case len(o.props) > 16:
		o.index = make(map[string]int, 2*len(o.props))
		for i := len(o.props) - 1; i >= 0; i-- {
			o.index[strings.ToLower(o.props[i].Name)] = i
		}
		o.indexed = len(o.props)
	}
}

// Props returns the properties in order (do not modify the slice).
func (o *Object) Props() []Prop { return o.props }

// AddMethod makes name callable on the object.
func (o *Object) AddMethod(name string, m Method) {
	if o.Methods == nil {
		o.Methods = map[string]Method{}
	}
	o.Methods[strings.ToLower(name)] = m
}

// TypeName is the most derived type name.
func (o *Object) TypeName() string {
	if len(o.TypeNames) == 0 {
		return PSCustomObjectType
	}
	return o.TypeNames[0]
}

// ToString renders the object as PowerShell's [string] would.
func (o *Object) ToString() string {
	if o.Str != nil {
		return o.Str()
	}
	if o.TypeName() != PSCustomObjectType && o.TypeName() != "System.Management.Automation.PSObject" {
		return o.TypeName()
	}
	var b strings.Builder
	b.WriteString("@{")
	for i, p := range o.props {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(ToString(p.Value))
	}
	b.WriteString("}")
	return b.String()
}

// Guid is System.Guid.
type Guid [16]byte

// EmptyGuid is [guid]::Empty.
var EmptyGuid Guid

// ParseGuid parses the forms [guid] accepts: 32 hex digits with or without
// hyphens, optionally in braces or parentheses.
func ParseGuid(s string) (Guid, error) {
	var g Guid
	t := strings.TrimSpace(s)
	if len(t) >= 2 && ((t[0] == '{' && t[len(t)-1] == '}') || (t[0] == '(' && t[len(t)-1] == ')')) {
		t = t[1 : len(t)-1]
	}
	var hexs string
	switch len(t) {
	case 32:
		hexs = t
	case 36:
		if t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
			return g, fmt.Errorf("Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
		}
		hexs = t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:]
	default:
		return g, fmt.Errorf("Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
	}
	b, err := hex.DecodeString(hexs)
	if err != nil || len(b) != 16 {
		return g, fmt.Errorf("Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
	}
	copy(g[:], b)
	return g, nil
}

// String is the "D" form, lower case.
func (g Guid) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Uri is System.Uri (absolute URIs only).
type Uri struct {
	u *url.URL
}

// NewUri parses an absolute URI as [uri] does.
func NewUri(s string) (*Uri, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") {
		return nil, fmt.Errorf("Invalid URI: The format of the URI could not be determined.")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if u.Path == "" && u.Opaque == "" {
		u.Path = "/"
	}
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		u.Host = u.Hostname()
	}
	return &Uri{u: u}, nil
}

// AbsoluteUri is the canonical text (scheme and host lower-cased, "/" for an
// empty path, default port dropped).
func (u *Uri) AbsoluteUri() string { return u.u.String() }

// String is Uri.ToString().
func (u *Uri) String() string { return u.u.String() }

// Host is the host name.
func (u *Uri) Host() string { return u.u.Hostname() }

// Flags is an enum or flags-enum value: Names render as "IIS, SMTP" in
// strings; Value is what ConvertTo-Json writes.
type Flags struct {
	Type  string // .NET type name
	Names []string
	Value int64
}

// String is the enum's ToString().
func (f *Flags) String() string {
	if len(f.Names) == 0 {
		return strconv.FormatInt(f.Value, 10)
	}
	return strings.Join(f.Names, ", ")
}

// Unlimited is Microsoft.Exchange.Data.Unlimited: either unlimited or a number.
type Unlimited struct {
	IsUnlimited bool
	Value       int64
}

// String renders "Unlimited" or the number.
func (u Unlimited) String() string {
	if u.IsUnlimited {
		return "Unlimited"
	}
	return strconv.FormatInt(u.Value, 10)
}

// SecureString is System.Security.SecureString; the lab keeps the plain text.
type SecureString struct{ plain string }

// NewSecureString wraps plain text.
func NewSecureString(plain string) *SecureString { return &SecureString{plain: plain} }

// Plain returns the protected text (for cmdlets that consume it).
func (s *SecureString) Plain() string { return s.plain }

// Length is the number of characters (UTF-16 units).
func (s *SecureString) Length() int { return len(utf16Units(s.plain)) }

// ErrorRecord is System.Management.Automation.ErrorRecord ($_ in catch).
type ErrorRecord struct {
	Err *Error
	// Command is the invocation name of the command that raised it ("" for
	// script-level errors such as throw).
	Command string
	// FullyQualifiedErrorId as PowerShell renders it.
	FullyQualifiedErrorId string
	// Position of the failing command in the script.
	Line, Column int
	LineText     string
	posExt       extent
	parseError   bool
	noActivity   bool   // CommandNotFound: "[]" in CategoryInfo
	activity     string // CategoryInfo activity when it differs from Command
}

// Message is $_.Exception.Message.
func (e *ErrorRecord) Message() string { return e.Err.Message }

// ScriptBlock is a { ... } literal.
type ScriptBlock struct {
	body   *scriptBody
	text   string
	params []string
}

// String is the block's text without the braces, as PowerShell renders it.
func (s *ScriptBlock) String() string { return s.text }

// Normalize converts Go int kinds to int64 and float32 to float64; other
// values are returned unchanged. Slices of Value become *Array.
func Normalize(v Value) Value {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x > math.MaxInt64 {
			return float64(x)
		}
		return int64(x)
	case float32:
		return float64(x)
	case []Value:
		return &Array{Items: x}
	case []string:
		items := make([]Value, len(x))
		for i, s := range x {
			items[i] = s
		}
		return &Array{Items: items}
	case *Guid:
		if x == nil {
			return nil
		}
		return *x
	case time.Duration:
		return x
	}
	return v
}
