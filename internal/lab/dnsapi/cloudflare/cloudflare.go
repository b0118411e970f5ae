// Package cloudflare is the lab's fake of the Cloudflare API v4 DNS
// endpoints (/client/v4/zones and /zones/{zone_id}/dns_records), written
// from Cloudflare's public API documentation: Bearer token authentication,
// the {result, success, errors, messages, result_info} envelope, page and
// per_page pagination, the name, type and content filters, the record
// error codes, and HTTP 429 with Retry-After. It is backed by a dnsapi
// store over the lab's public zone.
package cloudflare

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
)

// Host is the API host the fake stands in for.
const Host = "api.cloudflare.com"

// Fake is one Cloudflare account holding one zone.
type Fake struct {
	// Store is the zone.
	Store *dnsapi.Store
	// Token is the API token every request must bear.
	Token string
	// ZoneID is the zone's identifier (32 hex digits).
	ZoneID string
	// MaxPerPage caps per_page (default 100), so tests see several pages.
	MaxPerPage int

	dnsapi.Traffic
}

type cfError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type envelope struct {
	Result     any       `json:"result"`
	Success    bool      `json:"success"`
	Errors     []cfError `json:"errors"`
	Messages   []any     `json:"messages"`
	ResultInfo *pageInfo `json:"result_info,omitempty"`
}

type pageInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

type record struct {
	ID         string    `json:"id"`
	ZoneID     string    `json:"zone_id"`
	ZoneName   string    `json:"zone_name"`
	Name       string    `json:"name"`
	Type       string    `json:"type"`
	Content    string    `json:"content"`
	Priority   *uint16   `json:"priority,omitempty"`
	Proxiable  bool      `json:"proxiable"`
	Proxied    bool      `json:"proxied"`
	TTL        int       `json:"ttl"`
	Locked     bool      `json:"locked"`
	CreatedOn  time.Time `json:"created_on"`
	ModifiedOn time.Time `json:"modified_on"`
}

// input is a POST, PUT or PATCH body.
type input struct {
	Type     *string `json:"type"`
	Name     *string `json:"name"`
	Content  *string `json:"content"`
	TTL      *int    `json:"ttl"`
	Priority *uint16 `json:"priority"`
	Proxied  *bool   `json:"proxied"`
	Comment  *string `json:"comment"`
}

func write(w http.ResponseWriter, status int, e envelope) {
	if e.Errors == nil {
		e.Errors = []cfError{}
	}
	e.Messages = []any{}
	e.Success = status < 400
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(e)
}

func fail(w http.ResponseWriter, status, code int, msg string) {
	write(w, status, envelope{Errors: []cfError{{Code: code, Message: msg}}})
}

// ServeHTTP answers the API under /client/v4.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.Admit(r) {
		w.Header().Set("Retry-After", "1")
		fail(w, http.StatusTooManyRequests, 971, "Please wait and consider throttling your request speed")
		return
	}
	auth := r.Header.Get("Authorization")
	switch {
	case auth == "":
		fail(w, http.StatusBadRequest, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
		return
	case !strings.HasPrefix(auth, "Bearer ") || auth != "Bearer "+f.Token:
		fail(w, http.StatusForbidden, 9109, "Invalid access token")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/client/v4")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "zones" && r.Method == http.MethodGet:
		f.zones(w, r)
	case len(parts) >= 3 && parts[0] == "zones" && parts[2] == "dns_records":
		if parts[1] != f.ZoneID {
			fail(w, http.StatusNotFound, 7003, "Could not route to /zones/"+parts[1]+"/dns_records, perhaps your object identifier is invalid?")
			return
		}
		switch {
		case len(parts) == 3 && r.Method == http.MethodGet:
			f.list(w, r)
		case len(parts) == 3 && r.Method == http.MethodPost:
			f.create(w, r)
		case len(parts) == 4 && r.Method == http.MethodGet:
			f.one(w, parts[3])
		case len(parts) == 4 && (r.Method == http.MethodPatch || r.Method == http.MethodPut):
			f.update(w, r, parts[3])
		case len(parts) == 4 && r.Method == http.MethodDelete:
			f.remove(w, parts[3])
		default:
			fail(w, http.StatusMethodNotAllowed, 10000, "Method "+r.Method+" not allowed")
		}
	default:
		fail(w, http.StatusNotFound, 7000, "No route for that URI")
	}
}

