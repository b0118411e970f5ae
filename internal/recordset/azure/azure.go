// Package azure is the record-set provider for a zone in Azure DNS, through
// Microsoft's Azure SDK for Go: azidentity's client-secret credential of a
// service principal (Microsoft Entra ID) and armdns's record sets client
// (Azure Resource Manager, api-version 2018-05-01), at the versions
// github.com/libdns/azure v0.5.0 pins. It does not go through that module:
// libdns/azure writes every record set with exactly one record (so an
// RRset of two addresses, or a second TXT challenge beside a first, cannot
// be written), deletes whole record sets whatever the data, prints each
// record it writes to standard output, and builds its SDK clients with no
// options, so that neither the retries nor a test endpoint can be set.
//
// Azure DNS stores whole record sets, so this provider is simpler than the
// libdns adapter: each change is one read and one write of the record set,
// the write conditioned on the record set's etag (If-Match) or on its
// absence (If-None-Match: *), so that a change made between the two by
// someone else fails (HTTP 412) instead of being overwritten.
//
// Retries are the SDK's own (429 and 5xx, honouring Retry-After), set to
// match apiretry's: 5 attempts, a first wait of about a second doubling up
// to 30 s; there is no second retry layer under them. In production the
// SDK's default HTTP client is used (TLS verified against the system
// roots, HTTPS_PROXY honoured); tests pass a transport that sends
// login.microsoftonline.com and management.azure.com to the lab's fake.
package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dns/armdns"
	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnstext"

	"github.com/exrunbook/exrunbook/internal/errkind"
	"github.com/exrunbook/exrunbook/internal/recordset"
)

// The hosts the SDK talks to (Azure's public cloud).
const (
	LoginHost      = "login.microsoftonline.com"
	ManagementHost = "management.azure.com"
)

// Options configure the provider.
type Options struct {
	// TenantID is the Microsoft Entra tenant (directory) ID of the
	// service principal; ClientID its application (client) ID;
	// ClientSecret the secret's value.
	TenantID, ClientID, ClientSecret string
	// SubscriptionID and ResourceGroup hold the DNS zone.
	SubscriptionID, ResourceGroup string
	// Key is the configuration block ("public_dns" or
	// "certificate.acme.challenge_dns"), and SecretSetting where the
	// client secret comes from, for errors.
	Key, SecretSetting string
	// Transport carries the requests (nil: the SDK's default client, TLS
	// verified).
	Transport http.RoundTripper
	// RetryDelay is the first wait before a retry (default 1 s).
	RetryDelay time.Duration
}

// Provider writes record sets of zones in one resource group.
type Provider struct {
	o      Options
	client *armdns.RecordSetsClient
}

var _ recordset.Provider = (*Provider)(nil)

// New returns the provider; nothing is sent until the first call.
func New(o Options) (recordset.Provider, error) {
	if o.Key == "" {
		o.Key = "public_dns"
	}
	for _, s := range []struct{ v, key string }{{o.TenantID, "tenant_id"}, {o.ClientID, "client_id"}, {o.SubscriptionID, "subscription_id"}, {o.ResourceGroup, "resource_group"}} {
		if s.v == "" {
			return nil, fmt.Errorf("azure: %s.azure.%s is not set", o.Key, s.key)
		}
	}
	if o.ClientSecret == "" {
		return nil, fmt.Errorf("azure: no client secret: set %s", o.SecretSetting)
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	// The public cloud, named so that AZURE_AUTHORITY_HOST in the
	// environment does not send the secret elsewhere.
	co := azcore.ClientOptions{Cloud: cloud.AzurePublic,
		Retry: policy.RetryOptions{MaxRetries: 4, RetryDelay: o.RetryDelay, MaxRetryDelay: 30 * time.Second, TryTimeout: 2 * time.Minute}}
	if o.Transport != nil {
		co.Transport = &http.Client{Transport: o.Transport}
	}
	cred, err := azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: co})
	if err != nil {
		return nil, fmt.Errorf("azure: %s.azure.tenant_id or client_id: %v", o.Key, err)
	}
	client, err := armdns.NewRecordSetsClient(o.SubscriptionID, cred, &arm.ClientOptions{ClientOptions: co})
	if err != nil {
		return nil, fmt.Errorf("azure: %v", err)
	}
	return &Provider{o: o, client: client}, nil
}

