package azure

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi/dnsapitest"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

const (
	tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	client = "00000000-0000-0000-0000-0000000000c1"
	sub    = "00000000-0000-0000-0000-00000000005b"
	base   = "/subscriptions/" + sub + "/resourceGroups/rg-dns/providers/Microsoft.Network/dnsZones/contoso.test"
	api    = "?api-version=" + APIVersion
)

func newFake() (*Fake, *dnsserver.MemZone) {
	z := dnsapitest.Zone(dnsapitest.SOA(300), []org.Record{
		{Name: "ns1.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.53"},
		{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
		{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
		{Name: "contoso.test.", Type: "MX", TTL: 300, Data: "10 mail.contoso.test."},
		{Name: "multi.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.1"},
		{Name: "multi.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.2"},
	})
	return &Fake{Store: &dnsapi.Store{Backend: z}, TenantID: tenant, ClientID: client, ClientSecret: "s3cret",
		SubscriptionID: sub, ResourceGroup: "rg-dns", MaxPerPage: 3}, z
}

type answer struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, h http.Handler, method, path, auth string, header map[string]string, body string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	b, _ := io.ReadAll(w.Body)
	a := answer{code: w.Code, header: w.Header(), raw: string(b)}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &a.body); err != nil {
			t.Fatalf("%s %s: not JSON: %q", method, path, b)
		}
	}
	return a
}

// login gets a token through the client-credentials grant.
func login(t *testing.T, f *Fake) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {"s3cret"},
		"scope": {"https://management.core.windows.net//.default openid offline_access profile"}}
	a := do(t, f, "POST", "/"+tenant+"/oauth2/v2.0/token", "", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	tok, _ := a.body["access_token"].(string)
	if a.code != 200 || tok == "" || a.body["token_type"] != "Bearer" {
		t.Fatalf("token: %d %s", a.code, a.raw)
	}
	return "Bearer " + tok
}

