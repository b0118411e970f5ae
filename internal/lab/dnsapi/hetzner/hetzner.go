// Package hetzner is the lab's fake of the Hetzner Cloud DNS API
// (https://api.hetzner.cloud/v1: zones, RRsets and their actions, and
// /actions), written from Hetzner's public API reference: Bearer token
// authentication, zones addressed by ID or name, RRsets addressed by
// relative name and type, page/per_page pagination with meta.pagination,
// actions that report their status, and {"error": {"code", "message",
// "details"}} bodies (unauthorized, not_found, invalid_input,
// uniqueness_error, rate_limit_exceeded). Actions complete at once. It is
// backed by a dnsapi store over the lab's public zone.
package hetzner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/exrunbook/exrunbook/internal/lab/dnsapi"
)

// Host is the API host the fake stands in for.
const Host = "api.hetzner.cloud"

// Fake is one Hetzner Cloud project holding one zone.
type Fake struct {
	Store *dnsapi.Store
	// Token is the API token every request must bear.
	Token string
	// ZoneID is the zone's numeric ID.
	ZoneID int64
	// MaxPerPage caps per_page (default 50, the API's maximum).
	MaxPerPage int

	dnsapi.Traffic

	mu      sync.Mutex // guards nextAct and actions
	nextAct int64
	actions map[int64]action
}

type action struct {
	ID        int64       `json:"id"`
	Command   string      `json:"command"`
	Status    string      `json:"status"`
	Progress  int         `json:"progress"`
	Started   time.Time   `json:"started"`
	Finished  *time.Time  `json:"finished"`
	Error     *apiError   `json:"error"`
	Resources []actionRes `json:"resources"`
}

type actionRes struct {
	ID   int64  `json:"id"`
	Type string `json:"type"`
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details"`
}

type rrsetRecord struct {
	Value   string `json:"value"`
	Comment string `json:"comment,omitempty"`
}

type rrset struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	TTL        *int              `json:"ttl"`
	Labels     map[string]string `json:"labels"`
	Protection struct {
		Change bool `json:"change"`
	} `json:"protection"`
	Records []rrsetRecord `json:"records"`
	Zone    int64         `json:"zone"`
}

func fail(w http.ResponseWriter, status int, code, msg string, details any) {
	if details == nil {
		details = map[string]any{}
	}
	dnsapi.WriteJSON(w, status, map[string]apiError{"error": {Code: code, Message: msg, Details: details}})
}

func invalid(w http.ResponseWriter, field, msg string) {
	fail(w, http.StatusBadRequest, "invalid_input", "invalid input in field '"+field+"'",
		map[string]any{"fields": []map[string]any{{"name": field, "messages": []string{msg}}}})
}

// ServeHTTP answers the API under /v1.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	throttled := f.Admit(r)
	w.Header().Set("RateLimit-Limit", "3600")
	if throttled {
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
		fail(w, http.StatusTooManyRequests, "rate_limit_exceeded", "limit of 3600 requests per hour reached", nil)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.Token {
		fail(w, http.StatusUnauthorized, "unauthorized", "unable to authenticate", nil)
		return
	}
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/v1"), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "actions" && r.Method == http.MethodGet:
		f.listActions(w, r)
	case len(parts) == 2 && parts[0] == "actions" && r.Method == http.MethodGet:
		id, _ := strconv.ParseInt(parts[1], 10, 64)
		f.mu.Lock()
		a, ok := f.actions[id]
		f.mu.Unlock()
		if !ok {
			fail(w, http.StatusNotFound, "not_found", "action not found", nil)
			return
		}
		dnsapi.WriteJSON(w, http.StatusOK, map[string]any{"action": a})
	case len(parts) >= 2 && parts[0] == "zones":
		zone, ok := f.zone(w, parts[1])
		if !ok {
			return
		}
		f.zoneRoute(w, r, zone, parts[2:])
	default:
		fail(w, http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path, nil)
	}
}

// zone resolves a zone's ID or name.
func (f *Fake) zone(w http.ResponseWriter, idOrName string) (string, bool) {
	zone, err := f.Store.ZoneName()
	if err != nil {
		fail(w, http.StatusInternalServerError, "server_error", err.Error(), nil)
		return "", false
	}
	if idOrName != strconv.FormatInt(f.ZoneID, 10) && !strings.EqualFold(strings.TrimSuffix(idOrName, "."), strings.TrimSuffix(zone, ".")) {
		fail(w, http.StatusNotFound, "not_found", "zone not found", nil)
		return "", false
	}
	return zone, true
}

