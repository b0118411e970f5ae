// Package faults injects the lab's seeded, deterministic failures: HTTP 500s,
// dropped connections, added latency, per-cmdlet errors and Exchange's own
// throttling errors. The same seed and the same sequence of requests give
// the same faults.
package faults

import (
	"fmt"
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spec says which faults to inject and how often. Rates are in [0,1].
//
// Its text form, as given to `exlab serve --faults` and POST /faults, is a
// comma-separated list of key=value pairs:
//
//	http500=0.05,drop=0.02,latency=20ms,seed=7,break=0.01,
//	error:Get-CASMailbox=0.1,throttle:Set-CASMailbox=0.05
//
// http500, drop and latency apply to every WS-Management request (/wsman
// and /PowerShell/). break is the rate at which a PSRP session breaks
// mid-run: drawn on each Receive for a pipeline's output, it kills the
// session's plug-in host, as when wsmprovhost dies on Windows: the
// Receive in flight gets the aborted-operation fault and the shell is
// gone, so every later request on it gets ShellNotFound.
type Spec struct {
	HTTP500  float64            `json:"http500"`
	Drop     float64            `json:"drop"`
	Break    float64            `json:"break,omitempty"`
	Latency  time.Duration      `json:"latency"`
	Seed     int64              `json:"seed"`
	Errors   map[string]float64 `json:"errors,omitempty"`   // cmdlet → rate of a generic cmdlet error
	Throttle map[string]float64 `json:"throttle,omitempty"` // cmdlet → rate of a throttling error
}

// Parse reads the text form of a Spec. The empty string is no faults.
func Parse(s string) (Spec, error) {
	var sp Spec
	s = strings.TrimSpace(s)
	if s == "" {
		return sp, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return Spec{}, fmt.Errorf("faults: %q: expected key=value", part)
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		switch {
		case k == "latency":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Spec{}, fmt.Errorf("faults: latency=%q: expected a duration such as 20ms", v)
			}
			sp.Latency = d
		case k == "seed":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Spec{}, fmt.Errorf("faults: seed=%q: expected an integer", v)
			}
			sp.Seed = n
		case k == "http500", k == "drop", k == "break", strings.HasPrefix(k, "error:"), strings.HasPrefix(k, "throttle:"):
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || r > 1 {
				return Spec{}, fmt.Errorf("faults: %s=%q: expected a rate between 0 and 1", k, v)
			}
			switch {
			case k == "http500":
				sp.HTTP500 = r
			case k == "drop":
				sp.Drop = r
			case k == "break":
				sp.Break = r
			case strings.HasPrefix(k, "error:"):
				if sp.Errors == nil {
					sp.Errors = map[string]float64{}
				}
				sp.Errors[strings.ToLower(strings.TrimPrefix(k, "error:"))] = r
			default:
				if sp.Throttle == nil {
					sp.Throttle = map[string]float64{}
				}
				sp.Throttle[strings.ToLower(strings.TrimPrefix(k, "throttle:"))] = r
			}
		default:
			return Spec{}, fmt.Errorf("faults: unknown key %q (expected http500, drop, break, latency, seed, error:CMDLET or throttle:CMDLET)", k)
		}
	}
	return sp, nil
}

// String renders the Spec in its text form, keys sorted.
func (s Spec) String() string {
	var parts []string
	if s.HTTP500 > 0 {
		parts = append(parts, fmt.Sprintf("http500=%g", s.HTTP500))
	}
	if s.Drop > 0 {
		parts = append(parts, fmt.Sprintf("drop=%g", s.Drop))
	}
	if s.Break > 0 {
		parts = append(parts, fmt.Sprintf("break=%g", s.Break))
	}
	if s.Latency > 0 {
		parts = append(parts, "latency="+s.Latency.String())
	}
	for _, m := range []struct {
		prefix string
		rates  map[string]float64
	}{{"error:", s.Errors}, {"throttle:", s.Throttle}} {
		keys := make([]string, 0, len(m.rates))
		for k := range m.rates {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s%s=%g", m.prefix, k, m.rates[k]))
		}
	}
	if s.Seed != 0 {
		parts = append(parts, fmt.Sprintf("seed=%d", s.Seed))
	}
	return strings.Join(parts, ",")
}

// Injector draws fault decisions from a seeded source. Safe for concurrent
// use; a nil *Injector injects nothing.
type Injector struct {
	mu   sync.Mutex
	spec Spec
	rng  *rand.Rand
}

// New returns an Injector for spec.
func New(spec Spec) *Injector {
	i := &Injector{}
	i.Set(spec)
	return i
}

// Set replaces the spec and reseeds the source.
func (i *Injector) Set(spec Spec) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.spec = spec
	i.rng = rand.New(rand.NewSource(spec.Seed))
}

// Spec returns the current spec.
func (i *Injector) Spec() Spec {
	if i == nil {
		return Spec{}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.spec
}

func (i *Injector) draw(rate float64) bool {
	if i == nil || rate <= 0 {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.rng.Float64() < rate
}

// HTTP500 reports whether this request should get an HTTP 500.
func (i *Injector) HTTP500() bool { return i != nil && i.draw(i.Spec().HTTP500) }

// Drop reports whether this request's connection should be dropped.
func (i *Injector) Drop() bool { return i != nil && i.draw(i.Spec().Drop) }

// BreakSession reports whether this PSRP request should find its session
// broken.
func (i *Injector) BreakSession() bool { return i != nil && i.draw(i.Spec().Break) }

// Latency is the delay to add to each request.
func (i *Injector) Latency() time.Duration { return i.Spec().Latency }

// CmdletError reports whether this call of cmdlet should fail with a
// generic error.
func (i *Injector) CmdletError(cmdlet string) bool {
	return i != nil && i.draw(i.Spec().Errors[strings.ToLower(cmdlet)])
}

// Throttle reports whether this call of cmdlet should fail with Exchange's
// throttling error.
func (i *Injector) Throttle(cmdlet string) bool {
	return i != nil && i.draw(i.Spec().Throttle[strings.ToLower(cmdlet)])
}

// ThrottleMessage is the text of the error Exchange's PowerShell throttling
// policy raises when a budget is exceeded, as Exchange words it.
const ThrottleMessage = "The user \"%s\" has exceeded the throttling budget for PowerShell. Policy part: PowerShellMaxCmdlets; Policy value: 50; Budget type: PowerShell. Please wait and try again later."
