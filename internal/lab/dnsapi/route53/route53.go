// Package route53 is the lab's fake of the Amazon Route 53 API (REST-XML,
// version 2013-04-01), written from AWS's public API reference: requests
// signed with Signature Version 4 (verified against the fake's key pair),
// ListHostedZonesByName, ListResourceRecordSets with its name/type
// pagination (IsTruncated, NextRecordName, NextRecordType) in Route 53's
// order, ChangeResourceRecordSets with CREATE, DELETE and UPSERT applied all
// or nothing under Route 53's rules (DELETE must match the current values
// and TTL), GetChange, and the XML error bodies (InvalidChangeBatch,
// Throttling, SignatureDoesNotMatch, InvalidClientTokenId, NoSuchHostedZone).
// It is backed by a dnsapi store over the lab's public zone.
package route53

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
)

// Host is the API host the fake stands in for.
const Host = "route53.amazonaws.com"

const xmlns = "https://route53.amazonaws.com/doc/2013-04-01/"

// Fake is one AWS account holding one hosted zone.
type Fake struct {
	Store *dnsapi.Store
	// AccessKeyID and SecretAccessKey are the only accepted credentials.
	AccessKeyID, SecretAccessKey string
	// ZoneID is the hosted zone's ID, without "/hostedzone/".
	ZoneID string
	// MaxItems caps maxitems (default 300), so tests see several pages.
	MaxItems int

	dnsapi.Traffic

	mu      sync.Mutex // guards changes
	changes int
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

func writeXML(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", "8d5a7e0a-0000-4000-8000-000000000000")
	w.WriteHeader(status)
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	e := errorResponse{Xmlns: xmlns, RequestID: "8d5a7e0a-0000-4000-8000-000000000000"}
	e.Error.Type, e.Error.Code, e.Error.Message = "Sender", code, msg
	writeXML(w, status, e)
}

type invalidChangeBatch struct {
	XMLName   xml.Name `xml:"InvalidChangeBatch"`
	Xmlns     string   `xml:"xmlns,attr"`
	Messages  []string `xml:"Messages>Message"`
	RequestID string   `xml:"RequestId"`
}

// ServeHTTP answers the API under /2013-04-01.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, "InvalidInput", "cannot read the request body")
		return
	}
	if f.Admit(r) {
		fail(w, http.StatusBadRequest, "Throttling", "Rate exceeded")
		return
	}
	if code, msg := f.verify(r, body); code != "" {
		fail(w, http.StatusForbidden, code, msg)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/2013-04-01")
	switch {
	case p == "/hostedzonesbyname" && r.Method == http.MethodGet:
		f.zonesByName(w, r)
	case strings.HasPrefix(p, "/hostedzone/") && strings.HasSuffix(p, "/rrset") && r.Method == http.MethodGet:
		if f.zone(w, strings.TrimSuffix(strings.TrimPrefix(p, "/hostedzone/"), "/rrset")) {
			f.list(w, r)
		}
	case strings.HasPrefix(p, "/hostedzone/") && (strings.HasSuffix(p, "/rrset") || strings.HasSuffix(p, "/rrset/")) && r.Method == http.MethodPost:
		if f.zone(w, strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(p, "/hostedzone/"), "/"), "/rrset")) {
			f.change(w, body)
		}
	case strings.HasPrefix(p, "/change/") && r.Method == http.MethodGet:
		writeXML(w, http.StatusOK, getChangeResponse{Xmlns: xmlns, ChangeInfo: changeInfo{ID: "/change/" + strings.TrimPrefix(p, "/change/"), Status: "INSYNC", SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
	default:
		fail(w, http.StatusNotFound, "UnknownOperationException", "no operation at "+r.Method+" "+r.URL.Path)
	}
}

// verify checks the request's Signature Version 4 against the key pair:
// the credential scope names the key, and the signature recomputed over
// the signed headers and the body matches.
func (f *Fake) verify(r *http.Request, body []byte) (code, msg string) {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return "MissingAuthenticationToken", "Missing Authentication Token"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[3] != "route53" || scope[4] != "aws4_request" {
		return "IncompleteSignature", "Authorization header requires a Credential of the form KEY/DATE/REGION/route53/aws4_request"
	}
	if scope[0] != f.AccessKeyID {
		return "InvalidClientTokenId", "The security token included in the request is invalid."
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return "IncompleteSignature", "X-Amz-Date is missing or malformed"
	}
	clone, _ := http.NewRequest(r.Method, "https://"+Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h == "host" {
			continue
		}
		clone.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
	}
	clone.Host = r.Host
	sum := sha256.Sum256(body)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: f.AccessKeyID, SecretAccessKey: f.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")},
		clone, hex.EncodeToString(sum[:]), "route53", scope[2], at)
	if err != nil {
		return "IncompleteSignature", err.Error()
	}
	_, want, _ := strings.Cut(clone.Header.Get("Authorization"), "Signature=")
	if want == "" || want != fields["Signature"] {
		return "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
	}
	return "", ""
}