func (f *Fake) zoneRoute(w http.ResponseWriter, r *http.Request, zone string, rest []string) {
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		recs, _ := f.Store.List()
		dnsapi.WriteJSON(w, http.StatusOK, map[string]any{"zone": map[string]any{
			"id": f.ZoneID, "name": strings.TrimSuffix(zone, "."), "ttl": 3600, "mode": "primary", "status": "ok",
			"record_count": len(recs), "labels": map[string]string{}, "protection": map[string]bool{"delete": false},
			"primary_nameservers": []any{}, "created": "2025-10-07T00:00:00Z",
			"authoritative_nameservers": map[string]any{"assigned": []string{"hydrogen.ns.hetzner.com.", "oxygen.ns.hetzner.com.", "helium.ns.hetzner.de."}},
		}})
	case len(rest) == 1 && rest[0] == "rrsets" && r.Method == http.MethodGet:
		f.listRRsets(w, r, zone)
	case len(rest) == 1 && rest[0] == "rrsets" && r.Method == http.MethodPost:
		f.createRRset(w, r, zone)
	case len(rest) == 3 && rest[0] == "rrsets" && r.Method == http.MethodGet:
		sets, _ := f.rrsets(zone)
		for _, s := range sets {
			if s.Name == strings.ToLower(rest[1]) && s.Type == strings.ToUpper(rest[2]) {
				dnsapi.WriteJSON(w, http.StatusOK, map[string]any{"rrset": s})
				return
			}
		}
		fail(w, http.StatusNotFound, "not_found", "rrset not found", nil)
	case len(rest) == 3 && rest[0] == "rrsets" && r.Method == http.MethodDelete:
		f.change(w, zone, rest[1], rest[2], "delete_rrset", func(cur []dnsapi.Record, ttl int, exists bool) ([]dnsapi.Record, int, error) {
			if !exists {
				return nil, 0, errNotFound
			}
			return nil, 0, nil
		})
	case len(rest) == 5 && rest[0] == "rrsets" && rest[3] == "actions" && r.Method == http.MethodPost:
		f.rrsetAction(w, r, zone, rest[1], rest[2], rest[4])
	default:
		fail(w, http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path, nil)
	}
}

var errNotFound = errors.New("rrset not found")

// relName is the API's relative RRset name ("@" at the apex).
func relName(name, zone string) string {
	if name == zone {
		return "@"
	}
	return strings.TrimSuffix(strings.TrimSuffix(name, zone), ".")
}

func absName(rel, zone string) string {
	rel = strings.ToLower(rel)
	if rel == "@" || rel == "" {
		return zone
	}
	return rel + "." + zone
}

// rrsets groups the store's records into the API's RRsets.
func (f *Fake) rrsets(zone string) ([]rrset, error) {
	recs, err := f.Store.List()
	if err != nil {
		return nil, err
	}
	by := map[string]*rrset{}
	var keys []string
	for _, rec := range recs {
		k := rec.Name + "/" + rec.Type
		s := by[k]
		if s == nil {
			ttl := int(rec.TTL)
			s = &rrset{ID: relName(rec.Name, zone) + "/" + rec.Type, Name: relName(rec.Name, zone), Type: rec.Type, TTL: &ttl, Labels: map[string]string{}, Zone: f.ZoneID}
			by[k] = s
			keys = append(keys, k)
		}
		if int(rec.TTL) < *s.TTL {
			*s.TTL = int(rec.TTL)
		}
		s.Records = append(s.Records, rrsetRecord{Value: rec.Data})
	}
	sort.Strings(keys)
	out := make([]rrset, 0, len(keys))
	for _, k := range keys {
		out = append(out, *by[k])
	}
	return out, nil
}

func (f *Fake) pageArgs(w http.ResponseWriter, r *http.Request) (int, int, bool) {
	q := r.URL.Query()
	page, per := 1, 25
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			invalid(w, "page", "must be a positive integer")
			return 0, 0, false
		}
		page = n
	}
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 50 {
			invalid(w, "per_page", "must be between 1 and 50")
			return 0, 0, false
		}
		per = n
	}
	if f.MaxPerPage > 0 {
		per = min(per, f.MaxPerPage)
	}
	return page, per, true
}

func pagination(total, page, per int) map[string]any {
	last := max(1, (total+per-1)/per)
	p := map[string]any{"page": page, "per_page": per, "previous_page": nil, "next_page": nil, "last_page": last, "total_entries": total}
	if page > 1 {
		p["previous_page"] = page - 1
	}
	if page < last {
		p["next_page"] = page + 1
	}
	return map[string]any{"pagination": p}
}

