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
	libionos "github.com/libdns/ionos"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
)

// Host is the API host the module talks to.
const Host = "api.hosting.ionos.com"

// New returns the provider. a.Secret is the API key as IONOS shows it,
// "prefix.secret".
func New(a apiretry.Access) (recordset.Provider, error) {
	if err := a.Missing("ionos", "API key"); err != nil {
		return nil, err
	}
	return &libdnszone.Zone{
		Module:             &libionos.Provider{AuthAPIToken: a.Secret},
		DeleteRemovesRRset: true,
		Context:            apiretry.Routed(&apiretry.Transport{Base: a.Transport, ErrorBodies: true}),
		Explain: apiretry.Credential{
			API: "IONOS", Prefix: "ionos", Kind: "API key", Setting: a.Setting,
			Need: `it is "prefix.secret" from the IONOS developer console`, LabelStatus: true,
		}.Explain,
	}, nil
}
