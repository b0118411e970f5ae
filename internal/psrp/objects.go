package psrp

import "fmt"

// Type chains PowerShell writes for the objects this package builds.
var (
	objectArrayTypes   = []string{"System.Object[]", "System.Array", "System.Object"}
	hashtableTypes     = []string{"System.Collections.Hashtable", "System.Object"}
	primitiveDictTypes = []string{"System.Management.Automation.PSPrimitiveDictionary", "System.Collections.Hashtable", "System.Object"}
	psObjectListTypes  = []string{"System.Collections.Generic.List`1[[System.Management.Automation.PSObject, System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "System.Object"}
)

// NewList returns an Object[] holding items, as PowerShell serializes an
// array parameter value (-Property Guid,Name).
func NewList(items ...Value) *Object {
	return &Object{TypeNames: objectArrayTypes, Kind: ListContainer, Items: items}
}

// NewHashtable returns a Hashtable of entries (@{Add=…; Remove=…}).
func NewHashtable(entries ...Entry) *Object {
	return &Object{TypeNames: hashtableTypes, Kind: DictContainer, Entries: entries}
}

// NewEnum returns an enum value: its type (the chain continues with
// System.Enum, System.ValueType, System.Object), its name and its number.
func NewEnum(typeName, name string, value int32) *Object {
	return &Object{
		TypeNames: []string{typeName, "System.Enum", "System.ValueType", "System.Object"},
		ToString:  name,
		Primitive: value,
	}
}

// propertyBag returns an <Obj><MS>…</MS></Obj> of props, the shape of
// every PSRP message body.
func propertyBag(props ...Property) *Object { return &Object{Extended: props} }

// asObject returns v as an *Object, or an error naming what it was for.
func asObject(v Value, what string) (*Object, error) {
	o, ok := v.(*Object)
	if !ok || o == nil {
		return nil, fmt.Errorf("psrp: %s is %s, want an object", what, describe(v))
	}
	return o, nil
}

func describe(v Value) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprintf("a %T", v)
}

// props reads typed members of a decoded object, remembering the first
// problem, so a message decoder reads like a field list.
type props struct {
	o    *Object
	what string
	err  error
}

func (p *props) fail(name, want string, v Value) {
	if p.err == nil {
		p.err = fmt.Errorf("psrp: %s: %s is %s, want %s", p.what, name, describe(v), want)
	}
}

func (p *props) value(name string, required bool) Value {
	v, ok := p.o.Get(name)
	if !ok && required && p.err == nil {
		p.err = fmt.Errorf("psrp: %s has no %s", p.what, name)
	}
	return v
}

func (p *props) str(name string, required bool) string {
	v := p.value(name, required)
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	case Version:
		return string(x)
	case *Object:
		if x.ToString != "" {
			return x.ToString
		}
	}
	p.fail(name, "a string", v)
	return ""
}

func (p *props) boolean(name string, required bool) bool {
	v := p.value(name, required)
	if v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		p.fail(name, "a bool", v)
	}
	return b
}

// int32 reads a number or an enum object wrapping one.
func (p *props) int32(name string, required bool) int32 {
	v := p.value(name, required)
	if o, ok := v.(*Object); ok && o != nil {
		v = o.Primitive
	}
	switch x := v.(type) {
	case int32:
		return x
	case int64:
		return int32(x)
	case int16:
		return int32(x)
	case uint8:
		return int32(x)
	case nil:
		if !required {
			return 0
		}
	}
	p.fail(name, "an integer", v)
	return 0
}

func (p *props) object(name string, required bool) *Object {
	v := p.value(name, required)
	if v == nil {
		if required {
			p.fail(name, "an object", v)
		}
		return nil
	}
	o, ok := v.(*Object)
	if !ok {
		p.fail(name, "an object", v)
	}
	return o
}