// recordType is Azure's name of an RRset type; Azure DNS (api-version
// 2018-05-01) has ten.
func recordType(t uint16) (armdns.RecordType, error) {
	for _, rt := range armdns.PossibleRecordTypeValues() {
		if string(rt) == dns.TypeToString[t] {
			return rt, nil
		}
	}
	return "", fmt.Errorf("azure: Azure DNS has no record sets of type %s", dns.TypeToString[t])
}

// locate returns the zone as ARM names it (no final dot) and the record
// set's relative name ("@" for the apex).
func locate(zone, name string) (string, string, error) {
	zone, name, err := recordset.InZone(zone, name)
	if err != nil {
		return "", "", err
	}
	rel := "@"
	if name != zone {
		rel = strings.TrimSuffix(name, "."+zone)
	}
	return strings.TrimSuffix(zone, "."), rel, nil
}

// current is one record set as read, with its etag.
type current struct {
	set    recordset.RRset
	etag   string
	exists bool
	meta   map[string]*string
}

// get reads the record set of name and type.
func (p *Provider) get(ctx context.Context, zone, name string, t uint16) (current, error) {
	z, rel, err := locate(zone, name)
	if err != nil {
		return current{}, err
	}
	rt, err := recordType(t)
	if err != nil {
		return current{}, err
	}
	resp, err := p.client.Get(ctx, p.o.ResourceGroup, z, rel, rt, nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound && re.ErrorCode == "NotFound" {
			return current{set: recordset.RRset{Name: dns.CanonicalName(name), Type: t}}, nil
		}
		return current{}, p.explain(err, zone)
	}
	set, err := FromRecordSet(dns.CanonicalName(name), t, &resp.RecordSet)
	if err != nil {
		return current{}, fmt.Errorf("azure: %w", err)
	}
	c := current{set: set, exists: true}
	if resp.Etag != nil {
		c.etag = *resp.Etag
	}
	if resp.Properties != nil {
		c.meta = resp.Properties.Metadata
	}
	return c, nil
}

// GetRRsets reads each type's record set of name.
func (p *Provider) GetRRsets(ctx context.Context, zone, name string, types ...uint16) ([]recordset.RRset, error) {
	out := make([]recordset.RRset, 0, len(types))
	for _, t := range types {
		c, err := p.get(ctx, zone, name, t)
		if err != nil {
			return nil, err
		}
		out = append(out, c.set)
	}
	return out, nil
}

// put writes want as the whole record set, on condition that it is still
// as cur was read.
func (p *Provider) put(ctx context.Context, zone string, cur current, want recordset.RRset) error {
	z, rel, err := locate(zone, want.Name)
	if err != nil {
		return err
	}
	rt, err := recordType(want.Type)
	if err != nil {
		return err
	}
	props, err := ToProperties(want)
	if err != nil {
		return fmt.Errorf("azure: %w", err)
	}
	props.Metadata = cur.meta
	opts := &armdns.RecordSetsClientCreateOrUpdateOptions{}
	if cur.exists {
		opts.IfMatch = &cur.etag
	} else {
		none := "*"
		opts.IfNoneMatch = &none
	}
	_, err = p.client.CreateOrUpdate(ctx, p.o.ResourceGroup, z, rel, rt, armdns.RecordSet{Properties: props}, opts)
	return p.conflict(p.explain(err, zone), want)
}