func (f *Fake) zone(w http.ResponseWriter, id string) bool {
	if id != f.ZoneID {
		fail(w, http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: "+id)
		return false
	}
	return true
}

type hostedZone struct {
	ID              string `xml:"Id"`
	Name            string `xml:"Name"`
	CallerReference string `xml:"CallerReference"`
	Config          struct {
		PrivateZone bool `xml:"PrivateZone"`
	} `xml:"Config"`
	ResourceRecordSetCount int `xml:"ResourceRecordSetCount"`
}

type zonesByNameResponse struct {
	XMLName     xml.Name     `xml:"ListHostedZonesByNameResponse"`
	Xmlns       string       `xml:"xmlns,attr"`
	HostedZones []hostedZone `xml:"HostedZones>HostedZone"`
	DNSName     string       `xml:"DNSName,omitempty"`
	IsTruncated bool         `xml:"IsTruncated"`
	MaxItems    string       `xml:"MaxItems"`
}

func (f *Fake) zonesByName(w http.ResponseWriter, r *http.Request) {
	zone, err := f.Store.ZoneName()
	if err != nil {
		fail(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	q := r.URL.Query()
	max := 100
	if v := q.Get("maxitems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			fail(w, http.StatusBadRequest, "InvalidInput", "1 validation error detected: Value '"+v+"' at 'maxItems' failed to satisfy constraint")
			return
		}
		max = n
	}
	out := zonesByNameResponse{Xmlns: xmlns, DNSName: q.Get("dnsname"), MaxItems: strconv.Itoa(max)}
	// Zones are listed from dnsname on, in reversed-label order.
	if n := q.Get("dnsname"); n == "" || reversed(dns.CanonicalName(n)) <= reversed(zone) {
		hz := hostedZone{ID: "/hostedzone/" + f.ZoneID, Name: zone, CallerReference: "exlab"}
		recs, _ := f.Store.List()
		hz.ResourceRecordSetCount = len(recs) + 2
		out.HostedZones = append(out.HostedZones, hz)
	}
	writeXML(w, http.StatusOK, out)
}

// reversed is a name's labels in reverse, Route 53's listing order.
func reversed(name string) string {
	labels := dns.SplitDomainName(dns.CanonicalName(name))
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".")
}

type resourceRecordSet struct {
	Name            string           `xml:"Name"`
	Type            string           `xml:"Type"`
	TTL             *int64           `xml:"TTL,omitempty"`
	ResourceRecords []resourceRecord `xml:"ResourceRecords>ResourceRecord"`
}

// resourceRecord is one <ResourceRecord><Value>: a struct, so that each
// value gets its own element (a []string path would put every Value in
// one ResourceRecord).
type resourceRecord struct {
	Value string `xml:"Value"`
}

type listResponse struct {
	XMLName            xml.Name            `xml:"ListResourceRecordSetsResponse"`
	Xmlns              string              `xml:"xmlns,attr"`
	ResourceRecordSets []resourceRecordSet `xml:"ResourceRecordSets>ResourceRecordSet"`
	IsTruncated        bool                `xml:"IsTruncated"`
	NextRecordName     string              `xml:"NextRecordName,omitempty"`
	NextRecordType     string              `xml:"NextRecordType,omitempty"`
	MaxItems           string              `xml:"MaxItems"`
}

// escape writes a name as Route 53 returns it: "*" as \052, other
// characters outside letters, digits, '-', '_' and '.' in octal.
func escape(name string) string {
	var b strings.Builder
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "\\%03o", c)
		}
	}
	return b.String()
}

