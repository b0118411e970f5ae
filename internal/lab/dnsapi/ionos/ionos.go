// Package ionos is the lab's fake of the IONOS Hosting DNS API
// (https://api.hosting.ionos.com/dns/v1), written from IONOS's public API
// documentation: the X-API-Key header ("prefix.secret"), GET /zones, GET
// /zones/{zoneId} with the recordName and recordType filters (the API has
// no pagination for records), POST of a list of records, PUT and DELETE of
// one record, and error bodies as a list of {code, message}. It is backed
// by a dnsapi store over the lab's public zone.
package ionos

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
)

// Host is the API host the fake stands in for.
const Host = "api.hosting.ionos.com"

// Fake is one IONOS contract holding one zone.
type Fake struct {
	Store *dnsapi.Store
	// APIKey is the key every request must carry ("prefix.secret").
	APIKey string
	// ZoneID is the zone's UUID.
	ZoneID string

	dnsapi.Traffic
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func fail(w http.ResponseWriter, status int, code, msg string) {
	dnsapi.WriteJSON(w, status, []apiError{{Code: code, Message: msg}})
}

type zoneRecord struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	RootName   string `json:"rootName"`
	Type       string `json:"type"`
	Content    string `json:"content"`
	ChangeDate string `json:"changeDate"`
	TTL        int    `json:"ttl"`
	Prio       int    `json:"prio"`
	Disabled   bool   `json:"disabled"`
}

type recordIn struct {
	Name     *string `json:"name"`
	Type     *string `json:"type"`
	Content  *string `json:"content"`
	TTL      *int    `json:"ttl"`
	Prio     *int    `json:"prio"`
	Disabled *bool   `json:"disabled"`
}