// conflict names the record set whose etag no longer matched.
func (p *Provider) conflict(err error, s recordset.RRset) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusPreconditionFailed {
		return fmt.Errorf("azure: %s %s was changed by someone else between exrunbook's read and its write, so the write was refused and that record set was not changed; run again to compare it anew: %w", s.Name, s.TypeString(), err)
	}
	return err
}

// SetRRset makes set the whole record set: one conditional write.
func (p *Provider) SetRRset(ctx context.Context, zone string, set recordset.RRset) error {
	if !set.Exists() {
		return fmt.Errorf("set %s %s: no records (delete the RRset instead)", set.Name, set.TypeString())
	}
	want, err := recordset.Canonical(set.Name, set.Type, set.TTL, set.Data...)
	if err != nil {
		return err
	}
	cur, err := p.get(ctx, zone, want.Name, want.Type)
	if err != nil {
		return err
	}
	if cur.exists && cur.set.String() == want.String() {
		return nil
	}
	return p.put(ctx, zone, cur, want)
}

// AppendRecords adds set's records that are not there yet; the record
// set keeps its TTL when it exists.
func (p *Provider) AppendRecords(ctx context.Context, zone string, set recordset.RRset) error {
	add, err := recordset.Canonical(set.Name, set.Type, set.TTL, set.Data...)
	if err != nil {
		return err
	}
	cur, err := p.get(ctx, zone, add.Name, add.Type)
	if err != nil {
		return err
	}
	want := add
	if cur.set.Exists() {
		want = recordset.Normalize(recordset.RRset{Name: add.Name, Type: add.Type, TTL: cur.set.TTL, Data: append(append([]string{}, cur.set.Data...), add.Data...)})
		if want.String() == cur.set.String() {
			return nil
		}
	}
	if !want.Exists() {
		return nil
	}
	return p.put(ctx, zone, cur, want)
}

// DeleteRecords removes set's records, or the whole record set when set
// has no data; what is not there is not an error.
func (p *Provider) DeleteRecords(ctx context.Context, zone string, set recordset.RRset) error {
	cur, err := p.get(ctx, zone, set.Name, set.Type)
	if err != nil || !cur.exists {
		return err
	}
	var keep []string
	if set.Exists() {
		drop, err := recordset.Canonical(set.Name, set.Type, 0, set.Data...)
		if err != nil {
			return err
		}
		gone := map[string]bool{}
		for _, d := range drop.Data {
			gone[d] = true
		}
		for _, d := range cur.set.Data {
			if !gone[d] {
				keep = append(keep, d)
			}
		}
		if len(keep) == len(cur.set.Data) {
			return nil
		}
	}
	if len(keep) > 0 {
		return p.put(ctx, zone, cur, recordset.RRset{Name: cur.set.Name, Type: cur.set.Type, TTL: cur.set.TTL, Data: keep})
	}
	z, rel, err := locate(zone, cur.set.Name)
	if err != nil {
		return err
	}
	rt, err := recordType(cur.set.Type)
	if err != nil {
		return err
	}
	_, err = p.client.Delete(ctx, p.o.ResourceGroup, z, rel, rt, &armdns.RecordSetsClientDeleteOptions{IfMatch: &cur.etag})
	return p.conflict(p.explain(err, zone), cur.set)
}

