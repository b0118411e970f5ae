package psrp

import (
	"strings"
)

// Value is a CLIXML value: one of the Go types listed in the package doc.
type Value = any

// Char is a System.Char (one UTF-16 code unit).
type Char uint16

// Version is a System.Version in its text form ("2.3", "1.1.0.1").
type Version string

// URI is a System.Uri in its text form.
type URI string

// XMLDocument is a System.Xml.XmlDocument in its text form.
type XMLDocument string

// ScriptBlock is a System.Management.Automation.ScriptBlock's text. The
// Exchange endpoint refuses script; the type exists so that such a value
// decodes instead of failing.
type ScriptBlock string

// Decimal is a System.Decimal in its invariant text form ("1.5").
type Decimal string

// SecureString is a System.Security.SecureString. It holds the plain text
// only in memory: encoding it needs the session key (see SessionKey), and
// its String and GoString never show the text, so it cannot leak into a
// log by accident.
type SecureString struct {
	plain []byte
}

// NewSecureString returns a SecureString holding s.
func NewSecureString(s string) *SecureString { return &SecureString{plain: []byte(s)} }

// Plain returns the secret text.
func (s *SecureString) Plain() string {
	if s == nil {
		return ""
	}
	return string(s.plain)
}

// String hides the text.
func (s *SecureString) String() string { return "[SecureString]" }

// GoString hides the text.
func (s *SecureString) GoString() string { return "psrp.SecureString{…}" }

// Container says which collection an Object carries, if any.
type Container int

// The collections of MS-PSRP §2.2.5.2.6.
const (
	NoContainer    Container = iota
	ListContainer            // <LST>: an IList (ArrayList, Object[], MultiValuedProperty)
	EnumContainer            // <IE>: an IEnumerable that is not a list
	StackContainer           // <STK>
	QueueContainer           // <QUE>
	DictContainer            // <DCT>: an IDictionary (Hashtable)
)

// Property is one named member of an Object.
type Property struct {
	Name  string
	Value Value
}

// Entry is one key/value pair of a dictionary.
type Entry struct {
	Key   Value
	Value Value
}

// Object is a CLIXML <Obj>: a complex object, a collection, or an enum or
// other object that wraps a primitive value.
type Object struct {
	// TypeNames is the type chain, most derived first (<TN>). A decoder
	// reports the names as they came on the wire: the lab's server sends
	// Exchange's type names without the "Deserialized." prefix, which a
	// PowerShell client adds after receiving.
	TypeNames []string
	// ToString is the object's <ToString>, empty when it had none.
	ToString string
	// Primitive is the wrapped value of an object that is a primitive
	// underneath: an enum's <I32>, a string-based object's <S>. Nil when
	// there is none.
	Primitive Value
	// Kind says whether Items (lists, enumerables, stacks, queues) or
	// Entries (dictionaries) hold the collection.
	Kind    Container
	Items   []Value
	Entries []Entry
	// Adapted are the <Props> (the base object's own properties), Extended
	// the <MS> (members added by PowerShell: note properties, and the
	// fields of a property bag such as a CREATE_PIPELINE message).
	Adapted  []Property
	Extended []Property
}

// Get returns the named property, looking in Extended and then in Adapted,
// ignoring case as PowerShell does.
func (o *Object) Get(name string) (Value, bool) {
	if o == nil {
		return nil, false
	}
	for _, p := range o.Extended {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	for _, p := range o.Adapted {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

// IsA reports whether typeName is in the object's type chain, with or
// without the "Deserialized." prefix.
func (o *Object) IsA(typeName string) bool {
	if o == nil {
		return false
	}
	want := strings.TrimPrefix(typeName, "Deserialized.")
	for _, t := range o.TypeNames {
		if strings.EqualFold(strings.TrimPrefix(t, "Deserialized."), want) {
			return true
		}
	}
	return false
}