// ServeHTTP answers the API under /dns/v1.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.Admit(r) {
		fail(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", "Too many requests, try again later.")
		return
	}
	key := r.Header.Get("X-API-Key")
	if key == "" || key != f.APIKey || !strings.Contains(key, ".") {
		fail(w, http.StatusUnauthorized, "UNAUTHORIZED", "Missing or invalid API key.")
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/dns/v1"), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "zones" && r.Method == http.MethodGet:
		zone, err := f.Store.ZoneName()
		if err != nil {
			fail(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", err.Error())
			return
		}
		dnsapi.WriteJSON(w, http.StatusOK, []map[string]string{{"name": strings.TrimSuffix(zone, "."), "id": f.ZoneID, "type": "NATIVE"}})
	case len(parts) >= 2 && parts[0] == "zones" && parts[1] != f.ZoneID:
		fail(w, http.StatusNotFound, "ZONE_NOT_FOUND", "Zone not found.")
	case len(parts) == 2 && r.Method == http.MethodGet:
		f.getZone(w, r)
	case len(parts) == 3 && parts[2] == "records" && r.Method == http.MethodPost:
		f.create(w, r)
	case len(parts) == 4 && parts[2] == "records" && r.Method == http.MethodPut:
		f.update(w, r, parts[3])
	case len(parts) == 4 && parts[2] == "records" && r.Method == http.MethodDelete:
		if _, err := f.Store.Delete(parts[3]); err != nil {
			f.storeError(w, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		fail(w, http.StatusNotFound, "NOT_FOUND", "No resource at "+r.Method+" "+r.URL.Path)
	}
}

func (f *Fake) toAPI(zone string, rec dnsapi.Record) zoneRecord {
	out := zoneRecord{ID: rec.ID, Name: strings.TrimSuffix(rec.Name, "."), RootName: strings.TrimSuffix(zone, "."), Type: rec.Type,
		Content: rec.Data, TTL: int(rec.TTL), ChangeDate: "2026-12-01T00:00:00.000Z"}
	switch rec.Type {
	case "CNAME", "NS":
		out.Content = strings.TrimSuffix(rec.Data, ".")
	case "MX":
		if fs := strings.Fields(rec.Data); len(fs) == 2 {
			out.Prio, _ = strconv.Atoi(fs[0])
			out.Content = strings.TrimSuffix(fs[1], ".")
		}
	}
	return out
}

func (f *Fake) getZone(w http.ResponseWriter, r *http.Request) {
	zone, _ := f.Store.ZoneName()
	recs, err := f.Store.List()
	if err != nil {
		fail(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", err.Error())
		return
	}
	q := r.URL.Query()
	out := []zoneRecord{}
	for _, rec := range recs {
		a := f.toAPI(zone, rec)
		if t := q.Get("recordType"); t != "" && !strings.EqualFold(t, a.Type) {
			continue
		}
		if n := q.Get("recordName"); n != "" && !strings.EqualFold(strings.TrimSuffix(n, "."), a.Name) {
			continue
		}
		if s := q.Get("suffix"); s != "" && !strings.HasSuffix(a.Name, strings.TrimSuffix(s, ".")) {
			continue
		}
		out = append(out, a)
	}
	dnsapi.WriteJSON(w, http.StatusOK, map[string]any{"id": f.ZoneID, "name": strings.TrimSuffix(zone, "."), "type": "NATIVE", "records": out})
}

// toStore turns the API's fields into a store record: names are absolute
// without the final dot, TXT content quoted or not, MX priority apart.
func toStore(zone string, in recordIn) (dnsapi.Record, error) {
	if in.Name == nil || in.Type == nil || in.Content == nil || *in.Name == "" || *in.Content == "" {
		return dnsapi.Record{}, errors.New("name, type and content are required")
	}
	name := dns.CanonicalName(*in.Name)
	if !dns.IsSubDomain(zone, name) {
		return dnsapi.Record{}, errors.New("record name " + *in.Name + " is not in the zone")
	}
	ttl := 3600
	if in.TTL != nil {
		ttl = *in.TTL
	}
	if ttl < 60 || ttl > 86400 {
		return dnsapi.Record{}, errors.New("ttl must be between 60 and 86400")
	}
	typ := strings.ToUpper(*in.Type)
	data := *in.Content
	switch typ {
	case "CNAME", "NS":
		data = dns.Fqdn(data)
	case "MX":
		prio := 0
		if in.Prio != nil {
			prio = *in.Prio
		}
		data = strconv.Itoa(prio) + " " + dns.Fqdn(data)
	case "TXT":
		if !strings.HasPrefix(data, `"`) {
			data = strconv.Quote(data)
		}
	}
	return dnsapi.Record{Name: name, Type: typ, TTL: uint32(ttl), Data: data}, nil
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fail(w, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json.")
		return false
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "INVALID_REQUEST_BODY", "The request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

func (f *Fake) create(w http.ResponseWriter, r *http.Request) {
	var in []recordIn
	if !decode(w, r, &in) {
		return
	}
	if len(in) == 0 {
		fail(w, http.StatusBadRequest, "INVALID_RECORD", "At least one record is required.")
		return
	}
	zone, _ := f.Store.ZoneName()
	var recs []dnsapi.Record
	for _, x := range in {
		rec, err := toStore(zone, x)
		if err != nil {
			fail(w, http.StatusBadRequest, "INVALID_RECORD", "Record is invalid: "+err.Error())
			return
		}
		recs = append(recs, rec)
	}
	// The batch applies whole or not at all.
	var out []zoneRecord
	err := f.Store.Change(func(z string, cur []dnsapi.Record) ([]dnsapi.Record, error) {
		out = nil
		for _, rec := range recs {
			p, err := dnsapi.Parse(z, rec)
			if err != nil {
				return nil, err
			}
			for _, c := range cur {
				if c.ID == p.ID {
					return nil, dnsapi.ErrDuplicate
				}
			}
			cur = append(cur, p)
			out = append(out, f.toAPI(z, p))
		}
		return cur, nil
	})
	if err != nil {
		f.storeError(w, err)
		return
	}
	dnsapi.WriteJSON(w, http.StatusCreated, out)
}

func (f *Fake) update(w http.ResponseWriter, r *http.Request, id string) {
	var in recordIn
	if !decode(w, r, &in) {
		return
	}
	zone, _ := f.Store.ZoneName()
	old, err := f.Store.Get(id)
	if err != nil {
		f.storeError(w, err)
		return
	}
	a := f.toAPI(zone, old)
	// PUT takes content, ttl, prio and disabled; name and type stay.
	in.Name, in.Type = &a.Name, &a.Type
	if in.Content == nil {
		in.Content = &a.Content
	}
	if in.Prio == nil {
		in.Prio = &a.Prio
	}
	rec, err := toStore(zone, in)
	if err != nil {
		fail(w, http.StatusBadRequest, "INVALID_RECORD", "Record is invalid: "+err.Error())
		return
	}
	nr, err := f.Store.Replace(id, rec)
	if err != nil {
		f.storeError(w, err)
		return
	}
	dnsapi.WriteJSON(w, http.StatusOK, f.toAPI(zone, nr))
}

func (f *Fake) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, dnsapi.ErrNotFound):
		fail(w, http.StatusNotFound, "RECORD_NOT_FOUND", "Record not found.")
	case errors.Is(err, dnsapi.ErrDuplicate):
		fail(w, http.StatusBadRequest, "RECORD_ALREADY_EXISTS", "The record already exists.")
	case errors.Is(err, dnsapi.ErrCNAME):
		fail(w, http.StatusBadRequest, "INVALID_RECORD", "A CNAME record cannot coexist with other records of the same name.")
	case errors.Is(err, dnsapi.ErrInvalid):
		fail(w, http.StatusBadRequest, "INVALID_RECORD", "Record is invalid: "+err.Error())
	default:
		fail(w, http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", err.Error()+" at "+time.Now().UTC().Format(time.RFC3339))
	}
}
