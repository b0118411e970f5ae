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
	"fmt"
	"net/http"

	libionos "github.com/libdns/ionos"

	"github.com/exrunbook/exrunbook/internal/recordset"
	"github.com/exrunbook/exrunbook/internal/recordset/apiretry"
	"github.com/exrunbook/exrunbook/internal/recordset/libdnszone"
)

// Host is the API host the module talks to.
const Host = "api.hosting.ionos.com"

// Options configure the provider.
type Options struct {
	// APIKey is the key as IONOS shows it, "prefix.secret".
	APIKey string
	// KeySetting names where the key comes from, for errors.
	KeySetting string
	// Transport carries the requests under the retries (nil: the default
	// transport, TLS verified).
	Transport http.RoundTripper
}

// New returns the provider.
func New(o Options) (recordset.Provider, error) {
	if o.APIKey == "" {
		return nil, fmt.Errorf("ionos: no API key: set %s", o.KeySetting)
	}
	apiretry.RouteDefault()
	rt := &apiretry.Transport{Base: o.Transport, ErrorBodies: true}
	return &libdnszone.Zone{
		Module:             &libionos.Provider{AuthAPIToken: o.APIKey},
		DeleteRemovesRRset: true,
		Context:            func(ctx context.Context) context.Context { return apiretry.WithTransport(ctx, rt) },
		Explain: apiretry.Credential{
			API: "IONOS", Prefix: "ionos", Kind: "API key", Setting: o.KeySetting,
			Need: `it is "prefix.secret" from the IONOS developer console`, LabelStatus: true,
		}.Explain,
	}, nil
}