// page reads page and per_page: page from 1, per_page 5 to 5000000 as
// documented, capped at MaxPerPage.
func (f *Fake) page(w http.ResponseWriter, r *http.Request) (int, int, bool) {
	q := r.URL.Query()
	page, per := 1, 100
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			fail(w, http.StatusBadRequest, 1004, "page must be a positive integer")
			return 0, 0, false
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 5 || n > 5000000 {
			fail(w, http.StatusBadRequest, 1004, "per_page must be between 5 and 5000000")
			return 0, 0, false
		}
		per = n
	}
	limit := f.MaxPerPage
	if limit <= 0 {
		limit = 100
	}
	return page, min(per, limit), true
}

func paginate[T any](items []T, page, per int) ([]T, *pageInfo) {
	total := len(items)
	start := min((page-1)*per, total)
	end := min(start+per, total)
	return items[start:end], &pageInfo{Page: page, PerPage: per, Count: end - start, TotalCount: total, TotalPages: (total + per - 1) / per}
}

func (f *Fake) zones(w http.ResponseWriter, r *http.Request) {
	page, per, ok := f.page(w, r)
	if !ok {
		return
	}
	zone, err := f.Store.ZoneName()
	if err != nil {
		fail(w, http.StatusInternalServerError, 10000, err.Error())
		return
	}
	bare := strings.TrimSuffix(zone, ".")
	type z struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Status string `json:"status"`
		Type   string `json:"type"`
	}
	all := []z{}
	if n := r.URL.Query().Get("name"); n == "" || strings.EqualFold(strings.TrimSuffix(n, "."), bare) {
		all = append(all, z{ID: f.ZoneID, Name: bare, Status: "active", Type: "full"})
	}
	items, info := paginate(all, page, per)
	write(w, http.StatusOK, envelope{Result: items, ResultInfo: info})
}

// fqdn turns a name as the API takes it ("www", "www.contoso.com", "@")
// into the absolute name.
func fqdn(name, zone string) string {
	n := strings.TrimSuffix(strings.ToLower(name), ".")
	bare := strings.TrimSuffix(zone, ".")
	switch {
	case n == "@" || n == bare:
		return zone
	case strings.HasSuffix(n, "."+bare):
		return n + "."
	}
	return n + "." + zone
}

func (f *Fake) toAPI(zone string, r dnsapi.Record) record {
	out := record{ID: r.ID, ZoneID: f.ZoneID, ZoneName: strings.TrimSuffix(zone, "."), Name: strings.TrimSuffix(r.Name, "."),
		Type: r.Type, Content: r.Data, TTL: int(r.TTL), Proxiable: r.Type == "A" || r.Type == "AAAA" || r.Type == "CNAME"}
	switch r.Type {
	case "CNAME", "NS":
		out.Content = strings.TrimSuffix(r.Data, ".")
	case "MX":
		if fs := strings.Fields(r.Data); len(fs) == 2 {
			p, _ := strconv.ParseUint(fs[0], 10, 16)
			pp := uint16(p)
			out.Priority, out.Content = &pp, strings.TrimSuffix(fs[1], ".")
		}
	}
	return out
}

func (f *Fake) list(w http.ResponseWriter, r *http.Request) {
	page, per, ok := f.page(w, r)
	if !ok {
		return
	}
	zone, err := f.Store.ZoneName()
	if err != nil {
		fail(w, http.StatusInternalServerError, 10000, err.Error())
		return
	}
	recs, err := f.Store.List()
	if err != nil {
		fail(w, http.StatusInternalServerError, 10000, err.Error())
		return
	}
	q := r.URL.Query()
	var out []record
	for _, rec := range recs {
		a := f.toAPI(zone, rec)
		if t := q.Get("type"); t != "" && !strings.EqualFold(t, a.Type) {
			continue
		}
		n := q.Get("name")
		if n == "" {
			n = q.Get("name.exact")
		}
		if n != "" && fqdn(n, zone) != rec.Name {
			continue
		}
		if c := q.Get("content"); c != "" && c != a.Content {
			continue
		}
		if c := q.Get("content.exact"); c != "" && c != a.Content {
			continue
		}
		if c := q.Get("content.contains"); c != "" && !strings.Contains(a.Content, c) {
			continue
		}
		out = append(out, a)
	}
	if out == nil {
		out = []record{}
	}
	items, info := paginate(out, page, per)
	write(w, http.StatusOK, envelope{Result: items, ResultInfo: info})
}

func (f *Fake) one(w http.ResponseWriter, id string) {
	zone, _ := f.Store.ZoneName()
	rec, err := f.Store.Get(id)
	if err != nil {
		f.storeError(w, err)
		return
	}
	write(w, http.StatusOK, envelope{Result: f.toAPI(zone, rec)})
}

