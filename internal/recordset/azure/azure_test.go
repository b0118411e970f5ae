package azure

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	azfake "github.com/exrunbook/exrunbook/internal/lab/dnsapi/azure"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi/dnsapitest"
	"github.com/exrunbook/exrunbook/internal/lab/org"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

func TestRecordSetRoundTrip(t *testing.T) {
	tests := []struct {
		typ  uint16
		data []string
	}{
		{dns.TypeA, []string{"203.0.113.1", "203.0.113.2"}},
		{dns.TypeAAAA, []string{"2001:db8::1"}},
		{dns.TypeCNAME, []string{"outlook.contoso.test."}},
		{dns.TypeMX, []string{"10 mail.contoso.test.", "20 mail2.contoso.test."}},
		{dns.TypeNS, []string{"ns1.contoso.test."}},
		{dns.TypePTR, []string{"host.contoso.test."}},
		{dns.TypeSRV, []string{"0 5 443 autodiscover.contoso.test."}},
		{dns.TypeTXT, []string{`"v=spf1 mx -all"`, `"a \"quoted\" \\ value"`, `"two" "strings"`, `"bytes \001\255"`}},
		{dns.TypeCAA, []string{`0 issue "letsencrypt.org"`}},
	}
	for _, tc := range tests {
		t.Run(dns.TypeToString[tc.typ], func(t *testing.T) {
			in, err := recordset.Canonical("x.contoso.test.", tc.typ, 300, tc.data...)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ToProperties(in)
			if err != nil {
				t.Fatal(err)
			}
			typ := "Microsoft.Network/dnszones/" + dns.TypeToString[tc.typ]
			out, err := FromRecordSet("x.contoso.test.", tc.typ, &armdns.RecordSet{Type: &typ, Properties: p})
			if err != nil || out.String() != in.String() {
				t.Fatalf("round trip: %s, %v; want %s", out, err, in)
			}
		})
	}
}

func TestToPropertiesTXTValues(t *testing.T) {
	in, _ := recordset.Canonical("x.contoso.test.", dns.TypeTXT, 60, `"a \"q\"" "b\\c"`)
	p, err := ToProperties(in)
	if err != nil || len(p.TxtRecords) != 1 || len(p.TxtRecords[0].Value) != 2 || *p.TxtRecords[0].Value[0] != `a "q"` || *p.TxtRecords[0].Value[1] != `b\c` {
		t.Fatalf("TXT properties: %+v %v", p, err)
	}
	if _, err := ToProperties(recordset.RRset{Name: "x.contoso.test.", Type: dns.TypeSSHFP, TTL: 60, Data: []string{"1 1 0123456789abcdef"}}); err == nil {
		t.Fatal("SSHFP accepted")
	}
}

func TestFromRecordSetRefuses(t *testing.T) {
	str := func(s string) *string { return &s }
	ttl := int64(60)
	tests := []struct {
		name string
		typ  uint16
		rs   *armdns.RecordSet
		want string
	}{
		{"nil", dns.TypeA, nil, "no properties"},
		{"no properties", dns.TypeA, &armdns.RecordSet{}, "no properties"},
		{"an alias", dns.TypeA, &armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl, TargetResource: &armdns.SubResource{ID: str("/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/publicIPAddresses/ip")}}}, "is an alias"},
		{"another type", dns.TypeA, &armdns.RecordSet{Type: str("Microsoft.Network/dnszones/TXT"), Properties: &armdns.RecordSetProperties{TTL: &ttl}}, `of type "Microsoft.Network/dnszones/TXT"`},
		{"records of another type", dns.TypeA, &armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl, TxtRecords: []*armdns.TxtRecord{{Value: []*string{str("x")}}}}}, "records of another type"},
		{"a record without its address", dns.TypeA, &armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl, ARecords: []*armdns.ARecord{{}}}}, "without ipv4Address"},
		{"a nil record", dns.TypeMX, &armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl, MxRecords: []*armdns.MxRecord{nil}}}, "without preference"},
		{"a bad address", dns.TypeA, &armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl, ARecords: []*armdns.ARecord{{IPv4Address: str("203.0.113")}}}}, "does not parse"},
		{"a negative TTL", dns.TypeA, &armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: new(int64(-1))}}, "out of range"},
		{"a type Azure lacks", dns.TypeSSHFP, &armdns.RecordSet{Properties: &armdns.RecordSetProperties{TTL: &ttl}}, "no record sets of type SSHFP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromRecordSet("x.contoso.test.", tc.typ, tc.rs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FromRecordSet: %v; want %q", err, tc.want)
			}
		})
	}
}