func (f *Fake) listRRsets(w http.ResponseWriter, r *http.Request, zone string) {
	page, per, ok := f.pageArgs(w, r)
	if !ok {
		return
	}
	sets, err := f.rrsets(zone)
	if err != nil {
		fail(w, http.StatusInternalServerError, "server_error", err.Error(), nil)
		return
	}
	q := r.URL.Query()
	var keep []rrset
	for _, s := range sets {
		if n := q.Get("name"); n != "" && n != s.Name {
			continue
		}
		if ts := q["type"]; len(ts) > 0 && !contains(ts, s.Type) {
			continue
		}
		keep = append(keep, s)
	}
	start := min((page-1)*per, len(keep))
	end := min(start+per, len(keep))
	items := keep[start:end]
	if items == nil {
		items = []rrset{}
	}
	dnsapi.WriteJSON(w, http.StatusOK, map[string]any{"rrsets": items, "meta": pagination(len(keep), page, per)})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fail(w, http.StatusUnsupportedMediaType, "invalid_input", "Content-Type must be application/json", nil)
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "json_error", "invalid JSON: "+err.Error(), nil)
		return false
	}
	return true
}

type createReq struct {
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	TTL     *int              `json:"ttl"`
	Labels  map[string]string `json:"labels"`
	Records []rrsetRecord     `json:"records"`
}

func (f *Fake) createRRset(w http.ResponseWriter, r *http.Request, zone string) {
	var in createReq
	if !decode(w, r, &in) {
		return
	}
	if in.Name == "" || strings.HasSuffix(in.Name, ".") {
		invalid(w, "name", "must be a name relative to the zone, or @")
		return
	}
	if len(in.Records) == 0 {
		invalid(w, "records", "must not be empty")
		return
	}
	f.change(w, zone, in.Name, in.Type, "create_rrset", func(cur []dnsapi.Record, ttl int, exists bool) ([]dnsapi.Record, int, error) {
		if exists {
			return nil, 0, errExists
		}
		t := 3600
		if in.TTL != nil {
			t = *in.TTL
		}
		return values(in.Records), t, nil
	})
}

var (
	errExists = errors.New("rrset already exists")
	errTTL    = errors.New("the ttl does not match the rrset's ttl")
)

func values(recs []rrsetRecord) []dnsapi.Record {
	out := make([]dnsapi.Record, 0, len(recs))
	for _, r := range recs {
		out = append(out, dnsapi.Record{Data: r.Value})
	}
	return out
}

type recordsReq struct {
	Records []rrsetRecord `json:"records"`
	TTL     *int          `json:"ttl"`
}

func (f *Fake) rrsetAction(w http.ResponseWriter, r *http.Request, zone, name, typ, act string) {
	var in recordsReq
	if !decode(w, r, &in) {
		return
	}
	switch act {
	case "add_records":
		f.change(w, zone, name, typ, "add_rrset_records", func(cur []dnsapi.Record, ttl int, exists bool) ([]dnsapi.Record, int, error) {
			if exists && in.TTL != nil && *in.TTL != ttl {
				return nil, 0, errTTL
			}
			if !exists {
				ttl = 3600
				if in.TTL != nil {
					ttl = *in.TTL
				}
			}
			return append(cur, values(in.Records)...), ttl, nil
		})
	case "remove_records":
		f.change(w, zone, name, typ, "remove_rrset_records", func(cur []dnsapi.Record, ttl int, exists bool) ([]dnsapi.Record, int, error) {
			if !exists {
				return nil, 0, errNotFound
			}
			drop := map[string]bool{}
			for _, v := range in.Records {
				p, err := dnsapi.Parse(zone, dnsapi.Record{Name: zone, Type: typ, Data: v.Value})
				if err != nil {
					return nil, 0, err
				}
				drop[p.Data] = true
			}
			var keep []dnsapi.Record
			for _, c := range cur {
				if !drop[c.Data] {
					keep = append(keep, c)
				}
			}
			return keep, ttl, nil
		})
	case "set_records":
		f.change(w, zone, name, typ, "set_rrset_records", func(cur []dnsapi.Record, ttl int, exists bool) ([]dnsapi.Record, int, error) {
			if !exists {
				return nil, 0, errNotFound
			}
			return values(in.Records), ttl, nil
		})
	case "change_ttl":
		f.change(w, zone, name, typ, "change_rrset_ttl", func(cur []dnsapi.Record, ttl int, exists bool) ([]dnsapi.Record, int, error) {
			if !exists {
				return nil, 0, errNotFound
			}
			if in.TTL == nil {
				return nil, 0, fmt.Errorf("%w: ttl is required", dnsapi.ErrInvalid)
			}
			return cur, *in.TTL, nil
		})
	default:
		fail(w, http.StatusNotFound, "not_found", "no action "+act, nil)
	}
}