func readInput(w http.ResponseWriter, r *http.Request) (input, bool) {
	var in input
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		fail(w, http.StatusBadRequest, 6003, "Invalid request headers: Content-Type must be application/json")
		return in, false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, 9207, "Request body is invalid JSON: "+err.Error())
		return in, false
	}
	return in, true
}

// toStore turns the API's fields into a store record: TXT content as
// given (quoted or not), targets made absolute, MX priority prefixed.
func toStore(zone string, in input) (dnsapi.Record, error) {
	if in.Type == nil || *in.Type == "" {
		return dnsapi.Record{}, errors.New("type is required")
	}
	if in.Name == nil || *in.Name == "" {
		return dnsapi.Record{}, errors.New("name is required")
	}
	if in.Content == nil || *in.Content == "" {
		return dnsapi.Record{}, errors.New("content is required")
	}
	ttl := 1
	if in.TTL != nil {
		ttl = *in.TTL
	}
	if ttl != 1 && (ttl < 60 || ttl > 86400) {
		return dnsapi.Record{}, fmt.Errorf("ttl must be between 60 and 86400 seconds, or 1 for Automatic")
	}
	if ttl == 1 {
		ttl = 300
	}
	typ := strings.ToUpper(*in.Type)
	data := *in.Content
	switch typ {
	case "CNAME", "NS":
		data = dns.Fqdn(data)
	case "MX":
		prio := uint16(0)
		if in.Priority != nil {
			prio = *in.Priority
		}
		data = fmt.Sprintf("%d %s", prio, dns.Fqdn(data))
	case "TXT":
		if !strings.HasPrefix(data, `"`) {
			data = strconv.Quote(data)
		}
	}
	return dnsapi.Record{Name: fqdn(*in.Name, zone), Type: typ, TTL: uint32(ttl), Data: data}, nil
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	in, ok := readInput(w, r)
	if !ok {
		return
	}
	zone, _ := f.Store.ZoneName()
	rec, err := toStore(zone, in)
	if err != nil {
		fail(w, http.StatusBadRequest, 9000, "DNS record validation error: "+err.Error())
		return
	}
	out, err := f.Store.Add(rec)
	if err != nil {
		f.storeError(w, err)
		return
	}
	write(w, http.StatusOK, envelope{Result: f.toAPI(zone, out)})
}

func (f *Fake) update(w http.ResponseWriter, r *http.Request, id string) {
	in, ok := readInput(w, r)
	if !ok {
		return
	}
	zone, _ := f.Store.ZoneName()
	old, err := f.Store.Get(id)
	if err != nil {
		f.storeError(w, err)
		return
	}
	if r.Method == http.MethodPatch {
		// PATCH changes only the fields given.
		a := f.toAPI(zone, old)
		if in.Type == nil {
			in.Type = &a.Type
		}
		if in.Name == nil {
			in.Name = &a.Name
		}
		if in.Content == nil {
			in.Content = &a.Content
		}
		if in.TTL == nil {
			in.TTL = &a.TTL
		}
		if in.Priority == nil {
			in.Priority = a.Priority
		}
	}
	rec, err := toStore(zone, in)
	if err != nil {
		fail(w, http.StatusBadRequest, 9000, "DNS record validation error: "+err.Error())
		return
	}
	out, err := f.Store.Replace(id, rec)
	if err != nil {
		f.storeError(w, err)
		return
	}
	write(w, http.StatusOK, envelope{Result: f.toAPI(zone, out)})
}

func (f *Fake) remove(w http.ResponseWriter, id string) {
	if _, err := f.Store.Delete(id); err != nil {
		f.storeError(w, err)
		return
	}
	write(w, http.StatusOK, envelope{Result: map[string]string{"id": id}})
}

func (f *Fake) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, dnsapi.ErrNotFound):
		fail(w, http.StatusNotFound, 81044, "Record does not exist.")
	case errors.Is(err, dnsapi.ErrDuplicate):
		fail(w, http.StatusBadRequest, 81058, "An identical record already exists.")
	case errors.Is(err, dnsapi.ErrCNAME):
		fail(w, http.StatusBadRequest, 81053, "An A, AAAA, or CNAME record with that host already exists.")
	case errors.Is(err, dnsapi.ErrInvalid):
		fail(w, http.StatusBadRequest, 9000, "DNS record validation error: "+err.Error())
	default:
		fail(w, http.StatusInternalServerError, 10000, err.Error())
	}
}