// Bytes from the network: an answer body, as the SDK decodes it, never
// panics the conversion, and what it accepts is canonical.
func FuzzFromRecordSet(f *testing.F) {
	f.Add([]byte(`{"type":"Microsoft.Network/dnszones/TXT","properties":{"TTL":60,"TXTRecords":[{"value":["a","b\"c"]}]}}`), uint16(dns.TypeTXT))
	f.Add([]byte(`{"properties":{"TTL":60,"ARecords":[{"ipv4Address":"203.0.113.1"},null]}}`), uint16(dns.TypeA))
	f.Add([]byte(`{"properties":{"TTL":1,"SOARecord":{"host":"ns1","email":"h","serialNumber":1}}}`), uint16(dns.TypeSOA))
	f.Add([]byte(`{"properties":{"MXRecords":[{"preference":10,"exchange":"mail"}],"CNAMERecord":{}}}`), uint16(dns.TypeMX))
	f.Fuzz(func(t *testing.T, body []byte, typ uint16) {
		var rs armdns.RecordSet
		if rs.UnmarshalJSON(body) != nil {
			return
		}
		set, err := FromRecordSet("x.contoso.test.", typ, &rs)
		if err != nil {
			return
		}
		if again, err := recordset.Canonical(set.Name, set.Type, set.TTL, set.Data...); err != nil || again.String() != set.String() {
			t.Fatalf("accepted %s, which is not canonical (%s, %v)", set, again, err)
		}
	})
}

func TestNewRequiresSettings(t *testing.T) {
	full := Options{TenantID: "t", ClientID: "c", ClientSecret: "s", SubscriptionID: "s", ResourceGroup: "g", Key: "certificate.acme.challenge_dns", SecretSetting: "ENV or file"}
	for _, tc := range []struct {
		edit func(*Options)
		want string
	}{
		{func(o *Options) { o.TenantID = "" }, "certificate.acme.challenge_dns.azure.tenant_id is not set"},
		{func(o *Options) { o.ResourceGroup = "" }, "certificate.acme.challenge_dns.azure.resource_group is not set"},
		{func(o *Options) { o.ClientSecret = "" }, "no client secret: set ENV or file"},
	} {
		o := full
		tc.edit(&o)
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v; want %q", err, tc.want)
		}
	}
}

// onlyAzure fails the test on a request for any host but the two the
// fake stands in for, so that nothing leaves 127.0.0.1.
type onlyAzure struct {
	t    *testing.T
	next http.RoundTripper
}

func (o onlyAzure) RoundTrip(r *http.Request) (*http.Response, error) {
	if h := r.URL.Hostname(); h != LoginHost && h != ManagementHost {
		o.t.Errorf("a request for %s", r.URL)
		return nil, errors.New("refused: not a host of the fake")
	}
	return o.next.RoundTrip(r)
}

