package ionos

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi/dnsapitest"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

const zoneID = "11af3414-ebba-11e9-8df5-66fbe8a334b4"

func newFake() (*Fake, *dnsserver.MemZone) {
	z := dnsapitest.Zone(org.SOA{MName: "ns1.contoso.test.", RName: "hostmaster.contoso.test.", Serial: 1, TTL: 300}, []org.Record{
		{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
		{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
		{Name: "contoso.test.", Type: "MX", TTL: 300, Data: "10 mail.contoso.test."},
	})
	return &Fake{Store: &dnsapi.Store{Backend: z}, APIKey: "pre.secret", ZoneID: zoneID}, z
}

func TestFakeRequests(t *testing.T) {
	base := "/dns/v1/zones/" + zoneID
	tests := []struct {
		name, method, path, key, body string
		status                        int
		want                          string
	}{
		{"no key", "GET", "/dns/v1/zones", "", "", 401, `"code":"UNAUTHORIZED"`},
		{"wrong key", "GET", "/dns/v1/zones", "pre.wrong", "", 401, `Missing or invalid API key.`},
		{"zones", "GET", "/dns/v1/zones", "pre.secret", "", 200, `{"id":"` + zoneID + `","name":"contoso.test","type":"NATIVE"}`},
		{"unknown zone", "GET", "/dns/v1/zones/nope", "pre.secret", "", 404, `"code":"ZONE_NOT_FOUND"`},
		{"filtered records, MX priority apart", "GET", base + "?recordType=MX&recordName=contoso.test", "pre.secret", "", 200, `"content":"mail.contoso.test","changeDate":"2026-12-01T00:00:00.000Z","ttl":300,"prio":10`},
		{"create needs a list", "POST", base + "/records", "pre.secret", `{"name":"x.contoso.test"}`, 400, `"code":"INVALID_REQUEST_BODY"`},
		{"create outside the zone", "POST", base + "/records", "pre.secret", `[{"name":"x.fabrikam.test","type":"A","content":"203.0.113.9","ttl":60}]`, 400, `"code":"INVALID_RECORD"`},
		{"create with a TTL under 60", "POST", base + "/records", "pre.secret", `[{"name":"x.contoso.test","type":"A","content":"203.0.113.9","ttl":30}]`, 400, `"code":"INVALID_RECORD"`},
		{"a batch with one duplicate applies nothing", "POST", base + "/records", "pre.secret", `[{"name":"y.contoso.test","type":"A","content":"203.0.113.9","ttl":60},{"name":"outlook.contoso.test","type":"A","content":"203.0.113.10","ttl":300}]`, 400, `"code":"RECORD_ALREADY_EXISTS"`},
		{"delete unknown", "DELETE", base + "/records/0000", "pre.secret", "", 404, `"code":"RECORD_NOT_FOUND"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, z := newFake()
			before, _ := z.Zone()
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.key != "" {
				req.Header.Set("X-API-Key", tc.key)
			}
			if tc.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			w := httptest.NewRecorder()
			f.ServeHTTP(w, req)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d %s, want %d with %s", w.Code, w.Body, tc.status, tc.want)
			}
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("not JSON: %q", w.Body)
			}
			if after, _ := z.Zone(); w.Code >= 400 && dnsapi.Text(after) != dnsapi.Text(before) {
				t.Fatal("a refused request changed the zone")
			}
		})
	}
}

func FuzzFakeCreate(f *testing.F) {
	for _, s := range []string{`[{"name":"x.contoso.test","type":"TXT","content":"a b","ttl":60}]`, `[]`, `[{`, `[{"name":"contoso.test","type":"MX","content":"m","prio":5}]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fk, _ := newFake()
		req := httptest.NewRequest("POST", "/dns/v1/zones/"+zoneID+"/records", strings.NewReader(body))
		req.Header.Set("X-API-Key", "pre.secret")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		fk.ServeHTTP(w, req)
		if w.Code != 201 && w.Code != 400 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("not JSON: %q", w.Body)
		}
	})
}