// rrsets are the zone's RRsets in Route 53's order, the apex SOA and NS
// included.
func (f *Fake) rrsets() ([]resourceRecordSet, error) {
	z, err := f.Store.Backend.Zone()
	if err != nil {
		return nil, err
	}
	zone := dns.CanonicalName(z.Name)
	soaTTL := int64(z.SOA.TTL)
	sets := []resourceRecordSet{
		{Name: zone, Type: "SOA", TTL: &soaTTL, ResourceRecords: []resourceRecord{{fmt.Sprintf("%s %s %d %d %d %d %d", z.SOA.MName, z.SOA.RName, z.SOA.Serial, z.SOA.Refresh, z.SOA.Retry, z.SOA.Expire, z.SOA.Minimum)}}},
	}
	var ns []resourceRecord
	for _, n := range z.NS {
		ns = append(ns, resourceRecord{dns.Fqdn(n)})
	}
	nsTTL := soaTTL
	sets = append(sets, resourceRecordSet{Name: zone, Type: "NS", TTL: &nsTTL, ResourceRecords: ns})
	recs, err := f.Store.List()
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for _, r := range recs {
		k := r.Name + " " + r.Type
		i, ok := idx[k]
		if !ok {
			ttl := int64(r.TTL)
			sets = append(sets, resourceRecordSet{Name: escape(r.Name), Type: r.Type, TTL: &ttl})
			i = len(sets) - 1
			idx[k] = i
		}
		sets[i].ResourceRecords = append(sets[i].ResourceRecords, resourceRecord{r.Data})
	}
	sort.SliceStable(sets, func(i, j int) bool {
		a, b := reversed(sets[i].Name), reversed(sets[j].Name)
		if a != b {
			return a < b
		}
		return sets[i].Type < sets[j].Type
	})
	return sets, nil
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	max := 300
	if v := q.Get("maxitems"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(w, http.StatusBadRequest, "InvalidInput", "maxitems must be a positive integer")
			return
		}
		max = min(n, 300)
	}
	if f.MaxItems > 0 {
		max = min(max, f.MaxItems)
	}
	if q.Get("type") != "" && q.Get("name") == "" {
		fail(w, http.StatusBadRequest, "InvalidInput", "The input is not valid: type requires name")
		return
	}
	sets, err := f.rrsets()
	if err != nil {
		fail(w, http.StatusInternalServerError, "InternalFailure", err.Error())
		return
	}
	start := 0
	if n := q.Get("name"); n != "" {
		from, typ := reversed(n), q.Get("type")
		start = len(sets)
		for i, s := range sets {
			if rn := reversed(s.Name); rn > from || (rn == from && s.Type >= typ) {
				start = i
				break
			}
		}
	}
	out := listResponse{Xmlns: xmlns, MaxItems: strconv.Itoa(max)}
	end := min(start+max, len(sets))
	out.ResourceRecordSets = sets[start:end]
	if end < len(sets) {
		out.IsTruncated, out.NextRecordName, out.NextRecordType = true, sets[end].Name, sets[end].Type
	}
	writeXML(w, http.StatusOK, out)
}

type changeRequest struct {
	XMLName     xml.Name `xml:"ChangeResourceRecordSetsRequest"`
	ChangeBatch struct {
		Comment string `xml:"Comment"`
		Changes []struct {
			Action            string            `xml:"Action"`
			ResourceRecordSet resourceRecordSet `xml:"ResourceRecordSet"`
		} `xml:"Changes>Change"`
	} `xml:"ChangeBatch"`
}

type changeInfo struct {
	ID          string `xml:"Id"`
	Status      string `xml:"Status"`
	SubmittedAt string `xml:"SubmittedAt"`
}

type changeResponse struct {
	XMLName    xml.Name   `xml:"ChangeResourceRecordSetsResponse"`
	Xmlns      string     `xml:"xmlns,attr"`
	ChangeInfo changeInfo `xml:"ChangeInfo"`
}

type getChangeResponse struct {
	XMLName    xml.Name   `xml:"GetChangeResponse"`
	Xmlns      string     `xml:"xmlns,attr"`
	ChangeInfo changeInfo `xml:"ChangeInfo"`
}

type batchError struct{ msgs []string }

func (e *batchError) Error() string { return strings.Join(e.msgs, "; ") }

