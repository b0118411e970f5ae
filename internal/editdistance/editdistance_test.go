package editdistance

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"endpiont", "endpoint", 2}, {"é", "e", 1}, {"approval", "approval", 0}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q,%q) = %d, want %d", c.a, c.b, got, c.d)
		}
	}
}

func TestNearest(t *testing.T) {
	known := []string{"id", "kind", "title", "approval", "with"}
	for _, c := range []struct {
		s, want string
		ok      bool
	}{{"titel", "title", true}, {"kinds", "kind", true}, {"aproval", "approval", true}, {"parameters", "", false}, {"wiht", "with", true}} {
		got, ok := Nearest(c.s, known, 3)
		if got != c.want || ok != c.ok {
			t.Errorf("Nearest(%q) = %q %v, want %q %v", c.s, got, ok, c.want, c.ok)
		}
	}
}

func FuzzDistance(f *testing.F) {
	f.Add("kitten", "sitting")
	f.Fuzz(func(t *testing.T, a, b string) {
		d := Distance(a, b)
		if d != Distance(b, a) || d < 0 || (a == b) != (d == 0) {
			t.Fatalf("Distance(%q,%q) = %d is not a metric", a, b, d)
		}
	})
}