// change replaces the RRset (name, typ) by what fn returns (no records:
// the RRset is deleted) and answers with a finished action.
func (f *Fake) change(w http.ResponseWriter, zone, name, typ, command string, fn func(cur []dnsapi.Record, ttl int, exists bool) ([]dnsapi.Record, int, error)) {
	typ = strings.ToUpper(typ)
	if _, ok := dns.StringToType[typ]; !ok || typ == "SOA" {
		invalid(w, "type", "unsupported type "+typ)
		return
	}
	abs := absName(name, zone)
	var created rrset
	err := f.Store.Change(func(z string, recs []dnsapi.Record) ([]dnsapi.Record, error) {
		var cur, rest []dnsapi.Record
		ttl := 0
		for _, rec := range recs {
			if rec.Name == abs && rec.Type == typ {
				if len(cur) == 0 || int(rec.TTL) < ttl {
					ttl = int(rec.TTL)
				}
				cur = append(cur, rec)
			} else {
				rest = append(rest, rec)
			}
		}
		next, nttl, err := fn(cur, ttl, len(cur) > 0)
		if err != nil {
			return nil, err
		}
		if len(next) > 0 && (nttl < 60 || nttl > 2147483647) {
			return nil, fmt.Errorf("%w: ttl %d is out of range (60 to 2147483647)", dnsapi.ErrInvalid, nttl)
		}
		seen := map[string]bool{}
		t := nttl
		created = rrset{ID: relName(abs, zone) + "/" + typ, Name: relName(abs, zone), Type: typ, TTL: &t, Labels: map[string]string{}, Zone: f.ZoneID}
		for _, n := range next {
			p, err := dnsapi.Parse(zone, dnsapi.Record{Name: abs, Type: typ, TTL: uint32(nttl), Data: n.Data})
			if err != nil {
				return nil, err
			}
			if seen[p.Data] {
				continue
			}
			seen[p.Data] = true
			rest = append(rest, p)
			created.Records = append(created.Records, rrsetRecord{Value: p.Data})
		}
		return rest, nil
	})
	switch {
	case errors.Is(err, errNotFound):
		fail(w, http.StatusNotFound, "not_found", "rrset not found", nil)
		return
	case errors.Is(err, errExists):
		fail(w, http.StatusConflict, "uniqueness_error", "rrset with the same name and type already exists", nil)
		return
	case errors.Is(err, errTTL):
		invalid(w, "ttl", err.Error())
		return
	case errors.Is(err, dnsapi.ErrCNAME):
		invalid(w, "type", "a CNAME rrset cannot coexist with other rrsets of the same name")
		return
	case errors.Is(err, dnsapi.ErrInvalid):
		invalid(w, "records", err.Error())
		return
	case err != nil:
		fail(w, http.StatusInternalServerError, "server_error", err.Error(), nil)
		return
	}
	a := f.finish(command)
	if command == "create_rrset" {
		dnsapi.WriteJSON(w, http.StatusCreated, map[string]any{"rrset": created, "action": a})
		return
	}
	dnsapi.WriteJSON(w, http.StatusCreated, map[string]any{"action": a})
}

// finish records an action that completed at once.
func (f *Fake) finish(command string) action {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.actions == nil {
		f.actions = map[int64]action{}
	}
	f.nextAct++
	now := time.Now().UTC()
	a := action{ID: f.nextAct, Command: command, Status: "success", Progress: 100, Started: now, Finished: &now, Resources: []actionRes{{ID: f.ZoneID, Type: "zone"}}}
	f.actions[a.ID] = a
	return a
}

func (f *Fake) listActions(w http.ResponseWriter, r *http.Request) {
	page, per, ok := f.pageArgs(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	var out []action
	for _, v := range r.URL.Query()["id"] {
		id, _ := strconv.ParseInt(v, 10, 64)
		if a, ok := f.actions[id]; ok {
			out = append(out, a)
		}
	}
	f.mu.Unlock()
	start := min((page-1)*per, len(out))
	end := min(start+per, len(out))
	items := out[start:end]
	if items == nil {
		items = []action{}
	}
	dnsapi.WriteJSON(w, http.StatusOK, map[string]any{"actions": items, "meta": pagination(len(out), page, per)})
}
