// Package azure is the lab's fake of Azure DNS as a client with a service
// principal sees it, written from Microsoft's public documentation: the
// Microsoft identity platform's instance discovery, OpenID configuration
// and client-credentials
// token endpoint (login.microsoftonline.com/{tenant}/oauth2/v2.0/token,
// which checks the client ID and secret and issues bearer tokens), and the
// Azure Resource Manager REST API of DNS record sets, api-version
// 2018-05-01 (Get, Create Or Update with If-Match and If-None-Match,
// Delete, List By DNS Zone with $top and nextLink), which checks the
// bearer token, the subscription, resource group and zone in the path and
// answers ARM error bodies {"error":{"code":...,"message":...}}. Throttled
// requests get HTTP 429 with Retry-After. It is backed by a dnsapi store
// over the lab's public zone, whose apex SOA and NS it shows as read-only
// record sets.
//
// One handler serves both hosts (LoginHost and ManagementHost), told apart
// by the path, so that one redirecting transport points a client at it.
package azure

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/dnstext"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
)

// The hosts the fake stands in for, and the one API version it serves.
const (
	LoginHost      = "login.microsoftonline.com"
	ManagementHost = "management.azure.com"
	APIVersion     = "2018-05-01"
)

// maxBody bounds a request body.
const maxBody = 1 << 20

// Fake is one Entra ID tenant with one service principal, and one
// subscription whose resource group holds one DNS zone.
type Fake struct {
	// Store is the zone.
	Store *dnsapi.Store
	// TenantID, ClientID and ClientSecret are the service principal's
	// credentials the token endpoint accepts.
	TenantID, ClientID, ClientSecret string
	// SubscriptionID and ResourceGroup locate the zone in ARM paths.
	SubscriptionID, ResourceGroup string
	// MaxPerPage caps $top (default 100, Azure's), so tests see pages.
	MaxPerPage int
	// RetryAfter is the Retry-After header of a throttled answer, in
	// seconds (default "1"); "0" lets a test's client use its own short
	// backoff.
	RetryAfter string

	dnsapi.Traffic

	mu     sync.Mutex
	tokens map[string]bool
}

// armError writes an ARM error body.
func armError(w http.ResponseWriter, status int, code, msg string) {
	dnsapi.WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// aadError writes an identity platform error body.
func aadError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	dnsapi.WriteJSON(w, status, map[string]any{"error": code,
		"error_description": fmt.Sprintf("AADSTS%d: %s", aadsts, msg), "error_codes": []int{aadsts}})
}

// ServeHTTP answers the identity platform and ARM paths.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arm := strings.HasPrefix(strings.ToLower(r.URL.Path), "/subscriptions/")
	if f.Admit(r) {
		ra := f.RetryAfter
		if ra == "" {
			ra = "1"
		}
		w.Header().Set("Retry-After", ra)
		if arm {
			armError(w, http.StatusTooManyRequests, "TooManyRequests", "The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00.")
		} else {
			aadError(w, http.StatusTooManyRequests, "temporarily_unavailable", 50196, "The server terminated an operation because it encountered a client request loop.")
		}
		return
	}
	if arm {
		f.serveARM(w, r)
		return
	}
	f.serveLogin(w, r)
}

// Resource is an ARM path below Microsoft.Network/dnsZones, as the fake
// parses it.
type Resource struct {
	Subscription, ResourceGroup, Zone string
	// Collection is "recordsets", "all" or a record type when the path
	// names a list; empty for one record set.
	Collection string
	// Type and Name name one record set (Name relative, "@" the apex).
	Type, Name string
}

