package acme

import (
	"net/http"
	"testing"
)

type layered struct{ http.RoundTripper }

// HTTPClient works when http.DefaultTransport carries a layer of its own
// (apiretry.RouteDefault puts one there once a Hetzner or IONOS DNS
// provider is opened in the same process), instead of panicking on the
// type assertion.
func TestHTTPClientOverLayeredDefaultTransport(t *testing.T) {
	orig := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = orig })
	http.DefaultTransport = layered{orig}
	c, err := HTTPClient("")
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil || tr.Proxy == nil {
		t.Fatalf("transport: %#v", c.Transport)
	}
}
