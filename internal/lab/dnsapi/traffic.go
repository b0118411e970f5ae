package dnsapi

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Traffic is what every fake API keeps about the requests it receives: a
// log of them, for tests to read, and a count of requests still to be
// refused as throttled. A fake embeds it, so Throttle and Requests are the
// fake's own methods; how a throttled request is answered stays the fake's.
type Traffic struct {
	mu       sync.Mutex
	throttle int
	requests []string
}

// Throttle makes the next n requests fail as the provider fails a request
// over its rate limit.
func (t *Traffic) Throttle(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.throttle = n
}

// Requests lists "METHOD path?query" of every request received.
func (t *Traffic) Requests() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.requests...)
}

// Admit logs r and reports whether it is to be refused as throttled,
// counting it against the number Throttle set.
func (t *Traffic) Admit(r *http.Request) (throttled bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests = append(t.requests, r.Method+" "+r.URL.RequestURI())
	if t.throttle > 0 {
		t.throttle--
		return true
	}
	return false
}

// WriteJSON answers with status and v as a JSON body, as the JSON APIs do.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
