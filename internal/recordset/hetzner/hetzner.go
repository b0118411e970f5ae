// Package hetzner is the record-set provider for a zone hosted by Hetzner
// DNS, through the pinned module github.com/libdns/hetzner/v2 (the Hetzner
// Cloud DNS API, api.hetzner.cloud/v1, which replaced the DNS Console API
// of dns.hetzner.com). The module builds its hcloud client itself, with a
// plain http.Client{} and so http.DefaultTransport, and takes no client or
// endpoint: the provider therefore installs apiretry.RouteDefault and
// passes its retrying transport in the context of each call. In
// production that transport is the default one, TLS verified; tests put
// a redirect to the lab's fake under it.
package hetzner

import (
	libhetzner "github.com/libdns/hetzner/v2"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
)

// Host is the API host the module talks to.
const Host = "api.hetzner.cloud"

// New returns the provider. a.Secret is a Hetzner Cloud API token (Read &
// Write) of the project that holds the zone.
func New(a apiretry.Access) (recordset.Provider, error) {
	// Without a token the module would fall back to LIBDNS_HETZNER_TOKEN,
	// then panic.
	if err := a.Missing("hetzner", "API token"); err != nil {
		return nil, err
	}
	return &libdnszone.Zone{
		Module:  libhetzner.New(a.Secret),
		Context: apiretry.Routed(&apiretry.Transport{Base: a.Transport}),
		Explain: apiretry.Credential{
			API: "Hetzner", Prefix: "hetzner", Kind: "API token", Setting: a.Setting,
			Need: "it needs Read & Write in the project that holds the zone",
		}.Explain,
	}, nil
}