// armError is the body of an ARM error, with or without the "error"
// envelope.
type armError struct {
	Error *struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// aadError is the body of an identity platform error.
type aadError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// words is the service's own message in a response body: "Code: message".
func words(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	body, err := runtime.Payload(resp)
	if err != nil || len(body) == 0 {
		return ""
	}
	var a armError
	if json.Unmarshal(body, &a) == nil {
		if a.Error != nil && (a.Error.Code != "" || a.Error.Message != "") {
			return a.Error.Code + ": " + a.Error.Message
		}
		if a.Code != "" || a.Message != "" {
			return a.Code + ": " + a.Message
		}
	}
	var e aadError
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		// The description's first line; the rest is trace and correlation IDs.
		d, _, _ := strings.Cut(e.Description, "\r\n")
		d, _, _ = strings.Cut(d, "\n")
		return e.Error + ": " + d
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 512 {
		s = s[:512] + "..."
	}
	return s
}

// explain turns the SDK's multi-line errors into one line in the
// service's words, naming the settings a refusal points at, and marks
// throttling, server errors and network failures transient.
func (p *Provider) explain(err error, zone string) error {
	if err == nil {
		return nil
	}
	k := p.o.Key + ".azure."
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) {
		if af.RawResponse == nil {
			// No answer: the token request did not get through.
			e := fmt.Errorf("azure: no token from the Microsoft identity platform: %w", err)
			var ne net.Error
			if errors.As(err, &ne) {
				return errkind.Transient(e)
			}
			return e
		}
		status := af.RawResponse.StatusCode
		if status == http.StatusTooManyRequests || status >= 500 {
			return errkind.Transient(fmt.Errorf("azure: the Microsoft identity platform answered HTTP %d: %s", status, words(af.RawResponse)))
		}
		return fmt.Errorf("azure: the Microsoft identity platform refused the service principal (HTTP %d; check %s, %sclient_id and %stenant_id): %s", status, p.o.SecretSetting, k, k, words(af.RawResponse))
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		w := words(re.RawResponse)
		if w == "" {
			w = re.ErrorCode
		}
		switch {
		case re.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("azure: Azure Resource Manager refused the token (HTTP 401; check %s, %sclient_id and %stenant_id): %s", p.o.SecretSetting, k, k, w)
		case re.StatusCode == http.StatusForbidden:
			return fmt.Errorf("azure: Azure Resource Manager refused the change (HTTP 403; the service principal %s needs the DNS Zone Contributor role on the zone %s): %s", p.o.ClientID, zone, w)
		case re.ErrorCode == "SubscriptionNotFound":
			return fmt.Errorf("azure: %ssubscription_id %q: %s", k, p.o.SubscriptionID, w)
		case re.ErrorCode == "ResourceGroupNotFound":
			return fmt.Errorf("azure: %sresource_group %q: %s", k, p.o.ResourceGroup, w)
		case re.ErrorCode == "ParentResourceNotFound" || re.ErrorCode == "ResourceNotFound":
			return fmt.Errorf("azure: the zone %s is not in resource group %q (%s.zone, %sresource_group): %s", zone, p.o.ResourceGroup, p.o.Key, k, w)
		}
		what := "Azure Resource Manager"
		if re.RawResponse != nil && re.RawResponse.Request != nil {
			what = re.RawResponse.Request.Method + " " + re.RawResponse.Request.URL.Path
		}
		e := fmt.Errorf("azure: %s: HTTP %d: %w", what, re.StatusCode, &serviceError{words: w, err: re})
		if re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500 {
			return errkind.Transient(e)
		}
		return e
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return errkind.Transient(fmt.Errorf("azure: %w", err))
	}
	return fmt.Errorf("azure: %w", err)
}

// serviceError shows the service's words but keeps the SDK's error for
// errors.As.
type serviceError struct {
	words string
	err   error
}

func (e *serviceError) Error() string { return e.words }
func (e *serviceError) Unwrap() error { return e.err }