// The public cloud is used whatever AZURE_AUTHORITY_HOST says: the
// client secret goes to login.microsoftonline.com only.
func TestAuthorityHostFromEnvironmentIgnored(t *testing.T) {
	t.Setenv("AZURE_AUTHORITY_HOST", "https://login.example.test/")
	l := newLab(t, org.Record{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"})
	if _, err := l.p.GetRRsets(context.Background(), "contoso.test.", "outlook.contoso.test.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
}

type lab struct {
	fake *azfake.Fake
	p    recordset.Provider
}

func newLab(t *testing.T, records ...org.Record) *lab {
	t.Helper()
	return newLabWith(t, nil, records...)
}

// newLabWith lets edit set the fake up before it serves.
func newLabWith(t *testing.T, edit func(*azfake.Fake), records ...org.Record) *lab {
	t.Helper()
	z := dnsapitest.Zone(dnsapitest.SOA(300), records)
	f := &azfake.Fake{Store: &dnsapi.Store{Backend: z}, TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47", ClientID: "00000000-0000-0000-0000-0000000000c1",
		ClientSecret: "s3cret", SubscriptionID: "00000000-0000-0000-0000-00000000005b", ResourceGroup: "rg-dns", RetryAfter: "0"}
	if edit != nil {
		edit(f)
	}
	hs := httptest.NewServer(f)
	t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	p, err := New(Options{TenantID: f.TenantID, ClientID: f.ClientID, ClientSecret: "s3cret", SubscriptionID: f.SubscriptionID, ResourceGroup: "rg-dns",
		SecretSetting: "test", RetryDelay: 10 * time.Millisecond, Transport: onlyAzure{t, &dnsapi.Redirect{Hosts: []string{LoginHost, ManagementHost}, Target: u}}})
	if err != nil {
		t.Fatal(err)
	}
	return &lab{fake: f, p: p}
}

// Throttling is retried by the SDK; throttling that does not stop is
// transient after five attempts.
func TestThrottling(t *testing.T) {
	l := newLab(t, org.Record{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"})
	ctx := context.Background()
	// The first two requests are the identity platform's.
	l.fake.Throttle(2)
	got, err := l.p.GetRRsets(ctx, "contoso.test.", "outlook.contoso.test.", dns.TypeA)
	if err != nil || got[0].String() != "outlook.contoso.test. A 203.0.113.10 (TTL 300)" {
		t.Fatalf("after two 429s: %v %v", got, err)
	}
	before := len(l.fake.Requests())
	l.fake.Throttle(1)
	if _, err = l.p.GetRRsets(ctx, "contoso.test.", "outlook.contoso.test.", dns.TypeA); err != nil {
		t.Fatalf("after a 429 of ARM's: %v", err)
	}
	if n := len(l.fake.Requests()) - before; n != 2 {
		t.Errorf("%d requests for one read after a 429: %q", n, l.fake.Requests()[before:])
	}
	before = len(l.fake.Requests())
	l.fake.Throttle(10)
	_, err = l.p.GetRRsets(ctx, "contoso.test.", "outlook.contoso.test.", dns.TypeA)
	if err == nil || !errkind.IsTransient(err) || !strings.Contains(err.Error(), "HTTP 429: TooManyRequests: The request is being throttled") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("throttled for good: %v", err)
	}
	if n := len(l.fake.Requests()) - before; n != 5 {
		t.Errorf("%d attempts, want 5: %q", n, l.fake.Requests()[before:])
	}
}

// conflicting changes the zone once, right after the first GET of a
// record set: a write by someone else between exrunbook's read and its
// write.
type conflicting struct {
	*azfake.Fake
	change func()
}

func (c *conflicting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.Fake.ServeHTTP(w, r)
	if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/A/outlook") && c.change != nil {
		c.change()
		c.change = nil
	}
}

// A record set changed between the read and the conditional write is not
// overwritten: the write fails with 412, naming the record set.
func TestConcurrentChangeRefused(t *testing.T) {
	z := dnsapitest.Zone(dnsapitest.SOA(300), []org.Record{{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"}})
	f := &azfake.Fake{Store: &dnsapi.Store{Backend: z}, TenantID: "t.onmicrosoft.test", ClientID: "c", ClientSecret: "s3cret", SubscriptionID: "s", ResourceGroup: "g"}
	h := &conflicting{Fake: f, change: func() {
		z.UpdateZone(func(zz *org.Zone) error { zz.Records[0].Data = "198.51.100.7"; return nil })
	}}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	p, err := New(Options{TenantID: f.TenantID, ClientID: "c", ClientSecret: "s3cret", SubscriptionID: "s", ResourceGroup: "g", SecretSetting: "test",
		Transport: &dnsapi.Redirect{Hosts: []string{LoginHost, ManagementHost}, Target: u}})
	if err != nil {
		t.Fatal(err)
	}
	err = p.SetRRset(context.Background(), "contoso.test.", recordset.RRset{Name: "outlook.contoso.test.", Type: dns.TypeA, TTL: 60, Data: []string{"203.0.113.20"}})
	if err == nil || !strings.Contains(err.Error(), "outlook.contoso.test. A was changed by someone else") || !strings.Contains(err.Error(), "PreconditionFailed") {
		t.Fatalf("SetRRset: %v", err)
	}
	zz, _ := z.Zone()
	if zz.Records[0].Data != "198.51.100.7" {
		t.Fatalf("the other change was overwritten: %+v", zz.Records)
	}
	var se *serviceError
	if !errors.As(err, &se) {
		t.Errorf("the SDK's error is not kept: %T", err)
	}
}

func TestExplain(t *testing.T) {
	p := &Provider{o: Options{Key: "public_dns", SecretSetting: "ENV or file", ClientID: "app-1", SubscriptionID: "sub-1", ResourceGroup: "rg-1"}}
	resp := func(status int, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPut, "https://management.azure.com/subscriptions/sub-1/x", nil)
		return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req}
	}
	armErr := func(status int, body string) error { return runtime.NewResponseError(resp(status, body)) }
	tests := []struct {
		name      string
		err       error
		want      string
		transient bool
	}{
		{"wrong secret", &azidentity.AuthenticationFailedError{RawResponse: resp(401, `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}`)},
			"refused the service principal (HTTP 401; check ENV or file, public_dns.azure.client_id and public_dns.azure.tenant_id): invalid_client: AADSTS7000215: Invalid client secret provided.", false},
		{"identity platform down", &azidentity.AuthenticationFailedError{RawResponse: resp(503, `{"error":"temporarily_unavailable","error_description":"AADSTS90033"}`)},
			"answered HTTP 503: temporarily_unavailable: AADSTS90033", true},
		{"no role", armErr(403, `{"error":{"code":"AuthorizationFailed","message":"The client 'x' does not have authorization to perform action 'Microsoft.Network/dnsZones/A/write'."}}`),
			"the service principal app-1 needs the DNS Zone Contributor role on the zone contoso.test.): AuthorizationFailed: The client 'x' does not have authorization", false},
		{"token refused", armErr(401, `{"error":{"code":"InvalidAuthenticationToken","message":"The access token is invalid."}}`), "refused the token (HTTP 401; check ENV or file", false},
		{"subscription", armErr(404, `{"error":{"code":"SubscriptionNotFound","message":"The subscription 'sub-1' could not be found."}}`), `public_dns.azure.subscription_id "sub-1": SubscriptionNotFound`, false},
		{"zone", armErr(404, `{"error":{"code":"ParentResourceNotFound","message":"Parent resource 'contoso.test' not found."}}`), `the zone contoso.test. is not in resource group "rg-1"`, false},
		{"server error", armErr(500, `{"error":{"code":"InternalServerError","message":"Boom."}}`), "azure: PUT /subscriptions/sub-1/x: HTTP 500: InternalServerError: Boom.", true},
		{"bad request", armErr(400, `{"code":"BadRequest","message":"The record set is invalid."}`), "HTTP 400: BadRequest: The record set is invalid.", false},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, "azure: dial tcp: connection refused", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.explain(tc.err, "contoso.test.")
			if err == nil || !strings.Contains(err.Error(), tc.want) || errkind.IsTransient(err) != tc.transient || strings.Contains(err.Error(), "\n") {
				t.Fatalf("explain = %q (transient %v); want %q (transient %v)", err, errkind.IsTransient(err), tc.want, tc.transient)
			}
		})
	}
}

// The fake's pages, as the SDK's own pager follows them: every record set
// once, over several pages of $top.
func TestFakePagesThroughTheSDK(t *testing.T) {
	l := newLabWith(t, func(f *azfake.Fake) { f.MaxPerPage = 2 }, org.Record{Name: "a.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.1"},
		org.Record{Name: "b.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.2"},
		org.Record{Name: "c.contoso.test.", Type: "TXT", TTL: 300, Data: `"c"`})
	pager := l.p.(*Provider).client.NewListByDNSZonePager("rg-dns", "contoso.test", nil)
	var names []string
	pages := 0
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, rs := range page.Value {
			names = append(names, *rs.Type+" "+*rs.Name)
		}
	}
	want := "Microsoft.Network/dnszones/SOA @, Microsoft.Network/dnszones/NS @, Microsoft.Network/dnszones/A a, Microsoft.Network/dnszones/A b, Microsoft.Network/dnszones/TXT c"
	if got := strings.Join(names, ", "); got != want || pages != 3 {
		t.Fatalf("%d pages: %s; want 3: %s", pages, got, want)
	}
}
