package apiretry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exrunbook/exrunbook/internal/errkind"
)

// script answers each request with the next status of a list.
type script struct {
	mu       sync.Mutex
	statuses []int
	n        int
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := min(s.n, len(s.statuses)-1)
	s.n++
	s.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	if s.statuses[i] == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "7")
	}
	w.WriteHeader(s.statuses[i])
	io.WriteString(w, "answer "+string(b))
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		statuses  []int
		wantCode  int
		wantErr   string
		transient bool
		auth      bool
		sent      int
		waits     []time.Duration
	}{
		{"429 then success, Retry-After honoured", http.MethodPost, []int{429, 200}, 200, "", false, false, 2, []time.Duration{7 * time.Second}},
		{"5xx twice then success, doubling", http.MethodGet, []int{502, 503, 200}, 200, "", false, false, 3, []time.Duration{time.Second, 2 * time.Second}},
		{"5xx to the end is transient, in the server's words", http.MethodDelete, []int{500}, 0, "HTTP 500 Internal Server Error after 3 attempt(s): answer", true, false, 3, []time.Duration{time.Second, 2 * time.Second}},
		{"401 is an AuthError, not retried", http.MethodGet, []int{401}, 0, "HTTP 401 Unauthorized: answer", false, true, 1, nil},
		{"403 is an AuthError", http.MethodPatch, []int{403}, 0, "HTTP 403 Forbidden", false, true, 1, nil},
		{"404 passes through", http.MethodGet, []int{404}, 404, "", false, false, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{statuses: tc.statuses}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var waits []time.Duration
			tr := &Transport{Attempts: 3, Sleep: func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
			req, _ := http.NewRequest(tc.method, srv.URL, strings.NewReader("body"))
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if resp != nil {
				defer resp.Body.Close()
			}
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if errkind.IsTransient(err) != tc.transient {
					t.Errorf("transient = %v", errkind.IsTransient(err))
				}
				if _, ok := IsAuth(err); ok != tc.auth {
					t.Errorf("auth = %v", ok)
				}
			case err != nil:
				t.Fatal(err)
			case resp.StatusCode != tc.wantCode:
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantCode)
			default:
				if b, _ := io.ReadAll(resp.Body); string(b) != "answer body" {
					t.Errorf("the resent request lost its body: %q", b)
				}
			}
			if s.n != tc.sent {
				t.Errorf("sent %d, want %d", s.n, tc.sent)
			}
			if len(waits) != len(tc.waits) {
				t.Fatalf("waits %v, want %v", waits, tc.waits)
			}
			for i := range waits {
				if waits[i] != tc.waits[i] {
					t.Errorf("waits %v, want %v", waits, tc.waits)
				}
			}
		})
	}
}

type failing struct{ n int }

func (f *failing) RoundTrip(*http.Request) (*http.Response, error) {
	f.n++
	return nil, errors.New("connection reset by peer")
}

// A dropped connection is retried for GET, not for POST (which may have
// been applied), and ends transient either way.
func TestConnectionFailures(t *testing.T) {
	for _, m := range []struct {
		method string
		sent   int
	}{{http.MethodGet, 3}, {http.MethodPost, 1}} {
		f := &failing{}
		tr := &Transport{Base: f, Attempts: 3, Sleep: func(context.Context, time.Duration) error { return nil }}
		req, _ := http.NewRequest(m.method, "https://api.example.test/x", strings.NewReader("b"))
		_, err := tr.RoundTrip(req)
		if err == nil || !errkind.IsTransient(err) || f.n != m.sent {
			t.Errorf("%s: err %v transient %v, sent %d, want %d", m.method, err, errkind.IsTransient(err), f.n, m.sent)
		}
	}
}

// RouteDefault sends a request through the context's transport once, and
// others as before.
func TestRouteDefault(t *testing.T) {
	RouteDefault()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") }))
	defer srv.Close()
	get := func(ctx context.Context) string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		resp, err := (&http.Client{}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get(context.Background()); got != "direct" {
		t.Errorf("without a transport in the context: %q", got)
	}
	var seen int
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen++
		return http.DefaultTransport.RoundTrip(r)
	})
	if got := get(WithTransport(context.Background(), rt)); got != "direct" || seen != 1 {
		t.Errorf("through the context's transport: %q, seen %d", got, seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "7", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "99999999999999999999", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(v); d < 0 || d > 24*time.Hour {
			t.Fatalf("retryAfter(%q) = %v", v, d)
		}
	})
}

func TestCredentialExplain(t *testing.T) {
	se := &StatusError{Method: "GET", Host: "api.example.test", Status: 503, Attempts: 5, Body: "busy"}
	wrapped := fmt.Errorf(`Get "https://api.example.test/zones": %w`, se)
	auth := fmt.Errorf("listing: %w", &AuthError{Method: "GET", Host: "api.example.test", Status: 403, Body: "no rights"})
	other := errors.New("zone not found")
	c := Credential{API: "Example", Prefix: "example", Kind: "API token", Setting: "EXAMPLE_TOKEN", Need: "it needs DNS Edit"}
	labelled := c
	labelled.LabelStatus = true
	tests := []struct {
		name string
		c    Credential
		err  error
		want string
	}{
		{"a refused credential names the setting and what it needs", c, auth, "the Example API refused the API token (HTTP 403; check EXAMPLE_TOKEN: it needs DNS Edit): no rights"},
		{"a lasting 5xx stays as the module reported it", c, wrapped, wrapped.Error()},
		{"a lasting 5xx under LabelStatus stands alone, labelled", labelled, wrapped, "example: " + se.Error()},
		{"any other error is labelled", c, other, "example: zone not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.c.Explain(tt.err)
			if got.Error() != tt.want {
				t.Fatalf("Explain(%v) = %q, want %q", tt.err, got, tt.want)
			}
			if tt.err != auth && !errors.Is(got, tt.err) && !errors.As(got, new(*StatusError)) {
				t.Fatalf("Explain(%v) lost the error it was given", tt.err)
			}
		})
	}
}

func TestAccessMissing(t *testing.T) {
	for _, tc := range []struct {
		a    Access
		want string
	}{
		{Access{Secret: "tok", Setting: "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN"}, ""},
		{Access{Setting: "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN or public_dns.cloudflare.api_token_file"},
			"cloudflare: no API token: set EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN or public_dns.cloudflare.api_token_file"},
	} {
		err := tc.a.Missing("cloudflare", "API token")
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("Missing() = %v, want %q", err, tc.want)
		}
	}
}