func armCode(a answer) string {
	e, _ := a.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestFakeLogin(t *testing.T) {
	f, _ := newFake()
	form := func(kv ...string) string {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {"s3cret"}, "scope": {"https://management.azure.com//.default"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	ct := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		code                     int
		want                     string
	}{
		{"instance discovery", "GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=https%3A%2F%2Flogin.microsoftonline.com%2F" + tenant + "%2Foauth2%2Fv2.0%2Fauthorize", "", nil, 200, `"tenant_discovery_endpoint":"https://login.microsoftonline.com/` + tenant + `/v2.0/.well-known/openid-configuration"`},
		{"instance discovery of another cloud", "GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=https%3A%2F%2Flogin.example.test%2Fx%2Foauth2%2Fv2.0%2Fauthorize", "", nil, 400, "AADSTS50049"},
		{"openid configuration", "GET", "/" + tenant + "/v2.0/.well-known/openid-configuration", "", nil, 200, `"token_endpoint":"https://login.microsoftonline.com/` + tenant + `/oauth2/v2.0/token"`},
		{"unknown tenant", "GET", "/contoso.onmicrosoft.test/v2.0/.well-known/openid-configuration", "", nil, 400, "AADSTS90002"},
		{"token", "POST", "/" + tenant + "/oauth2/v2.0/token", form(), ct, 200, `"access_token":"lab.`},
		{"wrong secret", "POST", "/" + tenant + "/oauth2/v2.0/token", form("client_secret", "nope"), ct, 401, "AADSTS7000215"},
		{"no secret", "POST", "/" + tenant + "/oauth2/v2.0/token", form("client_secret", ""), ct, 401, "AADSTS7000218"},
		{"unknown client", "POST", "/" + tenant + "/oauth2/v2.0/token", form("client_id", "other"), ct, 400, "AADSTS700016"},
		{"another resource", "POST", "/" + tenant + "/oauth2/v2.0/token", form("scope", "https://graph.microsoft.com/.default"), ct, 400, "invalid_scope"},
		{"a grant for users", "POST", "/" + tenant + "/oauth2/v2.0/token", form("grant_type", "password"), ct, 400, "unsupported_grant_type"},
		{"not a form", "POST", "/" + tenant + "/oauth2/v2.0/token", `{"grant_type":"client_credentials"}`, map[string]string{"Content-Type": "application/json"}, 400, "invalid_request"},
		{"another endpoint", "GET", "/" + tenant + "/oauth2/v2.0/devicecode", "", nil, 404, "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, f, tc.method, tc.path, "", tc.header, tc.body)
			if a.code != tc.code || !strings.Contains(a.raw, tc.want) {
				t.Fatalf("%d %s, want %d and %s", a.code, a.raw, tc.code, tc.want)
			}
		})
	}
}

func TestFakeRecordSets(t *testing.T) {
	f, z := newFake()
	auth := login(t, f)
	get := do(t, f, "GET", base+"/A/multi"+api, auth, nil, "")
	etag, _ := get.body["etag"].(string)
	js := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name, method, path, auth string
		header                   map[string]string
		body                     string
		code                     int
		want                     string
	}{
		{"no token", "GET", base + "/A/outlook" + api, "", nil, "", 401, "AuthenticationFailed"},
		{"a token not issued", "GET", base + "/A/outlook" + api, "Bearer forged", nil, "", 401, "InvalidAuthenticationToken"},
		{"another api-version", "GET", base + "/A/outlook?api-version=2023-07-01-preview", auth, nil, "", 400, "InvalidApiVersionParameter"},
		{"get", "GET", base + "/A/outlook" + api, auth, nil, "", 200, `"ARecords":[{"ipv4Address":"203.0.113.10"}]`},
		{"get the apex MX", "GET", base + "/MX/@" + api, auth, nil, "", 200, `"MXRecords":[{"preference":10,"exchange":"mail.contoso.test."}]`},
		{"get the apex SOA", "GET", base + "/SOA/@" + api, auth, nil, "", 200, `"serialNumber":1`},
		{"get absent", "GET", base + "/A/absent" + api, auth, nil, "", 404, `{"code":"NotFound","message":"The resource record 'absent' does not exist in resource group 'rg-dns' of subscription '` + sub + `'."}`},
		{"another subscription", "GET", strings.Replace(base, sub, "11111111-0000-0000-0000-000000000000", 1) + "/A/outlook" + api, auth, nil, "", 404, "SubscriptionNotFound"},
		{"another resource group", "GET", strings.Replace(base, "rg-dns", "rg-other", 1) + "/A/outlook" + api, auth, nil, "", 404, "ResourceGroupNotFound"},
		{"another zone", "GET", strings.Replace(base, "contoso.test", "fabrikam.test", 1) + "/A/outlook" + api, auth, nil, "", 404, "ParentResourceNotFound"},
		{"a type Azure lacks", "GET", base + "/TLSA/outlook" + api, auth, nil, "", 400, "is not supported"},
		{"put records of another type", "PUT", base + "/A/x" + api, auth, js, `{"properties":{"TTL":60,"TXTRecords":[{"value":["v"]}]}}`, 400, "cannot contain TXTRecords"},
		{"put without TTL", "PUT", base + "/A/x" + api, auth, js, `{"properties":{"ARecords":[{"ipv4Address":"203.0.113.9"}]}}`, 400, "'TTL'"},
		{"put a bad address", "PUT", base + "/A/x" + api, auth, js, `{"properties":{"TTL":60,"ARecords":[{"ipv4Address":"203.0.113"}]}}`, 400, "not valid for type A"},
		{"put not JSON", "PUT", base + "/A/x" + api, auth, js, `{"properties":`, 400, "InvalidRequestContent"},
		{"put the SOA", "PUT", base + "/SOA/@" + api, auth, js, `{"properties":{"TTL":60}}`, 400, "BadRequest"},
		{"create over an existing one", "PUT", base + "/A/outlook" + api, auth, map[string]string{"Content-Type": "application/json", "If-None-Match": "*"}, `{"properties":{"TTL":60,"ARecords":[{"ipv4Address":"203.0.113.9"}]}}`, 412, "already exists"},
		{"update on a stale etag", "PUT", base + "/A/multi" + api, auth, map[string]string{"Content-Type": "application/json", "If-Match": "00000000-0000-0000-0000-000000000000"}, `{"properties":{"TTL":60,"ARecords":[{"ipv4Address":"203.0.113.9"}]}}`, 412, "etag mismatch"},
		{"update on the etag", "PUT", base + "/A/multi" + api, auth, map[string]string{"Content-Type": "application/json", "If-Match": etag}, `{"properties":{"TTL":60,"ARecords":[{"ipv4Address":"203.0.113.7"},{"ipv4Address":"203.0.113.8"}]}}`, 200, `"TTL":60`},
		{"create", "PUT", base + "/TXT/_acme-challenge.outlook" + api, auth, map[string]string{"Content-Type": "application/json", "If-None-Match": "*"}, `{"properties":{"TTL":60,"TXTRecords":[{"value":["a \"quoted\" value"]},{"value":["two","strings"]}]}}`, 201, `"value":["two","strings"]`},
		{"delete on a stale etag", "DELETE", base + "/CNAME/www" + api, auth, map[string]string{"If-Match": "00000000-0000-0000-0000-000000000000"}, "", 412, "PreconditionFailed"},
		{"delete", "DELETE", base + "/CNAME/www" + api, auth, nil, "", 200, ""},
		{"delete what is not there", "DELETE", base + "/CNAME/www" + api, auth, nil, "", 204, ""},
		{"delete the apex NS", "DELETE", base + "/NS/@" + api, auth, nil, "", 400, "cannot be deleted"},
		{"patch", "PATCH", base + "/A/outlook" + api, auth, js, `{}`, 405, "MethodNotAllowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, f, tc.method, tc.path, tc.auth, tc.header, tc.body)
			if a.code != tc.code || !strings.Contains(a.raw, tc.want) {
				t.Fatalf("%d %s, want %d and %s", a.code, a.raw, tc.code, tc.want)
			}
		})
	}
	// What the API accepted is what the zone holds.
	zz, _ := z.Zone()
	text := dnsapi.Text(zz)
	for _, want := range []string{"multi.contoso.test.\t60\tIN\tA\t203.0.113.7", "multi.contoso.test.\t60\tIN\tA\t203.0.113.8",
		"_acme-challenge.outlook.contoso.test.\t60\tIN\tTXT\t\"a \\\"quoted\\\" value\"", "_acme-challenge.outlook.contoso.test.\t60\tIN\tTXT\t\"two\" \"strings\""} {
		if !strings.Contains(text, want) {
			t.Errorf("the zone lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "www.contoso.test.") || strings.Contains(text, "203.0.113.1\n") || zz.SOA.Serial != 4 {
		t.Errorf("the zone after the changes (serial %d):\n%s", zz.SOA.Serial, text)
	}
}

// List By DNS Zone pages with $top and nextLink until every record set
// was seen once, the apex SOA and NS among them.
func TestFakeListPages(t *testing.T) {
	f, _ := newFake()
	auth := login(t, f)
	next := base + "/recordsets" + api + "&$top=2"
	var names []string
	pages := 0
	for next != "" {
		a := do(t, f, "GET", next, auth, nil, "")
		if a.code != 200 {
			t.Fatalf("%s: %d %s", next, a.code, a.raw)
		}
		pages++
		for _, v := range a.body["value"].([]any) {
			rs := v.(map[string]any)
			names = append(names, rs["type"].(string)[len("Microsoft.Network/dnszones/"):]+" "+rs["name"].(string))
		}
		link, _ := a.body["nextLink"].(string)
		if link == "" {
			break
		}
		u, err := url.Parse(link)
		if err != nil || u.Host != ManagementHost || u.Query().Get("api-version") != APIVersion {
			t.Fatalf("nextLink %q", link)
		}
		next = u.RequestURI()
	}
	want := "SOA @, NS @, MX @, A multi, A ns1, A outlook, CNAME www"
	if got := strings.Join(names, ", "); got != want || pages != 4 {
		t.Fatalf("%d pages: %s, want 4: %s", pages, got, want)
	}
	if a := do(t, f, "GET", base+"/recordsets"+api+"&$skipToken=!!", auth, nil, ""); a.code != 400 {
		t.Errorf("a forged $skipToken: %d %s", a.code, a.raw)
	}
	if a := do(t, f, "GET", base+"/A"+api, auth, nil, ""); a.code != 200 || len(a.body["value"].([]any)) != 3 {
		t.Errorf("list by type A: %d %s", a.code, a.raw)
	}
}

func TestFakeThrottles(t *testing.T) {
	f, _ := newFake()
	auth := login(t, f)
	f.Throttle(1)
	a := do(t, f, "GET", base+"/A/outlook"+api, auth, nil, "")
	if a.code != 429 || a.header.Get("Retry-After") == "" || armCode(a) != "TooManyRequests" {
		t.Fatalf("throttled: %d %v %s", a.code, a.header, a.raw)
	}
	if a := do(t, f, "GET", base+"/A/outlook"+api, auth, nil, ""); a.code != 200 {
		t.Fatalf("after the throttle: %d %s", a.code, a.raw)
	}
	if r := f.Requests(); len(r) != 3 || r[1] != r[2] {
		t.Fatalf("requests: %q", r)
	}
}

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want Resource
		err  bool
	}{
		{base + "/A/outlook", Resource{Subscription: sub, ResourceGroup: "rg-dns", Zone: "contoso.test", Type: "A", Name: "outlook"}, false},
		{strings.ToLower(base) + "/txt/_acme-challenge.outlook", Resource{Subscription: sub, ResourceGroup: "rg-dns", Zone: "contoso.test", Type: "TXT", Name: "_acme-challenge.outlook"}, false},
		{base + "/recordsets", Resource{Subscription: sub, ResourceGroup: "rg-dns", Zone: "contoso.test", Collection: "recordsets"}, false},
		{base + "/CNAME", Resource{Subscription: sub, ResourceGroup: "rg-dns", Zone: "contoso.test", Collection: "CNAME"}, false},
		{base + "/A/%2A", Resource{Subscription: sub, ResourceGroup: "rg-dns", Zone: "contoso.test", Type: "A", Name: "*"}, false},
		{base, Resource{}, true},
		{base + "/A/b/c", Resource{}, true},
		{strings.Replace(base, "providers", "provider", 1) + "/A/x", Resource{}, true},
		{strings.Replace(base, "rg-dns", "", 1) + "/A/x", Resource{}, true},
		{base + "/A/%zz", Resource{}, true},
	}
	for _, tc := range tests {
		got, err := ParsePath(tc.path)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParsePath(%q) = %+v, %v", tc.path, got, err)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	f.Add(base + "/A/outlook")
	f.Add(base + "/recordsets")
	f.Add("/subscriptions//resourceGroups/%/providers")
	f.Fuzz(func(t *testing.T, p string) {
		r, err := ParsePath(p)
		if err == nil && (r.Subscription == "" || r.ResourceGroup == "" || r.Zone == "" || (r.Collection == "") == (r.Type == "")) {
			t.Fatalf("ParsePath(%q) = %+v without an error", p, r)
		}
	})
}
