package dnsapi

import (
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestTrafficAdmit(t *testing.T) {
	var tr Traffic
	tr.Throttle(2)
	var got []bool
	for _, p := range []string{"/a", "/b?x=1", "/c"} {
		got = append(got, tr.Admit(httptest.NewRequest("GET", p, nil)))
	}
	if want := []bool{true, true, false}; !reflect.DeepEqual(got, want) {
		t.Errorf("Admit after Throttle(2) = %v, want %v", got, want)
	}
	if want := []string{"GET /a", "GET /b?x=1", "GET /c"}; !reflect.DeepEqual(tr.Requests(), want) {
		t.Errorf("Requests() = %q, want %q", tr.Requests(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, 201, map[string]int{"id": 7})
	if w.Code != 201 || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{\"id\":7}\n" {
		t.Errorf("WriteJSON wrote %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
}