// ParsePath reads an ARM path of the DNS record sets API:
// /subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Network/dnsZones/{z}
// followed by /recordsets, /all, /{type} or /{type}/{name}. The literal
// segments compare without case, as ARM's do.
func ParsePath(p string) (Resource, error) {
	if len(p) > 2048 {
		return Resource{}, errors.New("the path is longer than 2048 characters")
	}
	parts := strings.Split(strings.Trim(p, "/"), "/")
	want := []string{"subscriptions", "", "resourcegroups", "", "providers", "microsoft.network", "dnszones", ""}
	if len(parts) < len(want)+1 || len(parts) > len(want)+2 {
		return Resource{}, fmt.Errorf("the path %q is not a DNS record set path", p)
	}
	for i, w := range want {
		seg, err := url.PathUnescape(parts[i])
		if err != nil {
			return Resource{}, fmt.Errorf("segment %d of the path: %v", i+1, err)
		}
		parts[i] = seg
		if w != "" && !strings.EqualFold(seg, w) {
			return Resource{}, fmt.Errorf("the path %q has %q where %q belongs", p, seg, w)
		}
		if w == "" && seg == "" {
			return Resource{}, fmt.Errorf("the path %q has an empty segment %d", p, i+1)
		}
	}
	res := Resource{Subscription: parts[1], ResourceGroup: parts[3], Zone: parts[7]}
	kind := parts[8]
	if len(parts) == len(want)+1 {
		switch strings.ToLower(kind) {
		case "recordsets", "all":
			res.Collection = strings.ToLower(kind)
		default:
			res.Collection = strings.ToUpper(kind)
		}
		return res, nil
	}
	name, err := url.PathUnescape(parts[9])
	if err != nil || name == "" {
		return Resource{}, fmt.Errorf("the record set name in %q is empty or not escaped right", p)
	}
	res.Type, res.Name = strings.ToUpper(kind), name
	return res, nil
}

