package route53

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
	"github.com/exrunbook/exrunbook/internal/lab/dnsapi/dnsapitest"
	"github.com/exrunbook/exrunbook/internal/lab/dnsserver"
	"github.com/exrunbook/exrunbook/internal/lab/org"
)

const (
	akid   = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

func newFake() (*Fake, *dnsserver.MemZone) {
	z := dnsapitest.Zone(dnsapitest.SOA(900), []org.Record{
		{Name: "outlook.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.10"},
		{Name: "www.contoso.test.", Type: "CNAME", TTL: 300, Data: "outlook.contoso.test."},
		{Name: "a.contoso.test.", Type: "A", TTL: 300, Data: "203.0.113.1"},
	})
	return &Fake{Store: &dnsapi.Store{Backend: z}, AccessKeyID: akid, SecretAccessKey: secret, ZoneID: "ZEXLAB", MaxItems: 2}, z
}

// send signs the request as the SDK does, with key and secret.
func send(t *testing.T, f *Fake, method, path, body, key, sec string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1:1"+path, strings.NewReader(body))
	sum := sha256.Sum256([]byte(body))
	if key != "" {
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: sec}, req, hex.EncodeToString(sum[:]), "route53", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	req.Body = nopCloser{bytes.NewReader([]byte(body))}
	w := httptest.NewRecorder()
	f.ServeHTTP(w, req)
	return w
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func batch(changes string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes>` + changes + `</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
}

func change(action, name, typ string, ttl int, values ...string) string {
	var b strings.Builder
	b.WriteString("<Change><Action>" + action + "</Action><ResourceRecordSet><Name>" + name + "</Name><Type>" + typ + "</Type><TTL>")
	b.WriteString(strconv.Itoa(ttl) + "</TTL><ResourceRecords>")
	for _, v := range values {
		b.WriteString("<ResourceRecord><Value>" + v + "</Value></ResourceRecord>")
	}
	b.WriteString("</ResourceRecords></ResourceRecordSet></Change>")
	return b.String()
}

func TestFakeRequests(t *testing.T) {
	rr := "/2013-04-01/hostedzone/ZEXLAB/rrset"
	tests := []struct {
		name, method, path, body, key, secret string
		status                                int
		want                                  string
	}{
		{"unsigned", "GET", rr, "", "", "", 403, "<Code>MissingAuthenticationToken</Code>"},
		{"unknown key", "GET", rr, "", "AKIAOTHER", secret, 403, "<Code>InvalidClientTokenId</Code>"},
		{"wrong secret", "GET", rr, "", akid, "nope", 403, "<Code>SignatureDoesNotMatch</Code>"},
		{"zone by name", "GET", "/2013-04-01/hostedzonesbyname?dnsname=contoso.test.&maxitems=1", "", akid, secret, 200, "<Id>/hostedzone/ZEXLAB</Id><Name>contoso.test.</Name>"},
		{"unknown zone", "GET", "/2013-04-01/hostedzone/ZNOPE/rrset", "", akid, secret, 404, "<Code>NoSuchHostedZone</Code>"},
		{"first page: apex first, truncated", "GET", rr, "", akid, secret, 200, "<Name>contoso.test.</Name><Type>NS</Type>"},
		{"first page says where to go on", "GET", rr, "", akid, secret, 200, "<IsTruncated>true</IsTruncated><NextRecordName>a.contoso.test.</NextRecordName><NextRecordType>A</NextRecordType>"},
		{"from a name on", "GET", rr + "?name=outlook.contoso.test.&type=A", "", akid, secret, 200, "<Name>outlook.contoso.test.</Name><Type>A</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>203.0.113.10</Value></ResourceRecord></ResourceRecords>"},
		{"type without name", "GET", rr + "?type=A", "", akid, secret, 400, "<Code>InvalidInput</Code>"},
		{"create an existing set", "POST", rr + "/", batch(change("CREATE", "outlook.contoso.test.", "A", 300, "203.0.113.11")), akid, secret, 400, "<Message>Tried to create resource record set [name=&#39;outlook.contoso.test.&#39;, type=&#39;A&#39;] but it already exists</Message>"},
		{"delete with other values", "POST", rr + "/", batch(change("DELETE", "outlook.contoso.test.", "A", 300, "203.0.113.99")), akid, secret, 400, "the values provided do not match the current values"},
		{"delete with another TTL", "POST", rr + "/", batch(change("DELETE", "outlook.contoso.test.", "A", 60, "203.0.113.10")), akid, secret, 400, "do not match"},
		{"one bad change fails the batch", "POST", rr + "/", batch(change("UPSERT", "new.contoso.test.", "A", 60, "203.0.113.5") + change("DELETE", "gone.contoso.test.", "A", 60, "203.0.113.6")), akid, secret, 400, "but it was not found"},
		{"A beside a CNAME", "POST", rr + "/", batch(change("CREATE", "www.contoso.test.", "A", 60, "203.0.113.5")), akid, secret, 400, "<InvalidChangeBatch"},
		{"malformed XML", "POST", rr + "/", "<Change", akid, secret, 400, "<Code>InvalidInput</Code>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, z := newFake()
			before, _ := z.Zone()
			w := send(t, f, tc.method, tc.path, tc.body, tc.key, tc.secret)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d %s\nwant %d with %s", w.Code, w.Body, tc.status, tc.want)
			}
			if after, _ := z.Zone(); w.Code >= 400 && dnsapi.Text(after) != dnsapi.Text(before) {
				t.Fatal("a refused request changed the zone")
			}
		})
	}
}