// unescape turns Route 53's octal escapes back into characters.
func unescape(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] == '\\' && i+4 <= len(name) {
			if n, err := strconv.ParseUint(name[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(name[i])
	}
	return b.String()
}

func (f *Fake) change(w http.ResponseWriter, body []byte) {
	var req changeRequest
	if err := xml.Unmarshal(body, &req); err != nil {
		fail(w, http.StatusBadRequest, "InvalidInput", "The XML document is malformed: "+err.Error())
		return
	}
	if len(req.ChangeBatch.Changes) == 0 {
		fail(w, http.StatusBadRequest, "InvalidInput", "1 validation error detected: Value null at 'changeBatch.changes' failed to satisfy constraint: Member must not be null")
		return
	}
	err := f.Store.Change(func(zone string, recs []dnsapi.Record) ([]dnsapi.Record, error) {
		var msgs []string
		for _, c := range req.ChangeBatch.Changes {
			s := c.ResourceRecordSet
			name := dns.CanonicalName(unescape(s.Name))
			typ := strings.ToUpper(s.Type)
			desc := fmt.Sprintf("[name='%s', type='%s']", name, typ)
			if name == zone && (typ == "SOA" || typ == "NS") {
				msgs = append(msgs, "Tried to change the apex "+typ+" record set "+desc+", which the lab does not allow")
				continue
			}
			if s.TTL == nil || *s.TTL < 0 || *s.TTL > 2147483647 {
				msgs = append(msgs, "Invalid TTL for resource record set "+desc)
				continue
			}
			var given []dnsapi.Record
			for _, v := range s.ResourceRecords {
				p, err := dnsapi.Parse(zone, dnsapi.Record{Name: name, Type: typ, TTL: uint32(*s.TTL), Data: v.Value})
				if err != nil {
					msgs = append(msgs, fmt.Sprintf("Invalid Resource Record: FATAL problem: %v encountered with '%s'", err, v.Value))
					continue
				}
				given = append(given, p)
			}
			if len(given) == 0 {
				msgs = append(msgs, "Resource record set "+desc+" has no records")
				continue
			}
			var cur, rest []dnsapi.Record
			for _, r := range recs {
				if r.Name == name && r.Type == typ {
					cur = append(cur, r)
				} else {
					rest = append(rest, r)
				}
			}
			switch c.Action {
			case "CREATE":
				if len(cur) > 0 {
					msgs = append(msgs, "Tried to create resource record set "+desc+" but it already exists")
					continue
				}
				recs = append(rest, given...)
			case "DELETE":
				if len(cur) == 0 {
					msgs = append(msgs, "Tried to delete resource record set "+desc+" but it was not found")
					continue
				}
				if !sameSet(cur, given) {
					msgs = append(msgs, "Tried to delete resource record set "+desc+" but the values provided do not match the current values")
					continue
				}
				recs = rest
			case "UPSERT":
				recs = append(rest, given...)
			default:
				msgs = append(msgs, "Invalid action "+c.Action)
			}
		}
		if len(msgs) > 0 {
			return nil, &batchError{msgs: msgs}
		}
		return recs, nil
	})
	if be, ok := err.(*batchError); ok {
		writeXML(w, http.StatusBadRequest, invalidChangeBatch{Xmlns: xmlns, Messages: be.msgs, RequestID: "8d5a7e0a-0000-4000-8000-000000000000"})
		return
	}
	if err != nil {
		writeXML(w, http.StatusBadRequest, invalidChangeBatch{Xmlns: xmlns, Messages: []string{err.Error()}, RequestID: "8d5a7e0a-0000-4000-8000-000000000000"})
		return
	}
	f.mu.Lock()
	f.changes++
	id := fmt.Sprintf("C%012d", f.changes)
	f.mu.Unlock()
	writeXML(w, http.StatusOK, changeResponse{Xmlns: xmlns, ChangeInfo: changeInfo{ID: "/change/" + id, Status: "PENDING", SubmittedAt: time.Now().UTC().Format(time.RFC3339)}})
}

func sameSet(a, b []dnsapi.Record) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]bool{}
	for _, r := range a {
		m[fmt.Sprintf("%d %s", r.TTL, r.Data)] = true
	}
	for _, r := range b {
		if !m[fmt.Sprintf("%d %s", r.TTL, r.Data)] {
			return false
		}
	}
	return true
}
