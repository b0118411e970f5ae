// Package ionos is the record-set provider for a zone hosted by IONOS,
// through the pinned module github.com/libdns/ionos (the IONOS Hosting DNS
// API, api.hosting.ionos.com/dns/v1). The module builds an http.Client{}
// per request and takes no client, so the provider installs
// apiretry.RouteDefault and passes its retrying transport in the context of
// each call; the transport also keeps IONOS's error bodies, which the
// module would reduce to a status code. The module deletes every record of
// a name and type at once, which the adapter knows (DeleteRemovesRRset).
package ionos

import (
	"context"

	libionos "github.com/libdns/ionos"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
)

// Host is the API host the module talks to.
const Host = "api.hosting.ionos.com"

// Options configure the provider; the API key is "prefix.secret" from the
// IONOS developer console.
type Options = apiretry.Options

// New returns the provider.
func New(o Options) (recordset.Provider, error) {
	cred := apiretry.Credential{
		API: "IONOS", Prefix: "ionos", Kind: "API key", Setting: o.Setting,
		Need: `it is "prefix.secret" from the IONOS developer console`, LabelStatus: true,
	}
	if o.Secret == "" {
		return nil, cred.Missing()
	}
	apiretry.RouteDefault()
	rt := &apiretry.Transport{Base: o.Transport, ErrorBodies: true}
	return &libdnszone.Zone{
		Module:             &libionos.Provider{AuthAPIToken: o.Secret},
		DeleteRemovesRRset: true,
		Context:            func(ctx context.Context) context.Context { return apiretry.WithTransport(ctx, rt) },
		Explain:            cred.Explain,
	}, nil
}