// serveARM answers the record set operations.
func (f *Fake) serveARM(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		armError(w, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		return
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	f.mu.Lock()
	valid := ok && f.tokens[tok]
	f.mu.Unlock()
	if !valid {
		armError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
		return
	}
	if v := r.URL.Query().Get("api-version"); v != APIVersion {
		armError(w, http.StatusBadRequest, "InvalidApiVersionParameter", fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '%s'.", v, APIVersion))
		return
	}
	res, err := ParsePath(r.URL.Path)
	if err != nil {
		armError(w, http.StatusNotFound, "InvalidResourceType", err.Error())
		return
	}
	zone, err := f.Store.ZoneName()
	if err != nil {
		armError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	switch {
	case !strings.EqualFold(res.Subscription, f.SubscriptionID):
		armError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", res.Subscription))
		return
	case !strings.EqualFold(res.ResourceGroup, f.ResourceGroup):
		armError(w, http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", res.ResourceGroup))
		return
	case dns.CanonicalName(res.Zone) != zone || strings.HasSuffix(res.Zone, "."):
		armError(w, http.StatusNotFound, "ParentResourceNotFound", fmt.Sprintf("Can not perform requested operation on nested resource. Parent resource '%s' not found.", res.Zone))
		return
	}
	if res.Collection != "" {
		if r.Method != http.MethodGet {
			armError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
			return
		}
		f.list(w, r, res)
		return
	}
	if _, ok := rdataKey[res.Type]; !ok {
		armError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The record type '%s' is not supported.", res.Type))
		return
	}
	switch r.Method {
	case http.MethodGet:
		sets, err := f.sets()
		if err != nil {
			armError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
			return
		}
		s, ok := find(sets, zone, res)
		if !ok {
			f.notFound(w, res)
			return
		}
		dnsapi.WriteJSON(w, http.StatusOK, f.render(zone, s))
	case http.MethodPut:
		f.put(w, r, zone, res)
	case http.MethodDelete:
		f.delete(w, r, zone, res)
	default:
		armError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'; the lab's fake serves GET, PUT and DELETE.", r.Method))
	}
}

// notFound answers a GET of a record set that does not exist. Azure DNS
// sends this one error without ARM's "error" envelope, as
// {"code":"NotFound","message":...}.
func (f *Fake) notFound(w http.ResponseWriter, res Resource) {
	dnsapi.WriteJSON(w, http.StatusNotFound, map[string]string{"code": "NotFound",
		"message": fmt.Sprintf("The resource record '%s' does not exist in resource group '%s' of subscription '%s'.", res.Name, f.ResourceGroup, f.SubscriptionID)})
}

// set is one record set: an absolute name, a type, the TTL and the data
// in presentation form.
type set struct {
	Name, Type string
	TTL        uint32
	Data       []string
	// Apex marks the zone's SOA and NS, which the fake shows but does not
	// change.
	Apex bool
}

// sets groups the zone's records into record sets, the apex SOA and NS
// first, then by name and type.
func (f *Fake) sets() ([]set, error) {
	z, err := f.Store.Backend.Zone()
	if err != nil {
		return nil, err
	}
	zone := dns.CanonicalName(z.Name)
	soa := fmt.Sprintf("%s %s %d %d %d %d %d", dns.CanonicalName(z.SOA.MName), dns.CanonicalName(z.SOA.RName), z.SOA.Serial, z.SOA.Refresh, z.SOA.Retry, z.SOA.Expire, z.SOA.Minimum)
	out := []set{{Name: zone, Type: "SOA", TTL: z.SOA.TTL, Data: []string{soa}, Apex: true}}
	ns := set{Name: zone, Type: "NS", TTL: z.SOA.TTL, Apex: true}
	for _, n := range z.NS {
		ns.Data = append(ns.Data, dns.CanonicalName(n))
	}
	out = append(out, ns)
	recs, err := f.Store.List()
	if err != nil {
		return nil, err
	}
	return append(out, group(recs)...), nil
}

// group gathers records into record sets, in the records' order.
func group(recs []dnsapi.Record) []set {
	var out []set
	idx := map[string]int{}
	for _, r := range recs {
		k := r.Name + " " + r.Type
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, set{Name: r.Name, Type: r.Type, TTL: r.TTL})
		}
		if r.TTL < out[i].TTL {
			out[i].TTL = r.TTL
		}
		out[i].Data = append(out[i].Data, r.Data)
	}
	for i := range out {
		sort.Strings(out[i].Data)
	}
	return out
}

// absolute turns a relative record set name into an absolute one.
func absolute(zone, rel string) string {
	if rel == "@" {
		return zone
	}
	return dns.CanonicalName(rel + "." + zone)
}

// relative is the record set name ARM shows: "@" for the apex.
func relative(zone, name string) string {
	if name == zone {
		return "@"
	}
	return strings.TrimSuffix(name, "."+zone)
}

func find(sets []set, zone string, res Resource) (set, bool) {
	name := absolute(zone, res.Name)
	for _, s := range sets {
		if s.Name == name && s.Type == res.Type {
			return s, true
		}
	}
	return set{}, false
}

// etag is derived from the record set's contents, so that any change to
// it, through the API or behind its back, gives a new one.
func etag(s set) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("%s %s %d %q", s.Name, s.Type, s.TTL, s.Data)))
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// The record set JSON of api-version 2018-05-01.
type (
	aRecord struct {
		IPv4Address *string `json:"ipv4Address"`
	}
	aaaaRecord struct {
		IPv6Address *string `json:"ipv6Address"`
	}
	cnameRecord struct {
		Cname *string `json:"cname"`
	}
	nsRecord struct {
		Nsdname *string `json:"nsdname"`
	}
	ptrRecord struct {
		Ptrdname *string `json:"ptrdname"`
	}
	txtRecord struct {
		Value []string `json:"value"`
	}
	mxRecord struct {
		Preference *int    `json:"preference"`
		Exchange   *string `json:"exchange"`
	}
	srvRecord struct {
		Priority *int    `json:"priority"`
		Weight   *int    `json:"weight"`
		Port     *int    `json:"port"`
		Target   *string `json:"target"`
	}
	caaRecord struct {
		Flags *int    `json:"flags"`
		Tag   *string `json:"tag"`
		Value *string `json:"value"`
	}
	soaRecord struct {
		Host         string `json:"host"`
		Email        string `json:"email"`
		SerialNumber uint32 `json:"serialNumber"`
		RefreshTime  uint32 `json:"refreshTime"`
		RetryTime    uint32 `json:"retryTime"`
		ExpireTime   uint32 `json:"expireTime"`
		MinimumTTL   uint32 `json:"minimumTTL"`
	}
	properties struct {
		Metadata          map[string]string `json:"metadata,omitempty"`
		TTL               *int64            `json:"TTL,omitempty"`
		Fqdn              string            `json:"fqdn,omitempty"`
		ProvisioningState string            `json:"provisioningState,omitempty"`
		TargetResource    *struct {
			ID *string `json:"id"`
		} `json:"targetResource,omitempty"`
		A     []aRecord    `json:"ARecords,omitempty"`
		AAAA  []aaaaRecord `json:"AAAARecords,omitempty"`
		CNAME *cnameRecord `json:"CNAMERecord,omitempty"`
		MX    []mxRecord   `json:"MXRecords,omitempty"`
		NS    []nsRecord   `json:"NSRecords,omitempty"`
		PTR   []ptrRecord  `json:"PTRRecords,omitempty"`
		SRV   []srvRecord  `json:"SRVRecords,omitempty"`
		TXT   []txtRecord  `json:"TXTRecords,omitempty"`
		CAA   []caaRecord  `json:"caaRecords,omitempty"`
		SOA   *soaRecord   `json:"SOARecord,omitempty"`
	}
	recordSet struct {
		ID         string     `json:"id,omitempty"`
		Name       string     `json:"name,omitempty"`
		Type       string     `json:"type,omitempty"`
		Etag       string     `json:"etag,omitempty"`
		Properties properties `json:"properties"`
	}
)

