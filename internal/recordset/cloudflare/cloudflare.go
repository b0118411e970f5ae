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

// New returns the provider. a.Secret is an API token with Zone DNS Edit
// (and Zone Read) on the zone.
func New(a apiretry.Access) (recordset.Provider, error) {
	if err := a.Missing("cloudflare", "API token"); err != nil {
		return nil, err
	}
	m := &libcf.Provider{APIToken: a.Secret, HTTPClient: apiretry.Client(a.Transport)}
	return &libdnszone.Zone{Module: m, Explain: apiretry.Credential{
		API: "Cloudflare", Prefix: "cloudflare", Kind: "API token", Setting: a.Setting,
		Need: "it needs Zone DNS Edit and Zone Read on the zone",
	}.Explain}, nil
}
