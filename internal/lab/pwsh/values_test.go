package pwsh

import (
	"fmt"
	"testing"
)

// TestObjectLargeIndex checks property lookup on objects past the index
// threshold, including properties appended after indexing.
func TestObjectLargeIndex(t *testing.T) {
	o := NewObject("Big")
	for i := 0; i < 40; i++ {
		o.Set(fmt.Sprintf("Prop%02d", i), int64(i))
	}
	for i := 0; i < 40; i++ {
		v, ok := o.Get(fmt.Sprintf("PROP%02d", i))
		if !ok || v != int64(i) {
			t.Fatalf("Prop%02d: %v %v", i, v, ok)
		}
	}
	if _, ok := o.Get("missing"); ok {
		t.Fatal("missing found")
	}
	o.props = append(o.props, Prop{Name: "Late", Value: "x"})
	if v, ok := o.Get("late"); !ok || v != "x" {
		t.Fatalf("late: %v %v", v, ok)
	}
	o.Set("Prop05", "changed")
	o.Set("Newer", true)
	if v, _ := o.Get("prop05"); v != "changed" {
		t.Fatalf("prop05 %v", v)
	}
	if v, _ := o.Get("NEWER"); v != true || len(o.Props()) != 42 {
		t.Fatalf("newer %v, %d props", v, len(o.Props()))
	}
}