// rdataKey names the JSON property of each record type.
var rdataKey = map[string]string{"A": "ARecords", "AAAA": "AAAARecords", "CNAME": "CNAMERecord", "MX": "MXRecords",
	"NS": "NSRecords", "PTR": "PTRRecords", "SRV": "SRVRecords", "TXT": "TXTRecords", "CAA": "caaRecords", "SOA": "SOARecord"}

func (f *Fake) id(zone string, s set) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/dnszones/%s/%s/%s",
		f.SubscriptionID, f.ResourceGroup, strings.TrimSuffix(zone, "."), s.Type, relative(zone, s.Name))
}

// render is a record set as ARM returns it.
func (f *Fake) render(zone string, s set) recordSet {
	ttl := int64(s.TTL)
	out := recordSet{ID: f.id(zone, s), Name: relative(zone, s.Name), Type: "Microsoft.Network/dnszones/" + s.Type, Etag: etag(s),
		Properties: properties{TTL: &ttl, Fqdn: s.Name, ProvisioningState: "Succeeded", Metadata: map[string]string{}}}
	p := &out.Properties
	for _, d := range s.Data {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", s.Name, s.TTL, s.Type, d))
		if err != nil || rr == nil {
			continue
		}
		switch v := rr.(type) {
		case *dns.A:
			p.A = append(p.A, aRecord{ptr(v.A.String())})
		case *dns.AAAA:
			p.AAAA = append(p.AAAA, aaaaRecord{ptr(v.AAAA.String())})
		case *dns.CNAME:
			p.CNAME = &cnameRecord{ptr(v.Target)}
		case *dns.MX:
			p.MX = append(p.MX, mxRecord{ptr(int(v.Preference)), ptr(v.Mx)})
		case *dns.NS:
			p.NS = append(p.NS, nsRecord{ptr(v.Ns)})
		case *dns.PTR:
			p.PTR = append(p.PTR, ptrRecord{ptr(v.Ptr)})
		case *dns.SRV:
			p.SRV = append(p.SRV, srvRecord{ptr(int(v.Priority)), ptr(int(v.Weight)), ptr(int(v.Port)), ptr(v.Target)})
		case *dns.TXT:
			p.TXT = append(p.TXT, txtRecord{append([]string{}, v.Txt...)})
		case *dns.CAA:
			p.CAA = append(p.CAA, caaRecord{ptr(int(v.Flag)), ptr(v.Tag), ptr(v.Value)})
		case *dns.SOA:
			p.SOA = &soaRecord{v.Ns, v.Mbox, v.Serial, v.Refresh, v.Retry, v.Expire, v.Minttl}
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

// list answers List By DNS Zone (and by type), $top records per page with
// a nextLink carrying the offset in $skipToken.
func (f *Fake) list(w http.ResponseWriter, r *http.Request, res Resource) {
	q := r.URL.Query()
	per := f.MaxPerPage
	if per <= 0 {
		per = 100
	}
	if t := q.Get("$top"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			armError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The value '%s' of $top is not a positive integer.", t))
			return
		}
		per = min(per, n)
	}
	start := 0
	if s := q.Get("$skipToken"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			armError(w, http.StatusBadRequest, "BadRequest", "The $skipToken is not valid.")
			return
		}
		start = n
	}
	zone, err := f.Store.ZoneName()
	if err != nil {
		armError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	sets, err := f.sets()
	if err != nil {
		armError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	if res.Collection != "recordsets" && res.Collection != "all" {
		if _, ok := rdataKey[res.Collection]; !ok {
			armError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The record type '%s' is not supported.", res.Collection))
			return
		}
		var only []set
		for _, s := range sets {
			if s.Type == res.Collection {
				only = append(only, s)
			}
		}
		sets = only
	}
	if suffix := q.Get("$recordsetnamesuffix"); suffix != "" {
		var only []set
		for _, s := range sets {
			if rel := relative(zone, s.Name); rel == suffix || strings.HasSuffix(rel, "."+suffix) {
				only = append(only, s)
			}
		}
		sets = only
	}
	page := []recordSet{}
	for i := start; i < len(sets) && i < start+per; i++ {
		page = append(page, f.render(zone, sets[i]))
	}
	body := map[string]any{"value": page}
	if start+per < len(sets) {
		next := url.Values{}
		next.Set("api-version", APIVersion)
		next.Set("$top", strconv.Itoa(per))
		next.Set("$skipToken", base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(start+per))))
		body["nextLink"] = "https://" + ManagementHost + r.URL.Path + "?" + next.Encode()
	}
	dnsapi.WriteJSON(w, http.StatusOK, body)
}

// preconditions checks If-Match and If-None-Match against the current
// record set (exists false when there is none).
func preconditions(w http.ResponseWriter, r *http.Request, cur set, exists bool, name string) bool {
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && (!exists || m != etag(cur)) {
		armError(w, http.StatusPreconditionFailed, "PreconditionFailed", fmt.Sprintf("The Record set %s has been modified (etag mismatch).", name))
		return false
	}
	if m := r.Header.Get("If-Match"); m == "*" && !exists {
		armError(w, http.StatusPreconditionFailed, "PreconditionFailed", fmt.Sprintf("The Record set %s does not exist.", name))
		return false
	}
	if m := r.Header.Get("If-None-Match"); m == "*" && exists {
		armError(w, http.StatusPreconditionFailed, "PreconditionFailed", fmt.Sprintf("The Record set %s already exists.", name))
		return false
	}
	return true
}

// put is Create Or Update: the body's records replace the record set.
func (f *Fake) put(w http.ResponseWriter, r *http.Request, zone string, res Resource) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		armError(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The content media type is not supported. Content-Type must be 'application/json'.")
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(b) > maxBody {
		armError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content could not be read or is larger than 1 MB.")
		return
	}
	var in recordSet
	if err := json.Unmarshal(b, &in); err != nil {
		armError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "+err.Error())
		return
	}
	if res.Type == "SOA" || (res.Type == "NS" && res.Name == "@") {
		armError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("The lab's fake keeps the zone's %s record set as the lab's DNS server has it; it is not changed through the API.", res.Type))
		return
	}
	data, refusal := rdata(res.Type, in.Properties)
	if refusal != "" {
		armError(w, http.StatusBadRequest, "BadRequest", refusal)
		return
	}
	if in.Properties.TTL == nil || *in.Properties.TTL < 0 || *in.Properties.TTL > 2147483647 {
		armError(w, http.StatusBadRequest, "BadRequest", "The value for the record set property 'TTL' is missing or outside 0 to 2147483647.")
		return
	}
	if in.Properties.TargetResource != nil && in.Properties.TargetResource.ID != nil && *in.Properties.TargetResource.ID != "" {
		armError(w, http.StatusBadRequest, "BadRequest", "The lab's fake has no Azure resources for an alias record set to point at.")
		return
	}
	if len(data) == 0 {
		armError(w, http.StatusBadRequest, "BadRequest", "The lab's fake cannot hold an empty record set (the lab's DNS server has no place for one); delete the record set instead.")
		return
	}
	ttl := uint32(*in.Properties.TTL)
	name := absolute(zone, res.Name)
	var out set
	created := false
	var failed bool
	err = f.Store.Change(func(zone string, recs []dnsapi.Record) ([]dnsapi.Record, error) {
		cur, exists := find(group(recs), zone, res)
		if !preconditions(w, r, cur, exists, res.Name) {
			failed = true
			return recs, nil
		}
		created = !exists
		keep := recs[:0:0]
		for _, x := range recs {
			if !(x.Name == name && x.Type == res.Type) {
				keep = append(keep, x)
			}
		}
		out = set{Name: name, Type: res.Type, TTL: ttl}
		for _, d := range data {
			c, err := dnsapi.Parse(zone, dnsapi.Record{Name: name, Type: res.Type, TTL: ttl, Data: d})
			if err != nil {
				return nil, err
			}
			dup := false
			for _, y := range keep {
				dup = dup || y.ID == c.ID
			}
			if !dup {
				keep = append(keep, c)
				out.Data = append(out.Data, c.Data)
			}
		}
		sort.Strings(out.Data)
		return keep, nil
	})
	if failed {
		return
	}
	if err != nil {
		armError(w, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	dnsapi.WriteJSON(w, status, f.render(zone, out))
}

// rdata turns the record properties of a PUT body into presentation
// form; refusal, in ARM's words, refuses records of another type than the
// path's and incomplete ones.
func rdata(typ string, p properties) (data []string, refusal string) {
	present := map[string]bool{"A": len(p.A) > 0, "AAAA": len(p.AAAA) > 0, "CNAME": p.CNAME != nil, "MX": len(p.MX) > 0,
		"NS": len(p.NS) > 0, "PTR": len(p.PTR) > 0, "SRV": len(p.SRV) > 0, "TXT": len(p.TXT) > 0, "CAA": len(p.CAA) > 0, "SOA": p.SOA != nil}
	for t, ok := range present {
		if ok && t != typ {
			return nil, fmt.Sprintf("The record set of type '%s' cannot contain %s; only %s is allowed.", typ, rdataKey[t], rdataKey[typ])
		}
	}
	missing := func(what string) string {
		return fmt.Sprintf("The %s record is missing its '%s' property.", typ, what)
	}
	var out []string
	switch typ {
	case "A":
		for _, r := range p.A {
			if r.IPv4Address == nil {
				return nil, missing("ipv4Address")
			}
			out = append(out, *r.IPv4Address)
		}
	case "AAAA":
		for _, r := range p.AAAA {
			if r.IPv6Address == nil {
				return nil, missing("ipv6Address")
			}
			out = append(out, *r.IPv6Address)
		}
	case "CNAME":
		if p.CNAME != nil {
			if p.CNAME.Cname == nil || *p.CNAME.Cname == "" {
				return nil, missing("cname")
			}
			out = append(out, dns.Fqdn(*p.CNAME.Cname))
		}
	case "MX":
		for _, r := range p.MX {
			if r.Preference == nil || r.Exchange == nil {
				return nil, missing("preference' or 'exchange")
			}
			out = append(out, fmt.Sprintf("%d %s", *r.Preference, dns.Fqdn(*r.Exchange)))
		}
	case "NS":
		for _, r := range p.NS {
			if r.Nsdname == nil {
				return nil, missing("nsdname")
			}
			out = append(out, dns.Fqdn(*r.Nsdname))
		}
	case "PTR":
		for _, r := range p.PTR {
			if r.Ptrdname == nil {
				return nil, missing("ptrdname")
			}
			out = append(out, dns.Fqdn(*r.Ptrdname))
		}
	case "SRV":
		for _, r := range p.SRV {
			if r.Priority == nil || r.Weight == nil || r.Port == nil || r.Target == nil {
				return nil, missing("priority', 'weight', 'port' or 'target")
			}
			out = append(out, fmt.Sprintf("%d %d %d %s", *r.Priority, *r.Weight, *r.Port, dns.Fqdn(*r.Target)))
		}
	case "TXT":
		for _, r := range p.TXT {
			if len(r.Value) == 0 {
				return nil, missing("value")
			}
			var q []string
			for _, v := range r.Value {
				if len(v) > 255 {
					return nil, "A TXT record value string is longer than 255 characters."
				}
				q = append(q, dnstext.Quote(v))
			}
			out = append(out, strings.Join(q, " "))
		}
	case "CAA":
		for _, r := range p.CAA {
			if r.Flags == nil || r.Tag == nil || r.Value == nil {
				return nil, missing("flags', 'tag' or 'value")
			}
			out = append(out, fmt.Sprintf("%d %s %s", *r.Flags, *r.Tag, dnstext.Quote(*r.Value)))
		}
	}
	return out, ""
}

// delete removes a record set; one that is not there is 204 No Content.
func (f *Fake) delete(w http.ResponseWriter, r *http.Request, zone string, res Resource) {
	if res.Type == "SOA" || (res.Type == "NS" && res.Name == "@") {
		armError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Record sets of type %s at the zone apex cannot be deleted.", res.Type))
		return
	}
	name := absolute(zone, res.Name)
	var failed, existed bool
	err := f.Store.Change(func(zone string, recs []dnsapi.Record) ([]dnsapi.Record, error) {
		cur, exists := find(group(recs), zone, res)
		if !preconditions(w, r, cur, exists, res.Name) {
			failed = true
			return recs, nil
		}
		existed = exists
		keep := recs[:0:0]
		for _, x := range recs {
			if !(x.Name == name && x.Type == res.Type) {
				keep = append(keep, x)
			}
		}
		return keep, nil
	})
	switch {
	case failed:
	case err != nil:
		armError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
	case existed:
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