// FromRecordSet reads an Azure record set as an RRset of name and type
// (presentation form), refusing one whose records are incomplete or of
// another type, and an alias record set (its records live in another
// Azure resource, which exrunbook does not change).
func FromRecordSet(name string, t uint16, rs *armdns.RecordSet) (recordset.RRset, error) {
	tname := dns.TypeToString[t]
	if rs == nil || rs.Properties == nil {
		return recordset.RRset{}, fmt.Errorf("record set %s %s: the answer has no properties", name, tname)
	}
	p := rs.Properties
	if p.TargetResource != nil && p.TargetResource.ID != nil && *p.TargetResource.ID != "" {
		return recordset.RRset{}, fmt.Errorf("record set %s %s is an alias of the Azure resource %s; exrunbook neither reads nor changes alias record sets", name, tname, *p.TargetResource.ID)
	}
	if rs.Type != nil {
		if got := strings.ToUpper((*rs.Type)[strings.LastIndex(*rs.Type, "/")+1:]); got != tname {
			return recordset.RRset{}, fmt.Errorf("record set %s %s: the answer is of type %q", name, tname, *rs.Type)
		}
	}
	var ttl uint32
	if p.TTL != nil {
		if *p.TTL < 0 || *p.TTL > 2147483647 {
			return recordset.RRset{}, fmt.Errorf("record set %s %s: TTL %d is out of range", name, tname, *p.TTL)
		}
		ttl = uint32(*p.TTL)
	}
	var data []string
	bad := func(what string) (recordset.RRset, error) {
		return recordset.RRset{}, fmt.Errorf("record set %s %s: a record without %s", name, tname, what)
	}
	others := len(p.ARecords) + len(p.AaaaRecords) + len(p.CaaRecords) + len(p.MxRecords) + len(p.NsRecords) + len(p.PtrRecords) + len(p.SrvRecords) + len(p.TxtRecords)
	if p.CnameRecord != nil {
		others++
	}
	if p.SoaRecord != nil {
		others++
	}
	switch t {
	case dns.TypeA:
		if data = texts(p.ARecords, func(r *armdns.ARecord) *string { return r.IPv4Address }); data == nil {
			return bad("ipv4Address")
		}
	case dns.TypeAAAA:
		if data = texts(p.AaaaRecords, func(r *armdns.AaaaRecord) *string { return r.IPv6Address }); data == nil {
			return bad("ipv6Address")
		}
	case dns.TypeCNAME:
		if p.CnameRecord != nil {
			if p.CnameRecord.Cname == nil {
				return bad("cname")
			}
			data = append(data, *p.CnameRecord.Cname)
		}
	case dns.TypeMX:
		for _, r := range p.MxRecords {
			if r == nil || r.Preference == nil || r.Exchange == nil {
				return bad("preference or exchange")
			}
			data = append(data, strconv.Itoa(int(*r.Preference))+" "+dns.Fqdn(*r.Exchange))
		}
	case dns.TypeNS:
		if data = texts(p.NsRecords, func(r *armdns.NsRecord) *string { return r.Nsdname }); data == nil {
			return bad("nsdname")
		}
	case dns.TypePTR:
		if data = texts(p.PtrRecords, func(r *armdns.PtrRecord) *string { return r.Ptrdname }); data == nil {
			return bad("ptrdname")
		}
	case dns.TypeSRV:
		for _, r := range p.SrvRecords {
			if r == nil || r.Priority == nil || r.Weight == nil || r.Port == nil || r.Target == nil {
				return bad("priority, weight, port or target")
			}
			data = append(data, fmt.Sprintf("%d %d %d %s", *r.Priority, *r.Weight, *r.Port, dns.Fqdn(*r.Target)))
		}
	case dns.TypeTXT:
		for _, r := range p.TxtRecords {
			if r == nil || len(r.Value) == 0 {
				return bad("value")
			}
			var q []string
			for _, v := range r.Value {
				if v == nil {
					return bad("value")
				}
				q = append(q, dnstext.Quote(*v))
			}
			data = append(data, strings.Join(q, " "))
		}
	case dns.TypeCAA:
		for _, r := range p.CaaRecords {
			if r == nil || r.Flags == nil || r.Tag == nil || r.Value == nil {
				return bad("flags, tag or value")
			}
			data = append(data, fmt.Sprintf("%d %s %s", *r.Flags, *r.Tag, dnstext.Quote(*r.Value)))
		}
	case dns.TypeSOA:
		if s := p.SoaRecord; s != nil {
			if s.Host == nil || s.Email == nil || s.SerialNumber == nil || s.RefreshTime == nil || s.RetryTime == nil || s.ExpireTime == nil || s.MinimumTTL == nil {
				return bad("one of the SOA fields")
			}
			data = append(data, fmt.Sprintf("%s %s %d %d %d %d %d", dns.Fqdn(*s.Host), dns.Fqdn(*s.Email), *s.SerialNumber, *s.RefreshTime, *s.RetryTime, *s.ExpireTime, *s.MinimumTTL))
		}
	default:
		return recordset.RRset{}, fmt.Errorf("record set %s: Azure DNS has no record sets of type %s", name, tname)
	}
	if others != len(data) {
		return recordset.RRset{}, fmt.Errorf("record set %s %s: the answer holds records of another type", name, tname)
	}
	return recordset.Canonical(name, t, ttl, data...)
}