// A batch applies whole: what it leaves is what the zone holds.
func TestFakeChangeBatch(t *testing.T) {
	t.Run("each value its own ResourceRecord", func(t *testing.T) {
		f, _ := newFake()
		send(t, f, "POST", "/2013-04-01/hostedzone/ZEXLAB/rrset/", batch(change("UPSERT", "m.contoso.test.", "A", 60, "203.0.113.1", "203.0.113.2")), akid, secret)
		w := send(t, f, "GET", "/2013-04-01/hostedzone/ZEXLAB/rrset?name=m.contoso.test.&type=A", "", akid, secret)
		if !strings.Contains(w.Body.String(), "<ResourceRecord><Value>203.0.113.1</Value></ResourceRecord><ResourceRecord><Value>203.0.113.2</Value></ResourceRecord>") {
			t.Fatalf("%s", w.Body)
		}
	})
	f, z := newFake()
	body := batch(change("DELETE", "outlook.contoso.test.", "A", 300, "203.0.113.10") + change("CREATE", "outlook-ext.contoso.test.", "A", 60, "203.0.113.20") + change("UPSERT", "_acme-challenge.contoso.test.", "TXT", 60, `"one"`, `"two"`))
	w := send(t, f, "POST", "/2013-04-01/hostedzone/ZEXLAB/rrset/", body, akid, secret)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "<Status>PENDING</Status>") {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	zz, _ := z.Zone()
	text := dnsapi.Text(zz)
	for _, want := range []string{"outlook-ext.contoso.test.\t60\tIN\tA\t203.0.113.20", "_acme-challenge.contoso.test.\t60\tIN\tTXT\t\"one\"", "_acme-challenge.contoso.test.\t60\tIN\tTXT\t\"two\""} {
		if !strings.Contains(text, want) {
			t.Errorf("zone lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "outlook.contoso.test.\t") || zz.SOA.Serial != 2 {
		t.Errorf("serial %d, zone:\n%s", zz.SOA.Serial, text)
	}
}

func FuzzFakeChange(f *testing.F) {
	f.Add(batch(change("UPSERT", "x.contoso.test.", "A", 60, "203.0.113.5")))
	f.Add(batch(change("DELETE", "outlook.contoso.test.", "A", 300, "203.0.113.10")))
	f.Add("<ChangeResourceRecordSetsRequest><ChangeBatch><Changes><Change><Action>CREATE</Action></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>")
	f.Add("<<<")
	f.Fuzz(func(t *testing.T, body string) {
		fk, _ := newFake()
		w := send(t, fk, "POST", "/2013-04-01/hostedzone/ZEXLAB/rrset/", body, akid, secret)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}
