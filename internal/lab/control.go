package lab

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/exrunbook/exrunbook/internal/lab/ca"
	"github.com/exrunbook/exrunbook/internal/lab/faults"
	"github.com/exrunbook/exrunbook/internal/lab/labstats"
)

// controlHandler is the loopback control API:
//
//	GET  /org          canonical organisation JSON (both DNS zones included)
//	GET  /org/initial  DIR/org.initial.json
//	GET  /endpoints    what DIR/endpoints.json holds
//	GET  /stats        counters and simulated cost (labstats.Stats)
//	POST /stats/reset  zero the counters and the call log
//	GET  /faults       the fault spec in force, {"spec": "..."}
//	POST /faults       set faults: a text spec (faults.Parse) or a JSON faults.Spec
//	GET  /calls        the kept cmdlet calls, oldest first
//	POST /ca/sign      body: a CSR (PEM, base64 or DER); answer: the certificate, PEM
//	                   (?days=N validity, default 730)
func (l *Lab) controlHandler() http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Write(append(b, '\n'))
	}
	mux.HandleFunc("GET /org", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(l.Org())
	})
	mux.HandleFunc("GET /org/initial", func(w http.ResponseWriter, r *http.Request) {
		b, err := l.store.Initial()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(b)
	})
	mux.HandleFunc("GET /endpoints", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, l.ep) })
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, l.Stats()) })
	mux.HandleFunc("POST /stats/reset", func(w http.ResponseWriter, r *http.Request) {
		l.stats.Reset()
		writeJSON(w, l.Stats())
	})
	mux.HandleFunc("GET /calls", func(w http.ResponseWriter, r *http.Request) {
		calls := l.stats.Calls()
		if calls == nil {
			calls = []labstats.Call{}
		}
		writeJSON(w, calls)
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"spec": l.faults.Spec().String()})
	})
	mux.HandleFunc("POST /faults", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var spec faults.Spec
		text := strings.TrimSpace(string(b))
		if strings.HasPrefix(text, "{") {
			dec := json.NewDecoder(strings.NewReader(text))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&spec); err != nil {
				http.Error(w, "faults: "+err.Error(), http.StatusBadRequest)
				return
			}
			// Normalise through the text form so both forms mean the same.
			if spec, err = faults.Parse(spec.String()); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		} else if spec, err = faults.Parse(text); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.faults.Set(spec)
		writeJSON(w, map[string]string{"spec": spec.String()})
	})
	mux.HandleFunc("POST /ca/sign", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		days := 730
		if d := r.URL.Query().Get("days"); d != "" {
			if days, err = strconv.Atoi(d); err != nil || days < 1 || days > 3650 {
				http.Error(w, "days: expected 1..3650", http.StatusBadRequest)
				return
			}
		}
		cert, err := l.SignCSR(b, time.Duration(days)*24*time.Hour)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(cert)
	})
	return mux
}

// SignCSR answers a certificate request with a certificate from the lab CA
// (PEM), valid from now for validity.
func (l *Lab) SignCSR(csr []byte, validity time.Duration) ([]byte, error) {
	return SignCSR(l.ca, csr, time.Now(), validity)
}

// SignCSR is what `exlab sign-csr` and POST /ca/sign do.
func SignCSR(c *ca.CA, csr []byte, now time.Time, validity time.Duration) ([]byte, error) {
	req, err := ca.ParseCSR(csr)
	if err != nil {
		return nil, err
	}
	cert, err := c.SignCSR(req, now, validity)
	if err != nil {
		return nil, err
	}
	return ca.CertificatePEM(cert), nil
}
