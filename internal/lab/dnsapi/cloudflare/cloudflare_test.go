package cloudflare

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

const zoneID = "023e105f4ecef8ad9ca31a8372d0c353"

func newFake() (*Fake, *dnsserver.MemZone) {
	z := dnsapitest.Zone(dnsapitest.SOA(300), []org.Record{
		{Name: "ns1.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.53"},
		{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
		{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
		{Name: "contoso.test.", Type: "MX", TTL: 300, Data: "10 mail.contoso.test."},
		{Name: "a.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.1"},
		{Name: "b.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.2"},
		{Name: "c.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.3"},
	})
	return &Fake{Store: &dnsapi.Store{Backend: z}, Token: "tok", ZoneID: zoneID, MaxPerPage: 5}, z
}

type reply struct {
	Result     json.RawMessage `json:"result"`
	Success    bool            `json:"success"`
	Errors     []cfError       `json:"errors"`
	ResultInfo *pageInfo       `json:"result_info"`
}

func do(t *testing.T, h http.Handler, method, path, auth, body string) (int, reply) {
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
	var r reply
	b, _ := io.ReadAll(w.Body)
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s %s: not JSON: %q", method, path, b)
	}
	return w.Code, r
}

func TestFakeRequests(t *testing.T) {
	base := "/client/v4/zones/" + zoneID + "/dns_records"
	tests := []struct {
		name         string
		method, path string
		auth, body   string
		status, code int
		check        func(t *testing.T, r reply)
	}{
		{"no authorization", "GET", base, "", "", 400, 9106, nil},
		{"wrong token", "GET", base, "Bearer nope", "", 403, 9109, nil},
		{"basic auth is not a token", "GET", base, "Basic dG9rOg==", "", 403, 9109, nil},
		{"unknown zone", "GET", "/client/v4/zones/ffff/dns_records", "Bearer tok", "", 404, 7003, nil},
		{"zone by name", "GET", "/client/v4/zones?name=contoso.test", "Bearer tok", "", 200, 0, func(t *testing.T, r reply) {
			if !strings.Contains(string(r.Result), `"id":"`+zoneID+`"`) || r.ResultInfo.TotalCount != 1 {
				t.Errorf("result %s", r.Result)
			}
		}},
		{"first page capped at 5", "GET", base + "?per_page=100", "Bearer tok", "", 200, 0, func(t *testing.T, r reply) {
			if i := r.ResultInfo; i.PerPage != 5 || i.Count != 5 || i.TotalCount != 7 || i.TotalPages != 2 {
				t.Errorf("result_info %+v", i)
			}
		}},
		{"second page", "GET", base + "?page=2&per_page=5", "Bearer tok", "", 200, 0, func(t *testing.T, r reply) {
			if r.ResultInfo.Count != 2 {
				t.Errorf("result_info %+v", r.ResultInfo)
			}
		}},
		{"per_page below the documented minimum", "GET", base + "?per_page=2", "Bearer tok", "", 400, 1004, nil},
		{"name and type filter, MX as content and priority", "GET", base + "?name=contoso.test&type=MX", "Bearer tok", "", 200, 0, func(t *testing.T, r reply) {
			if !strings.Contains(string(r.Result), `"content":"mail.contoso.test","priority":10`) {
				t.Errorf("result %s", r.Result)
			}
		}},
		{"create needs JSON", "POST", base, "Bearer tok", "", 400, 6003, nil},
		{"create with bad content", "POST", base, "Bearer tok", `{"type":"A","name":"x","content":"not-an-ip","ttl":60}`, 400, 9000, nil},
		{"create with a TTL under 60", "POST", base, "Bearer tok", `{"type":"A","name":"x","content":"203.0.113.9","ttl":30}`, 400, 9000, nil},
		{"duplicate", "POST", base, "Bearer tok", `{"type":"A","name":"outlook","content":"203.0.113.10","ttl":300}`, 400, 81058, nil},
		{"A beside a CNAME", "POST", base, "Bearer tok", `{"type":"A","name":"www.contoso.test","content":"203.0.113.9","ttl":300}`, 400, 81053, nil},
		{"delete unknown", "DELETE", base + "/00000000000000000000000000000000", "Bearer tok", "", 404, 81044, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, z := newFake()
			before, _ := z.Zone()
			status, r := do(t, f, tc.method, tc.path, tc.auth, tc.body)
			if status != tc.status || (tc.code != 0 && (len(r.Errors) == 0 || r.Errors[0].Code != tc.code)) || r.Success != (status < 400) {
				t.Fatalf("%d %+v, want %d code %d", status, r, tc.status, tc.code)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			if after, _ := z.Zone(); status >= 400 && dnsapi.Text(after) != dnsapi.Text(before) {
				t.Fatal("a refused request changed the zone")
			}
		})
	}
}

// What the fake accepts is what the zone then holds, serial raised.
func TestFakeWritesTheZone(t *testing.T) {
	f, z := newFake()
	base := "/client/v4/zones/" + zoneID + "/dns_records"
	status, r := do(t, f, "POST", base, "Bearer tok", `{"type":"TXT","name":"_acme-challenge.outlook","content":"\"tok\"","ttl":60}`)
	if status != 200 {
		t.Fatalf("create: %d %+v", status, r)
	}
	var rec record
	json.Unmarshal(r.Result, &rec)
	zz, _ := z.Zone()
	if zz.SOA.Serial != 2 || !strings.Contains(dnsapi.Text(zz), "_acme-challenge.outlook.contoso.test.\t60\tIN\tTXT\t\"tok\"") {
		t.Fatalf("zone after create:\n%s", dnsapi.Text(zz))
	}
	if status, _ := do(t, f, "PATCH", base+"/"+rec.ID, "Bearer tok", `{"ttl":120}`); status != 200 {
		t.Fatalf("patch: %d", status)
	}
	zz, _ = z.Zone()
	if !strings.Contains(dnsapi.Text(zz), "_acme-challenge.outlook.contoso.test.\t120\tIN\tTXT\t\"tok\"") {
		t.Fatalf("zone after patch:\n%s", dnsapi.Text(zz))
	}
}

func FuzzFakeCreate(f *testing.F) {
	for _, s := range []string{`{"type":"A","name":"x","content":"203.0.113.9","ttl":60}`, `{"type":"TXT","name":"@","content":"a\"b"}`, `{`, `{"type":"MX","name":"m","content":"mail","priority":5}`, `{"type":"CNAME","name":"outlook","content":"x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fk, _ := newFake()
		req := httptest.NewRequest("POST", "/client/v4/zones/"+zoneID+"/dns_records", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		fk.ServeHTTP(w, req)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		var r reply
		if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
			t.Fatalf("not JSON: %q", w.Body)
		}
	})
}