// texts is the one string field of each record (an address, a name);
// nil when a record or its field is missing. An empty list is an empty,
// non-nil slice.
func texts[T any](recs []*T, field func(*T) *string) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		if r == nil || field(r) == nil {
			return nil
		}
		out = append(out, *field(r))
	}
	return out
}

// ToProperties is an RRset's records as Azure record set properties.
func ToProperties(s recordset.RRset) (*armdns.RecordSetProperties, error) {
	ttl := int64(s.TTL)
	p := &armdns.RecordSetProperties{TTL: &ttl}
	for _, d := range s.Data {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", dns.Fqdn(s.Name), s.TTL, s.TypeString(), d))
		if err != nil || rr == nil {
			return nil, fmt.Errorf("record %s %s %q: %v", s.Name, s.TypeString(), d, err)
		}
		switch v := rr.(type) {
		case *dns.A:
			p.ARecords = append(p.ARecords, &armdns.ARecord{IPv4Address: ptr(v.A.String())})
		case *dns.AAAA:
			p.AaaaRecords = append(p.AaaaRecords, &armdns.AaaaRecord{IPv6Address: ptr(v.AAAA.String())})
		case *dns.CNAME:
			if p.CnameRecord != nil {
				return nil, fmt.Errorf("record %s CNAME: a name has one CNAME at most", s.Name)
			}
			p.CnameRecord = &armdns.CnameRecord{Cname: ptr(v.Target)}
		case *dns.MX:
			p.MxRecords = append(p.MxRecords, &armdns.MxRecord{Preference: ptr(int32(v.Preference)), Exchange: ptr(v.Mx)})
		case *dns.NS:
			p.NsRecords = append(p.NsRecords, &armdns.NsRecord{Nsdname: ptr(v.Ns)})
		case *dns.PTR:
			p.PtrRecords = append(p.PtrRecords, &armdns.PtrRecord{Ptrdname: ptr(v.Ptr)})
		case *dns.SRV:
			p.SrvRecords = append(p.SrvRecords, &armdns.SrvRecord{Priority: ptr(int32(v.Priority)), Weight: ptr(int32(v.Weight)), Port: ptr(int32(v.Port)), Target: ptr(v.Target)})
		case *dns.TXT:
			vals := make([]*string, 0, len(v.Txt))
			for _, t := range v.Txt {
				vals = append(vals, ptr(dnstext.Unescape(t)))
			}
			p.TxtRecords = append(p.TxtRecords, &armdns.TxtRecord{Value: vals})
		case *dns.CAA:
			p.CaaRecords = append(p.CaaRecords, &armdns.CaaRecord{Flags: ptr(int32(v.Flag)), Tag: ptr(v.Tag), Value: ptr(v.Value)})
		default:
			return nil, fmt.Errorf("record %s %s: exrunbook does not write this type to Azure DNS", s.Name, s.TypeString())
		}
	}
	return p, nil
}

func ptr[T any](v T) *T { return &v }
