// Package cloudflare is the record-set provider for a zone hosted by
// Cloudflare, through the pinned module github.com/libdns/cloudflare. The
// module hard-codes https://api.cloudflare.com/client/v4 and takes an HTTP
// client: production uses a TLS-verified client with apiretry's retries;
// tests pass a client whose transport routes that host to the lab's fake.
package cloudflare

import (
	"fmt"
	"net/http"

	libcf "github.com/libdns/cloudflare"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
)

// Host is the API host the module talks to.
const Host = "api.cloudflare.com"

// Options configure the provider.
type Options struct {
	// Token is an API token with Zone:DNS:Edit (and Zone:Zone:Read) on the
	// zone. It is sent only in the Authorization header.
	Token string
	// TokenSetting names where the token comes from, for the error that a
	// refused token gives (e.g. "EXRUNBOOK_PUBLIC_DNS_CLOUDFLARE_API_TOKEN").
	TokenSetting string
	// Transport carries the requests under the retries (nil: the default
	// transport, TLS verified).
	Transport http.RoundTripper
}

// New returns the provider.
func New(o Options) (recordset.Provider, error) {
	if o.Token == "" {
		return nil, fmt.Errorf("cloudflare: no API token: set %s", o.TokenSetting)
	}
	m := &libcf.Provider{APIToken: o.Token, HTTPClient: apiretry.Client(o.Transport)}
	return &libdnszone.Zone{Module: m, Explain: apiretry.Credential{
		API: "Cloudflare", Prefix: "cloudflare", Kind: "API token", Setting: o.TokenSetting,
		Need: "it needs Zone DNS Edit and Zone Read on the zone",
	}.Explain}, nil
}
