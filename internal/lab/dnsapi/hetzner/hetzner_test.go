package hetzner

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi/dnsapitest"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

func newFake() (*Fake, *dnsserver.MemZone) {
	z := dnsapitest.Zone(dnsapitest.SOA(300), []org.Record{
		{Name: "ns1.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.53"},
		{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
		{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.11"},
		{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
		{Name: "contoso.test.", Type: "TXT", TTL: 300, Data: `"v=spf1 -all"`},
	})
	return &Fake{Store: &dnsapi.Store{Backend: z}, Token: "tok", ZoneID: 4711, MaxPerPage: 2}, z
}

func do(t *testing.T, h http.Handler, method, path, auth, body string) (int, map[string]json.RawMessage) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	var out map[string]json.RawMessage
	b, _ := io.ReadAll(w.Body)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, b)
	}
	return w.Code, out
}

func TestFakeRequests(t *testing.T) {
	tests := []struct {
		name         string
		method, path string
		auth, body   string
		status       int
		want         string // a substring of the answer
	}{
		{"no token", "GET", "/v1/zones/contoso.test", "", "", 401, `"code":"unauthorized"`},
		{"wrong token", "GET", "/v1/zones/contoso.test", "Bearer nope", "", 401, `"message":"unable to authenticate"`},
		{"zone by name", "GET", "/v1/zones/contoso.test", "Bearer tok", "", 200, `"id":4711`},
		{"zone by id", "GET", "/v1/zones/4711", "Bearer tok", "", 200, `"name":"contoso.test"`},
		{"unknown zone", "GET", "/v1/zones/fabrikam.test", "Bearer tok", "", 404, `"code":"not_found"`},
		{"first page", "GET", "/v1/zones/4711/rrsets?per_page=50", "Bearer tok", "", 200, `"next_page":2`},
		{"last page", "GET", "/v1/zones/4711/rrsets?page=2&per_page=50", "Bearer tok", "", 200, `"next_page":null`},
		{"per_page over 50", "GET", "/v1/zones/4711/rrsets?per_page=51", "Bearer tok", "", 400, `"code":"invalid_input"`},
		{"one RRset of two records", "GET", "/v1/zones/4711/rrsets/outlook/A", "Bearer tok", "", 200, `"records":[{"value":"203.0.113.10"},{"value":"203.0.113.11"}]`},
		{"create an existing RRset", "POST", "/v1/zones/4711/rrsets", "Bearer tok", `{"name":"outlook","type":"A","ttl":300,"records":[{"value":"203.0.113.12"}]}`, 409, `"code":"uniqueness_error"`},
		{"create with an absolute name", "POST", "/v1/zones/4711/rrsets", "Bearer tok", `{"name":"x.contoso.test.","type":"A","records":[{"value":"203.0.113.12"}]}`, 400, `"name":"name"`},
		{"create with a bad value", "POST", "/v1/zones/4711/rrsets", "Bearer tok", `{"name":"x","type":"A","records":[{"value":"nope"}]}`, 400, `"code":"invalid_input"`},
		{"unknown field", "POST", "/v1/zones/4711/rrsets", "Bearer tok", `{"name":"x","type":"A","records":[],"zone":"x"}`, 400, `"code":"json_error"`},
		{"A beside a CNAME", "POST", "/v1/zones/4711/rrsets/www/A/actions/add_records", "Bearer tok", `{"records":[{"value":"203.0.113.12"}]}`, 400, `"code":"invalid_input"`},
		{"add with another TTL", "POST", "/v1/zones/4711/rrsets/outlook/A/actions/add_records", "Bearer tok", `{"records":[{"value":"203.0.113.12"}],"ttl":60}`, 400, `"name":"ttl"`},
		{"remove from a missing RRset", "POST", "/v1/zones/4711/rrsets/nothing/A/actions/remove_records", "Bearer tok", `{"records":[{"value":"203.0.113.12"}]}`, 404, `"code":"not_found"`},
		{"delete a missing RRset", "DELETE", "/v1/zones/4711/rrsets/nothing/A", "Bearer tok", "", 404, `"code":"not_found"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, z := newFake()
			before, _ := z.Zone()
			status, r := do(t, f, tc.method, tc.path, tc.auth, tc.body)
			b, _ := json.Marshal(r)
			if status != tc.status || !strings.Contains(string(b), tc.want) {
				t.Fatalf("%d %s, want %d with %s", status, b, tc.status, tc.want)
			}
			if after, _ := z.Zone(); status >= 400 && dnsapi.Text(after) != dnsapi.Text(before) {
				t.Fatal("a refused request changed the zone")
			}
		})
	}
}

// Writes land in the zone with the serial raised; actions are finished.
func TestFakeWritesTheZone(t *testing.T) {
	f, z := newFake()
	status, r := do(t, f, "POST", "/v1/zones/contoso.test/rrsets/_acme-challenge.outlook/TXT/actions/add_records", "Bearer tok", `{"records":[{"value":"\"tok\""}],"ttl":60}`)
	if status != 201 || !strings.Contains(string(r["action"]), `"status":"success"`) {
		t.Fatalf("add_records: %d %s", status, r["action"])
	}
	zz, _ := z.Zone()
	if zz.SOA.Serial != 2 || !strings.Contains(dnsapi.Text(zz), "_acme-challenge.outlook.contoso.test.\t60\tIN\tTXT\t\"tok\"") {
		t.Fatalf("zone:\n%s", dnsapi.Text(zz))
	}
	var a action
	json.Unmarshal(r["action"], &a)
	if status, r := do(t, f, "GET", "/v1/actions?id=1", "Bearer tok", ""); status != 200 || !strings.Contains(string(r["actions"]), `"command":"add_rrset_records"`) {
		t.Fatalf("actions: %d %s", status, r["actions"])
	}
	if status, _ := do(t, f, "POST", "/v1/zones/4711/rrsets/outlook/A/actions/remove_records", "Bearer tok", `{"records":[{"value":"203.0.113.10"},{"value":"203.0.113.11"}]}`); status != 201 {
		t.Fatalf("remove_records: %d", status)
	}
	zz, _ = z.Zone()
	if strings.Contains(dnsapi.Text(zz), "outlook.contoso.test.\t300\tIN\tA") {
		t.Fatalf("the emptied RRset is still there:\n%s", dnsapi.Text(zz))
	}
}

func FuzzFakeAddRecords(f *testing.F) {
	for _, s := range []string{`{"records":[{"value":"203.0.113.9"}],"ttl":60}`, `{"records":[{"value":"\"a\""}]}`, `{`, `{"records":null}`, `{"records":[{"value":""}],"ttl":-1}`} {
		f.Add("x", "A", s)
	}
	f.Fuzz(func(t *testing.T, name, typ, body string) {
		fk, _ := newFake()
		req := httptest.NewRequest("POST", "/v1/zones/4711/rrsets/x/A/actions/add_records", strings.NewReader(body))
		req.URL.Path = "/v1/zones/4711/rrsets/" + name + "/" + typ + "/actions/add_records"
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		fk.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q %q %q: %s", w.Code, name, typ, body, w.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("not JSON: %q", w.Body)
		}
	})
}
