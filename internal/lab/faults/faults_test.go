package faults

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		want    Spec
		wantErr string
	}{
		{"", Spec{}, ""},
		{"http500=0.05,drop=0.02,seed=7", Spec{HTTP500: 0.05, Drop: 0.02, Seed: 7}, ""},
		{" latency=20ms , http500=1 ", Spec{Latency: 20 * time.Millisecond, HTTP500: 1}, ""},
		{"throttle:Set-CASMailbox=0.05,error:Get-ExchangeServer=1", Spec{Throttle: map[string]float64{"set-casmailbox": 0.05}, Errors: map[string]float64{"get-exchangeserver": 1}}, ""},
		{"break=0.25,seed=3", Spec{Break: 0.25, Seed: 3}, ""},
		{"break=1,http500=0.1,latency=5ms", Spec{Break: 1, HTTP500: 0.1, Latency: 5 * time.Millisecond}, ""},
		{"break=2", Spec{}, "between 0 and 1"},
		{"break=often", Spec{}, "between 0 and 1"},
		{"http500", Spec{}, "expected key=value"},
		{"http500=1.5", Spec{}, "between 0 and 1"},
		{"drop=-0.1", Spec{}, "between 0 and 1"},
		{"latency=fast", Spec{}, "duration"},
		{"latency=-1s", Spec{}, "duration"},
		{"seed=x", Spec{}, "integer"},
		{"jitter=0.1", Spec{}, `unknown key "jitter"`},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("Parse(%q) error = %v, want %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got.String() != c.want.String() {
			t.Errorf("Parse(%q) = %q, want %q", c.in, got, c.want)
		}
		again, err := Parse(got.String())
		if err != nil || again.String() != got.String() {
			t.Errorf("String() of %q does not parse back: %q, %v", c.in, again, err)
		}
	}
}

// The same seed and the same sequence of questions give the same faults;
// a rate of 0 never fires and a rate of 1 always does.
func TestInjectorDeterministic(t *testing.T) {
	spec, err := Parse("http500=0.3,drop=0.2,throttle:Set-CASMailbox=0.5,seed=42")
	if err != nil {
		t.Fatal(err)
	}
	draws := func() string {
		in := New(spec)
		var b strings.Builder
		for i := 0; i < 200; i++ {
			for _, f := range []bool{in.HTTP500(), in.Drop(), in.Throttle("set-casmailbox"), in.CmdletError("Get-Mailbox"), in.BreakSession()} {
				if f {
					b.WriteByte('1')
				} else {
					b.WriteByte('0')
				}
			}
		}
		return b.String()
	}
	a, b := draws(), draws()
	if a != b {
		t.Fatal("the same seed gave different faults")
	}
	if n := strings.Count(a, "1"); n == 0 || n == len(a) {
		t.Fatalf("%d of %d draws fired: the rates are not applied", n, len(a))
	}
	always := New(Spec{HTTP500: 1, Break: 1, Throttle: map[string]float64{"set-casmailbox": 1}})
	never := New(Spec{})
	for i := 0; i < 50; i++ {
		if !always.HTTP500() || !always.Throttle("Set-CASMailbox") || !always.BreakSession() || never.HTTP500() || never.Drop() || never.CmdletError("x") || never.BreakSession() {
			t.Fatal("a rate of 1 must always fire and 0 never")
		}
	}
	var none *Injector
	if none.HTTP500() || none.Drop() || none.BreakSession() || none.Latency() != 0 || none.Throttle("x") || none.CmdletError("x") {
		t.Fatal("a nil injector injected a fault")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "http500=0.05,drop=0.02,seed=7", "latency=20ms", "throttle:Set-CASMailbox=1", "error:x=0,seed=-3", "=,=", "a=b=c", "break=0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := Parse(s)
		if err != nil {
			return
		}
		for _, r := range []float64{sp.HTTP500, sp.Drop, sp.Break} {
			if r < 0 || r > 1 {
				t.Fatalf("Parse(%q) accepted rate %v", s, r)
			}
		}
		if sp.Latency < 0 {
			t.Fatalf("Parse(%q) accepted negative latency", s)
		}
		again, err := Parse(sp.String())
		if err != nil || again.String() != sp.String() {
			t.Fatalf("Parse(%q).String() = %q does not parse back: %v", s, sp.String(), err)
		}
	})
}
