// Package cloudflare is the record-set provider for a zone hosted by
// Cloudflare, through the pinned module github.com/libdns/cloudflare. The
// module hard-codes https://api.cloudflare.com/client/v4 and takes an HTTP
// client: production uses a TLS-verified client with apiretry's retries;
// tests pass a client whose transport routes that host to the lab's fake.
package cloudflare

import (
	libcf "github.com/libdns/cloudflare"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
)

// Host is the API host the module talks to.
const Host = "api.cloudflare.com"

// Options configure the provider; the API token needs Zone DNS Edit and
// Zone Read on the zone.
type Options = apiretry.Options

// New returns the provider.
func New(o Options) (recordset.Provider, error) {
	cred := apiretry.Credential{
		API: "Cloudflare", Prefix: "cloudflare", Kind: "API token", Setting: o.Setting,
		Need: "it needs Zone DNS Edit and Zone Read on the zone",
	}
	if o.Secret == "" {
		return nil, cred.Missing()
	}
	m := &libcf.Provider{APIToken: o.Secret, HTTPClient: apiretry.Client(o.Transport)}
	return &libdnszone.Zone{Module: m, Explain: cred.Explain}, nil
}
